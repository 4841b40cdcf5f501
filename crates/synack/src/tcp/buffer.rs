//! The send buffer (bytes queued by the application and not yet acknowledged) and
//! the receive ring (bytes received in order and not yet read).
//!
//! A ring (`VecDeque<u8>`): acknowledged bytes leave the front without moving the
//! rest, so each byte is copied once on the way in (`push`) and once on the way out
//! (straight into the packet, from at most two slices, see [`SendBuffer::slices`]).
//! Memory is taken on the first push and given back once everything is
//! acknowledged and the ring had grown large.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Unacknowledged and unsent bytes, oldest first.
#[derive(Debug, Default)]
pub(crate) struct SendBuffer {
    buf: VecDeque<u8>,
    cap: usize,
}

/// An emptied ring larger than this is shrunk back to it.
const KEEP: usize = 64 * 1024;

impl SendBuffer {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            buf: VecDeque::new(),
            cap,
        }
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Room left for the application.
    pub(crate) fn free(&self) -> usize {
        self.cap.saturating_sub(self.len())
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    pub(crate) fn set_capacity(&mut self, cap: usize) {
        self.cap = cap;
    }

    /// Appends as much of `data` as fits; returns how much.
    pub(crate) fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.buf.extend(&data[..n]);
        n
    }

    /// Drops `n` acknowledged bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        let n = n.min(self.len());
        if n == self.buf.len() {
            self.buf.clear();
            if self.buf.capacity() > 4 * KEEP {
                self.buf.shrink_to(KEEP);
            }
        } else {
            // Draining a prefix only moves the ring's head.
            self.buf.drain(..n);
        }
    }

    /// The bytes `[offset, offset + len)` counted from the oldest unacknowledged
    /// byte, clipped to what is held, as two slices to be sent back to back (the
    /// second is empty unless the range wraps around the ring).
    pub(crate) fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        let start = offset.min(self.len());
        let end = offset.saturating_add(len).min(self.len());
        let (a, b) = self.buf.as_slices();
        if end <= a.len() {
            (&a[start..end], &[])
        } else if start >= a.len() {
            (&b[start - a.len()..end - a.len()], &[])
        } else {
            (&a[start..], &b[..end - a.len()])
        }
    }

    /// Empties the buffer for a new connection with room for `cap` bytes, keeping
    /// the ring's allocation only if it holds at most `keep` bytes.
    pub(crate) fn recycle(&mut self, cap: usize, keep: usize) {
        self.buf.clear();
        if self.buf.capacity() > keep {
            self.buf = VecDeque::new();
        }
        self.cap = cap;
    }

    /// The ring's allocation, in bytes.
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// [`SendBuffer::slices`] joined, for tests.
    #[cfg(test)]
    fn slice(&self, offset: usize, len: usize) -> alloc::vec::Vec<u8> {
        let (a, b) = self.slices(offset, len);
        [a, b].concat()
    }
}

/// Bytes received in order and not yet read by the application: a ring over
/// initialised storage, so that a payload can be written into the free space
/// past the tail *before* it is known to belong there.
///
/// Two kinds of bytes live past the tail:
///
/// - **Staged** bytes ([`RecvRing::stage`]): the stack verifies a segment's
///   checksum while copying its payload into the ring (one pass over the bytes
///   instead of a checksum pass and a copy pass); only once the segment has been
///   accepted does [`RecvRing::commit_staged`] make them part of the ring.
///   Staged bytes are invisible until then; anything else that writes to the
///   ring forgets them.
/// - **Held** bytes ([`RecvRing::write_ahead`]): out-of-order data, written at
///   its place past the tail (its stream offset less the tail's), so that when
///   the gap before it fills, [`RecvRing::advance`] moves the tail over it
///   without a copy. The ring does not know which bytes past the tail are held
///   (the connection's [`Reassembly`](crate::tcp::reassembly::Reassembly) does);
///   it only knows *that* some are, and then keeps all of its storage past the
///   tail in place: growing copies the whole old storage, not just the held
///   bytes, and an emptied ring does not move its head back to index 0.
///
/// The caller keeps the two apart: a staged payload must end before the first
/// held byte (see `Tcb::verify_staging`), so a copy of a segment that is then
/// rejected (bad checksum, unacceptable) can only have written into a hole.
#[derive(Debug, Default)]
pub(crate) struct RecvRing {
    /// Storage; its length is the ring's capacity, every byte initialised.
    buf: Box<[u8]>,
    /// Index of the oldest byte in the low 31 bits (the storage is at most 2^31
    /// bytes, so an index is below 2^31); the top bit is [`AHEAD`].
    head: u32,
    /// Bytes held.
    len: u32,
    /// Bytes written past the tail by [`RecvRing::stage`] and found good.
    staged: u32,
    /// What the staged bytes were tagged with (the sequence number of the first).
    staged_tag: u32,
    /// Whole received packets read in place, ahead of the ring's bytes (see
    /// [`KeptPackets`]); allocated on first use, dropped by [`RecvRing::clear`].
    kept: Option<Box<KeptPackets>>,
}

