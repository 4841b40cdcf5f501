//! Ephemeral port selection for active opens.
//!
//! Like Linux's `__inet_hash_connect`, a port is usable for a destination when no
//! connection already has that exact 4-tuple and no listener holds the port, so
//! the same ephemeral port may serve different destinations. The search starts at
//! a pseudo-random offset (RFC 6056 §3.3.1 "simple port randomization").

use core::net::SocketAddr;
use core::ops::RangeInclusive;

/// Picks a port in `range` for which `free(port)` holds, starting at `start_hint`.
/// Returns `None` when every port is taken.
pub(crate) fn pick(
    range: &RangeInclusive<u16>,
    start_hint: u32,
    mut free: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let lo = u32::from(*range.start());
    let hi = u32::from(*range.end());
    if lo > hi {
        return None;
    }
    let n = hi - lo + 1;
    let first = start_hint % n;
    (0..n)
        .map(|i| lo + (first + i) % n)
        .map(|p| p as u16)
        .find(|&p| free(p))
}

/// The local address with `port` replaced.
pub(crate) fn with_port(mut addr: SocketAddr, port: u16) -> SocketAddr {
    addr.set_port(port);
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_first_free_after_hint_and_wraps() {
        let r = 10..=14;
        assert_eq!(pick(&r, 2, |_| true), Some(12));
        assert_eq!(pick(&r, 3, |p| p == 10), Some(10), "wraps around");
        assert_eq!(pick(&r, 0, |_| false), None, "exhausted");
        assert_eq!(pick(&(7..=7), 99, |_| true), Some(7));
    }
}
