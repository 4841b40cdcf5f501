//! Test harnesses: two stacks joined by an in-memory pipe (with delay, seeded
//! loss and a filter), and a recorder of each end's state changes.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use synack::wire::{self, TcpHeader};
use synack::{Event, Instant, SocketHandle, Stack, StackConfig, State, TcpConfig};

pub const A_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub const B_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
pub const A6_IP: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
pub const B6_IP: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));

/// Which end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// A packet on the wire, as the tests see it.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub from: Side,
    pub hdr: TcpHeader,
    pub len: usize,
    pub dropped: bool,
}

pub type Filter = Box<dyn FnMut(Side, &TcpHeader, usize) -> bool>;

/// Two stacks and a pipe.
pub struct Pair {
    pub a: Stack,
    pub b: Stack,
    pub now: Instant,
    pub delay: Duration,
    pub loss: f64,
    rng: ChaCha8Rng,
    in_flight: VecDeque<(Instant, Side, Vec<u8>)>,
    pub trace: Vec<Sent>,
    /// Returns false to drop a packet.
    pub filter: Option<Filter>,
    pub events_a: Vec<Event>,
    pub events_b: Vec<Event>,
    /// Hand packets over in buffers the stacks may keep
    /// (`Stack::handle_packet_owned`) instead of as borrowed slices.
    pub owned: bool,
    /// Buffers the stacks gave back (`Stack::reclaim_buffer`).
    pub reclaimed: usize,
    /// Read in place with `Stack::recv_each` instead of copying out with `recv`.
    pub read_in_place: bool,
}

pub fn config(seed: u64) -> StackConfig {
    StackConfig::from_seed(seed)
}

impl Pair {
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, TcpConfig::default(), TcpConfig::default())
    }

    pub fn with_config(seed: u64, ca: TcpConfig, cb: TcpConfig) -> Self {
        let mut sa = config(seed.wrapping_mul(2) + 1);
        sa.tcp = ca;
        let mut sb = config(seed.wrapping_mul(2) + 2);
        sb.tcp = cb;
        Self {
            a: Stack::new(sa, &[A_IP, A6_IP]).unwrap(),
            b: Stack::new(sb, &[B_IP, B6_IP]).unwrap(),
            now: Instant::ZERO,
            delay: Duration::from_millis(5),
            loss: 0.0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            in_flight: VecDeque::new(),
            trace: Vec::new(),
            filter: None,
            events_a: Vec::new(),
            events_b: Vec::new(),
            owned: false,
            reclaimed: 0,
            read_in_place: false,
        }
    }

    pub fn stack(&mut self, s: Side) -> &mut Stack {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Moves every packet both stacks want to send onto the pipe, and collects events.
    pub fn pump(&mut self) {
        let mut buf = vec![0u8; 65536];
        for side in [Side::A, Side::B] {
            let now = self.now;
            while let Some(n) = self.stack(side).poll_transmit(now, &mut buf) {
                let pkt = buf[..n].to_vec();
                let seg = wire::parse(&pkt).expect("stack emitted an unparsable packet");
                let mut dropped = false;
                if let Some(f) = self.filter.as_mut() {
                    dropped = !f(side, &seg.tcp, seg.payload.len());
                }
                if !dropped && self.loss > 0.0 {
                    dropped = (self.rng.next_u64() as f64 / u64::MAX as f64) < self.loss;
                }
                self.trace.push(Sent {
                    at: self.now,
                    from: side,
                    hdr: seg.tcp,
                    len: seg.payload.len(),
                    dropped,
                });
                if !dropped {
                    // FIFO pipe: constant delay keeps order.
                    self.in_flight.push_back((self.now + self.delay, side, pkt));
                }
            }
        }
        self.collect_events();
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.a.poll_event() {
            self.events_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.events_b.push(e);
        }
    }

    /// Processes the next event (a delivery or a timer). Returns false when nothing
    /// is pending at all.
    pub fn step(&mut self) -> bool {
        self.pump();
        let next_pkt = self.in_flight.front().map(|p| p.0);
        let ta = self.a.poll_timeout();
        let tb = self.b.poll_timeout();
        let Some(next) = [next_pkt, ta, tb].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        if next_pkt == Some(next) {
            let (_, from, pkt) = self.in_flight.pop_front().unwrap();
            let to = if from == Side::A { Side::B } else { Side::A };
            let now = self.now;
            if self.owned {
                let len = pkt.len();
                // A buffer not kept comes back at once; kept ones once read.
                let _ = self.stack(to).handle_packet_owned(now, pkt, len);
            } else {
                self.stack(to).handle_packet(now, &pkt);
            }
        } else {
            let now = self.now;
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
        }
        // No pump here: the caller may act (e.g. close) before the stacks transmit,
        // as an application woken by the same packet would.
        self.collect_events();
        true
    }

    /// Steps until `done` holds, checking after each step; panics after `limit` of virtual time.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) {
        let end = self.now + limit;
        self.pump();
        while !done(self) {
            assert!(
                self.now <= end,
                "condition not reached within {limit:?} (now {})",
                self.now
            );
            if !self.step() {
                assert!(
                    done(self),
                    "network went idle before the condition held (now {})",
                    self.now
                );
                return;
            }
        }
    }

    /// Runs until nothing is in flight and no timer is due before `limit` from now.
    pub fn settle(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.pump();
            let next_pkt = self.in_flight.front().map(|p| p.0);
            let next = [next_pkt, self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
        let now = self.now;
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        self.pump();
    }

    /// The sequence of states the connection `local-remote` went through on `side`,
    /// starting with the first `from`.
    pub fn states(&self, side: Side, local: SocketAddr, remote: SocketAddr) -> Vec<State> {
        let events = if side == Side::A {
            &self.events_a
        } else {
            &self.events_b
        };
        let mut out = Vec::new();
        for e in events {
            if let Event::StateChanged {
                local: l,
                remote: Some(r),
                from,
                to,
                ..
            } = *e
            {
                if l == local && r == remote {
                    if out.is_empty() {
                        out.push(from);
                    }
                    out.push(to);
                }
            }
        }
        out
    }

    /// States of the only connection on `side` (panics if there are several).
    pub fn conn_states(&self, side: Side) -> Vec<State> {
        let events = if side == Side::A {
            &self.events_a
        } else {
            &self.events_b
        };
        let mut tuples = Vec::new();
        for e in events {
            if let Event::StateChanged {
                local,
                remote: Some(r),
                ..
            } = *e
            {
                if !tuples.contains(&(local, r)) {
                    tuples.push((local, r));
                }
            }
        }
        assert_eq!(
            tuples.len(),
            1,
            "expected one connection on {side:?}, got {tuples:?}"
        );
        self.states(side, tuples[0].0, tuples[0].1)
    }

    /// Sends all of `data` from `h` on `side`, stepping while the buffer is full.
    pub fn send_all(&mut self, side: Side, h: SocketHandle, data: &[u8], limit: Duration) {
        let mut off = 0;
        let end = self.now + limit;
        while off < data.len() {
            match self.stack(side).send(h, &data[off..]) {
                Ok(n) => off += n,
                Err(synack::SendError::WouldBlock) => {}
                Err(e) => panic!("send failed: {e}"),
            }
            if off < data.len() {
                assert!(self.step(), "idle while sending");
                assert!(self.now <= end, "send did not finish in {limit:?}");
            }
        }
    }

    /// Reads everything available on `h`; returns (bytes, eof).
    pub fn read_available(&mut self, side: Side, h: SocketHandle, into: &mut Vec<u8>) -> bool {
        let mut buf = [0u8; 16384];
        let eof = loop {
            let read = if self.read_in_place {
                self.stack(side).recv_each(h, |d| {
                    into.extend_from_slice(d);
                    d.len()
                })
            } else {
                self.stack(side).recv(h, &mut buf).inspect(|&n| {
                    into.extend_from_slice(&buf[..n]);
                })
            };
            match read {
                Ok(0) => break true,
                Ok(_) => {}
                Err(synack::RecvError::WouldBlock) => break false,
                Err(e) => panic!("recv failed: {e} ({:?})", self.stack(side).error(h)),
            }
        };
        while self.stack(side).reclaim_buffer().is_some() {
            self.reclaimed += 1;
        }
        eof
    }

    pub fn dropped_count(&self) -> usize {
        self.trace.iter().filter(|s| s.dropped).count()
    }
}

