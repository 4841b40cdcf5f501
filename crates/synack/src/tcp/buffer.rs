//! The send buffer: bytes queued by the application and not yet acknowledged.
//!
//! Kept contiguous (a `Vec` with a moving head, compacted when the dead prefix
//! passes half the capacity) so a segment's payload is always one slice and the
//! output path copies each byte once, straight into the packet.

use alloc::vec::Vec;

/// Unacknowledged and unsent bytes, oldest first.
#[derive(Debug, Default)]
pub(crate) struct SendBuffer {
    buf: Vec<u8>,
    head: usize,
    cap: usize,
}

impl SendBuffer {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            buf: Vec::new(),
            head: 0,
            cap,
        }
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.head
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
        if self.head > 0 && self.head >= self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    /// Drops `n` acknowledged bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.head += n.min(self.len());
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
            if self.buf.capacity() > 4 * 65536 {
                self.buf.shrink_to(65536);
            }
        }
    }

    /// The bytes `[offset, offset + len)` counted from the oldest unacknowledged byte,
    /// clipped to what is held.
    pub(crate) fn slice(&self, offset: usize, len: usize) -> &[u8] {
        let data = &self.buf[self.head..];
        let start = offset.min(data.len());
        let end = offset.saturating_add(len).min(data.len());
        &data[start..end]
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
}
