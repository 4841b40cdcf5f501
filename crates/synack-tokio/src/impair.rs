//! An impairment layer between the TUN device and the stack — loss, delay, jitter,
//! reordering, duplication, corruption and a rate-limited queue — because a TUN
//! device has no netem. The knobs are the simulator's ([`LinkConfig`]) with the
//! same semantics, applied with the real clock.
//!
//! Each direction decides a packet's fate when it arrives, like the simulator's
//! link: MTU check, the rate-limited queue (tail drop), loss, corruption,
//! duplication, delay plus jitter (jitter alone never reorders), then with
//! probability `reorder` an extra hold-back so later packets overtake it. Packets
//! waiting out a delay are copied into pooled buffers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use synack::Instant;
use synack_sim::{LinkConfig, LinkStats, Loss};

/// Impairments of the path between the kernel and synack, per direction.
///
/// `inbound` acts on packets from the kernel to synack, `outbound` on packets from
/// synack to the kernel; `None` leaves a direction untouched. Random draws come
/// from `seed`, so a run's drop pattern is repeatable given the same packets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Impairment {
    /// Kernel → synack.
    pub inbound: Option<LinkConfig>,
    /// synack → kernel.
    pub outbound: Option<LinkConfig>,
    /// Seed of the random draws.
    pub seed: u64,
}

impl Impairment {
    /// The same impairment both ways (with the default 1 ms delay of
    /// [`LinkConfig`] unless `config` says otherwise).
    pub fn symmetric(config: LinkConfig, seed: u64) -> Self {
        Self {
            inbound: Some(config.clone()),
            outbound: Some(config),
            seed,
        }
    }

    /// Checks both directions.
    ///
    /// # Errors
    /// The first invalid [`LinkConfig`] field.
    pub fn validate(&self) -> Result<(), synack_sim::ConfigError> {
        for c in self.inbound.iter().chain(&self.outbound) {
            c.validate()?;
        }
        Ok(())
    }
}

/// One direction: the fate of each packet, and the packets waiting to be let out.
pub(crate) struct ImpairDir {
    config: LinkConfig,
    rng: ChaCha8Rng,
    ge_bad: bool,
    last_fifo: Instant,
    busy_until_ns: u64,
    backlog: VecDeque<u64>,
    /// Packets waiting: (release time, arrival order, buffer index).
    waiting: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    bufs: Vec<Vec<u8>>,
    free: Vec<usize>,
    order: u64,
    pub(crate) stats: LinkStats,
}

