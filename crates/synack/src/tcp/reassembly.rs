//! The out-of-order receive queue's bookkeeping: which byte ranges are held.
//!
//! RFC 9293 §3.10.7.4: "Segments with higher beginning sequence numbers SHOULD be
//! held for later processing." [`Reassembly`] records *where* held bytes are; the
//! bytes themselves go to a store the caller provides (a connection writes them
//! straight into its receive ring at their place past the tail, so when the gap
//! before them fills the ring's tail just moves over them: no copy on the way
//! out, no allocation per segment). It works on 64-bit stream offsets, not
//! sequence numbers: the connection maps `SEG.SEQ` to an offset (relative to
//! IRS + 1, extended past each 2^32 wrap) before calling in, so this module never
//! sees wraparound.
//!
//! Held bytes form disjoint, non-adjacent ranges, kept sorted in one vector. The
//! ranges are also what a receiver reports in SACK blocks (RFC 2018), through
//! [`Reassembly::ranges`].
//!
//! # Cost
//!
//! An insert hands the store only the bytes not already held (first copy wins)
//! and costs a binary search plus a move of the ranges after the insertion point
//! (a few, in practice: one per hole in the window). Memory is one boxed vector
//! taken at the first insert and kept, with its capacity, until the queue is
//! dropped: [`clear`](Reassembly::clear) and [`pop_ready`](Reassembly::pop_ready)
//! never give it back, so a connection's steady state allocates nothing. The
//! number of ranges is capped ([`MAX_RANGES`] or
//! [`with_max_ranges`](Reassembly::with_max_ranges)): an insert that would need
//! one more is refused whole ([`Full`]), and the caller drops the segment (its
//! sender retransmits it).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

/// The default cap on held ranges (one more than the holes between them).
///
/// Holes come from losses within one window, so it takes about 10% loss of a
/// window of 7,000 segments (10 MB at 1448 bytes) to reach it. The ranges cost
/// 16 bytes each: at most 16 KiB per connection, however small the segments a
/// peer sends.
pub const MAX_RANGES: usize = 1024;

/// [`Reassembly::insert`] would have needed a range beyond the cap; nothing was
/// held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("out-of-order range cap reached")
    }
}

/// Which out-of-order bytes are held, waiting for the gap before them to fill.
///
/// # Examples
///
/// The bytes live in a store of the caller's (here a plain array indexed by
/// offset); the queue says which of them are held and hands each insert's new
/// bytes to `store`:
///
/// ```
/// use synack::tcp::reassembly::Reassembly;
///
/// let mut stream = [0u8; 16];
/// let mut store = |at: u64, bytes: &[u8]| {
///     stream[at as usize..at as usize + bytes.len()].copy_from_slice(bytes)
/// };
/// let mut q = Reassembly::new();
/// assert_eq!(q.insert(5, b"fgh", &mut store), Ok(3)); // out of order: held
/// assert_eq!(q.pop_ready(0), None); // the gap [0, 5) is still open
/// assert_eq!(q.insert(0, b"abcdeXY", &mut store), Ok(5)); // "fg" was already held
/// assert_eq!(q.pop_ready(0), Some(8)); // [0, 8) is ready, and no longer held
/// assert!(q.is_empty());
/// assert_eq!(&stream[..8], b"abcdefgh");
/// ```
///
/// The queue is boxed and exists once something was held: a connection whose
/// data always arrives in order carries 8 bytes of it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Reassembly {
    /// `None` until the first insert (or [`Reassembly::with_max_ranges`]).
    q: Option<Box<Queue>>,
}

/// The ranges behind [`Reassembly`].
#[derive(Clone, PartialEq, Eq)]
struct Queue {
    /// `[start, end)` offsets, ascending. Invariants: no range is empty; for
    /// consecutive ranges `a` and `b`, `a.1 < b.0` (disjoint and non-adjacent);
    /// at most `max` of them.
    ranges: Vec<(u64, u64)>,
    /// Sum of all range lengths.
    buffered: u64,
    /// The cap on `ranges.len()`, at least 1.
    max: usize,
}

impl Queue {
    fn new(max: usize) -> Self {
        Self {
            // Room for a few holes before the first growth.
            ranges: Vec::with_capacity(max.min(8)),
            buffered: 0,
            max: max.max(1),
        }
    }
}

impl Reassembly {
    /// An empty queue holding at most [`MAX_RANGES`] ranges. Allocates nothing
    /// until the first insert.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty queue holding at most `max` ranges (at least 1), allocated now.
    pub fn with_max_ranges(max: usize) -> Self {
        Self {
            q: Some(Box::new(Queue::new(max))),
        }
    }

