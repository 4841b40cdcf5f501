//! CUBIC: a cubic window-growth function of the time since the last congestion
//! event, RFC 9438, with HyStart++ (RFC 9406) in the initial slow start.
//!
//! RFC 9438 §4.1: "W_cubic(t) = C * (t - K)^3 + W_max" and "K = cubic_root((W_max -
//! cwnd_epoch) / C)", windows in segments, time in seconds. Here windows are bytes
//! and convert through SMSS; time is integer microseconds; the cube root is an
//! integer one (no floating point, no libm).
//!
//! | event | rule |
//! |---|---|
//! | ACK, `cwnd < ssthresh`, first slow start | HyStart++: `+min(N, 8*SMSS)`, `/4` in CSS; exit sets `ssthresh = cwnd` |
//! | ACK, `cwnd < ssthresh`, later slow starts | RFC 5681: `+min(N, SMSS)` |
//! | ACK, congestion avoidance, `W_cubic(t) < W_est` | Reno-friendly: `cwnd = W_est` (§4.3) |
//! | ACK, congestion avoidance, otherwise | `+(target - cwnd)/cwnd` per SMSS acked, `target = W_cubic(t+RTT)` in `[cwnd, 1.5*cwnd]` (§4.4, §4.5) |
//! | loss by duplicate ACKs / SACK | fast convergence (§4.7), `W_max = cwnd`, `ssthresh = max(β*FlightSize, 2*SMSS)`, `cwnd = ssthresh` (§4.6) |
//! | end of recovery | `cwnd = ssthresh`; the next ACK starts the epoch |
//! | retransmission timeout | `ssthresh = max(β*FlightSize, 2*SMSS)`, `cwnd = 1 SMSS`; next epoch has `K = 0` (§4.8) |
//! | spurious reduction ([`undo`](CongestionControl::undo)) | restore `W_max`, `cwnd_prior`, the epoch; `cwnd`, `ssthresh` at least as before (§4.9) |
//!
//! with `C = 0.4`, `β_cubic = 0.7` and `α_cubic = 3(1-β)/(1+β) = 9/17`.
//!
//! # Not implemented
//!
//! - Application-limited periods (RFC 9438 §5.8): `cwnd` should not grow, and
//!   the time should not count towards `t`, while the application is not
//!   sending; the trait does not say when that is. Until it does, idle time
//!   inflates `W_cubic` (Linux has the connection skip growth when it is not
//!   cwnd-limited).
//! - ECN (§4.6's `reduction_on_ece`).

use core::time::Duration;

use super::hystart::{HyStart, HyStartPhase, L_NON_PACED};
use super::{initial_window, CongestionControl};
use crate::time::Instant;

/// RFC 9438: C = 0.4, as `C_NUM / C_DEN`.
const C_NUM: u128 = 4;
const C_DEN: u128 = 10;
/// RFC 9438 §4.6: β_cubic = 0.7, as `BETA_NUM / BETA_DEN`.
const BETA_NUM: usize = 7;
const BETA_DEN: usize = 10;
/// RFC 9438 §4.3: α_cubic = 3(1 - β_cubic) / (1 + β_cubic) = 0.9 / 1.7 = 9/17.
const ALPHA_NUM: u128 = 9;
const ALPHA_DEN: u128 = 17;
/// Microseconds per second, cubed.
const MICROS3_PER_SEC3: u128 = 1_000_000_000_000_000_000;

/// RFC 9438 CUBIC congestion control, counting bytes.
///
/// `W_cubic(t + RTT)` uses the RTT the connection passes to
/// [`on_ack`](CongestionControl::on_ack): RFC 9438 §4.2 means the smoothed RTT
/// there, which is what synack's connection passes today. HyStart++ gets the same
/// value; a per-ACK latest RTT would make its decisions sooner (see
/// [`super::hystart`]), and is accepted too.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use synack::tcp::congestion::{CongestionControl, Cubic};
/// use synack::time::Instant;
///
/// let mut cc = Cubic::new(1000);
/// cc.on_ack(Instant::ZERO, 1000, Some(Duration::from_millis(50)), 0);
/// assert_eq!(cc.cwnd(), 11_000); // slow start
/// cc.on_congestion_event(Instant::ZERO, 11_000);
/// assert_eq!((cc.cwnd(), cc.ssthresh()), (7700, 7700)); // β = 0.7
/// assert_eq!(cc.w_max(), Some(11_000));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cubic {
    /// SMSS, never zero.
    smss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// `W_max` in bytes; `None` while undefined (before the first congestion
    /// event, and after a timeout), when the next epoch takes `cwnd_epoch`.
    w_max: Option<usize>,
    /// `cwnd_prior` (§4.6): `cwnd` before the last reduction, in bytes.
    cwnd_prior: usize,
    /// The current congestion-avoidance stage; `None` until its first ACK.
    epoch: Option<Epoch>,
    /// The last RTT the connection passed.
    rtt: Option<Duration>,
    in_recovery: bool,
    /// An RTO fired and no ACK has advanced `snd.una` since.
    rto_outstanding: bool,
    hystart: HyStart,
    hystart_enabled: bool,
    fast_convergence: bool,
    /// The curve before the last reduction, for [`undo`](CongestionControl::undo).
    prior: Option<Prior>,
}

