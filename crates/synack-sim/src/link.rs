//! One direction of a link: its configuration, random stream, queue and counters,
//! and the decision of what becomes of each packet entering it.

use std::collections::VecDeque;

use synack::Instant;

use crate::config::{LinkConfig, Loss};
use crate::rng::LinkRng;
use crate::trace::DropReason;
use crate::Direction;

/// Counters of one link direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets that entered the direction.
    pub sent: u64,
    /// Bytes that entered the direction.
    pub sent_bytes: u64,
    /// Packets handed to the receiver so far (a duplicate counts twice).
    pub delivered: u64,
    /// Bytes handed to the receiver so far.
    pub delivered_bytes: u64,
    /// Dropped by random loss.
    pub lost: u64,
    /// Dropped because the queue was full.
    pub queue_full: u64,
    /// Dropped for exceeding the MTU.
    pub too_big: u64,
    /// Dropped by the filter.
    pub filtered: u64,
    /// Packets delivered twice.
    pub duplicated: u64,
    /// Packets delivered with flipped bits.
    pub corrupted: u64,
    /// Packets held back so that later ones could pass them.
    pub reordered: u64,
}

impl LinkStats {
    /// Packets dropped for `reason` on this direction (always 0 for
    /// [`DropReason::NoRoute`] and [`DropReason::Malformed`], which are counted in
    /// [`SimStats`](crate::SimStats)).
    pub const fn dropped_by(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Loss => self.lost,
            DropReason::QueueFull => self.queue_full,
            DropReason::TooBig => self.too_big,
            DropReason::Filter => self.filtered,
            DropReason::NoRoute | DropReason::Malformed => 0,
        }
    }

    /// All drops on this direction.
    pub const fn dropped(&self) -> u64 {
        self.lost + self.queue_full + self.too_big + self.filtered
    }

    /// Counts a drop under its reason.
    pub fn count_drop(&mut self, reason: DropReason) {
        match reason {
            DropReason::Loss => self.lost += 1,
            DropReason::QueueFull => self.queue_full += 1,
            DropReason::TooBig => self.too_big += 1,
            DropReason::Filter => self.filtered += 1,
            DropReason::NoRoute | DropReason::Malformed => {}
        }
    }
}

/// What the link decided for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Dropped, and why.
    Drop(DropReason),
    /// Delivered at `at`; `corrupt`: flip bits first ([`LinkDir::corrupt`]);
    /// `duplicate`: deliver a second copy at the same time.
    Deliver {
        at: Instant,
        corrupt: bool,
        duplicate: bool,
    },
}

/// One direction of a link: the seeded model that decides each packet's fate
/// (MTU, rate-limited tail-drop queue, loss, corruption, duplication, delay,
/// jitter, reordering). The simulator runs one per direction in virtual time;
/// synack-tokio's impairment layer runs the same model with the real clock.
#[derive(Debug)]
pub struct LinkDir {
    pub(crate) config: LinkConfig,
    rng: LinkRng,
    /// Gilbert–Elliott: currently in the bad state.
    ge_bad: bool,
    /// Latest delivery time of a packet that was not held back; later packets
    /// are never delivered before it (jitter does not reorder).
    last_fifo: Instant,
    /// When the transmitter finishes the last accepted packet, in nanoseconds.
    busy_until_ns: u64,
    /// Serialization finish times (ns) of accepted packets not yet finished at the
    /// last arrival: the one being serialized and those waiting behind it.
    backlog: VecDeque<u64>,
    pub(crate) next_index: u64,
    /// What this direction did; drops are counted by the caller
    /// ([`LinkStats::count_drop`]), reordering by [`LinkDir::admit`].
    pub stats: LinkStats,
}

impl LinkDir {
    /// A direction whose random draws come from (`seed`, `link`, `direction`).
    pub fn new(seed: u64, link: usize, direction: Direction, config: LinkConfig) -> Self {
        Self {
            config,
            rng: LinkRng::new(seed, link, direction),
            ge_bad: false,
            last_fifo: Instant::ZERO,
            busy_until_ns: 0,
            backlog: VecDeque::new(),
            next_index: 0,
            stats: LinkStats::default(),
        }
    }

