//! [`TcpStream`]: one synack connection as a tokio byte stream, and its halves.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use synack::{RecvError, SendError, Shutdown, SocketHandle, State, TcpInfo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::driver::{Dir, Shared};
use crate::error;
use crate::iface::Interface;

/// A TCP connection on a synack [`Interface`], like [`tokio::net::TcpStream`].
///
/// Reading and writing go through [`AsyncRead`] and [`AsyncWrite`] (use
/// [`tokio::io::AsyncReadExt`] / [`tokio::io::AsyncWriteExt`]). `poll_flush` has
/// nothing to do (written bytes are already in the stack's send buffer);
/// `poll_shutdown` shuts down writing: a FIN follows the queued data.
///
/// Dropping the stream closes it like `close(2)`: gracefully (FIN after the queued
/// data, the stack finishes the close in the background), or with RST when unread
/// data is pending or linger is zero (see [`TcpStream::set_linger`]).
///
/// # Cancel safety
///
/// As with tokio's streams: [`tokio::io::AsyncReadExt::read`] is cancel safe (if
/// it has not completed, no data was taken), [`tokio::io::AsyncWriteExt::write`]
/// is too (if it has not completed, nothing was queued), while `read_exact`,
/// `write_all` and the like are not (part of the data may have moved).
///
/// # Examples
/// ```no_run
/// use synack_tokio::{Interface, TcpStream};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # async fn f(iface: &Interface) -> std::io::Result<()> {
/// let mut s = TcpStream::connect(iface, "10.7.0.1:80".parse().unwrap()).await?;
/// s.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
/// s.shutdown().await?; // FIN: we are done sending
/// let mut page = Vec::new();
/// s.read_to_end(&mut page).await?;
/// # Ok(()) }
/// ```
pub struct TcpStream {
    shared: Arc<Shared>,
    handle: SocketHandle,
    local: SocketAddr,
    peer: SocketAddr,
    write_shut: AtomicBool,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("handle", &self.handle)
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// Aborts a connection attempt whose future was dropped or failed.
struct ConnectGuard<'a> {
    shared: &'a Arc<Shared>,
    handle: Option<SocketHandle>,
}

impl Drop for ConnectGuard<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.handle {
            self.shared.call(|inner| {
                inner.forget(h);
                if !inner.closed {
                    let _ = inner.stack.abort(h);
                }
            });
        }
    }
}

impl TcpStream {
    /// Opens a connection to `addr` from synack's address of the same family and an
    /// ephemeral port, and waits for the handshake.
    ///
    /// # Errors
    /// `ConnectionRefused` (RST in reply to our SYN), `TimedOut` (SYN retries
    /// exhausted, about two minutes with the default `syn_retries`),
    /// `AddrNotAvailable` (no address of that family, or no free port),
    /// `InvalidInput` (port 0, unspecified or multicast `addr`), `NotConnected`
    /// (the interface shut down).
    ///
    /// # Cancel safety
    /// Not cancel safe in the sense that progress is lost: dropping the future
    /// aborts the attempt (nothing is sent if the handshake has not completed; a RST
    /// if it just did).
    pub async fn connect(iface: &Interface, addr: SocketAddr) -> io::Result<Self> {
        Self::connect_from(iface, None, addr).await
    }

    /// Like [`TcpStream::connect`] from a chosen local address and/or port (port 0:
    /// ephemeral).
    ///
    /// # Errors
    /// As [`TcpStream::connect`]; also `AddrInUse` when the 4-tuple is taken.
    ///
    /// # Cancel safety
    /// As [`TcpStream::connect`].
    pub async fn connect_from(
        iface: &Interface,
        local: Option<SocketAddr>,
        addr: SocketAddr,
    ) -> io::Result<Self> {
        let shared = iface.shared();
        let h = shared.call(|inner| {
            if inner.closed {
                return Err(error::interface_down());
            }
            inner.stack.connect(addr, local).map_err(error::connect)
        })?;
        let mut guard = ConnectGuard {
            shared,
            handle: Some(h),
        };
        let local = poll_fn(|cx| {
            shared.call(|inner| {
                if inner.closed {
                    return Poll::Ready(Err(error::interface_down()));
                }
                if let Some(e) = inner.stack.error(h) {
                    return Poll::Ready(Err(error::connection(e)));
                }
                match inner.stack.state(h) {
                    Some(State::SynSent | State::SynReceived) => {
                        inner.register(h, Dir::Write, cx.waker());
                        Poll::Pending
                    }
                    Some(State::Closed) | None => Poll::Ready(Err(error::not_connected())),
                    Some(_) => match inner.stack.addrs(h) {
                        Some((local, _)) => Poll::Ready(Ok(local)),
                        None => Poll::Ready(Err(error::not_connected())),
                    },
                }
            })
        })
        .await?;
        guard.handle = None;
        Ok(Self::new(Arc::clone(shared), h, local, addr))
    }

    pub(crate) fn new(
        shared: Arc<Shared>,
        handle: SocketHandle,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Self {
        Self {
            shared,
            handle,
            local,
            peer,
            write_shut: AtomicBool::new(false),
        }
    }

    /// The local address.
    ///
    /// # Errors
    /// Never; `io::Result` for symmetry with `tokio::net`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// The remote address.
    ///
    /// # Errors
    /// Never; `io::Result` for symmetry with `tokio::net`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }

    /// Sets `TCP_NODELAY`: true sends small writes at once instead of waiting
    /// (Nagle's algorithm, RFC 1122 §4.2.3.4).
    ///
    /// # Errors
    /// `NotConnected` if the interface shut down.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.option(|s, h| s.set_nodelay(h, nodelay))
    }