/// Largest ring: the configuration caps receive buffers at 1 GiB.
const RING_MAX: usize = 1 << 31;

/// The flag in [`RecvRing::head`]: bytes past the tail are held (written by
/// [`RecvRing::write_ahead`], not yet passed by [`RecvRing::advance`]). It
/// lives in the index's spare bit to keep the ring at 32 bytes (the TCB's size
/// is pinned).
const AHEAD: u32 = 1 << 31;

/// The flag in [`RecvRing::staged`]: the staged payload lies in the received
/// packet itself ([`RecvRing::stage_kept`]), not in the ring.
const KEPT: u32 = 1 << 31;

impl RecvRing {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Bytes held, to be read: those of the kept packets, then the ring's.
    pub(crate) fn len(&self) -> usize {
        self.ring_len() + self.kept.as_deref().map_or(0, KeptPackets::bytes)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held in the ring itself.
    fn ring_len(&self) -> usize {
        self.len as usize
    }

    /// The ring's allocation, in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes held: the ring's storage and the kept packets' buffers with
    /// their bookkeeping.
    pub(crate) fn allocated(&self) -> usize {
        self.buf.len() + self.kept.as_deref().map_or(0, KeptPackets::allocated)
    }

    /// Whether [`RecvRing::allocated`] is above zero, without adding it up
    /// (the kept packets' bookkeeping is never empty: it counts its own
    /// size). Asked for every deadline a connection computes
    /// (`Tcb::idle_trim_deadline`).
    #[inline]
    pub(crate) fn holds_memory(&self) -> bool {
        let holds = !self.buf.is_empty() || self.kept.is_some();
        debug_assert_eq!(holds, self.allocated() > 0);
        holds
    }

    /// Index of the oldest byte.
    fn head(&self) -> usize {
        (self.head & !AHEAD) as usize
    }

    /// Moves the head to index `i` (below the capacity, so below 2^31), keeping
    /// the [`AHEAD`] flag.
    fn set_head(&mut self, i: usize) {
        debug_assert!(i < self.buf.len().max(1));
        self.head = (self.head & AHEAD) | i as u32;
    }

    /// Whether bytes past the tail are held ([`RecvRing::write_ahead`]).
    pub(crate) fn holds_ahead(&self) -> bool {
        self.head & AHEAD != 0
    }

    /// Empties the ring, keeping its storage; forgets staged and held bytes and
    /// drops the kept packets.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.reset_ring();
        if self.kept.is_some() {
            self.kept = None;
        }
    }

    /// Empties the ring itself, keeping its storage; forgets staged and held
    /// bytes.
    fn reset_ring(&mut self) {
        self.head = 0;
        self.len = 0;
        self.staged = 0;
    }

    /// Makes room for `extra` bytes past the tail (at least doubling). The new
    /// storage starts at the head: the held bytes at index 0, and, if bytes past
    /// the tail are held, every byte of the old storage at the same distance
    /// from the head as before (staged bytes are not kept: only `free_slices`
    /// and `write_ahead` call it, and both forget them).
    #[inline]
    fn reserve(&mut self, extra: usize) {
        let need = self.ring_len() + extra;
        if need > self.buf.len() {
            self.grow(need);
        }
    }

