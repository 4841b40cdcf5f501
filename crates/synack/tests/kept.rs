//! Packets handed over in buffers the stack may keep (`Stack::handle_packet_owned`):
//! the payload read where it arrived changes nothing a peer or the application
//! can see.

mod common;

use std::time::Duration;

use common::{pattern, Feed, Pair, Side, B6_IP, B_IP};
use synack::TcpConfig;

/// What one transfer showed: every packet on the wire, the bytes each end read,
/// and how many payloads were kept and buffers given back.
struct Run {
    wire: Vec<String>,
    up: Vec<u8>,
    down: Vec<u8>,
    kept: u64,
    reclaimed: usize,
}

/// Both ways at once over a lossy pipe with 9,000-byte segments (so payloads
/// reach `TcpConfig::keep_payload_min`), each end shutting down its side when
/// done; IPv4 for even seeds, IPv6 for odd ones.
fn transfer(seed: u64, owned: bool, in_place: bool) -> Run {
    let cfg = TcpConfig {
        mss: 8960,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(seed, cfg.clone(), cfg);
    p.loss = 0.03;
    p.owned = owned;
    p.read_in_place = in_place;
    // Odd seeds over IPv6.
    let b_ip = if seed.is_multiple_of(2) { B_IP } else { B6_IP };
    let (c, s) = p.accepted(b_ip);
    let up = pattern(3_000_000, seed);
    let down = pattern(1_000_000, seed + 1000);
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    let (mut feed_up, mut feed_down) = (Feed::new(&up), Feed::new(&down));
    p.run_until(Duration::from_secs(1200), |p| {
        feed_up.step(&mut p.a, c);
        feed_down.step(&mut p.b, s);
        // Reads only every other step, so data piles up (kept packets and the
        // ring mixed).
        if (p.now.micros() / 5000).is_multiple_of(2) {
            return false;
        }
        let ea = p.read_available(Side::A, c, &mut got_down);
        let eb = p.read_available(Side::B, s, &mut got_up);
        ea && eb
    });
    assert_eq!(got_up, up, "seed {seed}: upload");
    assert_eq!(got_down, down, "seed {seed}: download");
    assert!(p.dropped_count() > 10, "seed {seed}: the loss was real");
    Run {
        wire: p.trace.iter().map(|t| format!("{t:?}")).collect(),
        up: got_up,
        down: got_down,
        kept: p.a.counters().segments_kept + p.b.counters().segments_kept,
        reclaimed: p.reclaimed,
    }
}

#[test]
fn kept_payloads_change_nothing_on_the_wire_or_in_the_stream() {
    for seed in 0..4 {
        let base = transfer(seed, false, false);
        assert_eq!(base.kept, 0, "handle_packet never keeps");
        for in_place in [false, true] {
            let run = transfer(seed, true, in_place);
            assert!(run.kept > 100, "seed {seed}: only {} kept", run.kept);
            assert!(
                run.reclaimed as u64 >= run.kept * 9 / 10,
                "seed {seed}: {} of {} kept buffers came back",
                run.reclaimed,
                run.kept
            );
            assert_eq!(run.up, base.up);
            assert_eq!(run.down, base.down);
            assert_eq!(run.wire.len(), base.wire.len(), "seed {seed}: packet count");
            for (i, (a, b)) in run.wire.iter().zip(&base.wire).enumerate() {
                assert_eq!(a, b, "seed {seed} in_place {in_place}: packet {i} differs");
            }
        }
    }
}

/// One way, the receiver reading every other step: its in-order segments take
/// the stack's receive fast path (`Stack::input_fast`, under
/// `TcpConfig::header_prediction`) with their payloads kept in their packets.
/// Returns the wire, the bytes read, and how many segments took the fast path
/// and were kept; the receiver's buffer accounting is checked at every step.
fn one_way(seed: u64, prediction: bool) -> (Vec<String>, Vec<u8>, u64, u64) {
    let cfg = TcpConfig {
        mss: 8960,
        header_prediction: prediction,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(seed, cfg.clone(), cfg);
    p.loss = 0.03;
    p.owned = true;
    p.read_in_place = true;
    let (c, s) = p.accepted(B_IP);
    let up = pattern(3_000_000, seed);
    let mut got = Vec::new();
    let mut feed = Feed::new(&up);
    p.run_until(Duration::from_secs(1200), |p| {
        feed.step(&mut p.a, c);
        assert_eq!(p.b.usage(), p.b.recount_usage(), "seed {seed}");
        if (p.now.micros() / 5000).is_multiple_of(2) {
            return false;
        }
        p.read_available(Side::B, s, &mut got)
    });
    assert_eq!(got, up, "seed {seed}");
    let counters = p.b.counters();
    (
        p.trace.iter().map(|t| format!("{t:?}")).collect(),
        got,
        counters.segments_in_fast,
        counters.segments_kept,
    )
}

#[test]
fn kept_payloads_through_the_receive_fast_path_change_nothing() {
    for seed in 0..3 {
        let (wire, got, fast, kept) = one_way(seed, true);
        let (wire_off, got_off, fast_off, kept_off) = one_way(seed, false);
        eprintln!("seed {seed}: {fast} fast, {kept} kept ({kept_off} with prediction off)");
        assert_eq!(fast_off, 0, "seed {seed}");
        assert!(fast > 100, "seed {seed}: only {fast} fast");
        assert!(
            kept > 100 && kept_off > 100,
            "seed {seed}: {kept} / {kept_off} kept"
        );
        assert_eq!(got, got_off);
        assert_eq!(wire.len(), wire_off.len(), "seed {seed}: packet count");
        for (i, (a, b)) in wire.iter().zip(&wire_off).enumerate() {
            assert_eq!(a, b, "seed {seed}: packet {i} differs");
        }
    }
}
