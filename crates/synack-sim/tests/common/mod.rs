//! A toy endpoint for the simulator's tests: it sends numbered raw IPv4 packets
//! on a schedule and records what arrives, checking each against the bytes it
//! must have been built from.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use synack_sim::{Endpoint, HostId, Instant, LinkConfig, Sim};

/// An unassigned IP protocol number (RFC 3692 experimentation).
pub const PROTO: u8 = 253;
/// IPv4 header + flow (4) + seq (8).
pub const MIN_LEN: usize = 32;

pub const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

/// RFC 1071 checksum.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in bytes.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes a `len`-byte IPv4 packet carrying (flow, seq) and a filler derived
/// from them into `buf`.
pub fn build(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, flow: u32, seq: u64, len: usize) {
    assert!(len >= MIN_LEN);
    let buf = &mut buf[..len];
    buf[..20].fill(0);
    buf[0] = 0x45;
    buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    buf[8] = 64;
    buf[9] = PROTO;
    buf[12..16].copy_from_slice(&src.octets());
    buf[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(&buf[..20]);
    buf[10..12].copy_from_slice(&sum.to_be_bytes());
    buf[20..24].copy_from_slice(&flow.to_be_bytes());
    buf[24..32].copy_from_slice(&seq.to_be_bytes());
    // A filler that depends on every bit of (flow, seq), so a flipped id is seen.
    let mut h = splitmix(seq) ^ splitmix(splitmix(u64::from(flow)));
    for chunk in buf[32..].chunks_mut(8) {
        h = splitmix(h);
        chunk.copy_from_slice(&h.to_le_bytes()[..chunk.len()]);
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn packet(src: Ipv4Addr, dst: Ipv4Addr, flow: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    build(&mut v, src, dst, flow, seq, len);
    v
}

/// (flow, seq) of a packet built by [`build`].
pub fn ids(p: &[u8]) -> (u32, u64) {
    (
        u32::from_be_bytes(p[20..24].try_into().unwrap()),
        u64::from_be_bytes(p[24..32].try_into().unwrap()),
    )
}

/// Whether `p` is exactly what [`build`] makes from its own header fields.
pub fn intact(p: &[u8]) -> bool {
    if p.len() < MIN_LEN {
        return false;
    }
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(&p[12..16]).unwrap());
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&p[16..20]).unwrap());
    let (flow, seq) = ids(p);
    packet(src, dst, flow, seq, p.len()) == p
}

/// A periodic sender.
#[derive(Debug, Clone)]
pub struct Stream {
    pub dst: Ipv4Addr,
    pub flow: u32,
    pub len: usize,
    pub next_at: Instant,
    pub interval: Duration,
    pub remaining: u64,
    pub next_seq: u64,
    /// If set, each gap is uniform in [interval/2, 3·interval/2), drawn from this
    /// state (so phase effects of perfectly periodic senders disappear).
    pub random_gaps: Option<u64>,
}

/// One arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rx {
    pub at: Instant,
    pub flow: u32,
    pub seq: u64,
    pub len: usize,
    pub intact: bool,
}

#[derive(Debug)]
pub struct Toy {
    pub addr: Ipv4Addr,
    streams: Vec<Stream>,
    /// (dst, flow, seq, len) ready to go.
    outbox: VecDeque<(Ipv4Addr, u32, u64, usize)>,
    /// Raw packets to emit as they are (malformed ones, IPv6, ...).
    raw: VecDeque<Vec<u8>>,
    /// Record every arrival (off: count only).
    pub log: bool,
    pub received: Vec<Rx>,
    pub count: u64,
    pub raw_received: Vec<Vec<u8>>,
    /// Keep a copy of every packet received, in `all_bytes`.
    pub keep: bool,
    pub all_bytes: Vec<Vec<u8>>,
    /// A timer that re-arms itself forever at this interval.
    pub ticker: Option<(Instant, Duration)>,
}

impl Toy {
    pub fn new(addr: Ipv4Addr) -> Self {
        Self {
            addr,
            streams: Vec::new(),
            outbox: VecDeque::new(),
            raw: VecDeque::new(),
            log: true,
            received: Vec::new(),
            count: 0,
            raw_received: Vec::new(),
            keep: false,
            all_bytes: Vec::new(),
            ticker: None,
        }
    }

