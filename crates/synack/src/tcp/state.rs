//! The eleven connection states of RFC 9293 §3.3.2, and the table of transitions
//! between them.
//!
//! [`TRANSITIONS`] is the single source of truth for which changes of state the
//! code makes: `tcp::conn` asserts (in debug builds) that every change it
//! performs is listed, and `synack diagram` draws the state diagram from it.

use core::fmt;

/// A TCP connection state, in RFC 9293 order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl State {
    /// Every state, in RFC order.
    pub const ALL: [Self; 11] = [
        Self::Closed,
        Self::Listen,
        Self::SynSent,
        Self::SynReceived,
        Self::Established,
        Self::FinWait1,
        Self::FinWait2,
        Self::CloseWait,
        Self::Closing,
        Self::LastAck,
        Self::TimeWait,
    ];

    /// The name as RFC 9293 spells it (`SYN-RECEIVED`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Closed => "CLOSED",
            Self::Listen => "LISTEN",
            Self::SynSent => "SYN-SENT",
            Self::SynReceived => "SYN-RECEIVED",
            Self::Established => "ESTABLISHED",
            Self::FinWait1 => "FIN-WAIT-1",
            Self::FinWait2 => "FIN-WAIT-2",
            Self::CloseWait => "CLOSE-WAIT",
            Self::Closing => "CLOSING",
            Self::LastAck => "LAST-ACK",
            Self::TimeWait => "TIME-WAIT",
        }
    }

    /// RFC 9293 §3.3.2: the states after the handshake has completed.
    pub const fn is_synchronized(self) -> bool {
        !matches!(
            self,
            Self::Closed | Self::Listen | Self::SynSent | Self::SynReceived
        )
    }

    /// States in which we may still send new data.
    pub const fn can_send(self) -> bool {
        matches!(self, Self::Established | Self::CloseWait)
    }

    /// States in which the peer may still send us data.
    pub const fn can_receive(self) -> bool {
        matches!(self, Self::Established | Self::FinWait1 | Self::FinWait2)
    }

    /// States in which our FIN has been queued.
    pub const fn fin_queued(self) -> bool {
        matches!(
            self,
            Self::FinWait1 | Self::FinWait2 | Self::Closing | Self::LastAck | Self::TimeWait
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Why a state changed: the event of the RFC 9293 diagram ("rcv SYN", "CLOSE", ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The application opened actively (connect).
    AppConnect,
    /// The application opened passively (listen).
    AppListen,
    /// The application closed (close or shutdown of writing).
    AppClose,
    /// The application aborted, or closed with linger 0.
    AppAbort,
    /// A SYN arrived (at a listener, or in SYN-SENT: simultaneous open).
    RcvSyn,
    /// A SYN,ACK acknowledging our SYN arrived.
    RcvSynAck,
    /// An ACK acknowledging our SYN or FIN arrived.
    RcvAck,
    /// A FIN arrived.
    RcvFin,
    /// A FIN that also acknowledged our FIN arrived.
    RcvFinAck,
    /// A RST arrived.
    RcvRst,
    /// Retransmissions were exhausted or a user timeout fired.
    Timeout,
    /// The 2·MSL TIME-WAIT timer expired.
    TimeWaitExpired,
    /// The TIME-WAIT table was full, so the connection skipped TIME-WAIT.
    TimeWaitOverflow,
    /// A new connection reused this TIME-WAIT 4-tuple.
    TimeWaitReused,
    /// An ACK returned a valid SYN cookie: the connection is built from it.
    RcvCookieAck,
    /// The listener this connection belonged to was closed.
    ListenerClosed,
    /// An ICMP destination unreachable about our SYN (RFC 5461).
    RcvIcmp,
}

impl Cause {
    /// The label used on diagram edges and in traces.
    pub const fn label(self) -> &'static str {
        match self {
            Self::AppConnect => "app connect / snd SYN",
            Self::AppListen => "app listen",
            Self::AppClose => "app close / snd FIN",
            Self::AppAbort => "app abort / snd RST",
            Self::RcvSyn => "rcv SYN / snd SYN,ACK",
            Self::RcvSynAck => "rcv SYN,ACK / snd ACK",
            Self::RcvAck => "rcv ACK",
            Self::RcvFin => "rcv FIN / snd ACK",
            Self::RcvFinAck => "rcv FIN,ACK / snd ACK",
            Self::RcvRst => "rcv RST",
            Self::Timeout => "timeout",
            Self::TimeWaitExpired => "2MSL timeout",
            Self::TimeWaitOverflow => "TIME-WAIT table full",
            Self::TimeWaitReused => "TIME-WAIT reused",
            Self::RcvCookieAck => "rcv ACK with valid SYN cookie",
            Self::ListenerClosed => "listener closed",
            Self::RcvIcmp => "rcv ICMP unreachable",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Every change of state the implementation can make, with its cause.
///
/// RFC 9293 Figure 5 plus the edges the figure leaves implicit (RST and timeouts
/// from each state, TIME-WAIT overflow and reuse).
pub const TRANSITIONS: &[(State, State, Cause)] = {
    use Cause::*;
    use State::*;
    &[
        (Closed, Listen, AppListen),
        (Closed, SynSent, AppConnect),
        (Listen, SynReceived, RcvSyn),
        (Listen, Established, RcvCookieAck),
        (Listen, Closed, AppClose),
        (SynSent, SynReceived, RcvSyn),
        (SynSent, Established, RcvSynAck),
        (SynSent, Closed, AppClose),
        (SynSent, Closed, RcvRst),
        (SynSent, Closed, RcvIcmp),
        (SynSent, Closed, Timeout),
        (SynSent, Closed, AppAbort),
        (SynReceived, Established, RcvAck),
        (SynReceived, FinWait1, AppClose),
        (SynReceived, CloseWait, RcvFin),
        (SynReceived, Closed, RcvRst),
        (SynReceived, Closed, Timeout),
        (SynReceived, Closed, AppAbort),
        (SynReceived, Closed, ListenerClosed),
        (Established, FinWait1, AppClose),
        (Established, CloseWait, RcvFin),
        (Established, Closed, RcvRst),
        (Established, Closed, Timeout),
        (Established, Closed, AppAbort),
        (Established, Closed, ListenerClosed),
        (FinWait1, FinWait2, RcvAck),
        (FinWait1, Closing, RcvFin),
        (FinWait1, TimeWait, RcvFinAck),
        (FinWait1, Closed, RcvRst),
        (FinWait1, Closed, Timeout),
        (FinWait1, Closed, AppAbort),
        (FinWait2, TimeWait, RcvFin),
        (FinWait2, Closed, RcvRst),
        (FinWait2, Closed, Timeout),
        (FinWait2, Closed, AppAbort),
        (CloseWait, LastAck, AppClose),
        (CloseWait, Closed, RcvRst),
        (CloseWait, Closed, Timeout),
        (CloseWait, Closed, AppAbort),
        (CloseWait, Closed, ListenerClosed),
        (Closing, TimeWait, RcvAck),
        (Closing, Closed, RcvRst),
        (Closing, Closed, Timeout),
        (Closing, Closed, AppAbort),
        (LastAck, Closed, RcvAck),
        (LastAck, Closed, RcvRst),
        (LastAck, Closed, Timeout),
        (LastAck, Closed, AppAbort),
        (TimeWait, Closed, TimeWaitExpired),
        (TimeWait, Closed, RcvRst),
        (TimeWait, Closed, TimeWaitReused),
        (TimeWait, Closed, AppAbort),
        (TimeWait, Closed, TimeWaitOverflow),
    ]
};

/// Whether `from → to` because of `cause` is in [`TRANSITIONS`].
pub fn is_allowed(from: State, to: State, cause: Cause) -> bool {
    TRANSITIONS
        .iter()
        .any(|&(f, t, c)| f == from && t == to && c == cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rfc_spellings() {
        let names: alloc::vec::Vec<_> = State::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "CLOSED",
                "LISTEN",
                "SYN-SENT",
                "SYN-RECEIVED",
                "ESTABLISHED",
                "FIN-WAIT-1",
                "FIN-WAIT-2",
                "CLOSE-WAIT",
                "CLOSING",
                "LAST-ACK",
                "TIME-WAIT"
            ]
        );
    }

    #[test]
    fn every_state_is_reachable_and_every_non_closed_state_can_leave() {
        for s in State::ALL {
            if s != State::Closed {
                assert!(TRANSITIONS.iter().any(|t| t.1 == s), "{s} unreachable");
            }
            assert!(TRANSITIONS.iter().any(|t| t.0 == s), "{s} has no exit");
        }
    }

    #[test]
    fn table_has_no_duplicates() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            assert!(!TRANSITIONS[i + 1..].contains(a), "duplicate {a:?}");
        }
    }
}
