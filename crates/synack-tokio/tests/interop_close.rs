//! synack against the Linux kernel's TCP over a TUN device: opening and closing
//! (refused, half-close, RST, simultaneous close, interface shutdown), API errors
//! and the states `ss` shows. Each test runs inside a network namespace of its
//! own (DESIGN.md §6).
//!
//! Needs root: prints `skipped: needs root` otherwise, fails if `CI` is set.
//! Run: `cargo test -p synack-tokio --tests` (as root).

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::*;
use synack_tokio::apps::App;
use synack_tokio::{Interface, TcpListener, TcpStream};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const PY_CONNECT: &str = r#"
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    print("connected")
except ConnectionRefusedError:
    print("refused")
"#;

#[test]
fn linux_connecting_to_a_port_without_listener_is_refused() {
    if !can_run(&["python3"]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |ns| async move {
        let iface = iface().await;
        for host in [SYNACK_V4, SYNACK_V6] {
            let o = ns.python(PY_CONNECT, &[host, "81"], *CMD_LIMIT).await;
            assert_eq!(stdout_ok(&o).trim(), "refused", "{host}");
        }
        assert!(iface.counters().rst_sent >= 2);
    });
}

#[test]
fn synack_connecting_to_a_closed_linux_port_is_refused() {
    if !can_run(&[]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |_| async move {
        let iface = iface().await;
        for ip in [KERNEL_V4, KERNEL_V6] {
            let e = TcpStream::connect(&iface, addr(ip, 81)).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{ip}: {e}");
        }
    });
}

const PY_HALF_CLOSE: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.sendall(b"a" * 100000)
s.shutdown(socket.SHUT_WR)
reply = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    reply += b
print(reply.decode().strip())
"#;

#[test]
fn linux_half_closes_and_still_reads_the_reply() {
    if !can_run(&["python3"]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |ns| async move {
        let iface = iface().await;
        let l = TcpListener::bind(&iface, addr(SYNACK_V4, 5002), 16).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = Vec::new();
            let n = s.read_to_end(&mut buf).await.unwrap();
            // The peer's FIN arrived: we are in CLOSE-WAIT and may still send.
            assert_eq!(s.state(), Some(synack_tokio::State::CloseWait));
            s.write_all(format!("got {n} bytes\n").as_bytes())
                .await
                .unwrap();
        });
        let o = ns
            .python(PY_HALF_CLOSE, &[SYNACK_V4, "5002"], *CMD_LIMIT)
            .await;
        assert_eq!(stdout_ok(&o).trim(), "got 100000 bytes");
        server.await.unwrap();
    });
}

const PY_LINGER0: &str = r#"
import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.sendall(b"hello")
assert s.recv(16) == b"ack"
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print("reset")
"#;

#[test]
fn linux_closing_with_linger_zero_resets_synack() {
    if !can_run(&["python3"]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |ns| async move {
        let iface = iface().await;
        let l = TcpListener::bind(&iface, addr(SYNACK_V4, 5003), 16).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut hello = [0u8; 5];
            s.read_exact(&mut hello).await.unwrap();
            assert_eq!(&hello, b"hello");
            s.write_all(b"ack").await.unwrap();
            let e = s.read(&mut [0u8; 16]).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
            assert_eq!(
                s.take_error().map(|e| e.kind()),
                Some(ErrorKind::ConnectionReset)
            );
            let e = s.write_all(b"more").await.unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::ConnectionReset,
                "write after reset: {e}"
            );
        });
        let o = ns
            .python(PY_LINGER0, &[SYNACK_V4, "5003"], *CMD_LIMIT)
            .await;
        assert_eq!(stdout_ok(&o).trim(), "reset");
        server.await.unwrap();
        assert!(iface.counters().rst_received >= 1);
    });
}

#[test]
fn dropping_the_interface_resets_connections_and_removes_the_device() {
    if !can_run(&[]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |ns| async move {
        let iface = iface().await;
        serve(&iface, 7, App::Echo);
        // A kernel socket (tokio::net) in the namespace.
        let mut k = tokio::net::TcpStream::connect(addr(SYNACK_V4, 7))
            .await
            .unwrap();
        k.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        k.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        iface.shutdown().await;
        let r = k.read(&mut buf).await;
        assert_eq!(
            r.map_err(|e| e.kind()).unwrap_err(),
            ErrorKind::ConnectionReset
        );
        let mut c = ns.command("ip");
        c.args(["link", "show", "syn0"]);
        let o = common::output(c, *CMD_LIMIT).await;
        assert!(!o.status.success(), "syn0 still exists");
    });
}

