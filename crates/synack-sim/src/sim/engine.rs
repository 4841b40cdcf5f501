//! Running the simulation: the event loop, draining hosts, and putting packets
//! on links.

use core::time::Duration;

use synack::Instant;

use super::{recycle, Event, Next, Sim};
use crate::error::SimError;
use crate::filter::{FilterAction, FilterCtx};
use crate::ip;
use crate::link::Admit;
use crate::trace::{DropReason, Fate, Hop, PacketRecord};
use crate::{Direction, Endpoint, HostId, LinkId};

/// Size of the buffer handed to [`Endpoint::poll_transmit`].
pub(super) const TX_BUF_LEN: usize = 65_536;
/// Most `poll_transmit` calls per drain, so an endpoint that never says `None`
/// cannot hang a single step (the stall check catches it across steps).
const MAX_BURST: usize = 1 << 20;

impl<E: Endpoint> Sim<E> {
    // ----- running -----

    /// Puts `packet` on the network as if host `from` had sent it now (for
    /// packet-script tests). It is routed, filtered, impaired and recorded like
    /// any other.
    ///
    /// # Panics
    ///
    /// If `from` is not a host of this simulator.
    pub fn inject(&mut self, from: HostId, packet: &[u8]) {
        assert!(from.0 < self.hosts.len(), "inject: no such host {from}");
        self.transmit(from, packet);
    }

    /// Processes exactly one event (after sending whatever hosts touched through
    /// [`host_mut`](Self::host_mut) want to send). Returns `false`, leaving the
    /// clock alone, when there is nothing left: no packet in flight and no timer.
    pub fn step(&mut self) -> bool {
        self.step_until(Instant::FAR_FUTURE)
    }

    /// The time of the next event, after draining hosts touched through
    /// [`host_mut`](Self::host_mut).
    pub fn next_event_time(&mut self) -> Option<Instant> {
        self.drain_dirty();
        self.next_event().map(|(at, _)| at)
    }

    /// Processes every event up to and including `t`, then sets the clock to `t`
    /// (if it is in the future).
    ///
    /// # Errors
    ///
    /// [`SimError::Stalled`] if time stops advancing.
    pub fn run_until(&mut self, t: Instant) -> Result<(), SimError> {
        while self.step_until(t) {
            self.check_stall()?;
        }
        self.now = self.now.max(t);
        Ok(())
    }

    /// [`run_until`](Self::run_until) `now + d`.
    ///
    /// # Errors
    ///
    /// [`SimError::Stalled`] if time stops advancing.
    pub fn run_for(&mut self, d: Duration) -> Result<(), SimError> {
        self.run_until(self.now + d)
    }

    /// Runs until nothing is left: no packet in flight, no timer armed on any
    /// host, nothing to send. Long timers (TIME-WAIT) count as pending; virtual
    /// time simply jumps to them.
    ///
    /// # Errors
    ///
    /// [`SimError::StepLimit`] after `max_steps` steps with work still pending;
    /// [`SimError::Stalled`] if time stops advancing.
    pub fn run_until_idle(&mut self, max_steps: usize) -> Result<(), SimError> {
        let mut steps = 0;
        loop {
            if steps == max_steps {
                return if self.next_event_time().is_none() {
                    Ok(())
                } else {
                    Err(SimError::StepLimit {
                        seed: self.seed,
                        steps,
                        now: self.now,
                    })
                };
            }
            if !self.step() {
                return Ok(());
            }
            steps += 1;
            self.check_stall()?;
        }
    }

    /// Steps while `cond` holds: the way to run "until the transfer completes"
    /// when endpoints keep timers (keepalive, TIME-WAIT) forever.
    ///
    /// # Errors
    ///
    /// [`SimError::StepLimit`] after `max_steps` steps with `cond` still true;
    /// [`SimError::WentIdle`] if nothing is left to do while `cond` is true;
    /// [`SimError::Stalled`] if time stops advancing.
    pub fn run_while<F: FnMut(&Self) -> bool>(
        &mut self,
        mut cond: F,
        max_steps: usize,
    ) -> Result<(), SimError> {
        let mut steps = 0;
        while cond(self) {
            if steps == max_steps {
                return Err(SimError::StepLimit {
                    seed: self.seed,
                    steps,
                    now: self.now,
                });
            }
            if !self.step() {
                return Err(SimError::WentIdle {
                    seed: self.seed,
                    now: self.now,
                });
            }
            steps += 1;
            self.check_stall()?;
        }
        Ok(())
    }

