//! Congestion control: the [`CongestionControl`] trait and one file per algorithm.
//!
//! RFC 5681 §3: "The slow start and congestion avoidance algorithms MUST be used
//! by a TCP sender to control the amount of outstanding data being injected into
//! the network." An algorithm owns `cwnd` and `ssthresh`; the connection owns
//! everything else (FlightSize, duplicate-ACK counting, SACK scoreboard, the
//! retransmission timer) and tells the algorithm what happened through the trait.
//!
//! | algorithm | file | reference |
//! |---|---|---|
//! | [`Reno`] | `reno.rs` | RFC 5681 |
//! | [`NewReno`] | `mod.rs` (Reno's arithmetic; the partial-ACK rule is the connection's) | RFC 6582 |
//! | [`Cubic`] | `cubic.rs` | RFC 9438 |
//! | [`Bbr`] | `bbr.rs` | draft-cardwell-iccrg-bbr-congestion-control-00 (BBR v1) |
//!
//! and two mechanisms the algorithms and the connection share:
//!
//! | mechanism | file | reference |
//! |---|---|---|
//! | [`HyStart`] (HyStart++, leaving slow start on rising delay) | `hystart.rs` | RFC 9406 |
//! | [`Prr`] (Proportional Rate Reduction, sending during recovery) | `prr.rs` | RFC 6937, RFC 9937 |

use alloc::boxed::Box;
use core::fmt;
use core::time::Duration;

use crate::time::Instant;

pub mod bbr;
pub mod cubic;
pub mod hystart;
pub mod prr;
pub mod reno;

pub use bbr::{Bbr, BbrState};
pub use cubic::Cubic;
pub use hystart::{HyStart, HyStartPhase};
pub use prr::{Prr, ReductionBound};
pub use reno::Reno;

/// One delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation §3.3),
/// taken per ACK that delivered something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSample {
    /// The interval is at least min_rtt: the rate measures the path. Shorter
    /// samples still count deliveries and round trips.
    pub measured: bool,
    /// Bytes delivered over `interval`.
    pub delivered: u64,
    /// max(send_elapsed, ack_elapsed) — the longer of the two, so that ACK
    /// compression does not inflate the rate.
    pub interval: Duration,
    /// The sender was application-limited when the newest delivered segment was sent:
    /// the rate is a lower bound, not a measurement of the path.
    pub app_limited: bool,
    /// RTT of the newest delivered segment, unless it was retransmitted (Karn:
    /// an ACK of a retransmitted segment may be for the original, and an RTT of
    /// a few microseconds would pin a min-RTT filter for its whole window).
    pub rtt: Option<Duration>,
    /// `C.delivered` when that segment was sent (marks round trips).
    pub prior_delivered: u64,
    /// `C.delivered` now.
    pub total_delivered: u64,
}

impl RateSample {
    /// The delivery rate in bytes per second, if the sample is `measured`.
    pub fn rate(&self) -> Option<u64> {
        if !self.measured {
            return None;
        }
        let us = u64::try_from(self.interval.as_micros()).ok()?;
        if us == 0 {
            return None;
        }
        u64::try_from(u128::from(self.delivered) * 1_000_000 / u128::from(us)).ok()
    }
}

/// A congestion-control algorithm: the keeper of `cwnd` and `ssthresh`.
///
/// All sizes are in bytes. "FlightSize" is RFC 5681 §2's "amount of data that has
/// been sent but not yet cumulatively acknowledged".
///
/// # Calling contract
///
/// - [`on_ack`](Self::on_ack) for every ACK that advances `snd.una` (not for
///   duplicate ACKs) outside recovery, while the window is validated (RFC 7661:
///   FlightSize before the ACK at least half of cwnd; a sender that is not
///   using its window does not grow it).
/// - [`on_rate_sample`](Self::on_rate_sample) for every ACK that delivered
///   data, in or out of recovery.
/// - [`on_congestion_event`](Self::on_congestion_event) when loss is detected by
///   duplicate ACKs or SACK, entering recovery; later events before
///   [`on_recovery_exit`](Self::on_recovery_exit) are ignored (one reduction per
///   window of data). The caller must not signal losses from data sent before the
///   last RTO (RFC 6582's "recover" point guards against that).
/// - [`on_recovery_exit`](Self::on_recovery_exit) when the ACK ending recovery
///   arrives, *after* calling `on_ack` for that ACK.
/// - [`on_rto`](Self::on_rto) when the retransmission timer fires.
///
/// The connection may send while FlightSize < [`cwnd`](Self::cwnd) (and the peer's
/// window allows). Window inflation during Reno fast recovery (RFC 5681 §3.2 steps
/// 3 and 4: "cwnd set to ssthresh plus 3*SMSS", then "+ SMSS" per further duplicate
/// ACK) is the caller's: it adds the inflation to `cwnd()` while in recovery and
/// drops it at exit.
pub trait CongestionControl: fmt::Debug {
    /// An ACK advanced `snd.una` by `bytes_acked` bytes.
    ///
    /// `rtt` is the RTT sample this ACK gave, if any (Karn's algorithm applied by
    /// the caller); `in_flight` is FlightSize after this ACK.
    fn on_ack(&mut self, now: Instant, bytes_acked: usize, rtt: Option<Duration>, in_flight: usize);

