//! Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
//!
//! RFC 9293 §3.4: "It is essential to remember that the actual sequence number
//! space is finite, though very large ... arithmetic must be performed modulo 2**32."
//! Comparisons treat the space as a circle: `a < b` when `b` lies less than 2^31
//! ahead of `a`.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number with wrapping arithmetic and circular comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The raw 32-bit value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self < other` in circular order.
    pub fn lt(self, other: Self) -> bool {
        (self.0.wrapping_sub(other.0) as i32) < 0
    }

    /// `self <= other` in circular order.
    pub fn le(self, other: Self) -> bool {
        (self.0.wrapping_sub(other.0) as i32) <= 0
    }

    /// `self > other` in circular order.
    pub fn gt(self, other: Self) -> bool {
        other.lt(self)
    }

    /// `self >= other` in circular order.
    pub fn ge(self, other: Self) -> bool {
        other.le(self)
    }

    /// The later of two sequence numbers.
    pub fn max(self, other: Self) -> Self {
        if self.ge(other) {
            self
        } else {
            other
        }
    }

    /// The earlier of two sequence numbers.
    pub fn min(self, other: Self) -> Self {
        if self.le(other) {
            self
        } else {
            other
        }
    }

    /// Whether `start <= self < end` in circular order (an empty range when equal).
    pub fn in_range(self, start: Self, end: Self) -> bool {
        start.le(self) && self.lt(end)
    }

    /// Circular ordering, defined while the two are within 2^31 of each other.
    pub fn cmp_circular(self, other: Self) -> Ordering {
        (self.0.wrapping_sub(other.0) as i32).cmp(&0)
    }
}

impl Add<u32> for SeqNum {
    type Output = Self;
    fn add(self, rhs: u32) -> Self {
        Self(self.0.wrapping_add(rhs))
    }
}

impl Add<usize> for SeqNum {
    type Output = Self;
    fn add(self, rhs: usize) -> Self {
        // Truncation is the point: sequence space is modulo 2^32.
        Self(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, rhs: usize) {
        self.0 = self.0.wrapping_add(rhs as u32);
    }
}

/// Distance from `rhs` forward to `self`, as a signed count (negative when `self` is earlier).
impl Sub for SeqNum {
    type Output = i32;
    fn sub(self, rhs: Self) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: SeqNum = SeqNum(u32::MAX);

    #[test]
    fn ordering_table() {
        // (a, b, a < b)
        let cases = [
            ("plain", SeqNum(1), SeqNum(2), true),
            ("equal", SeqNum(5), SeqNum(5), false),
            ("reverse", SeqNum(2), SeqNum(1), false),
            ("wrap: max < 0", MAX, SeqNum(0), true),
            ("wrap: 0 > max", SeqNum(0), MAX, false),
            ("wrap: near edge", SeqNum(u32::MAX - 10), SeqNum(10), true),
            ("half space ahead", SeqNum(0), SeqNum(0x7fff_ffff), true),
            ("just past half", SeqNum(0), SeqNum(0x8000_0001), false),
        ];
        for (name, a, b, lt) in cases {
            assert_eq!(a.lt(b), lt, "{name}");
            assert_eq!(b.gt(a), lt, "{name} (gt mirror)");
        }
    }

    #[test]
    fn add_and_sub_wrap() {
        assert_eq!(MAX + 1u32, SeqNum(0));
        assert_eq!(SeqNum(3) - MAX, 4);
        assert_eq!(MAX - SeqNum(3), -4);
        let mut s = MAX;
        s += 2usize;
        assert_eq!(s, SeqNum(1));
    }

    #[test]
    fn in_range_across_wrap() {
        assert!(SeqNum(0).in_range(MAX, SeqNum(5)));
        assert!(MAX.in_range(MAX, SeqNum(5)));
        assert!(!SeqNum(5).in_range(MAX, SeqNum(5)));
        assert!(!SeqNum(7).in_range(SeqNum(7), SeqNum(7)), "empty range");
    }

    #[test]
    fn max_min_follow_circular_order() {
        assert_eq!(MAX.max(SeqNum(1)), SeqNum(1));
        assert_eq!(MAX.min(SeqNum(1)), MAX);
    }
}
