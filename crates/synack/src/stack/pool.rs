//! TCBs of freed connections, parked for the next connection ([`Tcb::park`],
//! [`Tcb::renew`]): connection churn allocates nothing.
//!
//! How many to keep: [`POOL_BASE`] plus the most TCBs live at once in the
//! current or the previous epoch of [`EPOCH`]. A burst of closes at high
//! concurrency is met by a burst of opens, so the pool must hold about as many
//! as were live; but once the load is gone for two epochs the pool shrinks back
//! to the base, so a stack that once held a million connections does not keep a
//! million TCBs forever. The stack asks to be woken ([`TcbPool::deadline`]) while
//! the pool holds more than its next epoch will allow.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::time::Duration;

use crate::tcp::conn::{Tcb, POOLED_RING_KEEP};
use crate::tcp::rack::RackSpares;
use crate::time::Instant;

/// Freed TCBs kept for reuse regardless of load: about 1 KiB each, a quarter
/// of a MiB in all.
pub(super) const POOL_BASE: usize = 256;

/// How long a peak of live connections keeps the pool large.
pub(super) const EPOCH: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(super) struct TcbPool {
    #[allow(clippy::vec_box)]
    boxes: Vec<Box<Tcb>>,
    /// TCBs in slots now.
    live: usize,
    /// The most live at once in this epoch and in the one before.
    peak: usize,
    prev_peak: usize,
    epoch_start: Instant,
    /// RACK states of freed connections (their TCBs park without one), under
    /// the same bound as the TCBs.
    pub(super) racks: RackSpares,
}

impl TcbPool {
    pub(super) fn new() -> Self {
        Self {
            boxes: Vec::new(),
            live: 0,
            peak: 0,
            prev_peak: 0,
            epoch_start: Instant::ZERO,
            racks: RackSpares::default(),
        }
    }

    /// A parked TCB for a new connection, if there is one; counts it live.
    pub(super) fn take(&mut self) -> Option<Box<Tcb>> {
        self.live += 1;
        self.peak = self.peak.max(self.live);
        self.boxes.pop()
    }

    /// A connection's TCB is freed at `now`: parked if the pool has room.
    pub(super) fn put(&mut self, mut tcb: Box<Tcb>, now: Instant) {
        self.live = self.live.saturating_sub(1);
        self.roll(now);
        let cap = self.cap();
        if self.boxes.len() < cap {
            tcb.park(&mut self.racks, cap);
            self.boxes.push(tcb);
        } else {
            self.racks.put(&mut tcb.rack, cap, POOLED_RING_KEEP);
        }
    }

    /// Starts a new epoch if one has passed, dropping what the pool no longer
    /// needs.
    pub(super) fn roll(&mut self, now: Instant) {
        if now.saturating_duration_since(self.epoch_start) < EPOCH {
            return;
        }
        // A whole epoch (or more) with no call counts as quiet.
        let idle = now.saturating_duration_since(self.epoch_start) >= EPOCH * 2;
        self.prev_peak = if idle { self.live } else { self.peak };
        self.peak = self.live;
        self.epoch_start = now;
        self.boxes.truncate(self.cap());
        self.racks.truncate(self.cap());
    }

    /// How many parked TCBs the pool may hold now.
    fn cap(&self) -> usize {
        POOL_BASE + self.peak.max(self.prev_peak)
    }

    /// When the pool wants [`TcbPool::roll`] called: while it holds more TCBs
    /// or RACK states than the base plus what is live, the end of the epoch.
    pub(super) fn deadline(&self) -> Option<Instant> {
        (self.boxes.len().max(self.racks.len()) > POOL_BASE + self.live)
            .then(|| self.epoch_start + EPOCH)
    }

    /// Parked TCBs.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.boxes.len()
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.boxes.is_empty()
    }

    #[cfg(test)]
    pub(super) fn pop(&mut self) -> Option<Box<Tcb>> {
        self.boxes.pop()
    }

    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &Tcb> {
        self.boxes.iter().map(|b| &**b)
    }
}
