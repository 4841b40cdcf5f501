//! The simulator as a whole: routing, the filter, the clock, determinism, errors.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use synack_sim::{
    ConfigError, Direction, DropReason, Endpoint, Fate, FilterAction, Hop, Instant, LinkConfig,
    Loss, Sim, SimError,
};

#[test]
fn filter_drops_the_third_packet_from_b_to_a() {
    let b = Toy::new(B).stream(A, 9, 64, Instant::ZERO, ms(1), 5);
    let (mut sim, ha, hb) = pair(
        1,
        Toy::new(A),
        b,
        LinkConfig::default(),
        LinkConfig::default(),
    );
    sim.set_filter(Box::new(|ctx, _| {
        if ctx.direction == Direction::BtoA && ctx.index == 2 {
            FilterAction::Drop
        } else {
            FilterAction::Pass
        }
    }));
    sim.run_until_idle(1000).unwrap();
    assert_eq!(sim.host(ha).seqs(9), [0, 1, 3, 4]);
    let dropped: Vec<_> = sim
        .trace()
        .iter()
        .filter(|r| !r.fate.is_delivered())
        .collect();
    assert_eq!(dropped.len(), 1);
    let r = dropped[0];
    assert_eq!(
        (r.from, r.to, r.fate),
        (hb, Some(ha), Fate::Dropped(DropReason::Filter))
    );
    assert_eq!(ids(&r.bytes), (9, 2));
    assert_eq!(r.hop.map(|h| h.index), Some(2));
    let link = sim.link_ids().next().unwrap();
    assert_eq!(sim.link_stats(link, Direction::BtoA).filtered, 1);
}

#[test]
fn filter_sees_context_and_can_rewrite() {
    let a = Toy::new(A).stream(B, 1, 64, Instant::from_millis(3), ms(1), 2);
    let (mut sim, ha, hb) = pair(
        2,
        a,
        Toy::new(B),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    sim.set_filter(Box::new(move |ctx, bytes| {
        log.borrow_mut().push(*ctx);
        if ctx.index == 0 {
            bytes[40] ^= 0xff;
        }
        FilterAction::Pass
    }));
    sim.run_until_idle(1000).unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].now, seen[0].from, seen[0].to),
        (Instant::from_millis(3), ha, hb)
    );
    assert_eq!((seen[1].now, seen[1].index), (Instant::from_millis(4), 1));
    let rx = &sim.host(hb).received;
    assert!(!rx[0].intact && rx[1].intact);
    // The trace shows what entered the link: the rewritten bytes.
    assert!(!intact(&sim.trace()[0].bytes));
}

/// Both directions impaired in every way, traffic both ways.
fn busy(seed: u64) -> Sim<Toy> {
    let cfg = LinkConfig::default()
        .delay(ms(5))
        .jitter(ms(2))
        .reorder(0.05)
        .loss(Loss::Bernoulli(0.05))
        .duplicate(0.02)
        .corrupt(0.02)
        .rate(50_000_000, 30);
    let a = Toy::new(A).stream(B, 1, 1000, Instant::ZERO, us(100), 2000);
    let b = Toy::new(B).stream(A, 2, 200, Instant::ZERO, us(300), 700);
    let (mut sim, _, _) = pair(seed, a, b, cfg.clone(), cfg);
    sim.run_until_idle(100_000).unwrap();
    sim
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let (x, y, z) = (busy(7), busy(7), busy(8));
    assert_eq!(x.trace(), y.trace());
    assert_eq!(
        x.host(host_named(&x, "b")).received,
        y.host(host_named(&y, "b")).received
    );
    assert_ne!(x.trace(), z.trace());
    let fates = |s: &Sim<Toy>| s.trace().iter().map(|r| r.fate).collect::<Vec<_>>();
    assert_ne!(fates(&x), fates(&z));
    // Every kind of fate happened.
    for fate in [
        Fate::Delivered,
        Fate::Corrupted,
        Fate::Duplicated,
        Fate::Dropped(DropReason::Loss),
    ] {
        assert!(fates(&x).contains(&fate), "{fate}");
    }
}

fn host_named(sim: &Sim<Toy>, name: &str) -> synack_sim::HostId {
    sim.host_ids().find(|h| sim.host_name(*h) == name).unwrap()
}

