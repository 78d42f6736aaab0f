//! A fast, deterministic hasher for the order-id index.
//!
//! std's SipHash costs more than the rest of an add or cancel; a two-multiply mix
//! is enough because order ids are assigned by the service, not chosen by users (a
//! hostile id pattern could only degrade lookups, never change results: the index is
//! never iterated, so hashing cannot affect the event stream).

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`IdHasher`]s; the state is fixed, so every book hashes the same way.
pub(crate) type IdBuildHasher = BuildHasherDefault<IdHasher>;

/// Hashes one `u64` with the murmur3 finaliser, which spreads every input bit over the
/// whole output (hashbrown takes the bucket from the low bits and a tag from the high
/// ones, so both ends must be well mixed).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only reached by keys other than the u64 newtypes this crate uses; correct but slow.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(29) ^ n;
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}
