//! synack: a sans-IO TCP/IP stack.
//!
//! The core never asks the world anything: time comes in as [`Instant`], randomness
//! as a seed in [`StackConfig`], packets as byte slices through
//! [`Stack::handle_packet`] (or in buffers the stack may keep, so that a large
//! payload is read where it arrived: [`Stack::handle_packet_owned`]), and leave
//! through [`Stack::poll_transmit`]. See [`Stack`] for the calling contract.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod tcp;
pub mod time;
pub mod wire;

pub use tcp::seq::SeqNum;
pub use time::Instant;

pub mod config;
pub mod error;
pub mod event;
mod prefetch;
pub mod stack;

pub use config::{ConfigError, Keepalive, StackConfig, SynCookies, TcpConfig};
pub use error::{
    AcceptError, ConnectError, ConnectionError, ListenError, RecvError, SendError, SocketError,
};
pub use event::{Counters, Event};
pub use stack::{Shutdown, SocketHandle, SocketInfo, Stack, TcpInfo, Usage};
pub use tcp::congestion::{Algorithm, Phase};
pub use tcp::state::{Cause, State};
