//! BBR v1, after draft-cardwell-iccrg-bbr-congestion-control-00 ("BBR Congestion
//! Control"): a model of the path — the bottleneck bandwidth (`BtlBw`, a windowed
//! maximum of delivery-rate samples over 10 round trips) and the round-trip
//! propagation time (`RTprop`, a windowed minimum RTT over 10 s) — from which it
//! sets a pacing rate (`pacing_gain · BtlBw`) and a window (`cwnd_gain · BDP`).
//! Loss is not a congestion signal to the model, so random loss on an uncongested
//! path leaves the sending rate near the link rate.
//!
//! | state | pacing_gain | cwnd_gain | leaves when |
//! |---|---|---|---|
//! | STARTUP | 2/ln 2 ≈ 2.885 | 2.885 | BtlBw grew < 25 % for 3 rounds ("filled pipe") → DRAIN |
//! | DRAIN | ln 2/2 ≈ 0.347 | 2.885 | inflight ≤ BDP → PROBE_BW |
//! | PROBE_BW | cycle 5/4, 3/4, 1 ×6 (one phase per RTprop) | 2 | RTprop not refreshed for 10 s → PROBE_RTT |
//! | PROBE_RTT | 1 | cwnd = 4 segments | 200 ms and a round at the floor → PROBE_BW (or STARTUP) |
//!
//! Loss recovery (§4.2.3.4): on entering recovery the window is the data still in
//! flight plus what the ACK delivered ("packet conservation") for one round trip,
//! then grows back toward the model's target; on leaving it, the window is at least
//! what it was before (`prior_cwnd`). After a retransmission timeout the window
//! starts from one segment and is restored after a round trip.
//!
//! Delivery-rate samples come from the connection's per-segment send records
//! (`tcp/rack.rs`, draft-cheng-iccrg-delivery-rate-estimation), through
//! [`CongestionControl::on_rate_sample`].
//!
//! Gains are kept in thousandths (`2885` = 2.885) so the arithmetic is integer.

use alloc::collections::VecDeque;
use core::time::Duration;

use super::{initial_window, CongestionControl, RateSample};
use crate::time::Instant;

/// §4.2.1: "BBRHighGain = 2/ln(2)", the smallest gain that doubles the sending
/// rate each round, in thousandths.
pub const HIGH_GAIN: u64 = 2885;
/// §4.3.2: "BBR.pacing_gain = 1/BBRHighGain" in DRAIN, in thousandths.
pub const DRAIN_GAIN: u64 = 347;
/// §4.3.3: PROBE_BW's cwnd_gain of 2, in thousandths.
pub const PROBE_BW_CWND_GAIN: u64 = 2000;
/// §4.3.3: the eight-phase pacing_gain cycle of PROBE_BW, in thousandths.
pub const GAIN_CYCLE: [u64; 8] = [1250, 750, 1000, 1000, 1000, 1000, 1000, 1000];
/// §4.1.1: the BtlBw max filter spans 10 round trips.
pub const BTL_BW_FILTER_ROUNDS: u64 = 10;
/// §4.1.2: the RTprop min filter spans 10 seconds.
pub const RT_PROP_FILTER_LEN: Duration = Duration::from_secs(10);
/// §4.3.4: PROBE_RTT holds the window at its floor for at least 200 ms.
pub const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// §4.3.4: "BBRMinPipeCwnd", four segments.
pub const MIN_PIPE_SEGMENTS: usize = 4;
/// §4.3.2: the pipe is full when BtlBw grew less than 25 % ...
const FULL_BW_GROWTH: u64 = 1250;
/// ... for three rounds in a row.
const FULL_BW_ROUNDS: u32 = 3;
/// §4.2.1: pace 1 % under the estimate to drain any queue a probe built.
const PACING_MARGIN_PERCENT: u64 = 1;

