//! [`TransparentListener`]: accepts connections to any address routed into the
//! TUN device (the stack's catch-all listener, [`synack::Stack::listen_any`]).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::error;
use crate::iface::Interface;
use crate::listener::TcpListener;
use crate::stream::TcpStream;

/// Accepts every connection that reaches the interface for an address and port
/// no ordinary [`TcpListener`] holds, whatever the destination address — synack
/// answers as that address. Each accepted stream's
/// [`local_addr`](TcpStream::local_addr) is the **original destination** the
/// peer connected to, which is what a tun2socks-style proxy or a VPN endpoint
/// needs to relay it (see `examples/relay.rs`).
///
/// Needs an interface built with [`crate::InterfaceBuilder::transparent`]; the
/// prefixes to capture must be routed into the device (`ip route add ... dev
/// NAME`). Half-open connections are capped by the backlog (beyond it, SYN
/// cookies or drops), so a SYN flood to many addresses holds bounded state.
/// Dropping the listener leaves transparent mode; queued connections are reset.
pub struct TransparentListener {
    inner: TcpListener,
}

impl fmt::Debug for TransparentListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransparentListener")
            .field("inner", &self.inner)
            .finish()
    }
}

impl TransparentListener {
    /// Opens the catch-all listener.
    ///
    /// # Errors
    /// `InvalidInput` if the interface is not in transparent mode or the backlog is
    /// 0, `AddrInUse` if a transparent listener is already open, `NotConnected`
    /// if the interface shut down.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// use synack_tokio::{Interface, TransparentListener};
    /// let iface = Interface::builder()
    ///     .name("proxy0")
    ///     .ipv4("10.7.0.2".parse().unwrap(), 24)
    ///     .transparent(true)
    ///     .build()
    ///     .await?;
    /// // (and `ip route add 203.0.113.0/24 dev proxy0`)
    /// let l = TransparentListener::bind(&iface, 1024)?;
    /// let (stream, peer, original_dst) = l.accept().await?;
    /// # Ok(()) }
    /// ```
    pub fn bind(iface: &Interface, backlog: usize) -> io::Result<Self> {
        if !iface.transparent() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the interface is not in transparent mode (InterfaceBuilder::transparent)",
            ));
        }
        let shared = Arc::clone(iface.shared());
        let handle = shared.call(|inner| {
            if inner.closed {
                return Err(error::interface_down());
            }
            inner.stack.listen_any(backlog).map_err(error::listen)
        })?;
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        Ok(Self {
            inner: TcpListener::from_handle(shared, handle, any),
        })
    }

    /// Waits for a connection and returns it with the peer's address and the
    /// original destination (also the stream's `local_addr`).
    ///
    /// # Errors
    /// `NotConnected` once the interface shut down.
    ///
    /// # Cancel safety
    /// Cancel safe, as [`TcpListener::accept`].
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr, SocketAddr)> {
        let (s, peer) = self.inner.accept().await?;
        let original = s.local_addr()?;
        Ok((s, peer, original))
    }
}
