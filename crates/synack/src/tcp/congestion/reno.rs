//! Reno: RFC 5681 slow start, congestion avoidance and the loss responses.
//!
//! The window arithmetic of RFC 5681 §3.1 and §3.2, in bytes:
//!
//! | event | rule |
//! |---|---|
//! | ACK in slow start | `cwnd += min(N, L*SMSS)` (eq. 2; L = 1, or 2 per RFC 3465) |
//! | ACK in congestion avoidance | `+SMSS` per `cwnd` bytes acknowledged (byte counting) |
//! | loss by duplicate ACKs / SACK | `ssthresh = max(FlightSize/2, 2*SMSS)` (eq. 4), `cwnd = ssthresh` |
//! | end of recovery | `cwnd = ssthresh` ("deflating" the window) |
//! | retransmission timeout | `ssthresh` per eq. 4, `cwnd = 1 SMSS` (the loss window) |
//!
//! Fast retransmit and the inflation of fast recovery live in the connection; see
//! [`CongestionControl`].

use core::time::Duration;

use super::{initial_window, CongestionControl};
use crate::time::Instant;

/// RFC 5681 congestion control, counting bytes.
///
/// # Examples
///
/// ```
/// use synack::tcp::congestion::{CongestionControl, Reno};
/// use synack::time::Instant;
///
/// let mut cc = Reno::new(1460);
/// assert_eq!(cc.cwnd(), 14_600); // RFC 6928 initial window
/// cc.on_ack(Instant::ZERO, 1460, None, 0);
/// assert_eq!(cc.cwnd(), 16_060); // slow start: + one SMSS
/// cc.on_congestion_event(Instant::ZERO, 16_060);
/// assert_eq!((cc.cwnd(), cc.ssthresh()), (8030, 8030));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reno {
    /// SMSS, never zero.
    smss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged in congestion avoidance since `cwnd` last grew.
    ca_acked: usize,
    /// Between `on_congestion_event` and `on_recovery_exit`.
    in_recovery: bool,
    /// An RTO fired and no ACK has advanced `snd.una` since.
    rto_outstanding: bool,
    /// RFC 3465's L: the most a single ACK grows `cwnd` in slow start, in SMSS.
    abc_limit: usize,
}

impl Reno {
    /// Reno for a sender whose SMSS is `mss` (zero is treated as one): `cwnd` is
    /// the RFC 6928 initial window and `ssthresh` is "arbitrarily high".
    ///
    /// RFC 5681 §3.1: "The initial value of ssthresh SHOULD be set arbitrarily high
    /// (e.g., to the size of the largest possible advertised window)".
    ///
    /// Build it once the MSS is known (after the handshake): the initial window is
    /// computed here, not on [`set_mss`](CongestionControl::set_mss).
    pub fn new(mss: usize) -> Self {
        Self {
            smss: mss.max(1),
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
            ca_acked: 0,
            in_recovery: false,
            rto_outstanding: false,
            abc_limit: 1,
        }
    }

    /// Lets one ACK grow `cwnd` in slow start by up to `segments` × SMSS (RFC 3465
    /// appropriate byte counting with limit L; zero is treated as one).
    ///
    /// The default, 1, is RFC 5681's equation (2), the standard. RFC 3465 §2.2
    /// (experimental) allows L = 2*SMSS, which restores the doubling per RTT that
    /// delayed ACKs (one ACK per two segments) otherwise halve.
    pub fn with_abc_limit(mut self, segments: usize) -> Self {
        self.abc_limit = segments.max(1);
        self
    }

    /// Whether a congestion event was signalled and recovery has not ended.
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// The sender maximum segment size in use.
    pub fn smss(&self) -> usize {
        self.smss
    }

    /// RFC 5681 §3.1 equation (4): "ssthresh = max (FlightSize / 2, 2*SMSS)".
    fn reduced_ssthresh(&self, in_flight: usize) -> usize {
        (in_flight / 2).max(self.smss.saturating_mul(2))
    }

    /// Slow start; returns the acknowledged bytes left over once `cwnd` reaches
    /// `ssthresh`, for congestion avoidance to count.
    fn slow_start(&mut self, bytes_acked: usize) -> usize {
        // RFC 5681 §3.1: "we RECOMMEND that TCP implementations increase cwnd,
        // per: cwnd += min (N, SMSS) (2) where N is the number of previously
        // unacknowledged bytes acknowledged in the incoming ACK." RFC 3465 §2.2
        // generalises SMSS to L*SMSS.
        let limit = self.smss.saturating_mul(self.abc_limit);
        let increase = bytes_acked.min(limit);
        let room = self.ssthresh - self.cwnd;
        if increase < room {
            self.cwnd += increase;
            0
        } else {
            // Stop at ssthresh; the rest of the ACK counts towards congestion
            // avoidance (as Linux's tcp_slow_start does).
            self.cwnd = self.ssthresh;
            bytes_acked - room
        }
    }

