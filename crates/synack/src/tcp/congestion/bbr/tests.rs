use super::*;

const MSS: usize = 1000;
const RTT: Duration = Duration::from_millis(10);

/// A synthetic path: one rate sample per round trip.
struct Path {
    now: Instant,
    delivered: u64,
    rtt: Duration,
}

impl Path {
    fn new() -> Self {
        Self {
            now: Instant::from_secs(1),
            delivered: 0,
            rtt: RTT,
        }
    }

    /// One round trip at `bw` bytes/s, with `pipe` bytes in flight after the ACK.
    fn round(&mut self, b: &mut Bbr, bw: u64, pipe: usize) {
        self.round_with(b, bw, pipe, false);
    }

    fn round_with(&mut self, b: &mut Bbr, bw: u64, pipe: usize, app_limited: bool) {
        let bytes = bw * u64::try_from(self.rtt.as_micros()).unwrap() / 1_000_000;
        let prior = self.delivered;
        self.now += self.rtt;
        self.delivered += bytes;
        let rs = RateSample {
            measured: true,
            delivered: bytes,
            interval: self.rtt,
            app_limited,
            rtt: Some(self.rtt),
            prior_delivered: prior,
            total_delivered: self.delivered,
        };
        b.on_ack(self.now, bytes as usize, Some(self.rtt), pipe);
        b.on_rate_sample(self.now, Some(&rs), bytes as usize, pipe);
    }
}

/// 10 MB/s × 10 ms: a BDP of 100 kB.
const BW: u64 = 10_000_000;
const BDP: usize = 100_000;

/// STARTUP on a path of `BW`: doubling rounds until the rate stops growing,
/// then flat rounds until the pipe is full. Returns the path.
fn fill_pipe(b: &mut Bbr, pipe: usize) -> Path {
    let mut p = Path::new();
    let mut bw = BW / 16;
    while bw < BW {
        p.round(b, bw, pipe);
        bw *= 2;
    }
    for _ in 0..4 {
        p.round(b, BW, pipe);
    }
    p
}

#[test]
fn gains_per_state_table() {
    // (name, state, pacing_gain, cwnd_gain), gains in thousandths.
    let cases = [
        ("STARTUP: 2/ln2 both", BbrState::Startup, 2885, 2885),
        (
            "DRAIN: ln2/2 pacing, cwnd as STARTUP",
            BbrState::Drain,
            347,
            2885,
        ),
        ("PROBE_BW: cwnd_gain 2", BbrState::ProbeBw, 0, 2000),
        ("PROBE_RTT: 1 and 1", BbrState::ProbeRtt, 1000, 1000),
    ];
    for (name, state, pacing, cwnd) in cases {
        let mut b = Bbr::new(MSS);
        match state {
            BbrState::Startup => {}
            BbrState::Drain => {
                fill_pipe(&mut b, 4 * BDP);
            }
            BbrState::ProbeBw => {
                let mut p = fill_pipe(&mut b, 4 * BDP);
                p.round(&mut b, BW, BDP / 2);
            }
            BbrState::ProbeRtt => {
                let mut p = fill_pipe(&mut b, 4 * BDP);
                p.round(&mut b, BW, BDP / 2);
                p.rtt = RTT * 2;
                p.now += Duration::from_secs(11);
                p.round(&mut b, BW, BDP);
            }
        }
        assert_eq!(b.state(), state, "{name}");
        if state == BbrState::ProbeBw {
            assert!(GAIN_CYCLE.contains(&b.pacing_gain()), "{name}");
            assert_ne!(b.pacing_gain(), 750, "{name}: never starts draining");
        } else {
            assert_eq!(b.pacing_gain(), pacing, "{name}");
        }
        assert_eq!(b.cwnd_gain(), cwnd, "{name}");
    }
}

#[test]
fn gain_cycle_is_the_drafts() {
    assert_eq!(GAIN_CYCLE, [1250, 750, 1000, 1000, 1000, 1000, 1000, 1000]);
    // 2/ln 2 = 2.8854; its inverse 0.3466.
    assert_eq!(HIGH_GAIN, 2885);
    assert_eq!(DRAIN_GAIN, 347);
    assert_eq!(HIGH_GAIN * DRAIN_GAIN / 1000, 1001);
}

#[test]
fn startup_grows_the_window_by_what_is_delivered() {
    let mut b = Bbr::new(MSS);
    let mut p = Path::new();
    let before = b.cwnd();
    p.round(&mut b, BW / 16, 0);
    assert_eq!(b.cwnd(), before + 6250, "cwnd += delivered in STARTUP");
    assert_eq!(b.state(), BbrState::Startup);
    assert!(b.in_slow_start());
}

