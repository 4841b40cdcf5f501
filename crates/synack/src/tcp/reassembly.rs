//! The out-of-order receive queue.
//!
//! RFC 9293 §3.10.7.4: "Segments with higher beginning sequence numbers SHOULD be
//! held for later processing." [`Reassembly`] holds them. It works on 64-bit
//! stream offsets, not sequence numbers: the connection maps `SEG.SEQ` to an offset
//! (relative to IRS + 1, extended past each 2^32 wrap) before calling in, so this
//! module never sees wraparound.
//!
//! Held bytes form disjoint, non-adjacent ranges, each stored contiguously. The
//! ranges are also what a receiver reports in SACK blocks (RFC 2018), through
//! [`Reassembly::ranges`].
//!
//! # Cost
//!
//! Inserting copies only the bytes not already held. When an insert joins ranges,
//! the smaller side is copied onto the larger one (a `VecDeque` grows at either
//! end), so each byte is copied `O(log n)` times at most, whatever the arrival
//! order. There is no cap on the number of ranges: the caller bounds the queue by
//! [`buffered`](Reassembly::buffered) (its receive window) and, if it wants, by
//! [`range_count`](Reassembly::range_count).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Bound::{Excluded, Included};

/// Out-of-order bytes waiting for the gap before them to fill.
///
/// # Examples
///
/// ```
/// use synack::tcp::reassembly::Reassembly;
///
/// let mut q = Reassembly::new();
/// assert_eq!(q.insert(5, b"fgh"), 3); // out of order: held
/// assert_eq!(q.pop_ready(0), None); // the gap [0, 5) is still open
/// assert_eq!(q.insert(0, b"abcdefg"), 5); // "fg" was already held
/// assert_eq!(q.pop_ready(0).as_deref(), Some(&b"abcdefgh"[..]));
/// assert!(q.is_empty());
/// ```
///
/// The queue is boxed and exists only while something is held: a connection
/// whose data arrives in order carries 8 bytes of it, not 32.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Reassembly {
    /// `None` when nothing is held (never `Some` of an empty queue).
    q: Option<Box<Queue>>,
}

/// The ranges behind [`Reassembly`].
#[derive(Clone, Default, PartialEq, Eq)]
struct Queue {
    /// Start offset → bytes. Invariants: no range is empty; for consecutive ranges
    /// `a` and `b`, `a.start + a.len < b.start` (disjoint and non-adjacent); every
    /// `start + len` fits in a `u64`.
    ranges: BTreeMap<u64, VecDeque<u8>>,
    /// Sum of all range lengths.
    buffered: usize,
}

/// One piece of a range being built by [`Reassembly::insert`]: bytes already held,
/// or new bytes filling a gap.
enum Piece<'a> {
    Held(VecDeque<u8>),
    New(&'a [u8]),
}

impl Piece<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Held(v) => v.len(),
            Self::New(s) => s.len(),
        }
    }

    fn append_to(self, dst: &mut VecDeque<u8>) {
        match self {
            Self::Held(mut v) => dst.append(&mut v),
            Self::New(s) => dst.extend(s),
        }
    }
}

impl Reassembly {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds `data`, which starts at stream offset `offset`, and returns how many of
    /// its bytes were not held before.
    ///
    /// Bytes already held are kept as they are (first copy wins); only the gaps are
    /// filled from `data`. The result is merged with the ranges it overlaps or
    /// touches. Bytes whose offset would not fit in a `u64` are dropped.
    ///
    /// Data below the caller's `rcv.nxt` is accepted like any other; the next
    /// [`pop_ready`](Self::pop_ready) discards it. Callers normally trim it first.
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> usize {
        let q = self.q.get_or_insert_with(Box::default);
        let added = q.insert(offset, data);
        if q.ranges.is_empty() {
            self.q = None;
        }
        added
    }

    /// Discards every held byte below `next`, then, if a held range covers `next`,
    /// removes and returns its bytes from `next` on.
    ///
    /// `next` is the caller's `rcv.nxt` as a stream offset. The returned bytes are
    /// exactly the in-order data now available; the caller advances `rcv.nxt` by
    /// their length. Returns `None` when the byte at `next` is not held.
    pub fn pop_ready(&mut self, next: u64) -> Option<Vec<u8>> {
        let q = self.q.as_deref_mut()?;
        let ready = q.pop_ready(next);
        if q.ranges.is_empty() {
            self.q = None;
        }
        ready
    }

    /// How many bytes are held.
    pub fn buffered(&self) -> usize {
        self.q.as_ref().map_or(0, |q| q.buffered)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.q.is_none()
    }

