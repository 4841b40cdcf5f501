//! Fuzz harnesses for synack, kept in a library so that the libFuzzer targets
//! (`fuzz_targets/*.rs`), the seed-corpus generator (`examples/gen_seeds.rs`) and
//! the stable replay test (`tests/replay.rs`) share one implementation.
//!
//! - [`parse`]: `wire::parse` on arbitrary bytes, and emit → parse round trips.
//! - [`stack_input`]: a stack with a connection driven to a chosen state, then fed
//!   fuzzed packets, timer firings and application calls, with invariants checked
//!   from outside after every step.
//! - [`reassembly`]: the out-of-order range set and its byte store against a
//!   byte-map model.
//! - [`seeds`]: the seed corpus (real packets built with `wire::emit`).

pub mod input;
pub mod parse;
pub mod reassembly;
pub mod seeds;
pub mod stack_input;