    /// Congestion avoidance by byte counting.
    fn congestion_avoidance(&mut self, bytes_acked: usize) {
        // RFC 5681 §3.1: "The RECOMMENDED way to increase cwnd during congestion
        // avoidance is to count the number of bytes that have been acknowledged by
        // ACKs for new data. ... When the number of bytes acknowledged reaches cwnd,
        // then cwnd can be incremented by up to SMSS bytes. Note that during
        // congestion avoidance, cwnd MUST NOT be increased by more than SMSS bytes
        // per RTT."
        self.ca_acked = self.ca_acked.saturating_add(bytes_acked);
        if self.ca_acked >= self.cwnd {
            // One increase per ACK at most; the remainder stays below the new cwnd
            // so a stretch ACK cannot bank several increases.
            self.ca_acked -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(self.smss);
            self.ca_acked = self.ca_acked.min(self.cwnd.saturating_sub(1));
        }
    }
}

impl CongestionControl for Reno {
    fn on_ack(
        &mut self,
        _now: Instant,
        bytes_acked: usize,
        _rtt: Option<Duration>,
        _in_flight: usize,
    ) {
        if bytes_acked == 0 {
            return;
        }
        // New data was acknowledged: a later RTO concerns another segment.
        self.rto_outstanding = false;
        if self.in_recovery {
            // RFC 5681 §3.2 step 6 sets cwnd when recovery ends; until then the
            // window does not grow (the caller's inflation stands in for it).
            return;
        }
        // RFC 5681 §3.1: "When cwnd and ssthresh are equal, the sender may use
        // either slow start or congestion avoidance." At equality we use
        // congestion avoidance.
        let leftover = if self.cwnd < self.ssthresh {
            self.slow_start(bytes_acked)
        } else {
            bytes_acked
        };
        if leftover > 0 {
            self.congestion_avoidance(leftover);
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, in_flight: usize) {
        if self.in_recovery {
            // One reduction per window of data (RFC 6582 §3.2 step 2 spells this
            // out for NewReno; it holds a fortiori for Reno).
            return;
        }
        // RFC 5681 §3.2 step 2: "When the third duplicate ACK is received, a TCP
        // MUST set ssthresh to no more than the value given in equation (4)."
        self.ssthresh = self.reduced_ssthresh(in_flight);
        // Step 3: "cwnd set to ssthresh plus 3*SMSS". The 3*SMSS inflation is the
        // caller's, so cwnd here is ssthresh.
        self.cwnd = self.ssthresh;
        self.ca_acked = 0;
        self.in_recovery = true;
    }

    fn undo(&mut self, prior_cwnd: usize, prior_ssthresh: usize) {
        self.cwnd = self.cwnd.max(prior_cwnd);
        self.ssthresh = self.ssthresh.max(prior_ssthresh);
        self.ca_acked = 0;
        self.in_recovery = false;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        if !self.in_recovery {
            return;
        }
        // RFC 5681 §3.2 step 6: "When the next ACK arrives that acknowledges
        // previously unacknowledged data, a TCP MUST set cwnd to ssthresh (the value
        // set in step 2). This is termed "deflating" the window."
        self.cwnd = self.ssthresh;
        self.ca_acked = 0;
        self.in_recovery = false;
    }

    fn on_rto(&mut self, _now: Instant, in_flight: usize) {
        // RFC 5681 §3.1: "When a TCP sender detects segment loss using the
        // retransmission timer and the given segment has not yet been resent by
        // way of the retransmission timer, the value of ssthresh MUST be set to no
        // more than the value given in equation (4)". A second timeout with no ACK
        // in between is for the same segment: ssthresh stays (otherwise the tiny
        // FlightSize after the first timeout would collapse it to 2*SMSS).
        if !self.rto_outstanding {
            self.ssthresh = self.reduced_ssthresh(in_flight);
        }
        // "Furthermore, upon a timeout ... cwnd MUST be set to no more than the
        // loss window, LW, which equals 1 full-sized segment (regardless of the
        // value of IW)."
        self.cwnd = self.smss;
        self.ca_acked = 0;
        self.in_recovery = false;
        self.rto_outstanding = true;
    }

    fn on_idle_restart(&mut self, _now: Instant, restart_window: usize) {
        if self.cwnd > restart_window {
            self.ssthresh = self.ssthresh.max(self.cwnd / 4 * 3);
            self.cwnd = restart_window;
            self.ca_acked = 0;
        }
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn set_mss(&mut self, mss: usize) {
        self.smss = mss.max(1);
    }

    fn name(&self) -> &'static str {
        "reno"
    }

    fn restart(&mut self, mss: usize) -> bool {
        *self = Self::new(mss);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMSS: usize = 1000;
    const T: Instant = Instant::ZERO;

    /// One thing that happens to the algorithm.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        /// `n` ACKs of `bytes` each.
        Acks(usize, usize),
        Loss {
            in_flight: usize,
        },
        Exit,
        Rto {
            in_flight: usize,
        },
        Mss(usize),
    }
    use Step::*;

    fn ack(bytes: usize) -> Step {
        Acks(1, bytes)
    }

    /// Reno with SMSS 1000 at the given window and threshold.
    fn at(cwnd: usize, ssthresh: usize) -> Reno {
        let mut r = Reno::new(SMSS);
        r.cwnd = cwnd;
        r.ssthresh = ssthresh;
        r
    }

    fn run(r: &mut Reno, steps: &[Step]) {
        for &step in steps {
            match step {
                Acks(n, bytes) => (0..n).for_each(|_| r.on_ack(T, bytes, None, 0)),
                Loss { in_flight } => r.on_congestion_event(T, in_flight),
                Exit => r.on_recovery_exit(T),
                Rto { in_flight } => r.on_rto(T, in_flight),
                Mss(mss) => r.set_mss(mss),
            }
        }
    }

    #[test]
    fn rules_table() {
        const MAX: usize = usize::MAX;
        // (name, start, steps, cwnd after, ssthresh after)
        let cases: [(&str, Reno, &[Step], usize, usize); 25] = [
            // Initial state.
            (
                "initial window, RFC 6928",
                Reno::new(SMSS),
                &[],
                10_000,
                MAX,
            ),
            ("zero MSS treated as one", Reno::new(0), &[], 10, MAX),
            // Slow start, eq. (2): cwnd += min(N, SMSS).
            (
                "slow start: full segment",
                at(10_000, MAX),
                &[ack(1000)],
                11_000,
                MAX,
            ),
            (
                "slow start: partial segment",
                at(10_000, MAX),
                &[ack(300)],
                10_300,
                MAX,
            ),
            (
                "slow start: delayed ACK capped at SMSS",
                at(10_000, MAX),
                &[ack(2000)],
                11_000,
                MAX,
            ),
            (
                "slow start: stretch ACK capped at SMSS",
                at(10_000, MAX),
                &[ack(50_000)],
                11_000,
                MAX,
            ),
            (
                "slow start: zero bytes acked",
                at(10_000, MAX),
                &[ack(0)],
                10_000,
                MAX,
            ),
            (
                "slow start: doubles per window of ACKs",
                at(10_000, MAX),
                &[Acks(10, 1000)],
                20_000,
                MAX,
            ),
            (
                "slow start: L = 2 takes a delayed ACK",
                at(10_000, MAX).with_abc_limit(2),
                &[ack(2000)],
                12_000,
                MAX,
            ),
            (
                "slow start: L = 2 still caps a stretch ACK",
                at(10_000, MAX).with_abc_limit(2),
                &[ack(9000)],
                12_000,
                MAX,
            ),
            // Crossing ssthresh: stop there, leftover counts in CA (500 < 15 000).
            (
                "slow start stops at ssthresh",
                at(14_500, 15_000),
                &[ack(1000)],
                15_000,
                15_000,
            ),
            // Congestion avoidance, byte counting: + SMSS per cwnd bytes acked.
            (
                "CA: under one window acked",
                at(10_000, 10_000),
                &[Acks(9, 1000)],
                10_000,
                10_000,
            ),
            (
                "CA: one window acked",
                at(10_000, 10_000),
                &[Acks(10, 1000)],
                11_000,
                10_000,
            ),
            (
                "CA: two windows acked",
                at(10_000, 10_000),
                &[Acks(21, 1000)],
                12_000,
                10_000,
            ),
            (
                "CA: stretch ACK gives at most SMSS",
                at(10_000, 10_000),
                &[ack(100_000)],
                11_000,
                10_000,
            ),
            // Loss by duplicate ACKs, eq. (4).
            (
                "loss: half the flight",
                at(20_000, MAX),
                &[Loss { in_flight: 20_000 }],
                10_000,
                10_000,
            ),
            (
                "loss: floor of 2 SMSS",
                at(20_000, MAX),
                &[Loss { in_flight: 3000 }],
                2000,
                2000,
            ),
            (
                "loss: FlightSize, not cwnd",
                at(40_000, MAX),
                &[Loss { in_flight: 10_000 }],
                5000,
                5000,
            ),
            (
                "loss: no growth in recovery",
                at(20_000, MAX),
                &[Loss { in_flight: 20_000 }, Acks(30, 1000)],
                10_000,
                10_000,
            ),
            (
                "loss: one reduction per recovery",
                at(20_000, MAX),
                &[Loss { in_flight: 20_000 }, Loss { in_flight: 10_000 }],
                10_000,
                10_000,
            ),
            (
                "loss: exit deflates to ssthresh, then CA",
                at(20_000, MAX),
                &[Loss { in_flight: 20_000 }, Exit, Acks(10, 1000)],
                11_000,
                10_000,
            ),
            // Retransmission timeout.
            (
                "RTO: loss window of 1 SMSS",
                at(20_000, MAX),
                &[Rto { in_flight: 20_000 }],
                1000,
                10_000,
            ),
            (
                "RTO: repeated timeout keeps ssthresh",
                at(20_000, MAX),
                &[Rto { in_flight: 20_000 }, Rto { in_flight: 1000 }],
                1000,
                10_000,
            ),
            (
                "RTO: after an ACK, a new timeout recomputes",
                at(20_000, MAX),
                &[
                    Rto { in_flight: 20_000 },
                    ack(1000),
                    Rto { in_flight: 6000 },
                ],
                1000,
                3000,
            ),
            (
                "RTO: new MSS is the loss window",
                at(20_000, MAX),
                &[Mss(500), Rto { in_flight: 20_000 }],
                500,
                10_000,
            ),
        ];
        for (name, mut r, steps, cwnd, ssthresh) in cases {
            run(&mut r, steps);
            assert_eq!(r.cwnd(), cwnd, "{name}: cwnd");
            assert_eq!(r.ssthresh(), ssthresh, "{name}: ssthresh");
        }
    }

    #[test]
    fn slow_start_after_rto_returns_to_ssthresh() {
        let mut r = at(20_000, usize::MAX);
        run(&mut r, &[Rto { in_flight: 20_000 }]);
        assert!(r.in_slow_start());
        // 1000 → 2000 → 4000 → 8000 → 10 000 (capped), then CA.
        run(&mut r, &[Acks(9, 1000)]);
        assert_eq!(r.cwnd(), 10_000);
        assert!(!r.in_slow_start());
        run(&mut r, &[Acks(10, 1000)]);
        assert_eq!(r.cwnd(), 11_000);
    }

    #[test]
    fn rto_ends_recovery() {
        let mut r = at(20_000, usize::MAX);
        run(&mut r, &[Loss { in_flight: 20_000 }]);
        assert!(r.in_recovery());
        run(&mut r, &[Rto { in_flight: 20_000 }]);
        assert!(!r.in_recovery());
        // An exit after the RTO must not undo the loss window.
        run(&mut r, &[Exit]);
        assert_eq!(r.cwnd(), SMSS);
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let mut r = Reno::new(usize::MAX);
        run(
            &mut r,
            &[
                Acks(3, usize::MAX),
                Loss {
                    in_flight: usize::MAX,
                },
                Exit,
                Acks(3, usize::MAX),
            ],
        );
        run(
            &mut r,
            &[Rto { in_flight: 0 }, Mss(0), Acks(100, usize::MAX)],
        );
        assert!(r.cwnd() >= 1);
        let mut r = Reno::new(1);
        run(
            &mut r,
            &[Loss { in_flight: 0 }, Exit, Acks(1000, usize::MAX)],
        );
        assert!(r.cwnd() > 2);
    }

    #[test]
    fn trait_object_reports_name_and_state() {
        let mut cc: alloc::boxed::Box<dyn CongestionControl + Send> =
            alloc::boxed::Box::new(Reno::new(SMSS));
        assert_eq!(cc.name(), "reno");
        cc.on_congestion_event(T, 10_000);
        assert_eq!(cc.ssthresh(), 5000);
        assert!(!cc.in_slow_start());
    }
}
