//! Errors of a simulation run. Each names the seed that replays it.

use core::fmt;

use synack::Instant;

/// A run that did not end the way the caller asked. `Display` always includes
/// `seed=N` so the failure can be replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// The step cap given to a `run_*` call was reached first.
    StepLimit {
        /// The simulator's seed.
        seed: u64,
        /// The cap.
        steps: usize,
        /// Virtual time when it was reached.
        now: Instant,
    },
    /// Virtual time stopped advancing: more than the stall limit of consecutive
    /// steps happened at one instant (an endpoint whose timer never moves, or
    /// that transmits forever).
    Stalled {
        /// The simulator's seed.
        seed: u64,
        /// The instant time is stuck at.
        now: Instant,
        /// Consecutive steps at that instant.
        steps: u64,
    },
    /// [`Sim::run_while`](crate::Sim::run_while)'s condition still held but nothing
    /// was left to do: no packet in flight, no timer, nothing to send.
    WentIdle {
        /// The simulator's seed.
        seed: u64,
        /// Virtual time when the network went idle.
        now: Instant,
    },
}

impl SimError {
    /// The seed of the failing run.
    pub const fn seed(&self) -> u64 {
        match *self {
            Self::StepLimit { seed, .. }
            | Self::Stalled { seed, .. }
            | Self::WentIdle { seed, .. } => seed,
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StepLimit { seed, steps, now } => {
                write!(
                    f,
                    "step limit of {steps} steps reached at t={now} (seed={seed})"
                )
            }
            Self::Stalled { seed, now, steps } => {
                write!(
                    f,
                    "virtual time stalled at t={now} for {steps} steps (seed={seed})"
                )
            }
            Self::WentIdle { seed, now } => {
                write!(
                    f,
                    "network went idle at t={now} before the run's goal was met (seed={seed})"
                )
            }
        }
    }
}

impl std::error::Error for SimError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_seed() {
        let errors = [
            SimError::StepLimit {
                seed: 42,
                steps: 10,
                now: Instant::from_millis(3),
            },
            SimError::Stalled {
                seed: 42,
                now: Instant::ZERO,
                steps: 7,
            },
            SimError::WentIdle {
                seed: 42,
                now: Instant::ZERO,
            },
        ];
        for e in errors {
            assert_eq!(e.seed(), 42);
            assert!(e.to_string().contains("seed=42"), "{e}");
        }
    }
}
