//! The imperative shell around the sans-IO core: the state shared by the driver
//! task and the sockets, the driver loop, and who gets woken when.
//!
//! The driver waits for the first of: a packet on the TUN device, a nudge from a
//! socket call ([`Shared::call`] nudges when it moved the stack's next deadline
//! earlier) or the stack's deadline. It then reads a batch of packets, runs due
//! timers, transmits, and wakes the tasks whose sockets became ready.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use synack::stack::PREFETCH_AHEAD;
use synack::{Event, SocketHandle, Stack, State};
use tokio::sync::Notify;

use crate::icmp;
use crate::iface::InterfaceStats;
use crate::impair::ImpairDir;
use crate::io::{Out, Rx};

/// Which way a task waits on a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Data, end of stream, an error; for a listener, a connection to accept.
    Read,
    /// Send-buffer space, an error; for a connecting socket, the handshake's end.
    Write,
}

/// The tasks waiting on one socket.
#[derive(Debug, Default)]
struct Waiters {
    read: Vec<Waker>,
    write: Vec<Waker>,
}

impl Waiters {
    fn list(&mut self, dir: Dir) -> &mut Vec<Waker> {
        match dir {
            Dir::Read => &mut self.read,
            Dir::Write => &mut self.write,
        }
    }

    /// Moves every waker, both directions, to `wake`.
    fn take_all(&mut self, wake: &mut Vec<Waker>) {
        wake.append(&mut self.read);
        wake.append(&mut self.write);
    }
}

