//! synack over the simulator: throughput on a long fat pipe, flow control with a
//! closed window, ACK policy, Nagle, keepalive, user timeout, and transfers that
//! survive loss, reordering and duplication across many seeds.

use std::time::Duration;

use synack::{Instant, State, TcpConfig};
use synack_sim::harness::net;
use synack_sim::{Direction, Fate, LinkConfig, Loss};

fn gbit_link(one_way: Duration) -> LinkConfig {
    // Two BDPs of queue (1 Gbit/s × 100 ms = 12.5 MB ≈ 8,300 full packets each), so
    // the window's growth up to the 32 MiB receive-buffer ceiling never overflows
    // the queue: this is the no-loss case. (With one BDP, slow start overshoots into
    // drops, which NewReno without SACK repairs one hole per RTT; SACK recovery and
    // HyStart++ belong to the congestion-control work.)
    LinkConfig::default()
        .delay(one_way)
        .rate(1_000_000_000, 17_000)
}

#[test]
fn long_fat_pipe_fills_after_slow_start() {
    // 1 Gbit/s, 100 ms RTT, no loss. Window scaling and buffer auto-tuning must let
    // the window grow past the 12.5 MB bandwidth-delay product without the user
    // sizing any buffer.
    let bytes: u64 = std::env::var("SYNACK_LFN_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256 << 20);
    let link = gbit_link(Duration::from_millis(50));
    let mut n = net(
        1,
        link.clone(),
        link,
        TcpConfig::default(),
        TcpConfig::default(),
    );
    n.sim.set_record(false);
    let (c, s) = n.connect();
    let o = n.bulk(c, s, bytes, Duration::from_secs(120), Instant::ZERO);
    assert!(
        o.intact && o.delivered == bytes,
        "{o:?}\nclient {:?}\nserver {:?}\nsend_queue {} cap {} timeout {:?} now {}",
        n.sim.host(n.client).info(c),
        n.sim.host(n.server).info(s),
        n.sim.host(n.client).send_queue(c),
        n.sim.host(n.client).send_capacity(c),
        n.sim.host_mut(n.client).poll_timeout(),
        n.sim.now()
    );
    let (half, done) = (o.half_at.unwrap(), o.done_at.unwrap());
    let second_half_bps = (bytes / 2) as f64 * 8.0 / (done - half).as_secs_f64();
    let overall_bps = bytes as f64 * 8.0 / (done - o.first_data.unwrap()).as_secs_f64();
    let stats = n.sim.link_stats(n.link, Direction::AtoB);
    let k = n.sim.host(n.client).counters();
    eprintln!(
        "LFN client: retransmits {} tlp {} rack_losses {} rto {} recoveries {}",
        k.retransmits, k.tlp_probes, k.rack_losses, k.rto_expirations, k.recoveries
    );
    eprintln!(
        "LFN {bytes} B: second half {:.1} Mbit/s, overall {:.1} Mbit/s, dropped {}",
        second_half_bps / 1e6,
        overall_bps / 1e6,
        stats.dropped()
    );
    assert!(
        second_half_bps >= 0.9e9,
        "after slow start: {:.1} Mbit/s < 90% of 1 Gbit/s",
        second_half_bps / 1e6
    );
    let info = n.sim.host(n.server).info(s).unwrap();
    assert!(
        o.max_recv_queue <= 32 << 20,
        "receiver never holds more than its buffer ceiling"
    );
    assert!(info.rcv_wscale >= 8, "scaled window: {info:?}");
}

fn plain_link() -> LinkConfig {
    LinkConfig::default().delay(Duration::from_millis(10))
}

#[test]
fn zero_window_persist_probes_then_recovery_even_if_the_update_is_lost() {
    for drop_update in [false, true] {
        // A slow reader with a 16 KiB receive buffer (SO_RCVBUF before listen).
        let small = TcpConfig {
            recv_buffer: 16 * 1024,
            auto_tune: false,
            ..TcpConfig::default()
        };
        let mut n = net(2, plain_link(), plain_link(), TcpConfig::default(), small);
        let (c, s) = n.connect();
        let read_from = n.sim.now() + Duration::from_secs(5);
        if drop_update {
            // Drop the first server→client segment after the reader resumes: the
            // window update. Persist probes must recover from it.
            let mut armed = true;
            n.sim.set_filter(Box::new(move |ctx, _bytes| {
                if armed && ctx.now >= read_from && ctx.direction == Direction::BtoA {
                    armed = false;
                    return synack_sim::FilterAction::Drop;
                }
                synack_sim::FilterAction::Pass
            }));
        }
        let o = n.bulk(c, s, 256 * 1024, Duration::from_secs(120), read_from);
        assert!(
            o.intact && o.delivered == 256 * 1024,
            "drop_update={drop_update}: {o:?}"
        );
        let probes = n.sim.host(n.client).counters().window_probes;
        assert!(
            probes >= 3,
            "drop_update={drop_update}: persist probes went out ({probes})"
        );
        assert!(
            o.max_recv_queue <= 16 * 1024,
            "receiver never overran its 16 KiB buffer"
        );
        // Probes back off: gaps between successive zero-window probes grow.
        let probe_times: Vec<Instant> = n
            .sim
            .trace()
            .iter()
            .filter(|r| r.from == n.client)
            .filter_map(|r| synack::wire::parse(&r.bytes).ok().map(|seg| (r.t, seg)))
            .filter(|(t, seg)| {
                *t < read_from
                    && seg.payload.is_empty()
                    && !seg.tcp.flags.syn()
                    && !seg.tcp.flags.fin()
            })
            .map(|(t, _)| t)
            .collect();
        let gaps: Vec<Duration> = probe_times
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|g| *g >= Duration::from_millis(100))
            .collect();
        assert!(
            gaps.windows(2).any(|g| g[1] > g[0]),
            "drop_update={drop_update}: backoff in {gaps:?}"
        );
        assert!(
            o.done_at.unwrap() < read_from + Duration::from_secs(3),
            "drop_update={drop_update}: recovered promptly"
        );
    }
}

