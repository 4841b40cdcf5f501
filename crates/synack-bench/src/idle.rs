//! `idle`: the heap one established, idle connection costs the server host.
//!
//! The binary's counting allocator ([`crate::INSTRUMENTED_SYSTEM`]) is read around
//! every call into the server side (packet in, packets out, timers, accept, socket
//! creation), so only the server stack's own allocations are charged, amortized
//! table growth included; link buffers are allocated before counting starts.
//! synack runs with its default configuration (256 KiB buffers, allocated on
//! demand); smoltcp needs its buffers up front and gets 4 KiB + 4 KiB per socket,
//! like the connections bench.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use smoltcp::socket::tcp;
use synack::{SocketHandle, StackConfig, State};

use crate::bulk::{smol_socket, A_IP, B_IP};
use crate::link::{drive, App, Clock, Pipe, RunError, Side, SmolSide, SynSide};
use crate::{heap_bytes, median, progress, BenchOptions, Row};

const PORT: u16 = 80;
const MTU: usize = 1500;
/// Connections opened per batch.
const BATCH: usize = 10_000;
/// Local ports per client address.
const PORTS_PER_IP: usize = 60_000;
const SMOLTCP_BUFFER: usize = 4096;

fn heap() -> i64 {
    heap_bytes().unwrap_or(0)
}

/// A side whose heap use is counted.
struct Counted<S> {
    inner: S,
    heap: i64,
    /// Live allocations.
    blocks: i64,
}

impl<S> Counted<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            heap: 0,
            blocks: 0,
        }
    }

    fn count<R>(&mut self, f: impl FnOnce(&mut S) -> R) -> R {
        let (h0, b0) = (heap(), live_blocks());
        let r = f(&mut self.inner);
        self.heap += heap() - h0;
        self.blocks += live_blocks() - b0;
        r
    }
}

fn live_blocks() -> i64 {
    let s = crate::INSTRUMENTED_SYSTEM.stats();
    s.allocations as i64 - s.deallocations as i64
}

impl<S: Side> Side for Counted<S> {
    fn ingress(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: &mut Clock) -> usize {
        self.count(|s| s.ingress(rx, tx, clock))
    }

    fn take_one(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: Clock) -> bool {
        self.count(|s| s.take_one(rx, tx, clock))
    }

    fn egress(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: Clock) {
        self.count(|s| s.egress(rx, tx, clock));
    }

    fn next_timer(&mut self, clock: Clock) -> Option<u64> {
        self.count(|s| s.next_timer(clock))
    }

    fn on_timer(&mut self, clock: Clock) {
        self.count(|s| s.on_timer(clock));
    }
}

/// Link buffers for a batch, allocated before counting.
fn links() -> (Pipe, Pipe) {
    (
        Pipe::with_capacity(MTU, 2 * BATCH + 64),
        Pipe::with_capacity(MTU, 2 * BATCH + 64),
    )
}

// ---- synack ----

struct SynIdle {
    listener: SocketHandle,
    accepted: Vec<SocketHandle>,
    want: usize,
}

impl App<SynSide, Counted<SynSide>> for SynIdle {
    fn on_a(&mut self, _a: &mut SynSide) -> Result<bool, RunError> {
        Ok(false)
    }

    fn on_b(&mut self, b: &mut Counted<SynSide>) -> Result<bool, RunError> {
        let l = self.listener;
        let before = self.accepted.len();
        while let Ok(h) = b.count(|s| s.stack.accept(l)) {
            self.accepted.push(h);
        }
        Ok(self.accepted.len() > before)
    }

    fn done(&self) -> bool {
        self.accepted.len() >= self.want
    }
}

/// Heap bytes per connection of the server, its total heap, and live heap blocks
/// per connection.
fn synack_run(n: usize) -> Result<(f64, i64, f64), RunError> {
    let n_ips = n.div_ceil(PORTS_PER_IP).max(1);
    let ips: Vec<IpAddr> = (0..n_ips)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 2, (i >> 8) as u8, (i & 0xff) as u8 + 1)))
        .collect();
    let server_ip = IpAddr::V4(B_IP);
    // Both stacks must be allowed to hold every connection of the run (the
    // default `max_connections` is 262,144).
    let mut client_cfg = StackConfig::from_seed(1);
    client_cfg.tcp.max_connections = client_cfg.tcp.max_connections.max(n);
    let mut a = SynSide::new(client_cfg, &ips);
    let mut links = links();
    let mut cfg = StackConfig::from_seed(2);
    cfg.tcp.max_connections = cfg.tcp.max_connections.max(n);
    cfg.tcp.somaxconn = cfg.tcp.somaxconn.max(BATCH);
    cfg.tcp.max_syn_backlog = cfg.tcp.max_syn_backlog.max(BATCH);
    let mut b = Counted::new(SynSide::new(cfg, &[server_ip]));
    let remote = SocketAddr::new(server_ip, PORT);
    let listener = b
        .inner
        .stack
        .listen(remote, BATCH)
        .map_err(|e| format!("{e:?}"))?;
    let mut app = SynIdle {
        listener,
        accepted: Vec::with_capacity(n),
        want: 0,
    };
    let mut clients = Vec::with_capacity(n);
    let mut clock = Clock::default();
    let mut opened = 0;
    while opened < n {
        let batch = BATCH.min(n - opened);
        for k in opened..opened + batch {
            let local = SocketAddr::new(ips[k / PORTS_PER_IP], (1024 + k % PORTS_PER_IP) as u16);
            let h = a
                .stack
                .connect(remote, Some(local))
                .map_err(|e| format!("connect {local}: {e:?}"))?;
            clients.push(h);
        }
        opened += batch;
        app.want = opened;
        drive(&mut a, &mut b, &mut links, &mut clock, &mut app)?;
    }
    // Let every timer that an idle connection has run out (delayed ACKs, ...).
    clock.0 += 5_000_000;
    a.on_timer(clock);
    b.on_timer(clock);
    let up = app
        .accepted
        .iter()
        .filter(|&&h| b.inner.stack.state(h) == Some(State::Established))
        .count();
    if up != n {
        return Err(format!("{up} of {n} connections established"));
    }
    Ok((b.heap as f64 / n as f64, b.heap, b.blocks as f64 / n as f64))
}

