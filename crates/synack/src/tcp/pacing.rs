//! Pacing: release a connection's segments at a rate instead of in bursts.
//!
//! A window far larger than the bottleneck's queue, released at once (a window
//! update after the receiver drained its buffer, an ACK covering a long stretch, a
//! restart), overflows the queue even when the window itself is right. Spreading
//! the window over the round trip keeps the queue short. The rate is the
//! algorithm's own when it has one (BBR), otherwise Linux's default
//! (`tcp_update_pacing_rate`): `cwnd / srtt`, times 2 in slow start
//! (`tcp_pacing_ss_ratio` = 200%) and 1.2 in congestion avoidance
//! (`tcp_pacing_ca_ratio` = 120%).
//!
//! Segments leave in bursts of 250 µs of data at the rate (at least one segment,
//! at most 64 KiB), one burst per burst's worth of time, much as Linux sizes its
//! paced TSO bursts (`tcp_tso_autosize`). A burst is one GSO super-packet on a
//! TUN device with offload and one driver round elsewhere; one segment per
//! wake-up at gigabit rates costs a timer and an ACK per two segments for
//! nothing (an in-memory bulk transfer ran at 0.50 ACKs per segment). Below
//! about 48 Mbit/s a burst is one segment, as without bursts. Linux's bursts are
//! about 1 ms and at least two segments (`tcp_min_tso_segs`), but behind `fq`,
//! which interleaves flows; into a drop-tail queue, four flows at 25 Mbit/s
//! each shared 100 Mbit/s unfairly with those (Jain 0.92–0.93: one flow took
//! 36 Mbit/s) and as fairly as unbursted with these (0.977–0.995).
//!
//! The core has no clock, so the pacer keeps the earliest time the next burst
//! may start; the connection reports it through its timer deadline (the stack's
//! `poll_timeout`) and sends again from `handle_timeout`. Times are kept in
//! nanoseconds so that per-segment gaps of a few microseconds do not round away.

use core::time::Duration;

use crate::time::Instant;

/// Linux `tcp_pacing_ss_ratio`: 200 % of cwnd/srtt in slow start.
pub const SLOW_START_PERCENT: u64 = 200;
/// Linux `tcp_pacing_ca_ratio`: 120 % of cwnd/srtt in congestion avoidance.
pub const AVOIDANCE_PERCENT: u64 = 120;
/// Bytes of IPv4 + TCP header charged per segment on top of its payload.
pub const HEADER_BYTES: usize = 40;
/// How far the departure schedule may lag behind the clock: a sender that was
/// held up (by the window, or by a timer that fired late — a runtime's timers
/// have about 1 ms of granularity) may catch up by this much time's worth of
/// segments at once. Linux sizes its paced bursts the same way
/// (`tcp_tso_autosize`: about 1 ms of data at the pacing rate).
pub const MAX_LAG: Duration = Duration::from_millis(1);
/// Time's worth of data in one burst (Linux's is `sk_pacing_shift` = 10:
/// 1/1024 s; see the module's note on why synack's is shorter).
pub const BURST_TIME: Duration = Duration::from_micros(250);
/// Most bytes in one burst: a GSO super-packet (Linux caps a TSO burst at
/// `gso_max_size`).
pub const MAX_BURST_BYTES: u64 = 65_536;

/// Bytes a burst carries at `rate` bytes per second, for segments of
/// `segment` bytes: [`BURST_TIME`] of data, at most [`MAX_BURST_BYTES`], at
/// least one segment.
///
/// # Examples
///
/// ```
/// use synack::tcp::pacing::burst_bytes;
///
/// assert_eq!(burst_bytes(60_000_000, 1500), 15_000); // 250 us at 480 Mbit/s
/// assert_eq!(burst_bytes(1_250_000_000, 1500), 65_536); // 10 Gbit/s: one GSO packet
/// assert_eq!(burst_bytes(150_000, 1500), 1_500); // slow: one segment
/// ```
#[inline]
pub fn burst_bytes(rate: u64, segment: usize) -> u64 {
    // Runs per segment sent: 64-bit only, the division by a constant (a
    // product too large to fit is far beyond the 64 KiB cap anyway).
    const BURST_NS: u64 = BURST_TIME.as_nanos() as u64;
    let per_time = rate
        .checked_mul(BURST_NS)
        .map_or(u64::MAX, |n| n / 1_000_000_000);
    per_time
        .min(MAX_BURST_BYTES)
        .max(u64::try_from(segment).unwrap_or(u64::MAX))
}