    fn check_stall(&self) -> Result<(), SimError> {
        if self.stall_steps > self.stall_limit {
            return Err(SimError::Stalled {
                seed: self.seed,
                now: self.now,
                steps: self.stall_steps,
            });
        }
        Ok(())
    }

    /// One event no later than `limit`, if any.
    fn step_until(&mut self, limit: Instant) -> bool {
        self.drain_dirty();
        let Some((at, next)) = self.next_event() else {
            return false;
        };
        if at > limit {
            return false;
        }
        debug_assert!(at >= self.now);
        if at == self.stall_at {
            self.stall_steps += 1;
        } else {
            self.stall_at = at;
            self.stall_steps = 1;
        }
        self.now = at;
        self.stats.steps += 1;
        match next {
            Next::Delivery => self.deliver(),
            Next::Timeout(h) => {
                self.stats.timeouts += 1;
                self.hosts[h].endpoint.handle_timeout(at);
                self.drain(h);
            }
        }
        true
    }

    /// The earliest event: deliveries win ties against timers; among timers, the
    /// lowest host index. A timer in the past fires now.
    fn next_event(&mut self) -> Option<(Instant, Next)> {
        let mut timer: Option<(Instant, usize)> = None;
        for (i, host) in self.hosts.iter_mut().enumerate() {
            if let Some(t) = host.endpoint.poll_timeout() {
                let t = t.max(self.now);
                match timer {
                    Some((best, _)) if best <= t => {}
                    _ => timer = Some((t, i)),
                }
            }
        }
        let packet = self.in_flight.peek().map(|e| e.at);
        match (packet, timer) {
            (Some(p), Some((t, _))) if p <= t => Some((p, Next::Delivery)),
            (_, Some((t, i))) => Some((t, Next::Timeout(i))),
            (Some(p), None) => Some((p, Next::Delivery)),
            (None, None) => None,
        }
    }

    fn deliver(&mut self) {
        let Some(ev) = self.in_flight.pop() else {
            return;
        };
        let stats = &mut self.links[ev.link.0].dirs[ev.direction.index()].stats;
        stats.delivered += 1;
        stats.delivered_bytes += ev.bytes.len() as u64;
        self.stats.deliveries += 1;
        // Owned: an endpoint may keep the packet's buffer (synack reads a
        // payload in place), giving it back later (`drain`).
        if let Some(bytes) = self.hosts[ev.to.0]
            .endpoint
            .handle_packet_buf(self.now, ev.bytes)
        {
            recycle(&mut self.pool, bytes);
        }
        self.drain(ev.to.0);
    }

    fn drain_dirty(&mut self) {
        for h in 0..self.hosts.len() {
            if self.hosts[h].dirty {
                self.drain(h);
            }
        }
    }

    /// Sends everything host `h` has to send.
    fn drain(&mut self, h: usize) {
        while let Some(kept) = self.hosts[h].endpoint.reclaim_buffer() {
            recycle(&mut self.pool, kept);
        }
        let mut buf = std::mem::take(&mut self.tx_buf);
        buf.resize(TX_BUF_LEN, 0);
        self.hosts[h].dirty = true;
        for _ in 0..MAX_BURST {
            let Some(len) = self.hosts[h].endpoint.poll_transmit(self.now, &mut buf) else {
                self.hosts[h].dirty = false;
                break;
            };
            match buf.get(..len) {
                Some(packet) => self.transmit(HostId(h), packet),
                // A length beyond the buffer: an endpoint bug, not a panic here.
                None => {
                    self.stats.transmitted += 1;
                    self.unrouted(HostId(h), None, &buf, DropReason::Malformed);
                }
            }
        }
        self.tx_buf = buf;
    }

