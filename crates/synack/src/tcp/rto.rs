//! The retransmission timeout (RTO) estimator of RFC 6298.
//!
//! RFC 6298 §2: "To compute the current RTO, a TCP sender maintains two state
//! variables, SRTT (smoothed round-trip time) and RTTVAR (round-trip time
//! variation)." [`RttEstimator`] holds those two variables, the RTO derived from
//! them, and the exponential back-off count of §5.5. It is a pure calculator: it
//! never reads a clock and never decides which segments may be timed; see the
//! calling contract on the type.
//!
//! All arithmetic is done in whole microseconds with saturating operations, so no
//! sample, however large, can panic or wrap.

use core::time::Duration;

/// RFC 6298 §2.1: "Until a round-trip time (RTT) measurement has been made for a
/// segment sent between the sender and receiver, the sender SHOULD set RTO <- 1
/// second".
pub const INITIAL_RTO: Duration = Duration::from_secs(1);

/// RFC 6298 §2.4: "Whenever RTO is computed, if it is less than 1 second, then the
/// RTO SHOULD be rounded up to 1 second." (Linux deviates and uses 200 ms; the
/// minimum is a parameter of [`RttEstimator::new`].)
pub const MIN_RTO: Duration = Duration::from_secs(1);

/// RFC 6298 §2.5: "A maximum value MAY be placed on RTO provided it is at least
/// 60 seconds."
pub const MAX_RTO: Duration = Duration::from_secs(60);

/// The RTO used once data transfer starts after a SYN had to be retransmitted
/// (RFC 6298 §5.7, see [`RttEstimator::on_syn_timeout_fallback`]).
pub const SYN_FALLBACK_RTO: Duration = Duration::from_secs(3);

/// The clock granularity G of RFC 6298 §2: the core's clock counts microseconds,
/// but RTT samples in practice come from millisecond timestamps (RFC 7323 TSval),
/// so G is taken as 1 ms, as Linux does.
pub const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// RFC 6298 §2: "K = 4".
const K: u64 = 4;

/// SRTT, RTTVAR, RTO and back-off for one connection (RFC 6298).
///
/// # Calling contract
///
/// - Feed every valid RTT measurement to [`on_sample`](Self::on_sample). Choosing
///   which measurements are valid is the caller's job. **Karn's algorithm**
///   (RFC 6298 §3): "RTT samples MUST NOT be made using segments that were
///   retransmitted (and thus for which it is ambiguous whether the reply was for
///   the first instance of the packet or a later instance)." The one exception is
///   timestamps: with RFC 7323 timestamps an ACK of a retransmission echoes the
///   TSval of the copy that arrived, so the sample is unambiguous.
/// - When the retransmission timer fires, call [`backoff`](Self::backoff) before
///   re-arming the timer with [`rto`](Self::rto).
/// - A new sample collapses the back-off (RFC 6298 §5, after rule 5.7: "once a new
///   RTT measurement is obtained ... the computations outlined in Section 2 are
///   performed, including the computation of RTO, which may result in
///   "collapsing" RTO back down after it has been subject to exponential back off
///   (rule 5.5)").
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use synack::tcp::rto::RttEstimator;
///
/// let ms = Duration::from_millis;
/// let mut est = RttEstimator::new(ms(1000), ms(200), ms(60_000));
/// est.on_sample(ms(100));
/// // SRTT = 100 ms, RTTVAR = 50 ms, RTO = 100 + 4 * 50 = 300 ms.
/// assert_eq!(est.rto(), ms(300));
/// est.backoff();
/// assert_eq!(est.rto(), ms(600));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    /// SRTT in µs, meaningful once `has_srtt` (a flag beside `backoff`, not an
    /// `Option<u64>`: 8 bytes less in every connection).
    srtt_us: u64,
    /// RTTVAR in µs (meaningless until `has_srtt`).
    rttvar_us: u64,
    /// The RTO before back-off, in µs, already clamped to `[min, max]`.
    base_rto_us: u64,
    /// The lower clamp, in µs.
    min_rto_us: u64,
    /// The upper clamp, in µs.
    max_rto_us: u64,
    /// How many times the timer has been backed off since the last sample.
    backoff: u32,
    /// A sample was taken: `srtt_us` and `rttvar_us` hold values.
    has_srtt: bool,
}

