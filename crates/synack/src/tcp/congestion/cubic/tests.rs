use super::*;

const SMSS: usize = 1000;
const MAX: usize = usize::MAX;
const T: Instant = Instant::ZERO;

/// One thing that happens to the algorithm (all at time zero).
#[derive(Clone, Copy, Debug)]
enum Step {
    /// `n` ACKs of `bytes` each, RTT 50 ms.
    Acks(usize, usize),
    Loss(usize),
    Exit,
    Rto(usize),
    Mss(usize),
}
use Step::*;

fn ack(bytes: usize) -> Step {
    Acks(1, bytes)
}

/// CUBIC with SMSS 1000 at the given window and threshold.
fn at(cwnd: usize, ssthresh: usize) -> Cubic {
    let mut c = Cubic::new(SMSS);
    c.cwnd = cwnd;
    c.ssthresh = ssthresh;
    c
}

fn run(c: &mut Cubic, steps: &[Step]) {
    for &step in steps {
        match step {
            Acks(n, bytes) => {
                (0..n).for_each(|_| c.on_ack(T, bytes, Some(Duration::from_millis(50)), 0));
            }
            Loss(in_flight) => c.on_congestion_event(T, in_flight),
            Exit => c.on_recovery_exit(T),
            Rto(in_flight) => c.on_rto(T, in_flight),
            Mss(mss) => c.set_mss(mss),
        }
    }
}

/// A bulk sender on a path of fixed RTT: each round, one ACK per SMSS of the
/// window, evenly spread over the RTT.
struct Path {
    cc: Cubic,
    now: Instant,
    rtt: Duration,
}

impl Path {
    fn new(cc: Cubic, rtt_ms: u64) -> Self {
        Self {
            cc,
            now: Instant::from_secs(1),
            rtt: Duration::from_millis(rtt_ms),
        }
    }

    fn rounds(&mut self, n: usize) {
        for _ in 0..n {
            let acks = self.cc.cwnd().div_ceil(SMSS).max(1);
            let gap = self.rtt / u32::try_from(acks).unwrap();
            for _ in 0..acks {
                self.now += gap;
                let flight = self.cc.cwnd();
                self.cc.on_ack(self.now, SMSS, Some(self.rtt), flight);
            }
        }
    }

    /// Loss with the window full, then recovery takes one RTT.
    fn loss(&mut self) {
        self.cc.on_congestion_event(self.now, self.cc.cwnd());
        self.now += self.rtt;
        self.cc.on_recovery_exit(self.now);
    }

    /// Time since the congestion-avoidance stage began.
    fn t(&self) -> Duration {
        self.now - self.cc.epoch.map_or(self.now, |e| e.start)
    }
}

#[test]
fn cube_root_table() {
    // (name, n, ⌊∛n⌋)
    #[rustfmt::skip]
    let cases: [(&str, u128, u64); 10] = [
        ("zero", 0, 0),
        ("one", 1, 1),
        ("just below a cube", 7, 1),
        ("a cube", 8, 2),
        ("26", 26, 2),
        ("27", 27, 3),
        ("10^18", 1_000_000_000_000_000_000, 1_000_000),
        ("7.5 * 10^19: K for W_max 100 segments", 75_000_000_000_000_000_000, 4_217_163),
        ("u64::MAX", u128::from(u64::MAX), 2_642_245),
        ("u128::MAX", u128::MAX, 6_981_463_658_331),
    ];
    for (name, n, root) in cases {
        assert_eq!(cube_root(n), root, "{name}");
    }
}

#[test]
fn k_table() {
    // (name, W_max, cwnd_epoch, in segments, K in ms): K = ∛(W_max·0.3/0.4)
    let cases = [
        ("W_max 10", 10, 7, 1957),
        ("W_max 100", 100, 70, 4217),
        ("W_max 1000", 1000, 700, 9085),
        ("W_max 10 000", 10_000, 7000, 19_574),
        ("cwnd_epoch = W_max: K = 0", 50, 50, 0),
        ("cwnd_epoch > W_max: K = 0", 50, 60, 0),
    ];
    for (name, w_max, epoch, k_ms) in cases {
        let k = k_micros(w_max * SMSS, epoch * SMSS, SMSS);
        assert_eq!(k / 1000, k_ms, "{name}");
    }
    // K is in segments: the same windows in bytes at another MSS agree.
    assert_eq!(k_micros(100 * 1460, 70 * 1460, 1460) / 1000, 4217);
    // Extremes saturate instead of overflowing.
    assert_eq!(k_micros(MAX, 0, 1), k_micros(MAX, 0, 0));
    assert!(k_micros(MAX, 0, 1) > 3_000_000_000_000);
}

