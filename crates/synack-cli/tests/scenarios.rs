//! Every scenario, run in-process with `--json`: exit 0, `ok: true`, and the exact
//! RFC 9293 state sequence of each end as the JSON lines show it.

mod common;

use common::*;
use serde_json::Value;

/// Runs a scenario with `--json` and checks it passed; returns its lines.
fn run_ok(args: &[&str]) -> Vec<Value> {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, out, err) = sim(&a);
    assert_eq!(code, 0, "synack sim {args:?} failed: {err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
    let lines = json_lines(&out);
    let s = summary(&lines);
    assert_eq!(s["ok"], true, "{s}");
    assert_eq!(s["scenario"], args[0]);
    lines
}

const ACTIVE_CLOSE: &str = "CLOSED SYN-SENT ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT CLOSED";
const PASSIVE_CLOSE: &str = "LISTEN SYN-RECEIVED ESTABLISHED CLOSE-WAIT LAST-ACK CLOSED";

#[test]
fn handshake() {
    let lines = run_ok(&["handshake"]);
    let p = paths(&lines);
    assert_eq!(only(&p, "client"), states("CLOSED SYN-SENT ESTABLISHED"));
    assert_eq!(
        only(&p, "server"),
        states("LISTEN SYN-RECEIVED ESTABLISHED")
    );
    let listener: Vec<_> = p.iter().filter(|p| p.socket == "10.0.0.2:80-*:*").collect();
    assert_eq!(listener.len(), 1);
    assert_eq!(listener[0].states, states("CLOSED LISTEN"));
    let segs = segments(&lines);
    let flags: Vec<_> = segs.iter().map(|s| s["flags"].as_str().unwrap()).collect();
    assert_eq!(flags, ["S", "S.", "."]);
    assert_eq!(
        segs[1]["ack"].as_u64(),
        Some(segs[0]["seq"].as_u64().unwrap() + 1)
    );
    assert_eq!(segs[1]["src"], "server");
    assert!(segs.iter().all(|s| s["fate"] == "delivered"));
    // The state line's socket: local first.
    let c = conns(&p, "client");
    assert!(c[0].socket.starts_with("10.0.0.1:") && c[0].socket.ends_with("-10.0.0.2:80"));
}

#[test]
fn simultaneous_open() {
    let lines = run_ok(&["simultaneous-open"]);
    let p = paths(&lines);
    assert_eq!(
        only(&p, "client"),
        states("CLOSED SYN-SENT SYN-RECEIVED ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT CLOSED")
    );
    assert_eq!(
        only(&p, "server"),
        states("CLOSED SYN-SENT SYN-RECEIVED ESTABLISHED CLOSE-WAIT LAST-ACK CLOSED")
    );
    assert_eq!(conns(&p, "client")[0].socket, "10.0.0.1:4000-10.0.0.2:5000");
    assert_eq!(conns(&p, "server")[0].socket, "10.0.0.2:5000-10.0.0.1:4000");
}

#[test]
fn close() {
    let lines = run_ok(&["close"]);
    let p = paths(&lines);
    assert_eq!(only(&p, "client"), states(ACTIVE_CLOSE));
    assert_eq!(only(&p, "server"), states(PASSIVE_CLOSE));
    // TIME-WAIT lasts 2·MSL = 60 s.
    let t = |to: &str| {
        lines
            .iter()
            .find(|l| l["type"] == "state" && l["host"] == "client" && l["to"] == to)
            .and_then(|l| l["t_us"].as_u64())
            .unwrap()
    };
    assert_eq!(t("CLOSED") - t("TIME-WAIT"), 60_000_000);
}

#[test]
fn simultaneous_close() {
    let lines = run_ok(&["simultaneous-close"]);
    let p = paths(&lines);
    let tail = "FIN-WAIT-1 CLOSING TIME-WAIT CLOSED";
    assert_eq!(
        only(&p, "client"),
        states(&format!("CLOSED SYN-SENT ESTABLISHED {tail}"))
    );
    assert_eq!(
        only(&p, "server"),
        states(&format!("LISTEN SYN-RECEIVED ESTABLISHED {tail}"))
    );
}

#[test]
fn half_close() {
    let lines = run_ok(&["half-close", "--bytes", "100000"]);
    let p = paths(&lines);
    assert_eq!(only(&p, "client"), states(ACTIVE_CLOSE));
    assert_eq!(only(&p, "server"), states(PASSIVE_CLOSE));
    let s = summary(&lines);
    assert_eq!(s["bytes_sent"], 100_000);
    assert_eq!(s["bytes_delivered"], 100_000);
    assert_eq!(s["intact"], true);
    // The data flowed server -> client after the client's FIN.
    let segs = segments(&lines);
    let fin = segs
        .iter()
        .position(|s| s["src"] == "client" && s["flags"].as_str().unwrap().contains('F'))
        .unwrap();
    let data_after: u64 = segs[fin..]
        .iter()
        .filter(|s| s["src"] == "server")
        .map(|s| s["len"].as_u64().unwrap())
        .sum();
    assert_eq!(data_after, 100_000);
}