#[test]
fn clean_link_gets_about_one_ack_per_two_segments() {
    let mut n = net(
        3,
        plain_link(),
        plain_link(),
        TcpConfig::default(),
        TcpConfig::default(),
    );
    let (c, s) = n.connect();
    let o = n.bulk(c, s, 8 << 20, Duration::from_secs(60), Instant::ZERO);
    assert!(o.intact);
    let (mut data, mut acks) = (0usize, 0usize);
    for r in n.sim.trace() {
        let Ok(seg) = synack::wire::parse(&r.bytes) else {
            continue;
        };
        if r.from == n.client && seg.payload.len() > 1000 {
            data += 1;
        } else if r.from == n.server && seg.payload.is_empty() {
            acks += 1;
        }
    }
    let ratio = data as f64 / acks as f64;
    eprintln!("data segments {data}, pure ACKs {acks}, ratio {ratio:.2}");
    assert!(
        (1.7..=2.3).contains(&ratio),
        "about one ACK per two full segments: {data} data / {acks} ACKs"
    );
}

/// An interactive exchange: the client writes 1-byte messages every 2 ms; the
/// server echoes. Returns the number of data segments the client sent.
fn echo_segments(nodelay: bool) -> (usize, u64) {
    let mut n = net(
        4,
        plain_link(),
        plain_link(),
        TcpConfig::default(),
        TcpConfig::default(),
    );
    let (c, s) = n.connect();
    n.sim.host_mut(n.client).set_nodelay(c, nodelay).unwrap();
    let start = n.sim.now();
    let mut written = 0u64;
    let mut echoed = 0u64;
    let mut buf = [0u8; 4096];
    while echoed < 200 {
        let due = (n.sim.now() - start).as_millis() as u64 / 2;
        while written < 200 && written <= due {
            n.sim.host_mut(n.client).send(c, b"k").unwrap();
            written += 1;
        }
        if let Ok(k) = n.sim.host_mut(n.server).recv(s, &mut buf) {
            n.sim.host_mut(n.server).send(s, &buf[..k]).unwrap();
        }
        if let Ok(k) = n.sim.host_mut(n.client).recv(c, &mut buf) {
            echoed += k as u64;
        }
        // Wake at least every millisecond so the writer keeps its pace.
        let next = n.sim.now() + Duration::from_millis(1);
        n.sim.run_until(next).unwrap();
    }
    let segs = n
        .sim
        .trace()
        .iter()
        .filter(|r| {
            r.from == n.client
                && synack::wire::parse(&r.bytes).is_ok_and(|seg| !seg.payload.is_empty())
        })
        .count();
    (segs, echoed)
}

