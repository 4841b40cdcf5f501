//! RACK's per-segment records (RFC 8985 §6.1 "per-segment state"), oldest
//! first: a queue that holds its first [`INLINE`] records in place and moves
//! to the heap only when more are in flight.
//!
//! A request-response exchange has one or two segments in flight (the data,
//! then maybe a FIN behind it); keeping them inside the RACK state, rather than
//! in a ring of their own, spares such a connection one allocation and the
//! cache lines it would take on every send and every ACK.

use alloc::collections::VecDeque;
use core::fmt;
use core::iter::Chain;
use core::slice;

use super::SentSeg;
use crate::tcp::seq::SeqNum;
use crate::time::Instant;

/// Records kept in place before the queue moves to the heap.
pub(super) const INLINE: usize = 2;

/// An unused slot of the inline array.
const VACANT: SentSeg = SentSeg {
    start: SeqNum(0),
    end: SeqNum(0),
    sent_at: Instant::ZERO,
    rexmit: false,
    sacked: false,
    lost: false,
    delivered: 0,
    delivered_at: Instant::ZERO,
    first_sent_at: Instant::ZERO,
    app_limited: false,
};

/// The queue of records. Once on the heap it stays there (a bulk sender does
/// not move between the two) until [`Records::release`].
#[derive(Clone)]
pub(super) enum Records {
    /// `buf[..len]`, oldest first.
    Inline {
        len: u8,
        buf: [SentSeg; INLINE],
    },
    Heap(VecDeque<SentSeg>),
}

impl Default for Records {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            buf: [VACANT; INLINE],
        }
    }
}