    /// How many disjoint ranges are held (one more than the number of holes
    /// between them).
    pub fn range_count(&self) -> usize {
        self.q.as_ref().map_or(0, |q| q.ranges.len())
    }

    /// The held ranges as `[start, end)` offsets, ascending, disjoint and
    /// non-adjacent (RFC 2018 SACK blocks come from these).
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.q.iter().flat_map(|q| {
            q.ranges
                .iter()
                .map(|(&start, held)| (start, range_end(start, held)))
        })
    }

    /// One past the highest held offset, `None` when empty.
    pub fn highest_end(&self) -> Option<u64> {
        self.q
            .as_ref()?
            .ranges
            .last_key_value()
            .map(|(&start, held)| range_end(start, held))
    }

    /// Drops everything held.
    pub fn clear(&mut self) {
        self.q = None;
    }
}

impl Queue {
    /// [`Reassembly::insert`] on a queue.
    fn insert(&mut self, offset: u64, data: &[u8]) -> usize {
        // Keep every end offset representable: at most u64::MAX - offset bytes.
        let room = u64::MAX - offset;
        let data = match usize::try_from(room) {
            Ok(room) if room < data.len() => data.get(..room).unwrap_or_default(),
            _ => data,
        };
        if data.is_empty() {
            return 0;
        }
        let end = offset + data.len() as u64;

        // The ranges this one overlaps or touches: possibly the last one starting
        // at or before `offset`, then all those starting in (offset, end].
        let mut touched: Vec<u64> = Vec::new();
        if let Some((&start, held)) = self.ranges.range(..=offset).next_back() {
            let held_end = range_end(start, held);
            if held_end >= end {
                // Entirely a duplicate.
                return 0;
            }
            if held_end >= offset {
                touched.push(start);
            }
        }
        touched.extend(
            self.ranges
                .range((Excluded(offset), Included(end)))
                .map(|(&s, _)| s),
        );

        // Lay out the merged range as pieces, held and new, in order.
        let mut pieces: Vec<Piece<'_>> = Vec::with_capacity(2 * touched.len() + 1);
        let new_start = touched.first().map_or(offset, |&s| s.min(offset));
        let mut cur = new_start;
        let mut added = 0usize;
        for start in touched {
            let Some(held) = self.ranges.remove(&start) else {
                debug_assert!(false, "touched range {start} vanished");
                continue;
            };
            if start > cur {
                let gap = slice(data, offset, cur, start);
                added += gap.len();
                pieces.push(Piece::New(gap));
            }
            cur = range_end(start, &held);
            pieces.push(Piece::Held(held));
        }
        if cur < end {
            let gap = slice(data, offset, cur, end);
            added += gap.len();
            pieces.push(Piece::New(gap));
        }

        let merged = concat(pieces);
        debug_assert_eq!(range_end(new_start, &merged), end.max(cur));
        self.buffered += added;
        self.ranges.insert(new_start, merged);
        self.debug_check_around(new_start);
        added
    }

    /// [`Reassembly::pop_ready`] on a queue.
    fn pop_ready(&mut self, next: u64) -> Option<Vec<u8>> {
        loop {
            let entry = self.ranges.first_entry()?;
            let start = *entry.key();
            let end = range_end(start, entry.get());
            if end <= next {
                // Wholly below `next`: already delivered by another path.
                let gone = entry.remove();
                self.buffered -= gone.len();
                continue;
            }
            if start > next {
                return None;
            }
            let mut bytes = entry.remove();
            self.buffered -= bytes.len();
            // start <= next < end, so the skip is shorter than the range.
            let skip = usize::try_from(next - start).unwrap_or(bytes.len());
            bytes.drain(..skip.min(bytes.len()));
            return Some(Vec::from(bytes));
        }
    }

    /// Checks the invariants between the range at `start` and its neighbours.
    fn debug_check_around(&self, start: u64) {
        if cfg!(debug_assertions) {
            let Some(held) = self.ranges.get(&start) else {
                debug_assert!(false, "no range at {start}");
                return;
            };
            debug_assert!(!held.is_empty(), "empty range at {start}");
            if let Some((&p, prev)) = self.ranges.range(..start).next_back() {
                debug_assert!(range_end(p, prev) < start, "range at {p} touches {start}");
            }
            if let Some((&n, _)) = self
                .ranges
                .range((Excluded(start), Included(u64::MAX)))
                .next()
            {
                debug_assert!(range_end(start, held) < n, "range at {start} touches {n}");
            }
        }
    }
}