    /// [`RecvRing::reserve`]'s growth to `need` bytes, out of the per-segment
    /// path.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, need: usize) {
        assert!(
            need <= RING_MAX,
            "receive ring beyond the 1 GiB configuration cap"
        );
        let cap = need.max(2 * self.buf.len()).clamp(64, RING_MAX);
        let mut buf = alloc::vec![0u8; cap].into_boxed_slice();
        let keep = if self.holds_ahead() {
            self.buf.len()
        } else {
            self.ring_len()
        };
        let head = self.head();
        let first = keep.min(self.buf.len() - head);
        buf[..first].copy_from_slice(&self.buf[head..head + first]);
        buf[first..keep].copy_from_slice(&self.buf[..keep - first]);
        self.buf = buf;
        self.set_head(0);
    }

    /// Index in `buf` of the byte `offset` past the head.
    fn index(&self, offset: usize) -> usize {
        let i = self.head() + offset;
        if i >= self.buf.len() {
            i - self.buf.len()
        } else {
            i
        }
    }

    /// Appends `data` (copied). If bytes past the tail are held, `data` must
    /// end before the first of them (or be those same bytes).
    pub(crate) fn extend(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let (a, b) = self.free_slices(data.len());
        let (da, db) = data.split_at(a.len());
        a.copy_from_slice(da);
        b.copy_from_slice(db);
        // `free_slices` reserved the room (and forgot staged bytes); lengths
        // stay below RING_MAX.
        self.len += data.len() as u32;
    }

    /// The `n` bytes of storage past the tail (allocating them if needed), as two
    /// pieces back to back; forgets staged bytes.
    #[inline]
    fn free_slices(&mut self, n: usize) -> (&mut [u8], &mut [u8]) {
        self.slices_past_tail(0, n)
    }

    /// The `n` bytes of storage starting `at` bytes past the tail (allocating
    /// them if needed, keeping held bytes), as two pieces back to back; forgets
    /// staged bytes.
    #[inline]
    fn slices_past_tail(&mut self, at: usize, n: usize) -> (&mut [u8], &mut [u8]) {
        self.reserve(at + n);
        self.staged = 0;
        let start = self.index(self.ring_len() + at);
        let first = n.min(self.buf.len() - start);
        let (wrapped, tail) = self.buf.split_at_mut(start);
        (&mut tail[..first], &mut wrapped[..n - first])
    }

    /// Holds `data` at `at` bytes past the tail (out-of-order data at its
    /// place), growing the storage if needed; forgets staged bytes. The bytes
    /// stay invisible until [`RecvRing::advance`] passes them, and every later
    /// write, growth and read keeps them where they are until then (or until
    /// [`RecvRing::release_ahead`] or [`RecvRing::clear`]).
    pub(crate) fn write_ahead(&mut self, at: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let (a, b) = self.slices_past_tail(at, data.len());
        let (da, db) = data.split_at(a.len());
        a.copy_from_slice(da);
        b.copy_from_slice(db);
        self.head |= AHEAD;
    }

    /// Appends the `n` bytes past the tail, which are in place already (written
    /// by [`RecvRing::write_ahead`], or filling the hole before them).
    pub(crate) fn advance(&mut self, n: usize) {
        debug_assert!(self.holds_ahead(), "advance over bytes never held");
        debug_assert!(self.ring_len() + n <= self.buf.len());
        let n = n.min(self.buf.len() - self.ring_len());
        // At most the storage size, below RING_MAX.
        self.len += n as u32;
        self.staged = 0;
    }

    /// Nothing past the tail is held any more (the out-of-order queue emptied).
    pub(crate) fn release_ahead(&mut self) {
        self.head &= !AHEAD;
    }

    /// Storage for `n` bytes past the tail, to be written and then declared good
    /// with [`RecvRing::set_staged`]. Nothing in the ring changes until
    /// [`RecvRing::commit_staged`]. If bytes past the tail are held, the caller
    /// asks only for storage before the first of them.
    #[inline]
    pub(crate) fn stage(&mut self, n: usize) -> (&mut [u8], &mut [u8]) {
        self.free_slices(n)
    }

    /// The `n` bytes written into [`RecvRing::stage`]'s storage are good and are
    /// the segment data starting at sequence number `tag`.
    pub(crate) fn set_staged(&mut self, tag: u32, n: usize) {
        debug_assert!(self.ring_len() + n <= self.buf.len());
        // At most the storage size, below RING_MAX.
        self.staged = n as u32;
        self.staged_tag = tag;
    }

    /// Forgets staged bytes.
    pub(crate) fn unstage(&mut self) {
        self.staged = 0;
    }

    /// Appends the first `n` staged bytes if they are the data starting at `tag`
    /// (and there are at least `n`); returns whether it did. Either way nothing
    /// stays staged. Bytes staged in their packet ([`RecvRing::stage_kept`])
    /// count as held at once; the stack then attaches the packet
    /// ([`RecvRing::attach`]).
    pub(crate) fn commit_staged(&mut self, tag: u32, n: usize) -> bool {
        let staged = self.staged;
        self.staged = 0;
        let ok = staged != 0 && self.staged_tag == tag && n <= (staged & !KEPT) as usize;
        if ok {
            match self.kept.as_deref_mut() {
                Some(k) if staged & KEPT != 0 => k.commit(n),
                // n <= staged, which fits the storage.
                _ => self.len += n as u32,
            }
        }
        ok
    }

    /// Whether the payload (`len` bytes) of a packet in a buffer of `cap`
    /// bytes can be kept where it lies rather than copied into the ring: it
    /// comes first (the ring holds nothing, in order or ahead of it) and fills
    /// at least half its buffer, so the memory held stays within twice the
    /// bytes the window counts.
    pub(crate) fn can_keep(&self, len: usize, cap: usize) -> bool {
        self.len == 0 && !self.holds_ahead() && len > 0 && len.saturating_mul(2) >= cap
    }

    /// The `n` bytes starting at sequence number `tag`, verified where they lie
    /// in the received packet, are staged for [`RecvRing::commit_staged`]
    /// (the caller checked [`RecvRing::can_keep`]).
    pub(crate) fn stage_kept(&mut self, tag: u32, n: usize) {
        debug_assert!(n > 0 && n < KEPT as usize);
        self.kept.get_or_insert_with(Box::default);
        // A packet is far below 2^31 bytes.
        self.staged = n as u32 | KEPT;
        self.staged_tag = tag;
    }

    /// Takes the packet whose payload was just committed from
    /// [`RecvRing::stage_kept`] (`start` is the payload's offset in `buf`);
    /// hands `buf` back if nothing was.
    pub(crate) fn attach(&mut self, buf: Vec<u8>, start: usize) -> Option<Vec<u8>> {
        match self.kept.as_deref_mut() {
            Some(k) if k.pending != 0 => {
                k.attach(buf, start);
                None
            }
            _ => Some(buf),
        }
    }

    /// Whether a payload was committed from its packet and waits for
    /// [`RecvRing::attach`].
    pub(crate) fn attaches(&self) -> bool {
        self.kept.as_deref().is_some_and(|k| k.pending != 0)
    }

    /// Hands the buffers of kept packets read to the end to `take` (the stack
    /// does after every read, so they wait here for at most one call).
    #[inline]
    pub(crate) fn drain_spent(&mut self, take: impl FnMut(Vec<u8>)) {
        if let Some(k) = self.kept.as_deref_mut() {
            if !k.spent.is_empty() {
                k.spent.drain(..).for_each(take);
            }
        }
    }

    /// The held bytes, oldest first, as two pieces back to back: those of the
    /// oldest kept packet if there is one (the next call gives the next), else
    /// the ring's.
    #[inline]
    pub(crate) fn as_slices(&self) -> (&[u8], &[u8]) {
        if let Some(front) = self.kept.as_deref().and_then(KeptPackets::front) {
            return (front, &[]);
        }
        let head = self.head();
        let first = self.ring_len().min(self.buf.len() - head);
        (
            &self.buf[head..head + first],
            &self.buf[..self.ring_len() - first],
        )
    }

    /// Drops the `n` oldest bytes (they were read): the kept packets' first.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        let mut n = n.min(self.len());
        if let Some(k) = self.kept.as_deref_mut() {
            n -= k.consume(n);
            if n == 0 {
                return;
            }
        }
        self.consume_ring(n);
    }

    /// Drops the `n` oldest bytes of the ring itself.
    fn consume_ring(&mut self, n: usize) {
        if n == self.ring_len() && !self.holds_ahead() {
            // Empty: start over at index 0 (one piece for the next reads); staged
            // bytes sat at the old tail, which moves with it. (Not while bytes
            // past the tail are held: they stay at their distance from the head.)
            self.reset_ring();
            return;
        }
        let head = self.index(n);
        self.set_head(head);
        // n <= len fits in u32.
        self.len -= n as u32;
    }

    /// The `n` bytes of storage starting `at` bytes past the tail, for tests.
    #[cfg(test)]
    fn past_tail(&self, at: usize, n: usize) -> Vec<u8> {
        (0..n)
            .map(|k| self.buf[self.index(self.ring_len() + at + k)])
            .collect()
    }
}

