//! The control socket: a running [`Interface`](crate::Interface) can expose its socket table on a
//! Unix socket, so that `synack ss` (or [`query`]) lists the sockets of every
//! running synack, like `ss -tni` lists the kernel's.
//!
//! The protocol is one-shot: a client connects, the server writes one JSON object
//! per socket ([`SocketRecord`]) per line, then one line with the instance's
//! counters (`{"interface":..,"counters":[[name,value],..]}`), and closes. Instances put their
//! sockets in one directory ([`DEFAULT_DIR`]) so that [`instances`] finds them.
//! Unix sockets live in the file system, so this works across network namespaces.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::driver::Shared;

/// Where instances put their control sockets by default: `DEFAULT_DIR/<tun>.sock`.
pub const DEFAULT_DIR: &str = "/run/synack";

/// One socket of a running synack, as the control socket reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketRecord {
    /// The TUN device of the instance.
    pub interface: String,
    /// The state, spelled as RFC 9293 does (`ESTABLISHED`, `FIN-WAIT-2`, ...).
    pub state: String,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address (none for a listener).
    pub remote: Option<SocketAddr>,
    /// Bytes received not yet read; for a listener, connections waiting to be accepted.
    pub recv_queue: usize,
    /// Bytes queued not yet acknowledged; for a listener, the accept queue's bound.
    pub send_queue: usize,
    /// Smoothed RTT in microseconds, once measured.
    pub rtt_us: Option<u64>,
    /// RTT variation in microseconds.
    pub rttvar_us: Option<u64>,
    /// Retransmission timeout in microseconds.
    pub rto_us: Option<u64>,
    /// Send MSS.
    pub mss: Option<u16>,
    /// Congestion window in bytes.
    pub cwnd: Option<usize>,
    /// Slow-start threshold in bytes (`usize::MAX` until the first loss).
    pub ssthresh: Option<usize>,
    /// Bytes in flight.
    pub unacked: Option<usize>,
    /// Segments retransmitted.
    pub retransmits: Option<u64>,
    /// Bytes the peer acknowledged.
    pub bytes_acked: Option<u64>,
    /// Bytes received.
    pub bytes_received: Option<u64>,
    /// Segments sent.
    #[serde(default)]
    pub segs_out: Option<u64>,
    /// Segments received.
    #[serde(default)]
    pub segs_in: Option<u64>,
    /// The peer's (scaled) window.
    #[serde(default)]
    pub snd_wnd: Option<u32>,
    /// Our receive window.
    #[serde(default)]
    pub rcv_wnd: Option<u32>,
    /// Congestion control in use.
    #[serde(default)]
    pub congestion: Option<String>,
}

/// Everything an instance reports: its sockets and its stack's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceReport {
    /// The TUN device of the instance.
    pub interface: String,
    /// Every socket.
    pub sockets: Vec<SocketRecord>,
    /// The stack's counters ([`synack::Counters::iter`]) then the interface's
    /// packet counters, by name.
    pub counters: Vec<(String, u64)>,
}

/// A line of an answer (the counters line has a `counters` field, a socket none).
#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Counters(CounterLine),
    Socket(Box<SocketRecord>),
}

/// The last line of an answer: the instance's counters.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CounterLine {
    interface: String,
    counters: Vec<(String, u64)>,
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Every socket of the stack behind `shared`, with connection details.
pub(crate) fn records(shared: &Shared, interface: &str) -> Vec<SocketRecord> {
    let g = shared.lock();
    g.stack
        .sockets()
        .into_iter()
        .map(|s| {
            let info = s.handle.and_then(|h| g.stack.info(h));
            SocketRecord {
                interface: interface.to_owned(),
                state: s.state.name().to_owned(),
                local: s.local,
                remote: s.remote,
                recv_queue: s.recv_queue,
                send_queue: s.send_queue,
                rtt_us: info.and_then(|i| i.srtt).map(micros),
                rttvar_us: info.and_then(|i| i.rttvar).map(micros),
                rto_us: info.map(|i| micros(i.rto)),
                mss: info.map(|i| i.mss),
                cwnd: info.map(|i| i.cwnd),
                ssthresh: info.map(|i| i.ssthresh),
                unacked: info.map(|i| i.unacked),
                retransmits: info.map(|i| i.retransmits),
                bytes_acked: info.map(|i| i.bytes_acked),
                bytes_received: info.map(|i| i.bytes_received),
                segs_out: info.map(|i| i.segs_out),
                segs_in: info.map(|i| i.segs_in),
                snd_wnd: info.map(|i| i.snd_wnd),
                rcv_wnd: info.map(|i| i.rcv_wnd),
                congestion: info.map(|i| i.congestion.to_owned()),
            }
        })
        .collect()
}