impl RttEstimator {
    /// SRTT in µs, `None` before the first sample.
    #[inline]
    pub(crate) fn srtt_us(&self) -> Option<u64> {
        self.has_srtt.then_some(self.srtt_us)
    }

    fn set_srtt(&mut self, us: u64) {
        self.srtt_us = us;
        self.has_srtt = true;
    }

    /// An estimator with no samples yet, whose RTO is `initial_rto` (clamped to
    /// `[min_rto, max_rto]`).
    ///
    /// Should `min_rto` exceed `max_rto`, `max_rto` wins: every RTO is then
    /// `max_rto`.
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let max_rto_us = micros(max_rto);
        let min_rto_us = micros(min_rto).min(max_rto_us);
        Self {
            srtt_us: 0,
            rttvar_us: 0,
            base_rto_us: clamp(micros(initial_rto), min_rto_us, max_rto_us),
            min_rto_us,
            max_rto_us,
            backoff: 0,
            has_srtt: false,
        }
    }

    /// Takes one RTT measurement into account (RFC 6298 §2.2, §2.3) and resets the
    /// back-off.
    ///
    /// The caller applies Karn's algorithm; see the type's documentation.
    pub fn on_sample(&mut self, rtt: Duration) {
        let r = micros(rtt);
        match self.srtt_us() {
            None => {
                // RFC 6298 §2.2: "When the first RTT measurement R is made, the host
                // MUST set SRTT <- R, RTTVAR <- R/2".
                self.set_srtt(r);
                self.rttvar_us = r / 2;
            }
            Some(srtt) => {
                // RFC 6298 §2.3: "When a subsequent RTT measurement R' is made, a
                // host MUST set
                //     RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
                //     SRTT <- (1 - alpha) * SRTT + alpha * R'
                // The value of SRTT used in the update to RTTVAR is its value before
                // updating SRTT itself using the second assignment." alpha = 1/8,
                // beta = 1/4. Each form below is at most the larger operand, so
                // nothing overflows.
                let delta = srtt.abs_diff(r);
                self.rttvar_us = (self.rttvar_us - self.rttvar_us / 4).saturating_add(delta / 4);
                self.set_srtt((srtt - srtt / 8).saturating_add(r / 8));
            }
        }
        self.recompute();
        // RFC 6298 §5: a new measurement "may result in "collapsing" RTO back down
        // after it has been subject to exponential back off (rule 5.5)".
        self.backoff = 0;
    }

    /// RFC 6298 §2.2/§2.3: "RTO <- SRTT + max (G, K*RTTVAR)", then §2.4/§2.5
    /// clamping.
    fn recompute(&mut self) {
        let Some(srtt) = self.srtt_us() else {
            return;
        };
        let g = micros(CLOCK_GRANULARITY);
        let rto = srtt.saturating_add(g.max(self.rttvar_us.saturating_mul(K)));
        self.base_rto_us = clamp(rto, self.min_rto_us, self.max_rto_us);
    }

    /// The current retransmission timeout: the computed RTO doubled once per
    /// [`backoff`](Self::backoff), never more than the maximum.
    pub fn rto(&self) -> Duration {
        // A shift of 64 or more would overflow; saturate the factor instead.
        let factor = 1u64.checked_shl(self.backoff).unwrap_or(u64::MAX);
        let rto = self.base_rto_us.saturating_mul(factor).min(self.max_rto_us);
        Duration::from_micros(rto)
    }

    /// The retransmission timer expired: double the RTO.
    ///
    /// RFC 6298 §5.5: "The host MUST set RTO <- RTO * 2 ("back off the timer").
    /// The maximum value discussed in (2.5) above may be used to provide an upper
    /// bound to this doubling operation." The count saturates; [`rto`](Self::rto)
    /// stays at the maximum.
    pub fn backoff(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Forgets the back-off, returning [`rto`](Self::rto) to the computed value.
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// How many times the timer was backed off since the last sample or reset
    /// (useful as the consecutive-retransmission count).
    pub fn backoff_count(&self) -> u32 {
        self.backoff
    }

    /// The smoothed round-trip time, `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt_us().map(Duration::from_micros)
    }

    /// The round-trip time variation, `None` before the first sample.
    pub fn rttvar(&self) -> Option<Duration> {
        self.srtt_us()
            .map(|_| Duration::from_micros(self.rttvar_us))
    }

    /// The handshake is over and the SYN (or SYN-ACK) had to be retransmitted:
    /// fall back to a 3 s RTO if no RTT sample exists yet.
    ///
    /// RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN segment and
    /// the TCP implementation is using an RTO less than 3 seconds, the RTO MUST be
    /// re-initialized to 3 seconds when data transmission begins (i.e., after the
    /// three-way handshake completes)."
    ///
    /// Call it once, when entering ESTABLISHED, and only if the SYN timer fired.
    /// Like Linux (`tcp_init_metrics`), it does nothing when a valid sample exists
    /// (e.g. from RFC 7323 timestamps on the retransmitted SYN): a measured RTO is
    /// better than a guess. It also clears the back-off accumulated during the
    /// handshake ("re-initialized"). The result is still clamped to the maximum.
    pub fn on_syn_timeout_fallback(&mut self) {
        if self.srtt_us().is_some() {
            return;
        }
        let fallback = micros(SYN_FALLBACK_RTO);
        if self.base_rto_us < fallback {
            self.base_rto_us = clamp(fallback, self.min_rto_us, self.max_rto_us);
        }
        self.backoff = 0;
    }
}

