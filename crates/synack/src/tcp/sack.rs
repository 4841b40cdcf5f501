//! The sender's SACK scoreboard (RFC 2018): which bytes above SND.UNA the
//! receiver holds. Loss is decided by RACK ([`super::rack`]) from it.
//!
//! Ranges are kept as sorted, disjoint, non-adjacent `[start, end)` pairs of
//! sequence numbers, all within `(SND.UNA, SND.MAX]`, a span far below 2^31, so
//! circular comparison orders them consistently.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::tcp::seq::SeqNum;

/// SACKed ranges above SND.UNA.
///
/// Boxed while the receiver reports anything, `None` otherwise (never `Some` of
/// an empty list): a connection without losses carries 8 bytes of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scoreboard {
    // The box is the point: 8 bytes inline where a `Vec` takes 24.
    #[allow(clippy::box_collection)]
    ranges: Option<Box<Vec<(SeqNum, SeqNum)>>>,
}

impl Scoreboard {
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_none()
    }

    fn list(&self) -> &[(SeqNum, SeqNum)] {
        self.ranges.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Records a SACK block, clipped to `(una, max]`.
    pub(crate) fn add(&mut self, left: SeqNum, right: SeqNum, una: SeqNum, max: SeqNum) {
        let left = left.max(una);
        let right = right.min(max);
        if !left.lt(right) {
            return;
        }
        // Find every range touching [left, right) and merge them into one.
        let ranges = self.ranges.get_or_insert_with(Box::default);
        let mut new_l = left;
        let mut new_r = right;
        let mut i = 0;
        let mut first = None;
        while i < ranges.len() {
            let (l, r) = ranges[i];
            if r.lt(new_l) {
                i += 1;
                continue;
            }
            if new_r.lt(l) {
                break;
            }
            // Overlapping or adjacent.
            new_l = new_l.min(l);
            new_r = new_r.max(r);
            ranges.remove(i);
            first.get_or_insert(i);
        }
        let at = first.unwrap_or(i);
        ranges.insert(at, (new_l, new_r));
    }

    /// Forgets everything below the new SND.UNA.
    pub(crate) fn advance(&mut self, una: SeqNum) {
        let Some(ranges) = self.ranges.as_deref_mut() else {
            return;
        };
        let gone = ranges.iter().take_while(|&&(_, r)| r.le(una)).count();
        ranges.drain(..gone);
        match ranges.first_mut() {
            None => self.ranges = None,
            Some(first) if first.0.lt(una) => first.0 = una,
            Some(_) => {}
        }
    }

    /// The first un-SACKed range at or after `from` and below `limit`.
    pub(crate) fn next_hole(&self, from: SeqNum, limit: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let mut start = from;
        for &(l, r) in self.list() {
            if r.le(start) {
                continue;
            }
            if start.lt(l) {
                let end = l.min(limit);
                return start.lt(end).then_some((start, end));
            }
            start = r;
        }
        start.lt(limit).then_some((start, limit))
    }

    /// The ranges, oldest first.
    #[cfg(test)]
    pub(crate) fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        self.list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const U: SeqNum = SeqNum(u32::MAX - 1000);

    fn s(n: u32) -> SeqNum {
        U + n
    }

    fn sacked(sb: &Scoreboard) -> usize {
        sb.ranges().iter().map(|&(l, r)| (r - l) as usize).sum()
    }

    #[test]
    fn add_merges_table() {
        type Case<'a> = (&'a str, &'a [(u32, u32)], &'a [(u32, u32)]);
        let cases: [Case<'_>; 6] = [
            ("single", &[(10, 20)], &[(10, 20)]),
            (
                "disjoint sorted",
                &[(30, 40), (10, 20)],
                &[(10, 20), (30, 40)],
            ),
            ("adjacent merge", &[(10, 20), (20, 30)], &[(10, 30)]),
            ("bridge two", &[(10, 20), (30, 40), (15, 35)], &[(10, 40)]),
            ("contained", &[(10, 40), (20, 30)], &[(10, 40)]),
            ("clipped to una..max", &[(0, 5000)], &[(1, 2000)]),
        ];
        for (name, adds, want) in cases {
            let mut sb = Scoreboard::default();
            for &(l, r) in adds {
                sb.add(s(l), s(r), s(1), s(2000));
            }
            let got: Vec<(i32, i32)> = sb.ranges().iter().map(|&(l, r)| (l - U, r - U)).collect();
            let want: Vec<(i32, i32)> = want.iter().map(|&(l, r)| (l as i32, r as i32)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn advance_trims() {
        let mut sb = Scoreboard::default();
        sb.add(s(10), s(20), s(0), s(100));
        sb.add(s(30), s(40), s(0), s(100));
        sb.advance(s(35));
        assert_eq!(sb.ranges(), &[(s(35), s(40))]);
        assert_eq!(sacked(&sb), 5);
    }

    proptest! {
        #[test]
        fn matches_a_byte_set_model(blocks in proptest::collection::vec((0u32..500, 1u32..100), 0..30), una in 0u32..300) {
            let mut sb = Scoreboard::default();
            let mut model = [false; 700];
            for &(l, len) in &blocks {
                sb.add(s(l), s(l + len), s(0), s(600));
                for b in l..(l + len).min(600) {
                    model[b as usize] = true;
                }
            }
            sb.advance(s(una));
                        model[..una as usize].fill(false);
            prop_assert_eq!(sacked(&sb), model.iter().filter(|&&x| x).count());
            for w in sb.ranges().windows(2) {
                prop_assert!(w[0].1.lt(w[1].0), "disjoint and non-adjacent");
            }
            for b in una..600 {
                prop_assert_eq!(sb.ranges().iter().any(|&(l, r)| s(b).in_range(l, r)), model[b as usize], "byte {}", b);
            }
            if let Some((l, r)) = sb.next_hole(s(una), s(600)) {
                prop_assert!(!model[(l - U) as usize]);
                prop_assert!((r - U) as usize == 600 || model[(r - U) as usize]);
            }
        }
    }
}
