//! The simulator: hosts, links, the event queue and the virtual clock.

mod engine;

use core::cmp::Ordering;
use core::fmt;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, Write};
use std::net::IpAddr;

use synack::Instant;

use crate::config::{ConfigError, LinkConfig};
use crate::filter::Filter;
use crate::link::{LinkDir, LinkStats};
use crate::pcap::{PcapWriter, TimestampResolution};
use crate::trace::{PacketRecord, SimStats};
use crate::{Direction, Endpoint, HostId, LinkId};
use engine::TX_BUF_LEN;

/// Most spare packet buffers kept for reuse.
const POOL_MAX: usize = 4096;
/// Default for [`Sim::set_stall_limit`].
const DEFAULT_STALL_LIMIT: u64 = 10_000_000;

struct Host<E> {
    name: String,
    endpoint: E,
    addrs: Vec<IpAddr>,
    /// `poll_transmit` must be drained before the next event.
    dirty: bool,
}

#[derive(Debug)]
struct Link {
    a: HostId,
    b: HostId,
    dirs: [LinkDir; 2],
}

/// A packet in flight. Ordered so that the max-heap pops the earliest delivery,
/// ties broken by the order packets were put on the wire.
struct Event {
    at: Instant,
    seq: u64,
    to: HostId,
    link: LinkId,
    direction: Direction,
    bytes: Vec<u8>,
}

impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Event {}

/// The next thing to happen.
#[derive(Clone, Copy)]
enum Next {
    Delivery,
    Timeout(usize),
}

/// A deterministic network of [`Endpoint`]s in virtual time.
///
/// Build it with [`add_host`](Self::add_host) and [`connect`](Self::connect), then
/// drive it with [`step`](Self::step) or the `run_*` methods. Between steps the
/// caller may act on a host through [`host_mut`](Self::host_mut); whatever it then
/// wants to send goes out before the next event. See the [crate docs](crate) for
/// the ordering and determinism rules.
pub struct Sim<E: Endpoint> {
    seed: u64,
    now: Instant,
    hosts: Vec<Host<E>>,
    addrs: BTreeMap<IpAddr, HostId>,
    routes: BTreeMap<(HostId, HostId), (LinkId, Direction)>,
    links: Vec<Link>,
    in_flight: BinaryHeap<Event>,
    next_seq: u64,
    filter: Option<Filter>,
    record: bool,
    trace: Vec<PacketRecord>,
    heal_at: Option<Instant>,
    stats: SimStats,
    tx_buf: Vec<u8>,
    pool: Vec<Vec<u8>>,
    stall_limit: u64,
    stall_at: Instant,
    stall_steps: u64,
}

