//! The core's typed errors as `std::io::Error`, with the kinds `std::net` uses.

use std::io::{Error, ErrorKind};

use synack::{ConnectError, ConnectionError, ListenError};

/// How a connection ended abnormally, as `std::net` reports it.
pub(crate) fn connection(e: ConnectionError) -> Error {
    let kind = match e {
        ConnectionError::Reset => ErrorKind::ConnectionReset,
        ConnectionError::Refused => ErrorKind::ConnectionRefused,
        ConnectionError::TimedOut => ErrorKind::TimedOut,
        ConnectionError::Aborted => ErrorKind::ConnectionAborted,
        ConnectionError::HostUnreachable => ErrorKind::HostUnreachable,
        ConnectionError::NetworkUnreachable => ErrorKind::NetworkUnreachable,
    };
    Error::new(kind, e)
}

pub(crate) fn listen(e: ListenError) -> Error {
    let kind = match e {
        ListenError::AddrInUse => ErrorKind::AddrInUse,
        ListenError::AddrNotAvailable => ErrorKind::AddrNotAvailable,
        ListenError::InvalidArgument => ErrorKind::InvalidInput,
    };
    Error::new(kind, e)
}

pub(crate) fn connect(e: ConnectError) -> Error {
    let kind = match e {
        // Linux: EADDRNOTAVAIL when the ephemeral range is exhausted.
        ConnectError::NoFreePorts | ConnectError::AddrNotAvailable => ErrorKind::AddrNotAvailable,
        ConnectError::AddrInUse => ErrorKind::AddrInUse,
        ConnectError::InvalidArgument => ErrorKind::InvalidInput,
        ConnectError::TooManyConnections => ErrorKind::OutOfMemory,
    };
    Error::new(kind, e)
}

/// The interface was dropped (or its device failed) and took its sockets with it.
pub(crate) fn interface_down() -> Error {
    Error::new(ErrorKind::NotConnected, "synack interface is shut down")
}

pub(crate) fn not_connected() -> Error {
    Error::new(ErrorKind::NotConnected, "socket is not connected")
}

pub(crate) fn broken_pipe() -> Error {
    Error::new(ErrorKind::BrokenPipe, "socket is shut down for writing")
}
