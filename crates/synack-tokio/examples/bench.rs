//! Bulk goodput over the TUN device, next to Linux → Linux over a veth pair:
//!
//! ```text
//! cargo run --release -p synack-tokio --example bench -- [--mib N] [--runs R] [--idle K]
//! ```
//!
//! `--idle K` first opens K idle connections from Linux to synack's discard
//! server (K tasks waiting to read) and keeps them open during the transfers: the
//! driver's cost per batch must not grow with the number of waiting sockets.
//!
//! Needs root. Makes its own network namespaces (deleted at the end, also on
//! failure) and runs everything inside them (DESIGN.md §6). The Linux side of every
//! transfer is the same small Python program, so the rows compare like with like.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{stdout_ok, Netns, Ns, KERNEL_V4, SYNACK_V4};
use synack_tokio::apps::{self, App};
use synack_tokio::{Interface, TcpListener, TcpStream};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(600);

/// `idle HOST PORT K`: opens K connections, prints `ready`, holds them until its
/// stdin closes.
/// `send HOST PORT N`: connects, sends N bytes, half-closes, waits for EOF.
/// `sink HOST PORT`: accepts one connection, reads to EOF, closes.
/// Both print `bytes seconds` measured from connect/accept to EOF.
const PY: &str = r#"
import socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "idle":
    import resource
    k = int(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, k + 64)), hard))
    held = [socket.create_connection((host, port), timeout=120) for _ in range(k)]
    print("ready", flush=True)
    sys.stdin.read()
elif mode == "send":
    n = int(sys.argv[4])
    buf = bytes(1 << 20)
    s = socket.create_connection((host, port), timeout=120)
    t = time.perf_counter()
    sent = 0
    while sent < n:
        k = min(len(buf), n - sent)
        s.sendall(buf[:k])
        sent += k
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    print(sent, time.perf_counter() - t, flush=True)
else:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    srv.settimeout(120)
    print("listening", flush=True)
    c, _ = srv.accept()
    c.settimeout(120)
    t = time.perf_counter()
    buf = bytearray(1 << 20)
    got = 0
    while True:
        k = c.recv_into(buf)
        if k == 0:
            break
        got += k
    dt = time.perf_counter() - t
    c.close()
    print(got, dt, flush=True)
"#;

fn parse_result(line: &str) -> (u64, f64) {
    let mut f = line.split_whitespace();
    let n = f.next().and_then(|s| s.parse().ok()).expect("bytes");
    let t = f.next().and_then(|s| s.parse().ok()).expect("seconds");
    (n, t)
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// Linux client → synack discard.
async fn linux_to_synack(ns: &Ns, n: u64) -> f64 {
    let o = ns
        .python(PY, &["send", SYNACK_V4, "9", &n.to_string()], LIMIT)
        .await;
    let (got, t) = parse_result(&stdout_ok(&o));
    assert_eq!(got, n);
    got as f64 / t
}

/// Starts the Python sink on `host:port` inside `ns_name` and waits until it listens.
async fn start_sink(
    ns: &Ns,
    host: &str,
    port: u16,
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    let mut c = ns.command("python3");
    c.args(["-c", PY, "sink", host, &port.to_string()]);
    c.stdout(std::process::Stdio::piped());
    let mut child = c.spawn().expect("python");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("listening")
    );
    (child, lines)
}

/// synack client → Linux sink.
async fn synack_to_linux(ns: &Ns, iface: &Interface, n: u64, port: u16) -> f64 {
    let (mut child, mut lines) = start_sink(ns, KERNEL_V4, port).await;
    let mut s = TcpStream::connect(iface, addr(KERNEL_V4, port))
        .await
        .expect("connect");
    let buf = vec![0u8; 1 << 20];
    let mut sent = 0u64;
    while sent < n {
        let k = usize::try_from(n - sent).map_or(buf.len(), |r| r.min(buf.len()));
        s.write_all(&buf[..k]).await.expect("write");
        sent += k as u64;
    }
    s.shutdown().await.unwrap();
    let _ = s.read(&mut [0u8; 1]).await;
    let (got, t) = parse_result(&lines.next_line().await.unwrap().expect("result"));
    let _ = child.wait().await;
    assert_eq!(got, n);
    got as f64 / t
}

/// Linux → Linux over a veth pair between `ns` and a second namespace.
async fn linux_to_linux(ns: &Ns, peer: &Ns, n: u64) -> f64 {
    let (mut child, mut lines) = start_sink(peer, "10.9.0.2", 5201).await;
    let o = ns
        .python(PY, &["send", "10.9.0.2", "5201", &n.to_string()], LIMIT)
        .await;
    stdout_ok(&o);
    let (got, t) = parse_result(&lines.next_line().await.unwrap().expect("result"));
    let _ = child.wait().await;
    assert_eq!(got, n);
    got as f64 / t
}

fn row(name: &str, rates: &[f64], base: f64) {
    let best = rates.iter().copied().fold(0.0, f64::max);
    let all: Vec<String> = rates.iter().map(|r| format!("{:.0}", r / 1e6)).collect();
    println!(
        "{name:<28} {:>8.0} MB/s {:>6.2} Gbit/s  x{:.2} of veth   (runs: {})",
        best / 1e6,
        best * 8.0 / 1e9,
        best / base,
        all.join(", ")
    );
}

