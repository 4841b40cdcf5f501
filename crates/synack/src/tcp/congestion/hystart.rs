//! HyStart++: leaving slow start on rising delay, RFC 9406.
//!
//! HyStart++ takes a rise in round-trip delay as the sign that slow start is
//! about to overshoot, and leaves it before the losses come. Slow start runs in
//! rounds; the minimum RTT of each round is compared with the last round's:
//!
//! | phase | per-ACK growth | leaves when |
//! |---|---|---|
//! | [`SlowStart`](HyStartPhase::SlowStart) | `min(N, L*SMSS)` | `currentRoundMinRTT ≥ lastRoundMinRTT + RttThresh` (to CSS) |
//! | [`Css`](HyStartPhase::Css) | `min(N, L*SMSS) / CSS_GROWTH_DIVISOR` | RTT falls below the baseline (back to slow start), or `CSS_ROUNDS` rounds pass (to avoidance) |
//! | [`ExitToAvoidance`](HyStartPhase::ExitToAvoidance) | — (the caller sets `ssthresh = cwnd`) | [`reset`](HyStart::reset) |
//!
//! `RttThresh = clamp(lastRoundMinRTT / MIN_RTT_DIVISOR, MIN_RTT_THRESH,
//! MAX_RTT_THRESH)`, checked once a round has `N_RTT_SAMPLE` RTT samples.
//!
//! # Rounds without sequence numbers
//!
//! In RFC 9406 §4.2 a round ends when an ACK acknowledges `windowEnd`, the
//! `SND.NXT` of the round's start. The [`CongestionControl`](super::CongestionControl)
//! trait carries no sequence numbers, so rounds are approximated by bytes: a round
//! ends with the ACK that brings the bytes acknowledged since the round started to
//! at least the `cwnd` given with the round's first ACK (about one window, which
//! is what `windowEnd − SND.UNA` is in bulk transfer). An application-limited
//! sender's rounds are then longer than one RTT, which only delays a decision.
//!
//! # RTT samples
//!
//! RFC 9406 §4.2 takes the minimum of per-ACK RTT samples ("currRTT"). A
//! smoothed RTT (what the connection has today) also works but lags: the rise in
//! delay shows up later and is damped, so exits come a round or two late. A per-ACK
//! latest RTT is better; pass it when the connection has one.

use core::time::Duration;

/// RFC 9406 §4.3: `MIN_RTT_THRESH = 4 msec`.
pub const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// RFC 9406 §4.3: `MAX_RTT_THRESH = 16 msec`.
pub const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// RFC 9406 §4.3: `MIN_RTT_DIVISOR = 8`.
pub const MIN_RTT_DIVISOR: u32 = 8;
/// RFC 9406 §4.3: `N_RTT_SAMPLE = 8`.
pub const N_RTT_SAMPLE: usize = 8;
/// RFC 9406 §4.3: `CSS_GROWTH_DIVISOR = 4`.
pub const CSS_GROWTH_DIVISOR: usize = 4;
/// RFC 9406 §4.3: `CSS_ROUNDS = 5`.
pub const CSS_ROUNDS: usize = 5;
/// RFC 9406 §4.3: L is infinity if paced and 8 if not, in SMSS: the most
/// one ACK grows `cwnd` by. synack does not pace.
pub const L_NON_PACED: usize = 8;

/// Where HyStart++ stands after an ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HyStartPhase {
    /// Standard slow start, watching the delay.
    SlowStart,
    /// Conservative Slow Start: growth divided by [`CSS_GROWTH_DIVISOR`].
    Css,
    /// Slow start is over: the caller sets `ssthresh = cwnd` and enters congestion
    /// avoidance. Stays until [`HyStart::reset`].
    ExitToAvoidance,
}

/// The state of RFC 9406 HyStart++ for one connection's slow start.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use synack::tcp::congestion::{HyStart, HyStartPhase};
///
/// let mut h = HyStart::new();
/// let ms = Duration::from_millis;
/// // One round of ten 1000-byte ACKs at a window of 10 000 bytes, RTT 50 ms ...
/// for _ in 0..10 {
///     assert_eq!(h.on_ack(1000, 10_000, ms(50)), HyStartPhase::SlowStart);
/// }
/// // ... then the delay rises by more than 50/8 ms: Conservative Slow Start.
/// let phases: Vec<_> = (0..10).map(|_| h.on_ack(1000, 10_000, ms(60))).collect();
/// assert_eq!(phases[6], HyStartPhase::SlowStart); // seven samples: too few
/// assert_eq!(phases[7], HyStartPhase::Css);
/// assert_eq!(h.growth_divisor(), 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HyStart {
    /// `cwnd` at the round's first ACK: the round ends once this many bytes are
    /// acknowledged. 0 between rounds (the next ACK starts one; a round's
    /// target is at least 1).
    round_bytes: usize,
    /// Bytes acknowledged since the round started.
    round_acked: usize,
    /// `lastRoundMinRTT`, `currentRoundMinRTT` and `cssBaselineMinRtt` in whole
    /// microseconds, [`INFINITY`] being the RFC's "infinity" (4 bytes each: every
    /// connection carries this state through its first slow start).
    last_round_min_rtt: u32,
    current_round_min_rtt: u32,
    css_baseline_min_rtt: u32,
    /// `rttSampleCount`.
    rtt_sample_count: u32,
    /// Rounds ended in CSS, the partial round CSS began in included.
    css_rounds: u8,
    phase: HyStartPhase,
}

