//! Transparent mode against the Linux kernel: prefixes routed into the TUN
//! device, Linux clients connecting to addresses synack does not own, synack
//! accepting them all and knowing where each was going. Inside a private network
//! namespace (DESIGN.md §6); the "foreign" addresses are documentation and
//! benchmark ranges routed only inside it.
//!
//! Needs root: prints `skipped: needs root` otherwise, fails if `CI` is set.

mod common;

use std::process::Stdio;

use common::*;
use synack_tokio::{Interface, TransparentListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn transparent_iface() -> Interface {
    Interface::builder()
        .name("syn0")
        .ipv4(SYNACK_V4.parse().unwrap(), 24)
        .ipv6(SYNACK_V6.parse().unwrap(), 64)
        .transparent(true)
        .build()
        .await
        .expect("create TUN interface")
}

fn route(ns: &Ns, prefix: &str) {
    let fam = if prefix.contains(':') { "-6" } else { "-4" };
    ns.ip(&[fam, "route", "add", prefix, "dev", "syn0"]);
}

/// Connects to each `host port` argument and prints what the server says.
const PY_ASK: &str = r#"
import socket, sys
args = sys.argv[1:]
for host, port in zip(args[::2], args[1::2]):
    s = socket.create_connection((host, int(port)), timeout=20)
    s.sendall(b"hi")
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        reply += b
    print(reply.decode(), flush=True)
    s.close()
"#;

#[test]
fn linux_reaches_synack_at_arbitrary_addresses_with_the_original_destination() {
    if !can_run(&["python3"]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |ns| async move {
        let iface = transparent_iface().await;
        route(&ns, "203.0.113.0/24");
        route(&ns, "198.51.100.0/24");
        route(&ns, "2001:db8:7::/64");
        let l = TransparentListener::bind(&iface, 64).unwrap();
        assert_eq!(
            TransparentListener::bind(&iface, 64).unwrap_err().kind(),
            std::io::ErrorKind::AddrInUse
        );
        // The app: tell each client where it connected to, as synack saw it.
        tokio::spawn(async move {
            loop {
                let (mut s, peer, original) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut hi = [0u8; 2];
                    s.read_exact(&mut hi).await.unwrap();
                    let text = format!("{original} {peer} {}", s.local_addr().unwrap());
                    s.write_all(text.as_bytes()).await.unwrap();
                    s.shutdown().await.unwrap();
                });
            }
        });
        let targets = [
            ("203.0.113.5", "80"),
            ("198.51.100.7", "443"),
            ("2001:db8:7::9", "8443"),
        ];
        let args: Vec<&str> = targets.iter().flat_map(|(h, p)| [*h, *p]).collect();
        let o = ns.python(PY_ASK, &args, *CMD_LIMIT).await;
        let out = stdout_ok(&o);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        for ((host, port), line) in targets.iter().zip(&lines) {
            let f: Vec<&str> = line.split(' ').collect();
            let want = addr(host, port.parse().unwrap()).to_string();
            assert_eq!(f[0], want, "original destination: {line}");
            assert_eq!(f[2], want, "local_addr is the original destination: {line}");
            let kernel = if host.contains(':') {
                KERNEL_V6
            } else {
                KERNEL_V4
            };
            let peer: std::net::SocketAddr = f[1].parse().unwrap();
            assert_eq!(peer.ip().to_string(), kernel, "{line}");
        }
        // An ordinary interface refuses a transparent listener.
        drop(iface);
    });
}

#[test]
fn a_non_transparent_interface_refuses_the_catch_all() {
    if !can_run(&[]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |_| async move {
        let iface = iface().await;
        let e = TransparentListener::bind(&iface, 8).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    });
}

/// Echo server on 127.0.0.1:7000 for the relay's upstream.
const PY_ECHO: &str = r#"
import socket, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 7000))
srv.listen(8)
srv.settimeout(60)
print("listening", flush=True)
def serve(c):
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

const PY_ROUNDTRIP: &str = r#"
import hashlib, socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
data = bytes((i * 7 + i // 251) % 256 for i in range(int(sys.argv[3])))
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
t.join()
print("ok" if bytes(got) == data else "mismatch %d" % len(got), flush=True)
"#;

/// The relay of `examples/relay.rs`, with a fixed upstream: Linux connects to an
/// arbitrary address routed into the TUN; synack accepts it and relays it over
/// the kernel's TCP to an echo server; 1 MiB goes round intact, with the
/// catch-all listener closed right after the accept.
#[test]
fn a_transparent_relay_carries_linux_traffic_to_an_upstream() {
    if !can_run(&["python3"]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |ns| async move {
        let iface = transparent_iface().await;
        route(&ns, "203.0.113.0/24");
        let mut echo = ns.command("python3");
        echo.args(["-c", PY_ECHO]).stdout(Stdio::piped());
        let mut echo = echo.spawn().unwrap();
        let mut first = String::new();
        let mut out = echo.stdout.take().unwrap();
        let mut b = [0u8; 10];
        out.read_exact(&mut b).await.unwrap();
        first.push_str(std::str::from_utf8(&b).unwrap());
        assert_eq!(first, "listening\n");
        let l = TransparentListener::bind(&iface, 64).unwrap();
        let relay = tokio::spawn(async move {
            let (mut inbound, _, original) = l.accept().await.unwrap();
            // Stop accepting: the accepted connection keeps its foreign address.
            // (It used to lose it with the catch-all listener: every later
            // segment was dropped as "not our address" and the relay stalled.)
            drop(l);
            let mut up = tokio::net::TcpStream::connect("127.0.0.1:7000")
                .await
                .unwrap();
            let moved = tokio::io::copy_bidirectional(&mut inbound, &mut up)
                .await
                .unwrap();
            (original, moved)
        });
        let n = MIB;
        let o = ns
            .python(
                PY_ROUNDTRIP,
                &["203.0.113.80", "80", &n.to_string()],
                *CMD_LIMIT,
            )
            .await;
        assert_eq!(stdout_ok(&o).trim(), "ok");
        let (original, (up, down)) = relay.await.unwrap();
        assert_eq!(original, addr("203.0.113.80", 80));
        assert_eq!((up, down), (n, n));
        drop(echo);
    });
}