/// Received packets kept whole, their payload read in place
/// ([`crate::Stack::handle_packet_owned`]): a segment's payload that comes next
/// in the stream, with the ring empty, is verified where it lies and the
/// packet's buffer joins this queue instead of being copied into the ring (the
/// receive side then reads each byte once, for its checksum). The bytes of the
/// queue come before the ring's; a packet is kept only while the ring is empty,
/// so in-order data that is copied after kept packets (a small segment, a
/// segment that arrived out of order) keeps the order, and more packets are
/// kept only once the ring drains. Buffers read to the end wait in `spent`
/// until the stack takes them back for its caller.
#[derive(Debug, Default)]
pub(crate) struct KeptPackets {
    queue: VecDeque<Kept>,
    /// Unread payload bytes in `queue`, and `pending`.
    bytes: u32,
    /// Bytes committed from the packet being taken in, which the stack
    /// attaches next.
    pending: u32,
    /// Buffers read to the end, until the read that emptied them returns.
    spent: Vec<Vec<u8>>,
}

/// One kept packet: its buffer and the unread part of its payload.
#[derive(Debug)]
struct Kept {
    buf: Vec<u8>,
    start: u32,
    end: u32,
}

impl KeptPackets {
    fn bytes(&self) -> usize {
        self.bytes as usize
    }

    fn allocated(&self) -> usize {
        core::mem::size_of::<Self>()
            + self.queue.capacity() * core::mem::size_of::<Kept>()
            + self.spent.capacity() * core::mem::size_of::<Vec<u8>>()
            + self.queue.iter().map(|k| k.buf.capacity()).sum::<usize>()
            + self.spent.iter().map(Vec::capacity).sum::<usize>()
    }

    fn commit(&mut self, n: usize) {
        debug_assert_eq!(self.pending, 0);
        // A packet's payload: far below 2^31, and the window bounds the sum.
        self.pending = n as u32;
        self.bytes += n as u32;
    }

