//! What the stack tells its user: events (state changes, ready connections,
//! errors) and counters (every drop reason and every kind of segment).

use alloc::collections::VecDeque;
use core::fmt;
use core::net::SocketAddr;

use crate::error::ConnectionError;
use crate::stack::SocketHandle;
use crate::tcp::state::{Cause, State};
use crate::time::Instant;
use crate::wire::ParseError;

/// Something that happened in the stack. Drained with [`crate::Stack::poll_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A connection changed state.
    StateChanged {
        /// When.
        at: Instant,
        /// The socket, if it still has one (a compact TIME-WAIT entry has none).
        handle: Option<SocketHandle>,
        /// Local address.
        local: SocketAddr,
        /// Remote address (None for a listener).
        remote: Option<SocketAddr>,
        /// Old state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        cause: Cause,
    },
    /// A connection completed its handshake and waits in `listener`'s accept queue.
    Incoming {
        /// When.
        at: Instant,
        /// The listener to call [`crate::Stack::accept`] on.
        listener: SocketHandle,
    },
    /// A connection ended abnormally.
    Error {
        /// When.
        at: Instant,
        /// The socket.
        handle: SocketHandle,
        /// What happened.
        error: ConnectionError,
    },
}

/// The events waiting for the application, at most `TcpConfig::max_events`.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    q: VecDeque<Event>,
    cap: usize,
}

impl EventQueue {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            q: VecDeque::new(),
            cap,
        }
    }

    /// Queues `ev`, or counts it dropped when the queue is full.
    pub(crate) fn push(&mut self, ev: Event, counters: &mut Counters) {
        if self.q.len() < self.cap {
            self.q.push_back(ev);
        } else {
            counters.events_dropped += 1;
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        let ev = self.q.pop_front();
        if self.q.is_empty() {
            // Back to the start of the allocation: a queue drained after every
            // batch then reuses the same few (cached) slots instead of walking
            // the whole ring, whose capacity is that of the largest burst (88
            // bytes per event; a 1,024-connection burst left ~180 KiB that the
            // ring crossed line by line, each a cache miss once it wrapped).
            self.q.clear();
        }
        ev
    }
}

/// Formats a connection as `LOCAL-REMOTE` (`10.0.0.1:80-10.0.0.2:40000`).
#[derive(Clone, Copy, Debug)]
pub struct ConnName(pub SocketAddr, pub Option<SocketAddr>);

impl fmt::Display for ConnName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(r) => write!(f, "{}-{}", self.0, r),
            None => write!(f, "{}-*", self.0),
        }
    }
}