#[test]
fn startup_leaves_after_three_rounds_under_25_percent_growth() {
    // (name, growth per round after the doubling, in percent; rounds until full)
    let cases = [
        ("flat: three rounds", 100, Some(3)),
        ("+10 %: 1.1, 1.21 < 1.25, then 1.33 resets", 110, None),
        ("+20 %: 1.2, then 1.44 resets", 120, None),
        ("+25 %: every round is growth", 125, None),
        (
            "+24 %: under the bar once, but 1.24² = 1.54 resets",
            124,
            None,
        ),
    ];
    for (name, pct, want) in cases {
        let mut b = Bbr::new(MSS);
        let mut p = Path::new();
        // Doubling: never full.
        for k in 0..6u32 {
            p.round(&mut b, (BW >> 6) << k, 4 * BDP);
            assert!(!b.filled_pipe(), "{name}: round {k}: still growing");
        }
        let mut bw = (BW >> 6) << 5;
        let mut full_at = None;
        for k in 1..=6 {
            bw = bw * pct / 100;
            p.round(&mut b, bw, 4 * BDP);
            if b.filled_pipe() && full_at.is_none() {
                full_at = Some(k);
            }
        }
        match want {
            Some(k) => {
                assert_eq!(full_at, Some(k), "{name}");
                assert_eq!(b.state(), BbrState::Drain, "{name}: inflight 4 BDP > BDP");
            }
            // Growth that compounds past 25 % within three rounds restarts the count.
            None => assert_eq!(full_at, None, "{name}"),
        }
    }
}

#[test]
fn app_limited_rounds_do_not_fill_the_pipe() {
    let mut b = Bbr::new(MSS);
    let mut p = Path::new();
    for _ in 0..10 {
        p.round_with(&mut b, BW, BDP / 10, true);
    }
    assert!(!b.filled_pipe());
    assert_eq!(b.state(), BbrState::Startup);
}

#[test]
fn drain_ends_when_inflight_is_at_most_bdp() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    assert_eq!(b.state(), BbrState::Drain);
    p.round(&mut b, BW, BDP + MSS);
    assert_eq!(b.state(), BbrState::Drain, "one segment above BDP");
    p.round(&mut b, BW, BDP);
    assert_eq!(b.state(), BbrState::ProbeBw);
    assert_eq!(b.inflight(1000), BDP);
}

#[test]
fn probe_bw_cwnd_is_two_bdp_plus_three_segments() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    for _ in 0..40 {
        p.round(&mut b, BW, BDP);
    }
    assert_eq!(b.state(), BbrState::ProbeBw);
    assert_eq!(b.btl_bw(), BW);
    assert_eq!(b.rt_prop(), Some(RTT));
    assert_eq!(b.cwnd(), 2 * BDP + 3 * MSS);
}

#[test]
fn probe_bw_cycles_one_phase_per_rt_prop() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    p.round(&mut b, BW, BDP);
    let mut phases: alloc::vec::Vec<(u64, u32)> = alloc::vec::Vec::new();
    for _ in 0..60 {
        // Inflight at 5/4 BDP so the probing phase may end on time.
        let pipe = if b.pacing_gain() > 1000 {
            BDP * 5 / 4
        } else {
            BDP + MSS
        };
        p.round(&mut b, BW, pipe);
        match phases.last_mut() {
            Some((g, n)) if *g == b.pacing_gain() => *n += 1,
            _ => phases.push((b.pacing_gain(), 1)),
        }
    }
    let gains: alloc::vec::Vec<u64> = phases.iter().map(|&(g, _)| g).collect();
    let probe = gains.iter().position(|&g| g == 1250).expect("a probe");
    assert_eq!(gains[probe + 1], 750, "drain follows probe: {phases:?}");
    assert_eq!(
        gains[probe + 2..probe + 3].to_vec(),
        [1000],
        "then cruise: {phases:?}"
    );
    // A phase ends at the first sample more than RTprop after it began: with one
    // sample per RTprop, two samples; the six 1.0 phases run together as 12.
    for &(g, n) in &phases[1..phases.len() - 1] {
        let want = if g == 1000 { 12 } else { 2 };
        assert_eq!(n, want, "gain {g}: {phases:?}");
    }
}

#[test]
fn pacing_rate_is_gain_times_bw_less_one_percent() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    for _ in 0..20 {
        p.round(&mut b, BW, BDP);
        let want = BW * b.pacing_gain() / 1000 * 99 / 100;
        assert_eq!(b.pacing_rate(), Some(want), "gain {}", b.pacing_gain());
    }
}