    fn attach(&mut self, buf: Vec<u8>, start: usize) {
        let end = start + self.pending as usize;
        debug_assert!(end <= buf.len());
        // Offsets inside a packet.
        self.queue.push_back(Kept {
            buf,
            start: start as u32,
            end: end as u32,
        });
        self.pending = 0;
    }

    /// The oldest kept packet's unread payload.
    fn front(&self) -> Option<&[u8]> {
        self.queue
            .front()
            .map(|k| &k.buf[k.start as usize..k.end as usize])
    }

    /// Drops up to `n` of the oldest bytes; returns how many.
    fn consume(&mut self, n: usize) -> usize {
        let mut left = n;
        while left > 0 {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            let k = left.min((front.end - front.start) as usize);
            // k is at most a packet's payload.
            front.start += k as u32;
            self.bytes -= k as u32;
            left -= k;
            if front.start == front.end {
                if let Some(done) = self.queue.pop_front() {
                    self.spent.push(done.buf);
                }
            }
        }
        n - left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_is_bounded_by_capacity() {
        let mut b = SendBuffer::new(5);
        assert_eq!(b.push(b"abcdefg"), 5);
        assert_eq!(b.free(), 0);
        assert_eq!(b.slice(0, 10), b"abcde");
    }

    #[test]
    fn consume_then_push_keeps_order() {
        let mut b = SendBuffer::new(8);
        b.push(b"abcdef");
        b.consume(4);
        assert_eq!(b.slice(0, 8), b"ef");
        assert_eq!(b.push(b"ghijklmn"), 6);
        assert_eq!(b.slice(0, 8), b"efghijkl");
        assert_eq!(b.slice(3, 2), b"hi");
        assert_eq!(b.slice(20, 2), b"");
    }

    #[test]
    fn consume_all_resets() {
        let mut b = SendBuffer::new(8);
        b.push(b"abc");
        b.consume(3);
        assert_eq!(b.len(), 0);
        assert_eq!(b.push(b"x"), 1);
        assert_eq!(b.slice(0, 1), b"x");
    }

    /// Against a model (a plain Vec): random pushes, consumes and reads, the ring
    /// wrapping many times.
    #[test]
    fn ring_matches_a_vec() {
        let mut b = SendBuffer::new(1000);
        let mut model: alloc::vec::Vec<u8> = alloc::vec::Vec::new();
        let mut x = 12345u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut byte = 0u8;
        for _ in 0..5000 {
            let data: alloc::vec::Vec<u8> = (0..next() % 300)
                .map(|_| {
                    byte = byte.wrapping_add(1);
                    byte
                })
                .collect();
            let n = b.push(&data);
            assert_eq!(n, data.len().min(1000 - model.len()));
            model.extend_from_slice(&data[..n]);
            let (off, len) = ((next() % 1100) as usize, (next() % 1100) as usize);
            let end = (off + len).min(model.len());
            assert_eq!(b.slice(off, len), &model[off.min(end)..end]);
            let c = (next() as usize) % (model.len() + 1);
            b.consume(c);
            model.drain(..c);
            assert_eq!(b.len(), model.len());
        }
    }

    fn ring_bytes(r: &RecvRing) -> Vec<u8> {
        let (a, b) = r.as_slices();
        [a, b].concat()
    }

    #[test]
    fn the_ring_wraps_and_keeps_order() {
        let mut r = RecvRing::new();
        let mut model = VecDeque::new();
        let mut next = 0u8;
        // Writes and reads of sizes that walk the head and tail around the
        // storage many times, growing it now and then.
        for round in 0..500usize {
            let w = (round * 37) % 200;
            let data: Vec<u8> = (0..w)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            r.extend(&data);
            model.extend(&data);
            let n = (round * 53) % 180;
            r.consume(n);
            model.drain(..n.min(model.len()));
            assert_eq!(
                ring_bytes(&r),
                model.iter().copied().collect::<Vec<_>>(),
                "round {round}"
            );
            assert_eq!(r.len(), model.len());
        }
        assert!(r.capacity() >= r.len());
    }

    #[test]
    fn staged_bytes_appear_only_when_committed_with_their_tag() {
        let mut r = RecvRing::new();
        r.extend(b"abc");
        let (a, b) = r.stage(4);
        assert_eq!(a.len() + b.len(), 4);
        let (a, b) = r.stage(4);
        let src = b"defg";
        a.copy_from_slice(&src[..a.len()]);
        let k = a.len();
        b.copy_from_slice(&src[k..]);
        assert_eq!(ring_bytes(&r), b"abc", "staged bytes are invisible");
        r.set_staged(1000, 4);
        assert!(!r.commit_staged(999, 4), "another tag");
        assert_eq!(ring_bytes(&r), b"abc");
        // A failed commit forgets them.
        assert!(!r.commit_staged(1000, 4));
        let (a, b) = r.stage(4);
        a.copy_from_slice(&src[..a.len()]);
        let k = a.len();
        b.copy_from_slice(&src[k..]);
        r.set_staged(1000, 4);
        assert!(!r.commit_staged(1000, 5), "more than was staged");
        let (a, b) = r.stage(4);
        a.copy_from_slice(&src[..a.len()]);
        let k = a.len();
        b.copy_from_slice(&src[k..]);
        r.set_staged(1000, 4);
        assert!(r.commit_staged(1000, 3), "a prefix");
        assert_eq!(ring_bytes(&r), b"abcdef");
        // Anything else written forgets staged bytes.
        let (a, _) = r.stage(1);
        a[0] = b'z';
        r.set_staged(7, 1);
        r.extend(b"g");
        assert!(!r.commit_staged(7, 1));
        assert_eq!(ring_bytes(&r), b"abcdefg");
    }

    #[test]
    fn staging_across_the_wrap_and_a_growth() {
        let mut r = RecvRing::new();
        r.extend(&[1u8; 60]);
        r.consume(50);
        // 10 bytes held near the end of a 64-byte storage: 20 staged bytes wrap.
        let cap = r.capacity();
        let (a, b) = r.stage(20);
        assert!(!b.is_empty(), "wraps (capacity {cap})");
        let src: Vec<u8> = (100u8..120).collect();
        let k = a.len();
        a.copy_from_slice(&src[..k]);
        b.copy_from_slice(&src[k..]);
        r.set_staged(5, 20);
        assert!(r.commit_staged(5, 20));
        let mut want = alloc::vec![1u8; 10];
        want.extend_from_slice(&src);
        assert_eq!(ring_bytes(&r), want);
        // Staging more than the storage holds grows it and keeps the bytes.
        let (a, b) = r.stage(1000);
        assert_eq!(a.len() + b.len(), 1000);
        assert_eq!(ring_bytes(&r), want);
    }
    #[test]
    fn held_bytes_survive_growth_wrap_and_reads() {
        let mut r = RecvRing::new();
        r.extend(&[1u8; 60]);
        r.consume(50);
        assert_eq!(r.capacity(), 64);
        // 10 bytes held 20 past the tail: index 50 + 10 + 20, past the end of
        // the storage, so they wrap.
        r.write_ahead(20, b"0123456789");
        assert!(r.holds_ahead());
        assert_eq!(r.past_tail(20, 10), b"0123456789");
        // The application reads everything: the head must not go back to 0.
        r.consume(10);
        assert!(r.is_empty());
        assert_eq!(r.past_tail(20, 10), b"0123456789");
        // Something held far ahead grows the storage (twice over).
        let far: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        r.write_ahead(1000, &far);
        assert!(r.capacity() >= 1300);
        assert_eq!(r.past_tail(20, 10), b"0123456789", "kept across growth");
        assert_eq!(r.past_tail(1000, 300), far);
        // A staged copy that fits the hole before the held bytes leaves them be.
        let (a, b) = r.stage(20);
        a.fill(b'x');
        b.fill(b'x');
        r.set_staged(77, 20);
        r.unstage();
        assert_eq!(r.past_tail(20, 10), b"0123456789");
        // The hole fills (copied), the tail moves over the held bytes.
        r.extend(b"abcdefghijklmnopqrst");
        r.advance(10);
        assert_eq!(ring_bytes(&r), b"abcdefghijklmnopqrst0123456789");
        assert_eq!(r.past_tail(1000 - 30, 300), far);
        r.extend(&alloc::vec![b'-'; 970]);
        r.advance(300);
        r.release_ahead();
        let got = ring_bytes(&r);
        assert_eq!(&got[..30], b"abcdefghijklmnopqrst0123456789");
        assert_eq!(&got[1000..], &far[..]);
        // Nothing held any more: an emptied ring starts over at index 0.
        r.consume(r.len());
        assert_eq!(r.head(), 0);
    }

    #[test]
    fn kept_packets_are_read_first_and_their_buffers_come_back() {
        let mut r = RecvRing::new();
        // A packet of 100 payload bytes behind a 20-byte header.
        let packet = |fill: u8| {
            let mut p = alloc::vec![0u8; 20];
            p.extend_from_slice(&[fill; 100]);
            p
        };
        assert!(r.can_keep(100, 120));
        assert!(!r.can_keep(100, 201), "less than half its buffer");
        r.stage_kept(1000, 100);
        assert!(r.commit_staged(1000, 100));
        assert!(r.attaches());
        assert_eq!(r.len(), 100, "counted from the commit");
        assert!(r.attach(packet(b'a'), 20).is_none());
        assert!(!r.attaches());
        // Still nothing in the ring: the next one is kept too.
        assert!(r.can_keep(100, 120));
        r.stage_kept(1100, 100);
        assert!(
            r.commit_staged(1100, 60),
            "a trimmed payload keeps its first bytes"
        );
        assert!(r.attach(packet(b'b'), 20).is_none());
        // Copied data goes after them; with bytes in the ring, nothing more is kept.
        r.extend(b"ccc");
        assert!(!r.can_keep(100, 120));
        assert_eq!(r.len(), 163);
        // A staged packet that is not committed is handed back.
        let mut r2 = RecvRing::new();
        r2.stage_kept(5, 100);
        r2.unstage();
        assert!(!r2.attaches());
        assert!(r2.attach(packet(b'z'), 20).is_some());
        // Reads: one kept packet per run, then the ring.
        assert_eq!(r.as_slices().0, &[b'a'; 100][..]);
        r.consume(30);
        assert_eq!(r.as_slices().0, &[b'a'; 70][..]);
        r.consume(80);
        assert_eq!(r.as_slices().0, &[b'b'; 50][..]);
        let mut back = Vec::new();
        r.drain_spent(|b| back.push(b));
        assert_eq!(back.len(), 1, "the first packet, read to its end");
        assert_eq!(&back[0][20..], &[b'a'; 100][..]);
        r.consume(50);
        assert_eq!(r.as_slices(), (&b"ccc"[..], &b""[..]));
        r.consume(3);
        assert!(r.is_empty());
        r.drain_spent(|b| back.push(b));
        assert_eq!(back.len(), 2);
        // Clearing drops whatever is kept.
        r.stage_kept(2000, 100);
        assert!(r.commit_staged(2000, 100));
        assert!(r.attach(packet(b'd'), 20).is_none());
        assert!(r.allocated() >= 120);
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.allocated(), r.capacity());
    }