#[test]
fn w_cubic_table() {
    let k = k_micros(100 * SMSS, 70 * SMSS, SMSS);
    // (name, t in µs, W_cubic in bytes; the truncation of K to a µs leaves
    // at most a byte at t = 0 and 2K)
    let cases = [
        ("t = 0: cwnd_epoch", 0, 70_000),
        ("t = K/2: concave, near the plateau", k / 2, 96_250),
        ("t = K: W_max", k, 100_000),
        ("t = 3K/2: convex, leaving the plateau", k + k / 2, 103_750),
        ("t = 2K: W_max + (W_max - cwnd_epoch)", 2 * k, 130_000),
    ];
    for (name, t, w) in cases {
        let got = w_cubic(100 * SMSS, k, t, SMSS);
        assert!(got.abs_diff(w) <= 1, "{name}: {got} vs {w}");
    }
    assert_eq!(w_cubic(MAX, 0, u64::MAX, 1), MAX, "saturates high");
    assert_eq!(w_cubic(5, u64::MAX, 0, MAX), 0, "saturates low");
}

#[test]
fn rules_table() {
    // (name, start, steps, cwnd after, ssthresh after)
    #[rustfmt::skip]
    let cases: [(&str, Cubic, &[Step], usize, usize); 20] = [
        ("initial window, RFC 6928", Cubic::new(SMSS), &[], 10_000, MAX),
        ("zero MSS treated as one", Cubic::new(0), &[], 10, MAX),
        // Slow start with HyStart++ (RFC 9406: L = 8).
        ("slow start: + one SMSS", at(10_000, MAX), &[ack(1000)], 11_000, MAX),
        ("slow start: delayed ACK", at(10_000, MAX), &[ack(2000)], 12_000, MAX),
        ("slow start: stretch ACK capped at 8 SMSS", at(10_000, MAX), &[ack(20_000)], 18_000, MAX),
        ("slow start: doubles per window", at(10_000, MAX), &[Acks(10, 1000)], 20_000, MAX),
        ("no HyStart++: RFC 5681's SMSS cap", at(10_000, MAX).with_hystart(false), &[ack(20_000)], 11_000, MAX),
        ("later slow start: RFC 5681's SMSS cap", at(5000, 10_000), &[ack(3000)], 6000, 10_000),
        // The 500 bytes left over start the stage: K = 0, α = 1 (W_est ≥
        // cwnd_prior), W_est = 10 000 + 1000 * 500 / 10 000.
        ("slow start stops at ssthresh", at(9500, 10_000), &[ack(1000)], 10_050, 10_000),
        // Loss by duplicate ACKs, §4.6: β = 0.7 of FlightSize, floor 2 SMSS.
        ("loss: 0.7 of the flight", at(20_000, MAX), &[Loss(20_000)], 14_000, 14_000),
        ("loss: FlightSize, not cwnd", at(40_000, MAX), &[Loss(10_000)], 7000, 7000),
        ("loss: floor of 2 SMSS", at(20_000, MAX), &[Loss(1000)], 2000, 2000),
        ("loss: rounding down", at(20_000, MAX), &[Loss(10_009)], 7006, 7006),
        ("loss: no growth in recovery", at(20_000, MAX), &[Loss(20_000), Acks(30, 1000)], 14_000, 14_000),
        ("loss: one reduction per recovery", at(20_000, MAX), &[Loss(20_000), Loss(14_000)], 14_000, 14_000),
        // Retransmission timeout, §4.8.
        ("RTO: loss window, β for ssthresh", at(20_000, MAX), &[Rto(20_000)], 1000, 14_000),
        ("RTO: repeated timeout keeps ssthresh", at(20_000, MAX), &[Rto(20_000), Rto(1000)], 1000, 14_000),
        ("RTO: after an ACK, recomputed", at(20_000, MAX), &[Rto(20_000), ack(1000), Rto(6000)], 1000, 4200),
        ("RTO: new MSS is the loss window", at(20_000, MAX), &[Mss(500), Rto(20_000)], 500, 14_000),
        ("RTO: ends recovery", at(20_000, MAX), &[Loss(20_000), Rto(14_000), Exit], 1000, 9800),
    ];
    for (name, mut c, steps, cwnd, ssthresh) in cases {
        run(&mut c, steps);
        assert_eq!(c.cwnd(), cwnd, "{name}: cwnd");
        assert_eq!(c.ssthresh(), ssthresh, "{name}: ssthresh");
    }
}

