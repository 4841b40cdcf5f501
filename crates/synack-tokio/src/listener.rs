//! [`TcpListener`]: a listening synack socket.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use synack::{AcceptError, SocketHandle};

use crate::driver::{Dir, Shared};
use crate::error;
use crate::iface::Interface;
use crate::stream::TcpStream;

/// A listening socket on a synack [`Interface`], like [`tokio::net::TcpListener`].
///
/// Dropping it closes the listener: connections not yet accepted are reset.
pub struct TcpListener {
    shared: Arc<Shared>,
    handle: SocketHandle,
    local: SocketAddr,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("handle", &self.handle)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl TcpListener {
    /// Listens on `addr` (one of the interface's addresses, or the unspecified
    /// address of a family for all of them). `backlog` bounds the queue of
    /// connections waiting for [`TcpListener::accept`] (capped by `somaxconn`) and
    /// the queue of half-open ones (capped by `max_syn_backlog`).
    ///
    /// Binding does not wait for anything, so unlike `tokio::net` this is not async.
    ///
    /// # Errors
    /// `AddrInUse` if a listener holds the port, `AddrNotAvailable` for an address
    /// that is not synack's, `InvalidInput` for port 0 or a backlog of 0,
    /// `NotConnected` if the interface shut down.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f(iface: &synack_tokio::Interface) -> std::io::Result<()> {
    /// let l = synack_tokio::TcpListener::bind(iface, "10.7.0.2:80".parse().unwrap(), 128)?;
    /// let (stream, peer) = l.accept().await?;
    /// # Ok(()) }
    /// ```
    pub fn bind(iface: &Interface, addr: SocketAddr, backlog: usize) -> io::Result<Self> {
        let shared = Arc::clone(iface.shared());
        let handle = shared.call(|inner| {
            if inner.closed {
                return Err(error::interface_down());
            }
            inner.stack.listen(addr, backlog).map_err(error::listen)
        })?;
        Ok(Self {
            shared,
            handle,
            local: addr,
        })
    }

    /// A listener for a handle the stack already opened (the transparent one).
    pub(crate) fn from_handle(
        shared: Arc<Shared>,
        handle: SocketHandle,
        local: SocketAddr,
    ) -> Self {
        Self {
            shared,
            handle,
            local,
        }
    }

    /// The address this listener was bound to.
    ///
    /// # Errors
    /// Never; `io::Result` for symmetry with `tokio::net`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// Waits for a connection that completed its handshake and returns it with the
    /// peer's address.
    ///
    /// # Errors
    /// `NotConnected` once the interface shut down.
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped before it completes, no connection is
    /// taken from the queue; a later `accept` returns it.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection to accept; registers the task to be woken otherwise.
    ///
    /// # Errors
    /// As [`TcpListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let l = self.handle;
        self.shared.call(|inner| {
            if inner.closed {
                return Poll::Ready(Err(error::interface_down()));
            }
            loop {
                match inner.stack.accept(l) {
                    Ok(h) => {
                        // Unreachable in practice (a queued connection keeps its
                        // addresses even once reset); skip rather than panic.
                        let Some((local, peer)) = inner.stack.addrs(h) else {
                            let _ = inner.stack.close(h);
                            continue;
                        };
                        let s = TcpStream::new(Arc::clone(&self.shared), h, local, peer);
                        return Poll::Ready(Ok((s, peer)));
                    }
                    Err(AcceptError::WouldBlock) => {
                        inner.register(l, Dir::Read, cx.waker());
                        return Poll::Pending;
                    }
                    Err(AcceptError::NotListening | AcceptError::InvalidHandle) => {
                        return Poll::Ready(Err(error::not_connected()));
                    }
                }
            }
        })
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let h = self.handle;
        self.shared.call(|inner| {
            inner.forget(h);
            if !inner.closed {
                let _ = inner.stack.close(h);
            }
        });
    }
}