    /// How a segment reaches the mini receiver of `ring_and_queue_match_the_stream`.
    #[derive(Clone, Copy, Debug)]
    enum Arrival {
        /// Good: staged if the connection would stage it, then taken.
        Good,
        /// Corrupt: staged (garbage copied) if it would be, checksum fails.
        BadChecksum,
        /// Checksum good but the segment is not accepted (other bytes, say).
        Rejected,
        /// Good, in a packet buffer the receiver may keep (`Stack::handle_packet_owned`).
        Owned,
        /// Verified in its packet, staged there, then not accepted.
        OwnedRejected,
    }

    /// The receive side of a connection in miniature: the same ring and queue
    /// calls as `Tcb::verify_staging`, `Tcb::take_in_order` and `Tcb::hold`.
    #[derive(Default)]
    struct MiniRx {
        ring: RecvRing,
        q: crate::tcp::reassembly::Reassembly,
        /// Stream offset of the tail (RCV.NXT).
        off: u64,
        /// Packets kept, and their buffers given back so far.
        kept: usize,
        spent: usize,
    }

    impl MiniRx {
        /// As `Stack::verify_for_conn` and `Stack::handle_packet_owned` with a
        /// packet of `data` behind a 52-byte header in a buffer twice its size
        /// at most; true if the packet was kept.
        fn arrive_owned(&mut self, at: u64, data: &[u8], accepted: bool) -> bool {
            let mut packet = alloc::vec![0xaa; 52];
            packet.extend_from_slice(data);
            let cap = packet.capacity();
            if !(self.stages(at, data.len())
                && self.q.is_empty()
                && self.ring.can_keep(data.len(), cap))
            {
                return false;
            }
            self.ring.stage_kept(at as u32, data.len());
            if accepted {
                self.take_in_order(data);
            }
            self.ring.unstage();
            let back = self.ring.attach(packet, 52);
            assert_eq!(back.is_none(), accepted, "kept exactly when taken");
            self.kept += usize::from(accepted);
            accepted
        }

