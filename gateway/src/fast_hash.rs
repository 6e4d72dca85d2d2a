//! The hasher of devgate's hot maps, keyed by its own small ids rather than by anything a
//! client chooses.

/// A fast, non-cryptographic hasher (the FxHash mix) for maps keyed by our own small ids
/// (connection numbers, gateway keys): those keys are not chosen by clients, so SipHash's
/// flooding resistance buys nothing on this hot path and costs a measurable share of it.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }

    fn write_u8(&mut self, v: u8) {
        self.write_u64(v as u64);
    }

    fn write_u16(&mut self, v: u16) {
        self.write_u64(v as u64);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// A `HashMap` hasher builder using [`FastHasher`].
pub type FastHash = std::hash::BuildHasherDefault<FastHasher>;
