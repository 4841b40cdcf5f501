//! Out-of-order data by packet script: held bytes live in the receive ring past
//! its tail (`tcp::reassembly` records which), so these check what the
//! application reads when the ring grows, when an in-order copy of damaged or
//! rejected data lands in front of them, when reading is shut down, and at the
//! cap on held ranges; and that the stack's buffer accounting follows.

mod common;

use common::inject_segment;
use std::net::SocketAddr;

use synack::tcp::reassembly::MAX_RANGES;
use synack::wire::{self, ParseError, TcpFlags, TcpHeader, TcpOptions};
use synack::{Instant, SeqNum, Shutdown, SocketHandle, Stack, StackConfig};

/// The peer's ISN.
const P: u32 = 7_000_000;

/// Byte `i` of the peer's stream.
fn stream(i: usize) -> u8 {
    (i ^ (i >> 8) ^ (i >> 15)).wrapping_mul(0x9d) as u8
}

fn bytes(from: usize, to: usize) -> Vec<u8> {
    (from..to).map(stream).collect()
}

/// An accepted connection on `stack`, the peer driven by hand.
struct Conn {
    stack: Stack,
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    /// Our ISS.
    iss: u32,
    h: SocketHandle,
}

impl Conn {
    /// Handshake with SACK permitted and window scaling, no timestamps.
    fn new() -> Self {
        let stack = Stack::new(StackConfig::from_seed(3), &["10.0.0.1".parse().unwrap()]).unwrap();
        let local: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let mut stack = stack;
        let l = stack.listen(local, 4).unwrap();
        let mut c = Self {
            stack,
            now: Instant::from_secs(1),
            local,
            remote: "10.0.0.2:40000".parse().unwrap(),
            iss: 0,
            // The listener's, until the connection is accepted.
            h: l,
        };
        let syn = TcpOptions {
            mss: Some(1000),
            window_scale: Some(7),
            sack_permitted: true,
            ..TcpOptions::default()
        };
        c.send(TcpFlags::SYN, P, 0, syn, b"", None);
        let out = c.out();
        assert_eq!(out[0].flags, TcpFlags::SYN | TcpFlags::ACK);
        c.iss = out[0].seq.0;
        c.send(
            TcpFlags::ACK,
            P + 1,
            c.iss + 1,
            TcpOptions::default(),
            b"",
            None,
        );
        c.h = c.stack.accept(l).unwrap();
        c
    }

    /// A segment from the peer; `damage` flips a bit of that payload byte after
    /// the checksum was computed.
    fn send(
        &mut self,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        options: TcpOptions,
        payload: &[u8],
        damage: Option<usize>,
    ) {
        let hdr = TcpHeader {
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags,
            window: 1000,
            options,
            ..TcpHeader::default()
        };
        let ends = (self.remote, self.local);
        inject_segment(&mut self.stack, self.now, ends, hdr, payload, damage);
    }

    /// Stream bytes `[from, to)`, as the peer sends them.
    fn data(&mut self, from: usize, to: usize) {
        self.data_with(from, &bytes(from, to), self.iss + 1, None);
    }

    /// `payload` at stream offset `from`, acknowledging `ack`, maybe damaged.
    fn data_with(&mut self, from: usize, payload: &[u8], ack: u32, damage: Option<usize>) {
        let seq = P + 1 + from as u32;
        self.send(
            TcpFlags::ACK,
            seq,
            ack,
            TcpOptions::default(),
            payload,
            damage,
        );
    }

    /// Everything the stack sends.
    fn out(&mut self) -> Vec<TcpHeader> {
        let mut buf = [0u8; 2048];
        let mut v = Vec::new();
        while let Some(n) = self.stack.poll_transmit(self.now, &mut buf) {
            v.push(wire::parse(&buf[..n]).unwrap().tcp);
        }
        v
    }

    /// The last acknowledgment we sent, as a stream offset, and its SACK blocks
    /// as stream offsets.
    fn last_ack(&mut self) -> (usize, Vec<(usize, usize)>) {
        let out = self.out();
        let hdr = out.last().expect("an ACK");
        let off = |s: SeqNum| (s.0 - P - 1) as usize;
        let blocks = hdr
            .options
            .sack()
            .iter()
            .map(|b| (off(b.left), off(b.right)))
            .collect();
        (off(hdr.ack), blocks)
    }