#[test]
fn undo_restores_the_curve() {
    let mut p = Path::new(at(100 * SMSS, 100 * SMSS), 100);
    p.loss();
    p.rounds(10);
    let (cwnd, ssthresh, w_max, epoch) = (p.cc.cwnd(), p.cc.ssthresh(), p.cc.w_max(), p.cc.epoch);
    // A second "loss" that D-SACK later shows was reordering.
    p.cc.on_congestion_event(p.now, cwnd);
    assert!(p.cc.cwnd() < cwnd);
    assert_ne!(p.cc.w_max(), w_max, "fast convergence moved W_max");
    p.cc.undo(cwnd, ssthresh);
    assert_eq!((p.cc.cwnd(), p.cc.ssthresh()), (cwnd, ssthresh));
    assert_eq!(
        (p.cc.w_max(), p.cc.epoch),
        (w_max, epoch),
        "same curve, same t_epoch"
    );
    assert!(!p.cc.in_recovery());
    // A spurious timeout likewise.
    p.cc.on_rto(p.now, cwnd);
    p.cc.undo(cwnd, ssthresh);
    assert_eq!(
        (p.cc.cwnd(), p.cc.w_max(), p.cc.epoch),
        (cwnd, w_max, epoch)
    );
    // Undo never lowers the window, and a second undo has nothing to restore.
    p.cc.undo(SMSS, SMSS);
    assert_eq!((p.cc.cwnd(), p.cc.ssthresh()), (cwnd, ssthresh));
}

#[test]
fn fast_convergence_table() {
    // (name, fast convergence, W_max after a second loss 30% lower)
    let cases = [
        ("on: W_max = cwnd * (1 + β) / 2", true, 59_500),
        ("off: W_max = cwnd", false, 70_000),
    ];
    for (name, on, w_max) in cases {
        let mut c = at(100_000, MAX).with_fast_convergence(on);
        run(&mut c, &[Loss(100_000), Exit]);
        assert_eq!(c.w_max(), Some(100_000), "{name}: first loss");
        run(&mut c, &[Loss(70_000)]);
        assert_eq!(c.w_max(), Some(w_max), "{name}");
        assert_eq!(c.cwnd(), 49_000, "{name}: cwnd");
    }
    // A loss above the last W_max remembers the new cwnd either way.
    let mut c = at(100_000, MAX);
    run(&mut c, &[Loss(100_000), Exit]);
    c.cwnd = 120_000;
    run(&mut c, &[Loss(120_000)]);
    assert_eq!(c.w_max(), Some(120_000));
}