impl std::fmt::Debug for ImpairDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImpairDir")
            .field("config", &self.config)
            .field("waiting", &self.waiting.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ImpairDir {
    pub(crate) fn new(config: LinkConfig, seed: u64, direction: u8) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8] = direction;
        key[24..].copy_from_slice(b"synk-tun");
        Self {
            config,
            rng: ChaCha8Rng::from_seed(key),
            ge_bad: false,
            last_fifo: Instant::ZERO,
            busy_until_ns: 0,
            backlog: VecDeque::new(),
            waiting: BinaryHeap::new(),
            bufs: Vec::new(),
            free: Vec::new(),
            order: 0,
            stats: LinkStats::default(),
        }
    }

    /// When the next waiting packet is due.
    pub(crate) fn next_release(&self) -> Option<Instant> {
        self.waiting.peek().map(|r| r.0 .0)
    }

    /// Lets out (to `out`) every waiting packet due by `now`, in time order.
    pub(crate) fn release(&mut self, now: Instant, mut out: impl FnMut(&[u8])) {
        while let Some(&Reverse((at, _, i))) = self.waiting.peek() {
            if at > now {
                break;
            }
            self.waiting.pop();
            self.stats.delivered += 1;
            self.stats.delivered_bytes += self.bufs[i].len() as u64;
            out(&self.bufs[i]);
            self.free.push(i);
        }
    }

    /// A packet enters the direction at `now`: dropped, passed to `out` at once
    /// (after anything due before it), or kept until its time.
    pub(crate) fn push(&mut self, now: Instant, packet: &[u8], mut out: impl FnMut(&[u8])) {
        self.release(now, &mut out);
        self.stats.sent += 1;
        self.stats.sent_bytes += packet.len() as u64;
        if packet.len() > self.config.mtu {
            self.stats.too_big += 1;
            return;
        }
        let Some(departs) = self.serialize(now, packet.len()) else {
            self.stats.queue_full += 1;
            return;
        };
        if self.lose() {
            self.stats.lost += 1;
            return;
        }
        let corrupt = self.chance(self.config.corrupt);
        let duplicate = self.chance(self.config.duplicate);
        let mut at = departs + self.config.delay;
        if !self.config.jitter.is_zero() {
            at += Duration::from_micros(self.below(micros(self.config.jitter)));
        }
        at = at.max(self.last_fifo);
        self.last_fifo = at;
        if self.chance(self.config.reorder) {
            let max = micros(self.config.effective_reorder_delay()).max(1);
            at += Duration::from_micros(1 + self.below(max));
            self.stats.reordered += 1;
        }
        if at <= now && !corrupt && self.waiting.is_empty() {
            self.stats.delivered += 1;
            self.stats.delivered_bytes += packet.len() as u64;
            out(packet);
        } else {
            let i = self.keep(at, packet);
            if corrupt {
                self.stats.corrupted += 1;
                self.flip_bits(i);
            }
        }
        if duplicate {
            self.stats.duplicated += 1;
            self.keep(at, packet);
        }
        self.release(now, out);
    }

    fn keep(&mut self, at: Instant, packet: &[u8]) -> usize {
        let i = self.free.pop().unwrap_or_else(|| {
            self.bufs.push(Vec::new());
            self.bufs.len() - 1
        });
        self.bufs[i].clear();
        self.bufs[i].extend_from_slice(packet);
        self.order += 1;
        self.waiting.push(Reverse((at, self.order, i)));
        i
    }

    /// The rate-limited transmitter: when the packet's last bit leaves, or `None`
    /// when the queue is full. Without a rate, at once.
    fn serialize(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(rate) = self.config.rate_bps else {
            return Some(now);
        };
        let now_ns = now.micros().saturating_mul(1000);
        while self.backlog.front().is_some_and(|&f| f <= now_ns) {
            self.backlog.pop_front();
        }
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
            Loss::Bernoulli(p) => self.chance(p),
            Loss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_good,
                loss_bad,
            } => {
                let lost = self.chance(if self.ge_bad { loss_bad } else { loss_good });
                let flip = self.chance(if self.ge_bad {
                    p_bad_to_good
                } else {
                    p_good_to_bad
                });
                self.ge_bad ^= flip;
                lost
            }
        }
    }

    fn flip_bits(&mut self, i: usize) {
        let bits = (self.bufs[i].len() as u64).saturating_mul(8);
        if bits == 0 {
            return;
        }
        for _ in 0..=self.below(3) {
            let bit = self.below(bits);
            // Index < len: bit / 8 < bits / 8 = len.
            self.bufs[i][(bit / 8) as usize] ^= 1 << (bit % 8);
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            ((self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) < p
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.rng.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(d: &mut ImpairDir, now: Instant, n: usize) -> Vec<(u8, Instant)> {
        let mut got = Vec::new();
        for i in 0..n {
            let pkt = [u8::try_from(i).unwrap(); 100];
            d.push(now, &pkt, |p| got.push((p[0], now)));
        }
        got
    }

    #[test]
    fn delay_holds_packets_until_their_time_in_order() {
        let cfg = LinkConfig::default().delay(Duration::from_millis(5));
        let mut d = ImpairDir::new(cfg, 1, 0);
        let t0 = Instant::from_millis(10);
        assert!(run(&mut d, t0, 3).is_empty());
        assert_eq!(d.next_release(), Some(Instant::from_millis(15)));
        let mut got = Vec::new();
        d.release(Instant::from_millis(14), |p| got.push(p[0]));
        assert!(got.is_empty());
        d.release(Instant::from_millis(15), |p| got.push(p[0]));
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(d.next_release(), None);
    }

    #[test]
    fn no_delay_passes_at_once_and_loss_drops_about_its_share() {
        let cfg = LinkConfig::default()
            .delay(Duration::ZERO)
            .loss(Loss::Bernoulli(0.02));
        let mut d = ImpairDir::new(cfg, 7, 0);
        let mut passed = 0;
        for _ in 0..10_000 {
            d.push(Instant::ZERO, &[0u8; 60], |_| passed += 1);
        }
        assert_eq!(passed + d.stats.lost, 10_000);
        assert!((150..250).contains(&d.stats.lost), "{}", d.stats.lost);
    }

    #[test]
    fn duplicates_and_corruption_are_delivered_as_copies() {
        let cfg = LinkConfig::default()
            .delay(Duration::ZERO)
            .duplicate(1.0)
            .corrupt(1.0);
        let mut d = ImpairDir::new(cfg, 3, 0);
        let mut got = Vec::new();
        d.push(Instant::ZERO, &[0u8; 40], |p| got.push(p.to_vec()));
        assert_eq!(got.len(), 2);
        assert_ne!(got[0], vec![0u8; 40], "corrupted copy");
        assert_eq!(got[1], vec![0u8; 40], "clean duplicate");
    }

    #[test]
    fn rate_limit_spaces_packets_and_tail_drops() {
        // 1 Mbit/s: 125 bytes take 1 ms; one in service plus one waiting.
        let cfg = LinkConfig::default()
            .delay(Duration::ZERO)
            .rate(1_000_000, 1);
        let mut d = ImpairDir::new(cfg, 1, 0);
        for _ in 0..3 {
            d.push(Instant::ZERO, &[0u8; 125], |_| {});
        }
        assert_eq!(d.stats.queue_full, 1);
        assert_eq!(d.next_release(), Some(Instant::from_millis(1)));
    }
}
