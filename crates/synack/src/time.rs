//! Time as the core sees it: handed in from outside, never read from a clock.
//!
//! The core has no clock. Every entry point takes `now: Instant`, a count of
//! microseconds since an epoch the caller picks (the simulator uses
//! [`Instant::ZERO`]; the tokio runtime uses the moment the interface started).

use core::fmt;
use core::num::NonZeroU64;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time, in microseconds since the caller's epoch.
///
/// Held as microseconds plus one in a `NonZeroU64`, so that `Option<Instant>` is
/// 8 bytes, not 16 (a connection holds about a dozen of them). The price is one
/// value: the latest instant is `u64::MAX - 1` µs after the epoch
/// ([`Instant::FAR_FUTURE`], 584,542 years), and arithmetic saturates there.
/// The order is that of the microseconds (adding one keeps it).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Instant(NonZeroU64);

impl Instant {
    /// The epoch.
    pub const ZERO: Self = Self(NonZeroU64::MIN);
    /// A time later than any a run reaches; used as "never". The latest instant.
    pub const FAR_FUTURE: Self = Self(NonZeroU64::MAX);

    /// An instant `micros` microseconds after the epoch (saturating at
    /// [`Instant::FAR_FUTURE`]).
    pub const fn from_micros(micros: u64) -> Self {
        Self(NonZeroU64::MIN.saturating_add(micros))
    }

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self::from_micros(millis.saturating_mul(1000))
    }

    /// An instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self::from_micros(secs.saturating_mul(1_000_000))
    }

    /// Microseconds since the epoch.
    #[inline]
    pub const fn micros(self) -> u64 {
        self.0.get() - 1
    }

    /// Milliseconds since the epoch (truncated).
    pub const fn millis(self) -> u64 {
        self.micros() / 1000
    }

    /// The earlier of two optional instants, `None` only if both are: a
    /// deadline that is not set never wins. Branch-free: `None` is held as 0, so
    /// subtracting one (wrapping) orders it after every instant.
    #[inline]
    pub fn earliest(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        let key = |o: Option<Self>| o.map_or(0, |i| i.0.get()).wrapping_sub(1);
        NonZeroU64::new(key(a).min(key(b)).wrapping_add(1)).map(Self)
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    #[inline]
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_micros(self.0.get().saturating_sub(earlier.0.get()))
    }
}

impl Default for Instant {
    fn default() -> Self {
        Self::ZERO
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Instant").field(&self.micros()).finish()
    }
}

impl Add<Duration> for Instant {
    type Output = Self;
    #[inline]
    fn add(self, d: Duration) -> Self {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(micros))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub for Instant {
    type Output = Duration;
    fn sub(self, rhs: Self) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.micros();
        write!(f, "{}.{:06}s", us / 1_000_000, us % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(
            Instant::FAR_FUTURE + Duration::from_secs(1),
            Instant::FAR_FUTURE
        );
        assert_eq!(Instant::ZERO - Instant::from_secs(1), Duration::ZERO);
        assert_eq!(
            Instant::from_millis(1500) - Instant::from_secs(1),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn option_of_instant_takes_no_more_room() {
        assert_eq!(core::mem::size_of::<Option<Instant>>(), 8);
    }

    #[test]
    fn microseconds_round_trip_up_to_the_last_instant() {
        for us in [0, 1, 999, 1_000_000, u64::MAX - 2, u64::MAX - 1] {
            assert_eq!(Instant::from_micros(us).micros(), us);
        }
        assert_eq!(Instant::from_micros(u64::MAX), Instant::FAR_FUTURE);
        assert_eq!(Instant::FAR_FUTURE.micros(), u64::MAX - 1);
        assert_eq!(Instant::ZERO.micros(), 0);
        assert_eq!(Instant::default(), Instant::ZERO);
        assert!(Instant::from_micros(5) < Instant::from_micros(6));
        assert!(Instant::ZERO < Instant::FAR_FUTURE);
        assert_eq!(
            Instant::from_micros(u64::MAX - 5) + Duration::from_micros(3),
            Instant::from_micros(u64::MAX - 2)
        );
    }

    #[test]
    fn earliest_table() {
        let t = Instant::from_micros;
        // (a, b, earliest)
        let cases = [
            (None, None, None),
            (Some(t(5)), None, Some(t(5))),
            (None, Some(t(5)), Some(t(5))),
            (Some(t(5)), Some(t(3)), Some(t(3))),
            (Some(t(3)), Some(t(5)), Some(t(3))),
            (Some(Instant::ZERO), None, Some(Instant::ZERO)),
            (None, Some(Instant::FAR_FUTURE), Some(Instant::FAR_FUTURE)),
            (Some(Instant::FAR_FUTURE), Some(t(0)), Some(t(0))),
        ];
        for (a, b, want) in cases {
            assert_eq!(Instant::earliest(a, b), want, "{a:?} {b:?}");
        }
    }

    #[test]
    fn display_shows_seconds_and_micros() {
        assert_eq!(Instant::from_micros(1_000_250).to_string(), "1.000250s");
    }
}
