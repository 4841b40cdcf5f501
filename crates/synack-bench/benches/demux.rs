//! Demultiplexing: one segment in, for one of N established connections, taken
//! at random. The segment is the connection's own handshake ACK (a valid pure
//! ACK that changes nothing), so what is measured is parse, checksum, the
//! 4-tuple lookup and the TCB's acceptance checks. With an O(1) table the cost
//! should barely move from N = 1 to N = 65,536 (what moves it is cache misses on
//! a table larger than the cache); a stack that scans its sockets grows with N.
//! `synack-prefetch` is the same with each packet hinted (`Stack::prefetch`)
//! `PREFETCH_AHEAD` packets before it is handed in, as a driver with a batch
//! of received packets would: the misses on the table, the slot and the TCB
//! overlap instead of following one another.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use synack::stack::PREFETCH_AHEAD;
use synack::{Instant, Stack, StackConfig, State};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Client ports per client address.
const PORTS: usize = 50_000;

/// A server with `n` established connections, and for each one the client's
/// handshake ACK as raw bytes.
struct Demux {
    server: Stack,
    acks: Vec<Vec<u8>>,
}

fn client_addr(i: usize) -> Ipv4Addr {
    let a = u8::try_from(i / PORTS).expect("fewer than 256 client addresses");
    Ipv4Addr::new(10, 1, a, 1)
}

impl Demux {
    fn new(n: usize) -> Self {
        let mut cfg = StackConfig::from_seed(2);
        cfg.tcp.somaxconn = cfg.tcp.somaxconn.max(n);
        cfg.tcp.max_syn_backlog = cfg.tcp.max_syn_backlog.max(n);
        let mut server = Stack::new(cfg, &[IpAddr::V4(SERVER)]).expect("server config");
        let addrs: Vec<IpAddr> = (0..n.div_ceil(PORTS))
            .map(|k| IpAddr::V4(client_addr(k * PORTS)))
            .collect();
        let mut client = Stack::new(StackConfig::from_seed(1), &addrs).expect("client config");
        let listener = server
            .listen(SocketAddr::new(IpAddr::V4(SERVER), 80), n)
            .expect("listen");
        let now = Instant::from_secs(1);
        let mut last_ack: HashMap<SocketAddr, Vec<u8>> = HashMap::new();
        let mut buf = vec![0u8; 2048];
        let mut clients = Vec::with_capacity(n);
        for chunk in 0..n.div_ceil(1024) {
            for i in chunk * 1024..n.min((chunk + 1) * 1024) {
                let port = u16::try_from(1024 + i % PORTS).expect("port");
                let local = SocketAddr::new(IpAddr::V4(client_addr(i)), port);
                let h = client
                    .connect(SocketAddr::new(IpAddr::V4(SERVER), 80), Some(local))
                    .expect("connect");
                clients.push(h);
            }
            loop {
                let mut moved = false;
                while let Some(len) = client.poll_transmit(now, &mut buf) {
                    let p = &buf[..len];
                    let seg = synack::wire::parse(p).expect("own packets parse");
                    if seg.tcp.flags.ack() && !seg.tcp.flags.syn() && seg.payload.is_empty() {
                        last_ack.insert(SocketAddr::new(seg.src, seg.tcp.src_port), p.to_vec());
                    }
                    server.handle_packet(now, p);
                    moved = true;
                }
                while let Some(len) = server.poll_transmit(now, &mut buf) {
                    client.handle_packet(now, &buf[..len]);
                    moved = true;
                }
                while server.accept(listener).is_ok() {}
                while server.poll_event().is_some() {}
                while client.poll_event().is_some() {}
                if !moved {
                    break;
                }
            }
        }
        let established = clients
            .iter()
            .filter(|&&h| client.state(h) == Some(State::Established))
            .count();
        assert_eq!(established, n, "every connection established");
        let mut acks: Vec<Vec<u8>> = last_ack.into_values().collect();
        assert_eq!(acks.len(), n);
        // A fixed shuffle, so that consecutive packets hit different connections
        // (a one-entry flow cache would otherwise make this a cache benchmark).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in (1..acks.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let j = usize::try_from(x % (i as u64 + 1)).expect("index");
            acks.swap(i, j);
        }
        Self { server, acks }
    }
}

fn demux(c: &mut Criterion) {
    let mut g = c.benchmark_group("demux");
    g.throughput(Throughput::Elements(1));
    for n in [1usize, 1024, 8192, 65_536] {
        let mut d = Demux::new(n);
        let now = Instant::from_secs(2);
        let mut out = vec![0u8; 2048];
        let mut i = 0usize;
        let before = d.server.counters().segments_in;
        g.bench_function(BenchmarkId::new("synack", n), |b| {
            b.iter(|| {
                let p = &d.acks[i % d.acks.len()];
                i = i.wrapping_add(1);
                d.server.handle_packet(now, black_box(p));
            });
        });
        g.bench_function(BenchmarkId::new("synack-prefetch", n), |b| {
            b.iter(|| {
                let len = d.acks.len();
                d.server.prefetch(&d.acks[(i + PREFETCH_AHEAD) % len]);
                let p = &d.acks[i % len];
                i = i.wrapping_add(1);
                d.server.handle_packet(now, black_box(p));
            });
        });
        // Nothing to answer, nothing dropped: each packet reached its connection.
        assert!(d.server.poll_transmit(now, &mut out).is_none());
        let c = d.server.counters();
        assert_eq!(
            c.segments_in - before,
            i as u64,
            "every ACK was demultiplexed"
        );
        assert_eq!(c.drop_no_socket + c.drop_out_of_window + c.drop_paws, 0);
    }
    g.finish();
}

criterion_group!(benches, demux);
criterion_main!(benches);