/// The RFC's "infinity" for the minimum-RTT variables; samples saturate one below
/// it (71 minutes).
const INFINITY: u32 = u32::MAX;

/// An RTT sample in whole microseconds, below [`INFINITY`].
fn rtt_micros(rtt: Duration) -> u32 {
    u32::try_from(rtt.as_micros()).map_or(INFINITY - 1, |us| us.min(INFINITY - 1))
}

/// A minimum-RTT variable, `None` for infinity.
fn finite(us: u32) -> Option<Duration> {
    (us != INFINITY).then(|| Duration::from_micros(u64::from(us)))
}

impl Default for HyStart {
    fn default() -> Self {
        Self::new()
    }
}

impl HyStart {
    /// HyStart++ at the start of a connection: slow start, no RTT seen.
    pub const fn new() -> Self {
        Self {
            round_bytes: 0,
            round_acked: 0,
            last_round_min_rtt: INFINITY,
            current_round_min_rtt: INFINITY,
            css_baseline_min_rtt: INFINITY,
            rtt_sample_count: 0,
            css_rounds: 0,
            phase: HyStartPhase::SlowStart,
        }
    }

    /// Back to the start: slow start, no rounds, no samples.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// The phase after the last ACK.
    pub const fn phase(&self) -> HyStartPhase {
        self.phase
    }

    /// What slow-start growth is divided by: 1 in slow start,
    /// [`CSS_GROWTH_DIVISOR`] in CSS.
    ///
    /// RFC 9406 §4.2: "cwnd = cwnd + (min(N, L * SMSS) / CSS_GROWTH_DIVISOR)".
    pub const fn growth_divisor(&self) -> usize {
        match self.phase {
            HyStartPhase::Css => CSS_GROWTH_DIVISOR,
            HyStartPhase::SlowStart | HyStartPhase::ExitToAvoidance => 1,
        }
    }

    /// The threshold the last round's minimum RTT gives, if it had a sample.
    ///
    /// RFC 9406 §4.2: "RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT /
    /// MIN_RTT_DIVISOR, MAX_RTT_THRESH))".
    pub fn rtt_thresh(&self) -> Option<Duration> {
        finite(self.last_round_min_rtt).map(|last| {
            (last / MIN_RTT_DIVISOR)
                .min(MAX_RTT_THRESH)
                .max(MIN_RTT_THRESH)
        })
    }

    /// An ACK of `bytes_acked` new bytes arrived in slow start with an RTT sample;
    /// `cwnd` is the window before this ACK grows it.
    pub fn on_ack(&mut self, bytes_acked: usize, cwnd: usize, rtt: Duration) -> HyStartPhase {
        self.ack(bytes_acked, cwnd, Some(rtt))
    }

    /// An ACK without an RTT sample (Karn's algorithm withheld it): it still counts
    /// towards the round.
    pub fn on_ack_without_rtt(&mut self, bytes_acked: usize, cwnd: usize) -> HyStartPhase {
        self.ack(bytes_acked, cwnd, None)
    }

    fn ack(&mut self, bytes_acked: usize, cwnd: usize, rtt: Option<Duration>) -> HyStartPhase {
        if self.phase == HyStartPhase::ExitToAvoidance {
            return self.phase;
        }
        if self.round_bytes == 0 {
            self.start_round(cwnd);
        }
        self.round_acked = self.round_acked.saturating_add(bytes_acked);
        if let Some(rtt) = rtt {
            // RFC 9406 §4.2: "Keep track of the minimum observed RTT:
            // currentRoundMinRTT = min(currentRoundMinRTT, currRTT)
            // rttSampleCount += 1"
            self.current_round_min_rtt = self.current_round_min_rtt.min(rtt_micros(rtt));
            self.rtt_sample_count = self.rtt_sample_count.saturating_add(1);
        }
        match self.phase {
            HyStartPhase::SlowStart => self.check_delay_increase(),
            HyStartPhase::Css => self.check_spurious_exit(),
            HyStartPhase::ExitToAvoidance => {}
        }
        if self.round_acked >= self.round_bytes {
            self.end_round();
        }
        self.phase
    }

