//! The `synack serve`, `synack connect` and `synack ss` commands against the Linux
//! kernel's TCP. Each test makes its own network namespace (DESIGN.md §6) and runs
//! the `synack` binary and the Linux peers (curl, Python, iproute2 `ss`) inside it,
//! bounded in time; the namespace is deleted on every path.
//!
//! Needs root: prints `skipped: needs root` otherwise, fails if `CI` is set.
//! Run: `cargo test -p synack-cli --test net` (as root).

#[path = "../../synack-tokio/tests/common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const SYNACK: &str = env!("CARGO_BIN_EXE_synack");

/// A control-socket directory for one test, removed on drop.
struct Dir(std::path::PathBuf);

impl Dir {
    fn new(ns: &Netns) -> Self {
        let d = std::env::temp_dir().join(format!("{}-ctl", ns.name));
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
    fn sock(&self, tun: &str) -> String {
        self.0
            .join(format!("{tun}.sock"))
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `synack serve ARGS` in the namespace and waits for its `ready` line.
async fn serve(ns: &Ns, args: &[&str]) -> tokio::process::Child {
    let mut c = ns.command(SYNACK);
    c.arg("serve").args(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn synack serve");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), out.next_line())
        .await
        .expect("synack serve printed nothing in 20 s")
        .unwrap();
    match line {
        Some(l) if l.starts_with("ready:") => {}
        other => {
            let o = child.wait_with_output().await.unwrap();
            panic!(
                "synack serve did not start: {other:?}\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    child
}

/// Runs `synack ARGS` in the namespace to completion.
async fn synack(ns: &Ns, args: &[&str]) -> std::process::Output {
    let mut c = ns.command(SYNACK);
    c.args(args);
    output(c, *CMD_LIMIT).await
}

/// Stops a `synack serve` with SIGTERM (it prints its counters) and waits.
async fn stop(mut child: tokio::process::Child) -> String {
    // `ip netns exec` execs synack: the child's pid is synack's.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = tokio::time::timeout(Duration::from_secs(10), e.read_to_string(&mut err)).await;
    }
    let st = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("synack serve stops on SIGTERM")
        .unwrap();
    assert!(st.success(), "synack serve exited with {st}: {err}");
    err
}

#[test]
fn curl_gets_the_page_and_100mib_from_synack_serve_http() {
    if !can_run(&["curl"]) {
        return;
    }
    let netns = Netns::new();
    let dir = Dir::new(&netns);
    let sock = dir.sock("syn0");
    netns.run(*LIMIT, move |ns| async move {
        let server = serve(
            &ns,
            &[
                "--tun",
                "syn0",
                "--addr",
                "10.7.0.2/24",
                "--addr6",
                "fd00:7::2/64",
                "--port",
                "80",
                "--app",
                "http",
                "--control",
                &sock,
            ],
        )
        .await;
        let page = String::from_utf8(curl(&ns, "http://10.7.0.2/").await).unwrap();
        assert!(page.contains("synack"), "{page}");
        let page6 = String::from_utf8(curl(&ns, "http://[fd00:7::2]/").await).unwrap();
        assert_eq!(page, page6);
        let n = bulk_bytes();
        let body = curl(&ns, &format!("http://10.7.0.2/bytes/{n}")).await;
        assert_eq!(body.len() as u64, n);
        assert_eq!(hex(&Sha256::digest(&body)), seeded_sha256(n));
        let summary = stop(server).await;
        assert!(summary.contains("3 connections established"), "{summary}");
    });
}

/// Reads one connection to EOF and prints `bytes sha256`.
const PY_SINK: &str = include_str!("../../synack-tokio/tests/py/sink.py");

/// The `sha256 HEX` of the line of `synack connect`'s output starting with `what`.
fn reported(out: &str, what: &str) -> (u64, String) {
    let line = out
        .lines()
        .find(|l| l.starts_with(what))
        .unwrap_or_else(|| panic!("no {what:?} line in:\n{out}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    let bytes = f[1].parse().unwrap();
    let sha = f[f.iter().position(|w| *w == "sha256").unwrap() + 1];
    (bytes, sha.to_owned())
}

#[test]
fn synack_connect_uploads_100mib_to_a_python_server_and_the_hash_matches() {
    if !can_run(&["python3"]) {
        return;
    }
    let netns = Netns::new();
    let dir = Dir::new(&netns);
    let sock = dir.sock("syn1");
    netns.run(*LIMIT, move |ns| async move {
        // The kernel's address on the TUN exists only once synack made the device:
        // the server binds the wildcard address.
        let mut py = ns.command("python3");
        py.args(["-c", PY_SINK, "0.0.0.0", "5001"]);
        py.stdout(Stdio::piped());
        let mut child = py.spawn().expect("python");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(
            lines.next_line().await.unwrap().as_deref(),
            Some("listening")
        );
        let n = bulk_bytes();
        let o = synack(
            &ns,
            &[
                "connect",
                "--tun",
                "syn1",
                "--addr",
                "10.7.0.2/24",
                "10.7.0.1:5001",
                "--send",
                &n.to_string(),
                "--control",
                &sock,
            ],
        )
        .await;
        let out = stdout_ok(&o);
        println!("{out}");
        let (sent, sha) = reported(&out, "sent");
        assert_eq!(sent, n);
        assert_eq!(sha, seeded_sha256(n), "synack hashed what it meant to send");
        let got = lines.next_line().await.unwrap().expect("python result");
        assert_eq!(got, format!("{n} {sha}"), "Linux received exactly that");
        assert!(out.contains("Gbit/s") || out.contains("Mbit/s"), "{out}");
        assert!(child.wait().await.unwrap().success());
    });
}

/// Connects to synack's chargen, then on `half` half-closes (SHUT_WR) and keeps
/// reading, until stdin closes.
const PY_HALF: &str = r#"
import socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
assert len(s.recv(100)) > 0
print(s.getsockname()[1], flush=True)
def drain():
    try:
        while s.recv(1 << 16):
            pass
    except OSError:
        pass
threading.Thread(target=drain, daemon=True).start()
for line in sys.stdin:
    if line.strip() == "half":
        s.shutdown(socket.SHUT_WR)
        print("done", flush=True)
"#;

/// Linux `ss -tanH` rows: (state, local, peer).
async fn linux_ss(ns: &Ns) -> Vec<(String, String, String)> {
    let mut c = ns.command("ss");
    c.arg("-tanH");
    stdout_ok(&output(c, *CMD_LIMIT).await)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| (f[0].to_owned(), f[3].to_owned(), f[4].to_owned()))
        })
        .collect()
}

/// `synack ss --json` rows of the connection from `peer`: (state, local, remote).
async fn synack_ss(ns: &Ns, dir: &str, peer: &str) -> Vec<(String, String, String)> {
    let o = synack(ns, &["ss", "--json", "--dir", dir]).await;
    stdout_ok(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .filter(|v| v["remote"].as_str() == Some(peer))
        .map(|v| {
            assert!(v["cwnd"].as_u64().is_some_and(|c| c > 0), "{v}");
            assert!(v["rtt_us"].as_u64().is_some(), "{v}");
            (
                v["state"].as_str().unwrap().to_owned(),
                v["local"].as_str().unwrap().to_owned(),
                v["remote"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Polls (bounded: 50 × 100 ms) until synack and Linux show the expected states
/// for the connection, and asserts they do.
async fn expect_states(ns: &Ns, dir: &str, peer: &str, ours: &str, theirs: &str) {
    let mut last = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let s = synack_ss(ns, dir, peer).await;
        let l: Vec<_> = linux_ss(ns)
            .await
            .into_iter()
            .filter(|(_, local, _)| local == peer)
            .collect();
        let agree = s.len() == 1
            && l.len() == 1
            && s[0].0 == ours
            && l[0].0 == theirs
            && s[0].1 == l[0].2
            && s[0].2 == l[0].1;
        if agree {
            return;
        }
        last = (s, l);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "expected synack {ours} / Linux {theirs}; synack ss: {:?}, Linux ss: {:?}",
        last.0, last.1
    );
}

#[test]
fn linux_ss_and_synack_ss_json_agree_through_a_half_close() {
    if !can_run(&["python3", "ss"]) {
        return;
    }
    let netns = Netns::new();
    let dir = Dir::new(&netns);
    let sock = dir.sock("syn2");
    let d = dir.0.to_string_lossy().into_owned();
    netns.run(*LIMIT, move |ns| async move {
        let server = serve(
            &ns,
            &[
                "--tun",
                "syn2",
                "--addr",
                "10.7.0.2/24",
                "--port",
                "19",
                "--app",
                "chargen",
                "--control",
                &sock,
            ],
        )
        .await;
        let mut py = ns.command("python3");
        py.args(["-c", PY_HALF, "10.7.0.2", "19"]);
        py.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = py.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next_line().await.unwrap().expect("client port");
        let peer = format!("10.7.0.1:{port}");
        expect_states(&ns, &d, &peer, "ESTABLISHED", "ESTAB").await;
        stdin.write_all(b"half\n").await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("done"));
        // chargen keeps sending after Linux's FIN: synack is in CLOSE-WAIT, Linux
        // in FIN-WAIT-2.
        expect_states(&ns, &d, &peer, "CLOSE-WAIT", "FIN-WAIT-2").await;
        // The human table lists it too, with the ss -i detail line.
        let o = synack(&ns, &["ss", "--counters", "--dir", &d]).await;
        let table = stdout_ok(&o);
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("CLOSE-WAIT") && l.contains(&peer)),
            "{table}"
        );
        assert!(
            table.contains("cwnd:") && table.contains("syn2 counters:"),
            "{table}"
        );
        drop(stdin);
        drop(child);
        stop(server).await;
    });
}

#[test]
fn serve_refuses_a_taken_tun_name_and_a_running_control_socket() {
    if !can_run(&[]) {
        return;
    }
    let netns = Netns::new();
    let dir = Dir::new(&netns);
    let sock = dir.sock("syn3");
    netns.run(*LIMIT, move |ns| async move {
        let base = [
            "--addr",
            "10.7.0.2/24",
            "--port",
            "7",
            "--app",
            "echo",
            "--control",
            &sock,
        ];
        let first = serve(&ns, &[&["--tun", "syn3"][..], &base].concat()).await;
        let mut args = vec!["serve", "--tun", "syn3"];
        args.extend(base);
        let o = synack(&ns, &args).await;
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("already exists"), "{err}");
        args[2] = "syn4";
        let o = synack(&ns, &args).await;
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("control socket"), "{err}");
        stop(first).await;
    });
}