#[test]
fn nagle_coalesces_small_writes_and_nodelay_does_not() {
    let (with_nagle, e1) = echo_segments(false);
    let (no_delay, e2) = echo_segments(true);
    eprintln!("200 one-byte writes: {with_nagle} segments with Nagle, {no_delay} with TCP_NODELAY");
    assert_eq!((e1, e2), (200, 200));
    assert_eq!(no_delay, 200, "TCP_NODELAY sends each write at once");
    assert!(
        with_nagle * 3 <= no_delay,
        "Nagle holds small writes while one is unacknowledged: {with_nagle} vs {no_delay}"
    );
}

#[test]
fn transfers_survive_loss_reordering_and_duplication_across_seeds() {
    let seeds: u64 = std::env::var("SYNACK_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for seed in 0..seeds {
        let link = LinkConfig::default()
            .delay(Duration::from_millis(5))
            .loss(Loss::Bernoulli(0.10))
            .reorder(0.05)
            .duplicate(0.02);
        let mut n = net(
            1000 + seed,
            link.clone(),
            link,
            TcpConfig::default(),
            TcpConfig::default(),
        );
        n.sim.set_record(false);
        let (c, s) = n.connect();
        let o = n.bulk(c, s, 64 * 1024, Duration::from_secs(600), Instant::ZERO);
        assert!(
            o.intact && o.delivered == 64 * 1024,
            "seed={} (replay: SYNACK_SEEDS; net seed {}): {o:?}",
            seed,
            1000 + seed
        );
    }
}

#[test]
fn keepalive_detects_a_vanished_peer() {
    let cfg = TcpConfig {
        keepalive: Some(synack::Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(2),
            count: 3,
        }),
        ..TcpConfig::default()
    };
    let mut n = net(5, plain_link(), plain_link(), cfg, TcpConfig::default());
    let (c, _s) = n.connect();
    let t0 = n.sim.now();
    // The server's host vanishes: everything toward the client is lost from now on.
    n.sim
        .set_link_config(
            n.link,
            Direction::BtoA,
            plain_link().loss(Loss::Bernoulli(1.0)),
        )
        .unwrap();
    n.sim.run_until(t0 + Duration::from_secs(60)).unwrap();
    let st = n.sim.host(n.client);
    assert_eq!(st.error(c), Some(synack::ConnectionError::TimedOut));
    assert_eq!(st.counters().keepalive_probes, 3);
    assert_eq!(st.counters().keepalive_timeouts, 1);
    // 10 s idle + 3 probes 2 s apart + a last 2 s wait.
    let closed_at = n
        .sim
        .trace()
        .iter()
        .filter(|r| r.from == n.client)
        .map(|r| r.t)
        .max()
        .unwrap();
    assert!(
        // The last thing the client heard was during the handshake, just before t0.
        closed_at >= t0 + Duration::from_millis(13_900)
            && closed_at <= t0 + Duration::from_secs(15),
        "last probe at {closed_at}"
    );
}

