//! Application data: a seeded byte source, a reading sink, and the SHA-256
//! bookkeeping that says whether what arrived is what was sent.

use sha2::{Digest, Sha256};
use synack::{Instant, RecvError, SendError, SocketHandle};

use crate::record::Side;
use crate::world::{fail, RunResult, World};

/// Bytes generated at a time.
const CHUNK: usize = 64 * 1024;

/// What the applications sent and received, hashed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Flow {
    tx: Sha256,
    rx: Sha256,
    /// Bytes the sending application handed to its stack.
    pub(crate) sent: u64,
    /// Bytes the receiving application read.
    pub(crate) delivered: u64,
    /// When the first byte was handed over.
    pub(crate) first_tx: Option<Instant>,
    /// When the last byte was read.
    pub(crate) last_rx: Option<Instant>,
    /// A copy of the source, replaying what should arrive.
    expected: Option<Source>,
    /// Offset of the first byte read that differs from what was sent.
    pub(crate) first_difference: Option<u64>,
}

impl Flow {
    fn on_sent(&mut self, now: Instant, bytes: &[u8]) {
        self.first_tx.get_or_insert(now);
        self.sent += bytes.len() as u64;
        self.tx.update(bytes);
    }

    fn on_received(&mut self, now: Instant, bytes: &[u8]) {
        if let (Some(exp), None) = (self.expected.as_mut(), self.first_difference) {
            if let Some(i) = exp.mismatch(bytes) {
                self.first_difference = Some(self.delivered + i as u64);
            }
        }
        self.last_rx = Some(now);
        self.delivered += bytes.len() as u64;
        self.rx.update(bytes);
    }

    /// Compares what arrives with what `source` (fresh) will send, to locate the
    /// first difference.
    pub(crate) fn expect(&mut self, source: &Source) {
        self.expected = Some(source.clone());
    }

    /// Why the data is not intact, if it is not.
    pub(crate) fn damage(&self) -> Option<String> {
        if self.intact() {
            return None;
        }
        Some(match self.first_difference {
            Some(at) => format!(
                "the data arrived corrupted: first wrong byte at offset {at} (SHA-256 differs)"
            ),
            None if self.delivered != self.sent => {
                format!("{} of {} bytes arrived", self.delivered, self.sent)
            }
            None => "the data arrived corrupted (SHA-256 differs)".to_owned(),
        })
    }

    /// SHA-256 of everything sent, and of everything received.
    pub(crate) fn digests(&self) -> ([u8; 32], [u8; 32]) {
        (
            self.tx.clone().finalize().into(),
            self.rx.clone().finalize().into(),
        )
    }

    /// Every byte sent arrived, in order, unchanged.
    pub(crate) fn intact(&self) -> bool {
        let (tx, rx) = self.digests();
        self.sent == self.delivered && tx == rx
    }
}

/// A deterministic stream of `total` pseudo-random bytes, fed to a stack.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    remaining: u64,
    buf: Vec<u8>,
    off: usize,
    state: u64,
}

impl Source {
    /// `total` bytes derived from `seed`.
    pub(crate) fn new(seed: u64, total: u64) -> Self {
        Self {
            remaining: total,
            buf: Vec::new(),
            off: 0,
            state: seed ^ 0x5a5a_5a5a_5a5a_5a5a,
        }
    }

    /// Every byte has been handed to the stack.
    #[cfg(test)]
    fn done(&self) -> bool {
        self.remaining == 0 && self.off == self.buf.len()
    }

    fn refill(&mut self) {
        let n = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        self.remaining -= n as u64;
        self.buf.clear();
        while self.buf.len() < n {
            // SplitMix64.
            self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let take = (n - self.buf.len()).min(8);
            self.buf.extend_from_slice(&z.to_le_bytes()[..take]);
        }
        self.off = 0;
    }

    /// Consumes the next bytes of the stream and returns the index of the first
    /// one that differs from `bytes` (or lies beyond the stream's end).
    fn mismatch(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut done = 0;
        while done < bytes.len() {
            if self.off == self.buf.len() {
                if self.remaining == 0 {
                    return Some(done);
                }
                self.refill();
            }
            let n = (bytes.len() - done).min(self.buf.len() - self.off);
            let want = &self.buf[self.off..self.off + n];
            if let Some(i) = want
                .iter()
                .zip(&bytes[done..done + n])
                .position(|(a, b)| a != b)
            {
                return Some(done + i);
            }
            self.off += n;
            done += n;
        }
        None
    }

    /// Hands `side`'s stack as much as it takes on `h`; true once everything has
    /// been handed over.
    pub(crate) fn pump(
        &mut self,
        w: &mut World<'_>,
        side: Side,
        h: SocketHandle,
    ) -> RunResult<bool> {
        loop {
            if self.off == self.buf.len() {
                if self.remaining == 0 {
                    return Ok(true);
                }
                self.refill();
            }
            let now = w.now();
            match w.app(side).send(h, &self.buf[self.off..]) {
                Ok(0) | Err(SendError::WouldBlock) => return Ok(false),
                Ok(n) => {
                    w.flow.on_sent(now, &self.buf[self.off..self.off + n]);
                    self.off += n;
                }
                Err(e) => return fail(format!("the {} could not send: {e}", side.name())),
            }
        }
    }
}

/// Reads everything that is ready on `h` of `side`'s stack into the flow; true
/// at end of stream.
pub(crate) fn drain(w: &mut World<'_>, side: Side, h: SocketHandle) -> RunResult<bool> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let now = w.now();
        match w.app(side).recv(h, &mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => w.flow.on_received(now, &buf[..n]),
            Err(RecvError::WouldBlock | RecvError::NotConnected) => return Ok(false),
            Err(e) => {
                let why = w
                    .stack(side)
                    .error(h)
                    .map_or_else(|| e.to_string(), |c| c.to_string());
                return fail(format!("the {} could not read: {why}", side.name()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_is_deterministic_and_exact() {
        let mut a = Source::new(7, 100_003);
        let mut total = Vec::new();
        while !a.done() {
            a.refill();
            total.extend_from_slice(&a.buf);
            a.off = a.buf.len();
        }
        assert_eq!(total.len(), 100_003);
        let mut b = Source::new(7, 100_003);
        b.refill();
        assert_eq!(&total[..CHUNK], &b.buf[..]);
        let mut c = Source::new(8, 10);
        c.refill();
        assert_ne!(&total[..10], &c.buf[..]);
    }

    #[test]
    fn flow_detects_change() {
        let mut f = Flow::default();
        f.on_sent(Instant::ZERO, b"hello");
        f.on_received(Instant::ZERO, b"hel");
        assert!(!f.intact());
        f.on_received(Instant::ZERO, b"lo");
        assert!(f.intact());
        let mut g = Flow::default();
        g.on_sent(Instant::ZERO, b"hello");
        g.on_received(Instant::ZERO, b"hellp");
        assert!(!g.intact());
        assert!(g.damage().is_some());
    }

    #[test]
    fn flow_locates_the_first_difference() {
        let src = Source::new(3, 200_000);
        let mut all = src.clone();
        let mut bytes = Vec::new();
        while !all.done() {
            all.refill();
            bytes.extend_from_slice(&all.buf);
            all.off = all.buf.len();
        }
        bytes[150_001] ^= 4;
        let mut f = Flow::default();
        f.expect(&src);
        for chunk in bytes.chunks(7000) {
            f.on_received(Instant::ZERO, chunk);
        }
        assert_eq!(f.first_difference, Some(150_001));
    }
}