    /// Sets the cap on ranges (at least 1) for the inserts to come, allocating
    /// the queue if it was not yet. Ranges already held beyond a lowered cap stay;
    /// only new ones are refused until enough have merged or been popped.
    pub fn set_max_ranges(&mut self, max: usize) {
        self.q.get_or_insert_with(|| Box::new(Queue::new(max))).max = max.max(1);
    }

    /// Holds `data`, which starts at stream offset `offset`, and returns how many
    /// of its bytes were not held before.
    ///
    /// Bytes already held are kept as they are (first copy wins): `store` is
    /// called, in ascending order, with each piece of `data` that fills a gap
    /// (its offset and bytes) and never with a byte already held. The result is
    /// merged with the ranges it overlaps or touches. Bytes whose offset would
    /// not fit in a `u64` are dropped.
    ///
    /// Data below the caller's `rcv.nxt` is accepted like any other; the next
    /// [`pop_ready`](Self::pop_ready) discards it. Callers normally trim it first.
    ///
    /// # Errors
    ///
    /// [`Full`] when `data` touches no held range and the cap on ranges is
    /// reached: then nothing is held and `store` is not called.
    pub fn insert(
        &mut self,
        offset: u64,
        data: &[u8],
        store: impl FnMut(u64, &[u8]),
    ) -> Result<usize, Full> {
        // Keep every end offset representable: at most u64::MAX - offset bytes.
        let room = u64::MAX - offset;
        let data = match usize::try_from(room) {
            Ok(room) if room < data.len() => data.get(..room).unwrap_or_default(),
            _ => data,
        };
        if data.is_empty() {
            return Ok(0);
        }
        self.q
            .get_or_insert_with(|| Box::new(Queue::new(MAX_RANGES)))
            .insert(offset, data, store)
    }

    /// Discards every held range that ends at or below `next`, then, if a held
    /// range covers `next`, removes it and returns its end.
    ///
    /// `next` is the caller's `rcv.nxt` as a stream offset. The bytes
    /// `[next, end)` are exactly the in-order data now available (in the store,
    /// where the inserts put them); the caller advances `rcv.nxt` to `end`.
    /// Returns `None` when the byte at `next` is not held.
    pub fn pop_ready(&mut self, next: u64) -> Option<u64> {
        let q = self.q.as_deref_mut()?;
        // Ranges are sorted and disjoint: those ending at or below `next` come first.
        let below = q.ranges.partition_point(|&(_, e)| e <= next);
        let covers = q.ranges.get(below).is_some_and(|&(s, _)| s <= next);
        let gone = below + usize::from(covers);
        let end = covers.then(|| q.ranges[below].1);
        let freed: u64 = q.ranges[..gone].iter().map(|&(s, e)| e - s).sum();
        q.buffered -= freed;
        q.ranges.drain(..gone);
        end
    }

    /// How many bytes are held.
    pub fn buffered(&self) -> usize {
        self.q
            .as_ref()
            .map_or(0, |q| usize::try_from(q.buffered).unwrap_or(usize::MAX))
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.q.as_ref().is_none_or(|q| q.ranges.is_empty())
    }

    /// How many disjoint ranges are held (one more than the number of holes
    /// between them).
    pub fn range_count(&self) -> usize {
        self.q.as_ref().map_or(0, |q| q.ranges.len())
    }

    /// The held ranges as `[start, end)` offsets, ascending, disjoint and
    /// non-adjacent (RFC 2018 SACK blocks come from these).
    pub fn ranges(&self) -> impl DoubleEndedIterator<Item = (u64, u64)> + ExactSizeIterator + '_ {
        self.q
            .as_ref()
            .map_or(&[][..], |q| &q.ranges[..])
            .iter()
            .copied()
    }

    /// The held range containing `offset`, if any (a binary search: the ranges
    /// are sorted).
    pub fn range_containing(&self, offset: u64) -> Option<(u64, u64)> {
        let ranges = &self.q.as_ref()?.ranges;
        let i = ranges.partition_point(|&(_, e)| e <= offset);
        ranges.get(i).copied().filter(|&(s, _)| s <= offset)
    }

    /// The lowest held offset, `None` when empty.
    pub fn first_start(&self) -> Option<u64> {
        self.q.as_ref()?.ranges.first().map(|&(s, _)| s)
    }

    /// One past the highest held offset, `None` when empty.
    pub fn highest_end(&self) -> Option<u64> {
        self.q.as_ref()?.ranges.last().map(|&(_, e)| e)
    }

    /// Drops everything held, keeping the allocation (drop the queue, or replace
    /// it with [`Reassembly::new`], to give that back).
    pub fn clear(&mut self) {
        if let Some(q) = self.q.as_deref_mut() {
            q.ranges.clear();
            q.buffered = 0;
        }
    }
}