    /// Loss was detected by duplicate ACKs or SACK: reduce the window and enter
    /// recovery. `in_flight` is FlightSize at detection.
    fn on_congestion_event(&mut self, now: Instant, in_flight: usize);

    /// Recovery ended: the ACK covering all data outstanding at the congestion
    /// event arrived.
    fn on_recovery_exit(&mut self, now: Instant);

    /// The retransmission timer expired. `in_flight` is FlightSize when it fired.
    fn on_rto(&mut self, now: Instant, in_flight: usize);

    /// The sender is about to send after an idle period longer than the RTO
    /// with nothing in flight: its cwnd no longer reflects the path. RFC 5681
    /// §4.1: "TCP SHOULD set cwnd to no more than RW before beginning
    /// transmission", RW = min(IW, cwnd). As Linux (`tcp_cwnd_restart`), ssthresh
    /// first keeps ¾ of the old cwnd so slow start climbs back quickly. The
    /// default (model-based algorithms) keeps the window.
    fn on_idle_restart(&mut self, now: Instant, restart_window: usize) {
        let _ = (now, restart_window);
    }

    /// The congestion window, in bytes.
    fn cwnd(&self) -> usize;

    /// The slow-start threshold, in bytes (`usize::MAX` until the first loss).
    fn ssthresh(&self) -> usize;

    /// Whether the algorithm is in slow start.
    ///
    /// RFC 5681 §3.1: "The slow start algorithm is used when cwnd < ssthresh, while
    /// the congestion avoidance algorithm is used when cwnd > ssthresh."
    fn in_slow_start(&self) -> bool {
        self.cwnd() < self.ssthresh()
    }

    /// The sender's maximum segment size (SMSS) changed, e.g. after path-MTU
    /// discovery. Zero is treated as one.
    fn set_mss(&mut self, mss: usize);

    /// The algorithm's name, lower case (`"reno"`).
    fn name(&self) -> &'static str;

    /// Starts over as a fresh instance for a new connection whose SMSS is `mss`,
    /// in the allocation it already has (the stack reuses the boxes of closed
    /// connections). Returns false if the algorithm cannot, and the caller builds
    /// a new one; the built-in algorithms can.
    fn restart(&mut self, mss: usize) -> bool {
        let _ = mss;
        false
    }

    /// The last reduction was spurious (the "losses" were reordering): restore the
    /// window from before it and leave recovery (RFC 4015 Eifel response; Linux
    /// `tcp_undo_cwnd_reduction`). The default keeps the reduction.
    fn undo(&mut self, prior_cwnd: usize, prior_ssthresh: usize) {
        let _ = (prior_cwnd, prior_ssthresh);
    }

    /// Every ACK that delivered data (cumulatively or by SACK), after
    /// [`on_ack`](Self::on_ack) or [`on_congestion_event`](Self::on_congestion_event):
    /// the delivery-rate sample (when there is one), the bytes this ACK newly
    /// delivered, and the RFC 6675 pipe after it. Model-based algorithms (BBR) do
    /// their work here; the default ignores it.
    fn on_rate_sample(
        &mut self,
        now: Instant,
        rs: Option<&RateSample>,
        newly_delivered: usize,
        pipe: usize,
    ) {
        let _ = (now, rs, newly_delivered, pipe);
    }