impl Default for RttEstimator {
    /// The RFC 6298 defaults: initial RTO 1 s, minimum 1 s, maximum 60 s.
    fn default() -> Self {
        Self::new(INITIAL_RTO, MIN_RTO, MAX_RTO)
    }
}

/// A duration in whole microseconds, saturating at `u64::MAX`.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `v` clamped to `[lo, hi]`; `hi` wins when `lo > hi` (unlike `Ord::clamp`, which
/// panics).
fn clamp(v: u64, lo: u64, hi: u64) -> u64 {
    v.max(lo).min(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// Linux-like limits: 1 s initial, 200 ms minimum, 60 s maximum.
    fn linux() -> RttEstimator {
        RttEstimator::new(ms(1000), ms(200), ms(60_000))
    }

    /// (name, estimator, samples, SRTT, RTTVAR, RTO)
    type SampleCase<'a> = (
        &'a str,
        RttEstimator,
        &'a [Duration],
        Option<Duration>,
        Option<Duration>,
        Duration,
    );

    #[test]
    fn samples_table() {
        let cases: [SampleCase<'_>; 11] = [
            ("no sample: initial RTO", linux(), &[], None, None, ms(1000)),
            (
                "no sample: RFC defaults",
                RttEstimator::default(),
                &[],
                None,
                None,
                ms(1000),
            ),
            // 2.2: SRTT = R, RTTVAR = R/2, RTO = R + 4 * R/2.
            (
                "first sample",
                linux(),
                &[ms(100)],
                Some(ms(100)),
                Some(ms(50)),
                ms(300),
            ),
            // 30 ms < 200 ms minimum.
            (
                "first sample clamped to min",
                linux(),
                &[ms(10)],
                Some(ms(10)),
                Some(ms(5)),
                ms(200),
            ),
            (
                "first sample with RFC min",
                RttEstimator::default(),
                &[ms(100)],
                Some(ms(100)),
                Some(ms(50)),
                ms(1000),
            ),
            // K*RTTVAR = 0 < G: RTO = SRTT + G.
            (
                "zero RTT uses granularity",
                RttEstimator::new(ms(1000), Duration::ZERO, ms(60_000)),
                &[Duration::ZERO],
                Some(Duration::ZERO),
                Some(Duration::ZERO),
                ms(1),
            ),
            // RTTVAR = 3/4*50 + 1/4*0 = 37.5; SRTT = 100; RTO = 100 + 150.
            (
                "steady second sample",
                linux(),
                &[ms(100), ms(100)],
                Some(ms(100)),
                Some(us(37_500)),
                ms(250),
            ),
            // RTTVAR = 37.5 + 1/4*100 = 62.5; SRTT = 87.5 + 25 = 112.5; RTO = 112.5 + 250.
            (
                "rising second sample",
                linux(),
                &[ms(100), ms(200)],
                Some(us(112_500)),
                Some(us(62_500)),
                us(362_500),
            ),
            // RTTVAR = 37.5 + 1/4*50 = 50; SRTT = 87.5 + 6.25 = 93.75; RTO = 93.75 + 200.
            (
                "falling second sample",
                linux(),
                &[ms(100), ms(50)],
                Some(us(93_750)),
                Some(ms(50)),
                us(293_750),
            ),
            (
                "huge sample clamped to max",
                linux(),
                &[Duration::from_secs(120)],
                Some(Duration::from_secs(120)),
                Some(ms(60_000)),
                ms(60_000),
            ),
            (
                "Duration::MAX saturates",
                linux(),
                &[Duration::MAX, Duration::MAX],
                Some(us(u64::MAX)),
                Some(us(u64::MAX / 2 - u64::MAX / 2 / 4)),
                ms(60_000),
            ),
        ];
        for (name, mut est, samples, srtt, rttvar, rto) in cases {
            for &s in samples {
                est.on_sample(s);
            }
            assert_eq!(est.srtt(), srtt, "{name}: SRTT");
            assert_eq!(est.rttvar(), rttvar, "{name}: RTTVAR");
            assert_eq!(est.rto(), rto, "{name}: RTO");
        }
    }

    #[test]
    fn converges_to_a_constant_rtt() {
        let mut est = linux();
        for _ in 0..200 {
            est.on_sample(ms(80));
        }
        assert_eq!(est.srtt(), Some(ms(80)));
        // RTTVAR decays towards 0, so RTO tends to SRTT + G, then the minimum.
        assert_eq!(est.rto(), ms(200));
    }

    #[test]
    fn backoff_table() {
        // (name, estimator, backoffs, RTO)
        let cases = [
            ("no backoff", linux(), 0, ms(1000)),
            ("one doubling", linux(), 1, ms(2000)),
            ("three doublings", linux(), 3, ms(8000)),
            ("capped at max", linux(), 6, ms(60_000)),
            ("shift past 64 bits saturates", linux(), 70, ms(60_000)),
            (
                "tiny max caps the initial RTO",
                RttEstimator::new(ms(1000), ms(200), ms(500)),
                0,
                ms(500),
            ),
            (
                "min above max: max wins",
                RttEstimator::new(ms(1000), ms(900), ms(300)),
                2,
                ms(300),
            ),
        ];
        for (name, mut est, n, rto) in cases {
            for _ in 0..n {
                est.backoff();
            }
            assert_eq!(est.backoff_count(), n, "{name}: count");
            assert_eq!(est.rto(), rto, "{name}: RTO");
        }
    }

    #[test]
    fn backoff_count_saturates() {
        let mut est = linux();
        est.backoff = u32::MAX - 1;
        est.backoff();
        est.backoff();
        assert_eq!(est.backoff_count(), u32::MAX);
        assert_eq!(est.rto(), ms(60_000));
    }

    #[test]
    fn sample_collapses_backoff() {
        let mut est = linux();
        est.on_sample(ms(100));
        est.backoff();
        est.backoff();
        assert_eq!(est.rto(), ms(1200));
        est.on_sample(ms(100));
        assert_eq!(est.backoff_count(), 0);
        assert_eq!(est.rto(), ms(250));
    }

    #[test]
    fn reset_backoff_keeps_estimate() {
        let mut est = linux();
        est.on_sample(ms(100));
        est.backoff();
        est.reset_backoff();
        assert_eq!(est.backoff_count(), 0);
        assert_eq!(est.rto(), ms(300));
        assert_eq!(est.srtt(), Some(ms(100)));
    }

    #[test]
    fn syn_fallback_table() {
        // (name, estimator, sample before?, backoffs, RTO after the fallback)
        let cases = [
            ("1 s initial falls back to 3 s", linux(), None, 2, ms(3000)),
            (
                "already above 3 s: unchanged",
                RttEstimator::new(ms(5000), ms(200), ms(60_000)),
                None,
                0,
                ms(5000),
            ),
            (
                "max below 3 s caps it",
                RttEstimator::new(ms(1000), ms(200), ms(2000)),
                None,
                1,
                ms(2000),
            ),
            (
                "a sample exists: measured RTO kept",
                linux(),
                Some(ms(100)),
                0,
                ms(300),
            ),
        ];
        for (name, mut est, sample, backoffs, rto) in cases {
            if let Some(s) = sample {
                est.on_sample(s);
            }
            for _ in 0..backoffs {
                est.backoff();
            }
            est.on_syn_timeout_fallback();
            assert_eq!(est.rto(), rto, "{name}");
            assert_eq!(est.backoff_count(), 0, "{name}: back-off cleared");
        }
    }

    #[test]
    fn fallback_is_replaced_by_first_sample() {
        let mut est = linux();
        est.backoff();
        est.on_syn_timeout_fallback();
        est.on_sample(ms(100));
        assert_eq!(est.rto(), ms(300));
    }
}
