//! `connections`: connect + 1-byte request + 1-byte response + close, with
//! `concurrency` connections in flight; cycles per second. The server answers and
//! closes first (it holds TIME-WAIT); the client reads the response and EOF, then
//! closes. Both rivals get 4 KiB socket buffers.
//!
//! smoltcp has one socket per connection: the client owns `concurrency` sockets and
//! picks local ports from a counter; the server keeps `concurrency + 8` sockets
//! listening and returns each one to LISTEN once it reaches TIME-WAIT and its last
//! ACK is out (smoltcp has no compact TIME-WAIT). Its delayed ACK is turned off so
//! both rivals exchange the minimal six segments per cycle.
//!
//! `SYNACK_BENCH_DEBUG=1` prints synack's non-zero counters after each run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use smoltcp::iface::SocketHandle as SmolHandle;
use smoltcp::socket::tcp;
use synack::{RecvError, SocketHandle, StackConfig, State};

use crate::bulk::{smol_socket, A_IP, B_IP};
use crate::link::{drive, App, Clock, Pipe, RunError, SmolSide, Stats, SynSide};
use crate::{linux, median, progress, BenchOptions, Row};

const PORT: u16 = 80;
const BUFFER: usize = 4096;
const MTU: usize = 1500;
/// Connections per client address (of the 28,232 ephemeral ports). A closed
/// connection holds its port until its FIN is acknowledged, so each in-flight
/// connection may need two.
const CONNS_PER_IP: usize = 10_000;

/// Cycles to run at `concurrency`.
fn target(opts: &BenchOptions, concurrency: usize) -> u64 {
    opts.cycles.max(4 * concurrency as u64)
}

/// One measured run.
#[derive(Clone, Copy, Debug)]
struct Run {
    rate: f64,
    failed: u64,
    packets_per_cycle: f64,
    timer_jumps: u64,
    allocs_per_cycle: f64,
}

impl Run {
    fn new(completed: u64, failed: u64, t0: Instant, links: &(Pipe, Pipe), s: Stats) -> Self {
        Self {
            allocs_per_cycle: s.allocations as f64 / completed.max(1) as f64,
            rate: completed as f64 / t0.elapsed().as_secs_f64(),
            failed,
            packets_per_cycle: (links.0.sent + links.1.sent) as f64 / completed.max(1) as f64,
            timer_jumps: s.timer_jumps,
        }
    }
}

// ---- synack ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Sent,
    GotResponse,
}

struct SynConns {
    concurrency: usize,
    target: u64,
    started: u64,
    completed: u64,
    failed: u64,
    client_ips: Vec<IpAddr>,
    remote: SocketAddr,
    clients: Vec<(SocketHandle, Phase)>,
    listener: SocketHandle,
    servers: Vec<SocketHandle>,
}

impl SynConns {
    fn start(&mut self, a: &mut SynSide) -> Result<(), RunError> {
        let ip = self.client_ips[self.started as usize % self.client_ips.len()];
        let h = a
            .stack
            .connect(self.remote, Some(SocketAddr::new(ip, 0)))
            .map_err(|e| {
                format!(
                    "synack connect: {e:?} ({} active, {} in TIME-WAIT, {} started)",
                    self.clients.len(),
                    a.stack.time_wait_count(),
                    self.started
                )
            })?;
        self.started += 1;
        self.clients.push((h, Phase::Connecting));
        Ok(())
    }

    /// Advances one client connection; returns true when it is finished.
    fn step_client(&mut self, a: &mut SynSide, i: usize) -> Result<bool, RunError> {
        let (h, phase) = self.clients[i];
        let mut buf = [0u8; 8];
        let st = a.stack.state(h);
        if phase == Phase::Connecting {
            match st {
                Some(State::SynSent) => return Ok(false),
                Some(State::Established | State::CloseWait) => {
                    a.stack.send(h, b"q").map_err(|e| format!("send: {e:?}"))?;
                    self.clients[i].1 = Phase::Sent;
                }
                _ => return self.fail(a, h),
            }
        }
        loop {
            match a.stack.recv(h, &mut buf) {
                Ok(0) if self.clients[i].1 == Phase::GotResponse => {
                    a.stack.close(h).map_err(|e| format!("close: {e:?}"))?;
                    self.completed += 1;
                    return Ok(true);
                }
                Ok(0) => return self.fail(a, h),
                Ok(_) => self.clients[i].1 = Phase::GotResponse,
                Err(RecvError::WouldBlock) => return Ok(false),
                Err(_) => return self.fail(a, h),
            }
        }
    }