    /// The algorithm's own pacing rate in bytes per second, if it has one; `None`
    /// lets the connection use the default (`cwnd / srtt`, see `tcp::pacing`).
    fn pacing_rate(&self) -> Option<u64> {
        None
    }

    /// Whether the connection should send during SACK recovery under PRR
    /// (RFC 6937). Algorithms that set `cwnd` themselves during recovery (BBR's
    /// packet conservation) say no, and recovery sends while pipe < cwnd.
    fn uses_prr(&self) -> bool {
        true
    }
}

/// The initial congestion window for a sender maximum segment size of `mss`.
///
/// RFC 6928 §2: "IW = min (10*MSS, max (2*MSS, 14600))". Zero is treated as one.
pub const fn initial_window(mss: usize) -> usize {
    let mss = if mss == 0 { 1 } else { mss };
    let ten = mss.saturating_mul(10);
    let two = mss.saturating_mul(2);
    let floor = if two > 14_600 { two } else { 14_600 };
    if ten < floor {
        ten
    } else {
        floor
    }
}

/// NewReno, RFC 6582: Reno's window arithmetic under its own name.
///
/// RFC 6582 changes what happens *during* fast recovery: a partial ACK ("an ACK
/// that acknowledges some but not all of the packets that were outstanding at the
/// start of the fast recovery procedure", §3.2 step 5) retransmits the next hole
/// and stays in recovery, and recovery ends at the "recover" point. All of that is
/// the connection's (see the calling contract of [`CongestionControl`]); the
/// `cwnd` and `ssthresh` rules are Reno's, so this wraps a [`Reno`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReno(Reno);

impl NewReno {
    /// NewReno for a sender whose SMSS is `mss`; see [`Reno::new`].
    pub fn new(mss: usize) -> Self {
        Self(Reno::new(mss))
    }

    /// The Reno arithmetic inside.
    pub fn reno(&self) -> &Reno {
        &self.0
    }
}

impl From<Reno> for NewReno {
    fn from(reno: Reno) -> Self {
        Self(reno)
    }
}

impl CongestionControl for NewReno {
    fn on_ack(
        &mut self,
        now: Instant,
        bytes_acked: usize,
        rtt: Option<Duration>,
        in_flight: usize,
    ) {
        self.0.on_ack(now, bytes_acked, rtt, in_flight);
    }

    fn on_congestion_event(&mut self, now: Instant, in_flight: usize) {
        self.0.on_congestion_event(now, in_flight);
    }

    fn on_recovery_exit(&mut self, now: Instant) {
        self.0.on_recovery_exit(now);
    }

    fn on_rto(&mut self, now: Instant, in_flight: usize) {
        self.0.on_rto(now, in_flight);
    }

    fn cwnd(&self) -> usize {
        self.0.cwnd()
    }

    fn ssthresh(&self) -> usize {
        self.0.ssthresh()
    }

    fn in_slow_start(&self) -> bool {
        self.0.in_slow_start()
    }

    fn set_mss(&mut self, mss: usize) {
        self.0.set_mss(mss);
    }

    fn name(&self) -> &'static str {
        "newreno"
    }

    fn restart(&mut self, mss: usize) -> bool {
        *self = Self::new(mss);
        true
    }

    fn undo(&mut self, prior_cwnd: usize, prior_ssthresh: usize) {
        self.0.undo(prior_cwnd, prior_ssthresh);
    }
}

/// Where a connection's congestion control is, as `info()` reports it (Linux's
/// `tcpi_ca_state`, with Open split into its two phases).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Phase {
    /// RFC 5681 §3.1: cwnd < ssthresh (BBR: STARTUP).
    #[default]
    SlowStart,
    /// RFC 5681 §3.1: cwnd ≥ ssthresh.
    Avoidance,
    /// Fast recovery / SACK loss recovery (RFC 6675, 6582).
    Recovery,
    /// After a retransmission timeout, until an ACK makes progress.
    Rto,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Self; 4] = [Self::SlowStart, Self::Avoidance, Self::Recovery, Self::Rto];

    /// A short name: `slow-start`, `avoidance`, `recovery`, `rto`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::SlowStart => "slow-start",
            Self::Avoidance => "avoidance",
            Self::Recovery => "recovery",
            Self::Rto => "rto",
        }
    }
}

