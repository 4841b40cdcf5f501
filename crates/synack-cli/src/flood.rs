//! `synack sim syn-flood`: a flood of spoofed SYNs against a listener while
//! legitimate clients connect and transfer, in virtual time.
//!
//! Three hosts: the server (10.0.0.2, listening on port 80 with the default
//! configuration: SYN cookies when the SYN queue is full), a client host
//! (10.0.0.1) that opens `--clients` connections, each sending `--bytes` of a
//! position-dependent pattern that the server checks byte by byte, and an
//! attacker (198.18.0.1, RFC 2544's benchmark range) that sends `--syns` SYNs
//! with random spoofed sources in 198.18.0.0/15 over `--duration`. The server's
//! SYN,ACKs to the spoofed sources go nowhere (counted by the simulator as
//! unroutable), as on the internet.
//!
//! Reported: the flood, the server's counters (cookies sent / validated /
//! failed, SYN-queue drops), every client transfer's fate, and the peak of the
//! server's own accounting (connections, half-open, buffered bytes) and of the
//! process's resident memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Args;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Serialize;
use synack::wire::{self, TcpFlags, TcpHeader, TcpOptions, Timestamps};
use synack::{Instant, SeqNum, Shutdown, SocketHandle, Stack, StackConfig, State, TcpConfig};
use synack_sim::harness::pattern_byte;
use synack_sim::{Direction, Endpoint, HostId, LinkConfig, Sim};

use crate::sim::{drop_map, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::units::{format_bytes, format_duration, parse_duration, parse_size};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));

/// `synack sim syn-flood [OPTIONS]`.
#[derive(Debug, Clone, Args)]
pub struct FloodArgs {
    /// Spoofed SYNs to send.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub syns: u64,
    /// Over how long (virtual time) the SYNs are spread.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Legitimate client connections, started evenly during the flood.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    pub clients: u64,
    /// Bytes each client sends (checked byte by byte by the server).
    #[arg(long, value_name = "N", value_parser = parse_size, default_value = "64KiB")]
    pub bytes: u64,
    /// The listener's backlog (its SYN and accept queues).
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub backlog: usize,
    /// Seed of every random choice.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON object (the summary) on stdout and nothing else.
    #[arg(long)]
    pub json: bool,
}

/// What `synack sim syn-flood` found.
#[derive(Clone, Debug, Serialize)]
pub struct FloodSummary {
    /// Whether every client transfer arrived intact and cookies engaged.
    pub ok: bool,
    /// Seed of the run.
    pub seed: u64,
    /// Spoofed SYNs sent by the attacker.
    pub syns_sent: u64,
    /// Spoofed SYNs the server received.
    pub syns_received: u64,
    /// Packets the server sent to spoofed sources (dropped: no route).
    pub replies_to_nowhere: u64,
    /// Client connections attempted.
    pub clients: u64,
    /// Client connections whose data arrived in full and intact.
    pub intact: u64,
    /// Bytes each client sent.
    pub bytes_per_client: u64,
    /// When the last client transfer finished, virtual µs.
    pub last_done_us: u64,
    /// Peak connections in the server's table.
    pub peak_connections: usize,
    /// Peak half-open connections at the server.
    pub peak_half_open: usize,
    /// Peak bytes buffered by the server's connections (its own accounting).
    pub peak_buffer_bytes: usize,
    /// The process's peak resident set (VmHWM), if the OS tells.
    pub peak_rss_bytes: Option<u64>,
    /// Wall-clock time of the run, µs.
    pub wall_us: u64,
    /// Server counters of interest.
    pub server: BTreeMap<&'static str, u64>,
    /// The server's drop and limit counters that moved.
    pub server_drops: BTreeMap<&'static str, u64>,
}

/// The attacker: SYNs from random sources, evenly spaced, swallowing replies.
#[derive(Debug)]
struct Flooder {
    rng: ChaCha8Rng,
    left: u64,
    sent: u64,
    next_at: Instant,
    /// Time between SYNs in picoseconds.
    gap_ps: u64,
    /// Fractional microseconds (in ps) carried between gaps.
    acc: u64,
}