#[test]
fn pacing_rate_before_a_bandwidth_sample_is_high_gain_cwnd_over_rtt() {
    let mut b = Bbr::new(MSS);
    assert_eq!(b.pacing_rate(), None);
    b.on_ack(Instant::ZERO, 0, Some(RTT), 0);
    b.on_rate_sample(Instant::ZERO, None, 0, 0);
    // 10 kB · 2.885 / 10 ms = 2.885 MB/s.
    assert_eq!(b.pacing_rate(), Some(2_885_000));
}

#[test]
fn bandwidth_filter_forgets_after_ten_rounds() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    for k in 1..=12 {
        p.round(&mut b, BW / 2, BDP / 2);
        let want = if k < 10 { BW } else { BW / 2 };
        assert_eq!(b.btl_bw(), want, "round {k} at half rate");
    }
}

#[test]
fn probe_rtt_after_ten_seconds_without_a_lower_rtt() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    for _ in 0..5 {
        p.round(&mut b, BW, BDP);
    }
    let cwnd = b.cwnd();
    p.rtt = RTT * 3 / 2;
    p.now += Duration::from_secs(10);
    p.round(&mut b, BW, BDP);
    assert_eq!(b.state(), BbrState::ProbeRtt);
    assert_eq!(b.cwnd(), 4 * MSS, "the floor");
    // Inflight falls to the floor: 200 ms starts, and a round must also pass.
    p.round(&mut b, BW, 4 * MSS);
    assert_eq!(b.state(), BbrState::ProbeRtt);
    for _ in 0..30 {
        p.round(&mut b, BW, 4 * MSS);
    }
    assert_eq!(b.state(), BbrState::ProbeBw, "back after 200 ms");
    assert!(b.cwnd() >= cwnd, "window restored: {} < {cwnd}", b.cwnd());
    assert_eq!(b.rt_prop(), Some(RTT * 3 / 2), "RTprop refreshed");
}

#[test]
fn recovery_conserves_packets_for_a_round_then_restores() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    for _ in 0..10 {
        p.round(&mut b, BW, BDP);
    }
    let cwnd = b.cwnd();
    b.on_congestion_event(p.now, cwnd);
    // The loss ACK: cwnd = pipe + delivered.
    b.on_rate_sample(p.now, None, 2 * MSS, 150 * MSS);
    assert_eq!(b.cwnd(), 152 * MSS);
    // Within the round, never below pipe + delivered, never growing beyond it.
    b.on_rate_sample(p.now, None, MSS, 140 * MSS);
    assert_eq!(b.cwnd(), 152 * MSS);
    b.on_rate_sample(p.now, None, 10 * MSS, 150 * MSS);
    assert_eq!(b.cwnd(), 160 * MSS);
    b.on_recovery_exit(p.now);
    assert_eq!(b.cwnd(), cwnd, "prior_cwnd restored");
}

#[test]
fn rto_starts_from_one_segment_and_restores_after_a_round() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    for _ in 0..10 {
        p.round(&mut b, BW, BDP);
    }
    let cwnd = b.cwnd();
    b.on_rto(p.now, cwnd);
    assert_eq!(b.cwnd(), MSS);
    // The round under way ends; the next starts and restores the window.
    p.round(&mut b, BW, MSS);
    p.round(&mut b, BW, MSS);
    assert!(b.cwnd() >= cwnd, "{} < {cwnd}", b.cwnd());
}

#[test]
fn undo_restores_the_window() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    for _ in 0..10 {
        p.round(&mut b, BW, BDP);
    }
    let cwnd = b.cwnd();
    b.on_rto(p.now, cwnd);
    b.undo(cwnd, usize::MAX);
    assert_eq!(b.cwnd(), cwnd);
    assert!(!b.uses_prr());
    assert_eq!(b.ssthresh(), usize::MAX);
    assert_eq!(b.name(), "bbr");
}

#[test]
fn state_names_are_the_drafts() {
    // (state, name)
    let cases = [
        (BbrState::Startup, "STARTUP"),
        (BbrState::Drain, "DRAIN"),
        (BbrState::ProbeBw, "PROBE_BW"),
        (BbrState::ProbeRtt, "PROBE_RTT"),
    ];
    for (s, n) in cases {
        assert_eq!(s.name(), n);
    }
}

#[test]
fn a_retransmission_gives_no_rtt_sample() {
    let mut b = Bbr::new(MSS);
    let mut p = fill_pipe(&mut b, 4 * BDP);
    p.round(&mut b, BW, BDP);
    let rs = RateSample {
        measured: true,
        delivered: 1000,
        interval: RTT,
        app_limited: false,
        rtt: None,
        prior_delivered: p.delivered,
        total_delivered: p.delivered + 1000,
    };
    b.on_rate_sample(p.now, Some(&rs), 1000, BDP);
    assert_eq!(b.rt_prop(), Some(RTT), "RTprop kept");
}
