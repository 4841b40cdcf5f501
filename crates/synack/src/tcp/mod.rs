//! The TCP protocol machinery, one module per mechanism.

pub(crate) mod buffer;
pub mod congestion;
pub(crate) mod conn;
pub(crate) mod cookie;
pub(crate) mod input;
pub mod isn;
pub(crate) mod output;
pub mod pacing;
pub(crate) mod rack;
pub mod reassembly;
pub(crate) mod recovery;
pub mod rto;
pub(crate) mod sack;
pub mod seq;
pub mod state;
pub(crate) mod timeout;