impl Flooder {
    fn syn(&mut self, buf: &mut [u8]) -> Option<usize> {
        let r = self.rng.next_u64();
        // 198.18.0.0/15, never .0.1 (the attacker's own address).
        let host = 2 + (r as u32 % ((1 << 17) - 2));
        let src = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + host);
        let hdr = TcpHeader {
            src_port: 1024 + ((r >> 32) as u16 % 64_000),
            dst_port: 80,
            seq: SeqNum(self.rng.next_u32()),
            flags: TcpFlags::SYN,
            window: 65_535,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some(Timestamps {
                    val: self.rng.next_u32(),
                    ecr: 0,
                }),
                ..TcpOptions::default()
            },
            ..TcpHeader::default()
        };
        wire::emit(IpAddr::V4(src), SERVER, 64, &hdr, &[], buf).ok()
    }
}

/// A host of the flood world.
#[derive(Debug)]
enum Host {
    Stack(Box<Stack>),
    Flooder(Box<Flooder>),
}

impl Endpoint for Host {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        if let Self::Stack(s) = self {
            s.handle_packet(now, packet);
        }
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self {
            Self::Stack(s) => s.poll_transmit(now, buf),
            Self::Flooder(f) => {
                if f.left == 0 || now < f.next_at {
                    return None;
                }
                f.left -= 1;
                f.sent += 1;
                f.acc += f.gap_ps;
                let step = f.acc / 1_000_000;
                f.acc %= 1_000_000;
                f.next_at += Duration::from_micros(step);
                f.syn(buf)
            }
        }
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Self::Stack(s) => s.poll_timeout(),
            Self::Flooder(f) => (f.left > 0).then_some(f.next_at),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        if let Self::Stack(s) = self {
            s.handle_timeout(now);
        }
    }
}

fn stack(sim: &mut Sim<Host>, id: HostId) -> &mut Stack {
    match sim.host_mut(id) {
        Host::Stack(s) => s,
        Host::Flooder(_) => unreachable!("host {id} is a stack"),
    }
}

fn stack_ref(sim: &Sim<Host>, id: HostId) -> &Stack {
    match sim.host(id) {
        Host::Stack(s) => s,
        Host::Flooder(_) => unreachable!("host {id} is a stack"),
    }
}

/// One legitimate client connection.
#[derive(Debug, Default)]
struct Client {
    start: Duration,
    handle: Option<SocketHandle>,
    sent: u64,
    shut: bool,
    failed: bool,
}

/// The server's side of one accepted connection.
#[derive(Debug)]
struct Accepted {
    handle: SocketHandle,
    got: u64,
    intact: bool,
    eof: bool,
}