    /// Sets `SO_LINGER`. `Some(Duration::ZERO)` makes dropping the stream send RST
    /// instead of FIN; other values behave like `None` (close in the background).
    ///
    /// # Errors
    /// `NotConnected` if the interface shut down.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.option(|s, h| s.set_linger(h, linger))
    }

    fn option(
        &self,
        f: impl FnOnce(&mut synack::Stack, SocketHandle) -> Result<(), synack::SocketError>,
    ) -> io::Result<()> {
        self.shared.call(|inner| {
            if inner.closed {
                return Err(error::interface_down());
            }
            f(&mut inner.stack, self.handle)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
        })
    }

    /// `TCP_INFO`-style details: state, RTT, congestion window, counters. `None`
    /// once the interface shut down.
    pub fn info(&self) -> Option<TcpInfo> {
        self.shared.lock().stack.info(self.handle)
    }

    /// The connection's state, as the stack sees it (`None` once the interface shut
    /// down).
    pub fn state(&self) -> Option<State> {
        self.shared.lock().stack.state(self.handle)
    }

    /// Why the connection failed, if it did (`ConnectionReset`, `TimedOut`, ...).
    pub fn take_error(&self) -> Option<io::Error> {
        self.shared
            .lock()
            .stack
            .error(self.handle)
            .map(error::connection)
    }

    /// Aborts the connection now: RST, queued data discarded (like closing with
    /// linger zero).
    pub fn abort(self) {
        let _ = self.set_linger(Some(Duration::ZERO));
    }

    /// Borrows the stream as a read half and a write half usable from two tasks
    /// of the same scope.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Splits the stream into owned halves that can move to different tasks.
    /// Dropping the write half shuts down writing (FIN); the connection is closed
    /// when both are dropped.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let s = Arc::new(self);
        (
            OwnedReadHalf(Arc::clone(&s)),
            OwnedWriteHalf {
                stream: s,
                shutdown_on_drop: true,
            },
        )
    }

    pub(crate) fn poll_read_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let h = self.handle;
        self.shared.call(|inner| {
            if inner.closed {
                return Poll::Ready(Err(error::interface_down()));
            }
            let dst = buf.initialize_unfilled();
            match inner.stack.recv(h, dst) {
                Ok(n) => {
                    buf.advance(n);
                    Poll::Ready(Ok(()))
                }
                Err(RecvError::WouldBlock) => {
                    inner.register(h, Dir::Read, cx.waker());
                    Poll::Pending
                }
                Err(RecvError::Connection) => Poll::Ready(Err(inner.conn_error(h))),
                Err(RecvError::NotConnected | RecvError::InvalidHandle) => {
                    Poll::Ready(Err(error::not_connected()))
                }
            }
        })
    }

    pub(crate) fn poll_write_priv(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let h = self.handle;
        self.shared.call(|inner| {
            if inner.closed {
                return Poll::Ready(Err(error::interface_down()));
            }
            match inner.stack.send(h, data) {
                Ok(n) => Poll::Ready(Ok(n)),
                Err(SendError::WouldBlock) => {
                    inner.register(h, Dir::Write, cx.waker());
                    Poll::Pending
                }
                Err(SendError::Connection) => Poll::Ready(Err(inner.conn_error(h))),
                Err(SendError::Closed) => Poll::Ready(Err(match inner.stack.error(h) {
                    Some(e) => error::connection(e),
                    None => error::broken_pipe(),
                })),
                Err(SendError::NotConnected | SendError::InvalidHandle) => {
                    Poll::Ready(Err(error::not_connected()))
                }
            }
        })
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        if self.write_shut.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let h = self.handle;
        self.shared.call(|inner| {
            if inner.closed {
                return Err(error::interface_down());
            }
            match inner.stack.shutdown(h, Shutdown::Write) {
                Ok(()) => Ok(()),
                Err(_) => Err(error::not_connected()),
            }
        })
    }
}

impl Drop for TcpStream {
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

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

/// The read half of [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a TcpStream);

/// The write half of [`TcpStream::split`]; `poll_shutdown` sends FIN.
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a TcpStream);

/// The read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf(Arc<TcpStream>);

/// The write half of [`TcpStream::into_split`]. Dropping it shuts down writing.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Arc<TcpStream>,
    shutdown_on_drop: bool,
}

/// The halves given to [`OwnedReadHalf::reunite`] came from different streams.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    /// Puts the halves back together.
    ///
    /// # Errors
    /// [`ReuniteError`] (giving both back) if they come from different streams.
    pub fn reunite(self, mut other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Arc::ptr_eq(&self.0, &other.stream) {
            return Err(ReuniteError(self, other));
        }
        other.shutdown_on_drop = false;
        let s = Arc::clone(&other.stream);
        drop(self);
        drop(other);
        // Both halves are gone: this is the last reference.
        Arc::try_unwrap(s).map_err(|_| unreachable!("the halves held the only other references"))
    }

    /// The remote address.
    ///
    /// # Errors
    /// Never.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

impl OwnedWriteHalf {
    /// The remote address.
    ///
    /// # Errors
    /// Never.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.stream.shutdown_write();
        }
    }
}

macro_rules! read_half {
    ($t:ty, $s:ident => $e:expr) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let $s = self.get_mut();
                $e.poll_read_priv(cx, buf)
            }
        }
    };
}

macro_rules! write_half {
    ($t:ty, $s:ident => $e:expr) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $s = self.get_mut();
                $e.poll_write_priv(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $s = self.get_mut();
                Poll::Ready($e.shutdown_write())
            }
        }
    };
}

read_half!(ReadHalf<'_>, s => s.0);
write_half!(WriteHalf<'_>, s => s.0);
read_half!(OwnedReadHalf, s => s.0);
write_half!(OwnedWriteHalf, s => s.stream);