#[test]
fn keepalive_is_answered_by_a_live_peer() {
    let cfg = TcpConfig {
        keepalive: Some(synack::Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(2),
            count: 3,
        }),
        ..TcpConfig::default()
    };
    let mut n = net(6, plain_link(), plain_link(), cfg, TcpConfig::default());
    let (c, _s) = n.connect();
    let t0 = n.sim.now();
    n.sim.run_until(t0 + Duration::from_secs(100)).unwrap();
    let st = n.sim.host(n.client);
    assert_eq!(st.state(c), Some(State::Established));
    assert!(
        st.counters().keepalive_probes >= 9,
        "one probe per idle period"
    );
    assert_eq!(st.counters().keepalive_timeouts, 0);
}

#[test]
fn user_timeout_fires_when_data_stays_unacknowledged() {
    let mut n = net(
        7,
        plain_link(),
        plain_link(),
        TcpConfig::default(),
        TcpConfig::default(),
    );
    let (c, _s) = n.connect();
    n.sim
        .host_mut(n.client)
        .set_user_timeout(c, Some(Duration::from_secs(5)))
        .unwrap();
    n.sim
        .set_link_config(
            n.link,
            Direction::AtoB,
            plain_link().loss(Loss::Bernoulli(1.0)),
        )
        .unwrap();
    let t0 = n.sim.now();
    n.sim.host_mut(n.client).send(c, b"into the void").unwrap();
    n.sim.run_until(t0 + Duration::from_secs(30)).unwrap();
    let st = n.sim.host(n.client);
    assert_eq!(st.error(c), Some(synack::ConnectionError::TimedOut));
    assert_eq!(st.counters().user_timeouts, 1);
    let last_tx = n
        .sim
        .trace()
        .iter()
        .filter(|r| r.from == n.client)
        .map(|r| r.t)
        .max()
        .unwrap();
    assert!(
        last_tx <= t0 + Duration::from_secs(5),
        "nothing sent after the user timeout"
    );
    assert!(matches!(
        n.sim.trace().last().map(|r| r.fate),
        Some(Fate::Dropped(_)) | Some(_)
    ));
}

/// Goodput of `bytes` over 1 Gbit/s, 2 ms RTT, with random loss `p`.
fn lossy_goodput(seed: u64, p: f64, bytes: u64, cfg: TcpConfig) -> (f64, u64, u64) {
    let link = LinkConfig::default()
        .delay(Duration::from_millis(1))
        .rate(1_000_000_000, 1000)
        .loss(Loss::Bernoulli(p));
    let mut n = net(seed, link.clone(), link, cfg.clone(), cfg);
    n.sim.set_record(false);
    let (c, s) = n.connect();
    let o = n.bulk(c, s, bytes, Duration::from_secs(600), Instant::ZERO);
    assert!(o.intact && o.delivered == bytes, "seed={seed} p={p}: {o:?}");
    let secs = (o.done_at.unwrap() - o.first_data.unwrap()).as_secs_f64();
    let k = n.sim.host(n.client).counters();
    (bytes as f64 * 8.0 / secs, k.rto_expirations, k.recoveries)
}

/// The Mathis et al. estimate for Reno: MSS/RTT · sqrt(3/2) / sqrt(p).
fn mathis_bps(mss: f64, rtt_s: f64, p: f64) -> f64 {
    mss * 8.0 / rtt_s * (1.5f64).sqrt() / p.sqrt()
}

