//! Per-direction link configuration and its validation.

use core::fmt;
use core::time::Duration;
use std::net::IpAddr;

use synack::Instant;

use crate::{HostId, LinkId};

/// How a link direction loses packets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Loss {
    /// No random loss.
    #[default]
    None,
    /// Each packet is lost independently with probability `p`.
    Bernoulli(f64),
    /// Bursty loss: a two-state Markov chain (Gilbert–Elliott). For each packet the
    /// link loses it with the probability of its current state, then moves to the
    /// other state with the given transition probability. The mean time spent in
    /// the bad state is `1 / p_bad_to_good` packets.
    GilbertElliott {
        /// Probability of moving from the good to the bad state after a packet.
        p_good_to_bad: f64,
        /// Probability of moving from the bad to the good state after a packet.
        p_bad_to_good: f64,
        /// Loss probability in the good state (usually 0).
        loss_good: f64,
        /// Loss probability in the bad state (usually 1).
        loss_bad: f64,
    },
}

impl Loss {
    /// The simple Gilbert model: no loss in the good state, every packet lost in
    /// the bad state, so bursts last `1 / p_bad_to_good` packets on average.
    pub const fn gilbert(p_good_to_bad: f64, p_bad_to_good: f64) -> Self {
        Self::GilbertElliott {
            p_good_to_bad,
            p_bad_to_good,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }

    /// The long-run fraction of packets lost.
    pub fn mean_rate(&self) -> f64 {
        match *self {
            Self::None => 0.0,
            Self::Bernoulli(p) => p,
            Self::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_good,
                loss_bad,
            } => {
                let sum = p_good_to_bad + p_bad_to_good;
                if sum == 0.0 {
                    // Never leaves the good state it starts in.
                    return loss_good;
                }
                let bad = p_good_to_bad / sum;
                (1.0 - bad) * loss_good + bad * loss_bad
            }
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Self::None => Ok(()),
            Self::Bernoulli(p) => check_probability("loss", p),
            Self::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_good,
                loss_bad,
            } => {
                check_probability("loss.p_good_to_bad", p_good_to_bad)?;
                check_probability("loss.p_bad_to_good", p_bad_to_good)?;
                check_probability("loss.loss_good", loss_good)?;
                check_probability("loss.loss_bad", loss_bad)
            }
        }
    }
}

/// The behaviour of one direction of a link.
///
/// Fields are public; the same-named methods are a builder:
///
/// ```
/// use std::time::Duration;
/// use synack_sim::{LinkConfig, Loss};
///
/// let cfg = LinkConfig::default()
///     .delay(Duration::from_millis(20))
///     .jitter(Duration::from_millis(2))
///     .loss(Loss::Bernoulli(0.01))
///     .rate(10_000_000, 64);
/// assert!(cfg.validate().is_ok());
/// ```
///
/// What happens to a packet entering the direction, in order: the
/// [filter](crate::Sim::set_filter); the MTU check; the rate-limited queue
/// (tail drop when full); loss; corruption; duplication; delay plus jitter
/// (never reordering by itself); and finally, with probability `reorder`, an
/// extra hold-back so later packets overtake it. After [`heal_at`](Self::heal_at)
/// loss, duplication, corruption, reordering and jitter are off (delay, rate,
/// queue and MTU stay: they are the network, not a fault).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay. Default 1 ms.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter)` per packet. Jitter alone
    /// never reorders: a packet is never delivered before the one sent ahead of it.
    /// Default 0.
    pub jitter: Duration,
    /// Probability that a packet is held back so that later packets pass it.
    /// Default 0.
    pub reorder: f64,
    /// Largest extra hold-back of a reordered packet; the actual hold-back is
    /// uniform in `1 µs ..= reorder_delay`. `None` (the default) means
    /// `max(2 × delay, 1 ms)`.
    pub reorder_delay: Option<Duration>,
    /// Random loss. Default none.
    pub loss: Loss,
    /// Probability that a packet is delivered twice. Default 0.
    pub duplicate: f64,
    /// Probability that 1 to 3 distinct random bits of a packet are flipped.
    /// Default 0.
    pub corrupt: f64,
    /// Largest packet, in bytes, the direction carries; larger ones are dropped
    /// as [`DropReason::TooBig`](crate::DropReason::TooBig). Default 1500
    /// (Ethernet); at least 68 (RFC 791's minimum).
    pub mtu: usize,
    /// Bottleneck rate in bits per second; `None` (the default) is unlimited,
    /// with no queue. A packet takes `len × 8 / rate` seconds to serialize and
    /// waits while the link is busy.
    pub rate_bps: Option<u64>,
    /// Packets that may wait behind the one being serialized when `rate_bps` is
    /// set; a packet arriving to a full queue is dropped
    /// ([`DropReason::QueueFull`](crate::DropReason::QueueFull)). Default 1000
    /// (Linux's `txqueuelen`).
    pub queue_packets: usize,
    /// From this time on, impairments are off (liveness mode). Default `None`.
    pub heal_at: Option<Instant>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_delay: None,
            loss: Loss::None,
            duplicate: 0.0,
            corrupt: 0.0,
            mtu: 1500,
            rate_bps: None,
            queue_packets: 1000,
            heal_at: None,
        }
    }
}

impl LinkConfig {
    /// Smallest MTU accepted (RFC 791: every host must handle 68 bytes).
    pub const MIN_MTU: usize = 68;