/// A sending application: each [`Feed::step`] sends what the stack takes of
/// `data`, and once all is taken shuts down writing (once).
pub struct Feed<'a> {
    data: &'a [u8],
    off: usize,
    closed: bool,
}

impl<'a> Feed<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            off: 0,
            closed: false,
        }
    }

    pub fn step(&mut self, stack: &mut Stack, h: SocketHandle) {
        if self.off < self.data.len() {
            self.off += stack.send(h, &self.data[self.off..]).unwrap_or(0);
        } else if !self.closed {
            stack.shutdown(h, synack::Shutdown::Write).unwrap();
            self.closed = true;
        }
    }
}

impl Pair {
    /// B listens on `b_ip` port 80, A connects, B accepts: (A's handle, B's).
    pub fn accepted(&mut self, b_ip: IpAddr) -> (SocketHandle, SocketHandle) {
        let l = self.b.listen(sa(b_ip, 80), 16).unwrap();
        let c = self.a.connect(sa(b_ip, 80), None).unwrap();
        let mut s = None;
        self.run_until(Duration::from_secs(120), |p| {
            s = s.or_else(|| p.b.accept(l).ok());
            s.is_some()
        });
        (c, s.unwrap())
    }
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

pub fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// A segment written by hand, for packet scripts: `hdr` (its ports taken from
/// the addresses) and `payload` from `from` to `to`, emitted with valid
/// checksums, then bit 0x20 of payload byte `damage` flipped if asked, and the
/// packet handed to `stack` at `now`.
pub fn inject_segment(
    stack: &mut Stack,
    now: Instant,
    (from, to): (SocketAddr, SocketAddr),
    mut hdr: TcpHeader,
    payload: &[u8],
    damage: Option<usize>,
) {
    hdr.src_port = from.port();
    hdr.dst_port = to.port();
    let mut buf = vec![0u8; payload.len() + 128];
    let n = wire::emit(from.ip(), to.ip(), 64, &hdr, payload, &mut buf).unwrap();
    if let Some(k) = damage {
        buf[n - payload.len() + k] ^= 0x20;
    }
    stack.handle_packet(now, &buf[..n]);
}