    /// Sends `count` packets of `len` bytes to `dst`, the first at `start`,
    /// then one every `interval`.
    pub fn stream(
        mut self,
        dst: Ipv4Addr,
        flow: u32,
        len: usize,
        start: Instant,
        interval: Duration,
        count: u64,
    ) -> Self {
        self.add_stream(dst, flow, len, start, interval, count);
        self
    }

    pub fn add_stream(
        &mut self,
        dst: Ipv4Addr,
        flow: u32,
        len: usize,
        start: Instant,
        interval: Duration,
        count: u64,
    ) {
        self.streams.push(Stream {
            dst,
            flow,
            len,
            next_at: start,
            interval,
            remaining: count,
            next_seq: 0,
            random_gaps: None,
        });
    }

    /// Makes the last added stream's gaps random around its interval.
    pub fn random_gaps(mut self, seed: u64) -> Self {
        self.streams.last_mut().unwrap().random_gaps = Some(seed);
        self
    }

    /// Queues a packet to go out at the next chance (app-style call).
    pub fn send_now(&mut self, dst: Ipv4Addr, flow: u32, seq: u64, len: usize) {
        self.outbox.push_back((dst, flow, seq, len));
    }

    pub fn send_raw(&mut self, bytes: Vec<u8>) {
        self.raw.push_back(bytes);
    }

    pub fn seqs(&self, flow: u32) -> Vec<u64> {
        self.received
            .iter()
            .filter(|r| r.flow == flow)
            .map(|r| r.seq)
            .collect()
    }
}

impl Endpoint for Toy {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.count += 1;
        if self.keep {
            self.all_bytes.push(packet.to_vec());
        }
        if packet.len() < MIN_LEN || packet[9] != PROTO {
            self.raw_received.push(packet.to_vec());
            return;
        }
        if self.log {
            let (flow, seq) = ids(packet);
            self.received.push(Rx {
                at: now,
                flow,
                seq,
                len: packet.len(),
                intact: intact(packet),
            });
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let Some(raw) = self.raw.pop_front() {
            buf[..raw.len()].copy_from_slice(&raw);
            return Some(raw.len());
        }
        let (dst, flow, seq, len) = self.outbox.pop_front()?;
        build(buf, self.addr, dst, flow, seq, len);
        Some(len)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let streams = self
            .streams
            .iter()
            .filter(|s| s.remaining > 0)
            .map(|s| s.next_at);
        streams.chain(self.ticker.map(|(t, _)| t)).min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        for s in &mut self.streams {
            while s.remaining > 0 && s.next_at <= now {
                self.outbox.push_back((s.dst, s.flow, s.next_seq, s.len));
                s.next_seq += 1;
                s.remaining -= 1;
                s.next_at += match &mut s.random_gaps {
                    None => s.interval,
                    Some(state) => {
                        *state = splitmix(*state);
                        let base = s.interval.as_micros() as u64;
                        Duration::from_micros(base / 2 + *state % base.max(1))
                    }
                };
            }
        }
        if let Some((t, every)) = &mut self.ticker {
            if *t <= now {
                *t = now + *every;
            }
        }
    }
}

pub fn ip(a: Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

/// Hosts a (10.0.0.1) and b (10.0.0.2) joined by one link.
pub fn pair(
    seed: u64,
    a: Toy,
    b: Toy,
    ab: LinkConfig,
    ba: LinkConfig,
) -> (Sim<Toy>, HostId, HostId) {
    let mut sim = Sim::new(seed);
    let ha = sim.add_host("a", a, &[ip(A)]);
    let hb = sim.add_host("b", b, &[ip(B)]);
    sim.connect(ha, hb, ab, ba);
    (sim, ha, hb)
}

/// a sends `count` packets of `len` bytes every `interval` to b over `ab`.
pub fn one_way(
    seed: u64,
    ab: LinkConfig,
    len: usize,
    interval: Duration,
    count: u64,
) -> (Sim<Toy>, HostId, HostId) {
    let a = Toy::new(A).stream(B, 1, len, Instant::ZERO, interval, count);
    pair(seed, a, Toy::new(B), ab, LinkConfig::default())
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}
