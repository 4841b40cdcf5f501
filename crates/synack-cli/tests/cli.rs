//! The command line itself: listing, help, bad values, exit statuses, the human
//! report, determinism and the SVG.

mod common;

use std::path::PathBuf;

use common::*;
use synack_cli::Scenario;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("synack-cli-test-{}-{name}", std::process::id()))
}

#[test]
fn list_names_every_scenario() {
    let (code, out, err) = sim(&["--list"]);
    assert_eq!((code, err.as_str()), (0, ""));
    for s in Scenario::ALL {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(s.name())),
            "{} missing from:\n{out}",
            s.name()
        );
    }
    assert_eq!(out.lines().count(), Scenario::ALL.len() + 1);
    let (code, bin_out, _) = binary(&["sim", "--list"]);
    assert_eq!((code, bin_out), (0, out));
}

#[test]
fn help_exits_zero() {
    let (code, out, _) = sim(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("--loss <P>") && out.contains("--svg <FILE>"),
        "{out}"
    );
}

#[test]
fn bad_values_exit_2_with_a_clear_message() {
    let cases: [(&[&str], &str); 12] = [
        (&["--loss", "150%"], "probability"),
        (&["--loss", "abc"], "probability"),
        (&["--reorder", "-1"], "--reorder"),
        (&["--delay", "10"], "duration"),
        (&["--jitter", "5 parsecs"], "duration"),
        (&["--rate", "fast"], "rate"),
        (&["--bytes", "lots"], "size"),
        (&["--cc", "vegas"], "known: reno"),
        (&["--mtu", "50"], "--mtu"),
        (&["--queue", "0"], "--queue"),
        (&["no-such-scenario"], "no-such-scenario"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (args, needle) in cases {
        let (code, out, err) = sim(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: nothing on stdout");
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    }
    let (code, out, err) = binary(&["sim", "--corrupt", "2"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("probability"), "{err}");
    let (code, _, err) = binary(&["sim", "--pcap", "/nonexistent-dir/x.pcap", "handshake"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot create"), "{err}");
}

#[test]
fn values_take_units() {
    let (code, out, err) = sim(&[
        "transfer", "--bytes", "64KiB", "--delay", "250us", "--jitter", "100us", "--rate",
        "100Mbit", "--queue", "50", "--loss", "0.5%", "--json", "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "--json --quiet prints only the summary");
    assert_eq!(summary(&lines)["bytes_delivered"], 65536);
}

#[test]
fn failure_exits_1_with_seed_and_replay() {
    let (code, out, err) = sim(&["handshake", "--loss", "100%", "--seed", "42"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(err.contains("seed=42"), "{err}");
    assert!(
        err.contains("replay: synack sim handshake --seed 42 --loss 1"),
        "{err}"
    );
    let (code, out, _) = binary(&["sim", "handshake", "--loss", "100%", "--json"]);
    assert_eq!(code, 1);
    let lines = json_lines(&out);
    assert_eq!(summary(&lines)["ok"], false);
}

#[test]
fn human_report_has_ladder_states_and_summary() {
    let (code, out, err) = sim(&["close"]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "client",
        "server",
        "CLOSED → SYN-SENT",
        "ESTABLISHED → FIN-WAIT-1",
        "FIN-WAIT-2 → TIME-WAIT",
        "LAST-ACK → CLOSED",
        "── S   seq=0",
        "◀─ S.  seq=0          ack=1",
        "summary: close (seed 1): ok",
        "retransmissions",
        "rtt (client)     srtt 25.0 ms",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    // A long run shows the first and last segments only.
    let (code, out, err) = sim(&["transfer", "--bytes", "1MiB", "--loss", "1%"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" segments …"), "{out}");
    let ladder_lines = out.lines().filter(|l| l.contains("seq=")).count();
    assert!(
        (40..=80).contains(&ladder_lines),
        "{ladder_lines} lines:\n{out}"
    );
    assert!(out.contains("0 corrupted, 0 duplicated"), "{out}");
    let (code, out, err) = sim(&["time-wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("✗ │  ✗ dropped (filter)"),
        "drops are marked:\n{out}"
    );
    assert!(
        out.contains("(retransmission)"),
        "retransmissions are marked:\n{out}"
    );
    // --quiet: the summary only.
    let (code, out, _) = sim(&["close", "--quiet"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("summary: close"), "{out}");
    assert!(!out.contains("seq="));
}

#[test]
fn same_seed_same_json() {
    let args = [
        "transfer",
        "--bytes",
        "256KiB",
        "--loss",
        "3%",
        "--reorder",
        "2%",
        "--duplicate",
        "1%",
        "--corrupt",
        "1%",
        "--jitter",
        "2ms",
        "--seed",
        "7",
        "--json",
    ];
    let (c1, a, _) = sim(&args);
    let (c2, b, _) = sim(&args);
    assert_eq!((c1, c2), (0, 0));
    assert!(a == b, "identical seeds give identical JSON");
    let (_, bin, _) = binary(&[&["sim"], &args[..]].concat());
    assert!(a == bin, "the binary prints the same JSON as the library");
    let mut other = args;
    other[args.len() - 2] = "8";
    let (_, c, _) = sim(&other);
    assert!(a != c, "another seed gives another run");
}

#[test]
fn svg_is_a_time_sequence_graph() {
    let path = temp("transfer.svg");
    let p = path.to_str().unwrap();
    let (code, _, err) = sim(&[
        "transfer", "--bytes", "512KiB", "--loss", "2%", "--seed", "3", "--svg", p, "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let svg = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let svg = svg.trim();
    assert!(
        svg.starts_with("<svg") && svg.ends_with("</svg>"),
        "an SVG document"
    );
    assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    let circles = svg.matches("<circle").count();
    assert!(circles > 300, "data points are drawn ({circles} circles)");
    assert!(svg.contains("<polyline"), "the ACK line is drawn");
    assert!(svg.contains("retransmission") && svg.contains("time (s)"));
    // Tags balance: every element opened is closed.
    let opens = svg.matches("<text").count();
    assert_eq!(opens, svg.matches("</text>").count());
    assert_eq!(svg.matches('<').count(), svg.matches('>').count());
}

#[test]
fn pcap_is_written() {
    let path = temp("handshake.pcap");
    let (code, _, err) = sim(&["handshake", "--pcap", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    // Global header (nanosecond magic, LINKTYPE_RAW) and three records.
    assert_eq!(bytes[..4], 0xa1b2_3c4du32.to_le_bytes());
    assert_eq!(bytes[20..24], 101u32.to_le_bytes());
    let mut off = 24;
    let mut records = 0;
    while off < bytes.len() {
        let len = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + len;
        records += 1;
    }
    assert_eq!((off, records), (bytes.len(), 3));
}