impl<E: Endpoint> fmt::Debug for Sim<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field(
                "hosts",
                &self.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .field("links", &self.links)
            .field("in_flight", &self.in_flight.len())
            .field("filter", &self.filter.is_some())
            .field("record", &self.record)
            .field("trace_len", &self.trace.len())
            .field("heal_at", &self.heal_at)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<E: Endpoint> Sim<E> {
    /// An empty network at [`Instant::ZERO`]. `seed` keys every random decision.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            now: Instant::ZERO,
            hosts: Vec::new(),
            addrs: BTreeMap::new(),
            routes: BTreeMap::new(),
            links: Vec::new(),
            in_flight: BinaryHeap::new(),
            next_seq: 0,
            filter: None,
            record: true,
            trace: Vec::new(),
            heal_at: None,
            stats: SimStats::default(),
            tx_buf: vec![0; TX_BUF_LEN],
            pool: Vec::new(),
            stall_limit: DEFAULT_STALL_LIMIT,
            stall_at: Instant::ZERO,
            stall_steps: 0,
        }
    }

    /// The seed this simulator was built with.
    pub const fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual time.
    pub const fn now(&self) -> Instant {
        self.now
    }

    // ----- topology -----

    /// Adds a host owning `addrs`; packets to those addresses are delivered to it.
    ///
    /// # Panics
    ///
    /// If an address already belongs to another host; see
    /// [`try_add_host`](Self::try_add_host).
    pub fn add_host(&mut self, name: &str, endpoint: E, addrs: &[IpAddr]) -> HostId {
        match self.try_add_host(name, endpoint, addrs) {
            Ok(id) => id,
            Err(e) => panic!("add_host({name:?}): {e}"),
        }
    }

    /// Adds a host owning `addrs`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::AddressInUse`] if an address already belongs to a host.
    pub fn try_add_host(
        &mut self,
        name: &str,
        endpoint: E,
        addrs: &[IpAddr],
    ) -> Result<HostId, ConfigError> {
        let id = HostId(self.hosts.len());
        for (i, addr) in addrs.iter().enumerate() {
            if self.addrs.contains_key(addr) || addrs[..i].contains(addr) {
                return Err(ConfigError::AddressInUse(*addr));
            }
        }
        for addr in addrs {
            self.addrs.insert(*addr, id);
        }
        self.hosts.push(Host {
            name: name.to_owned(),
            endpoint,
            addrs: addrs.to_vec(),
            dirty: true,
        });
        Ok(id)
    }

    /// Joins hosts `a` and `b` with a link: `ab` configures the direction from `a`
    /// to `b` ([`Direction::AtoB`]), `ba` the way back.
    ///
    /// # Panics
    ///
    /// If a configuration is invalid or the hosts cannot be joined; see
    /// [`try_connect`](Self::try_connect).
    pub fn connect(&mut self, a: HostId, b: HostId, ab: LinkConfig, ba: LinkConfig) -> LinkId {
        match self.try_connect(a, b, ab, ba) {
            Ok(id) => id,
            Err(e) => panic!("connect({a}, {b}): {e}"),
        }
    }

    /// Joins hosts `a` and `b` with a link.
    ///
    /// # Errors
    ///
    /// An invalid configuration ([`LinkConfig::validate`]), an unknown host, `a ==
    /// b`, or a route between the two that already exists.
    pub fn try_connect(
        &mut self,
        a: HostId,
        b: HostId,
        ab: LinkConfig,
        ba: LinkConfig,
    ) -> Result<LinkId, ConfigError> {
        ab.validate()?;
        ba.validate()?;
        self.check_route_free(a, b)?;
        self.check_route_free(b, a)?;
        let id = LinkId(self.links.len());
        let dirs = [
            LinkDir::new(self.seed, id.0, Direction::AtoB, ab),
            LinkDir::new(self.seed, id.0, Direction::BtoA, ba),
        ];
        self.links.push(Link { a, b, dirs });
        self.routes.insert((a, b), (id, Direction::AtoB));
        self.routes.insert((b, a), (id, Direction::BtoA));
        Ok(id)
    }

    /// Routes packets from `from` to `to` through `direction` of an existing
    /// `link`, sharing its rate, queue and impairments with the traffic already
    /// on it: the way several hosts share one bottleneck.
    ///
    /// # Errors
    ///
    /// An unknown host or link, `from == to`, or an existing route.
    pub fn add_route(
        &mut self,
        from: HostId,
        to: HostId,
        link: LinkId,
        direction: Direction,
    ) -> Result<(), ConfigError> {
        self.check_route_free(from, to)?;
        if link.0 >= self.links.len() {
            return Err(ConfigError::UnknownLink(link));
        }
        self.routes.insert((from, to), (link, direction));
        Ok(())
    }

    fn check_route_free(&self, from: HostId, to: HostId) -> Result<(), ConfigError> {
        for h in [from, to] {
            if h.0 >= self.hosts.len() {
                return Err(ConfigError::UnknownHost(h));
            }
        }
        if from == to {
            return Err(ConfigError::SelfLink(from));
        }
        if self.routes.contains_key(&(from, to)) {
            return Err(ConfigError::AlreadyConnected(from, to));
        }
        Ok(())
    }

    /// Replaces the configuration of one direction of a link from now on; its
    /// random stream, queue and counters carry on.
    ///
    /// # Errors
    ///
    /// An invalid configuration or an unknown link.
    pub fn set_link_config(
        &mut self,
        link: LinkId,
        direction: Direction,
        config: LinkConfig,
    ) -> Result<(), ConfigError> {
        config.validate()?;
        let l = self
            .links
            .get_mut(link.0)
            .ok_or(ConfigError::UnknownLink(link))?;
        l.dirs[direction.index()].config = config;
        Ok(())
    }

    /// The configuration of one direction of a link.
    ///
    /// # Panics
    ///
    /// If `link` is not a link of this simulator.
    pub fn link_config(&self, link: LinkId, direction: Direction) -> &LinkConfig {
        &self.links[link.0].dirs[direction.index()].config
    }

    /// The counters of one direction of a link.
    ///
    /// # Panics
    ///
    /// If `link` is not a link of this simulator.
    pub fn link_stats(&self, link: LinkId, direction: Direction) -> &LinkStats {
        &self.links[link.0].dirs[direction.index()].stats
    }

    /// The two hosts `(a, b)` a link was created between.
    ///
    /// # Panics
    ///
    /// If `link` is not a link of this simulator.
    pub fn link_hosts(&self, link: LinkId) -> (HostId, HostId) {
        let l = &self.links[link.0];
        (l.a, l.b)
    }

    /// The link direction packets from `from` to `to` take, if any.
    pub fn route(&self, from: HostId, to: HostId) -> Option<(LinkId, Direction)> {
        self.routes.get(&(from, to)).copied()
    }

    /// Every link, in creation order.
    pub fn link_ids(&self) -> impl Iterator<Item = LinkId> {
        (0..self.links.len()).map(LinkId)
    }

    /// Every host, in creation order.
    pub fn host_ids(&self) -> impl Iterator<Item = HostId> {
        (0..self.hosts.len()).map(HostId)
    }

    /// The host owning `addr`.
    pub fn host_by_addr(&self, addr: IpAddr) -> Option<HostId> {
        self.addrs.get(&addr).copied()
    }

    /// The endpoint of a host.
    ///
    /// # Panics
    ///
    /// If `id` is not a host of this simulator.
    pub fn host(&self, id: HostId) -> &E {
        &self.hosts[id.0].endpoint
    }

    /// The endpoint of a host, to act on it (e.g. an application call). Its
    /// `poll_transmit` is drained, at the current time, before the next event.
    ///
    /// # Panics
    ///
    /// If `id` is not a host of this simulator.
    pub fn host_mut(&mut self, id: HostId) -> &mut E {
        let host = &mut self.hosts[id.0];
        host.dirty = true;
        &mut host.endpoint
    }

    /// The name a host was added with.
    ///
    /// # Panics
    ///
    /// If `id` is not a host of this simulator.
    pub fn host_name(&self, id: HostId) -> &str {
        &self.hosts[id.0].name
    }

    /// The addresses a host was added with.
    ///
    /// # Panics
    ///
    /// If `id` is not a host of this simulator.
    pub fn host_addrs(&self, id: HostId) -> &[IpAddr] {
        &self.hosts[id.0].addrs
    }

    // ----- impairment control -----

    /// Installs the filter run on every packet entering a link (replacing any
    /// previous one).
    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = Some(filter);
    }

    /// Removes the filter.
    pub fn clear_filter(&mut self) {
        self.filter = None;
    }

    /// From `t` on, every link (present and future) is healed: loss, duplication,
    /// corruption, reordering and jitter are off. A link's own
    /// [`LinkConfig::heal_at`] still applies if earlier.
    pub fn heal_at(&mut self, t: Instant) {
        self.heal_at = Some(t);
    }

    /// Sets how many consecutive steps may happen at one instant before a `run_*`
    /// call fails with [`SimError::Stalled`](crate::SimError::Stalled). Default
    /// 10,000,000.
    pub fn set_stall_limit(&mut self, steps: u64) {
        self.stall_limit = steps;
    }

    // ----- trace -----

    /// Turns the per-packet trace on (the default) or off; counters are kept
    /// either way.
    pub fn set_record(&mut self, record: bool) {
        self.record = record;
    }

    /// Every packet recorded so far, in the order they were sent.
    pub fn trace(&self) -> &[PacketRecord] {
        &self.trace
    }

    /// Takes the trace, leaving it empty.
    pub fn take_trace(&mut self) -> Vec<PacketRecord> {
        std::mem::take(&mut self.trace)
    }

    /// Simulator-wide counters.
    pub const fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Packets (copies) in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Writes every recorded packet that entered a link to a pcap file with
    /// nanosecond timestamps. Each is written once, as it entered the link, at the
    /// time it entered: what a capture at the sender would see, whatever its fate
    /// (corrupted packets appear with their original bytes; packets without a
    /// route, which never reached a link, are left out).
    ///
    /// # Errors
    ///
    /// Whatever writing to `out` returns.
    pub fn write_pcap<W: Write>(&self, out: W) -> io::Result<()> {
        self.write_pcap_with(out, TimestampResolution::Nanos)
    }

    /// [`write_pcap`](Self::write_pcap) with a chosen timestamp resolution.
    ///
    /// # Errors
    ///
    /// Whatever writing to `out` returns.
    pub fn write_pcap_with<W: Write>(
        &self,
        out: W,
        resolution: TimestampResolution,
    ) -> io::Result<()> {
        let mut w = PcapWriter::with_resolution(out, resolution)?;
        for r in self.trace.iter().filter(|r| r.hop.is_some()) {
            w.write_packet(r.t, &r.bytes)?;
        }
        w.flush()
    }
}

fn recycle(pool: &mut Vec<Vec<u8>>, buf: Vec<u8>) {
    if pool.len() < POOL_MAX {
        pool.push(buf);
    }
}
