//! The pcap of every scenario opens in tshark with no malformed packets and no
//! bad checksums, and tshark's view of the segments matches ours.
//!
//! The payload is random bytes, so HTTP dissection (the server listens on port 80)
//! is turned off: otherwise tshark reports random data sent from port 80 as a
//! malformed HTTP response.
//!
//! Without tshark the tests print `skipped: tshark not installed`, unless the
//! environment variable CI is set, in which case they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use synack_cli::Scenario;

/// Whether tshark can run; panics in CI when it cannot.
fn have_tshark() -> bool {
    let found = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("tshark not installed, and CI is set: install tshark (apt-get install tshark)");
        }
        println!("skipped: tshark not installed");
    }
    found
}

/// A capture path of its own: the tests run in parallel in one process and
/// capture the same scenarios (two used one path for `close`, and one deleted it
/// while the other was reading it).
fn temp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "synack-tshark-{}-{n}-{name}.pcap",
        std::process::id()
    ))
}

fn tshark(pcap: &Path, extra: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "--disable-protocol",
            "http",
        ])
        .args(extra)
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a scenario writing a pcap; returns the pcap's path and the JSON lines.
/// The run must succeed unless `any_outcome` (the capture is what is tested).
fn capture(name: &str, args: &[&str], any_outcome: bool) -> (PathBuf, Vec<serde_json::Value>) {
    let path = temp(name);
    let mut a = args.to_vec();
    a.extend_from_slice(&["--pcap", path.to_str().unwrap(), "--json"]);
    let (code, out, err) = sim(&a);
    let allowed: &[i32] = if any_outcome { &[0, 1] } else { &[0] };
    assert!(allowed.contains(&code), "{args:?}: exit {code}: {err}");
    (path, json_lines(&out))
}

const BAD: &str = "_ws.malformed || tcp.checksum.status == 0 || ip.checksum.status == 0";

#[test]
fn every_scenario_pcap_is_clean() {
    if !have_tshark() {
        return;
    }
    for s in Scenario::ALL {
        let mut args = vec![s.name()];
        if s.uses_bytes() {
            args.extend_from_slice(&["--bytes", "200KiB"]);
        }
        let (path, _) = capture(s.name(), &args, false);
        let bad = tshark(&path, &["-Y", BAD]);
        std::fs::remove_file(&path).ok();
        assert!(
            bad.trim().is_empty(),
            "{}: tshark flags packets:\n{bad}",
            s.name()
        );
    }
    // Impairments (corruption happens after capture) and IPv6 too.
    for (name, args) in [
        (
            "lossy",
            &[
                "transfer",
                "--bytes",
                "300KiB",
                "--loss",
                "5%",
                "--duplicate",
                "2%",
                "--corrupt",
                "2%",
                "--reorder",
                "2%",
                "--seed",
                "9",
            ][..],
        ),
        ("v6", &["transfer", "--bytes", "300KiB", "--ipv6"][..]),
    ] {
        let (path, _) = capture(name, args, true);
        let bad = tshark(&path, &["-Y", BAD]);
        std::fs::remove_file(&path).ok();
        assert!(
            bad.trim().is_empty(),
            "{name}: tshark flags packets:\n{bad}"
        );
    }
}

/// tcpdump-style flags ("S.", "FP.") as the TCP flags byte.
fn flag_bits(s: &str) -> u64 {
    s.chars()
        .map(|c| match c {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            '.' => 0x10,
            'U' => 0x20,
            'E' => 0x40,
            'W' => 0x80,
            _ => 0,
        })
        .sum()
}

#[test]
fn tshark_sees_the_same_handshake_and_close() {
    if !have_tshark() {
        return;
    }
    for scenario in ["close", "simultaneous-close", "old-duplicate-syn", "reset"] {
        let (path, lines) = capture(scenario, &[scenario], false);
        let fields = tshark(
            &path,
            &[
                "-T",
                "fields",
                "-e",
                "ip.src",
                "-e",
                "tcp.flags",
                "-e",
                "tcp.seq_raw",
                "-e",
                "tcp.ack_raw",
                "-e",
                "tcp.len",
                "-e",
                "frame.time_relative",
            ],
        );
        std::fs::remove_file(&path).ok();
        let theirs: Vec<(String, u64, u64, u64, u64, u64)> = fields
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let num = |s: &str| s.trim().parse::<u64>().unwrap_or_else(|_| panic!("{l}"));
                let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
                let t: f64 = f[5].parse().unwrap();
                (
                    f[0].to_owned(),
                    hex(f[1]),
                    num(f[2]),
                    num(f[3]),
                    num(f[4]),
                    (t * 1e6).round() as u64,
                )
            })
            .collect();
        let ours: Vec<(String, u64, u64, u64, u64, u64)> = segments(&lines)
            .iter()
            .map(|s| {
                let src = if s["src"] == "client" {
                    "10.0.0.1"
                } else {
                    "10.0.0.2"
                };
                (
                    src.to_owned(),
                    flag_bits(s["flags"].as_str().unwrap()),
                    s["seq"].as_u64().unwrap(),
                    s["ack"].as_u64().unwrap(),
                    s["len"].as_u64().unwrap(),
                    s["t_us"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(theirs, ours, "{scenario}: tshark and the ladder disagree");
    }
}
