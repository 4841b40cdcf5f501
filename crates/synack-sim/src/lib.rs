//! synack-sim: a deterministic, impairable network simulator.
//!
//! A [`Sim`] joins hosts (anything implementing [`Endpoint`], later a synack
//! `Stack`) with point-to-point [`links`](Sim::connect). Each direction of a link
//! has its own [`LinkConfig`]: one-way delay, jitter, reordering, loss (i.i.d. or
//! bursty Gilbert–Elliott), duplication, corruption, MTU, and a rate limit with a
//! bounded tail-drop FIFO so congestion is real.
//!
//! # Virtual time
//!
//! Nothing sleeps. The clock jumps straight to the next event: either the
//! delivery of a packet in flight or the earliest [`Endpoint::poll_timeout`].
//! Events at the same instant are processed deliveries first (in the order the
//! packets entered their links), then timeouts (in host order). A run of a
//! gigabyte costs CPU time, not wall time.
//!
//! # Determinism
//!
//! Every random decision comes from a ChaCha8 stream derived from
//! `(seed, link index, direction)`, so the same seed and the same endpoint
//! behaviour give a byte-identical [`trace`](Sim::trace), and adding a link does
//! not perturb the others. Every [`SimError`] names its `seed=N` so a failing run
//! can be replayed.
//!
//! # Example
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Duration;
//! use synack::Instant;
//! use synack_sim::{Endpoint, LinkConfig, Sim};
//!
//! /// Sends one pre-built packet at start-up and counts what it receives.
//! #[derive(Debug, Default)]
//! struct Once { out: Option<Vec<u8>>, got: usize }
//!
//! impl Endpoint for Once {
//!     fn handle_packet(&mut self, _now: Instant, _packet: &[u8]) { self.got += 1; }
//!     fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
//!         let p = self.out.take()?;
//!         buf[..p.len()].copy_from_slice(&p);
//!         Some(p.len())
//!     }
//!     fn poll_timeout(&mut self) -> Option<Instant> { None }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//! }
//!
//! // A minimal IPv4 header from 10.0.0.1 to 10.0.0.2 (the simulator only reads
//! // the version and the destination).
//! let mut pkt = vec![0u8; 20];
//! pkt[0] = 0x45;
//! pkt[12..16].copy_from_slice(&[10, 0, 0, 1]);
//! pkt[16..20].copy_from_slice(&[10, 0, 0, 2]);
//!
//! let mut sim = Sim::new(1);
//! let a = sim.add_host("a", Once { out: Some(pkt), got: 0 }, &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))]);
//! let b = sim.add_host("b", Once::default(), &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))]);
//! let cfg = LinkConfig::default().delay(Duration::from_millis(5));
//! sim.connect(a, b, cfg.clone(), cfg);
//! sim.run_until_idle(100).unwrap();
//! assert_eq!(sim.host(b).got, 1);
//! assert_eq!(sim.now(), Instant::from_millis(5));
//! ```

mod config;
mod error;
mod filter;
pub mod harness;
mod ip;
mod link;
mod pcap;
mod rng;
mod sim;
pub mod swarm;
mod trace;

use core::fmt;

pub use config::{ConfigError, LinkConfig, Loss};
pub use error::SimError;
pub use filter::{Filter, FilterAction, FilterCtx};
pub use link::{Admit, LinkDir, LinkStats};
pub use pcap::{PcapWriter, TimestampResolution, LINKTYPE_RAW, PCAP_SNAPLEN};
pub use sim::Sim;
pub use synack::Instant;
pub use trace::{DropReason, Fate, Hop, PacketRecord, SimStats};

