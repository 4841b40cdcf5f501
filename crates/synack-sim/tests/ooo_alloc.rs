//! Issue 7: "no allocation per segment" on the data path, out-of-order data
//! included. A lossy, reordering, duplicating bulk transfer over the simulator;
//! the receiving stack is wrapped so that the allocations made inside each of
//! its `handle_packet` calls are counted (by a counting global allocator,
//! per thread) and filed by what the segment did: in order, held out of order,
//! filled a hole, or nothing (a duplicate). After a warm-up (the receive ring
//! and the range set reaching their sizes), out-of-order and hole-filling
//! segments must allocate nothing.
//!
//! `SYNACK_OOO_ALLOC_REPORT=1` prints the tallies (with `--nocapture`),
//! `poll_transmit` on the receiver included; `SYNACK_OOO_ALLOC_CASE=default`
//! (or `no timestamps`) runs one case (for profiling one transfer).

use std::alloc::System;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use synack::{Instant, SocketHandle, Stack, StackConfig, TcpConfig};
use synack_sim::{Endpoint, LinkConfig, Loss, Sim};

// The binary's allocator counts every allocation (`stats_alloc`). This file has
// one test and the simulator runs on its thread, so the difference around a call
// is that call's.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocs() -> u64 {
    let s = GLOBAL.stats();
    (s.allocations + s.reallocations) as u64
}

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// What a data segment did at the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Its bytes (some or all) went straight to the application.
    InOrder,
    /// Held out of order.
    Held,
    /// Filled a hole: more bytes became readable than it carried.
    Fill,
    /// Nothing changed (a duplicate, or dropped).
    Nothing,
}

const KINDS: [Kind; 4] = [Kind::InOrder, Kind::Held, Kind::Fill, Kind::Nothing];

/// Segments and the allocations made while handling them, per kind, before
/// and after the warm-up.
#[derive(Default, Debug)]
struct Tally {
    /// `[warm][kind] = (segments, allocations)`.
    seen: [[(u64, u64); 4]; 2],
    /// `poll_transmit` calls that produced a packet, and their allocations,
    /// after the warm-up.
    tx: (u64, u64),
}

/// The receiving stack, counting.
struct Receiver {
    stack: Stack,
    conn: Option<SocketHandle>,
    /// Data segments handled so far.
    segments: u64,
    /// Data segments before the tally counts as warm.
    warm_after: u64,
    tally: Tally,
}

impl Receiver {
    fn warm(&self) -> usize {
        usize::from(self.segments > self.warm_after)
    }
}

impl Endpoint for Receiver {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let payload = synack::wire::parse(packet).map_or(0, |s| s.payload.len());
        let Some(h) = self.conn.filter(|_| payload > 0) else {
            self.stack.handle_packet(now, packet);
            return;
        };
        let before = self.stack.info(h).map_or(0, |i| i.bytes_received);
        let held_before = self.stack.usage().buffer_bytes - self.stack.recv_queue(h);
        let a = allocs();
        self.stack.handle_packet(now, packet);
        let n = allocs() - a;
        let after = self.stack.info(h).map_or(0, |i| i.bytes_received);
        let held_after = self.stack.usage().buffer_bytes - self.stack.recv_queue(h);
        let d = after - before;
        let kind = if d > payload as u64 {
            Kind::Fill
        } else if d > 0 {
            Kind::InOrder
        } else if held_after > held_before {
            Kind::Held
        } else {
            Kind::Nothing
        };
        self.segments += 1;
        let w = self.warm();
        let k = KINDS.iter().position(|&x| x == kind).unwrap();
        self.tally.seen[w][k].0 += 1;
        self.tally.seen[w][k].1 += n;
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let a = allocs();
        let r = self.stack.poll_transmit(now, buf);
        if r.is_some() && self.warm() == 1 {
            self.tally.tx.0 += 1;
            self.tally.tx.1 += allocs() - a;
        }
        r
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.stack.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
    }
}

/// Either end of the simulated network.
enum Host {
    Client(Stack),
    Server(Receiver),
}

impl Host {
    fn stack(&mut self) -> &mut Stack {
        match self {
            Self::Client(s) => s,
            Self::Server(r) => &mut r.stack,
        }
    }

    fn receiver(&mut self) -> &mut Receiver {
        match self {
            Self::Server(r) => r,
            Self::Client(_) => unreachable!("the client does not count"),
        }
    }
}

impl Endpoint for Host {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        match self {
            Self::Client(s) => s.handle_packet(now, packet),
            Self::Server(r) => r.handle_packet(now, packet),
        }
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self {
            Self::Client(s) => s.poll_transmit(now, buf),
            Self::Server(r) => r.poll_transmit(now, buf),
        }
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.stack().poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Self::Client(s) => s.handle_timeout(now),
            Self::Server(r) => r.handle_timeout(now),
        }
    }
}

/// Pattern byte `i` of the transfer.
fn byte(i: u64) -> u8 {
    (i ^ (i >> 8) ^ (i >> 17)).wrapping_mul(0x9d) as u8
}