    /// Routes one packet from `from` and puts it on its link.
    fn transmit(&mut self, from: HostId, bytes: &[u8]) {
        self.stats.transmitted += 1;
        let Some(dst) = ip::destination(bytes) else {
            return self.unrouted(from, None, bytes, DropReason::Malformed);
        };
        let Some(&to) = self.addrs.get(&dst) else {
            return self.unrouted(from, None, bytes, DropReason::NoRoute);
        };
        let Some(&(link, direction)) = self.routes.get(&(from, to)) else {
            return self.unrouted(from, Some(to), bytes, DropReason::NoRoute);
        };
        self.enter_link(from, to, link, direction, bytes);
    }

    /// Filters, impairs and records a routed packet, and schedules its delivery.
    fn enter_link(
        &mut self,
        from: HostId,
        to: HostId,
        link: LinkId,
        direction: Direction,
        bytes: &[u8],
    ) {
        let now = self.now;
        let dir = &mut self.links[link.0].dirs[direction.index()];
        let index = dir.next_index;
        dir.next_index += 1;
        dir.stats.sent += 1;
        dir.stats.sent_bytes += bytes.len() as u64;
        let hop = Some(Hop {
            link,
            direction,
            index,
        });

        let mut packet = self.pool.pop().unwrap_or_default();
        packet.clear();
        packet.extend_from_slice(bytes);

        let mut admit = None;
        if let Some(filter) = self.filter.as_mut() {
            let ctx = FilterCtx {
                now,
                from,
                to,
                link,
                direction,
                index,
            };
            if filter(&ctx, &mut packet) == FilterAction::Drop {
                admit = Some(Admit::Drop(DropReason::Filter));
            }
        }
        let heal = match (self.heal_at, dir.config.heal_at) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        let healed = heal.is_some_and(|h| now >= h);
        let admit = admit.unwrap_or_else(|| dir.admit(now, packet.len(), healed));

        let (fate, deliver_at) = match admit {
            Admit::Drop(reason) => {
                dir.stats.count_drop(reason);
                (Fate::Dropped(reason), None)
            }
            Admit::Deliver {
                at, corrupt: true, ..
            } => (Fate::Corrupted, Some(at)),
            Admit::Deliver {
                at,
                duplicate: true,
                ..
            } => (Fate::Duplicated, Some(at)),
            Admit::Deliver { at, .. } => (Fate::Delivered, Some(at)),
        };
        if self.record {
            let bytes = packet.clone();
            self.trace.push(PacketRecord {
                t: now,
                deliver_at,
                from,
                to: Some(to),
                hop,
                bytes,
                fate,
            });
        }
        let Admit::Deliver {
            at,
            corrupt,
            duplicate,
        } = admit
        else {
            return recycle(&mut self.pool, packet);
        };
        if corrupt {
            dir.corrupt(&mut packet);
            dir.stats.corrupted += 1;
        }
        let copy = duplicate.then(|| {
            dir.stats.duplicated += 1;
            let mut copy = self.pool.pop().unwrap_or_default();
            copy.clear();
            copy.extend_from_slice(&packet);
            copy
        });
        for bytes in std::iter::once(packet).chain(copy) {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.in_flight.push(Event {
                at,
                seq,
                to,
                link,
                direction,
                bytes,
            });
        }
    }

    /// Counts and records a packet that never reached a link.
    fn unrouted(&mut self, from: HostId, to: Option<HostId>, bytes: &[u8], reason: DropReason) {
        match reason {
            DropReason::Malformed => self.stats.malformed += 1,
            _ => self.stats.no_route += 1,
        }
        if self.record {
            self.trace.push(PacketRecord {
                t: self.now,
                deliver_at: None,
                from,
                to,
                hop: None,
                bytes: bytes.to_vec(),
                fate: Fate::Dropped(reason),
            });
        }
    }
}
