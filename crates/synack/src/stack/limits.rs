//! Resource limits: how many connections, half-open connections and orphans the
//! stack holds, and how many bytes its connections' buffers hold, against the
//! bounds in [`crate::TcpConfig`] (`max_connections`, `max_half_open`,
//! `max_orphans`, `mem_pressure`, `mem_max`).
//!
//! Buffered bytes are kept up to date incrementally: every change to a connection
//! goes through `Stack::with_conn`, which measures the connection's buffers before
//! and after (the receive fast path, `Stack::input_fast`, adds the bytes it
//! took), and a freed connection gives its bytes back. Under pressure windows
//! open by at most 4·MSS and auto-tuning stops; above the maximum, data that
//! cannot go straight to an empty receive queue is dropped, as Linux's `tcp_mem`.

use super::{Socket, Stack};

/// What the stack holds now, against its limits. From [`Stack::usage`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Connections in the connection table (every state but TIME-WAIT).
    pub connections: usize,
    /// Of which half-open (SYN-RECEIVED children of listeners).
    pub half_open: usize,
    /// Connections the application closed that are still finishing.
    pub orphans: usize,
    /// Compact TIME-WAIT entries.
    pub time_wait: usize,
    /// Bytes in send, receive and out-of-order buffers.
    pub buffer_bytes: usize,
    /// The most `buffer_bytes` has been.
    pub buffer_bytes_peak: usize,
    /// Whether `buffer_bytes` is above `mem_pressure`.
    pub memory_pressure: bool,
}

/// Running totals kept by the stack.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    /// Half-open connections across every listener (the sum of their
    /// `syn_queue`s), kept as they change: each SYN asks.
    pub(crate) half_open: usize,
    pub(crate) orphans: usize,
    pub(crate) buffer_bytes: usize,
    pub(crate) buffer_bytes_peak: usize,
    pub(crate) pressure: bool,
}

impl Totals {
    /// (memory pressure, over the maximum) for what is buffered now.
    #[inline]
    pub(crate) fn mem_flags(&self, cfg: &crate::TcpConfig) -> (bool, bool) {
        let b = self.buffer_bytes;
        (b > cfg.mem_pressure, b > cfg.mem_max)
    }
}

impl Stack {
    /// What the stack holds now: connections, half-open, orphans, TIME-WAIT and
    /// buffered bytes (with their peak), for `ss`-like tools and tests.
    pub fn usage(&self) -> Usage {
        Usage {
            connections: self.conns.len(),
            half_open: self.totals.half_open,
            orphans: self.totals.orphans,
            time_wait: self.time_wait.len(),
            buffer_bytes: self.totals.buffer_bytes,
            buffer_bytes_peak: self.totals.buffer_bytes_peak,
            memory_pressure: self.totals.pressure,
        }
    }

    /// [`Stack::usage`] recounted from every connection (O(connections)), for
    /// tests and fuzzers to check the running totals against; the peak is
    /// carried over.
    pub fn recount_usage(&self) -> Usage {
        let (mut half_open, mut orphans, mut buffer_bytes) = (0, 0, 0);
        for slot in &self.slots {
            match &slot.sock {
                Some(Socket::Conn(t)) => {
                    orphans += usize::from(t.orphan);
                    buffer_bytes += t.mem_bytes();
                }
                Some(Socket::Listener(l)) => half_open += l.syn_queue,
                None => {}
            }
        }
        Usage {
            half_open,
            orphans,
            buffer_bytes,
            ..self.usage()
        }
    }

    /// (under pressure, over the maximum) for buffered bytes now.
    pub(super) fn mem_flags(&self) -> (bool, bool) {
        self.totals.mem_flags(&self.config.tcp)
    }

    /// A connection took `n` more bytes into its buffers and is as orphaned as
    /// it was: [`Stack::account`] for the receive fast path (`Stack::input_fast`).
    #[inline]
    pub(super) fn account_received(&mut self, n: usize) {
        self.account((0, false), (n, false));
    }

    /// A connection's (buffered bytes, orphan) changed from `before` to `after`.
    pub(super) fn account(&mut self, before: (usize, bool), after: (usize, bool)) {
        let t = &mut self.totals;
        t.buffer_bytes = (t.buffer_bytes + after.0).saturating_sub(before.0);
        t.buffer_bytes_peak = t.buffer_bytes_peak.max(t.buffer_bytes);
        match (before.1, after.1) {
            (false, true) => t.orphans += 1,
            (true, false) => t.orphans = t.orphans.saturating_sub(1),
            _ => {}
        }
        let pressure = t.buffer_bytes > self.config.tcp.mem_pressure;
        if pressure && !t.pressure {
            self.counters.memory_pressure += 1;
        }
        self.totals.pressure = pressure;
    }
}