/// What a reduction changed besides `cwnd` and `ssthresh` (which the caller
/// passes back to `undo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Prior {
    w_max: Option<usize>,
    cwnd_prior: usize,
    epoch: Option<Epoch>,
}

/// One congestion-avoidance stage ("epoch").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Epoch {
    /// `t_epoch`.
    start: Instant,
    /// `K`, in microseconds.
    k_micros: u64,
    /// The `W_max` of the curve: where it flattens, in bytes.
    origin: usize,
    /// `W_est` (§4.3), in bytes.
    w_est: usize,
    /// Fraction of a byte of `W_est` growth, over `ALPHA_DEN * cwnd`.
    w_est_frac: u128,
    /// Fraction of a byte of `cwnd` growth, over `cwnd`.
    cwnd_frac: u128,
}

impl Cubic {
    /// CUBIC for a sender whose SMSS is `mss` (zero is treated as one): `cwnd` is
    /// the RFC 6928 initial window, `ssthresh` "arbitrarily high", HyStart++ and
    /// fast convergence on.
    pub fn new(mss: usize) -> Self {
        Self {
            smss: mss.max(1),
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
            w_max: None,
            cwnd_prior: 0,
            epoch: None,
            rtt: None,
            in_recovery: false,
            rto_outstanding: false,
            hystart: HyStart::new(),
            hystart_enabled: true,
            fast_convergence: true,
            prior: None,
        }
    }

    /// Turns HyStart++ off (plain RFC 5681 slow start until the first loss).
    pub fn with_hystart(mut self, enabled: bool) -> Self {
        self.hystart_enabled = enabled;
        self
    }

    /// Turns fast convergence (§4.7) off.
    ///
    /// RFC 9438 §4.7: "Fast convergence is designed for network environments with
    /// multiple CUBIC flows. In network environments with only a single CUBIC flow
    /// and without any other traffic, fast convergence SHOULD be disabled."
    pub fn with_fast_convergence(mut self, enabled: bool) -> Self {
        self.fast_convergence = enabled;
        self
    }

    /// The sender maximum segment size in use.
    pub fn smss(&self) -> usize {
        self.smss
    }

    /// Whether a congestion event was signalled and recovery has not ended.
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// `W_max` in bytes, if defined.
    pub fn w_max(&self) -> Option<usize> {
        self.w_max
    }

    /// `K` of the current congestion-avoidance stage, once it has started.
    pub fn k(&self) -> Option<Duration> {
        self.epoch.map(|e| Duration::from_micros(e.k_micros))
    }

    /// `W_est` of the current congestion-avoidance stage, in bytes.
    pub fn w_est(&self) -> Option<usize> {
        self.epoch.map(|e| e.w_est)
    }

    /// `W_cubic(t)` in bytes, `t` after the current stage began.
    pub fn w_cubic(&self, t: Duration) -> Option<usize> {
        self.epoch
            .map(|e| w_cubic(e.origin, e.k_micros, micros(t), self.smss))
    }

    /// Where HyStart++ stands; meaningful in the first slow start only.
    pub fn hystart_phase(&self) -> HyStartPhase {
        self.hystart.phase()
    }

    /// Remembers the curve before a reduction.
    fn save_prior(&mut self) {
        self.prior = Some(Prior {
            w_max: self.w_max,
            cwnd_prior: self.cwnd_prior,
            epoch: self.epoch,
        });
    }

    /// RFC 9406 uses HyStart++ in the initial slow start only, while ssthresh has
    /// its initial "arbitrarily high" value (RFC 5681); later slow starts are
    /// standard ones, ended by the ssthresh the losses set.
    fn hystart_active(&self) -> bool {
        self.hystart_enabled && self.ssthresh == usize::MAX
    }

