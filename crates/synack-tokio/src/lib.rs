//! synack on a real network: a Linux TUN device driven by a tokio task, behind an
//! API shaped like [`tokio::net`].
//!
//! An [`Interface`] creates a TUN device, gives the kernel side of it the first
//! host address of the configured prefix (`10.7.0.2/24` → the kernel is `10.7.0.1`,
//! synack is `10.7.0.2`), and runs a [`synack::Stack`] on a driver task with the
//! real clock and OS randomness. [`TcpListener`] and [`TcpStream`] are that stack's
//! sockets: the stream implements [`tokio::io::AsyncRead`] and
//! [`tokio::io::AsyncWrite`], errors are [`std::io::Error`]s with the kinds
//! `std::net` uses ([`std::io::ErrorKind::ConnectionRefused`], `ConnectionReset`,
//! `TimedOut`, `AddrInUse`, `AddrNotAvailable`).
//!
//! Around the stack:
//! - ICMP and ICMPv6 echo requests are answered (so `ping` works); the core
//!   itself speaks only TCP;
//! - packet I/O is batched, and with [`InterfaceBuilder::offload`] uses TUN offload
//!   (TSO/GSO super-packets both ways);
//! - an impairment layer ([`Impairment`]: loss, delay, jitter, reordering,
//!   duplication, corruption, rate) sits between the device and the stack, with
//!   the simulator's knobs ([`LinkConfig`]), since a TUN device has no netem;
//! - a control socket ([`control`]) serves the socket table to `synack ss`;
//! - transparent mode ([`InterfaceBuilder::transparent`], [`TransparentListener`])
//!   accepts connections to any address routed into the device and reports their
//!   original destination (tun2socks, VPNs; `examples/relay.rs`);
//! - [`apps`] has echo, discard, chargen and an HTTP server (hyper) to run on it.
//!
//! # Examples
//! ```no_run
//! use synack_tokio::{Interface, TcpListener};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # async fn run() -> std::io::Result<()> {
//! // Needs CAP_NET_ADMIN: creates the TUN device `synack0`.
//! let iface = Interface::builder()
//!     .name("synack0")
//!     .ipv4("10.7.0.2".parse().unwrap(), 24)
//!     .build()
//!     .await?;
//! let listener = TcpListener::bind(&iface, "10.7.0.2:7".parse().unwrap(), 128)?;
//! loop {
//!     let (mut stream, peer) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let mut buf = vec![0; 16 * 1024];
//!         while let Ok(n @ 1..) = stream.read(&mut buf).await {
//!             if stream.write_all(&buf[..n]).await.is_err() {
//!                 break;
//!             }
//!         }
//!         let _ = peer;
//!     });
//! }
//! # }
//! ```
//!
//! # Threads and locking
//!
//! The stack lives behind one mutex. The driver task takes it once per batch of
//! received packets; socket calls take it for the duration of one stack call and
//! transmit what that call produced themselves, so an application write reaches
//! the TUN device without waiting for the driver.

pub mod apps;
pub mod control;
mod driver;
mod error;
mod icmp;
mod iface;
mod impair;
mod io;
mod listener;
mod stream;
mod transparent;

pub use iface::{Interface, InterfaceBuilder, InterfaceStats, RUNTIME_PACING_LAG};
pub use impair::Impairment;
pub use listener::TcpListener;
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, TcpStream, WriteHalf};
pub use synack::{Counters, SocketInfo, State, TcpConfig, TcpInfo};
pub use synack_sim::{LinkConfig, LinkStats, Loss};
pub use transparent::TransparentListener;