#[test]
fn sack_recovery_keeps_goodput_near_the_mathis_estimate_at_one_percent_loss() {
    let mathis = mathis_bps(1448.0, 0.002, 0.01);
    let (sack_bps, sack_rtos, rec) = lossy_goodput(40, 0.01, 32 << 20, TcpConfig::default());
    let no_sack = TcpConfig {
        sack: false,
        ..TcpConfig::default()
    };
    let (newreno_bps, newreno_rtos, _) = lossy_goodput(40, 0.01, 32 << 20, no_sack);
    eprintln!(
        "1% loss, 2 ms RTT: Mathis {:.1} Mbit/s; SACK {:.1} Mbit/s ({sack_rtos} RTOs, {rec} recoveries); NewReno {:.1} Mbit/s ({newreno_rtos} RTOs)",
        mathis / 1e6,
        sack_bps / 1e6,
        newreno_bps / 1e6
    );
    assert!(
        sack_bps >= 0.8 * mathis,
        "SACK goodput {:.1} Mbit/s below 80% of Mathis {:.1}",
        sack_bps / 1e6,
        mathis / 1e6
    );
}

#[test]
fn a_lost_window_tail_is_recovered_by_the_tail_loss_probe_without_an_rto() {
    let link = LinkConfig::default().delay(Duration::from_millis(10));
    let mut n = net(
        8,
        link.clone(),
        link,
        TcpConfig::default(),
        TcpConfig::default(),
    );
    let (c, s) = n.connect();
    // Drop the first transmission of the last five data segments of a 100 kB write.
    let total = 100_000u32;
    let mut seen = std::collections::HashSet::new();
    let client = n.client;
    n.sim.set_filter(Box::new(move |ctx, bytes| {
        if ctx.from != client {
            return synack_sim::FilterAction::Pass;
        }
        let Ok(seg) = synack::wire::parse(bytes) else {
            return synack_sim::FilterAction::Pass;
        };
        if seg.payload.is_empty() {
            return synack_sim::FilterAction::Pass;
        }
        let first_time = seen.insert(seg.tcp.seq.0);
        // The tail: anything within 5 × 1448 bytes of the end (sequence numbers are
        // relative to the first data byte, which the filter learns from the first segment).
        let first = *seen.iter().min().unwrap();
        let rel = seg.tcp.seq.0.wrapping_sub(first);
        if rel >= total - 5 * 1448 && first_time {
            return synack_sim::FilterAction::Drop;
        }
        synack_sim::FilterAction::Pass
    }));
    let o = n.bulk(
        c,
        s,
        u64::from(total),
        Duration::from_secs(30),
        Instant::ZERO,
    );
    assert!(o.intact && o.delivered == u64::from(total), "{o:?}");
    let k = n.sim.host(n.client).counters();
    eprintln!(
        "tail loss: tlp {} rack_losses {} rto {} retransmits {}",
        k.tlp_probes, k.rack_losses, k.rto_expirations, k.retransmits
    );
    assert!(k.tlp_probes >= 1, "a tail loss probe went out");
    assert_eq!(
        k.rto_expirations, 0,
        "recovered without waiting for the RTO"
    );
    assert!(k.retransmits >= 5);
}

fn reordering_goodput(reorder: f64, seed: u64) -> (f64, u64, u64, u64) {
    // 100 Mbit/s, 20 ms RTT; `reorder` of the packets held back 1–5 ms.
    let link = LinkConfig::default()
        .delay(Duration::from_millis(10))
        .rate(100_000_000, 1000)
        .reorder(reorder)
        .reorder_delay(Duration::from_millis(5));
    let mut n = net(
        seed,
        link.clone(),
        link,
        TcpConfig::default(),
        TcpConfig::default(),
    );
    n.sim.set_record(false);
    let (c, s) = n.connect();
    let bytes = 16u64 << 20;
    let o = n.bulk(c, s, bytes, Duration::from_secs(120), Instant::ZERO);
    assert!(o.intact && o.delivered == bytes, "{o:?}");
    let secs = (o.done_at.unwrap() - o.first_data.unwrap()).as_secs_f64();
    let k = n.sim.host(n.client).counters();
    (
        bytes as f64 * 8.0 / secs,
        k.retransmits,
        k.dsacks_received,
        k.spurious_undos,
    )
}