/// A connection's congestion controller: CUBIC, the default, in place in the
/// TCB (no allocation of its own, and no separate cache lines to visit on
/// every send and ACK); any other algorithm behind a box. Dereferences to the
/// algorithm.
pub(crate) enum Cc {
    Cubic(Cubic),
    Boxed(Box<dyn CongestionControl + Send>),
}

impl Cc {
    /// A fresh instance of `alg` for a connection whose SMSS is `mss`.
    pub(crate) fn new(alg: Algorithm, mss: usize) -> Self {
        match alg {
            Algorithm::Cubic => Self::Cubic(Cubic::new(mss)),
            a => Self::Boxed(a.build(mss)),
        }
    }

    /// Makes this a fresh instance of `alg` for SMSS `mss`, as [`Cc::new`]
    /// does, in place (or in the box it has) when it already holds `alg`.
    pub(crate) fn rebuild(&mut self, alg: Algorithm, mss: usize) {
        match (self, alg) {
            (Self::Cubic(c), Algorithm::Cubic) => *c = Cubic::new(mss),
            (Self::Boxed(b), a) if a != Algorithm::Cubic => a.rebuild(b, mss),
            (this, a) => *this = Self::new(a, mss),
        }
    }
}

/// The calls made on every ACK, dispatched by hand: for the inline CUBIC a
/// direct call the compiler can inline (`cwnd` is a field read, and the rate
/// sample, which CUBIC does not use, compiles away with the arguments worked
/// out for it), where a call through the `Deref` below goes by the trait
/// object's table. Inherent methods: `cc.cwnd()` finds them before the
/// trait's.
impl Cc {
    /// [`CongestionControl::cwnd`].
    #[inline]
    pub(crate) fn cwnd(&self) -> usize {
        match self {
            Self::Cubic(c) => c.cwnd(),
            Self::Boxed(b) => b.cwnd(),
        }
    }

    /// [`CongestionControl::on_rate_sample`].
    #[inline]
    pub(crate) fn on_rate_sample(
        &mut self,
        now: Instant,
        rs: Option<&RateSample>,
        newly_delivered: usize,
        pipe: usize,
    ) {
        match self {
            Self::Cubic(c) => c.on_rate_sample(now, rs, newly_delivered, pipe),
            Self::Boxed(b) => b.on_rate_sample(now, rs, newly_delivered, pipe),
        }
    }
}

impl core::ops::Deref for Cc {
    type Target = dyn CongestionControl + Send;

    #[inline]
    fn deref(&self) -> &Self::Target {
        match self {
            Self::Cubic(c) => c,
            Self::Boxed(b) => &**b,
        }
    }
}

impl core::ops::DerefMut for Cc {
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Self::Cubic(c) => c,
            Self::Boxed(b) => &mut **b,
        }
    }
}

impl fmt::Debug for Cc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// A choice of congestion-control algorithm, for configuration.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RFC 5681 slow start and congestion avoidance ([`Reno`]).
    #[default]
    Reno,
    /// RFC 6582 NewReno ([`NewReno`]): Reno's arithmetic; the partial-ACK handling
    /// is the connection's.
    NewReno,
    /// RFC 9438 CUBIC with RFC 9406 HyStart++ ([`Cubic`]).
    Cubic,
    /// BBR v1 ([`Bbr`]): a model of the path's bottleneck bandwidth and round-trip
    /// propagation time, paced.
    Bbr,
}