/// Peak resident set of this process, from /proc (Linux); None elsewhere.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs the flood; returns the summary, or a message for exit status 2.
///
/// # Errors
/// An impossible set-up (a configuration the stack rejects).
pub fn simulate(a: &FloodArgs) -> Result<FloodSummary, String> {
    let wall = std::time::Instant::now();
    let mut sim: Sim<Host> = Sim::new(a.seed);
    sim.set_record(false);
    let cfg = |seed: u64| StackConfig {
        tcp: TcpConfig::default(),
        ..StackConfig::from_seed(seed)
    };
    let server = Stack::new(cfg(a.seed ^ 0x5e), &[SERVER]).map_err(|e| e.to_string())?;
    let client = Stack::new(cfg(a.seed ^ 0xc1), &[CLIENT]).map_err(|e| e.to_string())?;
    let s = sim.add_host("server", Host::Stack(Box::new(server)), &[SERVER]);
    let c = sim.add_host("client", Host::Stack(Box::new(client)), &[CLIENT]);
    let gap_ps =
        u64::try_from(a.duration.as_nanos() * 1000 / u128::from(a.syns.max(1))).unwrap_or(u64::MAX);
    let flooder = Flooder {
        rng: ChaCha8Rng::seed_from_u64(a.seed ^ 0xf100d),
        left: a.syns,
        sent: 0,
        next_at: Instant::ZERO + Duration::from_millis(100),
        gap_ps,
        acc: 0,
    };
    let f = sim.add_host("attacker", Host::Flooder(Box::new(flooder)), &[ATTACKER]);
    let link = LinkConfig::default().delay(Duration::from_millis(10));
    sim.connect(c, s, link.clone(), link.clone());
    let flood_link = sim.connect(
        f,
        s,
        LinkConfig::default().delay(Duration::from_millis(5)),
        link,
    );
    let listener = stack(&mut sim, s)
        .listen(SocketAddr::new(SERVER, 80), a.backlog)
        .map_err(|e| format!("listen: {e}"))?;

    let n = usize::try_from(a.clients).unwrap_or(usize::MAX);
    let flood_start = Duration::from_millis(100);
    let mut clients: Vec<Client> = (0..n)
        .map(|i| Client {
            start: flood_start + a.duration.mul_f64(i as f64 / n as f64),
            ..Client::default()
        })
        .collect();
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut rbuf = vec![0u8; 64 * 1024];
    let limit = Instant::ZERO + flood_start + a.duration + Duration::from_secs(300);
    // Every SYN has arrived by then.
    let flood_end = Instant::ZERO + flood_start + a.duration + Duration::from_millis(100);
    let (mut peak_conns, mut peak_half) = (0usize, 0usize);
    let mut last_done = Instant::ZERO;
    loop {
        let now = sim.now();
        // Clients: connect on schedule, send, shut down writing.
        for cl in clients.iter_mut() {
            if cl.failed {
                continue;
            }
            let st = stack(&mut sim, c);
            match cl.handle {
                None if now >= Instant::ZERO + cl.start => {
                    match st.connect(SocketAddr::new(SERVER, 80), None) {
                        Ok(h) => cl.handle = Some(h),
                        Err(_) => cl.failed = true,
                    }
                }
                Some(h) if st.state(h) == Some(State::Closed) && st.error(h).is_some() => {
                    cl.failed = true;
                }
                Some(h) if cl.sent < a.bytes => {
                    let cap = st.send_capacity(h);
                    if cap > 0 && matches!(st.state(h), Some(State::Established)) {
                        let k = cap.min(chunk.len()).min((a.bytes - cl.sent) as usize);
                        for (j, b) in chunk[..k].iter_mut().enumerate() {
                            *b = pattern_byte(cl.sent + j as u64);
                        }
                        if let Ok(m) = st.send(h, &chunk[..k]) {
                            cl.sent += m as u64;
                        }
                    }
                }
                Some(h) if !cl.shut => {
                    let _ = st.shutdown(h, Shutdown::Write);
                    cl.shut = true;
                }
                _ => {}
            }
        }
        // Server: accept, read and check, close at end of stream.
        let st = stack(&mut sim, s);
        while let Ok(h) = st.accept(listener) {
            accepted.push(Accepted {
                handle: h,
                got: 0,
                intact: true,
                eof: false,
            });
        }
        for acc in accepted.iter_mut().filter(|x| !x.eof) {
            loop {
                match st.recv(acc.handle, &mut rbuf) {
                    Ok(0) => {
                        acc.eof = true;
                        let _ = st.close(acc.handle);
                        if acc.got == a.bytes && acc.intact {
                            last_done = now;
                        }
                        break;
                    }
                    Ok(m) => {
                        for (j, &b) in rbuf[..m].iter().enumerate() {
                            if b != pattern_byte(acc.got + j as u64) {
                                acc.intact = false;
                            }
                        }
                        acc.got += m as u64;
                    }
                    Err(_) => break,
                }
            }
        }
        let u = st.usage();
        peak_conns = peak_conns.max(u.connections);
        peak_half = peak_half.max(u.half_open);
        let all_settled = clients.iter().all(|cl| cl.failed || cl.shut)
            && accepted.iter().filter(|x| x.eof).count()
                + clients.iter().filter(|x| x.failed).count()
                >= n;
        let flood_done = match sim.host(f) {
            Host::Flooder(fl) => fl.left == 0,
            Host::Stack(_) => true,
        };
        if (all_settled && flood_done && sim.now() >= flood_end) || sim.now() > limit {
            break;
        }
        // The next client start is an event too: jump to it if nothing comes first.
        let next_start = clients
            .iter()
            .filter(|cl| cl.handle.is_none() && !cl.failed)
            .map(|cl| Instant::ZERO + cl.start)
            .min();
        match (sim.next_event_time(), next_start) {
            (Some(t), Some(st)) if st < t => {
                if sim.run_until(st).is_err() {
                    break;
                }
            }
            (None, Some(st)) => {
                if sim.run_until(st).is_err() {
                    break;
                }
            }
            (None, None) => {
                if sim.run_until(flood_end.max(sim.now())).is_err() || sim.now() >= flood_end {
                    break;
                }
            }
            _ => {
                sim.step();
            }
        }
    }
    let sc = stack_ref(&sim, s).counters().clone();
    let syns_sent = match sim.host(f) {
        Host::Flooder(fl) => fl.sent,
        Host::Stack(_) => 0,
    };
    let intact = accepted
        .iter()
        .filter(|x| x.eof && x.intact && x.got == a.bytes)
        .count() as u64;
    let mut server = BTreeMap::new();
    for (k, v) in sc.iter() {
        if matches!(
            k,
            "syncookies_sent"
                | "syncookies_ok"
                | "syncookies_failed"
                | "passive_opens"
                | "established"
                | "drop_syn_queue_full"
                | "drop_accept_queue_full"
                | "segments_in"
                | "segments_out"
                | "rst_sent"
        ) {
            server.insert(k, v);
        }
    }
    let usage = stack_ref(&sim, s).usage();
    let ok = intact == a.clients && (sc.syncookies_sent > 0 || a.syns == 0);
    Ok(FloodSummary {
        ok,
        seed: a.seed,
        syns_sent,
        syns_received: sim.link_stats(flood_link, Direction::AtoB).delivered,
        replies_to_nowhere: sim.stats().no_route,
        clients: a.clients,
        intact,
        bytes_per_client: a.bytes,
        last_done_us: last_done.micros(),
        peak_connections: peak_conns,
        peak_half_open: peak_half,
        peak_buffer_bytes: usage.buffer_bytes_peak,
        peak_rss_bytes: peak_rss(),
        wall_us: u64::try_from(wall.elapsed().as_micros()).unwrap_or(u64::MAX),
        server,
        server_drops: drop_map(stack_ref(&sim, s)),
    })
}