/// BBR's state machine (§3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BbrState {
    /// Exponential search for the bottleneck bandwidth.
    Startup,
    /// Draining the queue STARTUP built.
    Drain,
    /// Cruising at the estimated bandwidth, probing it every eight phases.
    ProbeBw,
    /// Briefly at a four-segment window to measure RTprop without a queue.
    ProbeRtt,
}

impl BbrState {
    /// The state's name as the draft spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Startup => "STARTUP",
            Self::Drain => "DRAIN",
            Self::ProbeBw => "PROBE_BW",
            Self::ProbeRtt => "PROBE_RTT",
        }
    }
}

/// BBR v1 congestion control, counting bytes.
///
/// # Examples
///
/// ```
/// use synack::tcp::congestion::{Bbr, BbrState, CongestionControl};
///
/// let bbr = Bbr::new(1460);
/// assert_eq!(bbr.state(), BbrState::Startup);
/// assert_eq!(bbr.cwnd(), 14_600);
/// assert_eq!(bbr.pacing_gain(), 2885);
/// ```
#[derive(Clone, Debug)]
pub struct Bbr {
    mss: usize,
    state: BbrState,
    cwnd: usize,
    prior_cwnd: usize,
    pacing_gain: u64,
    cwnd_gain: u64,
    pacing_rate: u64,
    /// Sliding-window maximum of (round, bandwidth in bytes/s), values decreasing.
    bw_filter: VecDeque<(u64, u64)>,
    rt_prop: Option<Duration>,
    rt_prop_stamp: Instant,
    rt_prop_expired: bool,
    round_count: u64,
    next_round_delivered: u64,
    round_start: bool,
    filled_pipe: bool,
    full_bw: u64,
    full_bw_count: u32,
    cycle_index: usize,
    cycle_stamp: Instant,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round_done: bool,
    /// In loss recovery (fast recovery, or after an RTO until a round has passed).
    in_recovery: bool,
    /// Packet conservation for the first round of recovery.
    conservation: bool,
    /// Set by a loss event; the next ACK sets cwnd = pipe + delivered.
    entering_recovery: bool,
    /// The round at which conservation (and RTO recovery) ends.
    recovery_round: u64,
    /// An RTO put us in recovery: leave it (restoring prior_cwnd) after a round.
    rto_recovery: bool,
    /// Loss seen since the current PROBE_BW phase began.
    loss_in_phase: bool,
    /// The latest RTT the connection reported (for the pacing rate before any
    /// bandwidth sample).
    latest_rtt: Option<Duration>,
}

