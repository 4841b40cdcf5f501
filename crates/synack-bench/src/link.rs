//! The in-memory link between two stacks, and each rival's side of it.
//!
//! A [`Pipe`] is one direction: a queue of packets in reusable MTU-sized buffers
//! (no allocation per packet once warm). A [`Side`] is one host: it takes every
//! queued packet in ([`Side::ingress`]), lets the application act, and then puts all
//! it has to send out ([`Side::egress`]). [`Clock`] is virtual: it advances 1 µs per
//! delivered packet and jumps to the next timer when both pipes are empty.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use synack::stack::PREFETCH_AHEAD;
use synack::{Instant, Stack, StackConfig};

/// Virtual time advanced per delivered packet.
pub const TICK_PER_PACKET_US: u64 = 1;
/// Packets a side takes in before it sends what they caused (Linux's NAPI budget).
pub const BUDGET: usize = 64;

/// One direction of the link.
#[derive(Debug)]
pub struct Pipe {
    queue: VecDeque<(Vec<u8>, usize)>,
    free: Vec<Vec<u8>>,
    mtu: usize,
    /// Packets put on the pipe so far.
    pub sent: u64,
}

impl Pipe {
    pub fn new(mtu: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            free: Vec::new(),
            mtu,
            sent: 0,
        }
    }

    /// A pipe with room for `packets` queued packets, buffers included.
    pub fn with_capacity(mtu: usize, packets: usize) -> Self {
        let mut p = Self::new(mtu);
        p.queue.reserve(packets);
        p.free = (0..packets).map(|_| vec![0; mtu]).collect();
        p
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    fn buffer(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; self.mtu])
    }

    pub(crate) fn push(&mut self, buf: Vec<u8>, len: usize) {
        self.sent += 1;
        self.queue.push_back((buf, len));
    }

    /// The `i`th queued packet.
    pub(crate) fn peek(&self, i: usize) -> Option<&[u8]> {
        self.queue.get(i).map(|(b, len)| &b[..*len])
    }

    pub(crate) fn pop(&mut self) -> Option<(Vec<u8>, usize)> {
        self.queue.pop_front()
    }

    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        self.free.push(buf);
    }

    /// Hands this pipe's spare buffers to `to` (a path that moves packets from one
    /// pipe to another gives the buffers back to the pipe they came from).
    pub(crate) fn give_buffers(&mut self, to: &mut Self) {
        to.free.append(&mut self.free);
    }
}

/// The virtual clock, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock(pub u64);

impl Clock {
    pub fn synack(self) -> Instant {
        Instant::from_micros(self.0)
    }

    pub fn smoltcp(self) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(i64::try_from(self.0).unwrap_or(i64::MAX))
    }
}

/// One host on the link.
pub trait Side {
    /// Takes in every packet queued on `rx`, sending what they caused after every
    /// [`BUDGET`] packets; returns how many.
    fn ingress(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: &mut Clock) -> usize;
    /// Takes in the first packet queued on `rx` at `clock` (which it leaves alone);
    /// false if there was none. Replies wait for the next [`Side::egress`].
    fn take_one(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: Clock) -> bool;
    /// Puts everything there is to send on `tx`.
    fn egress(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: Clock);
    /// The earliest timer, in virtual microseconds.
    fn next_timer(&mut self, clock: Clock) -> Option<u64>;
    /// Timers up to `clock` have come.
    fn on_timer(&mut self, clock: Clock);
}

/// A synack stack as one side.
#[derive(Debug)]
pub struct SynSide {
    pub stack: Stack,
}

impl SynSide {
    /// A stack owning `addrs`; events are drained by the side.
    pub fn new(cfg: StackConfig, addrs: &[IpAddr]) -> Self {
        let stack = Stack::new(cfg, addrs).expect("benchmark configuration is valid");
        Self { stack }
    }

    fn drain_events(&mut self) {
        while self.stack.poll_event().is_some() {}
    }
}