    /// Decides the fate of a `len`-byte packet entering at `now`. `healed` turns
    /// off loss, corruption, duplication, jitter and reordering.
    pub fn admit(&mut self, now: Instant, len: usize, healed: bool) -> Admit {
        if len > self.config.mtu {
            return Admit::Drop(DropReason::TooBig);
        }
        let Some(departs) = self.serialize(now, len) else {
            return Admit::Drop(DropReason::QueueFull);
        };
        if !healed && self.lose() {
            return Admit::Drop(DropReason::Loss);
        }
        let corrupt = !healed && self.rng.chance(self.config.corrupt);
        let duplicate = !healed && self.rng.chance(self.config.duplicate);

        let mut at = departs + self.config.delay;
        if !healed && !self.config.jitter.is_zero() {
            let jitter = u64::try_from(self.config.jitter.as_micros()).unwrap_or(u64::MAX);
            at = Instant::from_micros(at.micros().saturating_add(self.rng.below(jitter)));
        }
        // Jitter alone must not reorder: never before the previous packet.
        at = at.max(self.last_fifo);
        self.last_fifo = at;
        if !healed && self.rng.chance(self.config.reorder) {
            let max = self.config.effective_reorder_delay();
            let max = u64::try_from(max.as_micros()).unwrap_or(u64::MAX).max(1);
            let hold = 1 + self.rng.below(max);
            at = Instant::from_micros(at.micros().saturating_add(hold));
            self.stats.reordered += 1;
        }
        Admit::Deliver {
            at,
            corrupt,
            duplicate,
        }
    }

    /// Puts the packet through the rate-limited transmitter: returns when its last
    /// bit leaves, or `None` if the queue is full. Without a rate, it leaves now.
    fn serialize(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(rate) = self.config.rate_bps else {
            return Some(now);
        };
        let now_ns = now.micros().saturating_mul(1000);
        while self.backlog.front().is_some_and(|&finish| finish <= now_ns) {
            self.backlog.pop_front();
        }
        // The front of the backlog is being serialized; the rest wait.
        if self.backlog.len() > self.config.queue_packets {
            return None;
        }
        let bits = (len as u128) * 8 * 1_000_000_000;
        let tx_ns = u64::try_from(bits.div_ceil(u128::from(rate))).unwrap_or(u64::MAX);
        let finish = self.busy_until_ns.max(now_ns).saturating_add(tx_ns);
        self.busy_until_ns = finish;
        self.backlog.push_back(finish);
        Some(Instant::from_micros(finish.div_ceil(1000)))
    }

    fn lose(&mut self) -> bool {
        match self.config.loss {
            Loss::None => false,
            Loss::Bernoulli(p) => self.rng.chance(p),
            Loss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_good,
                loss_bad,
            } => {
                let lost = self
                    .rng
                    .chance(if self.ge_bad { loss_bad } else { loss_good });
                let flip = self.rng.chance(if self.ge_bad {
                    p_bad_to_good
                } else {
                    p_good_to_bad
                });
                self.ge_bad ^= flip;
                lost
            }
        }
    }

    /// Flips 1 to 3 distinct random bits of `bytes`, choosing only flip sets the
    /// Internet checksum detects: two flips in the same bit column of the 16-bit
    /// words, in opposite directions, cancel in a ones'-complement sum, and such a
    /// corruption would be a silent one no checksum-based protocol can catch.
    pub fn corrupt(&mut self, bytes: &mut [u8]) {
        let bits = (bytes.len() as u64).saturating_mul(8);
        if bits == 0 {
            return;
        }
        let count = (1 + self.rng.below(3)).min(bits) as usize;
        let mut flipped = [0u64; 3];
        loop {
            let mut n = 0;
            while n < count {
                let bit = self.rng.below(bits);
                if !flipped[..n].contains(&bit) {
                    flipped[n] = bit;
                    n += 1;
                }
            }
            if checksum_delta(bytes, &flipped[..count]) % 0xffff != 0 {
                break;
            }
        }
        for &bit in &flipped[..count] {
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
    }
}