// ---- smoltcp ----

struct SmolIdle {
    up: usize,
    want: usize,
    servers: Vec<smoltcp::iface::SocketHandle>,
}

impl App<SmolSide, Counted<SmolSide>> for SmolIdle {
    fn on_a(&mut self, _a: &mut SmolSide) -> Result<bool, RunError> {
        Ok(false)
    }

    fn on_b(&mut self, b: &mut Counted<SmolSide>) -> Result<bool, RunError> {
        let before = self.up;
        self.up = self
            .servers
            .iter()
            .filter(|&&h| b.inner.sockets.get::<tcp::Socket>(h).state() == tcp::State::Established)
            .count();
        Ok(self.up != before)
    }

    fn done(&self) -> bool {
        self.up >= self.want
    }
}

fn smoltcp_run(n: usize) -> Result<f64, RunError> {
    let mut a = SmolSide::new(A_IP, MTU, 1);
    let mut links = links();
    let mut b = Counted::new(SmolSide::new(B_IP, MTU, 2));
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        let h = b.count(|s| {
            let mut sock = smol_socket(SMOLTCP_BUFFER);
            sock.listen(PORT).map(|()| s.sockets.add(sock))
        });
        servers.push(h.map_err(|e| format!("{e:?}"))?);
    }
    let o = B_IP.octets();
    let remote = (smoltcp::wire::IpAddress::v4(o[0], o[1], o[2], o[3]), PORT);
    let mut app = SmolIdle {
        up: 0,
        want: 0,
        servers,
    };
    let mut clock = Clock::default();
    let mut opened = 0;
    while opened < n {
        let batch = BATCH.min(n - opened);
        for k in opened..opened + batch {
            let mut s = smol_socket(SMOLTCP_BUFFER);
            let cx = a.iface.context();
            s.connect(cx, remote, (1024 + k) as u16)
                .map_err(|e| format!("{e:?}"))?;
            a.sockets.add(s);
        }
        opened += batch;
        app.want = opened;
        drive(&mut a, &mut b, &mut links, &mut clock, &mut app)?;
    }
    Ok(b.heap as f64 / n as f64)
}

// ---- rows ----

pub(crate) fn rows(opts: &BenchOptions) -> Vec<Row> {
    if heap_bytes().is_none() {
        let mut r = Row::new("idle", "all".into(), "bytes/conn");
        r.note = Some("skipped: the binary has no counting allocator".into());
        return vec![r];
    }
    let mut rows = Vec::new();
    let mut smol_at: Option<(usize, f64)> = None;
    for &n in &opts.idle_counts {
        let mut notes = Vec::new();
        let (mut syn, mut totals) = (Vec::new(), Vec::new());
        // Heap counts are deterministic: one run suffices.
        if opts.synack {
            progress(opts, &format!("idle n{n} synack"));
            match synack_run(n) {
                Ok((per, total, blocks)) => {
                    syn.push(per);
                    totals.push(total as f64);
                    notes.push(format!("synack {blocks:.1} heap blocks/conn"));
                }
                Err(e) => notes.push(format!("synack failed: {e}")),
            }
        }
        let mut smol = None;
        if !opts.smoltcp {
        } else if n <= opts.smoltcp_max_idle {
            progress(opts, &format!("idle n{n} smoltcp"));
            match smoltcp_run(n) {
                Ok(per) => {
                    smol = Some(per);
                    smol_at = Some((n, per));
                }
                Err(e) => notes.push(format!("smoltcp failed: {e}")),
            }
        } else if let Some((m, per)) = smol_at {
            smol = Some(per);
            notes.push(format!(
                "smoltcp measured at n={m} (constant per socket; it scans every socket per packet)"
            ));
        }
        if let Some(t) = median(totals) {
            notes.push(format!(
                "synack server heap {:.1} MiB",
                t / (1 << 20) as f64
            ));
        }
        notes.push(format!(
            "smoltcp with {} KiB rx + tx buffers",
            SMOLTCP_BUFFER >> 10
        ));
        let mut row = Row::new("idle", format!("n{n}"), "bytes/conn");
        row.synack = median(syn);
        row.smoltcp = smol;
        row.note = Some(notes.join("; "));
        rows.push(row.with_ratio(true));
    }
    rows
}
