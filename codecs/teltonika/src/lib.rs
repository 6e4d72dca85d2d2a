//! Codec for the teltonika device family (filled by the device-family issue).