/// The default pacing rate in bytes per second: `cwnd / srtt` scaled by 200 % in
/// slow start and 120 % otherwise. `None` before the first RTT sample (the
/// initial window goes out unpaced, as in Linux before `srtt` exists).
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use synack::tcp::pacing::default_rate;
///
/// // 100 kB per 10 ms is 10 MB/s; 20 MB/s in slow start, 12 MB/s after.
/// let srtt = Some(Duration::from_millis(10));
/// assert_eq!(default_rate(100_000, srtt, true), Some(20_000_000));
/// assert_eq!(default_rate(100_000, srtt, false), Some(12_000_000));
/// assert_eq!(default_rate(100_000, None, false), None);
/// ```
pub fn default_rate(cwnd: usize, srtt: Option<Duration>, slow_start: bool) -> Option<u64> {
    let srtt_us = u64::try_from(srtt?.as_micros()).unwrap_or(u64::MAX).max(1);
    let percent = if slow_start {
        SLOW_START_PERCENT
    } else {
        AVOIDANCE_PERCENT
    };
    // It runs per segment sent: a 64-bit division whenever the product fits (any
    // window below 9 TB), the 128-bit one beyond; the quotient is the same.
    let cwnd = cwnd as u64; // usize is at most 64 bits wide
    let rate = match cwnd.checked_mul(percent * 10_000) {
        Some(n) => n / srtt_us,
        None => {
            u64::try_from(u128::from(cwnd) * u128::from(percent * 10_000) / u128::from(srtt_us))
                .unwrap_or(u64::MAX)
        }
    };
    Some(rate.max(1))
}

/// A connection's departure schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pacer {
    /// The next segment's departure slot, in nanoseconds since
    /// [`Instant::ZERO`]; 0 = no constraint.
    next_ns: u64,
    /// The end of the burst under way: segments whose slots fall before it go
    /// out with it.
    burst_end_ns: u64,
}

/// Nanoseconds since [`Instant::ZERO`].
fn nanos(t: Instant) -> u64 {
    t.micros().saturating_mul(1000)
}

impl Pacer {
    /// Whether a segment may leave at `now`: its slot has come, or it belongs
    /// to the burst under way.
    pub fn ready(&self, now: Instant) -> bool {
        self.next_ns <= nanos(now) || self.next_ns < self.burst_end_ns
    }