#[test]
fn close_syn_received() {
    let lines = run_ok(&["close-syn-received"]);
    let p = paths(&lines);
    let client = only(&p, "client");
    assert_eq!(
        client[..4],
        states("CLOSED SYN-SENT SYN-RECEIVED FIN-WAIT-1")[..]
    );
    assert_eq!(client.last().map(String::as_str), Some("CLOSED"));
    assert!(client.iter().any(|s| s == "TIME-WAIT"), "{client:?}");
    assert_eq!(
        only(&p, "server"),
        states("CLOSED SYN-SENT SYN-RECEIVED ESTABLISHED CLOSE-WAIT LAST-ACK CLOSED")
    );
}

#[test]
fn reset() {
    let lines = run_ok(&["reset"]);
    let p = paths(&lines);
    assert_eq!(
        only(&p, "client"),
        states("CLOSED SYN-SENT ESTABLISHED CLOSED")
    );
    assert_eq!(
        only(&p, "server"),
        states("LISTEN SYN-RECEIVED ESTABLISHED CLOSED")
    );
    let rst = segments(&lines)
        .into_iter()
        .filter(|s| s["src"] == "client" && s["flags"].as_str().unwrap().contains('R'))
        .count();
    assert_eq!(rst, 1);
}

#[test]
fn refused() {
    let lines = run_ok(&["refused"]);
    let p = paths(&lines);
    assert_eq!(only(&p, "client"), states("CLOSED SYN-SENT CLOSED"));
    assert!(conns(&p, "client")[0].socket.ends_with("-10.0.0.2:81"));
    let segs = segments(&lines);
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[1]["flags"], "R.");
    assert_eq!(
        segs[1]["ack"].as_u64(),
        Some(segs[0]["seq"].as_u64().unwrap() + 1),
        "RST <SEQ=0><ACK=SEG.SEQ+SEG.LEN>"
    );
}

#[test]
fn old_duplicate_syn() {
    let lines = run_ok(&["old-duplicate-syn"]);
    let p = paths(&lines);
    assert_eq!(only(&p, "client"), states("CLOSED SYN-SENT ESTABLISHED"));
    let server = conns(&p, "server");
    assert_eq!(
        server.len(),
        2,
        "two incarnations on the server: {server:?}"
    );
    assert_eq!(server[0].socket, "10.0.0.2:80-10.0.0.1:45000");
    assert_eq!(server[0].socket, server[1].socket);
    assert_eq!(server[0].states, states("LISTEN SYN-RECEIVED CLOSED"));
    assert_eq!(server[1].states, states("LISTEN SYN-RECEIVED ESTABLISHED"));
    // The old SYN, the server's SYN,ACK for it, and the client's RST <SEQ=SEG.ACK>.
    let segs = segments(&lines);
    assert_eq!(segs[0]["flags"], "S");
    assert_eq!(segs[0]["seq"], 12345);
    let bogus = segs
        .iter()
        .find(|s| s["src"] == "server" && s["flags"] == "S.")
        .unwrap();
    assert_eq!(bogus["ack"], 12346);
    let rst = segs
        .iter()
        .find(|s| s["src"] == "client" && s["flags"] == "R")
        .unwrap();
    assert_eq!(rst["seq"], bogus["ack"]);
}

#[test]
fn time_wait() {
    let lines = run_ok(&["time-wait"]);
    let p = paths(&lines);
    assert_eq!(only(&p, "client"), states(ACTIVE_CLOSE));
    assert_eq!(only(&p, "server"), states(PASSIVE_CLOSE));
    let segs = segments(&lines);
    assert_eq!(
        segs.iter().filter(|s| s["fate"] == "dropped").count(),
        1,
        "exactly the final ACK is lost"
    );
    let fins: Vec<u64> = segs
        .iter()
        .filter(|s| s["src"] == "server" && s["flags"].as_str().unwrap().contains('F'))
        .map(|s| s["t_us"].as_u64().unwrap())
        .collect();
    assert_eq!(fins.len(), 2, "the server's FIN is retransmitted once");
    let tw_end = lines
        .iter()
        .find(|l| l["type"] == "state" && l["from"] == "TIME-WAIT")
        .and_then(|l| l["t_us"].as_u64())
        .unwrap();
    // One-way delay 10 ms; 2·MSL 60 s from the retransmitted FIN's arrival.
    assert_eq!(tw_end, fins[1] + 10_000 + 60_000_000);
    assert_ne!(tw_end, fins[0] + 10_000 + 60_000_000);
}

