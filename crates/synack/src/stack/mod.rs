//! The stack: every socket of one host, the tables that find them, and the
//! calling contract that connects the sans-IO core to a world.
//!
//! Submodules: `demux` (keyed 4-tuple and listener tables), `listen` (LISTEN and
//! the two queues), `time_wait` (compact TIME-WAIT records), `ports` (ephemeral
//! ports), `icmp` (ICMP errors about our segments), `api` (the application's calls).

mod api;
pub(crate) mod demux;
mod icmp;
mod limits;
mod listen;
mod pool;
mod ports;
pub(crate) mod time_wait;
mod timers;

#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::config::{ConfigError, StackConfig};
use crate::event::{Counters, Event, EventQueue};
use crate::tcp::conn::{ChallengeLimiter, CtrlSegment, Ctx, Tcb};
use crate::tcp::cookie::CookieJar;
use crate::tcp::input::rst_segment;
use crate::tcp::isn::{IsnGenerator, TsOffsetCache};
use crate::tcp::state::{Cause, State};
use crate::time::Instant;
use crate::wire::{self, TcpFlags, TcpHeader};

pub use api::{Shutdown, SocketInfo, TcpInfo};
use demux::{keyed_map, ConnTable, FourTuple, KeyedHasher, KeyedMap, V4Key};
pub use limits::Usage;
use listen::Listener;
use time_wait::{TimeWaitTable, TwDisposition, TwEntry};
use timers::TimerHeap;

/// Most control segments (RST replies) queued before further ones are dropped.
const MAX_CTRL_QUEUE: usize = 4096;

/// Names one socket of a [`Stack`]. Stale handles are detected (a generation count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    index: u32,
    generation: u32,
}

impl SocketHandle {
    /// A number for display.
    pub fn id(self) -> u32 {
        self.index
    }
}

impl fmt::Display for SocketHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index)
    }
}

#[derive(Debug)]
enum Socket {
    /// Boxed, so a slot is as small as a connection needs (listeners are few).
    Listener(Box<Listener>),
    Conn(Box<Tcb>),
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    sock: Option<Socket>,
    /// In the transmit queue.
    queued: bool,
    /// In `Stack::stale_timers`: the deadline in the timer heap may be out of date.
    timer_stale: bool,
    /// In `Stack::ready`: something happened to the connection since
    /// [`Stack::poll_ready`] last returned it.
    ready: bool,
}

impl Slot {
    /// Marks this slot's (`idx`'s) deadline for recomputing (see
    /// `Stack::timers`) unless it is already; whether it was listed in `stale`
    /// now.
    #[inline]
    fn mark_timer_stale(&mut self, stale: &mut Vec<u32>, idx: u32) -> bool {
        if self.timer_stale {
            return false;
        }
        self.timer_stale = true;
        stale.push(idx);
        true
    }

    /// `Stack::touch` for this slot (`idx`), whose connection's pacing rate
    /// the caller marked stale: queued for transmit, listed as ready, its
    /// deadline marked for recomputing; whether it was listed in `stale` now.
    #[inline(always)]
    fn touch(
        &mut self,
        idx: u32,
        tx_queue: &mut VecDeque<u32>,
        ready: &mut Vec<u32>,
        stale: &mut Vec<u32>,
    ) -> bool {
        if !self.queued {
            self.queued = true;
            tx_queue.push_back(idx);
        }
        if !self.ready {
            self.ready = true;
            ready.push(idx);
        }
        self.mark_timer_stale(stale, idx)
    }
}

/// A TCP/IP stack for one host: sockets, connections, listeners and TIME-WAIT.
///
/// # Calling contract
///
/// The stack never reads a clock, never sleeps and never does I/O. Its user:
/// - hands in every received IP packet with [`Stack::handle_packet`], or with
///   [`Stack::handle_packet_owned`] in a buffer the stack may keep (it returns
///   the buffer if not; a kept one, once its payload is read, comes back from
///   [`Stack::reclaim_buffer`], which such a caller drains before reading the
///   next packets into fresh buffers);
/// - calls [`Stack::handle_timeout`] once the time returned by
///   [`Stack::poll_timeout`] has come;
/// - after any of the calls above, and after application calls (`send`, `close`,
///   ...), drains [`Stack::poll_transmit`] until it returns `None`, sending each
///   packet; the buffer should hold at least the MTU (1500 bytes by default);
/// - drains [`Stack::poll_event`] to learn of state changes, ready connections and
///   errors (at most `TcpConfig::max_events` wait; the rest are counted in
///   `events_dropped`);
/// - if it has tasks waiting on sockets, drains [`Stack::poll_ready`] to learn
///   which connections to check again (data, space, end of stream), instead of
///   checking every waiting socket.
///
/// `now` must not go backwards (an earlier `now` is treated as the latest one
/// seen). Application calls take no `now`: they act at the latest time the stack
/// was given.
///
/// # Examples
/// ```
/// use synack::{Stack, StackConfig, Instant};
/// use core::net::{IpAddr, Ipv4Addr, SocketAddr};
///
/// let a_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
/// let b_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
/// let mut a = Stack::new(StackConfig::from_seed(1), &[a_ip]).unwrap();
/// let mut b = Stack::new(StackConfig::from_seed(2), &[b_ip]).unwrap();
/// let l = b.listen(SocketAddr::new(b_ip, 80), 16).unwrap();
/// let c = a.connect(SocketAddr::new(b_ip, 80), None).unwrap();
/// let mut buf = [0u8; 1500];
/// let now = Instant::ZERO;
/// // Shuttle packets until both are quiet.
/// loop {
///     let mut moved = false;
///     while let Some(n) = a.poll_transmit(now, &mut buf) { b.handle_packet(now, &buf[..n]); moved = true; }
///     while let Some(n) = b.poll_transmit(now, &mut buf) { a.handle_packet(now, &buf[..n]); moved = true; }
///     if !moved { break; }
/// }
/// assert_eq!(a.state(c), Some(synack::State::Established));
/// assert!(b.accept(l).is_ok());
/// ```
#[derive(Debug)]
pub struct Stack {
    config: StackConfig,
    addresses: Vec<IpAddr>,
    now: Instant,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    conns: ConnTable,
    listeners: KeyedMap<SocketAddr, u32>,
    time_wait: TimeWaitTable,
    tx_queue: VecDeque<u32>,
    /// Each connection's next deadline (`Tcb::next_deadline`), by slot. Brought up
    /// to date lazily: a change to a connection marks its slot (`stale_timers`),
    /// and the marked deadlines are recomputed once, before anyone reads the heap
    /// (`poll_timeout`, `handle_timeout`). A segment in and its reply out then cost
    /// one `next_deadline` instead of one per step.
    timers: TimerHeap,
    stale_timers: Vec<u32>,
    /// Connections something happened to, for [`Stack::poll_ready`] (each at most
    /// once: `Slot::ready`).
    ready: Vec<u32>,
    ctrl: VecDeque<CtrlSegment>,
    events: EventQueue,
    counters: Counters,
    challenge: ChallengeLimiter,
    isn: IsnGenerator,
    ts_offsets: TsOffsetCache,
    cookies: CookieJar,
    /// When a cookie was last sent (validation is only tried while cookies may be out).
    cookie_sent_at: Option<Instant>,
    rng: ChaCha8Rng,
    totals: limits::Totals,
    /// TCBs of freed connections, parked for the next connection (see `pool`).
    pool: pool::TcbPool,
    /// Buffers of packets kept in place and read to the end, for
    /// [`Stack::reclaim_buffer`].
    spare_buffers: SpareBuffers,
    /// The prefetch pipeline ([`Stack::prefetch`]).
    hints: Hints,
}

