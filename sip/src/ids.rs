//! Identifier generation (branches, tags, Call-IDs) without a clock or an
//! OS random source inside: the shell seeds it once from real randomness,
//! tests seed it with a constant and get reproducible identifiers.

use crate::wire::MAGIC_COOKIE;

/// A deterministic generator of SIP identifiers (splitmix64 over a seed).
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    /// A generator seeded with `seed` (take it from the OS random source in production).
    pub fn new(seed: u64) -> IdGen {
        IdGen { state: seed }
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A new RFC 3261 branch (`z9hG4bK` + 16 hex digits).
    pub fn branch(&mut self) -> String {
        format!("{MAGIC_COOKIE}{:016x}", self.next_u64())
    }

    /// A new From/To tag (RFC 3261 §19.3 asks for at least 32 random bits).
    pub fn tag(&mut self) -> String {
        format!("{:012x}", self.next_u64() >> 16)
    }

    /// A new Call-ID, `random@host`.
    pub fn call_id(&mut self, host: &str) -> String {
        format!("{:016x}{:08x}@{host}", self.next_u64(), self.next_u64() as u32)
    }

    /// A client nonce for digest authentication.
    pub fn cnonce(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }
}
