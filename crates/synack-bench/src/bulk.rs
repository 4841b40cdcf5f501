//! `bulk`: one connection moves `bulk_bytes` in one direction over the in-memory
//! link; goodput (wall clock) and CPU seconds, every byte hashed (xxh3) and compared
//! with the hash of what was sent. Hashing time is measured and left out of both
//! figures, so they describe the stacks and not the checker.
//!
//! The receiving application hashes the data where it lies, in the stack's
//! receive buffer, with each rival's in-place read (synack's `Stack::recv_with`,
//! smoltcp's `tcp::Socket::recv`): a copy into an application buffer that is only
//! read once would measure `memcpy`, not the stacks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use smoltcp::socket::tcp;
use synack::{SocketHandle, Stack, StackConfig, State};
use xxhash_rust::xxh3::Xxh3;

use crate::link::{drive, App, Clock, Pipe, RunError, SmolSide, SynSide};
use crate::{allocations, cpu_time, linux, median, progress, BenchOptions, Row};

pub(crate) const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub(crate) const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 5001;
/// Period of the sent byte pattern.
const PERIOD: usize = 1 << 20;

/// The bytes sent: a pseudo-random pattern of period [`PERIOD`], stored twice so any
/// window of up to `PERIOD` bytes is one slice.
#[derive(Debug)]
pub(crate) struct Pattern(Vec<u8>);

impl Pattern {
    pub(crate) fn new() -> Self {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut v: Vec<u8> = (0..PERIOD / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect();
        v.extend_from_within(..);
        Self(v)
    }

    /// Up to `max` bytes of the stream starting at offset `off`.
    pub(crate) fn at(&self, off: u64, max: u64) -> &[u8] {
        let start = (off % PERIOD as u64) as usize;
        let len = max.min(PERIOD as u64) as usize;
        &self.0[start..start + len]
    }

    /// The hash of the first `total` bytes of the stream.
    pub(crate) fn hash(&self, total: u64) -> u64 {
        let mut h = Xxh3::new();
        let mut off = 0;
        while off < total {
            let s = self.at(off, total - off);
            h.update(s);
            off += s.len() as u64;
        }
        h.digest()
    }
}

/// The receiving application's checker.
pub(crate) struct Sink {
    hasher: Xxh3,
    pub(crate) received: u64,
    /// Time spent hashing (left out of the results).
    pub(crate) hashing: Duration,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("received", &self.received)
            .finish()
    }
}

impl Sink {
    pub(crate) fn new() -> Self {
        Self {
            hasher: Xxh3::new(),
            received: 0,
            hashing: Duration::ZERO,
        }
    }

    pub(crate) fn take(&mut self, data: &[u8]) {
        let t = Instant::now();
        self.hasher.update(data);
        self.hashing += t.elapsed();
        self.received += data.len() as u64;
    }

    pub(crate) fn digest(&self) -> u64 {
        self.hasher.digest()
    }
}

/// One measured transfer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    /// Allocations per data segment.
    pub(crate) allocs_per_seg: f64,
    /// ACK packets per data packet.
    pub(crate) acks_per_seg: f64,
}

impl Sample {
    fn bits_per_sec(&self, bytes: u64) -> f64 {
        bytes as f64 * 8.0 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// One transfer's parameters, shared by every rep of a case.
pub(crate) struct Case<'a> {
    pub(crate) mtu: usize,
    pub(crate) total: u64,
    /// Send and receive buffer of both rivals.
    pub(crate) buffer: usize,
    pub(crate) pattern: &'a Pattern,
    /// `pattern.hash(total)`.
    pub(crate) expect: u64,
}

impl Case<'_> {
    /// Checks that the sink got exactly the bytes sent.
    pub(crate) fn verify(&self, sink: &Sink) -> Result<(), RunError> {
        if sink.digest() != self.expect || sink.received != self.total {
            return Err(format!(
                "data mismatch: {} of {} bytes, hash {:x} != {:x}",
                sink.received,
                self.total,
                sink.digest(),
                self.expect
            ));
        }
        Ok(())
    }
}