#[test]
fn aimd_trajectory_regains_w_max_at_k() {
    // W_max 100 segments, RTT 100 ms: K ≈ 4.22 s ≈ 42 RTTs.
    let mut p = Path::new(at(100 * SMSS, 100 * SMSS), 100);
    p.loss();
    assert_eq!(p.cc.cwnd(), 70 * SMSS);
    p.rounds(1);
    let k = p.cc.k().unwrap();
    assert_eq!(k.as_millis(), 4217);
    let mut last = p.cc.cwnd();
    // (checkpoint in quarters of K, region, cwnd in segments there)
    let checkpoints = [
        // W_cubic(K/2) = 100 - 0.4 (K/2)³ = 96.25; Reno's W_est ≈ 81.
        (2, "concave", 96..98),
        // Back at W_max after K.
        (4, "plateau", 99..102),
        // W_cubic(3K/2) = 103.75, but W_est passed cwnd_prior (100) ~57 RTTs
        // in and grows by a segment per RTT since (α_cubic = 1): ≈ 106.
        (6, "Reno-friendly", 105..108),
        // W_cubic(2K) = 130 leaves Reno (≈ 127) behind again.
        (8, "convex", 129..133),
    ];
    for (quarters, region, segments) in checkpoints {
        while p.t() < k * quarters / 4 {
            p.rounds(1);
            assert!(p.cc.cwnd() >= last, "cwnd never falls on ACKs");
            last = p.cc.cwnd();
        }
        let got = p.cc.cwnd();
        let curve = p.cc.w_cubic(p.t()).unwrap();
        let w_est = p.cc.w_est().unwrap();
        let name =
            alloc::format!("{quarters}K/4 ({region}): cwnd {got}, W_cubic {curve}, W_est {w_est}");
        assert_eq!(region == "Reno-friendly", w_est > curve, "{name}");
        // cwnd chases W_cubic(t + RTT) (or W_est) and arrives about an RTT
        // later: it sits on max(W_cubic(t), W_est), to within a round's growth.
        assert!(got.abs_diff(curve.max(w_est)) <= 2 * SMSS, "{name}");
        assert!(segments.contains(&(got / SMSS)), "{name}");
    }
}

#[test]
fn reno_friendly_region_at_small_rtt() {
    // W_max 100 segments, RTT 1 ms: the curve is flat at 70 segments for
    // seconds; Reno's 0.53 segment per RTT (α_cubic) leads.
    let mut p = Path::new(at(100 * SMSS, 100 * SMSS), 1);
    p.loss();
    p.rounds(50);
    let w_est = p.cc.w_est().unwrap();
    assert_eq!(p.cc.cwnd(), w_est, "cwnd = W_est");
    assert!(p.cc.w_cubic(p.t()).unwrap() < w_est);
    // 70 + 50 * 9/17 ≈ 96.5 segments.
    assert!((95_500..97_500).contains(&w_est), "{w_est}");
    // Past cwnd_prior (100 segments), α_cubic = 1: one segment per RTT, so
    // ~7 more rounds to 100, then +93 by round 150.
    p.rounds(100);
    let cwnd = p.cc.cwnd();
    assert!((191_000..195_000).contains(&cwnd), "{cwnd}");
}

#[test]
fn rto_restarts_the_curve_with_k_zero() {
    let mut p = Path::new(at(40 * SMSS, MAX), 100);
    p.cc.on_rto(p.now, 40 * SMSS);
    assert_eq!((p.cc.cwnd(), p.cc.ssthresh()), (SMSS, 28 * SMSS));
    assert_eq!(p.cc.w_max(), None);
    // Slow start 1 → 2 → 4 → 8 → 16 → 28, then the stage starts at 28.
    p.rounds(6);
    assert!(!p.cc.in_slow_start());
    assert_eq!(p.cc.k(), Some(Duration::ZERO));
    assert_eq!(p.cc.w_max(), Some(28 * SMSS));
    // Convex from the start: W_cubic(2 s) = 28 + 0.4 * 2³ segments.
    let before = p.cc.cwnd();
    p.rounds(20);
    assert!(p.cc.cwnd() > before, "grows");
    assert_eq!(p.cc.w_cubic(Duration::from_secs(2)), Some(28 * SMSS + 3200));
}

