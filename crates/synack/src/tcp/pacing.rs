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
//! The core has no clock, so the pacer keeps the earliest time the next segment
//! may leave; the connection reports it through its timer deadline (the stack's
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

/// The earliest departure time of a connection's next segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pacer {
    /// Nanoseconds since [`Instant::ZERO`]; 0 = no constraint.
    next_ns: u64,
}

impl Pacer {
    /// Whether a segment may leave at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.next_ns <= now.micros().saturating_mul(1000)
    }

    /// When the next segment may leave, if that is after `now`.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        (!self.ready(now)).then(|| Instant::from_micros(self.next_ns.div_ceil(1000)))
    }

    /// A segment of `bytes` (headers included) left at `now`, paced at
    /// `rate` bytes per second: the next may leave `bytes / rate` later. The gap
    /// starts from the previous departure slot, or [`MAX_LAG`] before now if
    /// that is later: a late sender catches up by at most 1 ms of data.
    pub fn on_send(&mut self, now: Instant, bytes: usize, rate: u64) {
        if rate == 0 {
            return;
        }
        let lag = u64::try_from(MAX_LAG.as_nanos()).unwrap_or(u64::MAX);
        let floor = now.micros().saturating_mul(1000).saturating_sub(lag);
        let start = self.next_ns.max(floor);
        // A 64-bit division for any segment-sized `bytes`, the 128-bit one
        // beyond; the quotient is the same.
        let bytes = bytes as u64; // usize is at most 64 bits wide
        let gap = match bytes.checked_mul(1_000_000_000) {
            Some(n) => n / rate,
            None => u64::try_from(u128::from(bytes) * 1_000_000_000 / u128::from(rate))
                .unwrap_or(u64::MAX),
        };
        self.next_ns = start.saturating_add(gap);
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

    #[test]
    fn segments_leave_one_gap_apart() {
        let mut p = Pacer::default();
        let t0 = Instant::from_millis(1);
        // 1500 bytes at 1.5 MB/s is 1 ms: the first is "late" by the whole
        // 1 ms of lag the schedule may carry, so it and one more go at once.
        p.on_send(t0, 1500, 1_500_000);
        assert!(p.ready(t0), "one slot of catch-up");
        p.on_send(t0, 1500, 1_500_000);
        assert!(!p.ready(t0));
        assert_eq!(p.deadline(t0), Some(Instant::from_millis(2)));
        p.on_send(Instant::from_millis(2), 1500, 1_500_000);
        assert_eq!(
            p.deadline(Instant::from_millis(2)),
            Some(Instant::from_millis(3)),
            "on schedule: one gap per segment"
        );
        assert!(p.ready(Instant::from_millis(3)));
    }

    #[test]
    fn fractions_of_a_microsecond_accumulate() {
        let mut p = Pacer::default();
        let t0 = Instant::from_millis(5);
        // 100 bytes at 1 Gbyte/s is 100 ns. From 1 ms behind the clock,
        // 10,000 of them bring the schedule to now, and ten more to 1 us later.
        for _ in 0..10_010 {
            p.on_send(t0, 100, 1_000_000_000);
        }
        assert_eq!(p.deadline(t0), Some(Instant::from_micros(5_001)));
    }

    #[test]
    fn a_late_sender_catches_up_by_at_most_one_millisecond() {
        // (name, idle before the burst, segments sent at once before the pacer
        // holds the next) at 1500 bytes per 100 us (15 MB/s).
        let cases = [
            ("back to back: on schedule", 0, 1),
            ("300 us late: three slots owed", 300, 4),
            ("1 ms late: ten slots", 1000, 11),
            ("1 s idle: still only 1 ms", 1_000_000, 11),
        ];
        for (name, idle_us, burst) in cases {
            let mut p = Pacer::default();
            let t0 = Instant::from_secs(10);
            p.on_send(t0, 1500, 15_000_000);
            // Drain the catch-up of the first send so the schedule is current.
            while p.ready(t0) {
                p.on_send(t0, 1500, 15_000_000);
            }
            let next = p.deadline(t0).unwrap();
            let t1 = next + Duration::from_micros(idle_us);
            let mut sent = 0;
            while p.ready(t1) {
                p.on_send(t1, 1500, 15_000_000);
                sent += 1;
            }
            assert_eq!(sent, burst, "{name}");
        }
    }

    #[test]
    fn zero_rate_means_unpaced() {
        let mut p = Pacer::default();
        p.on_send(Instant::ZERO, 1000, 0);
        assert!(p.ready(Instant::ZERO));
    }
}