    /// `max(β_cubic * FlightSize, 2*SMSS)` (§4.6, and §4.8 for timeouts).
    fn reduced_ssthresh(&self, in_flight: usize) -> usize {
        // RFC 9438 §4.6: "ssthresh = flight_size * β_cubic ... ssthresh =
        // max(ssthresh, 2) // threshold is at least 2 MSS". FlightSize, not cwnd:
        // "Implementations that use cwnd MUST use other measures to prevent cwnd
        // from growing when the volume of bytes in flight is smaller than cwnd",
        // which the trait cannot see.
        let beta = (in_flight / BETA_DEN)
            .saturating_mul(BETA_NUM)
            .saturating_add(in_flight % BETA_DEN * BETA_NUM / BETA_DEN);
        beta.max(self.smss.saturating_mul(2))
    }

    /// Slow start; returns the acknowledged bytes left over once `cwnd` reaches
    /// `ssthresh`, for congestion avoidance to count.
    fn slow_start(&mut self, bytes_acked: usize, rtt: Option<Duration>) -> usize {
        let (limit, divisor) = if self.hystart_active() {
            let phase = match rtt {
                Some(rtt) => self.hystart.on_ack(bytes_acked, self.cwnd, rtt),
                None => self.hystart.on_ack_without_rtt(bytes_acked, self.cwnd),
            };
            if phase == HyStartPhase::ExitToAvoidance {
                // RFC 9406 §4.2: "If CSS_ROUNDS rounds are complete, enter
                // congestion avoidance by setting the ssthresh to the current
                // cwnd." W_max stays undefined: RFC 9438 §4.10 "CUBIC sets
                // cwnd_prior = cwnd and switches to congestion avoidance ... K is
                // set to 0, and W_max is set to the congestion window size at the
                // beginning of the current congestion avoidance stage."
                self.ssthresh = self.cwnd;
                return 0;
            }
            // RFC 9406 §4.2: "cwnd = cwnd + min(N, L * SMSS)", divided by
            // CSS_GROWTH_DIVISOR in CSS.
            (L_NON_PACED, self.hystart.growth_divisor())
        } else {
            // RFC 5681 §3.1: "cwnd += min (N, SMSS)".
            (1, 1)
        };
        let increase = bytes_acked.min(self.smss.saturating_mul(limit)) / divisor.max(1);
        let room = self.ssthresh.saturating_sub(self.cwnd);
        if increase < room {
            self.cwnd += increase;
            0
        } else {
            // Stop at ssthresh; the rest counts towards congestion avoidance.
            self.cwnd = self.ssthresh;
            bytes_acked.saturating_sub(room)
        }
    }

    /// Starts a congestion-avoidance stage at `now` with `cwnd_epoch = cwnd`.
    fn begin_epoch(&mut self, now: Instant) -> Epoch {
        let cwnd_epoch = self.cwnd;
        let (origin, k_micros) = match self.w_max {
            Some(w_max) if w_max > cwnd_epoch => (w_max, k_micros(w_max, cwnd_epoch, self.smss)),
            Some(_) => {
                // cwnd_epoch ≥ W_max (a small FlightSize at the last event or an
                // MSS change): RFC 9438 §4.2 sets K = 0 when cwnd is greater
                // than W_max. The curve starts from cwnd_epoch (as Linux's
                // bic_origin_point does), not from the lower W_max, which would
                // hold cwnd flat until the curve caught up.
                (cwnd_epoch, 0)
            }
            None => {
                // RFC 9438 §4.8 (after a timeout) and §4.10 (after HyStart++):
                // "K is set to 0, and W_max is set to the congestion window size
                // at the beginning of the current congestion avoidance stage."
                self.w_max = Some(cwnd_epoch);
                self.cwnd_prior = cwnd_epoch;
                (cwnd_epoch, 0)
            }
        };
        Epoch {
            start: now,
            k_micros,
            origin,
            // RFC 9438 §4.3: "W_est is set equal to cwnd_epoch at the start of the
            // congestion avoidance stage."
            w_est: cwnd_epoch,
            w_est_frac: 0,
            cwnd_frac: 0,
        }
    }