/// `bytes` from client to server over a lossy, reordering, duplicating link;
/// returns the receiver's tally once every byte was read and checked.
fn lossy_bulk(seed: u64, bytes: u64, warm_after: u64, cfg: &TcpConfig) -> Tally {
    let link = LinkConfig {
        delay: Duration::from_millis(5),
        loss: Loss::Bernoulli(0.02),
        reorder: 0.02,
        duplicate: 0.005,
        rate_bps: Some(200_000_000),
        queue_packets: 64,
        ..LinkConfig::default()
    };
    let stack = |addr, s| {
        Stack::new(
            StackConfig {
                tcp: cfg.clone(),
                ..StackConfig::from_seed(seed ^ s)
            },
            &[addr],
        )
        .unwrap()
    };
    let mut sim = Sim::new(seed);
    let c = sim.add_host("client", Host::Client(stack(CLIENT, 0xc1)), &[CLIENT]);
    let receiver = Receiver {
        stack: stack(SERVER, 0x5e),
        conn: None,
        segments: 0,
        warm_after,
        tally: Tally::default(),
    };
    let s = sim.add_host("server", Host::Server(receiver), &[SERVER]);
    sim.connect(c, s, link.clone(), link);
    sim.set_record(false);

    let l = sim
        .host_mut(s)
        .stack()
        .listen(SocketAddr::new(SERVER, 80), 4)
        .unwrap();
    let ch = sim
        .host_mut(c)
        .stack()
        .connect(SocketAddr::new(SERVER, 80), None)
        .unwrap();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut rbuf = vec![0u8; 64 * 1024];
    let (mut sent, mut got) = (0u64, 0u64);
    let limit = Instant::ZERO + Duration::from_secs(600);
    while got < bytes {
        assert!(
            sim.step() && sim.now() < limit,
            "seed {seed}: stalled at {got}"
        );
        let r = sim.host_mut(s).receiver();
        if r.conn.is_none() {
            r.conn = r.stack.accept(l).ok();
        }
        if let Some(h) = r.conn {
            while let Ok(n) = r.stack.recv(h, &mut rbuf) {
                if n == 0 {
                    break;
                }
                for (k, &b) in rbuf[..n].iter().enumerate() {
                    assert_eq!(
                        b,
                        byte(got + k as u64),
                        "seed {seed}: byte {}",
                        got + k as u64
                    );
                }
                got += n as u64;
            }
        }
        let cs = sim.host_mut(c).stack();
        while sent < bytes {
            let n = chunk.len().min((bytes - sent) as usize);
            for (k, b) in chunk[..n].iter_mut().enumerate() {
                *b = byte(sent + k as u64);
            }
            match cs.send(ch, &chunk[..n]) {
                Ok(k) => sent += k as u64,
                Err(_) => break,
            }
        }
    }
    std::mem::take(&mut sim.host_mut(s).receiver().tally)
}

fn report(name: &str, t: &Tally) {
    if std::env::var_os("SYNACK_OOO_ALLOC_REPORT").is_none() {
        return;
    }
    for (w, label) in [(0, "warm-up"), (1, "steady")] {
        for (k, kind) in KINDS.iter().enumerate() {
            let (segs, n) = t.seen[w][k];
            println!(
                "{name} {label:8} {kind:8?}: {segs:6} segments, {n:6} allocations ({:.3}/segment)",
                n as f64 / segs.max(1) as f64
            );
        }
    }
    println!(
        "{name} steady   transmit: {} packets, {} allocations",
        t.tx.0, t.tx.1
    );
}

#[test]
fn out_of_order_segments_allocate_nothing_in_steady_state() {
    for (name, cfg) in [
        ("default", TcpConfig::default()),
        (
            "no timestamps",
            TcpConfig {
                timestamps: false,
                ..TcpConfig::default()
            },
        ),
    ] {
        if std::env::var("SYNACK_OOO_ALLOC_CASE").is_ok_and(|c| c != name) {
            continue;
        }
        // 4 MB, about 3,000 data segments; the first 1,000 are the warm-up.
        let t = lossy_bulk(7, 4 << 20, 1000, &cfg);
        report(name, &t);
        let [_, held, fill, _] = t.seen[1];
        assert!(
            held.0 > 50 && fill.0 > 20,
            "{name}: the transfer is meant to hold data: {t:?}"
        );
        assert_eq!(
            (held.1, fill.1),
            (0, 0),
            "{name}: allocations by out-of-order and hole-filling segments in steady state: {t:?}"
        );
        let [in_order, ..] = t.seen[1];
        assert_eq!(in_order.1, 0, "{name}: in-order segments: {t:?}");
        // The receiver's ACKs (SACK blocks built from the held ranges) too.
        assert!(t.tx.0 > 500, "{name}: the receiver answered: {t:?}");
        assert_eq!(
            t.tx.1, 0,
            "{name}: allocations by the receiver's ACKs: {t:?}"
        );
    }
}