    fn fail(&mut self, a: &mut SynSide, h: SocketHandle) -> Result<bool, RunError> {
        self.failed += 1;
        let _ = a.stack.abort(h);
        if self.failed > 100 + self.target / 100 {
            return Err(format!("synack: {} failed cycles", self.failed));
        }
        Ok(true)
    }
}

impl App<SynSide, SynSide> for SynConns {
    fn on_a(&mut self, a: &mut SynSide) -> Result<bool, RunError> {
        let mut acted = false;
        let mut i = 0;
        while i < self.clients.len() {
            if self.step_client(a, i)? {
                self.clients.swap_remove(i);
                acted = true;
            } else {
                i += 1;
            }
        }
        while self.clients.len() < self.concurrency && self.started < self.target {
            self.start(a)?;
            acted = true;
        }
        Ok(acted)
    }

    fn on_b(&mut self, b: &mut SynSide) -> Result<bool, RunError> {
        let mut acted = false;
        while let Ok(h) = b.stack.accept(self.listener) {
            self.servers.push(h);
            acted = true;
        }
        let mut buf = [0u8; 8];
        let mut i = 0;
        while i < self.servers.len() {
            let h = self.servers[i];
            match b.stack.recv(h, &mut buf) {
                Ok(n) if n > 0 => {
                    b.stack.send(h, b"r").map_err(|e| format!("send: {e:?}"))?;
                    b.stack.close(h).map_err(|e| format!("close: {e:?}"))?;
                    self.servers.swap_remove(i);
                    acted = true;
                }
                Err(RecvError::WouldBlock) => i += 1,
                _ => {
                    let _ = b.stack.abort(h);
                    self.servers.swap_remove(i);
                }
            }
        }
        Ok(acted)
    }

    fn done(&self) -> bool {
        self.completed + self.failed >= self.target
    }
}

fn synack_config(seed: u64, concurrency: usize) -> StackConfig {
    let mut c = StackConfig::from_seed(seed);
    c.tcp.send_buffer = BUFFER;
    c.tcp.recv_buffer = BUFFER;
    c.tcp.somaxconn = c.tcp.somaxconn.max(concurrency);
    c.tcp.max_syn_backlog = c.tcp.max_syn_backlog.max(concurrency);
    // The stack-wide limits that came after this bench (half-open connections,
    // orphans) are raised to fit the load too, as the two backlogs are: each
    // in-flight cycle holds at most one half-open connection, and an orphan per
    // end (the server's FIN-WAIT, the client's LAST-ACK after it moved on).
    c.tcp.max_half_open = c.tcp.max_half_open.max(concurrency);
    c.tcp.max_orphans = c.tcp.max_orphans.max(2 * concurrency);
    c
}