impl Queue {
    /// [`Reassembly::insert`] of non-empty `data` whose end fits in a `u64`.
    fn insert(
        &mut self,
        offset: u64,
        data: &[u8],
        mut store: impl FnMut(u64, &[u8]),
    ) -> Result<usize, Full> {
        let end = offset + data.len() as u64;
        // The ranges this one overlaps or touches: `lo..hi`, those ending at or
        // after `offset` and starting at or before `end`.
        let lo = self.ranges.partition_point(|&(_, e)| e < offset);
        let hi = lo + self.ranges[lo..].partition_point(|&(s, _)| s <= end);
        if lo == hi {
            // Touches nothing: a new range between its neighbours.
            if self.ranges.len() >= self.max {
                return Err(Full);
            }
            store(offset, data);
            self.ranges.insert(lo, (offset, end));
            self.buffered += data.len() as u64;
            self.debug_check();
            return Ok(data.len());
        }
        // Hand the store the gaps of [offset, end) between the touched ranges.
        let mut cur = offset;
        let mut added = 0usize;
        for &(s, e) in &self.ranges[lo..hi] {
            if s > cur {
                let gap = slice(data, offset, cur, s);
                store(cur, gap);
                added += gap.len();
            }
            cur = cur.max(e);
        }
        if cur < end {
            let gap = slice(data, offset, cur, end);
            store(cur, gap);
            added += gap.len();
        }
        let merged = (
            self.ranges[lo].0.min(offset),
            self.ranges[hi - 1].1.max(end),
        );
        self.ranges[lo] = merged;
        self.ranges.drain(lo + 1..hi);
        self.buffered += added as u64;
        self.debug_check();
        Ok(added)
    }