    /// When the next burst may start, if that is after `now`.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        (!self.ready(now)).then(|| Instant::from_micros(self.next_ns.div_ceil(1000)))
    }

    /// A segment of `bytes` (headers included) left at `now`, paced at `rate`
    /// bytes per second: the next slot is `bytes / rate` later. A segment whose
    /// slot had come opens a burst of `burst` bytes' worth of time (see
    /// [`burst_bytes`]). Slots run from the previous one, or from `max_lag`
    /// before now if that is later: a late sender catches up by at most
    /// `max_lag` of data (plus the burst).
    #[inline]
    pub fn on_send(
        &mut self,
        now: Instant,
        bytes: usize,
        rate: u64,
        burst: u64,
        max_lag: Duration,
    ) {
        if rate == 0 {
            return;
        }
        let bytes = bytes as u64; // usize fits in u64
        self.charge(now, time_of(bytes, rate), || time_of(burst, rate), max_lag);
    }

    /// [`Pacer::on_send`] at a rate kept as a [`PaceRate`], for segments of
    /// usually `segment` bytes (headers included), with the same result: the
    /// time such a segment takes, and a burst's, are computed the first time
    /// they are needed and remembered in `rate` (no division afterwards).
    #[inline]
    pub fn on_send_at(
        &mut self,
        now: Instant,
        bytes: usize,
        segment: usize,
        rate: &mut PaceRate,
        max_lag: Duration,
    ) {
        if rate.rate == 0 {
            return;
        }
        let time = if bytes != segment {
            time_of(bytes as u64, rate.rate) // usize fits in u64
        } else if rate.segment_ns != PaceRate::UNKNOWN {
            u64::from(rate.segment_ns)
        } else {
            rate.segment_time(segment)
        };
        let burst_time = || match rate.burst_ns {
            PaceRate::UNKNOWN => rate.burst_time(segment),
            ns => u64::from(ns),
        };
        self.charge(now, time, burst_time, max_lag);
    }

    /// The schedule after a segment that takes `time` ns at the rate; a
    /// segment whose slot had come opens a burst taking `burst_time()` ns.
    #[inline]
    fn charge(
        &mut self,
        now: Instant,
        time: u64,
        burst_time: impl FnOnce() -> u64,
        max_lag: Duration,
    ) {
        let now_ns = nanos(now);
        if self.next_ns <= now_ns {
            self.burst_end_ns = now_ns.saturating_add(burst_time());
        }
        let lag = u64::try_from(max_lag.as_nanos()).unwrap_or(u64::MAX);
        let start = self.next_ns.max(now_ns.saturating_sub(lag));
        self.next_ns = start.saturating_add(time);
    }
}

/// Nanoseconds `bytes` take at `rate` bytes per second (`rate` > 0), rounded
/// down: a 64-bit division whenever the product fits (any segment or burst),
/// the 128-bit one beyond; the quotient is the same.
#[inline]
fn time_of(bytes: u64, rate: u64) -> u64 {
    match bytes.checked_mul(1_000_000_000) {
        Some(n) => n / rate,
        None => {
            u64::try_from(u128::from(bytes) * 1_000_000_000 / u128::from(rate)).unwrap_or(u64::MAX)
        }
    }
}

/// A pacing rate with what each segment needs from it remembered: the times a
/// segment of the usual size and a burst ([`burst_bytes`]) take, computed
/// the first time [`Pacer::on_send_at`] needs them. A connection sends many
/// segments between changes of its rate, and then divides nothing. The
/// times are kept in 32 bits (16 bytes in all: it lives in every
/// connection); one that does not fit (over 4.29 s, a rate below ~360 B/s)
/// is computed every time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaceRate {
    /// Bytes per second; 0 = unpaced.
    rate: u64,
    /// Nanoseconds a segment of the usual size takes at `rate`, or `UNKNOWN`.
    segment_ns: u32,
    /// Nanoseconds a burst of [`burst_bytes`]`(rate, segment)` takes, or
    /// `UNKNOWN`.
    burst_ns: u32,
}

impl Default for PaceRate {
    /// Unpaced.
    fn default() -> Self {
        Self::new(0)
    }
}

impl PaceRate {
    /// Not computed yet, or too long for 32 bits.
    const UNKNOWN: u32 = u32::MAX;

    /// `rate` bytes per second.
    pub const fn new(rate: u64) -> Self {
        Self {
            rate,
            segment_ns: Self::UNKNOWN,
            burst_ns: Self::UNKNOWN,
        }
    }

    /// The rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Whether the times remembered are those of segments of `segment` bytes
    /// (what [`Pacer::on_send_at`] must always be given between changes of
    /// the rate).
    pub fn is_for(&self, segment: usize) -> bool {
        let agrees =
            |ns: u32, time: &dyn Fn() -> u64| ns == Self::UNKNOWN || u64::from(ns) == time();
        self.rate == 0
            || (agrees(self.segment_ns, &|| time_of(segment as u64, self.rate))
                && agrees(self.burst_ns, &|| {
                    time_of(burst_bytes(self.rate, segment), self.rate)
                }))
    }