/// How many packets ahead of [`Stack::handle_packet`] a driver calls
/// [`Stack::prefetch`]: the pipeline's three stages, two packets apart, end
/// two packets before the packet arrives.
pub const PREFETCH_AHEAD: usize = 3 * HINT_STAGE;

/// Packets between the prefetch pipeline's stages: enough for a line to
/// arrive from memory while the stack handles that many packets.
const HINT_STAGE: usize = 2;

/// Connections beyond which the prefetch hints go past the table entry to the
/// slot and the TCB (and `poll_transmit` fetches ahead down its queue). With
/// fewer, the TCBs mostly stay in the cache and the deeper stages cost more
/// instructions than they save: the criterion `demux` bench (a pure ACK for
/// one of N connections in random order) measured the whole pipeline against
/// the table entry alone at 94 against 89 ns per packet for N = 1,024 (no
/// gain), 226 against 330 ns for N = 8,192 and 419 against 721 ns for N =
/// 65,536; in the `connections` bench the deeper stages were ~10 % slower at
/// concurrency 1,024 and even at 100,000.
const PREFETCH_DEEP_MIN: usize = 4096;

/// The keys [`Stack::prefetch`] was given last, each with the slot its
/// table entry held once the entry had had time to arrive.
#[derive(Debug, Default)]
struct Hints {
    ring: [Option<(V4Key, Option<u32>)>; 2 * HINT_STAGE],
    pos: usize,
}

/// The most bytes of buffers (by capacity) of read kept packets the stack holds
/// for [`Stack::reclaim_buffer`]; beyond it they are freed.
pub const SPARE_BUFFER_BYTES: usize = 16 << 20;

/// Buffers of read kept packets waiting for [`Stack::reclaim_buffer`], at
/// most [`SPARE_BUFFER_BYTES`] of them.
#[derive(Debug, Default)]
struct SpareBuffers {
    bufs: Vec<Vec<u8>>,
    bytes: usize,
}

impl SpareBuffers {
    fn put(&mut self, b: Vec<u8>) {
        if self.bytes + b.capacity() <= SPARE_BUFFER_BYTES {
            self.bytes += b.capacity();
            self.bufs.push(b);
        }
    }

    fn take(&mut self) -> Option<Vec<u8>> {
        let b = self.bufs.pop()?;
        self.bytes -= b.capacity();
        Some(b)
    }
}

/// Where a payload kept in its packet is ([`Stack::handle_packet_owned`]),
/// and what follows up its connection once the packet is attached.
struct KeptInput {
    idx: u32,
    /// The payload's offset in the packet.
    start: usize,
    prev: State,
    state: State,
}

impl KeptInput {
    /// Connection `idx` kept `payload`, which lies in `packet` (counted in
    /// `Counters::segments_kept`).
    fn new(
        counters: &mut Counters,
        idx: u32,
        payload: &[u8],
        packet: &[u8],
        prev: State,
        state: State,
    ) -> Self {
        counters.segments_kept += 1;
        Self {
            idx,
            // Both point into the packet.
            start: payload.as_ptr() as usize - packet.as_ptr() as usize,
            prev,
            state,
        }
    }
}

