//! The stack's connection timers: one deadline per socket slot in an indexed
//! binary min-heap.
//!
//! Each slot has at most one entry, and the heap knows where it is, so moving a
//! deadline (every ACK moves the retransmission timer) is an O(log n) sift in
//! place: no stale entries pile up (a lazily deleted heap gains one per move), and
//! nothing scans every connection. Ties are ordered by slot index, so the order in
//! which due timers fire is deterministic.

use alloc::vec::Vec;

use crate::time::Instant;

/// Marks a slot without an entry in `pos`.
const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    /// (deadline, slot), a min-heap by (deadline, slot).
    heap: Vec<(Instant, u32)>,
    /// Slot → its position in `heap`, or `NONE`.
    pos: Vec<u32>,
}

impl TimerHeap {
    /// Number of armed timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The earliest (deadline, slot).
    pub(crate) fn peek(&self) -> Option<(Instant, u32)> {
        self.heap.first().copied()
    }

    /// Slot `idx`'s deadline, if armed.
    #[cfg(test)]
    pub(crate) fn get(&self, idx: u32) -> Option<Instant> {
        let p = *self.pos.get(idx as usize)?;
        (p != NONE).then(|| self.heap[p as usize].0)
    }

    /// Arms (`Some`), moves or disarms (`None`) slot `idx`'s deadline.
    pub(crate) fn set(&mut self, idx: u32, deadline: Option<Instant>) {
        let i = idx as usize;
        if self.pos.len() <= i {
            if deadline.is_none() {
                return;
            }
            self.pos.resize(i + 1, NONE);
        }
        let p = self.pos[i];
        match (p == NONE, deadline) {
            (true, None) => {}
            (true, Some(t)) => {
                // Heap positions fit in u32: there is at most one entry per slot,
                // and slot indices are u32.
                let at = self.heap.len() as u32;
                self.heap.push((t, idx));
                self.pos[i] = at;
                self.sift_up(at as usize);
            }
            (false, Some(t)) => {
                let old = self.heap[p as usize].0;
                self.heap[p as usize].0 = t;
                if t < old {
                    self.sift_up(p as usize);
                } else {
                    self.sift_down(p as usize);
                }
            }
            (false, None) => self.remove_at(p as usize),
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32)> {
        let first = self.peek()?;
        if first.0 > now {
            return None;
        }
        self.remove_at(0);
        Some(first)
    }

    fn remove_at(&mut self, p: usize) {
        let (_, idx) = self.heap[p];
        self.pos[idx as usize] = NONE;
        let last = self.heap.len() - 1;
        if p != last {
            self.heap.swap(p, last);
            self.heap.pop();
            self.pos[self.heap[p].1 as usize] = p as u32;
            // The moved entry may belong above or below its new place.
            self.sift_up(p);
            self.sift_down(p);
        } else {
            self.heap.pop();
        }
        if self.heap.is_empty() && self.pos.len() > 64 {
            // Nothing armed: give back the index array.
            self.pos = Vec::new();
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a].1 as usize] = a as u32;
        self.pos[self.heap[b].1 as usize] = b as u32;
    }

    fn sift_up(&mut self, mut p: usize) {
        while p > 0 {
            let parent = (p - 1) / 2;
            if self.heap[p] >= self.heap[parent] {
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
            if l < n && self.heap[l] < self.heap[m] {
                m = l;
            }
            if r < n && self.heap[r] < self.heap[m] {
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

    proptest! {
        /// Against a model (a map slot → deadline): random arms, moves, disarms and
        /// pops keep the same entries, the heap never holds more than one per slot,
        /// and pops come out in (deadline, slot) order.
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
                for (&i, &d) in &model {
                    prop_assert_eq!(h.get(i), Some(d));
                }
            }
        }
    }
}
