//! Each impairment of a link direction, measured.

mod common;

use common::*;
use synack_sim::{Direction, DropReason, Fate, Instant, LinkConfig, LinkId, Loss, Sim};

fn link0(sim: &Sim<Toy>) -> LinkId {
    sim.link_ids().next().unwrap()
}

fn fates(sim: &Sim<Toy>) -> Vec<Fate> {
    sim.trace().iter().map(|r| r.fate).collect()
}

#[test]
fn delay_is_exact() {
    let cfg = LinkConfig::default().delay(ms(25));
    let (mut sim, _, b) = one_way(1, cfg, 100, ms(1), 100);
    sim.run_until_idle(10_000).unwrap();
    let rx = &sim.host(b).received;
    assert_eq!(rx.len(), 100);
    for (i, r) in rx.iter().enumerate() {
        assert_eq!(r.seq, i as u64);
        assert_eq!(r.at, Instant::from_millis(i as u64 + 25), "packet {i}");
        assert!(r.intact);
    }
    for r in sim.trace() {
        assert_eq!(r.deliver_at, Some(r.t + ms(25)));
        assert_eq!(r.fate, Fate::Delivered);
    }
}

#[test]
fn jitter_never_reorders() {
    let cfg = LinkConfig::default().delay(ms(10)).jitter(ms(50));
    let (mut sim, _, b) = one_way(2, cfg, 100, ms(1), 10_000);
    sim.run_until_idle(100_000).unwrap();
    let rx = &sim.host(b).received;
    assert_eq!(rx.len(), 10_000);
    let mut delays = std::collections::BTreeSet::new();
    for (i, r) in rx.iter().enumerate() {
        assert_eq!(r.seq, i as u64, "jitter reordered");
        let sent = Instant::from_millis(i as u64);
        let d = r.at - sent;
        assert!(d >= ms(10) && d < ms(60), "packet {i}: {d:?}");
        delays.insert(d);
    }
    assert!(
        delays.len() > 1000,
        "jitter too regular: {} distinct delays",
        delays.len()
    );
}

#[test]
fn reorder_holds_back_about_p() {
    let n = 20_000;
    let cfg = LinkConfig::default()
        .delay(ms(10))
        .reorder(0.1)
        .reorder_delay(ms(5));
    let (mut sim, _, b) = one_way(3, cfg, 100, ms(1), n);
    sim.run_until_idle(1_000_000).unwrap();
    let rx = &sim.host(b).received;
    assert_eq!(rx.len() as u64, n, "reordering must not lose packets");

    let held = sim.link_stats(link0(&sim), Direction::AtoB).reordered as f64 / n as f64;
    assert!((held - 0.1).abs() < 0.01, "held back {held}");
    // A held-back packet is passed when its extra hold (uniform 1..=5000 µs) exceeds
    // the 1 ms gap to the next packet: 80% of the time.
    let mut max_seen = None;
    let mut late = 0;
    for r in rx {
        if max_seen.is_some_and(|m| r.seq < m) {
            late += 1;
        } else {
            max_seen = Some(r.seq);
        }
    }
    let late = late as f64 / n as f64;
    assert!(
        (0.06..0.10).contains(&late),
        "arrived after a later packet: {late}"
    );
}

#[test]
fn bernoulli_loss_rate() {
    let n = 100_000;
    let cfg = LinkConfig::default().loss(Loss::Bernoulli(0.1));
    let (mut sim, _, b) = one_way(4, cfg, 40, us(10), n);
    sim.run_until_idle(1_000_000).unwrap();
    let got = sim.host(b).received.len() as f64;
    let rate = 1.0 - got / n as f64;
    // σ = sqrt(0.09 / 1e5) ≈ 0.00095; allow 5σ.
    assert!((rate - 0.1).abs() < 0.005, "loss rate {rate}");
    let stats = sim.link_stats(link0(&sim), Direction::AtoB);
    assert_eq!(stats.lost, n - got as u64);
    assert_eq!(stats.dropped_by(DropReason::Loss), stats.lost);
    let lost = fates(&sim)
        .iter()
        .filter(|f| **f == Fate::Dropped(DropReason::Loss))
        .count();
    assert_eq!(lost as u64, stats.lost);
}

/// Mean length of runs of consecutive losses, and the overall loss rate.
fn bursts(sim: &Sim<Toy>) -> (f64, f64) {
    let (mut runs, mut lost, mut in_run) = (0u64, 0u64, false);
    for f in fates(sim) {
        let is_lost = f == Fate::Dropped(DropReason::Loss);
        if is_lost {
            lost += 1;
            if !in_run {
                runs += 1;
            }
        }
        in_run = is_lost;
    }
    (
        lost as f64 / runs as f64,
        lost as f64 / sim.trace().len() as f64,
    )
}

#[test]
fn gilbert_elliott_loses_in_bursts() {
    let n = 100_000;
    let loss = Loss::gilbert(0.01, 0.25);
    let (mut sim, _, _) = one_way(5, LinkConfig::default().loss(loss), 40, us(10), n);
    sim.run_until_idle(1_000_000).unwrap();
    let (mean_burst, rate) = bursts(&sim);
    assert!(
        (mean_burst - 4.0).abs() < 0.5,
        "mean burst {mean_burst}, want 1/0.25 = 4"
    );
    assert!(
        (rate - loss.mean_rate()).abs() < 0.01,
        "loss rate {rate}, want {}",
        loss.mean_rate()
    );

    // The same average rate, independently: bursts of about 1.
    let iid = Loss::Bernoulli(loss.mean_rate());
    let (mut sim, _, _) = one_way(5, LinkConfig::default().loss(iid), 40, us(10), n);
    sim.run_until_idle(1_000_000).unwrap();
    let (iid_burst, _) = bursts(&sim);
    assert!(iid_burst < 1.2, "i.i.d. mean burst {iid_burst}");
}