impl Side for SynSide {
    fn ingress(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: &mut Clock) -> usize {
        let mut n = 0;
        // The stack's prefetch hint runs PREFETCH_AHEAD packets ahead of the
        // packet handed in (the first ones hinted before the loop), for a
        // batch long enough to have packets that far ahead.
        let hint = rx.len() > PREFETCH_AHEAD;
        if hint {
            for i in 0..PREFETCH_AHEAD {
                if let Some(p) = rx.peek(i) {
                    self.stack.prefetch(p);
                }
            }
        }
        while !rx.is_empty() {
            clock.0 += TICK_PER_PACKET_US;
            if let Some(p) = rx.peek(PREFETCH_AHEAD).filter(|_| hint) {
                self.stack.prefetch(p);
            }
            self.take_one(rx, tx, *clock);
            n += 1;
            if n % BUDGET == 0 && !rx.is_empty() {
                self.egress(rx, tx, *clock);
            }
        }
        self.drain_events();
        n
    }

    fn take_one(&mut self, rx: &mut Pipe, _tx: &mut Pipe, clock: Clock) -> bool {
        let Some((buf, len)) = rx.pop() else {
            return false;
        };
        // The stack may keep the buffer (a payload it lets the application
        // read in place); it comes back from `reclaim_buffer` once read.
        if let Some(buf) = self.stack.handle_packet_owned(clock.synack(), buf, len) {
            rx.recycle(buf);
        }
        true
    }

    fn egress(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: Clock) {
        while let Some(buf) = self.stack.reclaim_buffer() {
            rx.recycle(buf);
        }
        let now = clock.synack();
        loop {
            let mut buf = tx.buffer();
            match self.stack.poll_transmit(now, &mut buf) {
                Some(len) => tx.push(buf, len),
                None => {
                    tx.recycle(buf);
                    break;
                }
            }
        }
        self.drain_events();
    }

    fn next_timer(&mut self, _clock: Clock) -> Option<u64> {
        self.stack.poll_timeout().map(Instant::micros)
    }

    fn on_timer(&mut self, clock: Clock) {
        self.stack.handle_timeout(clock.synack());
        self.drain_events();
    }
}

/// A smoltcp interface and its sockets as one side (IP medium, software checksums).
pub struct SmolSide {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    mtu: usize,
}

impl std::fmt::Debug for SmolSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmolSide").field("mtu", &self.mtu).finish()
    }
}

impl SmolSide {
    pub fn new(addr: Ipv4Addr, mtu: usize, seed: u64) -> Self {
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let (mut a, mut b) = (Pipe::new(mtu), Pipe::new(mtu));
        let mut dev = SmolDev {
            rx: &mut a,
            tx: &mut b,
            mtu,
        };
        let mut iface = Interface::new(cfg, &mut dev, Clock(0).smoltcp());
        iface.update_ip_addrs(|ips| {
            let o = addr.octets();
            ips.push(IpCidr::new(IpAddress::v4(o[0], o[1], o[2], o[3]), 8))
                .expect("room for one address");
        });
        Self {
            iface,
            sockets: SocketSet::new(Vec::new()),
            mtu,
        }
    }
}

impl Side for SmolSide {
    fn ingress(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: &mut Clock) -> usize {
        let mut n = 0;
        while !rx.is_empty() {
            clock.0 += TICK_PER_PACKET_US;
            if !self.take_one(rx, tx, *clock) {
                break;
            }
            n += 1;
            if n % BUDGET == 0 && !rx.is_empty() {
                self.egress(rx, tx, *clock);
            }
        }
        n
    }

    fn take_one(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: Clock) -> bool {
        let mut dev = SmolDev {
            rx,
            tx,
            mtu: self.mtu,
        };
        self.iface
            .poll_ingress_single(clock.smoltcp(), &mut dev, &mut self.sockets)
            != PollIngressSingleResult::None
    }

    fn egress(&mut self, rx: &mut Pipe, tx: &mut Pipe, clock: Clock) {
        let mut dev = SmolDev {
            rx,
            tx,
            mtu: self.mtu,
        };
        while self
            .iface
            .poll_egress(clock.smoltcp(), &mut dev, &mut self.sockets)
            != PollResult::None
        {}
    }

    fn next_timer(&mut self, clock: Clock) -> Option<u64> {
        self.iface
            .poll_at(clock.smoltcp(), &self.sockets)
            .map(|t| t.total_micros().max(0).unsigned_abs())
    }

    fn on_timer(&mut self, _clock: Clock) {
        // smoltcp acts on its timers in the next egress.
    }
}