/// The records as a debugger sees them: the list, whatever holds it.
impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Records {
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Inline { len, .. } => usize::from(*len),
            Self::Heap(v) => v.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the queue holds without growing.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        match self {
            Self::Inline { .. } => INLINE,
            Self::Heap(v) => v.capacity(),
        }
    }

    /// Bytes allocated on the heap (none while inline).
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            Self::Inline { .. } => 0,
            Self::Heap(v) => v.capacity() * core::mem::size_of::<SentSeg>(),
        }
    }

    /// Empties the queue and gives back its heap allocation, if any.
    pub(super) fn release(&mut self) {
        *self = Self::default();
    }

    /// Empties the queue, keeping where it lives.
    pub(super) fn clear(&mut self) {
        match self {
            Self::Inline { len, .. } => *len = 0,
            Self::Heap(v) => v.clear(),
        }
    }

    pub(super) fn get(&self, i: usize) -> Option<&SentSeg> {
        match self {
            Self::Inline { len, buf } => buf[..usize::from(*len)].get(i),
            Self::Heap(v) => v.get(i),
        }
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut SentSeg> {
        match self {
            Self::Inline { len, buf } => buf[..usize::from(*len)].get_mut(i),
            Self::Heap(v) => v.get_mut(i),
        }
    }

    pub(super) fn front(&self) -> Option<&SentSeg> {
        self.get(0)
    }

    pub(super) fn back(&self) -> Option<&SentSeg> {
        match self {
            Self::Inline { len, buf } => buf[..usize::from(*len)].last(),
            Self::Heap(v) => v.back(),
        }
    }

    #[inline]
    pub(super) fn push_back(&mut self, seg: SentSeg) {
        match self {
            Self::Inline { len, buf } if usize::from(*len) < INLINE => {
                buf[usize::from(*len)] = seg;
                *len += 1;
            }
            Self::Inline { .. } => self.spill(seg),
            Self::Heap(v) => v.push_back(seg),
        }
    }

    /// Appends `rec()` if the queue has room without growing (a full queue
    /// grows on [`Records::push_back`]'s path, which keeps this one short) and
    /// holds a first and a last record that `ok` accepts; returns whether it
    /// did. One look at where the records live, for the sender's per-segment
    /// path.
    #[inline]
    pub(super) fn push_back_if(
        &mut self,
        ok: impl FnOnce(&SentSeg, &SentSeg) -> bool,
        rec: impl FnOnce() -> SentSeg,
    ) -> bool {
        match self {
            Self::Inline { len, buf } => {
                let n = usize::from(*len);
                if n == 0 || n == INLINE || !ok(&buf[0], &buf[n - 1]) {
                    return false;
                }
                buf[n] = rec();
                *len += 1;
            }
            Self::Heap(v) => {
                if v.len() == v.capacity() {
                    return false;
                }
                let (Some(first), Some(last)) = (v.front(), v.back()) else {
                    return false;
                };
                if !ok(first, last) {
                    return false;
                }
                v.push_back(rec());
            }
        }
        true
    }

    /// [`Records::push_back`] onto a full inline array: the records move to the
    /// heap, with room for as many again.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, seg: SentSeg) {
        let mut v = VecDeque::with_capacity(INLINE * 2);
        v.extend(self.iter().copied());
        v.push_back(seg);
        *self = Self::Heap(v);
    }

    pub(super) fn pop_front(&mut self) -> Option<SentSeg> {
        match self {
            Self::Inline { len, buf } => {
                let n = usize::from(*len);
                if n == 0 {
                    return None;
                }
                let first = buf[0];
                // The whole tail moves up (a fixed-size copy, stale slots too).
                buf.copy_within(1.., 0);
                *len -= 1;
                Some(first)
            }
            Self::Heap(v) => v.pop_front(),
        }
    }

    /// Removes the first `n` records (all of them if there are fewer).
    pub(super) fn drop_front(&mut self, n: usize) {
        match self {
            Self::Inline { len, buf } => {
                // Those left (fewer than INLINE) move up one by one: a
                // fixed-size copy each, where a ranged copy is a call.
                let left = usize::from(*len).saturating_sub(n);
                for i in 0..left {
                    buf[i] = buf[i + n];
                }
                // Fewer than INLINE: it fits.
                *len = left as u8;
            }
            Self::Heap(v) => {
                v.drain(..n.min(v.len()));
            }
        }
    }

    /// The records, oldest first, as two slices (the second empty while
    /// inline), as [`VecDeque::as_slices`].
    pub(super) fn as_slices(&self) -> (&[SentSeg], &[SentSeg]) {
        match self {
            Self::Inline { len, buf } => (&buf[..usize::from(*len)], &[]),
            Self::Heap(v) => v.as_slices(),
        }
    }

    pub(super) fn iter(&self) -> Chain<slice::Iter<'_, SentSeg>, slice::Iter<'_, SentSeg>> {
        let (a, b) = self.as_slices();
        a.iter().chain(b.iter())
    }

    pub(super) fn iter_mut(
        &mut self,
    ) -> Chain<slice::IterMut<'_, SentSeg>, slice::IterMut<'_, SentSeg>> {
        match self {
            Self::Inline { len, buf } => buf[..usize::from(*len)].iter_mut().chain([].iter_mut()),
            Self::Heap(v) => {
                let (a, b) = v.as_mut_slices();
                a.iter_mut().chain(b.iter_mut())
            }
        }
    }

    /// The index of the first record for which `pred` is false (the records
    /// being partitioned by it, true first), as [`slice::partition_point`].
    pub(super) fn partition_point(&self, pred: impl FnMut(&SentSeg) -> bool) -> usize {
        match self {
            Self::Inline { len, buf } => buf[..usize::from(*len)].partition_point(pred),
            Self::Heap(v) => v.partition_point(pred),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(k: u32) -> SentSeg {
        SentSeg {
            start: SeqNum(k * 10),
            end: SeqNum(k * 10 + 10),
            ..VACANT
        }
    }

    /// The queue against a `VecDeque`, across the move to the heap and back.
    #[test]
    fn behaves_as_a_deque_inline_and_on_the_heap() {
        let mut r = Records::default();
        let mut model = VecDeque::new();
        let ops = [1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0];
        for (k, &push) in (0u32..).zip(ops.iter()) {
            if push == 1 {
                r.push_back(seg(k));
                model.push_back(seg(k));
            } else {
                assert_eq!(r.pop_front(), model.pop_front());
            }
            assert_eq!(r.len(), model.len());
            assert!(r.iter().eq(model.iter()));
            assert_eq!(r.front(), model.front());
            assert_eq!(r.back(), model.back());
            let at = model.len() / 2;
            assert_eq!(r.get(at), model.get(at));
            let cut = SeqNum(k * 5);
            assert_eq!(
                r.partition_point(|s| s.end.le(cut)),
                model.partition_point(|s| s.end.le(cut))
            );
        }
        assert!(matches!(r, Records::Heap(_)), "five in flight moved it");
        r.clear();
        assert!(r.is_empty() && r.heap_bytes() > 0);
        r.release();
        assert_eq!((r.heap_bytes(), r.capacity()), (0, INLINE));
    }

    /// `drop_front` against a `VecDeque`'s `drain`, inline and on the heap,
    /// wrapped around its end or not; `as_slices` holds the records in order.
    #[test]
    fn drop_front_takes_the_first_n() {
        // (pushed, then taken and pushed again, then dropped)
        for (pushed, again, n) in [
            (1, 0, 1),
            (2, 0, 1),
            (2, 0, 2),
            (2, 1, 5),
            (6, 0, 3),
            (6, 3, 2),
            (7, 5, 6),
            (7, 5, 9),
        ] {
            let mut r = Records::default();
            let mut model = VecDeque::new();
            for k in 0..pushed {
                r.push_back(seg(k));
                model.push_back(seg(k));
            }
            for k in 0..again {
                assert_eq!(r.pop_front(), model.pop_front());
                r.push_back(seg(pushed + k));
                model.push_back(seg(pushed + k));
            }
            r.drop_front(n);
            model.drain(..n.min(model.len()));
            assert!(r.iter().eq(model.iter()), "{pushed} {again} {n}");
            let (a, b) = r.as_slices();
            assert!(a.iter().chain(b).eq(model.iter()));
        }
    }

    #[test]
    fn push_back_if_appends_only_with_room_and_approval() {
        for heap in [false, true] {
            let mut r = Records::default();
            if heap {
                (0..5).for_each(|k| r.push_back(seg(k)));
                for _ in 0..5 {
                    r.pop_front();
                }
            }
            assert!(!r.push_back_if(|_, _| true, || seg(0)), "empty");
            r.push_back(seg(0));
            assert!(!r.push_back_if(|_, _| false, || seg(1)), "refused");
            assert!(r.push_back_if(
                |f, l| f.start == SeqNum(0) && l.end == SeqNum(10),
                || seg(1)
            ));
            assert!(r.iter().map(|s| s.start).eq([SeqNum(0), SeqNum(10)]));
            while r.len() < r.capacity() {
                r.push_back(seg(2));
            }
            assert!(!r.push_back_if(|_, _| true, || seg(3)), "full");
            assert_eq!(matches!(r, Records::Heap(_)), heap);
        }
    }

    #[test]
    fn two_in_flight_stay_inline() {
        let mut r = Records::default();
        for k in 0..10 {
            r.push_back(seg(2 * k));
            r.push_back(seg(2 * k + 1));
            for s in r.iter_mut() {
                s.sacked = true;
            }
            assert!(r.iter().all(|s| s.sacked));
            assert_eq!(r.pop_front().map(|s| s.start), Some(SeqNum(20 * k)));
            assert_eq!(r.pop_front().map(|s| s.start), Some(SeqNum(20 * k + 10)));
            assert_eq!(r.pop_front(), None);
        }
        assert_eq!(r.heap_bytes(), 0);
    }
}