impl Bbr {
    /// BBR for a sender whose SMSS is `mss`: STARTUP, the RFC 6928 initial window.
    pub fn new(mss: usize) -> Self {
        let mss = mss.max(1);
        Self {
            mss,
            state: BbrState::Startup,
            cwnd: initial_window(mss),
            prior_cwnd: 0,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: HIGH_GAIN,
            pacing_rate: 0,
            bw_filter: VecDeque::new(),
            rt_prop: None,
            rt_prop_stamp: Instant::ZERO,
            rt_prop_expired: false,
            round_count: 0,
            next_round_delivered: 0,
            round_start: false,
            filled_pipe: false,
            full_bw: 0,
            full_bw_count: 0,
            cycle_index: 0,
            cycle_stamp: Instant::ZERO,
            probe_rtt_done: None,
            probe_rtt_round_done: false,
            in_recovery: false,
            conservation: false,
            entering_recovery: false,
            recovery_round: 0,
            rto_recovery: false,
            loss_in_phase: false,
            latest_rtt: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> BbrState {
        self.state
    }

    /// BtlBw, the bottleneck bandwidth estimate, in bytes per second.
    pub fn btl_bw(&self) -> u64 {
        self.bw_filter.front().map_or(0, |&(_, bw)| bw)
    }

    /// RTprop, the round-trip propagation time estimate.
    pub fn rt_prop(&self) -> Option<Duration> {
        self.rt_prop
    }

    /// The current pacing gain, in thousandths.
    pub fn pacing_gain(&self) -> u64 {
        self.pacing_gain
    }

    /// The current cwnd gain, in thousandths.
    pub fn cwnd_gain(&self) -> u64 {
        self.cwnd_gain
    }

    /// Round trips counted so far.
    pub fn round_count(&self) -> u64 {
        self.round_count
    }

    /// Whether STARTUP found the bottleneck bandwidth.
    pub fn filled_pipe(&self) -> bool {
        self.filled_pipe
    }

    /// §4.2.3.2 BBRInflight: `gain · BtlBw · RTprop` in bytes; the initial window
    /// before there is a model.
    pub fn inflight(&self, gain: u64) -> usize {
        let (Some(rt), bw) = (self.rt_prop, self.btl_bw()) else {
            return initial_window(self.mss);
        };
        if bw == 0 {
            return initial_window(self.mss);
        }
        let bdp = u128::from(bw) * rt.as_micros() / 1_000_000;
        let v = bdp * u128::from(gain) / 1000;
        usize::try_from(v).unwrap_or(usize::MAX)
    }

    fn min_pipe_cwnd(&self) -> usize {
        MIN_PIPE_SEGMENTS * self.mss
    }

    /// §4.1.1.3: count round trips by the delivered count at the newest
    /// delivered segment's transmission.
    fn update_round(&mut self, rs: &RateSample) {
        self.round_start = false;
        if rs.prior_delivered >= self.next_round_delivered {
            self.next_round_delivered = rs.total_delivered;
            self.round_count += 1;
            self.round_start = true;
        }
    }

    /// §4.1.1.5: BtlBw is the max of the last 10 rounds' samples; app-limited
    /// samples count only if they raise it.
    fn update_btl_bw(&mut self, rs: &RateSample) {
        let Some(bw) = rs.rate() else { return };
        if rs.app_limited && bw < self.btl_bw() {
            return;
        }
        let round = self.round_count;
        while self.bw_filter.back().is_some_and(|&(_, b)| b <= bw) {
            self.bw_filter.pop_back();
        }
        self.bw_filter.push_back((round, bw));
        while self
            .bw_filter
            .front()
            .is_some_and(|&(r, _)| r + BTL_BW_FILTER_ROUNDS <= round)
        {
            self.bw_filter.pop_front();
        }
    }

    /// §4.1.2.3: RTprop is the min RTT of the last 10 s.
    fn update_rt_prop(&mut self, now: Instant, rtt: Option<Duration>) {
        self.rt_prop_expired = now > self.rt_prop_stamp + RT_PROP_FILTER_LEN;
        let Some(rtt) = rtt.filter(|r| !r.is_zero()) else {
            return;
        };
        if self.rt_prop.is_none_or(|r| rtt <= r) || self.rt_prop_expired {
            self.rt_prop = Some(rtt);
            self.rt_prop_stamp = now;
        }
    }

    /// §4.3.2.2: the pipe is full once BtlBw stops growing by 25 % a round.
    fn check_full_pipe(&mut self, rs: &RateSample) {
        if self.filled_pipe || !self.round_start || rs.app_limited {
            return;
        }
        let bw = self.btl_bw();
        if u128::from(bw) * 1000 >= u128::from(self.full_bw) * u128::from(FULL_BW_GROWTH) {
            self.full_bw = bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count += 1;
        if self.full_bw_count >= FULL_BW_ROUNDS {
            self.filled_pipe = true;
        }
    }

    fn enter_drain(&mut self) {
        self.state = BbrState::Drain;
        self.pacing_gain = DRAIN_GAIN;
        self.cwnd_gain = HIGH_GAIN;
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.state = BbrState::ProbeBw;
        self.cwnd_gain = PROBE_BW_CWND_GAIN;
        // The draft starts at a random phase other than the 3/4 one; a
        // deterministic choice spread by the round count does the same job.
        let start = 2 + (self.round_count % 6) as usize;
        self.cycle_index = (start + GAIN_CYCLE.len() - 1) % GAIN_CYCLE.len();
        self.advance_cycle_phase(now);
    }

    fn advance_cycle_phase(&mut self, now: Instant) {
        self.cycle_stamp = now;
        self.cycle_index = (self.cycle_index + 1) % GAIN_CYCLE.len();
        self.pacing_gain = GAIN_CYCLE[self.cycle_index];
        self.loss_in_phase = false;
    }

    /// §4.3.3.5: a phase lasts one RTprop; the probing phase until inflight
    /// reaches 5/4 BDP (or loss), the draining phase until inflight ≤ BDP.
    fn is_next_cycle_phase(&self, now: Instant, pipe: usize) -> bool {
        let full_length = self
            .rt_prop
            .is_none_or(|rt| now.saturating_duration_since(self.cycle_stamp) > rt);
        match self.pacing_gain {
            1000 => full_length,
            g if g > 1000 => full_length && (self.loss_in_phase || pipe >= self.inflight(g)),
            _ => full_length || pipe <= self.inflight(1000),
        }
    }

    fn check_drain(&mut self, now: Instant, pipe: usize) {
        if self.state == BbrState::Startup && self.filled_pipe {
            self.enter_drain();
        }
        if self.state == BbrState::Drain && pipe <= self.inflight(1000) {
            self.enter_probe_bw(now);
        }
    }

    fn save_cwnd(&mut self) {
        self.prior_cwnd = if !self.in_recovery && self.state != BbrState::ProbeRtt {
            self.cwnd
        } else {
            self.prior_cwnd.max(self.cwnd)
        };
    }

    /// §4.3.4: enter PROBE_RTT when RTprop has not been refreshed for 10 s; leave
    /// after 200 ms and a round trip at the floor.
    fn check_probe_rtt(&mut self, now: Instant, pipe: usize) {
        if self.state != BbrState::ProbeRtt && self.rt_prop_expired {
            self.save_cwnd();
            self.state = BbrState::ProbeRtt;
            self.pacing_gain = 1000;
            self.cwnd_gain = 1000;
            self.probe_rtt_done = None;
        }
        if self.state != BbrState::ProbeRtt {
            return;
        }
        match self.probe_rtt_done {
            None if pipe <= self.min_pipe_cwnd() => {
                self.probe_rtt_done = Some(now + PROBE_RTT_DURATION);
                self.probe_rtt_round_done = false;
                self.next_round_delivered = 0;
            }
            None => {}
            Some(done) => {
                if self.round_start {
                    self.probe_rtt_round_done = true;
                }
                if self.probe_rtt_round_done && now >= done {
                    self.rt_prop_stamp = now;
                    self.rt_prop_expired = false;
                    self.cwnd = self.cwnd.max(self.prior_cwnd);
                    if self.filled_pipe {
                        self.enter_probe_bw(now);
                    } else {
                        self.state = BbrState::Startup;
                        self.pacing_gain = HIGH_GAIN;
                        self.cwnd_gain = HIGH_GAIN;
                    }
                }
            }
        }
    }

    /// §4.2.1: pacing_rate = pacing_gain · BtlBw, less a 1 % margin; before the
    /// pipe is full it only rises. Before any bandwidth sample, high_gain · cwnd / RTT.
    fn set_pacing_rate(&mut self) {
        let bw = self.btl_bw();
        let rate = if bw == 0 {
            let Some(rtt) = self.latest_rtt else { return };
            let us = u128::from(u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1));
            (self.cwnd as u128) * u128::from(HIGH_GAIN) * 1000 / us
        } else {
            u128::from(bw) * u128::from(self.pacing_gain) * u128::from(100 - PACING_MARGIN_PERCENT)
                / 100_000
        };
        let rate = u64::try_from(rate).unwrap_or(u64::MAX).max(1);
        if self.filled_pipe || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    /// §4.2.3: the window: the model's target, reached by growing with deliveries;
    /// packet conservation in the first round of recovery; the floor in PROBE_RTT.
    fn set_cwnd(&mut self, delivered: usize, pipe: usize, total_delivered: u64) {
        let target = self
            .inflight(self.cwnd_gain)
            .saturating_add(3 * self.mss)
            .max(self.min_pipe_cwnd());
        if self.entering_recovery {
            self.entering_recovery = false;
            self.cwnd = pipe.saturating_add(delivered.max(self.mss));
        } else if self.conservation {
            self.cwnd = self.cwnd.max(pipe.saturating_add(delivered));
        } else if self.filled_pipe {
            self.cwnd = self.cwnd.saturating_add(delivered).min(target);
        } else if self.cwnd < target || total_delivered < initial_window(self.mss) as u64 {
            self.cwnd = self.cwnd.saturating_add(delivered);
        }
        self.cwnd = self.cwnd.max(self.min_pipe_cwnd());
        if self.state == BbrState::ProbeRtt {
            self.cwnd = self.cwnd.min(self.min_pipe_cwnd());
        }
    }
}

impl CongestionControl for Bbr {
    fn on_ack(&mut self, _now: Instant, _bytes: usize, rtt: Option<Duration>, _in_flight: usize) {
        if rtt.is_some() {
            self.latest_rtt = rtt;
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, _in_flight: usize) {
        self.save_cwnd();
        self.in_recovery = true;
        self.conservation = true;
        self.entering_recovery = true;
        self.recovery_round = self.round_count + 1;
        self.loss_in_phase = true;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        self.in_recovery = false;
        self.conservation = false;
        self.entering_recovery = false;
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: usize) {
        self.save_cwnd();
        self.in_recovery = true;
        self.rto_recovery = true;
        self.conservation = true;
        self.entering_recovery = false;
        self.recovery_round = self.round_count + 1;
        self.loss_in_phase = true;
        self.cwnd = self.mss;
    }

    fn on_rate_sample(
        &mut self,
        now: Instant,
        rs: Option<&RateSample>,
        newly_delivered: usize,
        pipe: usize,
    ) {
        let mut total = 0;
        self.round_start = false;
        if let Some(rs) = rs {
            total = rs.total_delivered;
            self.update_round(rs);
            self.update_btl_bw(rs);
            if self.state == BbrState::ProbeBw && self.is_next_cycle_phase(now, pipe) {
                self.advance_cycle_phase(now);
            }
            self.check_full_pipe(rs);
            self.check_drain(now, pipe);
            self.update_rt_prop(now, rs.rtt);
            self.check_probe_rtt(now, pipe);
        }
        if self.round_start && self.round_count >= self.recovery_round {
            self.conservation = false;
            if self.rto_recovery {
                self.rto_recovery = false;
                self.in_recovery = false;
                self.cwnd = self.cwnd.max(self.prior_cwnd);
            }
        }
        self.set_pacing_rate();
        self.set_cwnd(newly_delivered, pipe, total);
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        usize::MAX
    }

    fn in_slow_start(&self) -> bool {
        self.state == BbrState::Startup
    }

    fn set_mss(&mut self, mss: usize) {
        self.mss = mss.max(1);
    }

    fn name(&self) -> &'static str {
        "bbr"
    }

    fn restart(&mut self, mss: usize) -> bool {
        *self = Self::new(mss);
        true
    }

    fn undo(&mut self, prior_cwnd: usize, _prior_ssthresh: usize) {
        self.in_recovery = false;
        self.conservation = false;
        self.entering_recovery = false;
        self.rto_recovery = false;
        self.cwnd = self.cwnd.max(prior_cwnd).max(self.prior_cwnd);
    }

    fn pacing_rate(&self) -> Option<u64> {
        (self.pacing_rate > 0).then_some(self.pacing_rate)
    }

    fn uses_prr(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests;