/// A source and sink of IP packets driven by the simulator's virtual clock.
///
/// The synack `Stack` implements this; tests use small hand-written endpoints.
///
/// # Calling contract
///
/// - The simulator calls [`handle_packet`](Self::handle_packet) once per packet
///   delivered to this host and [`handle_timeout`](Self::handle_timeout) when the
///   clock reaches the time last returned by [`poll_timeout`](Self::poll_timeout)
///   (or later, never earlier; a time in the past is honoured at the current time).
/// - After either call, and after the caller touched the host through
///   [`Sim::host_mut`], the simulator drains
///   [`poll_transmit`](Self::poll_transmit) until it returns `None`.
/// - `poll_timeout` is asked afresh before every step, so it may change freely.
/// - `now` never goes backwards.
pub trait Endpoint {
    /// Deliver one IP packet.
    fn handle_packet(&mut self, now: Instant, packet: &[u8]);
    /// Deliver one IP packet (all of `packet`) in a buffer the endpoint may
    /// keep; returns the buffer unless it kept it. By default, as
    /// [`handle_packet`](Self::handle_packet), keeping nothing.
    fn handle_packet_buf(&mut self, now: Instant, packet: Vec<u8>) -> Option<Vec<u8>> {
        self.handle_packet(now, &packet);
        Some(packet)
    }
    /// A buffer handed to [`handle_packet_buf`](Self::handle_packet_buf) and
    /// kept, which the endpoint is done with (the simulator asks after each
    /// call into the host and reuses it). By default none.
    fn reclaim_buffer(&mut self) -> Option<Vec<u8>> {
        None
    }
    /// Produce the next outgoing IP packet into `buf`, returning its length, or
    /// `None` when there is nothing to send. `buf` is at least 65,536 bytes long.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// Earliest time [`handle_timeout`](Self::handle_timeout) must be called, or
    /// `None` when no timer is armed.
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// The time returned by [`poll_timeout`](Self::poll_timeout) has come.
    fn handle_timeout(&mut self, now: Instant);
}

impl<E: Endpoint + ?Sized> Endpoint for Box<E> {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        (**self).handle_packet(now, packet);
    }
    fn handle_packet_buf(&mut self, now: Instant, packet: Vec<u8>) -> Option<Vec<u8>> {
        (**self).handle_packet_buf(now, packet)
    }
    fn reclaim_buffer(&mut self) -> Option<Vec<u8>> {
        (**self).reclaim_buffer()
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        (**self).poll_transmit(now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        (**self).poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now);
    }
}

/// A synack stack is an endpoint as it is: the simulator is one more world for
/// its sans-IO calling contract.
impl Endpoint for synack::Stack {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        Self::handle_packet(self, now, packet);
    }
    /// [`synack::Stack::handle_packet_owned`]: a payload the stack keeps is
    /// read in place (the simulator hands every packet over this way).
    fn handle_packet_buf(&mut self, now: Instant, packet: Vec<u8>) -> Option<Vec<u8>> {
        let len = packet.len();
        self.handle_packet_owned(now, packet, len)
    }
    fn reclaim_buffer(&mut self) -> Option<Vec<u8>> {
        Self::reclaim_buffer(self)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Self::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Self::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Self::handle_timeout(self, now);
    }
}

/// A host of a [`Sim`], in the order [`Sim::add_host`] created them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub(crate) usize);

impl HostId {
    /// Position of the host in creation order, starting at 0.
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host{}", self.0)
    }
}

/// A link of a [`Sim`], in the order [`Sim::connect`] created them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub(crate) usize);

impl LinkId {
    /// Position of the link in creation order, starting at 0.
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link{}", self.0)
    }
}

/// One direction of a link created by [`Sim::connect`]`(a, b, ..)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From the link's first host `a` to its second host `b`.
    AtoB,
    /// From `b` back to `a`.
    BtoA,
}

impl Direction {
    /// Both directions, `AtoB` first.
    pub const BOTH: [Self; 2] = [Self::AtoB, Self::BtoA];

    /// 0 for `AtoB`, 1 for `BtoA`.
    pub const fn index(self) -> usize {
        match self {
            Self::AtoB => 0,
            Self::BtoA => 1,
        }
    }

    /// The other direction.
    #[must_use]
    pub const fn reverse(self) -> Self {
        match self {
            Self::AtoB => Self::BtoA,
            Self::BtoA => Self::AtoB,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AtoB => "a->b",
            Self::BtoA => "b->a",
        })
    }
}
