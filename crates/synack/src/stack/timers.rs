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

use alloc::vec::Vec;

use crate::time::Instant;

/// Marks a slot without an entry in `pos`.
const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    /// (key, slot), a min-heap by (key, slot). A key is at most the slot's
    /// deadline (`due`); an entry whose slot has no deadline is stale.
    heap: Vec<(Instant, u32)>,
    /// Slot → its position in `heap`, or `NONE`.
    pos: Vec<u32>,
    /// Slot → its deadline, if armed.
    due: Vec<Option<Instant>>,
    /// Armed slots.
    armed: usize,
}

impl TimerHeap {
    /// Number of armed timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.armed
    }

    /// The earliest (deadline, slot).
    pub(crate) fn peek(&mut self) -> Option<(Instant, u32)> {
        self.settle_top();
        self.heap.first().copied()
    }

    /// Slot `idx`'s deadline, if armed.
    #[cfg(test)]
    pub(crate) fn get(&self, idx: u32) -> Option<Instant> {
        self.due.get(idx as usize).copied().flatten()
    }

    /// Arms (`Some`), moves or disarms (`None`) slot `idx`'s deadline.
    pub(crate) fn set(&mut self, idx: u32, deadline: Option<Instant>) {
        let i = idx as usize;
        if self.pos.len() <= i {
            if deadline.is_none() {
                return;
            }
            self.pos.resize(i + 1, NONE);
            self.due.resize(i + 1, None);
        }
        match (self.due[i].is_some(), deadline.is_some()) {
            (false, true) => self.armed += 1,
            (true, false) => self.armed -= 1,
            _ => {}
        }
        self.due[i] = deadline;
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
            (false, Some(t)) if t < self.heap[p as usize].0 => {
                self.heap[p as usize].0 = t;
                self.sift_up(p as usize);
            }
            // Later, or disarmed: the key stays a lower bound until the top.
            (false, _) => {}
        }
        if self.armed == 0 && self.pos.len() > 64 {
            // Nothing armed: give back the arrays.
            *self = Self::default();
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32)> {
        let first = self.peek()?;
        if first.0 > now {
            return None;
        }
        self.remove_top();
        self.armed -= 1;
        self.due[first.1 as usize] = None;
        Some(first)
    }

    /// Puts the top entry right: stale entries go, keys below their deadline
    /// take it and sink, until the top's key is its slot's deadline (then it is
    /// the earliest deadline: every other key is at most its own).
    fn settle_top(&mut self) {
        while let Some(&(key, idx)) = self.heap.first() {
            match self.due[idx as usize] {
                Some(t) if t == key => return,
                Some(t) => {
                    self.heap[0].0 = t;
                    self.sift_down(0);
                }
                None => self.remove_top(),
            }
        }
    }

    fn remove_top(&mut self) {
        let (_, idx) = self.heap[0];
        self.pos[idx as usize] = NONE;
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        self.heap.pop();
        if last > 0 {
            self.pos[self.heap[0].1 as usize] = 0;
            self.sift_down(0);
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
