//! Typed errors, one enum per call, and the ways a connection can end badly.

use core::fmt;

macro_rules! error_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $msg:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var,)* }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $(Self::$var => $msg,)* })
            }
        }
        #[cfg(feature = "std")]
        impl std::error::Error for $name {}
    };
}

error_enum! {
    /// How an established or opening connection ended abnormally.
    ConnectionError {
        /// The peer sent RST on a synchronized connection.
        Reset => "connection reset by peer",
        /// The peer answered our SYN with RST.
        Refused => "connection refused",
        /// Retransmissions were exhausted.
        TimedOut => "connection timed out",
        /// The application aborted the connection.
        Aborted => "connection aborted",
        /// An ICMP host unreachable (or administratively prohibited) ended the
        /// connection attempt, or was the last word before a timeout.
        HostUnreachable => "host unreachable",
        /// An ICMP net unreachable ended the connection attempt, or was the last
        /// word before a timeout.
        NetworkUnreachable => "network unreachable",
    }
}

error_enum! {
    /// Errors of [`crate::Stack::listen`].
    ListenError {
        /// Another socket is bound to this address.
        AddrInUse => "address in use",
        /// The address is not one of the stack's.
        AddrNotAvailable => "address not available",
        /// Port 0 or a backlog of 0.
        InvalidArgument => "invalid argument",
    }
}

error_enum! {
    /// Errors of [`crate::Stack::connect`].
    ConnectError {
        /// No ephemeral port is free for this destination.
        NoFreePorts => "no free ephemeral port",
        /// The requested local address/port is in use for this destination.
        AddrInUse => "address in use",
        /// The local address is not one of the stack's, or the families differ.
        AddrNotAvailable => "address not available",
        /// Port 0 or an unspecified/multicast remote address.
        InvalidArgument => "invalid argument",
        /// The stack holds `max_connections` connections already.
        TooManyConnections => "too many connections",
    }
}

error_enum! {
    /// Errors of [`crate::Stack::accept`].
    AcceptError {
        /// No completed connection is waiting.
        WouldBlock => "no connection ready",
        /// The handle is not a listening socket.
        NotListening => "not a listening socket",
        /// The handle is stale or was never issued.
        InvalidHandle => "invalid socket handle",
    }
}

error_enum! {
    /// Errors of [`crate::Stack::send`].
    SendError {
        /// The send buffer is full; retry after the peer acknowledges data.
        WouldBlock => "send buffer full",
        /// The connection is not yet established (data may not be queued before connect completes).
        NotConnected => "not connected",
        /// Writing was shut down (shutdown or close) or the peer reset.
        Closed => "socket closed for writing",
        /// The connection ended abnormally.
        Connection => "connection error",
        /// The handle is stale or was never issued, or is a listener.
        InvalidHandle => "invalid socket handle",
    }
}

error_enum! {
    /// Errors of [`crate::Stack::recv`]. End of stream is `Ok(0)`, not an error.
    RecvError {
        /// No data is queued yet and the peer has not closed.
        WouldBlock => "no data ready",
        /// The connection is not yet established.
        NotConnected => "not connected",
        /// The connection ended abnormally (see [`crate::Stack::error`]).
        Connection => "connection error",
        /// The handle is stale or was never issued, or is a listener.
        InvalidHandle => "invalid socket handle",
    }
}

error_enum! {
    /// Errors of calls on a socket handle: shutdown, close, abort, options.
    SocketError {
        /// The handle is stale or was never issued.
        InvalidHandle => "invalid socket handle",
        /// The call does not apply to this kind of socket or state.
        InvalidState => "invalid in this state",
        /// An option value out of range.
        InvalidArgument => "invalid argument",
    }
}
