//! Codec for the jt808 device family (filled by the device-family issue).
