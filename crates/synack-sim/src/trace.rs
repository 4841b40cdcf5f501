//! The record of every packet and what became of it.

use core::fmt;

use synack::Instant;

use crate::{Direction, HostId, LinkId};

/// Why a packet never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Random loss ([`Loss`](crate::Loss)).
    Loss,
    /// The rate-limited queue was full (tail drop).
    QueueFull,
    /// Larger than the direction's MTU.
    TooBig,
    /// The [filter](crate::Sim::set_filter) said so.
    Filter,
    /// No host owns the destination address, or no link joins the two hosts.
    NoRoute,
    /// Not an IPv4 or IPv6 packet the simulator could route (too short, bad version).
    Malformed,
}

impl DropReason {
    /// Every reason, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Loss,
        Self::QueueFull,
        Self::TooBig,
        Self::Filter,
        Self::NoRoute,
        Self::Malformed,
    ];

    /// A short kebab-case name (`"queue-full"`), stable for logs and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Loss => "loss",
            Self::QueueFull => "queue-full",
            Self::TooBig => "too-big",
            Self::Filter => "filter",
            Self::NoRoute => "no-route",
            Self::Malformed => "malformed",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of a packet. Decided when the packet enters its link.
///
/// When a packet is both corrupted and duplicated, its fate is `Corrupted`; both
/// copies carry the same flipped bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Delivered once, intact.
    Delivered,
    /// Never delivered.
    Dropped(DropReason),
    /// Delivered with 1 to 3 bits flipped.
    Corrupted,
    /// Delivered intact, twice.
    Duplicated,
}

impl Fate {
    /// `"delivered"`, `"dropped"`, `"corrupted"` or `"duplicated"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Dropped(_) => "dropped",
            Self::Corrupted => "corrupted",
            Self::Duplicated => "duplicated",
        }
    }

    /// Whether at least one copy reaches the receiver.
    pub const fn is_delivered(self) -> bool {
        !matches!(self, Self::Dropped(_))
    }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dropped(reason) => write!(f, "dropped ({reason})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Where on a link a packet travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hop {
    /// The link.
    pub link: LinkId,
    /// Its direction.
    pub direction: Direction,
    /// Position of the packet among all packets that entered this direction,
    /// starting at 0 (so "the 3rd packet" has index 2).
    pub index: u64,
}

/// One packet a host sent, with its fate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketRecord {
    /// When the packet entered the link (the time the sender emitted it).
    pub t: Instant,
    /// When (the first copy of) it reaches the receiver; `None` if dropped.
    pub deliver_at: Option<Instant>,
    /// The sending host.
    pub from: HostId,
    /// The host owning the destination address, if any.
    pub to: Option<HostId>,
    /// The link direction it entered; `None` for [`DropReason::NoRoute`] and
    /// [`DropReason::Malformed`], which never reach a link.
    pub hop: Option<Hop>,
    /// The bytes as they entered the link: what the sender emitted, after any
    /// rewrite by the filter, before corruption.
    pub bytes: Vec<u8>,
    /// What became of it.
    pub fate: Fate,
}

/// Simulator-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Events processed (deliveries plus timeouts).
    pub steps: u64,
    /// Packets handed to endpoints (duplicates count twice).
    pub deliveries: u64,
    /// `handle_timeout` calls.
    pub timeouts: u64,
    /// Packets emitted by hosts, routable or not.
    pub transmitted: u64,
    /// Packets with no host for their destination or no link to it.
    pub no_route: u64,
    /// Packets the simulator could not read an IP destination from.
    pub malformed: u64,
}
