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
use std::collections::BinaryHeap;

use synack::Instant;
use synack_sim::{Admit, Direction, LinkConfig, LinkDir, LinkStats};

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

/// One direction: the simulator's link model ([`LinkDir`]) decides each packet's
/// fate; this keeps the packets waiting out their delay.
pub(crate) struct ImpairDir {
    model: LinkDir,
    /// Packets waiting: (release time, arrival order, buffer index).
    waiting: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    bufs: Vec<Vec<u8>>,
    free: Vec<usize>,
    order: u64,
}

impl std::fmt::Debug for ImpairDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImpairDir")
            .field("model", &self.model)
            .field("waiting", &self.waiting.len())
            .finish_non_exhaustive()
    }
}

impl ImpairDir {
    /// `direction` 0 is kernel → synack, 1 synack → kernel.
    pub(crate) fn new(config: LinkConfig, seed: u64, direction: u8) -> Self {
        let dir = if direction == 0 {
            Direction::AtoB
        } else {
            Direction::BtoA
        };
        Self {
            model: LinkDir::new(seed, 0, dir, config),
            waiting: BinaryHeap::new(),
            bufs: Vec::new(),
            free: Vec::new(),
            order: 0,
        }
    }

    /// What this direction did.
    pub(crate) fn stats(&self) -> LinkStats {
        self.model.stats
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
            self.model.stats.delivered += 1;
            self.model.stats.delivered_bytes += self.bufs[i].len() as u64;
            out(&self.bufs[i]);
            self.free.push(i);
        }
    }

    /// A packet enters the direction at `now`: dropped, passed to `out` at once
    /// (after anything due before it), or kept until its time.
    pub(crate) fn push(&mut self, now: Instant, packet: &[u8], mut out: impl FnMut(&[u8])) {
        self.release(now, &mut out);
        self.model.stats.sent += 1;
        self.model.stats.sent_bytes += packet.len() as u64;
        let (at, corrupt, duplicate) = match self.model.admit(now, packet.len(), false) {
            Admit::Drop(reason) => {
                self.model.stats.count_drop(reason);
                return;
            }
            Admit::Deliver {
                at,
                corrupt,
                duplicate,
            } => (at, corrupt, duplicate),
        };
        if at <= now && !corrupt && self.waiting.is_empty() {
            self.model.stats.delivered += 1;
            self.model.stats.delivered_bytes += packet.len() as u64;
            out(packet);
        } else {
            let i = self.keep(at, packet);
            if corrupt {
                self.model.stats.corrupted += 1;
                self.model.corrupt(&mut self.bufs[i]);
            }
        }
        if duplicate {
            self.model.stats.duplicated += 1;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use synack_sim::Loss;

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
        assert_eq!(passed + d.stats().lost, 10_000);
        assert!((150..250).contains(&d.stats().lost), "{}", d.stats().lost);
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
        assert_eq!(d.stats().queue_full, 1);
        assert_eq!(d.next_release(), Some(Instant::from_millis(1)));
    }
}