/// Measures the timed part of a transfer: `run` returns the sink when done.
/// Returns the sample and the allocations made.
fn measure(
    case: &Case<'_>,
    run: impl FnOnce() -> Result<Sink, RunError>,
) -> Result<(Sample, u64), RunError> {
    let (t0, c0, a0) = (Instant::now(), cpu_time(), allocations());
    let sink = run()?;
    let (wall, cpu, allocs) = (t0.elapsed(), cpu_time(), allocations() - a0);
    case.verify(&sink)?;
    let sample = Sample {
        wall: wall.saturating_sub(sink.hashing),
        cpu: cpu.saturating_sub(c0).saturating_sub(sink.hashing),
        allocs_per_seg: 0.0,
        acks_per_seg: 0.0,
    };
    Ok((sample, allocs))
}

/// Adds the per-segment figures: `before` holds the pipes' packet counts at the start.
fn finish(m: (Sample, u64), before: (u64, u64), links: &(Pipe, Pipe)) -> Sample {
    let (mut s, allocs) = m;
    let data = (links.0.sent - before.0).max(1) as f64;
    s.allocs_per_seg = allocs as f64 / data;
    s.acks_per_seg = (links.1.sent - before.1) as f64 / data;
    s
}

// ---- synack ----

pub(crate) fn synack_config(seed: u64, mtu: usize, buffer: usize) -> StackConfig {
    let mut c = StackConfig::from_seed(seed);
    c.tcp.mss = u16::try_from(mtu - 40).unwrap_or(u16::MAX);
    c.tcp.send_buffer = buffer;
    c.tcp.recv_buffer = buffer;
    c.tcp.auto_tune = false;
    c
}

/// The bulk application on two synack hosts: A sends `case.total` bytes of the
/// pattern and closes, B accepts and hashes what it reads.
pub(crate) struct SynBulk<'a> {
    case: &'a Case<'a>,
    pub(crate) client: SocketHandle,
    listener: SocketHandle,
    server: Option<SocketHandle>,
    sent: u64,
    closed: bool,
    pub(crate) sink: Sink,
    /// Handshake only: done once both ends are up.
    pub(crate) handshake: bool,
}

impl App<SynSide, SynSide> for SynBulk<'_> {
    fn on_a(&mut self, a: &mut SynSide) -> Result<bool, RunError> {
        if self.handshake {
            return Ok(false);
        }
        let mut acted = false;
        while self.sent < self.case.total {
            let chunk = self.case.pattern.at(self.sent, self.case.total - self.sent);
            match a.stack.send(self.client, chunk) {
                Ok(n) if n > 0 => {
                    self.sent += n as u64;
                    acted = true;
                }
                Ok(_) | Err(synack::SendError::WouldBlock) => break,
                Err(e) => return Err(format!("synack send: {e:?}")),
            }
        }
        if self.sent == self.case.total && !self.closed {
            a.stack.close(self.client).map_err(|e| format!("{e:?}"))?;
            self.closed = true;
            acted = true;
        }
        Ok(acted)
    }

    fn on_b(&mut self, b: &mut SynSide) -> Result<bool, RunError> {
        let Some(s) = self.server else {
            self.server = b.stack.accept(self.listener).ok();
            return Ok(self.server.is_some());
        };
        let mut acted = false;
        let sink = &mut self.sink;
        loop {
            // Every run of data that has arrived (kept packets one by one, the
            // ring's pieces), in one call.
            let read = b.stack.recv_each(s, |data| {
                sink.take(data);
                data.len()
            });
            match read {
                Ok(0) | Err(synack::RecvError::WouldBlock) => return Ok(acted),
                Ok(_) => acted = true,
                Err(e) => return Err(format!("synack recv: {e:?}")),
            }
        }
    }

    fn done(&self) -> bool {
        if self.handshake {
            self.server.is_some()
        } else {
            self.sink.received >= self.case.total
        }
    }
}

/// Two synack hosts configured by `config(seed)` (seeds 1 and 2), B listening and
/// A connecting, and the bulk application in its handshake phase.
pub(crate) fn synack_pair<'a>(
    case: &'a Case<'a>,
    config: impl Fn(u64) -> StackConfig,
) -> Result<(SynSide, SynSide, SynBulk<'a>), RunError> {
    let (a_ip, b_ip) = (IpAddr::V4(A_IP), IpAddr::V4(B_IP));
    let mut a = SynSide::new(config(1), &[a_ip]);
    let mut b = SynSide::new(config(2), &[b_ip]);
    let listener = b
        .stack
        .listen(SocketAddr::new(b_ip, PORT), 16)
        .map_err(|e| format!("{e:?}"))?;
    let client = a
        .stack
        .connect(SocketAddr::new(b_ip, PORT), None)
        .map_err(|e| format!("{e:?}"))?;
    let app = SynBulk {
        case,
        client,
        listener,
        server: None,
        sent: 0,
        closed: false,
        sink: Sink::new(),
        handshake: true,
    };
    Ok((a, b, app))
}