impl fmt::Debug for Reassembly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Ranges<'a>(&'a Reassembly);
        impl fmt::Debug for Ranges<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.ranges().map(|(s, e)| s..e))
                    .finish()
            }
        }
        f.debug_struct("Reassembly")
            .field("buffered", &self.buffered())
            .field("ranges", &Ranges(self))
            .finish()
    }
}

/// One past the last offset of the range at `start`. Saturates, though `insert`
/// keeps it exact.
fn range_end(start: u64, held: &VecDeque<u8>) -> u64 {
    start.saturating_add(held.len() as u64)
}

/// The bytes of `data` (which starts at `offset`) covering `[from, to)`; empty if
/// that is not inside `data`.
fn slice(data: &[u8], offset: u64, from: u64, to: u64) -> &[u8] {
    let lo = usize::try_from(from.saturating_sub(offset)).unwrap_or(usize::MAX);
    let hi = usize::try_from(to.saturating_sub(offset)).unwrap_or(usize::MAX);
    let s = data.get(lo..hi);
    debug_assert!(
        s.is_some(),
        "[{from}, {to}) outside data at {offset}+{}",
        data.len()
    );
    s.unwrap_or_default()
}

/// Joins `pieces` into one range, copying everything onto the largest held piece
/// (small-to-large: a byte is copied only into a range at least twice its old one).
fn concat(pieces: Vec<Piece<'_>>) -> VecDeque<u8> {
    let total: usize = pieces.iter().map(Piece::len).sum();
    let base_at = pieces
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Piece::Held(_)))
        .max_by_key(|(_, p)| p.len())
        .map(|(i, _)| i);
    let mut iter = pieces.into_iter();
    let Some(base_at) = base_at else {
        // No held piece: the range is all new data.
        let mut out = VecDeque::with_capacity(total);
        iter.for_each(|p| p.append_to(&mut out));
        return out;
    };
    let mut before = VecDeque::new();
    let mut base = VecDeque::new();
    for (i, piece) in iter.by_ref().enumerate() {
        if i == base_at {
            if let Piece::Held(held) = piece {
                base = held;
            }
            break;
        }
        piece.append_to(&mut before);
    }
    base.reserve(total - base.len());
    // Prepend `before`: append it, then rotate it round to the front. Rotating by
    // n costs O(min(n, len - n)).
    let n = before.len();
    base.append(&mut before);
    base.rotate_right(n);
    iter.for_each(|p| p.append_to(&mut base));
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    /// The bytes of the reference stream at `[offset, offset + len)`.
    fn pat(offset: u64, len: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|k| b'a' + (offset.wrapping_add(k) % 26) as u8)
            .collect()
    }

    /// What the queue holds, range by range.
    fn held(q: &Reassembly) -> Vec<(u64, Vec<u8>)> {
        q.q.iter()
            .flat_map(|q| q.ranges.iter())
            .map(|(&s, v)| (s, v.iter().copied().collect()))
            .collect()
    }

    /// Structural invariants, checked over the whole queue.
    fn check_invariants(q: &Reassembly) {
        let mut sum = 0;
        let mut prev_end: Option<u64> = None;
        for (start, end) in q.ranges() {
            assert!(start < end, "empty range at {start}");
            if let Some(p) = prev_end {
                assert!(p < start, "ranges touch: ..{p} and {start}..");
            }
            sum += (end - start) as usize;
            prev_end = Some(end);
        }
        assert_eq!(q.buffered(), sum, "buffered != sum of ranges");
        assert_eq!(q.is_empty(), sum == 0);
        assert_eq!(q.highest_end(), prev_end);
        assert_eq!(q.range_count(), q.ranges().count());
    }

    /// `(offset, len)` pairs held before a case runs.
    type Held = &'static [(u64, usize)];
    /// `[start, end)` ranges expected after a case.
    type Ranges = &'static [(u64, u64)];
    /// (name, held before, insert at, insert len, new bytes, ranges after)
    type InsertCase = (&'static str, Held, u64, usize, usize, Ranges);
    /// (name, held before, next, popped `(offset, len)`, ranges after)
    type PopCase = (&'static str, Held, u64, Option<(u64, usize)>, Ranges);

    #[test]
    fn insert_table() {
        let cases: [InsertCase; 16] = [
            ("into empty", &[], 10, 5, 5, &[(10, 15)]),
            ("empty data", &[(10, 5)], 3, 0, 0, &[(10, 15)]),
            ("exact duplicate", &[(10, 5)], 10, 5, 0, &[(10, 15)]),
            ("contained", &[(10, 10)], 12, 3, 0, &[(10, 20)]),
            ("contained at the end", &[(10, 10)], 15, 5, 0, &[(10, 20)]),
            ("overlap left", &[(10, 10)], 5, 10, 5, &[(5, 20)]),
            ("overlap right", &[(10, 10)], 15, 10, 5, &[(10, 25)]),
            ("overlap both sides", &[(10, 10)], 5, 20, 10, &[(5, 25)]),
            ("adjacent left merges", &[(10, 10)], 5, 5, 5, &[(5, 20)]),
            ("adjacent right merges", &[(10, 10)], 20, 5, 5, &[(10, 25)]),
            (
                "one gap apart stays separate",
                &[(10, 10)],
                21,
                5,
                5,
                &[(10, 20), (21, 26)],
            ),
            (
                "bridging two ranges exactly",
                &[(0, 10), (20, 10)],
                10,
                10,
                10,
                &[(0, 30)],
            ),
            (
                "bridging with overlap",
                &[(0, 10), (20, 10)],
                5,
                20,
                10,
                &[(0, 30)],
            ),
            (
                "covering three ranges",
                &[(10, 2), (20, 2), (30, 2)],
                0,
                40,
                34,
                &[(0, 40)],
            ),
            (
                "between two, touching neither",
                &[(0, 10), (30, 10)],
                15,
                5,
                5,
                &[(0, 10), (15, 20), (30, 40)],
            ),
            (
                "past u64::MAX is dropped",
                &[],
                u64::MAX - 3,
                10,
                3,
                &[(u64::MAX - 3, u64::MAX)],
            ),
        ];
        for (name, before, at, len, added, after) in cases {
            let mut q = Reassembly::new();
            for &(s, l) in before {
                q.insert(s, &pat(s, l));
            }
            assert_eq!(q.insert(at, &pat(at, len)), added, "{name}: new bytes");
            assert_eq!(q.ranges().collect::<Vec<_>>(), after, "{name}: ranges");
            for (s, bytes) in held(&q) {
                assert_eq!(bytes, pat(s, bytes.len()), "{name}: content at {s}");
            }
            check_invariants(&q);
        }
    }

    #[test]
    fn first_copy_wins() {
        let mut q = Reassembly::new();
        q.insert(2, b"XY");
        assert_eq!(q.insert(0, b"abcdef"), 4);
        assert_eq!(held(&q), vec![(0, b"abXYef".to_vec())]);
    }

    #[test]
    fn pop_ready_table() {
        let cases: [PopCase; 8] = [
            ("empty queue", &[], 0, None, &[]),
            ("range starts at next", &[(10, 5)], 10, Some((10, 5)), &[]),
            ("hole at next", &[(10, 5)], 9, None, &[(10, 15)]),
            ("range straddles next", &[(10, 5)], 12, Some((12, 3)), &[]),
            ("data entirely below next", &[(10, 5)], 15, None, &[]),
            (
                "below next dropped, then pop",
                &[(0, 5), (10, 5)],
                10,
                Some((10, 5)),
                &[],
            ),
            (
                "below next dropped, later kept",
                &[(0, 5), (10, 5)],
                7,
                None,
                &[(10, 15)],
            ),
            (
                "only the first run pops",
                &[(0, 5), (6, 5)],
                0,
                Some((0, 5)),
                &[(6, 11)],
            ),
        ];
        for (name, before, next, popped, after) in cases {
            let mut q = Reassembly::new();
            for &(s, l) in before {
                q.insert(s, &pat(s, l));
            }
            assert_eq!(
                q.pop_ready(next),
                popped.map(|(s, l)| pat(s, l)),
                "{name}: popped"
            );
            assert_eq!(q.ranges().collect::<Vec<_>>(), after, "{name}: ranges");
            check_invariants(&q);
        }
    }

    #[test]
    fn clear_empties() {
        let mut q = Reassembly::new();
        q.insert(5, b"abc");
        q.insert(50, b"abc");
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.buffered(), 0);
        assert_eq!(q.highest_end(), None);
        assert_eq!(q.pop_ready(5), None);
    }

    #[test]
    fn reverse_order_arrival() {
        // Each segment lands just before the previous one: every insert prepends.
        let mut q = Reassembly::new();
        let (seg, n) = (100u64, 200u64);
        for i in (1..n).rev() {
            assert_eq!(q.insert(i * seg, &pat(i * seg, seg as usize)), seg as usize);
            assert_eq!(q.range_count(), 1);
        }
        assert_eq!(q.pop_ready(0), None);
        q.insert(0, &pat(0, seg as usize));
        assert_eq!(q.pop_ready(0), Some(pat(0, (seg * n) as usize)));
        check_invariants(&q);
    }

    #[test]
    fn debug_lists_ranges() {
        let mut q = Reassembly::new();
        q.insert(1, b"ab");
        assert_eq!(
            alloc::format!("{q:?}"),
            "Reassembly { buffered: 2, ranges: [1..3] }"
        );
    }

    /// (stream, segments as `[start, end)` indexes, pop after each?, base offset)
    type Scenario = (Vec<u8>, Vec<(usize, usize)>, Vec<bool>, u64);

    /// A byte stream, segments that cover it (a partition plus random extra,
    /// overlapping ones) in random order, where to pop, and a base offset.
    fn scenario() -> impl Strategy<Value = Scenario> {
        let base = prop_oneof![Just(0u64), Just(u64::MAX - 8192), 0..1u64 << 48];
        (proptest::collection::vec(any::<u8>(), 1..=4096), base).prop_flat_map(|(stream, base)| {
            let len = stream.len();
            let cuts = proptest::collection::vec(0..len, 0..40);
            let extras = proptest::collection::vec((0..len, 1..=700usize), 0..40);
            (Just(stream), cuts, extras, Just(base)).prop_flat_map(
                |(stream, mut cuts, extras, base)| {
                    let len = stream.len();
                    cuts.push(0);
                    cuts.push(len);
                    cuts.sort_unstable();
                    cuts.dedup();
                    let mut segs: Vec<(usize, usize)> =
                        cuts.windows(2).map(|w| (w[0], w[1])).collect();
                    segs.extend(extras.into_iter().map(|(s, l)| (s, (s + l).min(len))));
                    let n = segs.len();
                    (
                        Just(stream),
                        Just(segs).prop_shuffle(),
                        proptest::collection::vec(any::<bool>(), n),
                        Just(base),
                    )
                },
            )
        })
    }

    proptest! {
        #[test]
        fn matches_a_byte_map_model((stream, segs, pops, base) in scenario()) {
            let len = stream.len();
            let mut q = Reassembly::new();
            // Model: which offsets (relative to `base`) are held.
            let mut model = vec![false; len];
            let mut next = 0usize;
            let mut out = Vec::new();

            let pop = |q: &mut Reassembly, model: &mut Vec<bool>, next: &mut usize, out: &mut Vec<u8>| {
                model[..*next].iter_mut().for_each(|h| *h = false);
                let run = model[*next..].iter().take_while(|&&h| h).count();
                let got = q.pop_ready(base + *next as u64);
                if run == 0 {
                    prop_assert_eq!(got, None);
                } else {
                    prop_assert_eq!(got.as_deref(), Some(&stream[*next..*next + run]));
                    model[*next..*next + run].iter_mut().for_each(|h| *h = false);
                    out.extend_from_slice(&stream[*next..*next + run]);
                    *next += run;
                }
                Ok(())
            };

            for (&(s, e), &do_pop) in segs.iter().zip(&pops) {
                let expected = model[s..e].iter().filter(|&&h| !h).count();
                prop_assert_eq!(q.insert(base + s as u64, &stream[s..e]), expected);
                model[s..e].iter_mut().for_each(|h| *h = true);
                if do_pop {
                    pop(&mut q, &mut model, &mut next, &mut out)?;
                }
                check_invariants(&q);
                prop_assert_eq!(q.buffered(), model.iter().filter(|&&h| h).count());
                let mut runs = Vec::new();
                let mut i = 0;
                while i < len {
                    if model[i] {
                        let j = i + model[i..].iter().take_while(|&&h| h).count();
                        runs.push((base + i as u64, base + j as u64));
                        i = j;
                    } else {
                        i += 1;
                    }
                }
                prop_assert_eq!(q.ranges().collect::<Vec<_>>(), runs);
                prop_assert_eq!(&out[..], &stream[..next]);
            }

            // Every segment is in: the whole stream comes out.
            while next < len {
                let before = next;
                pop(&mut q, &mut model, &mut next, &mut out)?;
                prop_assert!(next > before, "stuck at {} of {}", next, len);
            }
            prop_assert_eq!(out, stream);
            // Re-sent bytes below `next` may still be held until a pop drops them.
            prop_assert_eq!(q.pop_ready(base + len as u64), None);
            prop_assert!(q.is_empty());
            prop_assert_eq!(q.buffered(), 0);
        }
    }
}