    /// The time of a segment of `segment` bytes, remembered.
    #[inline]
    fn segment_time(&mut self, segment: usize) -> u64 {
        let ns = time_of(segment as u64, self.rate); // usize fits in u64
        self.segment_ns = u32::try_from(ns).unwrap_or(Self::UNKNOWN);
        ns
    }

    /// The time of a burst for segments of `segment` bytes, remembered.
    #[inline]
    fn burst_time(&mut self, segment: usize) -> u64 {
        let ns = time_of(burst_bytes(self.rate, segment), self.rate);
        self.burst_ns = u32::try_from(ns).unwrap_or(Self::UNKNOWN);
        ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rate_table() {
        let ms = Duration::from_millis;
        // (name, cwnd, srtt, slow start, rate in bytes/s)
        let cases = [
            ("no RTT sample: no pacing", 14_600, None, true, None),
            (
                "slow start doubles",
                14_600,
                Some(ms(10)),
                true,
                Some(2_920_000),
            ),
            (
                "avoidance 1.2x",
                14_600,
                Some(ms(10)),
                false,
                Some(1_752_000),
            ),
            (
                "1 Gbit/s BDP at 2 ms, avoidance",
                250_000,
                Some(ms(2)),
                false,
                Some(150_000_000),
            ),
            (
                "sub-microsecond srtt counts as 1 us",
                1000,
                Some(Duration::from_nanos(10)),
                false,
                Some(1_200_000_000),
            ),
            ("empty window still paces", 0, Some(ms(1)), false, Some(1)),
        ];
        for (name, cwnd, srtt, ss, want) in cases {
            assert_eq!(default_rate(cwnd, srtt, ss), want, "{name}");
        }
    }

    /// Sends at `now` while the pacer allows (bounded); returns how many.
    fn burst(p: &mut Pacer, now: Instant, bytes: usize, rate: u64) -> usize {
        let b = burst_bytes(rate, bytes);
        let mut n = 0;
        while p.ready(now) && n < 10_000 {
            p.on_send(now, bytes, rate, b, MAX_LAG);
            n += 1;
        }
        n
    }

    #[test]
    fn bursts_of_250_us_leave_250_us_apart() {
        // 1500-byte segments at 60 MB/s (480 Mbit/s), 25 us apart: a burst is
        // 250 us of data, ten segments, and the next burst starts when their
        // slots have passed.
        let (seg, rate) = (1500, 60_000_000);
        let quarter = Duration::from_micros(250);
        let mut p = Pacer::default();
        let t0 = Instant::from_secs(10);
        // The first burst also carries the 1 ms of catch-up the schedule allows.
        assert_eq!(burst(&mut p, t0, seg, rate), 50);
        let t1 = p.deadline(t0).expect("paced out");
        assert_eq!(t1, t0 + quarter);
        for k in 0..3u32 {
            let t = t1 + quarter * k;
            assert_eq!(burst(&mut p, t, seg, rate), 10, "on schedule, burst {k}");
            assert_eq!(p.deadline(t), Some(t + quarter));
        }
    }

    #[test]
    fn between_bursts_nothing_leaves() {
        // An ACK arriving mid-gap must not release a single segment: that would
        // turn the bursts back into one segment per wake-up.
        let (seg, rate) = (1500, 60_000_000);
        let mut p = Pacer::default();
        let t0 = Instant::from_secs(10);
        burst(&mut p, t0, seg, rate);
        let next = p.deadline(t0).unwrap();
        for us in [1, 25, 100, 249] {
            assert!(!p.ready(t0 + Duration::from_micros(us)), "{us} us after");
        }
        assert!(p.ready(next));
    }

    #[test]
    fn burst_size_table() {
        // (name, rate in bytes/s, segment, segments per burst on schedule); the
        // gaps are whole microseconds, as the deadlines are.
        let cases = [
            ("480 Mbit/s: 250 us is 10 segments", 60_000_000, 1500, 10),
            ("10 Gbit/s: 64 KiB, 52.4 segments", 1_250_000_000, 1250, 53),
            ("1.2 Mbit/s: one segment at least", 150_000, 1500, 1),
            ("jumbo segments: 64 KiB is two", 1_250_000_000, 62_500, 2),
        ];
        for (name, rate, seg, want) in cases {
            let mut p = Pacer::default();
            let t0 = Instant::from_secs(100);
            burst(&mut p, t0, seg, rate);
            let t1 = p.deadline(t0).unwrap();
            assert_eq!(burst(&mut p, t1, seg, rate), want, "{name}");
        }
    }

    #[test]
    fn fractions_of_a_microsecond_accumulate() {
        let mut p = Pacer::default();
        let t0 = Instant::from_millis(5);
        // 100 bytes at 1 Gbyte/s is 100 ns. From 1 ms behind the clock,
        // 10,000 of them bring the schedule to now, and ten more to 1 us later.
        // (A burst of 0 bytes: the slots alone decide.)
        for _ in 0..10_010 {
            p.on_send(t0, 100, 1_000_000_000, 0, MAX_LAG);
        }
        assert_eq!(p.deadline(t0), Some(Instant::from_micros(5_001)));
    }

    #[test]
    fn a_late_sender_catches_up_by_at_most_its_lag() {
        // (name, lag allowed, lateness, segments sent at once) at 1500 bytes per
        // 25 us (60 MB/s): the burst's ten plus the slots owed, up to the lag.
        let ms = Duration::from_millis;
        let cases = [
            ("on schedule", MAX_LAG, 0, 10),
            ("300 us late: twelve slots owed", MAX_LAG, 300, 22),
            ("1 ms late: forty slots", MAX_LAG, 1000, 50),
            ("1 s idle: still only 1 ms", MAX_LAG, 1_000_000, 50),
            ("3 ms allowed, 2 ms late", ms(3), 2000, 90),
            ("no catch-up allowed", Duration::ZERO, 2000, 10),
        ];
        for (name, lag, late_us, want) in cases {
            let (seg, rate) = (1500, 60_000_000);
            let b = burst_bytes(rate, seg);
            let mut p = Pacer::default();
            let t0 = Instant::from_secs(10);
            while p.ready(t0) {
                p.on_send(t0, seg, rate, b, lag);
            }
            let t1 = p.deadline(t0).unwrap() + Duration::from_micros(late_us);
            let mut sent = 0;
            while p.ready(t1) {
                p.on_send(t1, seg, rate, b, lag);
                sent += 1;
            }
            assert_eq!(sent, want, "{name}");
        }
    }

    proptest::proptest! {
        /// A kept rate schedules exactly as the rate itself, for segments of
        /// the usual size (times remembered) and for any other.
        #[test]
        fn kept_rate_schedules_as_the_rate(
            rate in proptest::prop_oneof![1u64..1_000, 1_000u64..20_000_000_000, proptest::prelude::Just(u64::MAX)],
            segment in 1usize..70_000,
            steps in proptest::collection::vec((0u64..2_000_000, proptest::bool::ANY, 0usize..70_000), 1..40),
            lag_us in 0u64..3_000,
        ) {
            let mut kept = PaceRate::new(rate);
            let burst = burst_bytes(rate, segment);
            let lag = Duration::from_micros(lag_us);
            let (mut a, mut b) = (Pacer::default(), Pacer::default());
            let mut now_us = 1_000_000u64;
            for (dt_ns, usual, other) in steps {
                now_us += dt_ns / 1000;
                let now = Instant::from_micros(now_us);
                let bytes = if usual { segment } else { other };
                a.on_send(now, bytes, rate, burst, lag);
                b.on_send_at(now, bytes, segment, &mut kept, lag);
                proptest::prop_assert_eq!(a, b);
                proptest::prop_assert!(kept.is_for(segment));
            }
        }
    }

    #[test]
    fn zero_rate_means_unpaced() {
        let mut p = Pacer::default();
        p.on_send(Instant::ZERO, 1000, 0, 3000, MAX_LAG);
        p.on_send_at(Instant::ZERO, 1000, 1000, &mut PaceRate::new(0), MAX_LAG);
        assert!(p.ready(Instant::ZERO));
    }
}