#[test]
fn zero_window() {
    let lines = run_ok(&["zero-window"]);
    let segs = segments(&lines);
    let zero = segs
        .iter()
        .position(|s| s["src"] == "server" && s["win"] == 0)
        .expect("the server advertises a zero window");
    // While the window is shut the client only probes.
    let t0 = segs[zero]["t_us"].as_u64().unwrap();
    let probes = segs[zero..]
        .iter()
        .filter(|s| s["src"] == "client" && s["t_us"].as_u64().unwrap() < t0 + 2_500_000)
        .count();
    assert!(probes >= 1, "persist probes go out");
    let s = summary(&lines);
    assert_eq!(s["bytes_delivered"], 256 * 1024);
    assert_eq!(s["intact"], true);
    let p = paths(&lines);
    assert_eq!(only(&p, "server"), states(PASSIVE_CLOSE));
}

#[test]
fn backlog() {
    let lines = run_ok(&["backlog"]);
    let p = paths(&lines);
    let clients = conns(&p, "client");
    assert_eq!(clients.len(), 6);
    for c in clients {
        assert_eq!(c.states, states("CLOSED SYN-SENT ESTABLISHED"), "{c:?}");
    }
    let servers = conns(&p, "server");
    assert_eq!(servers.len(), 6);
    for s in servers {
        assert_eq!(
            s.states.last().map(String::as_str),
            Some("ESTABLISHED"),
            "{s:?}"
        );
    }
    let syns = segments(&lines)
        .into_iter()
        .filter(|s| s["src"] == "client" && s["flags"] == "S")
        .count();
    assert!(
        syns > 6,
        "some SYNs were dropped and retransmitted ({syns})"
    );
}

#[test]
fn transfer() {
    let lines = run_ok(&["transfer", "--bytes", "1MiB"]);
    let p = paths(&lines);
    let client = only(&p, "client");
    assert_eq!(
        client[..4],
        states("CLOSED SYN-SENT ESTABLISHED FIN-WAIT-1")[..]
    );
    assert_eq!(client[client.len() - 2..], states("TIME-WAIT CLOSED")[..]);
    assert_eq!(only(&p, "server"), states(PASSIVE_CLOSE));
    let s = summary(&lines);
    assert_eq!(s["bytes_sent"], 1 << 20);
    assert_eq!(s["bytes_delivered"], 1 << 20);
    assert_eq!(s["intact"], true);
    assert!(s["goodput_bps"].as_u64().unwrap() > 1_000_000, "{s}");
    assert!(
        s["duration_us"].as_u64().unwrap() > 60_000_000,
        "TIME-WAIT included"
    );
    let payload: u64 = segments(&lines)
        .iter()
        .filter(|s| s["src"] == "client")
        .map(|s| s["len"].as_u64().unwrap())
        .sum();
    assert_eq!(payload, 1 << 20, "no retransmissions on a perfect link");
}

#[test]
fn ipv6_works_too() {
    let lines = run_ok(&["close", "--ipv6"]);
    let p = paths(&lines);
    assert_eq!(only(&p, "client"), states(ACTIVE_CLOSE));
    assert!(conns(&p, "client")[0].socket.starts_with("[fd00::1]:"));
    let lines = run_ok(&["transfer", "--ipv6", "--bytes", "200000", "--mtu", "1280"]);
    assert_eq!(summary(&lines)["intact"], true);
}

#[test]
fn json_field_names_and_types() {
    let lines = run_ok(&["handshake"]);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let sorted = |mut v: Vec<&str>| {
        v.sort_unstable();
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    for l in &lines {
        let mut k = keys(l);
        k.sort_unstable();
        let want = match l["type"].as_str().unwrap() {
            "state" => sorted(vec!["type", "t_us", "host", "socket", "from", "to"]),
            "segment" => sorted(vec![
                "type", "t_us", "src", "flags", "seq", "ack", "len", "win", "fate",
            ]),
            "summary" => sorted(vec![
                "type",
                "scenario",
                "ok",
                "bytes_sent",
                "bytes_delivered",
                "intact",
                "retransmissions",
                "duration_us",
                "goodput_bps",
                "client_counters",
                "server_counters",
                "client_drops",
                "server_drops",
            ]),
            other => panic!("unexpected type {other}"),
        };
        assert_eq!(k, want, "{l}");
    }
    // Times never go backwards.
    let times: Vec<u64> = lines.iter().filter_map(|l| l["t_us"].as_u64()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}