fn synack_run(concurrency: usize, target: u64) -> Result<Run, RunError> {
    let n_ips = concurrency.div_ceil(CONNS_PER_IP).max(1);
    let client_ips: Vec<IpAddr> = (0..n_ips)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 1, (i >> 8) as u8, (i & 0xff) as u8 + 1)))
        .collect();
    let server_ip = IpAddr::V4(B_IP);
    let mut a = SynSide::new(synack_config(1, concurrency), &client_ips);
    let mut b = SynSide::new(synack_config(2, concurrency), &[server_ip]);
    let remote = SocketAddr::new(server_ip, PORT);
    let listener = b
        .stack
        .listen(remote, concurrency.max(128))
        .map_err(|e| format!("{e:?}"))?;
    let mut app = SynConns {
        concurrency,
        target,
        started: 0,
        completed: 0,
        failed: 0,
        client_ips,
        remote,
        clients: Vec::with_capacity(concurrency),
        listener,
        servers: Vec::with_capacity(concurrency),
    };
    let mut links = (Pipe::new(MTU), Pipe::new(MTU));
    let mut clock = Clock::default();
    let t0 = Instant::now();
    let r = drive(&mut a, &mut b, &mut links, &mut clock, &mut app);
    if std::env::var_os("SYNACK_BENCH_DEBUG").is_some() {
        for (name, s) in [("client", &a.stack), ("server", &b.stack)] {
            let c: Vec<String> = s
                .counters()
                .iter()
                .filter(|&(_, v)| v != 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            eprintln!("{name}: {} sockets; {}", s.sockets().len(), c.join(" "));
        }
    }
    let stats = r?;
    Ok(Run::new(app.completed, app.failed, t0, &links, stats))
}

// ---- smoltcp ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SmolPhase {
    Idle,
    Connecting,
    Sent,
    GotResponse,
    Closing,
}

struct SmolConns {
    target: u64,
    started: u64,
    completed: u64,
    failed: u64,
    next_port: u16,
    clients: Vec<(SmolHandle, SmolPhase)>,
    servers: Vec<SmolHandle>,
}

impl SmolConns {
    fn port(&mut self) -> u16 {
        self.next_port = if self.next_port >= 60999 {
            10000
        } else {
            self.next_port + 1
        };
        self.next_port
    }

    /// Advances client socket `i`; returns true if anything happened.
    fn step_client(&mut self, a: &mut SmolSide, i: usize) -> Result<bool, RunError> {
        let (h, phase) = self.clients[i];
        let port = if phase == SmolPhase::Idle && self.started < self.target {
            self.port()
        } else {
            0
        };
        let cx = a.iface.context();
        let s = a.sockets.get_mut::<tcp::Socket>(h);
        let next = match phase {
            SmolPhase::Idle if port != 0 => {
                let o = B_IP.octets();
                let remote = (smoltcp::wire::IpAddress::v4(o[0], o[1], o[2], o[3]), PORT);
                s.connect(cx, remote, port)
                    .map_err(|e| format!("smoltcp connect: {e:?}"))?;
                self.started += 1;
                SmolPhase::Connecting
            }
            SmolPhase::Connecting if s.state() == tcp::State::Established => {
                s.send_slice(b"q").map_err(|e| format!("{e:?}"))?;
                SmolPhase::Sent
            }
            SmolPhase::Sent if s.can_recv() => {
                let mut b = [0u8; 8];
                s.recv_slice(&mut b).map_err(|e| format!("{e:?}"))?;
                SmolPhase::GotResponse
            }
            SmolPhase::GotResponse if !s.may_recv() => {
                s.close();
                SmolPhase::Closing
            }
            SmolPhase::Closing if s.state() == tcp::State::Closed => {
                self.completed += 1;
                SmolPhase::Idle
            }
            p if p != SmolPhase::Idle && s.state() == tcp::State::Closed => {
                self.failed += 1;
                if self.failed > 100 + self.target / 100 {
                    return Err(format!("smoltcp: {} failed cycles", self.failed));
                }
                SmolPhase::Idle
            }
            p => p,
        };
        self.clients[i].1 = next;
        Ok(next != phase)
    }
}

impl App<SmolSide, SmolSide> for SmolConns {
    fn on_a(&mut self, a: &mut SmolSide) -> Result<bool, RunError> {
        let mut acted = false;
        for i in 0..self.clients.len() {
            // A socket may go a few phases at once (e.g. done, then connect again).
            while self.step_client(a, i)? {
                acted = true;
            }
        }
        Ok(acted)
    }

    fn before_b(&mut self, b: &mut SmolSide) {
        for &h in &self.servers {
            let s = b.sockets.get_mut::<tcp::Socket>(h);
            if matches!(s.state(), tcp::State::TimeWait | tcp::State::Closed) {
                // Its last ACK went out in the previous egress.
                let _ = s.listen(PORT);
            }
        }
    }

