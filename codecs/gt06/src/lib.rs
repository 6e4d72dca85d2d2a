//! Codec for the gt06 device family (filled by the device-family issue).