        fn stages(&self, at: u64, len: usize) -> bool {
            at == self.off
                && self
                    .q
                    .first_start()
                    .is_none_or(|s| s.saturating_sub(self.off) >= len as u64)
        }

        fn arrive(&mut self, at: u64, data: &[u8], how: Arrival) {
            let how = match how {
                Arrival::Owned if self.arrive_owned(at, data, true) => return,
                Arrival::OwnedRejected if self.arrive_owned(at, data, false) => return,
                Arrival::Owned => Arrival::Good,
                Arrival::OwnedRejected => Arrival::Rejected,
                how => how,
            };
            if self.stages(at, data.len()) {
                let (a, b) = self.ring.stage(data.len());
                let k = a.len();
                match how {
                    Arrival::Good => {
                        a.copy_from_slice(&data[..k]);
                        b.copy_from_slice(&data[k..]);
                        self.ring.set_staged(at as u32, data.len());
                    }
                    Arrival::BadChecksum => {
                        a.fill(0xee);
                        b.fill(0xee);
                    }
                    Arrival::Rejected | Arrival::Owned | Arrival::OwnedRejected => {
                        a.fill(0xbb);
                        b.fill(0xbb);
                        self.ring.set_staged(at as u32, data.len());
                    }
                }
            }
            if matches!(how, Arrival::Good) {
                if at == self.off && self.q.is_empty() {
                    self.take_in_order(data);
                } else {
                    self.hold(at, data);
                }
            }
            self.ring.unstage();
        }