/// Everything behind the lock.
pub(crate) struct Inner {
    pub(crate) stack: Stack,
    out: Out,
    inbound: Option<ImpairDir>,
    waiters: HashMap<SocketHandle, Waiters>,
    /// The stack's `events_dropped` when events were last drained: when it moves,
    /// some wake-up may be lost with its event, so every waiter is woken.
    events_dropped: u64,
    /// The deadline the driver sleeps until (None: no timer).
    driver_deadline: Option<synack::Instant>,
    /// The interface was dropped: the driver should stop.
    shutdown_requested: bool,
    /// The driver stopped; every socket call fails.
    pub(crate) closed: bool,
    pub(crate) stats: InterfaceStats,
    icmp_echo: bool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("stack", &self.stack)
            .field("waiters", &self.waiters.len())
            .field("closed", &self.closed)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) fn new(stack: Stack, out: Out, inbound: Option<ImpairDir>, icmp_echo: bool) -> Self {
        Self {
            stack,
            out,
            inbound,
            waiters: HashMap::new(),
            events_dropped: 0,
            driver_deadline: None,
            shutdown_requested: false,
            closed: false,
            stats: InterfaceStats::default(),
            icmp_echo,
        }
    }

    /// Registers `waker` to be woken when `h` becomes ready in direction `dir`.
    pub(crate) fn register(&mut self, h: SocketHandle, dir: Dir, waker: &Waker) {
        let list = self.waiters.entry(h).or_default().list(dir);
        if !list.iter().any(|w| w.will_wake(waker)) {
            list.push(waker.clone());
        }
    }

    /// Forgets every waiter of `h` (the socket is being dropped).
    pub(crate) fn forget(&mut self, h: SocketHandle) {
        self.waiters.remove(&h);
    }

    /// The error to report for a connection the core says failed.
    pub(crate) fn conn_error(&self, h: SocketHandle) -> io::Error {
        match self.stack.error(h) {
            Some(e) => crate::error::connection(e),
            None => crate::error::not_connected(),
        }
    }

    /// One received IP packet: through the inbound impairment, then ICMP echo is
    /// answered here and the rest goes to the core.
    fn input(&mut self, now: synack::Instant, packet: &[u8]) {
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += packet.len() as u64;
        let Self {
            stack,
            out,
            inbound,
            stats,
            icmp_echo,
            ..
        } = self;
        let mut deliver = |p: &[u8]| deliver(stack, out, stats, *icmp_echo, now, p);
        match inbound {
            Some(d) => d.push(now, packet, &mut deliver),
            None => deliver(packet),
        }
    }

    /// Hands the stack the inbound packets whose impairment delay is over.
    fn release_inbound(&mut self, now: synack::Instant) {
        let Self {
            stack,
            out,
            inbound,
            stats,
            icmp_echo,
            ..
        } = self;
        if let Some(d) = inbound {
            d.release(now, |p| deliver(stack, out, stats, *icmp_echo, now, p));
        }
    }

    /// Drains the stack's outgoing packets onto the device (through the outbound
    /// impairment), with the impaired packets now due.
    pub(crate) fn transmit(&mut self, now: synack::Instant) {
        self.out.release(now);
        let stack = &mut self.stack;
        while self.out.send_with(now, |buf| stack.poll_transmit(now, buf)) {}
        self.out.tx.flush();
        let r = self.out.tx.take_report();
        self.stats.tx_packets += r.packets;
        self.stats.tx_bytes += r.bytes;
        self.stats.tx_batches += r.batches;
        self.stats.tx_dropped += r.dropped;
    }

    /// The earliest of the stack's timer and the impairment queues.
    fn next_deadline(&mut self) -> Option<synack::Instant> {
        [
            self.stack.poll_timeout(),
            self.inbound.as_ref().and_then(ImpairDir::next_release),
            self.out.next_release(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Counters of the impairment layer (inbound, outbound).
    pub(crate) fn impair_stats(&self) -> (synack_sim::LinkStats, synack_sim::LinkStats) {
        (
            self.inbound
                .as_ref()
                .map(ImpairDir::stats)
                .unwrap_or_default(),
            self.out
                .impair
                .as_ref()
                .map(ImpairDir::stats)
                .unwrap_or_default(),
        )
    }

    /// Drains the stack's events, collecting the wakers of the sockets they name.
    fn drain_events(&mut self, wake: &mut Vec<Waker>) {
        while let Some(ev) = self.stack.poll_event() {
            let (h, dirs): (SocketHandle, &[Dir]) = match ev {
                Event::StateChanged {
                    handle: Some(h), ..
                }
                | Event::Error { handle: h, .. } => (h, &[Dir::Read, Dir::Write]),
                Event::Incoming { listener, .. } => (listener, &[Dir::Read]),
                Event::StateChanged { handle: None, .. } => continue,
            };
            if let Some(w) = self.waiters.get_mut(&h) {
                for &d in dirs {
                    wake.append(w.list(d));
                }
            }
        }
        let dropped = self.stack.counters().events_dropped;
        if dropped != self.events_dropped {
            self.events_dropped = dropped;
            // Whatever the lost events would have woken: everyone re-checks.
            for w in self.waiters.values_mut() {
                w.take_all(wake);
            }
        }
    }

    /// Collects the wakers of sockets whose data or buffer space changed (the core
    /// reports those without events): only the connections the core lists as
    /// touched ([`Stack::poll_ready`]), so a round costs the same with ten
    /// thousand idle connections waiting to read as with none.
    fn scan_waiters(&mut self, wake: &mut Vec<Waker>) {
        while let Some(h) = self.stack.poll_ready() {
            let Some(w) = self.waiters.get_mut(&h) else {
                continue;
            };
            if !w.read.is_empty() && readable(&self.stack, h) {
                wake.append(&mut w.read);
            }
            if !w.write.is_empty() && writable(&self.stack, h) {
                wake.append(&mut w.write);
            }
        }
    }

    /// Every waiter, for shutdown.
    fn drain_all_waiters(&mut self, wake: &mut Vec<Waker>) {
        for (_, mut w) in self.waiters.drain() {
            w.take_all(wake);
        }
    }
}

/// A packet past the inbound impairment: ICMP echo is answered, the rest goes to
/// the core.
fn deliver(
    stack: &mut Stack,
    out: &mut Out,
    stats: &mut InterfaceStats,
    icmp_echo: bool,
    now: synack::Instant,
    p: &[u8],
) {
    if icmp_echo {
        let ours = stack.addresses();
        if out.send_with(now, |buf| icmp::echo_reply(p, ours, buf)) {
            stats.icmp_echo_replies += 1;
            return;
        }
    }
    stack.handle_packet(now, p);
}

/// Would a read on `h` return now (data, end of stream or an error)?
fn readable(stack: &Stack, h: SocketHandle) -> bool {
    match stack.state(h) {
        None => true,
        // Listeners are woken by `Event::Incoming`.
        Some(State::Listen) => false,
        Some(s) => {
            stack.recv_queue(h) > 0
                || stack.error(h).is_some()
                || matches!(
                    s,
                    State::CloseWait
                        | State::Closing
                        | State::LastAck
                        | State::TimeWait
                        | State::Closed
                )
        }
    }
}

/// Would a write on `h` return now (space, or an error)? For a connecting socket:
/// has the handshake ended either way?
fn writable(stack: &Stack, h: SocketHandle) -> bool {
    match stack.state(h) {
        None => true,
        Some(State::Listen) => false,
        Some(State::SynSent | State::SynReceived) => stack.error(h).is_some(),
        Some(s) => stack.send_capacity(h) > 0 || stack.error(h).is_some() || !s.can_send(),
    }
}

/// What the driver and every socket share.
#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Nudges the driver: a socket call moved the next deadline earlier, or the
    /// interface is shutting down.
    nudge: Notify,
    /// The stack's epoch: `synack::Instant::ZERO` is this moment.
    epoch: std::time::Instant,
}

impl Shared {
    pub(crate) fn new(inner: Inner, epoch: std::time::Instant) -> Self {
        Self {
            inner: Mutex::new(inner),
            nudge: Notify::new(),
            epoch,
        }
    }

    /// The current time as the stack counts it.
    pub(crate) fn now(&self) -> synack::Instant {
        let us = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        synack::Instant::from_micros(us)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the stack in whatever state the core
        // left it; the core never panics on input, so carry on.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one application call on the stack, then does what the calling contract
    /// asks after it: transmits, drains events (waking whom they concern) and tells
    /// the driver if its timer must fire earlier.
    pub(crate) fn call<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut wake = Vec::new();
        let (r, nudge) = {
            let mut g = self.lock();
            let r = f(&mut g);
            if g.closed {
                return r;
            }
            g.transmit(self.now());
            g.drain_events(&mut wake);
            let next = g.next_deadline();
            let nudge = next.is_some_and(|t| match g.driver_deadline {
                Some(d) => t < d,
                None => true,
            });
            if nudge {
                g.driver_deadline = next;
            }
            (r, nudge)
        };
        if nudge {
            self.nudge.notify_one();
        }
        for w in wake {
            w.wake();
        }
        r
    }

    /// Asks the driver to stop (the interface was dropped).
    pub(crate) fn request_shutdown(&self) {
        self.lock().shutdown_requested = true;
        self.nudge.notify_one();
    }

    fn deadline_instant(&self, d: synack::Instant) -> tokio::time::Instant {
        let at = self.epoch + Duration::from_micros(d.micros());
        tokio::time::Instant::from_std(at)
    }
}

/// The driver task: runs until the interface is dropped or the device fails.
pub(crate) async fn run(shared: Arc<Shared>, mut rx: Rx) {
    let mut wake = Vec::new();
    let mut timers_deferred = 0;
    loop {
        let deadline = shared.lock().driver_deadline;
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(shared.deadline_instant(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shared.nudge.notified() => {}
            r = rx.device().readable() => {
                if r.is_err() {
                    break;
                }
            }
            () = sleep => {}
        }
        let failing = match round(&shared, &mut rx, &mut wake, &mut timers_deferred) {
            Round::Stop => break,
            Round::Failing => true,
            Round::Ok => false,
        };
        for w in wake.drain(..) {
            w.wake();
        }
        if failing {
            // Reads fail without consuming anything: do not spin on the readiness
            // they leave set.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop(&shared);
}

/// ACK policy of the batched driver: the stack is given a chance to transmit
/// (and so to send the ACK it owes) once at least this many packets arrived and
/// a read ended. Without offload every read is one packet, so this is RFC 9293
/// §3.8.6.3 / RFC 5681 §4.2's "ACK at least every second full-sized segment";
/// with offload a read is one GRO super-packet (up to 64 KiB), which is ACKed as
/// a whole, as Linux ACKs a GRO packet. (Polling once per 64-packet batch gave
/// one ACK per ~26 segments: stretch ACKs that make the sender bursty.)
const ACK_EVERY_PACKETS: usize = 2;

/// A packet at least this long carries data worth an ACK (an ACK with full
/// options is 72 bytes over IPv6; a full-sized segment is an MTU).
const DATA_PACKET_MIN: usize = 576;

/// Rounds in a row that may put off due timers because input is still queued.
const MAX_TIMER_DEFERRALS: u32 = 16;

/// How a driver round ended.
enum Round {
    Ok,
    /// Reading the device failed and read nothing.
    Failing,
    /// The interface is shutting down.
    Stop,
}

/// One pass: read a batch, run timers, transmit, collect wakers.
fn round(shared: &Shared, rx: &mut Rx, wake: &mut Vec<Waker>, deferred: &mut u32) -> Round {
    // Read without the lock: sockets keep working meanwhile.
    let read = rx.read_batch();
    let mut g = shared.lock();
    if g.shutdown_requested {
        return Round::Stop;
    }
    g.stats.rx_errors += read.errors;
    ingest(shared, &mut g, rx);
    let mut now = shared.now();
    g.release_inbound(now);
    // After a stall (the task was not scheduled for a while), the ACKs that would
    // stop a retransmission timer may still be queued in the device: read them all
    // before firing timers, within a bound.
    if read.drained || *deferred >= MAX_TIMER_DEFERRALS {
        *deferred = 0;
        if g.stack.poll_timeout().is_some_and(|t| t <= now) {
            // "Drained" is tokio's word, and its readiness lags the device (the
            // woken timer can run before the reactor polled epoll): look at the
            // device itself before a timer fires. A tail loss probe sent 12 ms
            // after the ACK that made it moot was queued is what this prevents.
            for _ in 0..MAX_TIMER_DEFERRALS {
                let more = rx.read_batch_direct();
                g.stats.rx_errors += more.errors;
                if more.packets == 0 {
                    break;
                }
                ingest(shared, &mut g, rx);
            }
            now = shared.now();
            if g.stack.poll_timeout().is_some_and(|t| t <= now) {
                g.stack.handle_timeout(now);
            }
        }
    } else {
        *deferred += 1;
    }
    g.transmit(now);
    g.drain_events(wake);
    g.scan_waiters(wake);
    g.driver_deadline = g.next_deadline();
    if read.errors > 0 && read.packets == 0 {
        Round::Failing
    } else {
        Round::Ok
    }
}

/// Hands the packets of the last read to the stack, letting it transmit (the
/// ACKs it owes) per [`ACK_EVERY_PACKETS`].
fn ingest(shared: &Shared, g: &mut Inner, rx: &Rx) {
    let mut ends = rx.read_ends().iter().peekable();
    let mut since_transmit = 0;
    // A batch long enough is hinted to the stack ahead of itself, so the
    // cache misses of many connections' lookups overlap (`Stack::prefetch`).
    let hint = rx.len() > PREFETCH_AHEAD;
    if hint {
        rx.packets()
            .take(PREFETCH_AHEAD)
            .for_each(|p| g.stack.prefetch(p));
    }
    for (i, p) in rx.packets().enumerate() {
        if let Some(q) = rx.packet(i + PREFETCH_AHEAD).filter(|_| hint) {
            g.stack.prefetch(q);
        }
        let now = shared.now();
        g.input(now, p);
        // Only data segments earn an ACK; pure ACKs (the peer acknowledging our
        // data) wait for the batch's end, so our own sends stay batched (GSO).
        if p.len() >= DATA_PACKET_MIN {
            since_transmit += 1;
        }
        let read_ended = ends.next_if(|&&e| e == i + 1).is_some();
        if read_ended && since_transmit >= ACK_EVERY_PACKETS {
            g.transmit(now);
            since_transmit = 0;
        }
    }
}

/// Shutdown: every connection is reset (so the peer knows), the device is released
/// and every waiting task is woken to see the interface gone.
fn stop(shared: &Shared) {
    let mut wake = Vec::new();
    {
        let mut g = shared.lock();
        let handles: Vec<SocketHandle> =
            g.stack.sockets().iter().filter_map(|s| s.handle).collect();
        for h in handles {
            let _ = g.stack.abort(h);
        }
        g.transmit(shared.now());
        while g.stack.poll_event().is_some() {}
        g.closed = true;
        g.out.tx.close();
        g.drain_all_waiters(&mut wake);
    }
    for w in wake {
        w.wake();
    }
}