#[test]
fn api_errors_have_the_std_kinds() {
    if !can_run(&[]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |_| async move {
        let iface = iface().await;
        let _l = TcpListener::bind(&iface, addr(SYNACK_V4, 80), 8).unwrap();
        let kind = |r: std::io::Result<TcpListener>| r.unwrap_err().kind();
        assert_eq!(
            kind(TcpListener::bind(&iface, addr(SYNACK_V4, 80), 8)),
            ErrorKind::AddrInUse
        );
        assert_eq!(
            kind(TcpListener::bind(&iface, addr("0.0.0.0", 80), 8)),
            ErrorKind::AddrInUse
        );
        assert_eq!(
            kind(TcpListener::bind(&iface, addr("10.9.9.9", 80), 8)),
            ErrorKind::AddrNotAvailable
        );
        assert_eq!(
            kind(TcpListener::bind(&iface, addr(SYNACK_V4, 0), 8)),
            ErrorKind::InvalidInput
        );
        let e = TcpStream::connect(&iface, addr(KERNEL_V4, 0))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

const PY_SIMULTANEOUS: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
assert s.recv(2) == b"go"
s.shutdown(socket.SHUT_WR)
print("eof" if s.recv(16) == b"" else "data")
s.close()
"#;

#[test]
fn simultaneous_close_with_linux_leaves_both_in_time_wait() {
    if !can_run(&["python3", "ss"]) {
        return;
    }
    let netns = Netns::new();
    netns.run(*LIMIT, |ns| async move {
        // 100 ms each way: the FINs sent "at the same time" cross in flight.
        let delay = Duration::from_millis(100);
        let iface = impaired_iface(synack_tokio::LinkConfig::default().delay(delay)).await;
        let l = TcpListener::bind(&iface, addr(SYNACK_V4, 5004), 16).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            // "go" reaches Linux after `delay`; Linux then sends its FIN at once.
            // Ours leaves after the same `delay`, so each FIN arrives while the
            // other side is in FIN-WAIT-1.
            s.write_all(b"go").await.unwrap();
            tokio::time::sleep(delay).await;
            s.shutdown().await.unwrap();
            assert_eq!(s.read(&mut [0u8; 16]).await.unwrap(), 0);
            for _ in 0..100 {
                if s.state() == Some(synack_tokio::State::TimeWait) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(s.state(), Some(synack_tokio::State::TimeWait));
            s
        });
        let o = ns
            .python(PY_SIMULTANEOUS, &[SYNACK_V4, "5004"], *CMD_LIMIT)
            .await;
        assert_eq!(stdout_ok(&o).trim(), "eof");
        let _s = server.await.unwrap();
        // In a simultaneous close both sides pass through CLOSING into TIME-WAIT;
        // in an ordinary close only the side that closed first does.
        let mut c = ns.command("ss");
        c.args(["-tan", "state", "time-wait"]);
        let out = stdout_ok(&common::output(c, *CMD_LIMIT).await);
        assert!(
            out.contains(&format!("{SYNACK_V4}:5004")),
            "Linux not in TIME-WAIT:\n{out}"
        );
    });
}

const PY_STATES: &str = r#"
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
conns = []
for i in (1, 2, 3):
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(str(i).encode())
    conns.append(s)
conns[1].shutdown(socket.SHUT_WR)
assert conns[2].recv(16) == b""
print("ready", flush=True)
sys.stdin.read()
"#;

/// synack's state as Linux `ss` spells the mirror state of its peer.
fn linux_peer_state(synack: &str) -> &'static str {
    match synack {
        "ESTABLISHED" => "ESTAB",
        "CLOSE-WAIT" => "FIN-WAIT-2",
        "FIN-WAIT-2" => "CLOSE-WAIT",
        other => panic!("unexpected synack state {other}"),
    }
}

#[test]
fn ss_on_linux_and_the_control_socket_agree_on_states() {
    if !can_run(&["python3", "ss"]) {
        return;
    }
    let netns = Netns::new();
    let sock = TempFile(std::env::temp_dir().join(format!("{}.sock", netns.name)));
    let path = sock.0.clone();
    netns.run(*LIMIT, move |ns| async move {
        let iface = Interface::builder()
            .name("syn0")
            .ipv4(SYNACK_V4.parse().unwrap(), 24)
            .control_socket(&path)
            .build()
            .await
            .unwrap();
        let l = TcpListener::bind(&iface, addr(SYNACK_V4, 5005), 16).unwrap();
        let server = tokio::spawn(async move {
            let mut keep = Vec::new();
            for _ in 0..3 {
                let (mut s, _) = l.accept().await.unwrap();
                let mut id = [0u8; 1];
                s.read_exact(&mut id).await.unwrap();
                if &id == b"3" {
                    s.shutdown().await.unwrap();
                }
                keep.push(s);
            }
            (l, keep)
        });
        let mut py = ns.command("python3");
        py.args(["-c", PY_STATES, SYNACK_V4, "5005"]);
        py.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = py.spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ready"));
        let _keep = server.await.unwrap();
        // Let the last ACKs land.
        tokio::time::sleep(Duration::from_millis(300)).await;

        let ours = synack_tokio::control::query(&path).await.unwrap();
        let mut c = ns.command("ss");
        c.args(["-tanH"]);
        let theirs = stdout_ok(&common::output(c, *CMD_LIMIT).await);
        // `ss -tanH`: State Recv-Q Send-Q Local:Port Peer:Port
        let linux: Vec<(String, String, String)> = theirs
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 5).then(|| (f[0].to_owned(), f[3].to_owned(), f[4].to_owned()))
            })
            .collect();
        assert!(ours
            .iter()
            .any(|r| r.state == "LISTEN" && r.local == addr(SYNACK_V4, 5005)));
        let conns: Vec<_> = ours.iter().filter(|r| r.remote.is_some()).collect();
        assert_eq!(conns.len(), 3, "{ours:?}");
        let mut seen = Vec::new();
        for r in conns {
            let remote = r.remote.unwrap();
            let peer = linux
                .iter()
                .find(|(_, local, peer)| {
                    *local == remote.to_string() && *peer == r.local.to_string()
                })
                .unwrap_or_else(|| panic!("Linux has no socket for {r:?}:\n{theirs}"));
            assert_eq!(peer.0, linux_peer_state(&r.state), "{r:?} vs {peer:?}");
            assert!(r.rtt_us.is_some() && r.cwnd.is_some(), "{r:?}");
            seen.push(r.state.clone());
        }
        seen.sort();
        assert_eq!(seen, ["CLOSE-WAIT", "ESTABLISHED", "FIN-WAIT-2"]);
        let listed = synack_tokio::control::instances(path.parent().unwrap()).unwrap();
        assert!(listed.contains(&path), "{listed:?}");
        drop(child);
    });
}