const USAGE: &str =
    "usage: bench [--mib N] [--runs R] [--idle K] [--no-pacing]   (N, R: positive integers)";

/// What to run.
struct Args {
    mib: u64,
    runs: usize,
    pacing: bool,
    idle: usize,
}

/// `--mib N --runs R [--no-pacing]`, or the usage line.
fn parse_args() -> Result<Args, String> {
    let mut mib = 100u64;
    let mut runs = 3usize;
    let mut pacing = true;
    let mut idle = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--help" || a == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if a == "--no-pacing" {
            pacing = false;
            continue;
        }
        let v = args.next().ok_or_else(|| format!("{a} needs a value"))?;
        let bad = |_| format!("{a} {v}: not a positive integer");
        match a.as_str() {
            "--mib" => mib = v.parse().map_err(bad)?,
            "--runs" => runs = v.parse().map_err(bad)?,
            "--idle" => idle = v.parse().map_err(|_| format!("{a} {v}: not a count"))?,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if mib == 0 || runs == 0 {
        return Err("--mib and --runs must be at least 1".into());
    }
    Ok(Args {
        mib,
        runs,
        pacing,
        idle,
    })
}

fn main() {
    let Args {
        mib,
        runs,
        pacing,
        idle,
    } = match parse_args() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bench: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if !common::can_run(&["python3"]) {
        std::process::exit(1);
    }
    let n = mib << 20;
    let a = Netns::new();
    let b = Netns::new();
    // veth pair: a:veth0 10.9.0.1/24 <-> b:veth1 10.9.0.2/24 (both ends in test namespaces).
    a.ip(&[
        "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", &b.name,
    ]);
    a.ip(&["addr", "add", "10.9.0.1/24", "dev", "veth0"]);
    b.ip(&["addr", "add", "10.9.0.2/24", "dev", "veth1"]);
    a.ip(&["link", "set", "veth0", "up"]);
    b.ip(&["link", "set", "veth1", "up"]);
    let peer: Ns = (*b).clone();
    println!(
        "bulk goodput, {mib} MiB per run, best of {runs}; MTU 1500; synack pacing {}; \
         {idle} idle connections to synack",
        if pacing { "on" } else { "off" }
    );
    a.run(LIMIT, move |ns| async move {
        let mut veth = Vec::new();
        for _ in 0..runs {
            veth.push(linux_to_linux(&ns, &peer, n).await);
        }
        let base = veth.iter().copied().fold(1.0, f64::max);
        row("Linux -> Linux (veth)", &veth, base);
        for offload in [false, true] {
            let tcp = synack::TcpConfig {
                pacing,
                ..synack::TcpConfig::default()
            };
            let iface = Interface::builder()
                .tcp_config(tcp)
                .name("syn0")
                .ipv4(SYNACK_V4.parse().unwrap(), 24)
                .offload(offload)
                .build()
                .await
                .expect("interface");
            let mode = if iface.offload() { "offload" } else { "plain" };
            let l = TcpListener::bind(&iface, addr(SYNACK_V4, 9), 16).unwrap();
            tokio::spawn(apps::serve(l, App::Discard));
            let held = hold_idle(&ns, idle).await;
            let mut up = Vec::new();
            let mut down = Vec::new();
            // Packets each way during the Linux -> synack runs: data in, ACKs out.
            let (mut data_in, mut acks_out) = (0u64, 0u64);
            for i in 0..runs {
                let t = Instant::now();
                let before = iface.stats();
                up.push(linux_to_synack(&ns, n).await);
                let after = iface.stats();
                data_in += after.rx_packets - before.rx_packets;
                acks_out += after.tx_packets - before.tx_packets;
                let port = 6000 + u16::try_from(i).unwrap_or(0);
                down.push(synack_to_linux(&ns, &iface, n, port).await);
                eprintln!("{mode} run {i} done in {:.1?}", t.elapsed());
            }
            row(&format!("Linux -> synack (TUN {mode})"), &up, base);
            row(&format!("synack -> Linux (TUN {mode})"), &down, base);
            println!(
                "  Linux -> synack {mode}: {data_in} packets in, {acks_out} out (ACKs): \
                 one ACK per {:.1} packets",
                data_in as f64 / acks_out.max(1) as f64
            );
            let s = iface.stats();
            let c = iface.counters();
            println!(
                "  synack {mode}: {} retransmits, {} tx drops, {} rx errors, {} packets in, {} out",
                c.retransmits, s.tx_dropped, s.rx_errors, s.rx_packets, s.tx_packets
            );
            drop(held);
            iface.shutdown().await;
        }
    });
}

/// `k` idle connections from Linux to synack's discard server, held until the
/// returned child is dropped (its stdin closes; `kill_on_drop` backs that up).
async fn hold_idle(ns: &Ns, k: usize) -> Option<tokio::process::Child> {
    if k == 0 {
        return None;
    }
    let mut c = ns.command("python3");
    c.args(["-c", PY, "idle", SYNACK_V4, "9", &k.to_string()]);
    c.stdin(std::process::Stdio::piped());
    c.stdout(std::process::Stdio::piped());
    c.kill_on_drop(true);
    let mut child = c.spawn().expect("python");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ready"));
    Some(child)
}