    /// Congestion avoidance for an ACK of `bytes_acked` bytes at `now`.
    fn congestion_avoidance(&mut self, now: Instant, bytes_acked: usize) {
        let mut epoch = match self.epoch.take() {
            Some(epoch) => epoch,
            None => self.begin_epoch(now),
        };
        let smss = self.smss;
        let cwnd = self.cwnd.max(1);

        // RFC 9438 §4.3: "W_est = W_est + α_cubic * segments_acked / cwnd", and
        // "Once W_est has grown to reach the cwnd at the time of most recently
        // setting ssthresh -- that is, W_est >= cwnd_prior -- the sender SHOULD set
        // α_cubic to 1". In bytes: + α * SMSS * bytes_acked / cwnd.
        let alpha = if epoch.w_est >= self.cwnd_prior {
            ALPHA_DEN
        } else {
            ALPHA_NUM
        };
        let den = ALPHA_DEN.saturating_mul(wide(cwnd));
        let num = epoch.w_est_frac.saturating_add(
            alpha
                .saturating_mul(wide(smss))
                .saturating_mul(wide(bytes_acked)),
        );
        epoch.w_est = epoch.w_est.saturating_add(narrow(num / den));
        epoch.w_est_frac = num % den;

        let t = micros(now - epoch.start);
        if w_cubic(epoch.origin, epoch.k_micros, t, smss) < epoch.w_est {
            // RFC 9438 §4.3: "If so, CUBIC is in the Reno-friendly region and cwnd
            // SHOULD be set to W_est at each reception of a new ACK." Never below
            // the present cwnd: an ACK does not shrink the window.
            self.cwnd = self.cwnd.max(epoch.w_est);
        } else {
            // RFC 9438 §4.4/§4.5: "cwnd MUST be incremented by (target - cwnd) /
            // cwnd for each received new ACK", with §4.2's target: W_cubic(t +
            // RTT) bounded to [cwnd, 1.5 * cwnd].
            let rtt = self.rtt.map_or(0, micros);
            let target = w_cubic(epoch.origin, epoch.k_micros, t.saturating_add(rtt), smss)
                .max(cwnd)
                .min(cwnd.saturating_add(cwnd / 2));
            // Per SMSS acknowledged, in bytes: (target - cwnd) * bytes_acked / cwnd,
            // keeping the fraction for the next ACK.
            let num = epoch
                .cwnd_frac
                .saturating_add(wide(target - cwnd).saturating_mul(wide(bytes_acked)));
            self.cwnd = self.cwnd.saturating_add(narrow(num / wide(cwnd)));
            epoch.cwnd_frac = num % wide(cwnd);
        }
        self.epoch = Some(epoch);
    }
}