impl Algorithm {
    /// Every algorithm, in the order a user would list them.
    pub const fn all() -> &'static [Self] {
        &[Self::Reno, Self::NewReno, Self::Cubic, Self::Bbr]
    }

    /// A fresh instance for a connection whose SMSS is `mss`.
    pub fn build(self, mss: usize) -> Box<dyn CongestionControl + Send> {
        match self {
            Self::Reno => Box::new(Reno::new(mss)),
            Self::NewReno => Box::new(NewReno::new(mss)),
            Self::Cubic => Box::new(Cubic::new(mss)),
            Self::Bbr => Box::new(Bbr::new(mss)),
        }
    }

    /// Makes `cc` a fresh instance of this algorithm for SMSS `mss`, as
    /// [`Algorithm::build`] does, but in `cc`'s allocation when it already holds
    /// this algorithm.
    pub fn rebuild(self, cc: &mut Box<dyn CongestionControl + Send>, mss: usize) {
        if cc.name() != self.name() || !cc.restart(mss) {
            *cc = self.build(mss);
        }
    }

    /// The algorithm's name, as [`CongestionControl::name`] gives it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Reno => "reno",
            Self::NewReno => "newreno",
            Self::Cubic => "cubic",
            Self::Bbr => "bbr",
        }
    }

    /// The algorithm called `name` (ASCII case-insensitive), if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::all()
            .iter()
            .copied()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_window_table() {
        // (name, MSS, IW)
        let cases = [
            ("RFC 879 default MSS: 10 segments", 536, 5360),
            ("Ethernet MSS: the 14600 cap", 1460, 14_600),
            ("just over 1460: capped", 1500, 14_600),
            ("large MSS: still the cap", 4000, 14_600),
            ("jumbo MSS: two segments", 9000, 18_000),
            ("zero treated as one", 0, 10),
            ("huge MSS saturates", usize::MAX, usize::MAX),
        ];
        for (name, mss, iw) in cases {
            assert_eq!(initial_window(mss), iw, "{name}");
        }
    }

    #[test]
    fn algorithm_names_round_trip() {
        assert_eq!(Algorithm::default(), Algorithm::Reno);
        // (name given, algorithm found)
        let cases = [
            ("reno", Some(Algorithm::Reno)),
            ("RENO", Some(Algorithm::Reno)),
            ("newreno", Some(Algorithm::NewReno)),
            ("NewReno", Some(Algorithm::NewReno)),
            ("cubic", Some(Algorithm::Cubic)),
            ("CUBIC", Some(Algorithm::Cubic)),
            ("bbr", Some(Algorithm::Bbr)),
            ("BBR", Some(Algorithm::Bbr)),
            ("vegas", None),
            ("", None),
            ("new reno", None),
        ];
        for (name, algorithm) in cases {
            assert_eq!(Algorithm::from_name(name), algorithm, "{name:?}");
        }
        for &a in Algorithm::all() {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
            assert_eq!(alloc::format!("{a}"), a.name());
        }
        assert_eq!(Algorithm::all().len(), 4);
    }

    #[test]
    fn build_gives_a_fresh_instance() {
        for &a in Algorithm::all() {
            let cc = a.build(1460);
            assert_eq!(cc.name(), a.name());
            assert_eq!(cc.cwnd(), initial_window(1460), "{a}");
            assert_eq!(cc.ssthresh(), usize::MAX, "{a}");
            assert!(cc.in_slow_start(), "{a}");
        }
    }

    #[test]
    fn rebuild_starts_over_in_place_or_switches() {
        let now = Instant::ZERO;
        for &a in Algorithm::all() {
            for &b in Algorithm::all() {
                let mut cc = a.build(1000);
                cc.on_ack(now, 5000, Some(Duration::from_millis(10)), 0);
                cc.on_congestion_event(now, 10_000);
                let before = &*cc as *const dyn CongestionControl as *const u8;
                b.rebuild(&mut cc, 1460);
                let after = &*cc as *const dyn CongestionControl as *const u8;
                assert_eq!(cc.name(), b.name());
                assert_eq!(cc.cwnd(), initial_window(1460), "{a} -> {b}");
                assert_eq!(cc.ssthresh(), usize::MAX, "{a} -> {b}");
                if a == b && core::mem::size_of_val(&*cc) != 0 {
                    assert_eq!(before, after, "{a}: same allocation");
                }
            }
        }
    }

    #[test]
    fn newreno_is_reno_arithmetic() {
        let now = Instant::ZERO;
        let mut reno = Reno::new(1000);
        let mut newreno = NewReno::new(1000);
        let ccs: [&mut dyn CongestionControl; 2] = [&mut reno, &mut newreno];
        for cc in ccs {
            cc.on_ack(now, 1000, None, 0);
            cc.on_congestion_event(now, 11_000);
            cc.on_ack(now, 1000, None, 0);
            cc.on_recovery_exit(now);
            cc.on_ack(now, 6000, None, 0);
            cc.on_rto(now, 9000);
            cc.undo(12_000, 8000);
            cc.set_mss(500);
        }
        assert_eq!(newreno.reno(), &reno);
        assert_eq!(
            (newreno.cwnd(), newreno.ssthresh()),
            (reno.cwnd(), reno.ssthresh())
        );
        assert_eq!(newreno.in_slow_start(), reno.in_slow_start());
        assert_eq!(NewReno::from(Reno::new(1000)), NewReno::new(1000));
    }
}
