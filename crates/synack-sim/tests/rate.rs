//! The rate limit and its bounded FIFO: real congestion.

mod common;

use common::*;
use synack_sim::{Direction, DropReason, Fate, Instant, LinkConfig, Sim};

/// 10 Mbit/s: a 1250-byte packet takes exactly 1 ms to serialize.
const RATE: u64 = 10_000_000;
const LEN: usize = 1250;

#[test]
fn serialization_paces_a_burst_exactly() {
    let cfg = LinkConfig::default().delay(ms(5)).rate(RATE, 1000);
    let (mut sim, _, b) = one_way(1, cfg, LEN, ms(0), 1000);
    sim.run_until_idle(100_000).unwrap();
    let rx = &sim.host(b).received;
    assert_eq!(rx.len(), 1000);
    for (i, r) in rx.iter().enumerate() {
        assert_eq!(r.seq, i as u64);
        assert_eq!(r.at, Instant::from_millis(i as u64 + 1 + 5), "packet {i}");
    }
}

#[test]
fn full_queue_tail_drops() {
    let cfg = LinkConfig::default().rate(RATE, 50);
    let (mut sim, _, b) = one_way(2, cfg, LEN, ms(0), 1000);
    sim.run_until_idle(100_000).unwrap();
    // One on the wire plus 50 waiting; the rest of the burst finds the queue full.
    assert_eq!(sim.host(b).seqs(1), (0..51).collect::<Vec<_>>());
    let link = sim.link_ids().next().unwrap();
    let stats = sim.link_stats(link, Direction::AtoB);
    assert_eq!(stats.queue_full, 949);
    assert_eq!(stats.dropped(), 949);
    assert_eq!(sim.trace()[51].fate, Fate::Dropped(DropReason::QueueFull));
}

#[test]
fn overload_is_capped_at_the_rate() {
    // Offer 20 Mbit/s (a packet every 0.5 ms) to a 10 Mbit/s link for 2 s.
    let cfg = LinkConfig::default().delay(ms(10)).rate(RATE, 100);
    let (mut sim, _, b) = one_way(3, cfg, LEN, us(500), 4000);
    sim.run_until_idle(100_000).unwrap();
    let rx = &sim.host(b).received;
    let span = rx.last().unwrap().at - rx.first().unwrap().at;
    let bits = (rx.len() - 1) as f64 * LEN as f64 * 8.0;
    let bps = bits / span.as_secs_f64();
    assert!(
        (bps / RATE as f64 - 1.0).abs() < 0.01,
        "throughput {bps} bit/s"
    );
    let link = sim.link_ids().next().unwrap();
    assert!(sim.link_stats(link, Direction::AtoB).queue_full > 1500);
}

#[test]
fn two_flows_share_a_bottleneck() {
    // a and c each offer 7.5 Mbit/s to b through the same 10 Mbit/s direction,
    // with random gaps (perfectly periodic senders lock into phase with a
    // drop-tail queue and split it unevenly: Floyd & Jacobson 1992).
    let interval = us(1333);
    let count = 1500; // 2 s
    let mut sim = Sim::new(4);
    let ha = sim.add_host(
        "a",
        Toy::new(A)
            .stream(B, 1, LEN, Instant::ZERO, interval, count)
            .random_gaps(1),
        &[ip(A)],
    );
    let hb = sim.add_host("b", Toy::new(B), &[ip(B)]);
    let start_c = Instant::from_micros(400);
    let hc = sim.add_host(
        "c",
        Toy::new(C)
            .stream(B, 2, LEN, start_c, interval, count)
            .random_gaps(2),
        &[ip(C)],
    );
    let cfg = LinkConfig::default().delay(ms(10)).rate(RATE, 20);
    let link = sim.connect(ha, hb, cfg, LinkConfig::default());
    sim.add_route(hc, hb, link, Direction::AtoB).unwrap();
    sim.add_route(hb, hc, link, Direction::BtoA).unwrap();
    assert_eq!(sim.route(hc, hb), Some((link, Direction::AtoB)));
    sim.run_until_idle(100_000).unwrap();

    let rx = &sim.host(hb).received;
    let (first, last) = (rx.first().unwrap().at, rx.last().unwrap().at);
    let bps = (rx.len() - 1) as f64 * LEN as f64 * 8.0 / (last - first).as_secs_f64();
    assert!(
        (bps / RATE as f64 - 1.0).abs() < 0.02,
        "total throughput {bps} bit/s"
    );
    let from_a = sim.host(hb).seqs(1).len() as f64;
    let from_c = sim.host(hb).seqs(2).len() as f64;
    let share = from_a / (from_a + from_c);
    assert!(
        (0.35..0.65).contains(&share),
        "a's share {share} ({from_a} vs {from_c})"
    );
    let stats = sim.link_stats(link, Direction::AtoB);
    assert_eq!(stats.sent, 2 * count);
    assert_eq!(stats.delivered + stats.queue_full, 2 * count);
    assert!(stats.queue_full > 0, "the bottleneck must congest");
}

#[test]
fn loss_happens_after_the_queue() {
    // A lost packet still used its serialization slot: the next one is not sped up.
    let cfg = LinkConfig::default()
        .delay(ms(0))
        .rate(RATE, 100)
        .loss(synack_sim::Loss::Bernoulli(0.5));
    let (mut sim, _, b) = one_way(5, cfg, LEN, ms(0), 200);
    sim.run_until_idle(100_000).unwrap();
    for r in &sim.host(b).received {
        assert_eq!(r.at, Instant::from_millis(r.seq + 1));
    }
}