impl CongestionControl for Cubic {
    fn on_ack(
        &mut self,
        now: Instant,
        bytes_acked: usize,
        rtt: Option<Duration>,
        _in_flight: usize,
    ) {
        if let Some(rtt) = rtt {
            self.rtt = Some(rtt);
        }
        if bytes_acked == 0 {
            return;
        }
        self.rto_outstanding = false;
        if self.in_recovery {
            // The window is set when recovery ends (the caller's inflation or PRR
            // stands in for it until then).
            return;
        }
        // RFC 9438 §4.10: "CUBIC MUST employ a slow-start algorithm when cwnd is no
        // more than ssthresh"; at equality, as in Reno, congestion avoidance.
        let leftover = if self.cwnd < self.ssthresh {
            self.slow_start(bytes_acked, rtt)
        } else {
            bytes_acked
        };
        if leftover > 0 {
            self.congestion_avoidance(now, leftover);
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, in_flight: usize) {
        if self.in_recovery {
            // One reduction per window of data.
            return;
        }
        self.save_prior();
        let cwnd = self.cwnd;
        // RFC 9438 §4.7: "if (cwnd < W_max AND fast_convergence enabled) { W_max =
        // cwnd * (1 + β_cubic) / 2 } else { W_max = cwnd }".
        self.w_max = Some(match self.w_max {
            Some(w_max) if self.fast_convergence && cwnd < w_max => {
                (cwnd / 20).saturating_mul(17) + cwnd % 20 * 17 / 20
            }
            _ => cwnd,
        });
        // RFC 9438 §4.6: "cwnd_prior = cwnd ... cwnd = max(ssthresh, 2)".
        self.cwnd_prior = cwnd;
        self.ssthresh = self.reduced_ssthresh(in_flight);
        self.cwnd = self.ssthresh;
        self.epoch = None;
        self.in_recovery = true;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        if !self.in_recovery {
            return;
        }
        // RFC 9937 (PRR) sets cwnd = ssthresh at the end of recovery; RFC 5681
        // §3.2 step 6 does the same ("deflating" the window). The time in recovery
        // does not count towards t: the epoch starts at the next ACK.
        self.cwnd = self.ssthresh;
        self.epoch = None;
        self.in_recovery = false;
    }

    fn on_rto(&mut self, _now: Instant, in_flight: usize) {
        // RFC 9438 §4.8: "In the case of a timeout, CUBIC follows Reno to reduce
        // cwnd [RFC5681] but sets ssthresh using β_cubic (same as in Section 4.6)".
        // A repeated timeout with no ACK in between keeps ssthresh (RFC 5681 §3.1:
        // only when "the given segment has not yet been resent by way of the
        // retransmission timer").
        if !self.rto_outstanding {
            self.save_prior();
            self.ssthresh = self.reduced_ssthresh(in_flight);
        }
        self.cwnd = self.smss;
        // "During the first congestion avoidance stage after a timeout, CUBIC
        // increases its congestion window size using Figure 1, where t is the
        // elapsed time since the beginning of the current congestion avoidance
        // stage, K is set to 0, and W_max is set to the congestion window size at
        // the beginning of the current congestion avoidance stage."
        self.w_max = None;
        self.epoch = None;
        self.in_recovery = false;
        self.rto_outstanding = true;
    }

    fn undo(&mut self, prior_cwnd: usize, prior_ssthresh: usize) {
        // RFC 9438 §4.9 (spurious congestion events): restore the state from
        // before the reduction -- W_max, cwnd_prior and the epoch (so t runs on
        // from the old t_epoch and K is the old K) -- and the window. Like Reno's
        // undo, never lower what is there now.
        if let Some(prior) = self.prior.take() {
            self.w_max = prior.w_max;
            self.cwnd_prior = prior.cwnd_prior;
            self.epoch = prior.epoch;
        }
        self.cwnd = self.cwnd.max(prior_cwnd);
        self.ssthresh = self.ssthresh.max(prior_ssthresh);
        self.in_recovery = false;
        self.rto_outstanding = false;
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn set_mss(&mut self, mss: usize) {
        // K and W_cubic are in segments: restart the stage with the new unit.
        self.smss = mss.max(1);
        self.epoch = None;
    }

    fn name(&self) -> &'static str {
        "cubic"
    }
}

/// `⌊∛n⌋`, bit by bit (the result has at most 43 bits).
pub fn cube_root(n: u128) -> u64 {
    let mut root: u64 = 0;
    for bit in (0..43).rev() {
        let candidate = root | (1 << bit);
        let c = u128::from(candidate);
        if c.checked_mul(c)
            .and_then(|square| square.checked_mul(c))
            .is_some_and(|cube| cube <= n)
        {
            root = candidate;
        }
    }
    root
}

/// RFC 9438 §4.2, Figure 2: "K = cubic_root((W_max - cwnd_epoch) / C)", in
/// microseconds, from windows in bytes. Zero if `cwnd_epoch ≥ W_max`.
pub fn k_micros(w_max: usize, cwnd_epoch: usize, smss: usize) -> u64 {
    // K³ [s³] = (W_max - cwnd_epoch) / SMSS / C, so
    // K³ [µs³] = (W_max - cwnd_epoch) * 10¹⁸ * C_DEN / (C_NUM * SMSS).
    let d = wide(w_max.saturating_sub(cwnd_epoch));
    let n = d.saturating_mul(MICROS3_PER_SEC3 * C_DEN / C_NUM) / wide(smss.max(1));
    cube_root(n)
}

/// RFC 9438 §4.2, Figure 1: "W_cubic(t) = C * (t - K)^3 + W_max", in bytes, for
/// `t` and `K` in microseconds; saturating at 0 and `usize::MAX`.
pub fn w_cubic(w_max: usize, k_micros: u64, t_micros: u64, smss: usize) -> usize {
    if t_micros >= k_micros {
        w_max.saturating_add(cubic_offset(t_micros - k_micros, smss))
    } else {
        w_max.saturating_sub(cubic_offset(k_micros - t_micros, smss))
    }
}

/// `C * dt³` segments in bytes, `dt` in microseconds: `dt³ * SMSS * 4 / 10¹⁹`.
fn cubic_offset(dt_micros: u64, smss: usize) -> usize {
    let dt = u128::from(dt_micros);
    let Some(cube) = dt.checked_mul(dt).and_then(|square| square.checked_mul(dt)) else {
        return usize::MAX;
    };
    let scale = C_NUM.saturating_mul(wide(smss));
    let den = MICROS3_PER_SEC3 * C_DEN;
    let bytes = match cube.checked_mul(scale) {
        Some(n) => n / den,
        None => (cube / den).saturating_mul(scale),
    };
    narrow(bytes)
}

/// A duration in whole microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `usize` to `u128`, lossless on every target Rust supports.
const fn wide(x: usize) -> u128 {
    x as u128
}

/// `u128` to `usize`, saturating.
fn narrow(x: u128) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
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
        let (cwnd, ssthresh, w_max, epoch) =
            (p.cc.cwnd(), p.cc.ssthresh(), p.cc.w_max(), p.cc.epoch);
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
            let name = alloc::format!(
                "{quarters}K/4 ({region}): cwnd {got}, W_cubic {curve}, W_est {w_est}"
            );
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
}