#[test]
fn adding_a_link_does_not_perturb_others() {
    let lossy = LinkConfig::default()
        .loss(Loss::Bernoulli(0.3))
        .jitter(ms(1));
    let run = |extra: bool| {
        let mut sim = Sim::new(11);
        let ha = sim.add_host(
            "a",
            Toy::new(A).stream(B, 1, 64, Instant::ZERO, ms(1), 500),
            &[ip(A)],
        );
        let hb = sim.add_host("b", Toy::new(B), &[ip(B)]);
        sim.connect(ha, hb, lossy.clone(), lossy.clone());
        if extra {
            let c = Toy::new(C).stream(B, 2, 64, Instant::ZERO, us(700), 500);
            let hc = sim.add_host("c", c, &[ip(C)]);
            sim.connect(hc, hb, lossy.clone(), lossy.clone());
        }
        sim.run_until_idle(100_000).unwrap();
        let on_link0 = |r: &&synack_sim::PacketRecord| r.hop.is_some_and(|h| h.link.index() == 0);
        sim.trace()
            .iter()
            .filter(on_link0)
            .map(|r| (r.t, r.fate, r.deliver_at))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(false), run(true));
}

#[test]
fn host_mut_sends_before_the_next_event() {
    let (mut sim, ha, hb) = pair(
        3,
        Toy::new(A),
        Toy::new(B),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    assert!(!sim.step(), "nothing to do yet");
    sim.run_until(Instant::from_millis(10)).unwrap();
    assert_eq!(sim.now(), Instant::from_millis(10));
    sim.host_mut(ha).send_now(B, 1, 0, 64);
    assert!(sim.step());
    assert_eq!(sim.now(), Instant::from_millis(11));
    assert_eq!(sim.host(hb).seqs(1), [0]);
    assert_eq!(sim.trace()[0].t, Instant::from_millis(10));
    assert!(!sim.step());
}

#[test]
fn run_until_stops_at_the_given_time() {
    let a = Toy::new(A).stream(B, 1, 64, Instant::ZERO, ms(10), 10);
    let (mut sim, _, hb) = pair(
        4,
        a,
        Toy::new(B),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    // Sends at 0, 10, 20, ...; arrivals at 1, 11, 21, 31, 41, 51, ...
    sim.run_until(Instant::from_millis(41)).unwrap();
    assert_eq!(sim.host(hb).seqs(1), [0, 1, 2, 3, 4]);
    assert_eq!(sim.now(), Instant::from_millis(41));
    assert_eq!(sim.next_event_time(), Some(Instant::from_millis(50)));
    sim.run_for(ms(9)).unwrap();
    assert_eq!(sim.in_flight(), 1);
    sim.run_until_idle(1000).unwrap();
    assert_eq!(sim.host(hb).seqs(1).len(), 10);
}

#[test]
fn unroutable_and_malformed_packets_are_counted_not_panicked_on() {
    let mut a = Toy::new(A);
    a.send_raw(vec![]);
    a.send_raw(vec![0x45; 10]);
    a.send_raw(vec![0x99; 60]);
    a.send_raw(vec![0x60; 39]);
    a.send_raw(packet(A, Ipv4Addr::new(10, 9, 9, 9), 1, 0, 64));
    a.send_raw(packet(A, C, 1, 1, 64));
    a.send_raw(packet(A, A, 1, 2, 64));
    let mut sim = Sim::new(5);
    let ha = sim.add_host("a", a, &[ip(A)]);
    let hb = sim.add_host("b", Toy::new(B), &[ip(B)]);
    let hc = sim.add_host("c", Toy::new(C), &[ip(C)]);
    sim.connect(ha, hb, LinkConfig::default(), LinkConfig::default());
    sim.run_until_idle(100).unwrap();
    let stats = sim.stats();
    assert_eq!(
        (stats.malformed, stats.no_route, stats.transmitted),
        (4, 3, 7)
    );
    let tos: Vec<_> = sim.trace().iter().map(|r| (r.to, r.fate, r.hop)).collect();
    let malformed = (None, Fate::Dropped(DropReason::Malformed), None);
    let no_route = Fate::Dropped(DropReason::NoRoute);
    assert_eq!(
        tos,
        [
            malformed,
            malformed,
            malformed,
            malformed,
            (None, no_route, None),
            (Some(hc), no_route, None),
            (Some(ha), no_route, None)
        ]
    );
    assert_eq!(sim.host(hb).count + sim.host(hc).count, 0);
}

#[test]
fn ipv6_packets_are_routed() {
    let (v6a, v6b) = (
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2),
    );
    let mut p = vec![0u8; 48];
    p[0] = 0x60;
    p[6] = PROTO;
    p[8..24].copy_from_slice(&v6a.octets());
    p[24..40].copy_from_slice(&v6b.octets());
    let mut a = Toy::new(A);
    a.send_raw(p.clone());
    let mut sim = Sim::new(6);
    let ha = sim.add_host("a", a, &[ip(A), IpAddr::V6(v6a)]);
    let hb = sim.add_host("b", Toy::new(B), &[ip(B), IpAddr::V6(v6b)]);
    sim.connect(ha, hb, LinkConfig::default(), LinkConfig::default());
    sim.run_until_idle(100).unwrap();
    assert_eq!(sim.host(hb).raw_received, [p]);
    assert_eq!(sim.host_by_addr(IpAddr::V6(v6b)), Some(hb));
    assert_eq!(sim.host_addrs(ha).len(), 2);
}

#[test]
fn inject_puts_a_crafted_packet_on_the_wire() {
    let (mut sim, ha, hb) = pair(
        7,
        Toy::new(A),
        Toy::new(B),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    sim.run_until(Instant::from_millis(2)).unwrap();
    sim.inject(ha, &packet(A, B, 3, 42, 80));
    sim.run_until_idle(10).unwrap();
    let rx = &sim.host(hb).received;
    assert_eq!(
        (rx[0].flow, rx[0].seq, rx[0].at),
        (3, 42, Instant::from_millis(3))
    );
    let link = sim.link_ids().next().unwrap();
    assert_eq!(
        sim.trace()[0].hop,
        Some(Hop {
            link,
            direction: Direction::AtoB,
            index: 0
        })
    );
}

#[test]
fn step_limit_error_names_the_seed() {
    let mut a = Toy::new(A);
    a.ticker = Some((Instant::ZERO, ms(1000)));
    let (mut sim, _, hb) = pair(
        42,
        a,
        Toy::new(B),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    let err = sim.run_until_idle(100).unwrap_err();
    assert!(
        matches!(
            err,
            SimError::StepLimit {
                seed: 42,
                steps: 100,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("seed=42"), "{err}");
    assert_eq!(
        sim.now(),
        Instant::from_secs(99),
        "long timers cost no wall time"
    );

    let err = sim.run_while(|s| s.host(hb).count == 0, 50).unwrap_err();
    assert!(err.to_string().contains("seed=42"));
}

#[test]
fn run_while_reports_going_idle() {
    let a = Toy::new(A).stream(B, 1, 64, Instant::ZERO, ms(1), 3);
    let (mut sim, _, hb) = pair(
        43,
        a,
        Toy::new(B),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    sim.run_while(|s| s.host(hb).count < 2, 100).unwrap();
    assert_eq!(sim.host(hb).count, 2);
    let err = sim.run_while(|s| s.host(hb).count < 10, 100).unwrap_err();
    assert_eq!(
        err,
        SimError::WentIdle {
            seed: 43,
            now: Instant::from_millis(3)
        }
    );
    assert!(err.to_string().contains("seed=43"));
}

#[test]
fn a_timer_that_never_moves_is_a_stall() {
    let mut a = Toy::new(A);
    a.ticker = Some((Instant::from_millis(5), ms(0)));
    let (mut sim, _, _) = pair(
        44,
        a,
        Toy::new(B),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    sim.set_stall_limit(1000);
    let err = sim.run_until(Instant::from_secs(1)).unwrap_err();
    assert!(matches!(err, SimError::Stalled { seed: 44, .. }), "{err:?}");
    assert_eq!(sim.now(), Instant::from_millis(5));
}

#[test]
fn recording_can_be_turned_off_and_taken() {
    let a = Toy::new(A).stream(B, 1, 64, Instant::ZERO, ms(1), 10);
    let (mut sim, _, _) = pair(
        8,
        a,
        Toy::new(B),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    sim.run_until(Instant::from_millis(4)).unwrap();
    assert_eq!(sim.take_trace().len(), 5);
    assert!(sim.trace().is_empty());
    sim.set_record(false);
    sim.run_until_idle(1000).unwrap();
    assert!(sim.trace().is_empty());
    let link = sim.link_ids().next().unwrap();
    assert_eq!(sim.link_stats(link, Direction::AtoB).delivered, 10);
    assert_eq!(sim.link_stats(link, Direction::AtoB).sent_bytes, 640);
}

#[test]
fn setup_mistakes_are_errors() {
    let mut sim: Sim<Toy> = Sim::new(9);
    let ha = sim.add_host("a", Toy::new(A), &[ip(A)]);
    assert_eq!(
        sim.try_add_host("dup", Toy::new(A), &[ip(A)]).unwrap_err(),
        ConfigError::AddressInUse(ip(A))
    );
    let hb = sim.add_host("b", Toy::new(B), &[ip(B)]);
    let bad = LinkConfig::default().loss(Loss::Bernoulli(1.5));
    assert!(matches!(
        sim.try_connect(ha, hb, bad, LinkConfig::default()),
        Err(ConfigError::Probability { .. })
    ));
    assert_eq!(
        sim.try_connect(ha, ha, LinkConfig::default(), LinkConfig::default()),
        Err(ConfigError::SelfLink(ha))
    );
    let link = sim.connect(ha, hb, LinkConfig::default(), LinkConfig::default());
    assert_eq!(
        sim.try_connect(hb, ha, LinkConfig::default(), LinkConfig::default()),
        Err(ConfigError::AlreadyConnected(hb, ha))
    );
    assert_eq!(sim.link_hosts(link), (ha, hb));
    assert!(sim
        .set_link_config(link, Direction::AtoB, LinkConfig::default().mtu(10))
        .is_err());
    sim.set_link_config(link, Direction::AtoB, LinkConfig::default().delay(ms(9)))
        .unwrap();
    assert_eq!(sim.link_config(link, Direction::AtoB).delay, ms(9));
}

/// Endpoints of different kinds in one simulation.
#[test]
fn boxed_endpoints_mix() {
    let mut sim: Sim<Box<dyn Endpoint>> = Sim::new(10);
    let a = Toy::new(A).stream(B, 1, 64, Instant::ZERO, ms(1), 3);
    let ha = sim.add_host("a", Box::new(a), &[ip(A)]);
    let hb = sim.add_host("b", Box::new(Toy::new(B)), &[ip(B)]);
    sim.connect(ha, hb, LinkConfig::default(), LinkConfig::default());
    sim.run_until_idle(100).unwrap();
    assert_eq!(
        sim.link_stats(sim.link_ids().next().unwrap(), Direction::AtoB)
            .delivered,
        3
    );
}

#[test]
fn a_million_packets_cost_cpu_time_not_wall_time() {
    let n = 1_000_000;
    let cfg = LinkConfig::default()
        .delay(ms(20))
        .loss(Loss::Bernoulli(0.01))
        .rate(1_000_000_000, 1000);
    let mut a = Toy::new(A).stream(B, 1, 1000, Instant::ZERO, ms(1), n);
    a.log = false;
    let mut b = Toy::new(B);
    b.log = false;
    let (mut sim, _, hb) = pair(12, a, b, cfg, LinkConfig::default());
    sim.set_record(false);
    let wall = std::time::Instant::now();
    sim.run_until_idle(10_000_000).unwrap();
    let wall = wall.elapsed();
    let virtual_time = sim.now() - Instant::ZERO;
    assert!(virtual_time >= ms(1_000_000), "{virtual_time:?}");
    let got = sim.host(hb).count;
    assert!((985_000..995_000).contains(&got), "{got}");
    assert!(
        wall.as_secs_f64() * 20.0 < virtual_time.as_secs_f64(),
        "{wall:?} of wall time for {virtual_time:?}"
    );
    eprintln!(
        "1M packets: {virtual_time:?} virtual in {wall:?} wall, {} steps",
        sim.stats().steps
    );
}