impl Stack {
    /// A stack owning `addresses`.
    ///
    /// # Errors
    /// An invalid [`crate::TcpConfig`] field.
    pub fn new(config: StackConfig, addresses: &[IpAddr]) -> Result<Self, ConfigError> {
        config.tcp.validate()?;
        let hasher = KeyedHasher::new(&config.secret);
        Ok(Self {
            addresses: addresses.to_vec(),
            now: Instant::ZERO,
            slots: Vec::new(),
            free_slots: Vec::new(),
            conns: ConnTable::new(hasher.clone()),
            listeners: keyed_map(hasher.clone()),
            time_wait: TimeWaitTable::new(config.tcp.max_time_wait, hasher),
            tx_queue: VecDeque::new(),
            timers: TimerHeap::default(),
            stale_timers: Vec::new(),
            ready: Vec::new(),
            ctrl: VecDeque::new(),
            events: EventQueue::new(config.tcp.max_events),
            counters: Counters::default(),
            challenge: ChallengeLimiter::new(config.seed ^ 0x6368_616c_6c65_6e67),
            isn: IsnGenerator::new(config.secret),
            ts_offsets: TsOffsetCache::default(),
            cookies: CookieJar::new(&config.secret),
            cookie_sent_at: None,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            totals: limits::Totals::default(),
            pool: pool::TcbPool::new(),
            spare_buffers: SpareBuffers::default(),
            hints: Hints::default(),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// The addresses this stack answers for.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }

    /// Adds an address.
    pub fn add_address(&mut self, addr: IpAddr) {
        if !self.addresses.contains(&addr) {
            self.addresses.push(addr);
        }
    }

    /// Every counter.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The latest time the stack has been given.
    pub fn now(&self) -> Instant {
        self.now
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    // ---- inputs ----

    /// A hint that `packet` will be handed in soon; changes nothing but how
    /// long that takes. With many connections, the lines a segment needs —
    /// its connection's entry in the table, its slot, its TCB — are rarely
    /// in the cache, and each is found through the one before, so a segment
    /// waits for memory three times in a row. A driver holding a batch of
    /// received packets (a ring of frames, a TUN read of several) calls this
    /// for each packet, in order, [`PREFETCH_AHEAD`] packets before handing it
    /// in; the stack starts fetching its table entry at once, its slot two
    /// calls later (the entry has arrived by then), and its TCB after another
    /// two, so the three waits overlap other packets' work. With a few
    /// thousand connections or fewer, whose TCBs mostly stay in the cache,
    /// only the table entry is fetched. Only IPv4 TCP packets are looked at;
    /// anything else, malformed included, is ignored. Nothing here is checked
    /// or counted: a hinted packet that never comes, or comes out of order,
    /// costs a few wasted fetches.
    pub fn prefetch(&mut self, packet: &[u8]) {
        let key = hint_key(packet);
        if let Some(k) = key {
            self.conns.prefetch_v4(k);
        }
        if !self.prefetch_deep() {
            return;
        }
        let (pos, len) = (self.hints.pos, self.hints.ring.len());
        self.hints.pos = (pos + 1) % len;
        // The key given HINT_STAGE calls ago: its entry is here now.
        let mid = (pos + HINT_STAGE) % len;
        if let Some((k, None)) = self.hints.ring[mid] {
            let idx = self.conns.peek_v4(k);
            self.hints.ring[mid] = Some((k, idx));
            if let Some(i) = idx {
                self.prefetch_slot(i);
            }
        }
        // The oldest (2 × HINT_STAGE calls ago): its slot is here now.
        let old = core::mem::replace(&mut self.hints.ring[pos], key.map(|k| (k, None)));
        if let Some((_, Some(i))) = old {
            self.prefetch_tcb(i);
        }
    }

    /// Whether there are enough connections for the prefetch hints to go
    /// past the table entry ([`PREFETCH_DEEP_MIN`]).
    #[inline]
    fn prefetch_deep(&self) -> bool {
        self.conns.len() > PREFETCH_DEEP_MIN
    }

    /// Starts fetching slot `idx` (a hint).
    #[inline]
    fn prefetch_slot(&self, idx: u32) {
        if let Some(slot) = self.slots.get(idx as usize) {
            crate::prefetch::read(slot);
        }
    }

    /// Starts fetching the TCB in slot `idx`, every line of it (a hint; reads
    /// the slot, which should be in the cache by now).
    #[inline]
    fn prefetch_tcb(&self, idx: u32) {
        if let Some(Slot {
            sock: Some(Socket::Conn(t)),
            ..
        }) = self.slots.get(idx as usize)
        {
            crate::prefetch::object::<Tcb>(t);
        }
    }

    /// Processes one received IP packet (IPv4 or IPv6). Malformed packets are counted
    /// by reason in [`Counters::parse_drops`] and dropped; this never panics.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        // Never keeps anything: there is no buffer to keep.
        let _ = self.input(now, packet, None);
    }

    /// [`Stack::handle_packet`] for a packet in a buffer the stack may keep:
    /// the packet is `buf[..len]`. A segment's payload that comes next in its
    /// connection's stream, with nothing else waiting to be read, of at least
    /// [`crate::TcpConfig::keep_payload_min`] bytes, filling at least half of
    /// `buf`'s capacity and passing its checksum stays where it is, and the
    /// application reads it there ([`Stack::recv_each`], [`Stack::recv_with`],
    /// or copied out by [`Stack::recv`]) instead of the stack copying it into
    /// the receive ring — the receive side then reads each byte once and
    /// writes none. Returns `buf` if the stack did not keep it; a kept
    /// buffer comes back from [`Stack::reclaim_buffer`] once its payload is
    /// read (or is freed with its connection's receive queue).
    ///
    /// A driver reading packets from a device into buffers of its own (a TUN
    /// device, a ring of frames) hands each over this way and takes its spare
    /// buffers from [`Stack::reclaim_buffer`] first, so that buffers circulate
    /// without allocation.
    #[must_use = "a buffer not kept comes back, for the caller to reuse"]
    #[inline]
    pub fn handle_packet_owned(
        &mut self,
        now: Instant,
        buf: Vec<u8>,
        len: usize,
    ) -> Option<Vec<u8>> {
        let len = len.min(buf.len());
        let cap = buf.capacity();
        let Some(kept) = self.input(now, &buf[..len], Some(cap)) else {
            return Some(buf);
        };
        let back = match self.slots.get_mut(kept.idx as usize).map(|s| &mut s.sock) {
            Some(Some(Socket::Conn(t))) => t.recv_buf.attach(buf, kept.start),
            _ => Some(buf),
        };
        self.follow_up(kept.idx, kept.prev, kept.state);
        back
    }

    /// A buffer handed in with [`Stack::handle_packet_owned`] whose payload
    /// the application has read, for the caller to reuse; `None` if there is
    /// none. The stack keeps at most [`SPARE_BUFFER_BYTES`] of them; any
    /// beyond are freed.
    pub fn reclaim_buffer(&mut self) -> Option<Vec<u8>> {
        self.spare_buffers.take()
    }

    /// Takes in one packet. With `keep` (the capacity of the packet's buffer,
    /// which the caller owns), a payload kept in place
    /// ([`Tcb::verify_staging`]) returns where it is and what follows up
    /// its connection's change, for the caller to attach the buffer first.
    fn input(&mut self, now: Instant, packet: &[u8], keep: Option<usize>) -> Option<KeptInput> {
        self.advance(now);
        self.counters.packets_in += 1;
        let parsed = wire::parse_unverified(packet);
        // Borrowed, not moved out of the result: the segment is ~140 bytes.
        let unverified = match &parsed {
            Ok(s) => s,
            Err(wire::ParseError::NotTcp) if wire::icmp::is_icmp(packet) => {
                self.icmp_input(packet);
                return None;
            }
            &Err(e) => {
                self.counters.parse_drops[e.index()] += 1;
                return None;
            }
        };
        let peek = unverified.peek();
        // A connection (or TIME-WAIT record) owns its 4-tuple whatever the local
        // address: a transparent connection answers as a foreign address and must
        // keep working after the catch-all listener that accepted it is closed.
        // Only segments that would open something or draw a RST need the address
        // to be ours.
        let found = match (peek.dst, peek.src) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                let key = V4Key::new(l, peek.tcp.dst_port, r, peek.tcp.src_port);
                self.conns.lookup_v4(key)
            }
            _ => self.conns.lookup(&segment_tuple(peek)),
        };
        let Some(idx) = found else {
            self.input_no_conn(unverified);
            return None;
        };
        // The fast path's first tests, on the header alone (header prediction
        // takes data with ACK or ACK,PSH only): a handshake, a pure ACK or a
        // FIN makes no call.
        let (flags, len) = (unverified.peek().tcp.flags, unverified.peek().payload.len());
        // Only a payload of `keep_payload_min` bytes or more may stay in its packet.
        let keep = keep.filter(|_| len >= self.config.tcp.keep_payload_min);
        // Header prediction's verdict: false for anything that fails these.
        let mut predicted = false;
        if len > 0
            && (flags == TcpFlags::ACK || flags == TcpFlags::ACK | TcpFlags::PSH)
            && self.config.tcp.header_prediction
        {
            match self.input_fast(idx, unverified, packet, keep) {
                Ok(r) => return r,
                Err(p) => predicted = p,
            }
        }
        let seg = match self.verify_for_conn(idx, unverified, keep) {
            Ok(s) => s,
            Err(e) => {
                self.counters.parse_drops[e.index()] += 1;
                return None;
            }
        };
        self.counters.segments_in += 1;
        let (prev, state, kept) = self.conn_input(idx, &seg.tcp, seg.payload, predicted)?;
        if kept {
            return Some(KeptInput::new(
                &mut self.counters,
                idx,
                seg.payload,
                packet,
                prev,
                state,
            ));
        }
        self.follow_up(idx, prev, state);
        None
    }

    /// The receive fast path (header prediction taken to the stack, under
    /// `TcpConfig::header_prediction`): the next in-order data segment of an
    /// ESTABLISHED connection that header prediction takes and whose payload
    /// goes straight into the receive queue ([`Tcb::predicted_straight_in`]) is
    /// verified into the queue (or kept in its packet), taken
    /// ([`Tcb::input_fast`]) and scheduled (`touch`) in one step: no
    /// `conn_input`/`with_conn` (the connection's buffers are not measured
    /// before and after: only the receive queue grows, by the bytes taken),
    /// no repeated stage and state checks. The same result as the general
    /// path, packet for packet (sim test
    /// `header_prediction_changes_nothing_on_the_wire`).
    ///
    /// What [`Stack::input`] returns, or if the segment is not for this path,
    /// header prediction's verdict on it ([`Tcb::predicted`], which nothing
    /// before `Tcb::input_synchronized_as` changes: the general path takes it
    /// from here). Before the connection's memory flags decide, they are set
    /// as `run_conn` sets them again.
    #[inline(never)]
    fn input_fast(
        &mut self,
        idx: u32,
        unverified: &wire::Unverified<'_>,
        packet: &[u8],
        keep: Option<usize>,
    ) -> Result<Option<KeptInput>, bool> {
        let (hdr, len) = (&unverified.peek().tcp, unverified.peek().payload.len());
        let cfg = &self.config.tcp;
        let Some(slot) = self.slots.get_mut(idx as usize) else {
            return Err(false);
        };
        let Some(Socket::Conn(tcb)) = slot.sock.as_mut() else {
            return Err(false);
        };
        if !tcb.predicted(hdr, len) {
            return Err(false);
        }
        // `mem_flags`, with the slot borrowed.
        (tcb.mem_pressure, tcb.mem_over) = self.totals.mem_flags(cfg);
        if !tcb.predicted_straight_in(len) {
            return Err(true);
        }
        #[cfg(debug_assertions)]
        let before = (tcb.mem_bytes(), tcb.orphan);
        // As `verify_for_conn` (`predicted` and `predicted_straight_in`
        // imply `goes_straight_in`).
        let seg = match tcb.verify_staging(unverified, true, keep) {
            Ok(s) => s,
            Err(e) => {
                self.counters.parse_drops[e.index()] += 1;
                return Ok(None);
            }
        };
        self.counters.segments_in += 1;
        self.counters.segments_in_fast += 1;
        let mut ctx = Ctx {
            now: self.now,
            cfg,
            events: &mut self.events,
            counters: &mut self.counters,
            ctrl: &mut self.ctrl,
            challenge: &mut self.challenge,
            racks: &mut self.pool.racks,
        };
        let n = tcb.input_fast(&seg.tcp, seg.payload, &mut ctx);
        // As `with_conn`: the receive window's inputs changed.
        tcb.wnd_cache_key = crate::tcp::conn::WND_CACHE_STALE;
        #[cfg(debug_assertions)]
        debug_assert_eq!((before.0 + n, before.1), (tcb.mem_bytes(), tcb.orphan));
        // ESTABLISHED, or CLOSE-WAIT if the data reached a FIN held out of order.
        let (state, kept) = (tcb.state, tcb.recv_buf.attaches());
        if kept {
            self.account_received(n);
            // `handle_packet_owned` attaches the packet, then follows up.
            return Ok(Some(KeptInput::new(
                &mut self.counters,
                idx,
                seg.payload,
                packet,
                State::Established,
                state,
            )));
        }
        // `follow_up` of ESTABLISHED to `state`: `touch`, with the slot at hand.
        tcb.pacing_rate_stale = true;
        let grew = slot.touch(
            idx,
            &mut self.tx_queue,
            &mut self.ready,
            &mut self.stale_timers,
        );
        self.account_received(n);
        if grew {
            self.bound_stale_timers();
        }
        Ok(None)
    }

    /// A segment for no connection: TIME-WAIT, a listener, or a RST.
    #[inline(never)]
    fn input_no_conn(&mut self, unverified: &wire::Unverified<'_>) {
        let key = segment_tuple(unverified.peek());
        let seg = match unverified.verify() {
            Ok(s) => s,
            Err(e) => {
                self.counters.parse_drops[e.index()] += 1;
                return;
            }
        };
        let in_time_wait = self.time_wait.get(&key).is_some();
        let ours = self.addresses.contains(&seg.dst) || self.accepts_any_address();
        if !ours && !in_time_wait {
            self.counters.drop_not_our_address += 1;
            return;
        }
        self.counters.segments_in += 1;
        if in_time_wait && !self.time_wait_input(&key, &seg.tcp, seg.payload.len()) {
            return;
        }
        if !ours {
            // A SYN reused a TIME-WAIT of a foreign address, and nothing listens
            // there any more.
            self.counters.drop_not_our_address += 1;
            return;
        }
        if let Some(idx) = self.find_listener(&key.local) {
            self.listen_input(idx, key, &seg.tcp, seg.payload);
            return;
        }
        self.counters.drop_no_socket += 1;
        self.reply_rst(key, &seg.tcp, seg.payload.len());
    }

    /// Verifies the checksum of a segment for connection `idx`. Payload that will
    /// go straight into the receive ring is copied there in the same pass
    /// (staged, committed only once the segment is accepted: `Tcb::verify_staging`);
    /// any other is summed where it lies.
    ///
    /// With `keep` (the capacity of the packet's buffer, see
    /// [`Stack::handle_packet_owned`]), a payload that can stay in its packet
    /// is summed where it lies and staged there instead.
    fn verify_for_conn<'u, 'p>(
        &mut self,
        idx: u32,
        seg: &'u wire::Unverified<'p>,
        keep: Option<usize>,
    ) -> Result<&'u wire::Segment<'p>, wire::ParseError> {
        let Some(Socket::Conn(tcb)) = self
            .slots
            .get_mut(idx as usize)
            .and_then(|s| s.sock.as_mut())
        else {
            return seg.verify();
        };
        let (hdr, len) = (&seg.peek().tcp, seg.peek().payload.len());
        let straight = tcb.goes_straight_in(hdr, len);
        tcb.verify_staging(seg, straight, keep)
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection. "If the state is CLOSED (i.e.,
    /// TCB does not exist), then all data in the incoming segment is discarded. An
    /// incoming segment containing a RST is discarded. An incoming segment not
    /// containing a RST causes a RST to be sent in response."
    fn reply_rst(&mut self, key: FourTuple, hdr: &TcpHeader, payload_len: usize) {
        if hdr.flags.rst() {
            return;
        }
        let seg = if hdr.flags.ack() {
            // "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>"
            rst_segment(key.local, key.remote, hdr.ack, None)
        } else {
            // "<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"
            rst_segment(
                key.local,
                key.remote,
                crate::SeqNum(0),
                Some(hdr.seq + hdr.seq_len(payload_len)),
            )
        };
        self.push_ctrl(seg);
    }

    fn push_ctrl(&mut self, seg: CtrlSegment) {
        if self.ctrl.len() < MAX_CTRL_QUEUE {
            self.ctrl.push_back(seg);
        } else {
            self.counters.drop_ctrl_queue_full += 1;
        }
    }

    /// Runs `f` on connection `idx` with a context borrowing the rest of the stack.
    /// Buffered bytes and orphans are accounted here (see `limits`).
    fn with_conn<R>(&mut self, idx: u32, f: impl FnOnce(&mut Tcb, &mut Ctx<'_>) -> R) -> Option<R> {
        let (r, before, after) = self.run_conn(idx, |t, ctx| {
            let before = (t.mem_bytes(), t.orphan);
            let r = f(t, ctx);
            // What the advertised window depends on may have changed (see
            // `Tcb::window_field`): only here, never while transmitting.
            t.wnd_cache_key = crate::tcp::conn::WND_CACHE_STALE;
            (r, before, (t.mem_bytes(), t.orphan))
        })?;
        if after != before {
            // Unchanged, the totals are already right (the config is fixed).
            self.account(before, after);
        }
        Some(r)
    }

    /// [`Stack::with_conn`] for work that never changes what a connection
    /// buffers nor orphans it — transmitting, a new connection's first
    /// transition, stopping timers (debug builds check): nothing to account.
    fn with_conn_tx<R>(
        &mut self,
        idx: u32,
        f: impl FnOnce(&mut Tcb, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        self.run_conn(idx, |t, ctx| {
            #[cfg(debug_assertions)]
            let before = (t.mem_bytes(), t.orphan);
            let r = f(t, ctx);
            #[cfg(debug_assertions)]
            debug_assert_eq!(
                before,
                (t.mem_bytes(), t.orphan),
                "transmitting changed the buffers"
            );
            r
        })
    }

    /// Runs `f` on connection `idx`, which is told the stack's memory state, with
    /// a context borrowing the rest of the stack.
    #[inline]
    fn run_conn<R>(&mut self, idx: u32, f: impl FnOnce(&mut Tcb, &mut Ctx<'_>) -> R) -> Option<R> {
        let now = self.now;
        let (pressure, over) = self.mem_flags();
        let Some(Socket::Conn(tcb)) = self
            .slots
            .get_mut(idx as usize)
            .and_then(|s| s.sock.as_mut())
        else {
            return None;
        };
        tcb.mem_pressure = pressure;
        tcb.mem_over = over;
        let mut ctx = Ctx {
            now,
            cfg: &self.config.tcp,
            events: &mut self.events,
            counters: &mut self.counters,
            ctrl: &mut self.ctrl,
            challenge: &mut self.challenge,
            racks: &mut self.pool.racks,
        };
        Some(f(tcb, &mut ctx))
    }

    fn conn(&self, idx: u32) -> Option<&Tcb> {
        match self.slots.get(idx as usize).and_then(|s| s.sock.as_ref()) {
            Some(Socket::Conn(t)) => Some(t),
            _ => None,
        }
    }

    /// Runs a segment through connection `idx` (`predicted`: header
    /// prediction's verdict on it, from `input_fast`); returns the state
    /// before and after, for the caller to follow up (`follow_up`), and
    /// whether its payload was kept in its packet (which the caller attaches
    /// first), unless the segment was dropped here.
    fn conn_input(
        &mut self,
        idx: u32,
        hdr: &TcpHeader,
        payload: &[u8],
        predicted: bool,
    ) -> Option<(State, State, bool)> {
        let tcb = self.conn(idx)?;
        let prev = tcb.state;
        let (local, remote) = (tcb.local, tcb.remote);
        if prev == State::SynReceived
            && self.accept_queue_full_for(tcb)
            && hdr.flags.ack()
            && !hdr.flags.rst()
            && !hdr.flags.syn()
        {
            self.counters.drop_accept_queue_full += 1;
            if self.config.tcp.abort_on_overflow {
                self.push_ctrl(rst_segment(local, remote, hdr.ack, None));
                self.with_conn(idx, |t, ctx| {
                    t.transition(State::Closed, Cause::AppAbort, ctx);
                    t.stop_timers();
                });
                self.after_change(idx, prev);
            }
            return None;
        }
        // The state came back from the TCB: no second lookup.
        self.with_conn(idx, |t, ctx| {
            t.stats.segs_in += 1;
            if t.state == State::SynSent {
                t.input_syn_sent(hdr, ctx);
            } else {
                t.input_synchronized_as(hdr, payload, predicted, ctx);
            }
            // Payload staged by `verify_for_conn` and not taken is forgotten with
            // its packet.
            t.recv_buf.unstage();
            (prev, t.state, t.recv_buf.attaches())
        })
    }

    /// Follows up a change to connection `idx`: queue moves, TIME-WAIT, removal,
    /// transmit and timer scheduling.
    fn after_change(&mut self, idx: u32, prev: State) {
        if let Some(tcb) = self.conn(idx) {
            let state = tcb.state;
            self.follow_up(idx, prev, state);
        }
    }

    /// [`Stack::after_change`] with the connection's state (`state`) at hand
    /// (inlined into every caller: it runs after every segment a connection
    /// takes in, and a plain `#[inline]` was not taken — bulk +27 Ir per segment).
    #[inline(always)]
    fn follow_up(&mut self, idx: u32, prev: State, state: State) {
        if prev == State::SynReceived && state != State::SynReceived {
            self.leave_syn_queue(idx, state != State::Closed);
        }
        match state {
            State::TimeWait => self.enter_time_wait(idx),
            State::Closed => self.retire(idx),
            _ => self.touch(idx),
        }
    }

    /// Schedules transmit and timers for `idx` after a change to it (not after
    /// a transmission: `poll_transmit` requeues by itself).
    fn touch(&mut self, idx: u32) {
        let Some(slot) = self.slots.get_mut(idx as usize) else {
            return;
        };
        let Some(Socket::Conn(tcb)) = slot.sock.as_mut() else {
            return;
        };
        // Whatever changed may have changed what the pacing rate depends on.
        tcb.pacing_rate_stale = true;
        if slot.touch(
            idx,
            &mut self.tx_queue,
            &mut self.ready,
            &mut self.stale_timers,
        ) {
            self.bound_stale_timers();
        }
    }

    /// Marks `idx`'s deadline for recomputing (see `Stack::timers`).
    #[inline]
    fn reschedule_timer(&mut self, idx: u32) {
        if let Some(slot) = self.slots.get_mut(idx as usize) {
            if slot.mark_timer_stale(&mut self.stale_timers, idx) {
                self.bound_stale_timers();
            }
        }
    }

    /// A slot marked again after `set_timer` may be listed twice in
    /// `stale_timers`; a user that never polls the timers must not make the
    /// list grow forever.
    fn bound_stale_timers(&mut self) {
        if self.stale_timers.len() > self.slots.len() + 64 {
            self.refresh_timers();
        }
    }

    /// Sets `idx`'s deadline now, overriding a pending recomputation.
    fn set_timer(&mut self, idx: u32, deadline: Option<crate::Instant>) {
        if let Some(slot) = self.slots.get_mut(idx as usize) {
            slot.timer_stale = false;
        }
        self.timers.set(idx, deadline);
    }

    /// Recomputes every deadline marked stale.
    fn refresh_timers(&mut self) {
        while let Some(idx) = self.stale_timers.pop() {
            let Some(slot) = self.slots.get_mut(idx as usize) else {
                continue;
            };
            if !core::mem::take(&mut slot.timer_stale) {
                continue;
            }
            let deadline = match &slot.sock {
                Some(Socket::Conn(t)) => t.next_deadline(),
                _ => None,
            };
            self.timers.set(idx, deadline);
        }
    }

    /// A connection reached CLOSED: out of the demux table; freed if nobody holds it.
    fn retire(&mut self, idx: u32) {
        let Some(tcb) = self.conn(idx) else { return };
        let key = FourTuple {
            local: tcb.local,
            remote: tcb.remote,
        };
        let free = tcb.orphan || (tcb.parent.is_some() && !self.in_accept_queue(tcb));
        self.conns.remove_if(&key, idx);
        if free {
            self.free_slot(idx);
        } else {
            // Keep the husk for the application (to read data or the error); any
            // pending segment such as an ACK of a FIN has been produced by now or is
            // dropped with the connection.
            self.set_timer(idx, None);
        }
    }

    /// A connection reached TIME-WAIT: a compact record replaces it in the demux.
    fn enter_time_wait(&mut self, idx: u32) {
        // Send the final ACK (of the peer's FIN) before the TCB stops transmitting.
        self.flush_conn(idx);
        let Some(tcb) = self.conn(idx) else { return };
        let key = FourTuple {
            local: tcb.local,
            remote: tcb.remote,
        };
        let wnd = u16::try_from(tcb.rcv_wnd() >> tcb.rcv_wscale).unwrap_or(u16::MAX);
        let entry = TwEntry {
            snd_nxt: tcb.snd_max,
            rcv_nxt: tcb.rcv_nxt,
            expires: self.now + self.config.tcp.msl * 2,
            window: wnd,
            ts: tcb
                .ts_ok
                .then_some((tcb.ts_recent, tcb.ts_offset, tcb.ts_recent_at)),
            handle: (!tcb.orphan).then_some(tcb.handle),
        };
        let orphan = tcb.orphan;
        self.conns.remove(&key);
        if self.time_wait.insert(key, entry) {
            self.counters.time_wait_entered += 1;
        } else {
            self.time_wait_overflow(idx);
        }
        // Timers only: nothing buffered changes, so no accounting (`with_conn_tx`).
        self.with_conn_tx(idx, |t, _| t.stop_timers());
        if orphan {
            self.free_slot(idx);
        } else {
            self.set_timer(idx, None);
        }
    }

    /// The TIME-WAIT table is full: the connection closes instead (counted).
    /// Out of line: rare, and `enter_time_wait` runs for every connection.
    #[cold]
    #[inline(never)]
    fn time_wait_overflow(&mut self, idx: u32) {
        self.counters.time_wait_overflow += 1;
        self.with_conn(idx, |t, ctx| {
            t.transition(State::Closed, Cause::TimeWaitOverflow, ctx);
        });
    }

    /// Emits the pending segments of one connection into the control queue so they
    /// go out even though the connection is leaving the tables.
    fn flush_conn(&mut self, idx: u32) {
        let mut more = true;
        while more {
            // Transmitting changes nothing buffered (`with_conn_tx`).
            let Some(Some(ctrl)) = self.with_conn_tx(idx, |t, ctx| {
                let seg = t.poll_segment(ctx)?;
                more = t.poll_more(ctx);
                debug_assert_eq!(
                    seg.payload_len, 0,
                    "a connection entering TIME-WAIT has no data left to send"
                );
                Some(CtrlSegment {
                    src: t.local,
                    dst: t.remote,
                    hdr: t.header(&seg, ctx),
                })
            }) else {
                return;
            };
            self.push_ctrl(ctrl);
        }
    }

    /// Segment for a TIME-WAIT entry. Returns true if it should go on to a listener.
    fn time_wait_input(&mut self, key: &FourTuple, hdr: &TcpHeader, payload_len: usize) -> bool {
        let two_msl = self.config.tcp.msl * 2;
        match self
            .time_wait
            .on_segment(key, hdr, payload_len, self.now, two_msl)
        {
            TwDisposition::Drop => false,
            TwDisposition::Ack(h) => {
                self.push_ctrl(CtrlSegment {
                    src: key.local,
                    dst: key.remote,
                    hdr: h,
                });
                false
            }
            TwDisposition::AckRestart(h) => {
                self.counters.time_wait_restarted += 1;
                self.push_ctrl(CtrlSegment {
                    src: key.local,
                    dst: key.remote,
                    hdr: h,
                });
                false
            }
            TwDisposition::Reset(e) => {
                self.time_wait_closed(key, &e, Cause::RcvRst);
                false
            }
            TwDisposition::Reuse(e) => {
                self.counters.time_wait_reused += 1;
                self.time_wait_closed(key, &e, Cause::TimeWaitReused);
                true
            }
        }
    }

    /// A TIME-WAIT entry is gone: the event, and the application's husk goes CLOSED.
    fn time_wait_closed(&mut self, key: &FourTuple, e: &TwEntry, cause: Cause) {
        self.events.push(
            Event::StateChanged {
                at: self.now,
                handle: e.handle,
                local: key.local,
                remote: Some(key.remote),
                from: State::TimeWait,
                to: State::Closed,
                cause,
            },
            &mut self.counters,
        );
        if let Some(h) = e.handle {
            if let Some(idx) = self.index_of(h) {
                if let Some(Socket::Conn(t)) = self.slots[idx as usize].sock.as_mut() {
                    t.state = State::Closed;
                }
            }
        }
    }

    /// Advances timers: retransmissions, delayed ACKs, probes, TIME-WAIT expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.refresh_timers();
        while let Some((_, idx)) = self.timers.pop_due(self.now) {
            let Some(prev) = self.conn(idx).map(|t| t.state) else {
                continue;
            };
            self.with_conn(idx, |tcb, ctx| tcb.on_timeout(ctx));
            self.after_change(idx, prev);
            self.refresh_timers();
        }
        while let Some((key, e)) = self.time_wait.pop_expired(self.now) {
            self.time_wait_closed(&key, &e, Cause::TimeWaitExpired);
        }
        self.pool.roll(self.now);
    }

    // ---- outputs ----

    /// The earliest time [`Stack::handle_timeout`] must be called, if any.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if !self.stale_timers.is_empty() {
            self.refresh_timers();
        }
        let conn = self.timers.peek().map(|(t, _)| t);
        let t = Instant::earliest(conn, self.time_wait.next_expiry());
        Instant::earliest(t, self.pool.deadline())
    }

    /// Writes the next outgoing IP packet into `buf` and returns its length, or
    /// `None` when there is nothing to send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.advance(now);
        while let Some(c) = self.ctrl.pop_front() {
            if c.hdr.flags.rst() {
                self.counters.rst_sent += 1;
            }
            if let Some(n) = self.emit(c.src, c.dst, &c.hdr, &[], buf) {
                return Some(n);
            }
        }
        let hop = self.config.tcp.hop_limit;
        while let Some(&idx) = self.tx_queue.front() {
            // The connections next in line, on their way into the cache as
            // `Stack::prefetch` brings those of received packets.
            if self.prefetch_deep() {
                if let Some(&n) = self.tx_queue.get(1) {
                    self.prefetch_tcb(n);
                }
                if let Some(&n) = self.tx_queue.get(1 + HINT_STAGE) {
                    self.prefetch_slot(n);
                }
            }
            // The packet is written while the TCB is at hand.
            let fast = self.config.tcp.transmit_fast_path;
            let out = self.with_conn_tx(idx, |t, ctx| {
                if fast {
                    if let Some(r) = t.transmit_full(ctx, hop, buf) {
                        return Some((r, true));
                    }
                }
                let seg = t.poll_segment(ctx)?;
                // Not queued again if asking again would find nothing.
                let more = t.poll_more(ctx);
                Some((t.emit(&seg, ctx, hop, buf), more))
            });
            let Some(Some((r, more))) = out else {
                self.transmit_done(idx);
                continue;
            };
            if more {
                // Still queued, at the back (round robin; a connection alone
                // stays where it is); the attempt may have armed timers.
                if self.tx_queue.len() > 1 {
                    self.tx_queue.rotate_left(1);
                }
                self.reschedule_timer(idx);
            } else {
                self.transmit_done(idx);
            }
            match r {
                Ok(n) => {
                    self.counters.packets_out += 1;
                    self.counters.segments_out += 1;
                    return Some(n);
                }
                Err(_) => self.counters.drop_tx_buffer_small += 1,
            }
        }
        None
    }

    /// `idx`, at the front of the transmit queue, has nothing more to send: out
    /// of the queue. The TCB is in cache now, so its deadline is brought up to
    /// date here (timers may have been armed by the attempt) rather than in the
    /// next `poll_timeout`.
    ///
    /// The slot is looked up once for both (its deadline set as `set_timer`
    /// would: it runs after almost every connection's turn).
    fn transmit_done(&mut self, idx: u32) {
        self.tx_queue.pop_front();
        let Some(slot) = self.slots.get_mut(idx as usize) else {
            return;
        };
        slot.queued = false;
        if let Some(Socket::Conn(tcb)) = &slot.sock {
            let deadline = tcb.next_deadline();
            slot.timer_stale = false;
            self.timers.set(idx, deadline);
        }
    }

    fn emit(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        hdr: &TcpHeader,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Option<usize> {
        match wire::emit(
            src.ip(),
            dst.ip(),
            self.config.tcp.hop_limit,
            hdr,
            payload,
            buf,
        ) {
            Ok(n) => {
                self.counters.packets_out += 1;
                self.counters.segments_out += 1;
                Some(n)
            }
            Err(_) => {
                self.counters.drop_tx_buffer_small += 1;
                None
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// A connection something happened to since it was last returned here: a
    /// segment arrived for it (data, end of stream, an acknowledgment that freed
    /// send space) or the application acted on it. A runtime with tasks waiting
    /// on sockets re-checks only these, instead of every waiting socket after
    /// every batch of packets (what makes epoll O(ready) rather than O(watched)).
    /// Changes of state and errors are also reported by [`Stack::poll_event`], which
    /// a runtime needs besides this (a connection that closes or enters TIME-WAIT
    /// may not show up here; listeners never do: see [`Event::Incoming`]). Each
    /// connection is listed at most once between polls; connections the
    /// application has closed are skipped.
    pub fn poll_ready(&mut self) -> Option<SocketHandle> {
        while let Some(idx) = self.ready.pop() {
            let Some(slot) = self.slots.get_mut(idx as usize) else {
                continue;
            };
            slot.ready = false;
            if let Some(Socket::Conn(t)) = &slot.sock {
                if !t.orphan {
                    return Some(t.handle);
                }
            }
        }
        None
    }

    // ---- slots ----

    /// The handle of a free slot (the caller fills it).
    fn next_handle(&mut self) -> SocketHandle {
        let index = match self.free_slots.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        SocketHandle {
            index,
            generation: self.slots[index as usize].generation,
        }
    }

    fn alloc_slot(&mut self, sock: impl FnOnce(SocketHandle) -> Socket) -> SocketHandle {
        let handle = self.next_handle();
        self.slots[handle.index as usize].sock = Some(sock(handle));
        self.set_timer(handle.index, None);
        handle
    }

    /// A slot holding a new connection in CLOSED ([`Tcb::new`]), its TCB taken
    /// from the pool when there is one.
    fn alloc_conn(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        iss: crate::SeqNum,
        ts_offset: u32,
    ) -> SocketHandle {
        let h = self.next_handle();
        let cfg = &self.config.tcp;
        let tcb = match self.pool.take() {
            Some(mut t) => {
                t.renew(h, local, remote, iss, ts_offset, cfg);
                t
            }
            None => Box::new(Tcb::new(h, local, remote, iss, ts_offset, cfg)),
        };
        self.slots[h.index as usize].sock = Some(Socket::Conn(tcb));
        self.set_timer(h.index, None);
        h
    }

    fn free_slot(&mut self, idx: u32) {
        let Some(sock) = self.slots.get_mut(idx as usize).and_then(|s| s.sock.take()) else {
            return;
        };
        let slot = &mut self.slots[idx as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.set_timer(idx, None);
        self.free_slots.push(idx);
        if let Socket::Conn(t) = sock {
            let gone = (t.mem_bytes(), t.orphan);
            self.account(gone, (0, false));
            self.pool.put(t, self.now);
        }
    }

    fn index_of(&self, h: SocketHandle) -> Option<u32> {
        let slot = self.slots.get(h.index as usize)?;
        (slot.generation == h.generation && slot.sock.is_some()).then_some(h.index)
    }

    fn is_our_address(&self, ip: &IpAddr) -> bool {
        self.addresses.contains(ip)
    }
}

/// The connection key of an IPv4 TCP packet, read at fixed offsets without
/// checking anything else (for [`Stack::prefetch`]).
fn hint_key(p: &[u8]) -> Option<V4Key> {
    let &b0 = p.first()?;
    if b0 >> 4 != 4 || p.get(9) != Some(&6) {
        return None;
    }
    let ihl = usize::from(b0 & 0xf) * 4;
    let a = p.get(12..20)?;
    let t = p.get(ihl..ihl + 4)?;
    let ip = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    Some(V4Key::new(ip(&a[4..]), port(&t[2..]), ip(&a[..4]), port(t)))
}

/// The 4-tuple a received segment belongs to, seen from this end.
fn segment_tuple(seg: &wire::Segment<'_>) -> FourTuple {
    FourTuple {
        local: SocketAddr::new(seg.dst, seg.tcp.dst_port),
        remote: SocketAddr::new(seg.src, seg.tcp.src_port),
    }
}