    fn on_b(&mut self, b: &mut SmolSide) -> Result<bool, RunError> {
        let mut acted = false;
        for &h in &self.servers {
            let s = b.sockets.get_mut::<tcp::Socket>(h);
            if s.can_recv() {
                let mut buf = [0u8; 8];
                s.recv_slice(&mut buf).map_err(|e| format!("{e:?}"))?;
                s.send_slice(b"r").map_err(|e| format!("{e:?}"))?;
                s.close();
                acted = true;
            }
        }
        Ok(acted)
    }

    fn done(&self) -> bool {
        self.completed + self.failed >= self.target
    }
}

fn smol_conn_socket() -> tcp::Socket<'static> {
    let mut s = smol_socket(BUFFER);
    s.set_ack_delay(None);
    s
}

fn smoltcp_run(concurrency: usize, target: u64) -> Result<Run, RunError> {
    let mut a = SmolSide::new(A_IP, MTU, 1);
    let mut b = SmolSide::new(B_IP, MTU, 2);
    let clients = (0..concurrency)
        .map(|_| (a.sockets.add(smol_conn_socket()), SmolPhase::Idle))
        .collect();
    let mut servers = Vec::new();
    for _ in 0..concurrency + 8 {
        let mut s = smol_conn_socket();
        s.listen(PORT).map_err(|e| format!("{e:?}"))?;
        servers.push(b.sockets.add(s));
    }
    let mut app = SmolConns {
        target,
        started: 0,
        completed: 0,
        failed: 0,
        next_port: 10000,
        clients,
        servers,
    };
    let mut links = (Pipe::new(MTU), Pipe::new(MTU));
    let mut clock = Clock::default();
    let t0 = Instant::now();
    let stats = drive(&mut a, &mut b, &mut links, &mut clock, &mut app)?;
    Ok(Run::new(app.completed, app.failed, t0, &links, stats))
}

// ---- rows ----

pub(crate) fn rows(opts: &BenchOptions, rivals: bool, with_linux: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut concurrency = opts.concurrency.clone();
    if !rivals {
        concurrency.retain(|&c| c == 1);
    }
    for c in concurrency {
        let target = target(opts, c);
        let run_smol = rivals && opts.smoltcp && c <= opts.smoltcp_max_concurrency;
        let (mut syn, mut smol, mut notes) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..if rivals { opts.reps.max(1) } else { 0 } {
            progress(
                opts,
                &format!("connections c{c} rep {rep} ({target} cycles)"),
            );
            if opts.synack {
                match synack_run(c, target) {
                    Ok(r) => syn.push(r),
                    Err(e) => notes.push(format!("synack failed: {e}")),
                }
            }
            if run_smol {
                match smoltcp_run(c, target) {
                    Ok(r) => smol.push(r),
                    Err(e) => notes.push(format!("smoltcp failed: {e}")),
                }
            }
        }
        if rivals && opts.smoltcp && !run_smol {
            notes.push(format!(
                "smoltcp skipped above concurrency {}: it scans every socket per packet",
                opts.smoltcp_max_concurrency
            ));
        }
        for (name, v) in [("synack", &syn), ("smoltcp", &smol)] {
            if let Some(r) = v.first() {
                let failed: u64 = v.iter().map(|r| r.failed).sum();
                notes.push(format!(
                    "{name} {:.1} pkts/cycle, {:.1} allocs/cycle, {} timer jumps, {failed} failed",
                    r.packets_per_cycle, r.allocs_per_cycle, r.timer_jumps
                ));
            }
        }
        let mut row = Row::new("connections", format!("c{c}"), "cycles/s");
        row.synack = median(syn.iter().map(|r| r.rate).collect());
        row.smoltcp = median(smol.iter().map(|r| r.rate).collect());
        if with_linux && c == 1 {
            row.linux = linux::cycles(opts);
        }
        if rivals {
            notes.push(format!("{target} cycles per run"));
        }
        row.note = (!notes.is_empty()).then(|| notes.join("; "));
        rows.push(row.with_ratio(false));
    }
    rows
}
