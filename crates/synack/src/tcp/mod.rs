//! The TCP protocol machinery, one module per mechanism.

pub mod seq;