#[test]
fn pure_reordering_costs_little_goodput() {
    let (base, _, _, _) = reordering_goodput(0.0, 9);
    let (reo, rexmits, dsacks, undos) = reordering_goodput(0.03, 9);
    eprintln!("reordering 3%: {:.1} vs {:.1} Mbit/s without ({rexmits} retransmissions, {dsacks} D-SACKs, {undos} undone)", reo / 1e6, base / 1e6);
    assert!(undos >= 1, "the spurious recovery was detected and undone");
    assert!(
        reo >= 0.9 * base,
        "goodput with reordering {:.1} < 90% of {:.1} Mbit/s",
        reo / 1e6,
        base / 1e6
    );
}

#[test]
fn data_plus_options_never_exceed_the_mss_even_with_sack_blocks() {
    // Both directions send under loss, so data segments piggyback ACKs with SACK
    // blocks. RFC 6691: data + options must fit the MSS (found by the fuzzer).
    let link = LinkConfig::default()
        .delay(Duration::from_millis(5))
        .loss(Loss::Bernoulli(0.05));
    let mut n = net(
        12,
        link.clone(),
        link,
        TcpConfig::default(),
        TcpConfig::default(),
    );
    let (c, s) = n.connect();
    let block = vec![7u8; 300_000];
    n.sim.host_mut(n.client).send(c, &block[..200_000]).unwrap();
    n.sim.host_mut(n.server).send(s, &block[..200_000]).unwrap();
    let mut buf = vec![0u8; 65536];
    let end = n.sim.now() + Duration::from_secs(60);
    while n.sim.now() < end && n.sim.step() {
        let _ = n.sim.host_mut(n.client).recv(c, &mut buf);
        let _ = n.sim.host_mut(n.server).recv(s, &mut buf);
    }
    let mut with_sack = 0;
    for r in n.sim.trace() {
        let Ok(seg) = synack::wire::parse(&r.bytes) else {
            continue;
        };
        if seg.payload.is_empty() {
            continue;
        }
        let options = seg.tcp.header_len() - synack::wire::TCP_HEADER_LEN;
        with_sack += usize::from(!seg.tcp.options.sack().is_empty());
        assert!(
            seg.payload.len() + options <= 1460,
            "{} data + {options} option bytes > MSS 1460",
            seg.payload.len()
        );
    }
    assert!(
        with_sack > 0,
        "the run exercised data segments carrying SACK blocks"
    );
}

/// The sender's fast path is only a shortcut: with it on and off, the same
/// seeds give the same packets at the same times, byte for byte, over a link
/// that loses, reorders and duplicates, with data both ways (full segments in
/// the middle of a flight take the fast path; recovery, probes, the last
/// short segment, FIN and segments carrying SACK blocks the general one), with
/// and without a bottleneck that makes the sender paced and window-limited.
#[test]
fn transmit_fast_path_changes_nothing_on_the_wire() {
    let run = |seed: u64, fast: bool, rate: bool| {
        let mut link = LinkConfig::default()
            .delay(Duration::from_millis(5))
            .loss(Loss::Bernoulli(0.02))
            .reorder(0.03)
            .duplicate(0.01);
        if rate {
            link = link.rate(100_000_000, 200);
        }
        let cfg = TcpConfig {
            transmit_fast_path: fast,
            ..TcpConfig::default()
        };
        let mut n = net(seed, link.clone(), link, cfg.clone(), cfg);
        let (c, s) = n.connect();
        // Data the other way at the same time: the client's data segments
        // then carry SACK blocks for the server's lost segments.
        let (client, server) = (n.client, n.server);
        let (mut back, mut buf) = (0usize, vec![0u8; 65_536]);
        let o = n.bulk_with(
            c,
            s,
            400_000,
            Duration::from_secs(600),
            Instant::ZERO,
            |sim| {
                if back < 200_000 {
                    back += sim.host_mut(server).send(s, &buf[..8_192]).unwrap();
                }
                while let Ok(k) = sim.host_mut(client).recv(c, &mut buf) {
                    if k == 0 {
                        break;
                    }
                }
            },
        );
        assert!(o.intact && o.delivered == 400_000, "seed {seed}: {o:?}");
        let fast_segs = n.sim.host(n.client).counters().segments_out_fast
            + n.sim.host(n.server).counters().segments_out_fast;
        let wire = wire_trace(&n.sim);
        (wire, fast_segs)
    };
    for seed in 0..8 {
        let rate = seed % 2 == 0;
        let (with, fast) = run(7_100 + seed, true, rate);
        let (without, none) = run(7_100 + seed, false, rate);
        assert_eq!(none, 0, "seed {seed}");
        eprintln!("seed {seed}: {fast} fast of {}", with.len());
        assert!(fast > 0, "seed {seed}: no segment took the fast path");
        assert_same_wire(seed, &with, &without);
    }
}