macro_rules! counters {
    ($($(#[$m:meta])* $name:ident,)*) => {
        /// Counters of everything the stack did and every reason it dropped something.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Counters {
            /// Packets dropped by the parser, indexed by [`ParseError::index`].
            pub parse_drops: [u64; ParseError::ALL.len()],
            $($(#[$m])* pub $name: u64,)*
        }

        impl Counters {
            /// Every named counter with its value, parse drops included, in a fixed order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                let named = [$((stringify!($name), self.$name),)*];
                ParseError::ALL
                    .iter()
                    .map(move |e| (e.as_str(), self.parse_drops[e.index()]))
                    .chain(named)
            }
        }
    };
}

counters! {
    /// IP packets handed to the stack.
    packets_in,
    /// IP packets the stack emitted.
    packets_out,
    /// Valid segments processed.
    segments_in,
    /// Of those, in-order data segments taken by header prediction (the fast path
    /// of `Tcb::input_synchronized`: next expected data, nothing to acknowledge,
    /// window unchanged).
    segments_predicted,
    /// Of those, segments the stack took in one step (its receive fast path,
    /// `Stack::input_fast`: predicted, and their payload goes straight into
    /// the receive queue; `TcpConfig::header_prediction`).
    segments_in_fast,
    /// Of those, segments whose payload stayed in the packet's buffer and was
    /// read there (`Stack::handle_packet_owned`).
    segments_kept,
    /// Segments emitted.
    segments_out,
    /// Of those, full-sized data segments written by the sender's fast path
    /// (`TcpConfig::transmit_fast_path`).
    segments_out_fast,
    /// Packets whose destination is not one of our addresses.
    drop_not_our_address,
    /// Segments for no socket (answered with RST unless they carried RST).
    drop_no_socket,
    /// Segments failing the RFC 9293 §3.10.7.4 acceptability test.
    drop_out_of_window,
    /// Segments dropped by PAWS (RFC 7323 §5).
    drop_paws,
    /// Segments whose ACK acknowledges nothing we sent.
    drop_bad_ack,
    /// Segments without ACK in synchronized states.
    drop_no_ack,
    /// SYNs dropped because a listener's SYN queue was full.
    drop_syn_queue_full,
    /// Final ACKs dropped because a listener's accept queue was full.
    drop_accept_queue_full,
    /// Segments ignored in LISTEN (RST, or neither SYN nor ACK).
    drop_listen_ignored,
    /// Data that arrived after the application shut down reading.
    drop_after_shutdown,
    /// Outgoing packets that did not fit the caller's buffer.
    drop_tx_buffer_small,
    /// Control segments (RST replies, ACKs from TIME-WAIT) dropped because the
    /// caller let the control queue fill without draining `poll_transmit`.
    drop_ctrl_queue_full,
    /// SYN,ACKs sent with a SYN cookie instead of a half-open connection.
    syncookies_sent,
    /// ACKs that returned a valid cookie and became connections.
    syncookies_ok,
    /// ACKs to a listener that did not carry a valid cookie while cookies were in use.
    syncookies_failed,
    /// RSTs sent.
    rst_sent,
    /// RSTs received and accepted.
    rst_received,
    /// RSTs ignored (out of window).
    rst_ignored,
    /// RFC 5961 challenge ACKs sent.
    challenge_acks,
    /// Challenge ACKs suppressed by the rate limit.
    challenge_acks_suppressed,
    /// Connections opened actively (connect).
    active_opens,
    /// Connections opened passively (SYN to a listener).
    passive_opens,
    /// Connections that completed the handshake.
    established,
    /// Connect attempts refused by RST.
    refused,
    /// Retransmitted segments (any cause).
    retransmits,
    /// Retransmission timeouts.
    rto_expirations,
        /// Fast retransmits (entering recovery, and NewReno partial-ACK retransmits).
    fast_retransmits,
    /// Loss-recovery episodes entered (three duplicate ACKs or SACK loss detection).
    recoveries,
    /// Holes retransmitted by SACK-based recovery (RFC 6675).
    sack_retransmits,
    /// Losses detected by RACK's timing (RFC 8985).
    rack_losses,
    /// Tail loss probes sent (RFC 8985 §7).
    tlp_probes,
    /// Recoveries undone because their losses proved to be reordering.
    spurious_undos,
    /// Retransmission timeouts F-RTO found spurious and undid (RFC 5682).
    spurious_rtos,
    /// D-SACK blocks received (a retransmission was unnecessary, RFC 2883).
    dsacks_received,
    /// SACK blocks outside the data sent, ignored.
    bad_sack_blocks,
    /// Zero-window probes sent.
    window_probes,
        /// Connections that timed out (any cause).
    timeouts,
    /// Keepalive probes sent.
    keepalive_probes,
    /// Connections declared dead by keepalive.
    keepalive_timeouts,
    /// Connections ended by the user timeout.
    user_timeouts,
    /// Connections ended because zero-window probes went unanswered (or an orphan
    /// probed too long).
    persist_timeouts,
    /// Orphaned connections closed after waiting too long in FIN-WAIT-2.
    fin_wait_2_timeouts,
    /// SYNs dropped because the stack holds `max_connections` connections.
    drop_conn_limit,
    /// SYNs dropped because `max_half_open` was reached and cookies are off.
    drop_half_open_limit,
    /// SYN,ACK cookies sent because the global half-open bound was reached.
    syncookies_half_open_limit,
    /// Connect calls refused: `max_connections` reached.
    connect_conn_limit,
    /// Connect calls refused: no free ephemeral port.
    connect_no_ports,
    /// Closed connections reset at once because `max_orphans` orphans existed.
    orphans_reset,
    /// Times buffered bytes rose above `mem_pressure`.
    memory_pressure,
    /// Data segments dropped because buffered bytes were above `mem_max`.
    drop_memory,
    /// Send calls refused because buffered bytes were above `mem_max`.
    send_refused_memory,
    /// Connections that entered TIME-WAIT.
    time_wait_entered,
    /// Connections that skipped TIME-WAIT because the table was full.
    time_wait_overflow,
    /// TIME-WAIT entries whose timer was restarted by a retransmitted FIN.
    time_wait_restarted,
    /// TIME-WAIT 4-tuples reused by a new connection.
    time_wait_reused,
    /// Out-of-order segments dropped because the receiver already held as many
    /// separate ranges as it keeps (one per MSS of receive buffer, at least 1,024).
    drop_ooo_ranges,
    /// Events dropped because `max_events` were waiting to be polled.
    events_dropped,
    /// Duplicate ACKs received.
    dup_acks,
    /// Bytes the application queued for sending.
    bytes_sent,
    /// Bytes delivered to the application.
    bytes_received,
    /// ICMP/ICMPv6 destination-unreachable errors matched to a connection
    /// (RFC 5927 checks passed) and recorded as its soft error.
    icmp_unreachable,
    /// Connection attempts (SYN-SENT) ended by an ICMP destination unreachable.
    icmp_connect_aborts,
    /// Fragmentation-needed / packet-too-big messages that lowered a path MSS.
    icmp_mtu_lowered,
    /// Fragmentation-needed / packet-too-big messages that did not lower the MSS
    /// (already at or below it).
    icmp_mtu_ignored,
    /// ICMP errors quoting a segment of no connection of ours.
    drop_icmp_no_connection,
    /// ICMP errors whose quoted sequence number is outside SND.UNA..SND.NXT
    /// (RFC 5927 §4.1: likely forged or stale).
    drop_icmp_out_of_window,
    /// ICMP packets that failed to parse (bad checksum, truncated quote...).
    drop_icmp_malformed,
    /// Valid ICMP messages that are not errors about TCP (echo, time exceeded...).
    icmp_ignored,
}

/// Counters, besides the parse drops and every `drop_*`, that record a limit
/// reached or input refused: what `drops_and_limits` reports.
const LIMIT_COUNTERS: [&str; 18] = [
    "syncookies_failed",
    "syncookies_half_open_limit",
    "rst_ignored",
    "challenge_acks_suppressed",
    "bad_sack_blocks",
    "time_wait_overflow",
    "events_dropped",
    "connect_conn_limit",
    "connect_no_ports",
    "orphans_reset",
    "memory_pressure",
    "send_refused_memory",
    "timeouts",
    "user_timeouts",
    "keepalive_timeouts",
    "persist_timeouts",
    "fin_wait_2_timeouts",
    "refused",
];

impl Counters {
    /// Every drop reason (parse drops, `drop_*`) and every limit counter
    /// (cookies failed, challenge ACKs suppressed, orphans reset, memory pressure,
    /// timeouts, ...), with its value, in [`Counters::iter`]'s order.
    pub fn drops_and_limits(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.iter().enumerate().filter_map(|(i, (name, v))| {
            let parse = i < ParseError::ALL.len();
            (parse || name.starts_with("drop_") || LIMIT_COUNTERS.contains(&name))
                .then_some((name, v))
        })
    }

    /// Packets dropped by the parser for `reason`.
    pub fn parse_drop(&self, reason: ParseError) -> u64 {
        self.parse_drops[reason.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: u64) -> Event {
        Event::StateChanged {
            at: Instant::from_micros(at),
            handle: None,
            local: SocketAddr::from(([10, 0, 0, 1], 80)),
            remote: None,
            from: State::Listen,
            to: State::Closed,
            cause: Cause::AppClose,
        }
    }

    /// A drained queue starts again at the front of its allocation, so a queue
    /// drained after each batch keeps using the same slots.
    #[test]
    fn a_drained_queue_reuses_its_first_slots() {
        let mut q = EventQueue::new(16);
        let mut c = Counters::default();
        for i in 0..8 {
            q.push(ev(i), &mut c);
        }
        let front = q.q.as_slices().0.as_ptr();
        for round in 0..20 {
            q.push(ev(round), &mut c);
            while q.pop().is_some() {}
            q.push(ev(round), &mut c);
            assert_eq!(q.q.as_slices().0.as_ptr(), front, "round {round}");
            assert_eq!(q.pop(), Some(ev(round)));
        }
        assert_eq!(c.events_dropped, 0);
    }

    #[test]
    fn a_full_queue_counts_drops_and_keeps_order() {
        let mut q = EventQueue::new(2);
        let mut c = Counters::default();
        for i in 0..3 {
            q.push(ev(i), &mut c);
        }
        assert_eq!(c.events_dropped, 1);
        assert_eq!(q.pop(), Some(ev(0)));
        q.push(ev(5), &mut c);
        assert_eq!(q.pop(), Some(ev(1)));
        assert_eq!(q.pop(), Some(ev(5)));
        assert_eq!(q.pop(), None);
    }
}
