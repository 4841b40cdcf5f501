//! The seeded random stream of one link direction.

use core::fmt;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::Direction;

/// A ChaCha8 stream keyed by `(seed, link index, direction)`: independent of every
/// other direction, so adding a link never perturbs the draws of another.
pub(crate) struct LinkRng(ChaCha8Rng);

impl fmt::Debug for LinkRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkRng(ChaCha8)")
    }
}

impl LinkRng {
    pub(crate) fn new(seed: u64, link: usize, direction: Direction) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&(link as u64).to_le_bytes());
        key[16] = direction.index() as u8;
        key[24..].copy_from_slice(b"synk-sim");
        Self(ChaCha8Rng::from_seed(key))
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`; draws nothing when `p` is 0 or 1.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }

    /// Uniform in `0..n`; `n` must be positive.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        // Multiply-shift: the bias is at most n / 2^64, far below anything a
        // simulation can observe.
        ((u128::from(self.0.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_keyed_by_seed_link_and_direction() {
        let draw = |seed, link, dir| LinkRng::new(seed, link, dir).0.next_u64();
        let base = draw(1, 0, Direction::AtoB);
        assert_eq!(base, draw(1, 0, Direction::AtoB));
        assert_ne!(base, draw(2, 0, Direction::AtoB));
        assert_ne!(base, draw(1, 1, Direction::AtoB));
        assert_ne!(base, draw(1, 0, Direction::BtoA));
    }

    #[test]
    fn helpers_stay_in_range() {
        let mut r = LinkRng::new(9, 0, Direction::AtoB);
        for _ in 0..10_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(7) < 7);
        }
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
        let hits = (0..100_000).filter(|_| r.chance(0.25)).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
    }
}