/// Renders the summary for people.
pub fn render(a: &FloodArgs, r: &FloodSummary) -> String {
    let mut o = String::new();
    let verdict = if r.ok { "ok" } else { "FAILED" };
    let _ = writeln!(o, "syn-flood (seed {}): {verdict}", r.seed);
    let _ = writeln!(
        o,
        "  flood            {} spoofed SYNs over {} from 198.18.0.0/15 ({:.0}/s); {} replies went nowhere",
        r.syns_sent,
        format_duration(a.duration),
        r.syns_sent as f64 / a.duration.as_secs_f64().max(1e-9),
        r.replies_to_nowhere
    );
    let g = |k: &str| r.server.get(k).copied().unwrap_or(0);
    let _ = writeln!(
        o,
        "  cookies          {} sent, {} validated, {} failed (SYN queue: backlog {}, {} SYNs dropped)",
        g("syncookies_sent"),
        g("syncookies_ok"),
        g("syncookies_failed"),
        a.backlog,
        g("drop_syn_queue_full")
    );
    let _ = writeln!(
        o,
        "  clients          {}/{} transfers of {} intact (byte-by-byte), last done at {}",
        r.intact,
        r.clients,
        format_bytes(r.bytes_per_client),
        format_duration(Duration::from_micros(r.last_done_us))
    );
    let _ = writeln!(
        o,
        "  server memory    peak {} connections, {} half-open, {} buffered (the stack's own accounting)",
        r.peak_connections,
        r.peak_half_open,
        format_bytes(r.peak_buffer_bytes as u64)
    );
    let rss = r.peak_rss_bytes.map_or("unknown".to_owned(), format_bytes);
    let _ = writeln!(
        o,
        "  process          peak RSS {rss}, {} of wall time",
        format_duration(Duration::from_micros(r.wall_us))
    );
    let drops: Vec<String> = r
        .server_drops
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let drops = if drops.is_empty() {
        "none".to_owned()
    } else {
        drops.join(", ")
    };
    let _ = writeln!(o, "  drops (server)   {drops}");
    o
}

/// `synack sim syn-flood`: runs, prints, returns the exit status.
pub fn run(a: &FloodArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let r = match simulate(a) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "synack sim syn-flood: {e}");
            return EXIT_USAGE;
        }
    };
    let written = if a.json {
        serde_json::to_writer(&mut *out, &r)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        out.write_all(render(a, &r).as_bytes())
    };
    if written.and_then(|()| out.flush()).is_err() {
        return EXIT_USAGE;
    }
    if r.ok {
        EXIT_OK
    } else {
        let _ = writeln!(
            err,
            "synack sim syn-flood FAILED: {}/{} transfers intact, {} cookies sent\nreplay: synack sim syn-flood --seed {} --syns {} --clients {}",
            r.intact,
            r.clients,
            r.server.get("syncookies_sent").copied().unwrap_or(0),
            a.seed,
            a.syns,
            a.clients
        );
        EXIT_FAILED
    }
}