    /// Sets [`delay`](Self::delay).
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets [`jitter`](Self::jitter).
    #[must_use]
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`reorder`](Self::reorder).
    #[must_use]
    pub fn reorder(mut self, p: f64) -> Self {
        self.reorder = p;
        self
    }

    /// Sets [`reorder_delay`](Self::reorder_delay).
    #[must_use]
    pub fn reorder_delay(mut self, max_hold_back: Duration) -> Self {
        self.reorder_delay = Some(max_hold_back);
        self
    }

    /// Sets [`loss`](Self::loss).
    #[must_use]
    pub fn loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// Sets [`duplicate`](Self::duplicate).
    #[must_use]
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Sets [`corrupt`](Self::corrupt).
    #[must_use]
    pub fn corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Sets [`mtu`](Self::mtu).
    #[must_use]
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Sets [`rate_bps`](Self::rate_bps) and [`queue_packets`](Self::queue_packets).
    #[must_use]
    pub fn rate(mut self, rate_bps: u64, queue_packets: usize) -> Self {
        self.rate_bps = Some(rate_bps);
        self.queue_packets = queue_packets;
        self
    }

    /// Sets [`heal_at`](Self::heal_at).
    #[must_use]
    pub fn heal_at(mut self, t: Instant) -> Self {
        self.heal_at = Some(t);
        self
    }

    /// The hold-back bound actually used for reordering.
    pub fn effective_reorder_delay(&self) -> Duration {
        self.reorder_delay
            .unwrap_or_else(|| (self.delay * 2).max(Duration::from_millis(1)))
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// A probability outside `[0, 1]` (or NaN), an MTU below [`Self::MIN_MTU`], a
    /// zero rate or a zero reorder delay.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_probability("reorder", self.reorder)?;
        check_probability("duplicate", self.duplicate)?;
        check_probability("corrupt", self.corrupt)?;
        self.loss.validate()?;
        if self.mtu < Self::MIN_MTU {
            return Err(ConfigError::MtuTooSmall(self.mtu));
        }
        if self.rate_bps == Some(0) {
            return Err(ConfigError::ZeroRate);
        }
        if self.reorder_delay == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroReorderDelay);
        }
        Ok(())
    }
}

fn check_probability(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Probability { field, value })
    }
}

/// A simulator set-up mistake: a bad link configuration or topology.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigError {
    /// A probability outside `[0, 1]` or not a number.
    Probability {
        /// Which field (`"loss"`, `"duplicate"`, `"loss.p_bad_to_good"`, ...).
        field: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// An MTU below [`LinkConfig::MIN_MTU`].
    MtuTooSmall(usize),
    /// `rate_bps` of zero (use `None` for unlimited).
    ZeroRate,
    /// `reorder_delay` of zero.
    ZeroReorderDelay,
    /// The address already belongs to a host.
    AddressInUse(IpAddr),
    /// No such host in this simulator.
    UnknownHost(HostId),
    /// No such link in this simulator.
    UnknownLink(LinkId),
    /// A link from a host to itself.
    SelfLink(HostId),
    /// There already is a route from the first host to the second.
    AlreadyConnected(HostId, HostId),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Probability { field, value } => {
                write!(f, "{field} must be a probability in [0, 1], got {value}")
            }
            Self::MtuTooSmall(mtu) => {
                write!(
                    f,
                    "mtu must be at least {} bytes, got {mtu}",
                    LinkConfig::MIN_MTU
                )
            }
            Self::ZeroRate => f.write_str("rate must be positive (leave it unset for unlimited)"),
            Self::ZeroReorderDelay => f.write_str("reorder delay must be positive"),
            Self::AddressInUse(addr) => write!(f, "address {addr} already belongs to a host"),
            Self::UnknownHost(h) => write!(f, "no such host: {h}"),
            Self::UnknownLink(l) => write!(f, "no such link: {l}"),
            Self::SelfLink(h) => write!(f, "cannot link {h} to itself"),
            Self::AlreadyConnected(a, b) => write!(f, "there already is a route from {a} to {b}"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_perfect() {
        let cfg = LinkConfig::default();
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(cfg.delay, Duration::from_millis(1));
        assert_eq!(cfg.loss.mean_rate(), 0.0);
        assert_eq!(cfg.effective_reorder_delay(), Duration::from_millis(2));
    }

    #[test]
    fn rejects_bad_values() {
        let bad = [
            (LinkConfig::default().reorder(1.5), "reorder"),
            (LinkConfig::default().duplicate(-0.1), "duplicate"),
            (LinkConfig::default().corrupt(f64::NAN), "corrupt"),
            (LinkConfig::default().loss(Loss::Bernoulli(2.0)), "loss"),
            (
                LinkConfig::default().loss(Loss::gilbert(0.1, 1.1)),
                "loss.p_bad_to_good",
            ),
        ];
        for (cfg, field) in bad {
            match cfg.validate() {
                Err(ConfigError::Probability { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert_eq!(
            LinkConfig::default().mtu(67).validate(),
            Err(ConfigError::MtuTooSmall(67))
        );
        assert_eq!(
            LinkConfig::default().rate(0, 1).validate(),
            Err(ConfigError::ZeroRate)
        );
        assert_eq!(
            LinkConfig::default()
                .reorder_delay(Duration::ZERO)
                .validate(),
            Err(ConfigError::ZeroReorderDelay)
        );
    }

    #[test]
    fn error_messages_name_the_field() {
        let e = LinkConfig::default()
            .loss(Loss::Bernoulli(3.0))
            .validate()
            .unwrap_err();
        assert_eq!(e.to_string(), "loss must be a probability in [0, 1], got 3");
    }

    #[test]
    fn gilbert_mean_rate() {
        let l = Loss::gilbert(0.01, 0.25);
        assert!((l.mean_rate() - 0.01 / 0.26).abs() < 1e-12);
        let stuck = Loss::GilbertElliott {
            p_good_to_bad: 0.0,
            p_bad_to_good: 0.0,
            loss_good: 0.2,
            loss_bad: 1.0,
        };
        assert_eq!(stuck.mean_rate(), 0.2);
    }
}
