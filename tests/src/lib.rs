//! Helpers for devgate's black-box integration tests: start real processes, pick free ports.