    /// RFC 9406 §4.2: "At the start of each round during standard slow start and
    /// CSS, initialize the variables used to compute the last round's and current
    /// round's minimum RTT: lastRoundMinRTT = currentRoundMinRTT;
    /// currentRoundMinRTT = infinity; rttSampleCount = 0".
    fn start_round(&mut self, cwnd: usize) {
        self.round_bytes = cwnd.max(1);
        self.round_acked = 0;
        self.last_round_min_rtt = self.current_round_min_rtt;
        self.current_round_min_rtt = INFINITY;
        self.rtt_sample_count = 0;
    }

    fn end_round(&mut self) {
        self.round_bytes = 0;
        if self.phase == HyStartPhase::Css {
            // RFC 9406 §4.2: "If the transition into CSS happens in the middle of
            // a round, that partial round counts towards the limit. If CSS_ROUNDS
            // rounds are complete, enter congestion avoidance by setting the
            // ssthresh to the current cwnd."
            self.css_rounds = self.css_rounds.saturating_add(1);
            if usize::from(self.css_rounds) >= CSS_ROUNDS {
                self.phase = HyStartPhase::ExitToAvoidance;
            }
        }
    }

    /// RFC 9406 §4.2: "For rounds where at least N_RTT_SAMPLE RTT samples have
    /// been obtained and currentRoundMinRTT and lastRoundMinRTT are valid, check to
    /// see if delay increase triggers slow start exit ... if (currentRoundMinRTT >=
    /// (lastRoundMinRTT + RttThresh)) cssBaselineMinRtt = currentRoundMinRTT; exit
    /// slow start and enter CSS".
    ///
    /// The check runs on every ACK from the N_RTT_SAMPLE-th sample on, as the RFC's
    /// pseudocode does; the minimum only falls as samples arrive, so the first check
    /// (over the round's first eight samples) is the one most likely to fire.
    fn check_delay_increase(&mut self) {
        if (self.rtt_sample_count as usize) < N_RTT_SAMPLE {
            return;
        }
        let (Some(current), Some(last), Some(thresh)) = (
            finite(self.current_round_min_rtt),
            finite(self.last_round_min_rtt),
            self.rtt_thresh(),
        ) else {
            return;
        };
        if current >= last.saturating_add(thresh) {
            self.css_baseline_min_rtt = self.current_round_min_rtt;
            self.css_rounds = 0;
            self.phase = HyStartPhase::Css;
        }
    }