    /// Checks the invariants over the whole queue (debug builds).
    fn debug_check(&self) {
        if cfg!(debug_assertions) {
            debug_assert!(self.ranges.len() <= self.max);
            let mut sum = 0;
            for (k, &(s, e)) in self.ranges.iter().enumerate() {
                debug_assert!(s < e, "empty range at {s}");
                if let Some(&(_, prev_end)) = k.checked_sub(1).and_then(|p| self.ranges.get(p)) {
                    debug_assert!(prev_end < s, "ranges touch: ..{prev_end} and {s}..");
                }
                sum += e - s;
            }
            debug_assert_eq!(sum, self.buffered);
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::vec;
    use proptest::prelude::*;

    /// The bytes of the reference stream at `[offset, offset + len)`.
    fn pat(offset: u64, len: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|k| b'a' + (offset.wrapping_add(k) % 26) as u8)
            .collect()
    }

    /// A queue and the byte store its inserts write to.
    #[derive(Default)]
    struct Rx {
        q: Reassembly,
        bytes: BTreeMap<u64, u8>,
    }

    impl Rx {
        fn with_max_ranges(max: usize) -> Self {
            Self {
                q: Reassembly::with_max_ranges(max),
                bytes: BTreeMap::new(),
            }
        }

        fn insert(&mut self, at: u64, data: &[u8]) -> Result<usize, Full> {
            let bytes = &mut self.bytes;
            let mut last = None;
            self.q.insert(at, data, |o, b| {
                assert!(!b.is_empty(), "empty piece at {o}");
                assert!(last.is_none_or(|l| l < o), "pieces out of order");
                last = Some(o);
                for (k, &x) in b.iter().enumerate() {
                    let prev = bytes.insert(o + k as u64, x);
                    assert!(
                        prev.is_none(),
                        "the store was handed held byte {}",
                        o + k as u64
                    );
                }
            })
        }

        /// Pops at `next`: the bytes `[next, end)` from the store (and forgets
        /// everything below `end`).
        fn pop(&mut self, next: u64) -> Option<Vec<u8>> {
            let end = self.q.pop_ready(next);
            let upto = end.unwrap_or(next);
            let out = end.map(|e| (next..e).map(|o| self.bytes[&o]).collect());
            self.bytes.retain(|&o, _| o >= upto);
            out
        }

        /// What the queue holds, range by range, read from the store.
        fn held(&self) -> Vec<(u64, Vec<u8>)> {
            self.q
                .ranges()
                .map(|(s, e)| (s, (s..e).map(|o| self.bytes[&o]).collect()))
                .collect()
        }
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
        assert_eq!(q.first_start(), q.ranges().next().map(|r| r.0));
        assert_eq!(q.range_count(), q.ranges().count());
        assert_eq!(q.ranges().len(), q.range_count());
    }

    /// `(offset, len)` pairs held before a case runs.
    type Held = &'static [(u64, usize)];
    /// `[start, end)` ranges expected after a case.
    type Ranges = &'static [(u64, u64)];
    /// (name, held before, insert at, insert len, new bytes, ranges after)
    type InsertCase = (&'static str, Held, u64, usize, usize, Ranges);
    /// (name, held before, next, end popped, ranges after)
    type PopCase = (&'static str, Held, u64, Option<u64>, Ranges);

    #[test]
    fn range_containing_finds_the_range_of_an_offset() {
        let mut q = Reassembly::new();
        assert_eq!(q.range_containing(5), None, "nothing held");
        for (at, len) in [(10, 5), (20, 5), (40, 10)] {
            q.insert(at, &[0; 10][..len], |_, _| {}).unwrap();
        }
        let cases = [
            (9, None),
            (10, Some((10, 15))),
            (14, Some((10, 15))),
            (15, None),
            (22, Some((20, 25))),
            (39, None),
            (49, Some((40, 50))),
            (50, None),
        ];
        for (off, want) in cases {
            assert_eq!(q.range_containing(off), want, "offset {off}");
        }
    }

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
            let mut rx = Rx::default();
            for &(s, l) in before {
                rx.insert(s, &pat(s, l)).unwrap();
            }
            assert_eq!(rx.insert(at, &pat(at, len)), Ok(added), "{name}: new bytes");
            assert_eq!(rx.q.ranges().collect::<Vec<_>>(), after, "{name}: ranges");
            for (s, bytes) in rx.held() {
                assert_eq!(bytes, pat(s, bytes.len()), "{name}: content at {s}");
            }
            check_invariants(&rx.q);
        }
    }

    #[test]
    fn first_copy_wins() {
        let mut rx = Rx::default();
        rx.insert(2, b"XY").unwrap();
        assert_eq!(rx.insert(0, b"abcdef"), Ok(4));
        assert_eq!(rx.held(), vec![(0, b"abXYef".to_vec())]);
    }

    #[test]
    fn pop_ready_table() {
        let cases: [PopCase; 8] = [
            ("empty queue", &[], 0, None, &[]),
            ("range starts at next", &[(10, 5)], 10, Some(15), &[]),
            ("hole at next", &[(10, 5)], 9, None, &[(10, 15)]),
            ("range straddles next", &[(10, 5)], 12, Some(15), &[]),
            ("data entirely below next", &[(10, 5)], 15, None, &[]),
            (
                "below next dropped, then pop",
                &[(0, 5), (10, 5)],
                10,
                Some(15),
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
                Some(5),
                &[(6, 11)],
            ),
        ];
        for (name, before, next, popped, after) in cases {
            let mut rx = Rx::default();
            for &(s, l) in before {
                rx.insert(s, &pat(s, l)).unwrap();
            }
            assert_eq!(rx.q.pop_ready(next), popped, "{name}: popped");
            assert_eq!(rx.q.ranges().collect::<Vec<_>>(), after, "{name}: ranges");
            check_invariants(&rx.q);
        }
    }

    #[test]
    fn clear_empties() {
        let mut q = Reassembly::new();
        q.insert(5, b"abc", |_, _| {}).unwrap();
        q.insert(50, b"abc", |_, _| {}).unwrap();
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.buffered(), 0);
        assert_eq!(q.highest_end(), None);
        assert_eq!(q.first_start(), None);
        assert_eq!(q.pop_ready(5), None);
        check_invariants(&q);
    }

    #[test]
    fn reverse_order_arrival() {
        // Each segment lands just before the previous one: every insert prepends.
        let mut rx = Rx::default();
        let (seg, n) = (100u64, 200u64);
        for i in (1..n).rev() {
            let data = pat(i * seg, seg as usize);
            assert_eq!(rx.insert(i * seg, &data), Ok(seg as usize));
            assert_eq!(rx.q.range_count(), 1);
        }
        assert_eq!(rx.pop(0), None);
        rx.insert(0, &pat(0, seg as usize)).unwrap();
        assert_eq!(rx.pop(0), Some(pat(0, (seg * n) as usize)));
        check_invariants(&rx.q);
    }