/// The change flipping `bits` makes to the ones'-complement sum of `bytes` taken
/// as big-endian 16-bit words, modulo 0xffff (as a non-negative residue).
fn checksum_delta(bytes: &[u8], bits: &[u64]) -> i64 {
    let mut delta: i64 = 0;
    for &bit in bits {
        let byte = (bit / 8) as usize;
        let shift = (bit % 8) + if byte.is_multiple_of(2) { 8 } else { 0 };
        let weight = 1i64 << shift;
        // 0 → 1 adds the weight, 1 → 0 subtracts it.
        if bytes[byte] & (1 << (bit % 8)) == 0 {
            delta += weight;
        } else {
            delta -= weight;
        }
    }
    delta.rem_euclid(0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn dir(config: LinkConfig) -> LinkDir {
        LinkDir::new(1, 0, Direction::AtoB, config)
    }

    #[test]
    fn plain_delay() {
        let mut d = dir(LinkConfig::default().delay(Duration::from_millis(7)));
        let at = d.admit(Instant::from_millis(3), 100, false);
        assert_eq!(
            at,
            Admit::Deliver {
                at: Instant::from_millis(10),
                corrupt: false,
                duplicate: false
            }
        );
    }

    #[test]
    fn mtu_is_inclusive() {
        let mut d = dir(LinkConfig::default().mtu(100));
        assert!(matches!(
            d.admit(Instant::ZERO, 100, false),
            Admit::Deliver { .. }
        ));
        assert_eq!(
            d.admit(Instant::ZERO, 101, false),
            Admit::Drop(DropReason::TooBig)
        );
    }

    #[test]
    fn queue_holds_one_in_service_plus_queue_packets() {
        // 1 Mbit/s: 125 bytes take exactly 1 ms.
        let mut d = dir(LinkConfig::default()
            .delay(Duration::ZERO)
            .rate(1_000_000, 2));
        let t0 = Instant::ZERO;
        let got: Vec<_> = (0..4).map(|_| d.admit(t0, 125, false)).collect();
        let at = |ms| Admit::Deliver {
            at: Instant::from_millis(ms),
            corrupt: false,
            duplicate: false,
        };
        assert_eq!(
            got,
            [at(1), at(2), at(3), Admit::Drop(DropReason::QueueFull)]
        );
        // At 1 ms the first has left: room for one more, behind the other two.
        assert_eq!(d.admit(Instant::from_millis(1), 125, false), at(4));
        assert_eq!(
            d.admit(Instant::from_millis(1), 125, false),
            Admit::Drop(DropReason::QueueFull)
        );
        // Idle link: a packet goes straight out.
        assert_eq!(d.admit(Instant::from_millis(10), 125, false), at(11));
    }

    #[test]
    fn sub_microsecond_serialization_does_not_drift() {
        // 1 Gbit/s, 100 bytes = 800 ns each: 1000 packets take exactly 800 µs.
        let mut d = dir(LinkConfig::default()
            .delay(Duration::ZERO)
            .rate(1_000_000_000, 10_000));
        let mut last = Instant::ZERO;
        for _ in 0..1000 {
            if let Admit::Deliver { at, .. } = d.admit(Instant::ZERO, 100, false) {
                last = at;
            }
        }
        assert_eq!(last, Instant::from_micros(800));
    }

    #[test]
    fn corrupt_flips_one_to_three_bits() {
        let mut d = dir(LinkConfig::default());
        for _ in 0..1000 {
            let mut bytes = [0u8; 40];
            d.corrupt(&mut bytes);
            let ones: u32 = bytes.iter().map(|b| b.count_ones()).sum();
            assert!((1..=3).contains(&ones), "{ones}");
        }
        let mut one = [0u8; 1];
        d.corrupt(&mut one);
        assert_ne!(one, [0]);
        d.corrupt(&mut []);
    }

    #[test]
    fn healed_link_is_perfect_but_keeps_delay() {
        let cfg = LinkConfig::default()
            .loss(Loss::Bernoulli(1.0))
            .corrupt(1.0)
            .duplicate(1.0)
            .reorder(1.0)
            .jitter(Duration::from_millis(5));
        let mut d = dir(cfg);
        assert_eq!(
            d.admit(Instant::ZERO, 100, false),
            Admit::Drop(DropReason::Loss)
        );
        assert_eq!(
            d.admit(Instant::ZERO, 100, true),
            Admit::Deliver {
                at: Instant::from_millis(1),
                corrupt: false,
                duplicate: false
            }
        );
    }
}

#[cfg(test)]
mod checksum_tests {
    use super::checksum_delta;

    #[test]
    fn cancelling_flip_pairs_are_recognised() {
        // Bit 0 of bytes 1 and 3 (same column of two words): 0→1 and 1→0 cancel.
        let bytes = [0x00, 0x00, 0x00, 0x01];
        assert_eq!(checksum_delta(&bytes, &[8, 24]), 0);
        // Same direction: +1 +1 does not cancel.
        let bytes = [0x00, 0x00, 0x00, 0x00];
        assert_eq!(checksum_delta(&bytes, &[8, 24]), 2);
        // A single flip never cancels.
        for bit in 0..32 {
            assert_ne!(checksum_delta(&[0u8; 4], &[bit]), 0, "bit {bit}");
        }
    }
}
