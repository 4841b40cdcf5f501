//! The send buffer: bytes queued by the application and not yet acknowledged.
//!
//! A ring (`VecDeque<u8>`): acknowledged bytes leave the front without moving the
//! rest, so each byte is copied once on the way in (`push`) and once on the way out
//! (straight into the packet, from at most two slices, see [`SendBuffer::slices`]).
//! Memory is taken on the first push and given back once everything is
//! acknowledged and the ring had grown large.

use alloc::collections::VecDeque;

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
}