#[test]
fn hystart_delay_rise_ends_slow_start() {
    // A flat RTT: slow start doubles per round and stays.
    let mut p = Path::new(Cubic::new(SMSS), 50);
    p.rounds(3);
    assert_eq!(p.cc.cwnd(), 80_000);
    assert_eq!(p.cc.hystart_phase(), HyStartPhase::SlowStart);
    // The queue builds: +20 ms. The round's 8th RTT sample enters CSS: seven
    // ACKs grew cwnd by an SMSS each, the other 73 by a quarter.
    p.rtt = Duration::from_millis(70);
    p.rounds(1);
    assert_eq!(p.cc.hystart_phase(), HyStartPhase::Css);
    assert_eq!(p.cc.cwnd(), 80_000 + 7 * 1000 + 73 * 250);
    // Four more CSS rounds (×1.25 each), then congestion avoidance.
    let mut cwnd = p.cc.cwnd();
    for _ in 0..4 {
        p.rounds(1);
        assert!(
            p.cc.cwnd() <= cwnd + cwnd / 4 + SMSS,
            "CSS growth is a quarter"
        );
        cwnd = p.cc.cwnd();
    }
    assert_eq!(p.cc.hystart_phase(), HyStartPhase::ExitToAvoidance);
    assert_eq!(p.cc.ssthresh(), p.cc.cwnd());
    // The stage after a lossless exit: K = 0, W_max = cwnd_epoch (§4.10).
    p.rounds(1);
    assert_eq!(p.cc.k(), Some(Duration::ZERO));
    assert_eq!(p.cc.w_max(), Some(p.cc.ssthresh()));
    // Later slow starts are RFC 5681's, without HyStart++.
    assert!(!p.cc.hystart_active());
}

#[test]
fn extreme_inputs_do_not_panic() {
    let far = Instant::FAR_FUTURE;
    for mss in [0, 1, MAX] {
        let mut c = Cubic::new(mss);
        for rtt in [None, Some(Duration::ZERO), Some(Duration::MAX)] {
            for now in [T, far, T] {
                c.on_ack(now, MAX, rtt, MAX);
                c.on_ack(now, 1, rtt, 0);
            }
        }
        c.on_congestion_event(far, MAX);
        c.on_recovery_exit(far);
        for now in [T, far] {
            c.on_ack(now, MAX, Some(Duration::MAX), MAX);
            c.on_ack(now, 1, None, 0);
        }
        c.on_congestion_event(T, 0);
        c.on_recovery_exit(T);
        c.on_rto(T, 0);
        c.set_mss(0);
        for _ in 0..100 {
            c.on_ack(far, MAX, Some(Duration::MAX), MAX);
        }
        assert!(c.cwnd() >= 1);
        let _ = c.w_cubic(Duration::MAX);
    }
    // A window at the top of the range with a curve far in the future.
    let mut c = at(MAX, MAX - 1);
    c.on_ack(T, MAX, Some(Duration::MAX), MAX);
    c.on_ack(far, MAX, Some(Duration::MAX), MAX);
    assert_eq!(c.cwnd(), MAX);
}

#[test]
fn reno_friendly_region_table() {
    // RFC 9438 §4.3: "If W_cubic(t) is less than W_est, then CUBIC is in the
    // Reno-friendly region and cwnd SHOULD be set to W_est". Short RTTs and
    // small windows are Reno's; long RTTs and large windows are the curve's.
    // (name, W_max in segments, RTT in ms, rounds after the loss, Reno-friendly)
    #[rustfmt::skip]
    let cases = [
        ("W_max 100, 1 ms, 50 rounds: W_est 96 > W_cubic 70", 100, 1, 50, true),
        ("W_max 100, 10 ms, 50 rounds: W_est 96 > W_cubic 80", 100, 10, 50, true),
        ("W_max 100, 100 ms, 20 rounds: W_cubic 96 > W_est 81", 100, 100, 20, false),
        ("W_max 1000, 100 ms, 20 rounds: W_cubic 857 > W_est 711", 1000, 100, 20, false),
        ("W_max 1000, 1 ms, 100 rounds: W_est 753 > W_cubic 708", 1000, 1, 100, true),
        ("W_max 1000, 50 ms, 40 rounds: W_cubic 857 > W_est 721", 1000, 50, 40, false),
    ];
    for (name, w_max, rtt_ms, rounds, reno) in cases {
        let mut p = Path::new(at(w_max * SMSS, w_max * SMSS), rtt_ms);
        p.loss();
        p.rounds(rounds);
        let w_est = p.cc.w_est().unwrap();
        let w_cubic = p.cc.w_cubic(p.t()).unwrap();
        assert_eq!(
            w_cubic < w_est,
            reno,
            "{name}: W_cubic {w_cubic}, W_est {w_est}"
        );
        if reno {
            assert_eq!(p.cc.cwnd(), w_est, "{name}: cwnd follows W_est");
        } else {
            assert!(p.cc.cwnd() > w_est, "{name}: cwnd follows the curve");
        }
    }
}
