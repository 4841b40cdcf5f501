//! The stack's connection timers: one deadline per socket slot in an indexed
//! binary min-heap.
//!
//! Each slot has at most one entry, and the heap knows where it is, so moving a
//! deadline earlier is an O(log n) sift in place: no stale entries pile up (a
//! lazily deleted heap gains one per move), and nothing scans every connection.
//! Moving a deadline *later* (every ACK pushes the retransmission timer back)
//! or disarming it only records the new deadline: the entry keeps its earlier
//! key, a lower bound, and is put right when it reaches the top. The top is
//! always put right before anyone reads it, so `peek` and `pop_due` are exact;
//! most entries moved later are moved again or disarmed before they surface, and
//! never sift at all. Ties are ordered by slot index, so the order in which due
//! timers fire is deterministic.
//!
//! When most connections move their deadlines later between two reads (each
//! acknowledged something), putting the top right one entry at a time sinks
//! nearly every entry from the root: O(n log n) per read. So when the previous
//! read had to put right at least a quarter of the entries, and the top is
//! stale again, the heap is rebuilt instead, every key set to its deadline, in
//! O(n) (Floyd).

use alloc::vec::Vec;

use crate::time::Instant;

/// Marks a slot without an entry in `pos`.
const NONE: u32 = u32::MAX;

/// `Entry::due` of a disarmed slot whose entry has not reached the top yet.
const DISARMED: u64 = u64::MAX;

/// One slot's entry: its key (at most its deadline) orders the heap.
#[derive(Clone, Copy, Debug)]
struct Entry {
    key: Instant,
    slot: u32,
    /// The deadline in microseconds, or `DISARMED`. A deadline of
    /// `Instant::FAR_FUTURE` is kept one microsecond earlier.
    due: u64,
}

impl Entry {
    fn order(&self) -> (Instant, u32) {
        (self.key, self.slot)
    }
}

fn due_of(t: Instant) -> u64 {
    t.micros().min(DISARMED - 1)
}

/// Whether `e`'s key is below its deadline (moved later, or disarmed).
fn is_stale(e: &Entry) -> bool {
    e.due != due_of(e.key)
}

/// Smallest heap that is ever rebuilt (small heaps settle cheaply either way).
const REBUILD_MIN_LEN: usize = if cfg!(test) { 4 } else { 64 };

#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    /// A min-heap by (key, slot).
    heap: Vec<Entry>,
    /// Slot → its position in `heap`, or `NONE`.
    pos: Vec<u32>,
    /// Armed slots.
    armed: usize,
    /// Stale entries the last read put right (one by one, or by a rebuild).
    settled: usize,
    #[cfg(test)]
    rebuilds: usize,
}