    /// Reads everything readable.
    fn read_all(&mut self) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = self.stack.recv(self.h, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    fn read(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        let k = self.stack.recv(self.h, &mut buf).unwrap();
        buf.truncate(k);
        buf
    }

    fn buffered(&self) -> usize {
        self.stack.usage().buffer_bytes
    }
}

/// The copy of an in-order segment the stack makes while checking its checksum
/// lands where held out-of-order bytes sit. A damaged segment, or a good one the
/// connection then rejects, carrying other bytes over the held ones, must leave
/// them as they arrived.
#[test]
fn damaged_or_rejected_in_order_segments_never_touch_held_bytes() {
    let mut c = Conn::new();
    c.data(1000, 2000);
    assert_eq!(c.last_ack(), (0, vec![(1000, 2000)]));
    assert_eq!(c.buffered(), 1000, "held bytes are accounted");

    // [0, 2000) with a bit flipped inside the held part: bad checksum.
    let whole = bytes(0, 2000);
    c.data_with(0, &whole, c.iss + 1, Some(1500));
    assert_eq!(c.stack.counters().parse_drop(ParseError::BadChecksum), 1);
    // [0, 2000) with other bytes and a good checksum, acknowledging data never
    // sent: RFC 9293 §3.10.7.4 "send an ACK, drop the segment".
    let other = vec![0xa5u8; 2000];
    c.data_with(0, &other, c.iss + 5000, None);
    // The same inside the hole only (a payload that fits there is staged).
    c.data_with(0, &other[..1000], c.iss + 5000, None);
    c.data_with(0, &other[..1000], c.iss + 1, Some(10));
    assert_eq!(c.stack.counters().parse_drop(ParseError::BadChecksum), 2);
    assert_eq!(c.last_ack(), (0, vec![(1000, 2000)]), "nothing taken");
    assert!(c.read_all().is_empty());
    assert_eq!(c.buffered(), 1000);

    // The hole fills with a good copy (staged: it fits the hole).
    c.data(0, 1000);
    assert_eq!(c.last_ack(), (2000, vec![]));
    assert_eq!(c.buffered(), 2000);
    assert_eq!(c.read_all(), bytes(0, 2000));
    assert_eq!(c.buffered(), 0);
    c.data(2000, 3000);
    assert_eq!(c.read_all(), bytes(2000, 3000));
}

/// An in-order segment longer than the hole is not staged; its bytes that
/// overlap held ones are not written again (first copy wins), the rest are.
#[test]
fn a_gap_filler_overlapping_held_bytes_is_taken_around_them() {
    let mut c = Conn::new();
    c.data(500, 900);
    c.data(1000, 1500);
    assert_eq!(c.last_ack(), (0, vec![(1000, 1500), (500, 900)]));
    c.data(0, 1000);
    assert_eq!(c.last_ack(), (1500, vec![]));
    assert_eq!(c.read_all(), bytes(0, 1500));
}

/// Held bytes keep their place while the ring grows under them (twice), while
/// the application drains the ring between arrivals, and across the wrap.
#[test]
fn held_bytes_survive_ring_growth_and_reads() {
    let mut c = Conn::new();
    c.data(0, 100);
    assert_eq!(c.read(60), bytes(0, 60));
    // Held 200 past the tail of a ring of 100: it grows.
    c.data(300, 400);
    // Far ahead: it grows again, with bytes held.
    c.data(5000, 6000);
    assert_eq!(c.last_ack(), (100, vec![(5000, 6000), (300, 400)]));
    // The application empties the ring while bytes are held past its tail.
    assert_eq!(c.read_all(), bytes(60, 100));
    c.data(100, 300);
    assert_eq!(c.read_all(), bytes(100, 400));
    for from in (400..5000).step_by(1000) {
        c.data(from, (from + 1000).min(5000));
    }
    c.data(7000, 8000);
    c.data(6000, 7000);
    assert_eq!(c.last_ack(), (8000, vec![]));
    assert_eq!(c.read_all(), bytes(400, 8000));
    assert_eq!(c.buffered(), 0);
}

/// After shutdown(Read) data is acknowledged and discarded; held ranges still
/// say where the stream is (so the ACK covers them once the hole fills), and
/// the accounting goes back to zero.
#[test]
fn shutdown_read_with_data_held() {
    let mut c = Conn::new();
    c.data(0, 500);
    c.data(1000, 2000);
    assert_eq!(c.buffered(), 1500);
    c.stack.shutdown(c.h, Shutdown::Read).unwrap();
    assert_eq!(c.buffered(), 1000, "the ring is dropped; held ranges stay");
    c.data(3000, 3500);
    c.data(500, 1000);
    assert_eq!(c.last_ack(), (2000, vec![(3000, 3500)]));
    c.data(2000, 3000);
    assert_eq!(c.last_ack(), (3500, vec![]));
    assert_eq!(c.buffered(), 0);
    assert_eq!(c.read_all(), b"");
}

/// Past [`MAX_RANGES`] disjoint ranges a segment that would start another is
/// dropped (and counted); data joining a held range is still taken, and the
/// stream comes out whole once the holes are repaired.
#[test]
fn the_range_cap_drops_only_segments_that_need_a_new_range() {
    let mut c = Conn::new();
    // One byte every other byte: MAX_RANGES ranges.
    for k in 0..MAX_RANGES {
        let at = 2 * k + 1;
        c.data(at, at + 1);
        c.out();
    }
    assert_eq!(c.stack.counters().drop_ooo_ranges, 0);
    let past = 2 * MAX_RANGES + 1;
    c.data(past, past + 1);
    assert_eq!(
        c.stack.counters().drop_ooo_ranges,
        1,
        "a new range past the cap"
    );
    let (ack, blocks) = c.last_ack();
    assert_eq!(ack, 0);
    assert!(
        blocks.iter().all(|&(_, e)| e <= past),
        "the dropped byte is not SACKed: {blocks:?}"
    );
    assert_eq!(c.buffered(), MAX_RANGES);
    // Joining the last range is fine at the cap.
    c.data(2 * MAX_RANGES, 2 * MAX_RANGES + 1);
    assert_eq!(c.stack.counters().drop_ooo_ranges, 1);
    // The holes fill in order: everything comes out.
    for from in (0..2 * MAX_RANGES + 10).step_by(1000) {
        c.data(from, (from + 1000).min(2 * MAX_RANGES + 10));
    }
    assert_eq!(c.last_ack().0, 2 * MAX_RANGES + 10);
    assert_eq!(c.read_all(), bytes(0, 2 * MAX_RANGES + 10));
    assert_eq!(c.buffered(), 0);
}

/// The cap on ranges follows the receive buffer: with room for more segments
/// of an MSS than [`MAX_RANGES`], that many holes are held (RFC 9293: held data
/// is bounded by the buffer, not by a small count of holes).
#[test]
fn the_range_cap_grows_with_the_receive_buffer() {
    let mut c = Conn::new();
    // Our MSS is the stack's 1460: 4 MiB of buffer is room for 2,872 segments.
    c.stack.set_recv_buffer(c.h, 4 << 20).unwrap();
    let n = 2 * MAX_RANGES;
    for k in 0..n {
        let at = 2 * k + 1;
        c.data(at, at + 1);
        if k + 1 < n {
            c.out();
        }
    }
    assert_eq!(c.stack.counters().drop_ooo_ranges, 0, "{n} ranges held");
    assert_eq!(c.buffered(), n);
    let (ack, blocks) = c.last_ack();
    assert_eq!(ack, 0);
    assert_eq!(
        blocks[0],
        (2 * n - 1, 2 * n),
        "the newest range SACKed first"
    );
    for from in (0..2 * n + 10).step_by(1000) {
        c.data(from, (from + 1000).min(2 * n + 10));
    }
    assert_eq!(c.read_all(), bytes(0, 2 * n + 10));
}