/// Binds the control socket at `path` (replacing a stale one) and serves it until
/// the task is aborted.
pub(crate) fn start(
    shared: Arc<Shared>,
    interface: String,
    path: &Path,
) -> io::Result<tokio::task::JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket file left by an instance that died: nobody answers on it.
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    Ok(tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let lines = records(&shared, &interface);
            let counters = CounterLine {
                interface: interface.clone(),
                counters: counters(&shared),
            };
            tokio::spawn(async move {
                let _ = answer(conn, &lines, &counters).await;
            });
        }
    }))
}

/// The stack's counters, then the packet I/O's.
fn counters(shared: &Shared) -> Vec<(String, u64)> {
    let g = shared.lock();
    let mut out: Vec<(String, u64)> = g
        .stack
        .counters()
        .iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let s = g.stats;
    out.extend([
        ("tun_rx_packets".to_owned(), s.rx_packets),
        ("tun_tx_packets".to_owned(), s.tx_packets),
        ("tun_rx_errors".to_owned(), s.rx_errors),
        ("tun_tx_dropped".to_owned(), s.tx_dropped),
        ("icmp_echo_replies".to_owned(), s.icmp_echo_replies),
    ]);
    out
}

async fn answer(
    mut conn: UnixStream,
    lines: &[SocketRecord],
    counters: &CounterLine,
) -> io::Result<()> {
    let mut out = Vec::new();
    for r in lines {
        serde_json::to_writer(&mut out, r).map_err(io::Error::other)?;
        out.push(b'\n');
    }
    serde_json::to_writer(&mut out, counters).map_err(io::Error::other)?;
    out.push(b'\n');
    conn.write_all(&out).await?;
    conn.shutdown().await
}

/// Asks the instance behind the control socket at `path` for its sockets.
///
/// # Errors
/// Connecting or reading fails, or a line is not a [`SocketRecord`] (`InvalidData`).
///
/// # Cancel safety
/// Cancel safe: nothing is lost but the answer.
pub async fn query(path: &Path) -> io::Result<Vec<SocketRecord>> {
    Ok(query_instance(path).await?.sockets)
}

/// Asks the instance behind the control socket at `path` for its sockets and
/// counters.
///
/// # Errors
/// Connecting or reading fails, or a line is neither a [`SocketRecord`] nor the
/// counters line (`InvalidData`).
///
/// # Cancel safety
/// Cancel safe: nothing is lost but the answer.
pub async fn query_instance(path: &Path) -> io::Result<InstanceReport> {
    let conn = UnixStream::connect(path).await?;
    let mut lines = BufReader::new(conn).lines();
    let mut out = InstanceReport::default();
    while let Some(line) = lines.next_line().await? {
        match serde_json::from_str(&line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            Line::Counters(c) => {
                out.interface = c.interface;
                out.counters = c.counters;
            }
            Line::Socket(r) => {
                out.interface.clone_from(&r.interface);
                out.sockets.push(*r);
            }
        }
    }
    Ok(out)
}

/// The control sockets (`*.sock`) in `dir`, sorted: one per running instance
/// (or left behind by one that died; [`query`] then fails to connect).
///
/// # Errors
/// Reading the directory fails (a missing directory is no instance, not an error).
pub fn instances(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "sock") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}