impl TimerHeap {
    /// Number of armed timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.armed
    }

    /// The earliest (deadline, slot).
    #[inline]
    pub(crate) fn peek(&mut self) -> Option<(Instant, u32)> {
        self.settle_top();
        self.heap.first().map(Entry::order)
    }

    /// Slot `idx`'s deadline, if armed.
    #[cfg(test)]
    pub(crate) fn get(&self, idx: u32) -> Option<Instant> {
        let p = *self.pos.get(idx as usize)?;
        let due = self.heap.get(p as usize)?.due;
        (due != DISARMED).then(|| Instant::from_micros(due))
    }

    /// Arms (`Some`), moves or disarms (`None`) slot `idx`'s deadline.
    pub(crate) fn set(&mut self, idx: u32, deadline: Option<Instant>) {
        let p = self.pos.get(idx as usize).copied().unwrap_or(NONE);
        if p == NONE {
            if let Some(t) = deadline {
                self.insert(idx, t);
            }
            return;
        }
        let e = &mut self.heap[p as usize];
        let was_armed = e.due != DISARMED;
        match deadline {
            Some(t) => {
                e.due = due_of(t);
                self.armed += usize::from(!was_armed);
                if t < e.key {
                    e.key = t;
                    self.sift_up(p as usize);
                }
                // Later: the key stays a lower bound until the entry is on top.
            }
            None => {
                e.due = DISARMED;
                self.armed -= usize::from(was_armed);
                if self.armed == 0 && self.pos.len() > 64 {
                    self.release();
                }
            }
        }
    }

    /// Arms slot `idx`, which has no entry (kept out of `set`'s path for
    /// moving a deadline, which runs after almost every segment).
    #[inline(never)]
    fn insert(&mut self, idx: u32, t: Instant) {
        let i = idx as usize;
        if self.pos.len() <= i {
            self.pos.resize(i + 1, NONE);
        }
        // Heap positions fit in u32: there is at most one entry per slot, and
        // slot indices are u32.
        let at = self.heap.len();
        self.heap.push(Entry {
            key: t,
            slot: idx,
            due: due_of(t),
        });
        self.pos[i] = at as u32;
        self.armed += 1;
        self.sift_up(at);
    }

    /// Nothing armed: gives back the arrays.
    #[cold]
    fn release(&mut self) {
        *self = Self::default();
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32)> {
        let first = self.peek()?;
        if first.0 > now {
            return None;
        }
        self.remove_top();
        self.armed -= 1;
        Some(first)
    }

    /// Puts the top entry right: disarmed entries go, keys below their deadline
    /// take it and sink, until the top's key is its deadline (then it is the
    /// earliest deadline: every other key is at most its own).
    #[inline]
    fn settle_top(&mut self) {
        if self.heap.first().is_some_and(is_stale) {
            self.settle_stale_top();
        }
    }

    /// [`TimerHeap::settle_top`] when the top is stale.
    fn settle_stale_top(&mut self) {
        if self.heap.len() >= REBUILD_MIN_LEN && self.settled * 4 >= self.heap.len() {
            self.rebuild();
            return;
        }
        let mut settled = 0;
        while let Some(top) = self.heap.first_mut() {
            if top.due == DISARMED {
                self.remove_top();
            } else if !is_stale(top) {
                break;
            } else {
                top.key = Instant::from_micros(top.due);
                self.sift_down(0);
            }
            settled += 1;
        }
        self.settled = settled;
    }

    /// Drops the disarmed entries, sets every key to its deadline and restores
    /// the heap order bottom-up: O(n).
    #[cold]
    fn rebuild(&mut self) {
        let len = self.heap.len();
        let pos = &mut self.pos;
        self.heap.retain(|e| {
            if e.due == DISARMED {
                pos[e.slot as usize] = NONE;
            }
            e.due != DISARMED
        });
        let mut settled = len - self.heap.len();
        for (i, e) in self.heap.iter_mut().enumerate() {
            settled += usize::from(is_stale(e));
            e.key = Instant::from_micros(e.due);
            // Positions fit in u32 (one entry per slot, slots are u32).
            self.pos[e.slot as usize] = i as u32;
        }
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_down(i);
        }
        self.settled = settled;
        #[cfg(test)]
        {
            self.rebuilds += 1;
        }
    }

    fn remove_top(&mut self) {
        self.pos[self.heap[0].slot as usize] = NONE;
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        self.heap.pop();
        if last > 0 {
            self.pos[self.heap[0].slot as usize] = 0;
            self.sift_down(0);
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a].slot as usize] = a as u32;
        self.pos[self.heap[b].slot as usize] = b as u32;
    }

    fn sift_up(&mut self, mut p: usize) {
        while p > 0 {
            let parent = (p - 1) / 2;
            if self.heap[p].order() >= self.heap[parent].order() {
                break;
            }
            self.swap(p, parent);
            p = parent;
        }
    }

    fn sift_down(&mut self, mut p: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * p + 1, 2 * p + 2);
            let mut m = p;
            if l < n && self.heap[l].order() < self.heap[m].order() {
                m = l;
            }
            if r < n && self.heap[r].order() < self.heap[m].order() {
                m = r;
            }
            if m == p {
                return;
            }
            self.swap(p, m);
            p = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use proptest::prelude::*;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn moves_in_place_and_fires_in_order() {
        let mut h = TimerHeap::default();
        h.set(3, Some(at(30)));
        h.set(1, Some(at(10)));
        h.set(2, Some(at(10)));
        h.set(3, Some(at(5))); // moved earlier: still one entry
        h.set(1, Some(at(50))); // moved later
        assert_eq!(h.len(), 3);
        assert_eq!(h.get(1), Some(at(50)));
        assert_eq!(h.pop_due(at(4)), None);
        assert_eq!(h.pop_due(at(100)), Some((at(5), 3)));
        assert_eq!(h.pop_due(at(100)), Some((at(10), 2)));
        h.set(2, None); // already fired: nothing to do
        h.set(9, None); // never armed
        assert_eq!(h.pop_due(at(100)), Some((at(50), 1)));
        assert_eq!(h.pop_due(at(100)), None);
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn ties_fire_by_slot_index() {
        let mut h = TimerHeap::default();
        for idx in [7, 2, 9, 0, 4] {
            h.set(idx, Some(at(1)));
        }
        let order: Vec<u32> = core::iter::from_fn(|| h.pop_due(at(1)).map(|e| e.1)).collect();
        assert_eq!(order, [0, 2, 4, 7, 9]);
    }

    /// Every entry moved later (or disarmed) between reads, twice: the first
    /// read puts them right one by one, the second rebuilds the heap; the
    /// order out is the same.
    #[test]
    fn mostly_stale_heap_is_rebuilt_in_order() {
        let mut h = TimerHeap::default();
        for idx in 0..100 {
            h.set(idx, Some(at(u64::from(idx))));
        }
        let mut want = Vec::new();
        for round in 0..2u64 {
            for idx in 0..100 {
                if idx % 10 == 3 && round == 1 {
                    h.set(idx, None);
                } else {
                    h.set(idx, Some(at(1000 * (round + 1) - u64::from(idx))));
                }
            }
            want = (0..100u32)
                .rev()
                .filter(|i| round == 0 || i % 10 != 3)
                .map(|i| (at(1000 * (round + 1) - u64::from(i)), i))
                .collect();
            assert_eq!(h.peek(), Some(want[0]));
            assert_eq!(h.rebuilds, usize::try_from(round).unwrap());
        }
        assert_eq!(h.heap.len(), 90, "disarmed entries dropped");
        let order: Vec<_> = core::iter::from_fn(|| h.pop_due(at(5000))).collect();
        assert_eq!(order, want);
        assert_eq!(h.len(), 0);
    }

    proptest! {
        /// Against a model (a map slot → deadline): random arms, moves, disarms and
        /// pops keep the same entries, the heap never holds more than one per slot,
        /// peeks and pops come out in (deadline, slot) order.
        #[test]
        fn matches_model(ops in proptest::collection::vec((0u32..40, proptest::option::of(0u64..50), any::<bool>()), 0..400)) {
            let mut h = TimerHeap::default();
            let mut model: BTreeMap<u32, Instant> = BTreeMap::new();
            for (idx, t, pop) in ops {
                if pop {
                    let now = at(t.unwrap_or(25));
                    let want = model.iter().map(|(&i, &d)| (d, i)).min().filter(|e| e.0 <= now);
                    let got = h.pop_due(now);
                    prop_assert_eq!(got, want);
                    if let Some((_, i)) = got {
                        model.remove(&i);
                    }
                } else {
                    h.set(idx, t.map(at));
                    match t {
                        Some(t) => { model.insert(idx, at(t)); }
                        None => { model.remove(&idx); }
                    }
                }
                prop_assert_eq!(h.len(), model.len());
                // The top is exact even while entries moved later keep old keys.
                let earliest = model.iter().map(|(&i, &d)| (d, i)).min();
                prop_assert_eq!(h.peek(), earliest);
                for (&i, &d) in &model {
                    prop_assert_eq!(h.get(i), Some(d));
                }
            }
        }
    }
}