fn synack_run(case: &Case<'_>) -> Result<Sample, RunError> {
    let (mut a, mut b, mut app) =
        synack_pair(case, |seed| synack_config(seed, case.mtu, case.buffer))?;
    let client = app.client;
    let mut links = (Pipe::new(case.mtu), Pipe::new(case.mtu));
    let mut clock = Clock::default();
    drive(&mut a, &mut b, &mut links, &mut clock, &mut app)?;
    check_established(&a.stack, client)?;
    app.handshake = false;
    let before = (links.0.sent, links.1.sent);
    let m = measure(case, || {
        drive(&mut a, &mut b, &mut links, &mut clock, &mut app)?;
        Ok(std::mem::replace(&mut app.sink, Sink::new()))
    })?;
    Ok(finish(m, before, &links))
}

pub(crate) fn check_established(stack: &Stack, h: SocketHandle) -> Result<(), RunError> {
    match stack.state(h) {
        Some(State::Established) => Ok(()),
        s => Err(format!("handshake ended in {s:?}")),
    }
}

// ---- smoltcp ----

pub(crate) fn smol_socket(buffer: usize) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; buffer]),
        tcp::SocketBuffer::new(vec![0; buffer]),
    );
    s.set_congestion_control(tcp::CongestionControl::Cubic);
    s
}

/// The bulk application on two smoltcp hosts (as [`SynBulk`]).
pub(crate) struct SmolBulk<'a> {
    case: &'a Case<'a>,
    client: smoltcp::iface::SocketHandle,
    server: smoltcp::iface::SocketHandle,
    sent: u64,
    closed: bool,
    pub(crate) sink: Sink,
    pub(crate) handshake: bool,
    up: bool,
}

impl App<SmolSide, SmolSide> for SmolBulk<'_> {
    fn on_a(&mut self, a: &mut SmolSide) -> Result<bool, RunError> {
        let s = a.sockets.get_mut::<tcp::Socket>(self.client);
        if self.handshake {
            return Ok(false);
        }
        let mut acted = false;
        while self.sent < self.case.total && s.can_send() {
            let chunk = self.case.pattern.at(self.sent, self.case.total - self.sent);
            let n = s
                .send_slice(chunk)
                .map_err(|e| format!("smoltcp send: {e:?}"))?;
            if n == 0 {
                break;
            }
            self.sent += n as u64;
            acted = true;
        }
        if self.sent == self.case.total && !self.closed {
            s.close();
            self.closed = true;
            acted = true;
        }
        Ok(acted)
    }

    fn on_b(&mut self, b: &mut SmolSide) -> Result<bool, RunError> {
        let s = b.sockets.get_mut::<tcp::Socket>(self.server);
        self.up = s.state() == tcp::State::Established;
        let mut acted = false;
        let sink = &mut self.sink;
        while s.can_recv() {
            s.recv(|data| {
                sink.take(data);
                (data.len(), ())
            })
            .map_err(|e| format!("smoltcp recv: {e:?}"))?;
            acted = true;
        }
        Ok(acted)
    }

    fn done(&self) -> bool {
        if self.handshake {
            self.up
        } else {
            self.sink.received >= self.case.total
        }
    }
}

/// Two smoltcp hosts (seeds 1 and 2) with sockets of `case.buffer` bytes using
/// `cc`, B listening and A connecting, and the bulk application in its handshake
/// phase.
pub(crate) fn smoltcp_pair<'a>(
    case: &'a Case<'a>,
    cc: tcp::CongestionControl,
) -> Result<(SmolSide, SmolSide, SmolBulk<'a>), RunError> {
    let mut a = SmolSide::new(A_IP, case.mtu, 1);
    let mut b = SmolSide::new(B_IP, case.mtu, 2);
    let mut client_sock = smol_socket(case.buffer);
    client_sock.set_congestion_control(cc);
    let client = a.sockets.add(client_sock);
    let mut server_sock = smol_socket(case.buffer);
    server_sock.set_congestion_control(cc);
    server_sock.listen(PORT).map_err(|e| format!("{e:?}"))?;
    let server = b.sockets.add(server_sock);
    let o = B_IP.octets();
    let remote = (smoltcp::wire::IpAddress::v4(o[0], o[1], o[2], o[3]), PORT);
    let cx = a.iface.context();
    a.sockets
        .get_mut::<tcp::Socket>(client)
        .connect(cx, remote, 49152)
        .map_err(|e| format!("{e:?}"))?;
    let app = SmolBulk {
        case,
        client,
        server,
        sent: 0,
        closed: false,
        sink: Sink::new(),
        handshake: true,
        up: false,
    };
    Ok((a, b, app))
}