        fn take_in_order(&mut self, data: &[u8]) {
            if !self.ring.commit_staged(self.off as u32, data.len()) {
                self.ring.extend(data);
            }
            self.off += data.len() as u64;
        }

        fn hold(&mut self, at: u64, data: &[u8]) {
            let (mut at, mut data) = (at, data);
            if at == self.off {
                let gap = self.q.first_start().map_or(u64::MAX, |s| s - at);
                let lead = usize::try_from(gap).map_or(data.len(), |g| g.min(data.len()));
                self.take_in_order(&data[..lead]);
                at += lead as u64;
                data = &data[lead..];
            }
            let base = self.off;
            let ring = &mut self.ring;
            self.q
                .insert(at, data, |o, b| ring.write_ahead((o - base) as usize, b))
                .unwrap();
            if let Some(end) = self.q.pop_ready(self.off) {
                self.ring.advance((end - self.off) as usize);
                self.off = end;
            }
            if self.q.is_empty() {
                self.ring.release_ahead();
            }
        }
    }

    proptest::proptest! {
        /// Segments in any order, good, corrupt or rejected, staged where the
        /// connection would stage them (in the ring, or in their own packet
        /// when it may be kept), with reads in between and the ring growing
        /// from nothing: every held byte stays what was received, the
        /// application reads exactly the stream, and every kept packet's
        /// buffer comes back once read.
        #[test]
        fn ring_and_queue_match_the_stream(
            ops in proptest::collection::vec(
                (
                    proptest::prop_oneof![proptest::strategy::Just(0u64), 0..3000u64],
                    1..700usize,
                    0..7u8,
                    0..2000usize,
                ),
                1..120,
            ),
        ) {
            let stream: Vec<u8> = (0..20_000u32).map(|i| (i ^ (i >> 7)).wrapping_mul(37) as u8).collect();
            let len = stream.len() as u64;
            let mut rx = MiniRx::default();
            let mut read: Vec<u8> = Vec::new();
            let check = |rx: &mut MiniRx, read: &mut Vec<u8>, n: usize| {
                // Kept packets one run at a time, then the ring's two pieces.
                let mut n = n.min(rx.ring.len());
                while n > 0 {
                    let (a, b) = rx.ring.as_slices();
                    let k = n.min(a.len() + b.len());
                    proptest::prop_assert!(k > 0, "bytes held but none to read");
                    read.extend_from_slice(&[a, b].concat()[..k]);
                    rx.ring.consume(k);
                    n -= k;
                }
                let spent = &mut rx.spent;
                rx.ring.drain_spent(|b| {
                    assert_eq!(&b[..52], &[0xaa; 52], "a kept packet's own buffer");
                    *spent += 1;
                });
                proptest::prop_assert!(rx.spent <= rx.kept);
                proptest::prop_assert_eq!(&read[..], &stream[..read.len()]);
                proptest::prop_assert_eq!(rx.off, (read.len() + rx.ring.len()) as u64);
                for (s, e) in rx.q.ranges() {
                    let got = rx.ring.past_tail((s - rx.off) as usize, (e - s) as usize);
                    proptest::prop_assert_eq!(&got[..], &stream[s as usize..e as usize], "held [{}, {})", s, e);
                }
                proptest::prop_assert_eq!(rx.ring.holds_ahead(), !rx.q.is_empty());
                Ok(())
            };
            for (ahead, seg, how, reads) in ops {
                if rx.off == len {
                    // All received: what follows would be old data, which the
                    // connection trims before it gets here.
                    break;
                }
                let at = (rx.off + ahead).min(len - 1);
                let end = (at + seg as u64).min(len);
                let how = match how {
                    0 | 1 => Arrival::Good,
                    2 => Arrival::BadChecksum,
                    3 => Arrival::Rejected,
                    4 | 5 => Arrival::Owned,
                    _ => Arrival::OwnedRejected,
                };
                rx.arrive(at, &stream[at as usize..end as usize], how);
                check(&mut rx, &mut read, reads)?;
            }
            // The sender repairs every hole, in order.
            while rx.off < len {
                let at = rx.off;
                let end = (at + 1448).min(len);
                rx.arrive(at, &stream[at as usize..end as usize], Arrival::Good);
                check(&mut rx, &mut read, usize::MAX)?;
            }
            // Whatever is still unread (all of it may have arrived in the ops).
            check(&mut rx, &mut read, usize::MAX)?;
            proptest::prop_assert_eq!(read, stream);
            proptest::prop_assert_eq!(rx.spent, rx.kept, "every kept buffer came back");
        }
    }
}