/// Every packet of a run with the time it left, for comparing two runs byte
/// for byte.
fn wire_trace(sim: &synack_sim::Sim<synack::Stack>) -> Vec<(Instant, Vec<u8>)> {
    sim.trace()
        .iter()
        .map(|r| (r.t, r.bytes.to_vec()))
        .collect()
}

/// Two [`wire_trace`]s are the same packets at the same times.
fn assert_same_wire(seed: u64, with: &[(Instant, Vec<u8>)], without: &[(Instant, Vec<u8>)]) {
    assert_eq!(
        with.len(),
        without.len(),
        "seed {seed}: packet counts differ"
    );
    if let Some(i) = (0..with.len()).find(|&i| with[i] != without[i]) {
        panic!(
            "seed {seed}: packet {i} differs at {:?} / {:?}",
            with[i].0, without[i].0
        );
    }
}

/// Header prediction is only a shortcut: with it on and off, the same seeds
/// give the same packets at the same times, byte for byte, over a link that
/// loses, reorders and duplicates (the receiver's in-order segments take the
/// fast path — most of them the stack's, `Stack::input_fast`, which skips
/// the general per-segment bookkeeping — those around holes and the
/// handshake and close the full one).
#[test]
fn header_prediction_changes_nothing_on_the_wire() {
    let run = |seed: u64, prediction: bool| {
        let link = LinkConfig::default()
            .delay(Duration::from_millis(5))
            .rate(100_000_000, 200)
            .loss(Loss::Bernoulli(0.02))
            .reorder(0.03)
            .duplicate(0.01);
        let cfg = TcpConfig {
            header_prediction: prediction,
            ..TcpConfig::default()
        };
        let mut n = net(seed, link.clone(), link, cfg.clone(), cfg);
        let (c, s) = n.connect();
        let o = n.bulk(c, s, 400_000, Duration::from_secs(600), Instant::ZERO);
        assert!(o.intact && o.delivered == 400_000, "seed {seed}: {o:?}");
        let count = |f: fn(&synack::Counters) -> u64| {
            f(n.sim.host(n.client).counters()) + f(n.sim.host(n.server).counters())
        };
        let predicted = count(|c| c.segments_predicted);
        // The stack's receive fast path (`Stack::input_fast`) is part of it.
        let fast = count(|c| c.segments_in_fast);
        let wire = wire_trace(&n.sim);
        (wire, predicted, fast)
    };
    for seed in 0..8 {
        let (with, predicted, fast) = run(7_000 + seed, true);
        let (without, none, no_fast) = run(7_000 + seed, false);
        assert_eq!((none, no_fast), (0, 0), "seed {seed}");
        eprintln!(
            "seed {seed}: {predicted} predicted ({fast} by the stack's fast path) of {}",
            with.len()
        );
        assert!(
            predicted > 0 && fast > 0,
            "seed {seed}: only {predicted} segments predicted, {fast} fast"
        );
        assert_same_wire(seed, &with, &without);
    }
}