fn smoltcp_run(case: &Case<'_>) -> Result<Sample, RunError> {
    let (mut a, mut b, mut app) = smoltcp_pair(case, tcp::CongestionControl::Cubic)?;
    let mut links = (Pipe::new(case.mtu), Pipe::new(case.mtu));
    let mut clock = Clock::default();
    drive(&mut a, &mut b, &mut links, &mut clock, &mut app)?;
    app.handshake = false;
    let before = (links.0.sent, links.1.sent);
    let m = measure(case, || {
        drive(&mut a, &mut b, &mut links, &mut clock, &mut app)?;
        Ok(std::mem::replace(&mut app.sink, Sink::new()))
    })?;
    Ok(finish(m, before, &links))
}

// ---- rows ----

pub(crate) fn rows(opts: &BenchOptions, rivals: bool, with_linux: bool) -> Vec<Row> {
    let pattern = Pattern::new();
    let t = Instant::now();
    let expect = pattern.hash(opts.bulk_bytes);
    let hash_time = t.elapsed();
    let mut rows = Vec::new();
    for &mtu in &opts.mtus {
        let buffer = opts.bulk_buffer.unwrap_or((256 << 10).max(16 * (mtu - 40)));
        let case = Case {
            mtu,
            total: opts.bulk_bytes,
            buffer,
            pattern: &pattern,
            expect,
        };
        let (mut syn, mut smol, mut notes) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..if rivals { opts.reps.max(1) } else { 0 } {
            progress(opts, &format!("bulk mtu{mtu} rep {rep}"));
            if opts.synack {
                match synack_run(&case) {
                    Ok(s) => syn.push(s),
                    Err(e) => notes.push(format!("synack failed: {e}")),
                }
            }
            if opts.smoltcp {
                match smoltcp_run(&case) {
                    Ok(s) => smol.push(s),
                    Err(e) => notes.push(format!("smoltcp failed: {e}")),
                }
            }
        }
        // Linux loopback has its own MTU (65536 on lo): it fills the jumbo row only.
        let lin = (with_linux && mtu > 9000)
            .then(|| linux::bulk(opts, &pattern, expect, hash_time))
            .flatten();
        let mut goodput = Row::new("bulk", format!("mtu{mtu}"), "bit/s");
        goodput.synack = median(syn.iter().map(|s| s.bits_per_sec(case.total)).collect());
        goodput.smoltcp = median(smol.iter().map(|s| s.bits_per_sec(case.total)).collect());
        goodput.linux = lin.map(|s| s.bits_per_sec(case.total));
        let detail = |v: &[Sample]| {
            let a = median(v.iter().map(|s| s.allocs_per_seg).collect()).unwrap_or(0.0);
            let k = median(v.iter().map(|s| s.acks_per_seg).collect()).unwrap_or(0.0);
            format!("{a:.3} allocs/seg, {k:.2} acks/seg")
        };
        if rivals {
            notes.push(format!(
                "buffers {} KiB; synack {}; smoltcp {}",
                buffer >> 10,
                detail(&syn),
                detail(&smol)
            ));
        }
        goodput.note = Some(notes.join("; "));
        rows.push(goodput.with_ratio(false));
        let mut cpu = Row::new("bulk", format!("mtu{mtu}-cpu"), "cpu-s");
        cpu.synack = median(syn.iter().map(|s| s.cpu.as_secs_f64()).collect());
        cpu.smoltcp = median(smol.iter().map(|s| s.cpu.as_secs_f64()).collect());
        cpu.linux = lin.map(|s| s.cpu.as_secs_f64());
        cpu.note = Some(format!(
            "CPU seconds for {} MiB (lower is better; ratio smoltcp/synack)",
            case.total >> 20
        ));
        rows.push(cpu.with_ratio(true));
    }
    rows
}