    #[test]
    fn the_range_cap_refuses_only_new_ranges() {
        let mut rx = Rx::with_max_ranges(2);
        assert_eq!(rx.insert(0, b"a"), Ok(1));
        assert_eq!(rx.insert(10, b"k"), Ok(1));
        let before = rx.q.clone();
        assert_eq!(rx.insert(20, b"u"), Err(Full), "a third range");
        assert_eq!(rx.insert(5, b"f"), Err(Full), "a third range between");
        assert_eq!(rx.q, before, "a refused insert changes nothing");
        assert_eq!(rx.bytes.len(), 2, "nor hands the store anything");
        // At the cap, data that joins a range is still taken.
        assert_eq!(rx.insert(11, b"lm"), Ok(2));
        assert_eq!(rx.insert(9, b"jk"), Ok(1));
        assert_eq!(rx.insert(0, b"ab"), Ok(1));
        assert_eq!(rx.q.ranges().collect::<Vec<_>>(), [(0, 2), (9, 13)]);
        // Bridging frees one.
        assert_eq!(rx.insert(2, &pat(2, 7)), Ok(7));
        assert_eq!(rx.insert(20, b"u"), Ok(1));
        assert_eq!(rx.q.range_count(), 2);
        check_invariants(&rx.q);
        // The default cap.
        let mut q = Reassembly::new();
        for i in 0..MAX_RANGES as u64 {
            assert_eq!(q.insert(2 * i, b"x", |_, _| {}), Ok(1));
        }
        assert_eq!(q.insert(2 * MAX_RANGES as u64, b"x", |_, _| {}), Err(Full));
        assert_eq!(q.insert(1, b"x", |_, _| {}), Ok(1), "joins two");
        check_invariants(&q);
    }

    /// Issue 7: in steady state, holding and popping allocates nothing: the
    /// ranges live in one vector whose capacity is kept (a reallocation would
    /// change the buffer's address).
    #[test]
    fn steady_state_keeps_the_allocation() {
        let mut q = Reassembly::new();
        let seg = 1448u64;
        let round = |q: &mut Reassembly, base: u64| {
            // A window of 64 segments, every fourth lost, arriving in order, then
            // the losses repaired.
            for i in (0..64).filter(|i| i % 4 != 0) {
                q.insert(base + i * seg, &[0; 1448], |_, _| {}).unwrap();
            }
            for i in (0..64).filter(|i| i % 4 == 0) {
                q.insert(base + i * seg, &[0; 1448], |_, _| {}).unwrap();
                assert_eq!(
                    q.pop_ready(base + i * seg),
                    Some(base + (i + 4).min(64) * seg)
                );
            }
            assert!(q.is_empty());
        };
        round(&mut q, 0);
        let at = |q: &Reassembly| {
            q.q.as_ref()
                .map(|b| (b.ranges.as_ptr(), b.ranges.capacity()))
        };
        let before = at(&q);
        assert!(before.is_some());
        for k in 1..100 {
            round(&mut q, k * 64 * seg);
            q.clear();
        }
        assert_eq!(at(&q), before);
    }

    #[test]
    fn debug_lists_ranges() {
        let mut q = Reassembly::new();
        q.insert(1, b"ab", |_, _| {}).unwrap();
        assert_eq!(
            alloc::format!("{q:?}"),
            "Reassembly { buffered: 2, ranges: [1..3] }"
        );
    }

    /// (stream, segments as `[start, end)` indexes, pop after each?, base offset, range cap)
    type Scenario = (Vec<u8>, Vec<(usize, usize)>, Vec<bool>, u64, usize);

