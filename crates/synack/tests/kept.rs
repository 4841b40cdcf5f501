//! Packets handed over in buffers the stack may keep (`Stack::handle_packet_owned`):
//! the payload read where it arrived changes nothing a peer or the application
//! can see.

mod common;

use std::time::Duration;

use common::{pattern, sa, Pair, Side, B6_IP, B_IP};
use synack::{Shutdown, TcpConfig};

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
    let l = p.b.listen(sa(b_ip, 80), 16).unwrap();
    let c = p.a.connect(sa(b_ip, 80), None).unwrap();
    let mut s = None;
    p.run_until(Duration::from_secs(120), |p| {
        s = s.or_else(|| p.b.accept(l).ok());
        s.is_some()
    });
    let s = s.unwrap();
    let up = pattern(3_000_000, seed);
    let down = pattern(1_000_000, seed + 1000);
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    let (mut ou, mut od) = (0, 0);
    let (mut closed_a, mut closed_b) = (false, false);
    p.run_until(Duration::from_secs(1200), |p| {
        if ou < up.len() {
            ou += p.a.send(c, &up[ou..]).unwrap_or(0);
        } else if !closed_a {
            p.a.shutdown(c, Shutdown::Write).unwrap();
            closed_a = true;
        }
        if od < down.len() {
            od += p.b.send(s, &down[od..]).unwrap_or(0);
        } else if !closed_b {
            p.b.shutdown(s, Shutdown::Write).unwrap();
            closed_b = true;
        }
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
