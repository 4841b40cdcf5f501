//! Out-of-order data over the simulator: held bytes live in the receiver's ring
//! past its tail, in-order payloads are copied there while their checksum is
//! checked, and corrupt copies land there too before they are found bad. Across
//! many seeds of loss, reordering, duplication and corruption, with a reader
//! that keeps up and one that lets the ring fill (so held data sits near the
//! window's edge and the ring wraps and grows under it), every byte read must
//! be the byte sent (the harness checks each against the pattern).
//!
//! `SYNACK_OOO_SEEDS=N` sets how many seeds each case runs (default 150).

use std::time::Duration;

use synack::wire::{self, ParseError};
use synack::TcpConfig;
use synack_sim::harness::net;
use synack_sim::{LinkConfig, Loss};

fn seeds() -> u64 {
    std::env::var("SYNACK_OOO_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

fn link(loss: f64, corrupt: f64) -> LinkConfig {
    LinkConfig::default()
        .delay(Duration::from_millis(4))
        .jitter(Duration::from_micros(500))
        .loss(Loss::Bernoulli(loss))
        .reorder(0.05)
        .duplicate(0.02)
        .corrupt(corrupt)
}

/// What the runs of one case saw at the server, summed.
#[derive(Debug, Default)]
struct Seen {
    /// Segments dropped for a bad checksum.
    bad_checksum: u64,
    /// ACKs with a SACK block above the cumulative ACK: data held out of order.
    sacks: u64,
}

/// Runs `seeds()` transfers of `bytes`; the server starts reading `read_after`
/// into the transfer.
fn run(base: u64, bytes: u64, read_after: Duration, cfg: &TcpConfig) -> Seen {
    let mut seen = Seen::default();
    for seed in base..base + seeds() {
        let mut n = net(
            seed,
            link(0.05, 0.03),
            link(0.02, 0.01),
            cfg.clone(),
            cfg.clone(),
        );
        n.sim.set_record(true);
        let (c, s) = n.connect();
        let start = n.sim.now();
        let o = n.bulk(c, s, bytes, Duration::from_secs(900), start + read_after);
        assert!(
            o.intact && o.delivered == bytes,
            "seed={seed} (net seed; replay with SYNACK_OOO_SEEDS): {o:?}"
        );
        seen.bad_checksum += n
            .sim
            .host(n.server)
            .counters()
            .parse_drop(ParseError::BadChecksum);
        seen.sacks += n
            .sim
            .trace()
            .iter()
            .filter(|p| p.from == n.server)
            .filter_map(|p| wire::parse(&p.bytes).ok())
            .filter(|seg| {
                let ack = seg.tcp.ack;
                seg.tcp.options.sack().iter().any(|b| ack.lt(b.left))
            })
            .count() as u64;
    }
    seen
}

/// Every run saw corruption and held data, on average.
fn check(seen: &Seen) {
    eprintln!("{seen:?}");
    assert!(
        seen.bad_checksum > seeds(),
        "the links are meant to corrupt: {seen:?}"
    );
    assert!(
        seen.sacks > 5 * seeds(),
        "the links are meant to reorder: {seen:?}"
    );
}

#[test]
fn held_data_survives_loss_reordering_duplication_and_corruption() {
    check(&run(
        5000,
        256 * 1024,
        Duration::ZERO,
        &TcpConfig::default(),
    ));
}

#[test]
fn held_data_survives_a_full_ring_and_a_late_reader() {
    // A small buffer the reader leaves full for a while: data is held up to the
    // window's right edge and the ring wraps under it.
    let cfg = TcpConfig {
        recv_buffer: 16 * 1024,
        recv_buffer_max: 16 * 1024,
        ..TcpConfig::default()
    };
    check(&run(9000, 128 * 1024, Duration::from_millis(300), &cfg));
}
