//! `synack sim syn-flood`, `synack sim swarm`, and the drop/limit counters in
//! every `synack sim` summary.

mod common;

use common::*;

#[test]
fn syn_flood_engages_cookies_keeps_every_transfer_intact_and_memory_bounded() {
    let (code, out, err) = sim(&[
        "syn-flood",
        "--syns",
        "30000",
        "--clients",
        "25",
        "--bytes",
        "32KiB",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["syns_sent"], 30000);
    assert_eq!(v["syns_received"], 30000, "the flood link is lossless");
    let cookies = v["server"]["syncookies_sent"].as_u64().unwrap();
    assert!(cookies > 25_000, "cookies engaged: {cookies}");
    assert_eq!(v["clients"], 25);
    assert_eq!(v["intact"], 25, "every legitimate transfer intact");
    assert!(
        v["server"]["syncookies_ok"].as_u64().unwrap() >= 1,
        "legitimate clients got in through cookies"
    );
    // Memory bounded: the flood holds no more than the SYN queue (backlog 128),
    // whatever its size; buffers never hold more than the clients' data.
    let conns = v["peak_connections"].as_u64().unwrap();
    assert!(conns <= 128 + 25, "peak connections {conns}");
    assert!(v["peak_half_open"].as_u64().unwrap() <= 128);
    assert!(v["peak_buffer_bytes"].as_u64().unwrap() <= 25 * 32 * 1024);
}

#[test]
fn syn_flood_human_report_shows_the_flood_cookies_clients_and_memory() {
    let (code, out, _) = sim(&["syn-flood", "--syns", "5000", "--clients", "5"]);
    assert_eq!(code, 0, "{out}");
    for needle in [
        "5000 spoofed SYNs",
        "cookies ",
        "5/5 transfers",
        "peak ",
        "peak RSS",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
}

#[test]
fn syn_flood_with_no_flood_is_judged_on_the_transfers() {
    // With no flood at all there are no cookies to engage: ok is then judged on
    // the transfers alone.
    let (code, out, _) = sim(&["syn-flood", "--syns", "0", "--clients", "3", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["intact"], 3);
    assert_eq!(v["server"]["syncookies_sent"], 0);
}

#[test]
fn swarm_runs_seeds_and_summarizes() {
    let (code, out, err) = sim(&["swarm", "--seeds", "12", "--start", "100", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["seeds"], 12);
    assert_eq!(v["start"], 100);
    assert!(v["flows"].as_u64().unwrap() >= 12);
    assert_eq!(v["failed_seeds"].as_array().unwrap().len(), 0);
    let (code, out, _) = sim(&["swarm", "--seeds", "4"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("swarm: seeds 0..4: 4 seeds") && out.contains("all passed"),
        "{out}"
    );
}

#[test]
fn swarm_replays_one_seed() {
    let (code, out, _) = sim(&["swarm", "--replay", "7"]);
    assert_eq!((code, out.trim()), (0, "seed=7: ok"));
    // --replay and --seeds do not mix.
    let (code, _, _) = sim(&["swarm", "--replay", "7", "--seeds", "3"]);
    assert_eq!(code, 2);
}

#[test]
fn scenario_summaries_carry_every_counter_and_show_drops() {
    let (code, out, _) = sim(&["backlog", "--json", "--quiet"]);
    assert_eq!(code, 0);
    let lines = json_lines(&out);
    let s = summary(&lines);
    // Every counter of both stacks, drop reasons and limits included.
    for key in [
        "drop_syn_queue_full",
        "drop_no_socket",
        "bad_option",
        "challenge_acks_suppressed",
        "orphans_reset",
        "drop_memory",
        "persist_timeouts",
        "connect_no_ports",
    ] {
        assert!(
            s["server_counters"].get(key).is_some() && s["client_counters"].get(key).is_some(),
            "{key} missing"
        );
    }
    assert!(s["server_drops"]["drop_syn_queue_full"].as_u64().unwrap() > 0);
    let (_, text, _) = sim(&["backlog", "--quiet"]);
    assert!(
        text.contains("drops (server)   drop_syn_queue_full"),
        "{text}"
    );
}