    /// A byte stream, segments that cover it (a partition plus random extra,
    /// overlapping ones) in random order, where to pop, a base offset and a cap
    /// on ranges (small ones make it bite).
    fn scenario() -> impl Strategy<Value = Scenario> {
        let base = prop_oneof![Just(0u64), Just(u64::MAX - 8192), 0..1u64 << 48];
        let cap = prop_oneof![Just(MAX_RANGES), 1..6usize];
        (proptest::collection::vec(any::<u8>(), 1..=4096), base, cap).prop_flat_map(
            |(stream, base, cap)| {
                let len = stream.len();
                let cuts = proptest::collection::vec(0..len, 0..40);
                let extras = proptest::collection::vec((0..len, 1..=700usize), 0..40);
                (Just(stream), cuts, extras, Just(base), Just(cap)).prop_flat_map(
                    |(stream, mut cuts, extras, base, cap)| {
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
                            Just(cap),
                        )
                    },
                )
            },
        )
    }

    /// The held runs of a byte map, as absolute ranges.
    fn runs(model: &[bool], base: u64) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        let mut i = 0;
        while i < model.len() {
            if model[i] {
                let j = i + model[i..].iter().take_while(|&&h| h).count();
                runs.push((base + i as u64, base + j as u64));
                i = j;
            } else {
                i += 1;
            }
        }
        runs
    }

    proptest! {
        #[test]
        fn matches_a_byte_map_model((stream, segs, pops, base, cap) in scenario()) {
            let len = stream.len();
            let mut q = Reassembly::with_max_ranges(cap);
            // The caller's store, relative to `base`.
            let mut store: Vec<Option<u8>> = vec![None; len];
            // Model: which offsets (relative to `base`) are held.
            let mut model = vec![false; len];
            let mut next = 0usize;
            let mut out = Vec::new();

            let pop = |q: &mut Reassembly, store: &mut Vec<Option<u8>>, model: &mut Vec<bool>, next: &mut usize, out: &mut Vec<u8>| {
                // Everything below `next` is dropped, from the store too.
                model[..*next].iter_mut().for_each(|h| *h = false);
                store[..*next].iter_mut().for_each(|b| *b = None);
                let run = model[*next..].iter().take_while(|&&h| h).count();
                let got = q.pop_ready(base + *next as u64);
                if run == 0 {
                    prop_assert_eq!(got, None);
                } else {
                    prop_assert_eq!(got, Some(base + (*next + run) as u64));
                    for i in *next..*next + run {
                        prop_assert_eq!(store[i].take(), Some(stream[i]), "byte {}", i);
                    }
                    model[*next..*next + run].iter_mut().for_each(|h| *h = false);
                    out.extend_from_slice(&stream[*next..*next + run]);
                    *next += run;
                }
                Ok(())
            };

            let mut refused = false;
            for (&(s, e), &do_pop) in segs.iter().zip(&pops) {
                let expected = model[s..e].iter().filter(|&&h| !h).count();
                let touches = model[s.saturating_sub(1)..(e + 1).min(len)].iter().any(|&h| h);
                let full = !touches && runs(&model, base).len() >= cap;
                let got = q.insert(base + s as u64, &stream[s..e], |o, b| {
                    let at = (o - base) as usize;
                    for (k, &x) in b.iter().enumerate() {
                        assert!(store[at + k].is_none(), "held byte {} handed to the store", at + k);
                        store[at + k] = Some(x);
                    }
                });
                if full {
                    prop_assert_eq!(got, Err(Full));
                    refused = true;
                } else {
                    prop_assert_eq!(got, Ok(expected));
                    model[s..e].iter_mut().for_each(|h| *h = true);
                }
                if do_pop {
                    pop(&mut q, &mut store, &mut model, &mut next, &mut out)?;
                }
                check_invariants(&q);
                prop_assert!(q.range_count() <= cap);
                prop_assert_eq!(q.buffered(), model.iter().filter(|&&h| h).count());
                prop_assert_eq!(q.ranges().collect::<Vec<_>>(), runs(&model, base));
                prop_assert_eq!(&out[..], &stream[..next]);
            }

            // Resend the rest in order, as a sender would: the whole stream comes out.
            while next < len {
                let before = next;
                pop(&mut q, &mut store, &mut model, &mut next, &mut out)?;
                if next == before {
                    // A hole at `next`: what a retransmission brings.
                    let end = next + model[next..].iter().take_while(|&&h| !h).count();
                    prop_assert!(refused, "stuck at {} of {} though every segment went in", next, len);
                    let got = q.insert(base + next as u64, &stream[next..end], |o, b| {
                        let at = (o - base) as usize;
                        for (k, &x) in b.iter().enumerate() {
                            store[at + k] = Some(x);
                        }
                    });
                    prop_assert_eq!(got, Ok(end - next), "in-order data touching the next range");
                    model[next..end].iter_mut().for_each(|h| *h = true);
                }
            }
            prop_assert_eq!(out, stream);
            // Re-sent bytes below `next` may still be held until a pop drops them.
            prop_assert_eq!(q.pop_ready(base + len as u64), None);
            prop_assert!(q.is_empty());
            prop_assert_eq!(q.buffered(), 0);
        }
    }
}
