//! SplitMix64 (Steele, Lea & Flood 2014): a tiny deterministic generator for reproducible
//! pseudo-random inputs — the demo's data, simulations and tests. Not for anything that
//! needs unpredictability (tokens and ids use the operating system's generator).

/// The generator's state: the seed, then advanced by every draw.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1): 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in (0, 1): 53 random bits, never exactly 0 or 1.
    pub fn open_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference outputs of SplitMix64 seeded with 1234567 (the first three of the
    /// published test vector).
    #[test]
    fn it_reproduces_the_reference_sequence() {
        let mut r = SplitMix64(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(r.next_u64(), 9_817_491_932_198_370_423);
        let u = SplitMix64(7).unit();
        assert!((0.0..1.0).contains(&u));
        let o = SplitMix64(7).open_unit();
        assert!(o > 0.0 && o < 1.0);
    }
}