    /// RFC 9406 §4.2: "For CSS rounds where at least N_RTT_SAMPLE RTT samples have
    /// been obtained, check to see if the current round's minRTT drops below
    /// baseline (cssBaselineMinRtt) indicating that slow start exit was spurious:
    /// if (currentRoundMinRTT < cssBaselineMinRtt) cssBaselineMinRtt = infinity;
    /// resume slow start including HyStart++".
    fn check_spurious_exit(&mut self) {
        if (self.rtt_sample_count as usize) < N_RTT_SAMPLE {
            return;
        }
        if let (Some(current), Some(baseline)) = (
            finite(self.current_round_min_rtt),
            finite(self.css_baseline_min_rtt),
        ) {
            if current < baseline {
                self.css_baseline_min_rtt = INFINITY;
                self.css_rounds = 0;
                self.phase = HyStartPhase::SlowStart;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    const MSS: usize = 1000;
    const CWND: usize = 10_000;

    /// Drives rounds of `cwnd / MSS` ACKs at a fixed window, one RTT per round
    /// (milliseconds), and writes the phase after each round: `S`, `C` or `A`.
    fn rounds(h: &mut HyStart, acks_per_round: usize, rtts_ms: &[u64]) -> String {
        rtts_ms
            .iter()
            .map(|&ms| {
                let mut phase = h.phase();
                for _ in 0..acks_per_round {
                    phase = h.on_ack(MSS, acks_per_round * MSS, Duration::from_millis(ms));
                }
                match phase {
                    HyStartPhase::SlowStart => 'S',
                    HyStartPhase::Css => 'C',
                    HyStartPhase::ExitToAvoidance => 'A',
                }
            })
            .collect()
    }

    #[test]
    fn phase_table() {
        // (name, ACKs per round, RTT per round in ms, phase after each round)
        let cases: [(&str, usize, &[u64], &str); 12] = [
            ("flat RTT never exits", 10, &[50; 12], "SSSSSSSSSSSS"),
            (
                "jitter below the threshold",
                10,
                &[50, 53, 50, 56, 51, 52],
                "SSSSSS",
            ),
            (
                "RTT step up exits to CSS, 5 rounds, then avoidance",
                10,
                &[50, 50, 50, 60, 60, 60, 60, 60, 60],
                "SSSCCCCAA",
            ),
            (
                "CSS ends after 5 rounds even if the RTT keeps rising",
                10,
                &[50, 60, 70, 80, 90, 100, 110],
                "SCCCCAA",
            ),
            (
                "RTT drops back in CSS: spurious, back to slow start",
                10,
                &[50, 50, 60, 50, 50, 50],
                "SSCSSS",
            ),
            (
                "spurious exit, then a real one",
                10,
                &[50, 60, 50, 60, 60, 60, 60, 60],
                "SCSCCCCA",
            ),
            (
                "threshold floor 4 ms: +3 ms stays",
                10,
                &[10, 13, 13],
                "SSS",
            ),
            ("threshold floor 4 ms: +4 ms exits", 10, &[10, 14], "SC"),
            ("threshold 1/8: 80 ms +9 stays", 10, &[80, 89, 89], "SSS"),
            ("threshold 1/8: 80 ms +10 exits", 10, &[80, 90], "SC"),
            ("threshold cap 16 ms: 200 +15 stays", 10, &[200, 215], "SS"),
            (
                "fewer than 8 samples a round: no decision",
                7,
                &[50, 100, 200],
                "SSS",
            ),
        ];
        for (name, acks, rtts, expected) in cases {
            let mut h = HyStart::new();
            assert_eq!(rounds(&mut h, acks, rtts), expected, "{name}");
        }
    }

    #[test]
    fn threshold_cap_16ms_exits_at_16() {
        let mut h = HyStart::new();
        assert_eq!(rounds(&mut h, 10, &[200, 216]), "SC");
        assert_eq!(h.rtt_thresh(), Some(MAX_RTT_THRESH));
    }

    #[test]
    fn growth_divisor_follows_the_phase() {
        let mut h = HyStart::new();
        assert_eq!(h.growth_divisor(), 1);
        rounds(&mut h, 10, &[50, 60]);
        assert_eq!(h.phase(), HyStartPhase::Css);
        assert_eq!(h.growth_divisor(), CSS_GROWTH_DIVISOR);
        rounds(&mut h, 10, &[60; 4]);
        assert_eq!(h.phase(), HyStartPhase::ExitToAvoidance);
        assert_eq!(h.growth_divisor(), 1);
    }

    #[test]
    fn exit_is_sticky_until_reset() {
        let mut h = HyStart::new();
        rounds(&mut h, 10, &[50, 60, 60, 60, 60, 60]);
        assert_eq!(h.phase(), HyStartPhase::ExitToAvoidance);
        assert_eq!(
            h.on_ack(MSS, CWND, Duration::from_millis(1)),
            HyStartPhase::ExitToAvoidance
        );
        h.reset();
        assert_eq!(h, HyStart::new());
        assert_eq!(rounds(&mut h, 10, &[50, 50]), "SS");
    }

    #[test]
    fn rounds_follow_cwnd_at_round_start() {
        // The round started at cwnd 10 000: the 10th ACK ends it even though the
        // caller's cwnd grew meanwhile; the next round is 20 000 bytes long.
        let mut h = HyStart::new();
        for i in 0..10 {
            h.on_ack(MSS, CWND + i * MSS, Duration::from_millis(50));
        }
        assert_eq!(h.round_bytes, 0);
        h.on_ack(MSS, 2 * CWND, Duration::from_millis(50));
        assert_eq!(h.round_bytes, 2 * CWND);
        assert_eq!(
            finite(h.last_round_min_rtt),
            Some(Duration::from_millis(50))
        );
    }

    #[test]
    fn acks_without_rtt_count_bytes_not_samples() {
        let mut h = HyStart::new();
        rounds(&mut h, 10, &[50]);
        // A round of 60 ms with only 7 samples: no decision.
        for i in 0..10 {
            if i < 7 {
                h.on_ack(MSS, CWND, Duration::from_millis(60));
            } else {
                h.on_ack_without_rtt(MSS, CWND);
            }
        }
        assert_eq!(h.phase(), HyStartPhase::SlowStart);
        assert_eq!(h.round_bytes, 0, "the round still ended");
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let mut h = HyStart::new();
        for _ in 0..100 {
            h.on_ack(usize::MAX, usize::MAX, Duration::MAX);
            h.on_ack(0, 0, Duration::ZERO);
            h.on_ack_without_rtt(usize::MAX, 0);
        }
        let _ = h.rtt_thresh();
    }
}