#[test]
fn duplication() {
    let n = 20_000;
    let cfg = LinkConfig::default().duplicate(0.05);
    let (mut sim, _, b) = one_way(6, cfg, 100, us(100), n);
    sim.run_until_idle(1_000_000).unwrap();
    let dups = sim.link_stats(link0(&sim), Direction::AtoB).duplicated;
    let rate = dups as f64 / n as f64;
    assert!((rate - 0.05).abs() < 0.008, "duplicate rate {rate}");
    let rx = &sim.host(b).received;
    assert_eq!(rx.len() as u64, n + dups);
    assert!(rx.iter().all(|r| r.intact));
    // Each duplicate arrives right behind its original, at the same time.
    let twice = rx.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(twice as u64, dups);
    let recorded = fates(&sim)
        .iter()
        .filter(|f| **f == Fate::Duplicated)
        .count();
    assert_eq!(recorded as u64, dups);
    assert_eq!(
        sim.link_stats(link0(&sim), Direction::AtoB).delivered,
        n + dups
    );
}

#[test]
fn corruption_flips_bits_the_receiver_can_see() {
    let n = 20_000;
    let cfg = LinkConfig::default().corrupt(0.05);
    let mut a = Toy::new(A).stream(B, 1, 100, Instant::ZERO, us(100), n);
    a.log = false;
    let mut rx = Toy::new(B);
    rx.keep = true;
    let (mut sim, _, b) = pair(7, a, rx, cfg, LinkConfig::default());
    sim.run_until_idle(1_000_000).unwrap();
    let corrupted = sim.link_stats(link0(&sim), Direction::AtoB).corrupted;
    let rate = corrupted as f64 / n as f64;
    assert!((rate - 0.05).abs() < 0.008, "corrupt rate {rate}");

    let got = &sim.host(b).all_bytes;
    assert_eq!(got.len() as u64, n);
    for (record, bytes) in sim.trace().iter().zip(got) {
        let flipped: u32 = record
            .bytes
            .iter()
            .zip(bytes)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        match record.fate {
            Fate::Corrupted => assert!((1..=3).contains(&flipped), "{flipped} bits"),
            Fate::Delivered => assert_eq!(flipped, 0),
            other => panic!("{other}"),
        }
        assert_eq!(
            intact(bytes),
            flipped == 0,
            "{:?} vs {:?}",
            record.bytes,
            bytes
        );
    }
}

#[test]
fn mtu_drops_larger_packets() {
    let mut a = Toy::new(A);
    for (seq, len) in [999, 1000, 1001, 1500].into_iter().enumerate() {
        a.send_now(B, 1, seq as u64, len);
    }
    let (mut sim, _, b) = pair(
        8,
        a,
        Toy::new(B),
        LinkConfig::default().mtu(1000),
        LinkConfig::default(),
    );
    sim.run_until_idle(100).unwrap();
    assert_eq!(sim.host(b).seqs(1), [0, 1]);
    let too_big = Fate::Dropped(DropReason::TooBig);
    assert_eq!(
        fates(&sim),
        [Fate::Delivered, Fate::Delivered, too_big, too_big]
    );
    assert_eq!(sim.link_stats(link0(&sim), Direction::AtoB).too_big, 2);
}

#[test]
fn default_mtu_is_ethernet() {
    let mut a = Toy::new(A);
    a.send_now(B, 1, 0, 1500);
    a.send_now(B, 1, 1, 1501);
    let (mut sim, _, _) = pair(
        8,
        a,
        Toy::new(B),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    sim.run_until_idle(100).unwrap();
    assert_eq!(
        fates(&sim),
        [Fate::Delivered, Fate::Dropped(DropReason::TooBig)]
    );
}

#[test]
fn link_heal_at_turns_impairments_off() {
    let cfg = LinkConfig::default()
        .loss(Loss::Bernoulli(1.0))
        .duplicate(1.0)
        .jitter(ms(3))
        .heal_at(Instant::from_millis(50));
    let (mut sim, _, b) = one_way(9, cfg, 100, ms(1), 100);
    sim.run_until_idle(10_000).unwrap();
    let rx = &sim.host(b).received;
    assert_eq!(sim.host(b).seqs(1), (50..100).collect::<Vec<_>>());
    for r in rx {
        assert_eq!(
            r.at,
            Instant::from_millis(r.seq + 1),
            "no jitter after healing"
        );
    }
}

#[test]
fn sim_heal_at_heals_every_link() {
    let lossy = LinkConfig::default()
        .loss(Loss::Bernoulli(1.0))
        .corrupt(1.0);
    let a = Toy::new(A).stream(B, 1, 100, Instant::ZERO, ms(1), 100);
    let b = Toy::new(B).stream(A, 2, 100, Instant::ZERO, ms(1), 100);
    let (mut sim, ha, hb) = pair(10, a, b, lossy.clone(), lossy);
    sim.heal_at(Instant::from_millis(30));
    sim.run_until_idle(10_000).unwrap();
    assert_eq!(sim.host(hb).seqs(1), (30..100).collect::<Vec<_>>());
    assert_eq!(sim.host(ha).seqs(2), (30..100).collect::<Vec<_>>());
    assert!(sim.host(hb).received.iter().all(|r| r.intact));
}