/// smoltcp's view of the link: receive from `rx`, transmit to `tx`.
struct SmolDev<'a> {
    rx: &'a mut Pipe,
    tx: &'a mut Pipe,
    mtu: usize,
}

struct SmolRx<'a> {
    buf: Vec<u8>,
    len: usize,
    pipe: &'a mut Pipe,
}

struct SmolTx<'a> {
    pipe: &'a mut Pipe,
}

impl phy::Device for SmolDev<'_> {
    type RxToken<'a>
        = SmolRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = SmolTx<'a>
    where
        Self: 'a;

    fn receive(
        &mut self,
        _timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (buf, len) = self.rx.pop()?;
        Some((
            SmolRx {
                buf,
                len,
                pipe: self.rx,
            },
            SmolTx { pipe: self.tx },
        ))
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(SmolTx { pipe: self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps.checksum = ChecksumCapabilities::default();
        caps
    }
}

impl phy::RxToken for SmolRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(&self.buf[..self.len]);
        self.pipe.recycle(self.buf);
        r
    }
}

impl phy::TxToken for SmolTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut buf = self.pipe.buffer();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let r = f(&mut buf[..len]);
        self.pipe.push(buf, len);
        r
    }
}

/// Why a run stopped early.
pub type RunError = String;

/// What a [`drive`] did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Rounds (each side took in, acted and sent once).
    pub rounds: u64,
    /// Times the link was quiet and the clock jumped to a timer.
    pub timer_jumps: u64,
    /// Heap allocations made (0 without the counting allocator).
    pub allocations: u64,
}

/// The application on both hosts: acts after each side's ingress.
pub trait App<A, B> {
    /// Acts on host A; returns true if it made progress.
    fn on_a(&mut self, a: &mut A) -> Result<bool, RunError>;
    /// Acts on host B; returns true if it made progress.
    fn on_b(&mut self, b: &mut B) -> Result<bool, RunError>;
    /// The run is over.
    fn done(&self) -> bool;
    /// Acts on host B before its ingress (after its previous egress).
    fn before_b(&mut self, _b: &mut B) {}
}

/// Drives two sides until the app is done. Each round: A takes in, the app acts on
/// A, A sends; then the same for B; then both are asked for their next timer and
/// due timers run. When a round moves nothing and both pipes are empty, the clock
/// jumps to the earliest timer. Fails after 10,000 jumps in a row
/// without progress, or when nothing is left to happen.
pub fn drive<A: Side, B: Side>(
    a: &mut A,
    b: &mut B,
    links: &mut (Pipe, Pipe),
    clock: &mut Clock,
    app: &mut impl App<A, B>,
) -> Result<Stats, RunError> {
    let (ab, ba) = links;
    let mut idle_jumps = 0u32;
    let mut stats = Stats::default();
    let allocs0 = crate::allocations();
    loop {
        stats.rounds += 1;
        let mut moved = a.ingress(ba, ab, clock);
        let acted_a = app.on_a(a)?;
        a.egress(ba, ab, *clock);
        app.before_b(b);
        moved += b.ingress(ab, ba, clock);
        let acted_b = app.on_b(b)?;
        b.egress(ab, ba, *clock);
        if app.done() {
            stats.allocations = crate::allocations() - allocs0;
            return Ok(stats);
        }
        // Like any event loop, ask each side when it next needs the clock (the
        // calling contract), and run the timers that are due.
        let (ta, tb) = (a.next_timer(*clock), b.next_timer(*clock));
        if ta.is_some_and(|t| t <= clock.0) {
            a.on_timer(*clock);
        }
        if tb.is_some_and(|t| t <= clock.0) {
            b.on_timer(*clock);
        }
        if moved > 0 || acted_a || acted_b || !ab.is_empty() || !ba.is_empty() {
            idle_jumps = 0;
            continue;
        }
        let next = match (ta, tb) {
            (Some(x), Some(y)) => x.min(y),
            (x, y) => x.or(y).ok_or("stalled: nothing to send and no timer")?,
        };
        idle_jumps += 1;
        stats.timer_jumps += 1;
        if idle_jumps > 10_000 {
            return Err("stalled: 10,000 timer jumps without progress".into());
        }
        clock.0 = clock.0.max(next);
        a.on_timer(*clock);
        b.on_timer(*clock);
    }
}
