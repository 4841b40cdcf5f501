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
//! - Application-limited periods (RFC 9438 §5.8): the connection does not call
//!   `on_ack` while the window is not in use (RFC 7661, as Linux's
//!   `tcp_is_cwnd_limited`), so `cwnd` does not grow then; but the time still
//!   counts towards `t`, so `W_cubic` is further along when sending resumes.
//! - ECN (§4.6's `reduction_on_ece`).

use alloc::boxed::Box;
use core::time::Duration;

use super::hystart::{HyStart, HyStartPhase, L_NON_PACED};
use super::{initial_window, CongestionControl};
use crate::tcp::conn::OptU64;
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
    /// `W_max` in bytes; none while undefined (before the first congestion
    /// event, and after a timeout), when the next epoch takes `cwnd_epoch`.
    /// In 8 bytes, not 16 (see [`Cubic::w_max`]): the connection keeps CUBIC
    /// inside its TCB, whose size is pinned.
    w_max: OptU64,
    /// `cwnd_prior` (§4.6): `cwnd` before the last reduction, in bytes.
    cwnd_prior: usize,
    /// The current congestion-avoidance stage; `None` until its first ACK.
    epoch: Option<Epoch>,
    /// The last RTT the connection passed, in µs (0 before the first).
    rtt_us: u64,
    in_recovery: bool,
    /// An RTO fired and no ACK has advanced `snd.una` since.
    rto_outstanding: bool,
    /// HyStart++ state, boxed on the first slow-start ACK and dropped once it
    /// sends the connection to congestion avoidance (a connection that has not
    /// sent carries 8 bytes of it, not 40).
    hystart: Option<Box<HyStart>>,
    /// The phase while `hystart` is `None`: `SlowStart` before it began,
    /// `ExitToAvoidance` after.
    hystart_done: HyStartPhase,
    hystart_enabled: bool,
    fast_convergence: bool,
    /// The curve before the last reduction, for [`undo`](CongestionControl::undo);
    /// boxed, as only a connection that has seen a loss has one.
    prior: Option<Box<Prior>>,
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
    /// Fraction of a byte of `W_est` growth, over `ALPHA_DEN * cwnd` (below it,
    /// so 64 bits hold it for any window under 2^59 bytes; saturates beyond).
    w_est_frac: u64,
    /// Fraction of a byte of `cwnd` growth, over `cwnd`.
    cwnd_frac: u64,
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
            w_max: OptU64::NONE,
            cwnd_prior: 0,
            epoch: None,
            rtt_us: 0,
            in_recovery: false,
            rto_outstanding: false,
            hystart: None,
            hystart_done: HyStartPhase::SlowStart,
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

    /// `W_max` in bytes, if defined (`usize::MAX` is kept as one less; a
    /// window that large is already past any use).
    pub fn w_max(&self) -> Option<usize> {
        self.w_max
            .get()
            .map(|w| usize::try_from(w).unwrap_or(usize::MAX))
    }

    fn set_w_max(&mut self, w: Option<usize>) {
        self.w_max = w.map_or(OptU64::NONE, |w| {
            OptU64::some(u64::try_from(w).unwrap_or(u64::MAX))
        });
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
        self.hystart
            .as_ref()
            .map_or(self.hystart_done, |h| h.phase())
    }

    /// Remembers the curve before a reduction.
    fn save_prior(&mut self) {
        let prior = Prior {
            w_max: self.w_max(),
            cwnd_prior: self.cwnd_prior,
            epoch: self.epoch,
        };
        match &mut self.prior {
            Some(p) => **p = prior,
            None => self.prior = Some(Box::new(prior)),
        }
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
            let phase = if self.hystart_done == HyStartPhase::ExitToAvoidance {
                // Exited before (and `undo` brought ssthresh back): it stays exited.
                HyStartPhase::ExitToAvoidance
            } else {
                let cwnd = self.cwnd;
                let h = self.hystart.get_or_insert_with(|| Box::new(HyStart::new()));
                match rtt {
                    Some(rtt) => h.on_ack(bytes_acked, cwnd, rtt),
                    None => h.on_ack_without_rtt(bytes_acked, cwnd),
                }
            };
            if phase == HyStartPhase::ExitToAvoidance {
                self.hystart = None;
                self.hystart_done = HyStartPhase::ExitToAvoidance;
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
            (
                L_NON_PACED,
                self.hystart.as_ref().map_or(1, |h| h.growth_divisor()),
            )
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
        let (origin, k_micros) = match self.w_max() {
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
                self.set_w_max(Some(cwnd_epoch));
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
        let num = u128::from(epoch.w_est_frac).saturating_add(
            alpha
                .saturating_mul(wide(smss))
                .saturating_mul(wide(bytes_acked)),
        );
        epoch.w_est = epoch.w_est.saturating_add(narrow(num / den));
        epoch.w_est_frac = frac(num % den);

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
            let rtt = self.rtt_us;
            let target = w_cubic(epoch.origin, epoch.k_micros, t.saturating_add(rtt), smss)
                .max(cwnd)
                .min(cwnd.saturating_add(cwnd / 2));
            // Per SMSS acknowledged, in bytes: (target - cwnd) * bytes_acked / cwnd,
            // keeping the fraction for the next ACK.
            let num = u128::from(epoch.cwnd_frac)
                .saturating_add(wide(target - cwnd).saturating_mul(wide(bytes_acked)));
            self.cwnd = self.cwnd.saturating_add(narrow(num / wide(cwnd)));
            epoch.cwnd_frac = frac(num % wide(cwnd));
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
            self.rtt_us = micros(rtt);
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
        self.set_w_max(Some(match self.w_max() {
            Some(w_max) if self.fast_convergence && cwnd < w_max => {
                (cwnd / 20).saturating_mul(17) + cwnd % 20 * 17 / 20
            }
            _ => cwnd,
        }));
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

    fn on_idle_restart(&mut self, _now: Instant, restart_window: usize) {
        if self.cwnd > restart_window {
            self.ssthresh = self.ssthresh.max(self.cwnd / 4 * 3);
            self.cwnd = restart_window;
            // A new congestion-avoidance epoch starts when growth resumes; W_max
            // (the last loss) still anchors the curve.
            self.epoch = None;
        }
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
        self.set_w_max(None);
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
            self.set_w_max(prior.w_max);
            self.cwnd_prior = prior.cwnd_prior;
            self.epoch = prior.epoch;
        }
        self.cwnd = self.cwnd.max(prior_cwnd);
        self.ssthresh = self.ssthresh.max(prior_ssthresh);
        self.in_recovery = false;
        self.rto_outstanding = false;
    }

    #[inline]
    fn cwnd(&self) -> usize {
        self.cwnd
    }

    #[inline]
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

    fn restart(&mut self, mss: usize) -> bool {
        *self = Self::new(mss);
        true
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

/// A remainder kept for the next ACK, saturating (it is below a window's size).
fn frac(x: u128) -> u64 {
    u64::try_from(x).unwrap_or(u64::MAX)
}

/// `u128` to `usize`, saturating.
fn narrow(x: u128) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests;
