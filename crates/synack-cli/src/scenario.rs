//! The scenarios `synack sim` knows: names, one-line descriptions, and what each
//! uses by default.

use core::fmt;

use clap::ValueEnum;

/// A scripted run between a client (10.0.0.1) and a server (10.0.0.2) that checks
/// its own expected outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Scenario {
    /// The three-way handshake.
    Handshake,
    /// Both ends connect to each other at once (no listener).
    SimultaneousOpen,
    /// The client closes first; the server closes after reading EOF.
    Close,
    /// Both ends close at the same instant.
    SimultaneousClose,
    /// The client shuts down writing; the server keeps sending, then closes.
    HalfClose,
    /// A simultaneous open in which the client closes while in SYN-RECEIVED.
    CloseSynReceived,
    /// Close with linger 0: RST instead of FIN.
    Reset,
    /// Connect to a port with no listener.
    Refused,
    /// RFC 9293 Figure 8: an old duplicate SYN reaches the server first.
    OldDuplicateSyn,
    /// The final ACK is lost; the retransmitted FIN restarts 2·MSL.
    TimeWait,
    /// A slow reader: the window closes and the sender probes it.
    ZeroWindow,
    /// More clients than the listener's backlog.
    Backlog,
    /// Bulk transfer of `--bytes`, verified by SHA-256 (the default).
    Transfer,
}

impl Scenario {
    /// Every scenario, in the order `--list` shows them.
    pub const ALL: [Self; 13] = [
        Self::Handshake,
        Self::SimultaneousOpen,
        Self::Close,
        Self::SimultaneousClose,
        Self::HalfClose,
        Self::CloseSynReceived,
        Self::Reset,
        Self::Refused,
        Self::OldDuplicateSyn,
        Self::TimeWait,
        Self::ZeroWindow,
        Self::Backlog,
        Self::Transfer,
    ];

    /// The name used on the command line (`simultaneous-open`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::SimultaneousOpen => "simultaneous-open",
            Self::Close => "close",
            Self::SimultaneousClose => "simultaneous-close",
            Self::HalfClose => "half-close",
            Self::CloseSynReceived => "close-syn-received",
            Self::Reset => "reset",
            Self::Refused => "refused",
            Self::OldDuplicateSyn => "old-duplicate-syn",
            Self::TimeWait => "time-wait",
            Self::ZeroWindow => "zero-window",
            Self::Backlog => "backlog",
            Self::Transfer => "transfer",
        }
    }

    /// One line saying what the scenario does and checks.
    pub const fn about(self) -> &'static str {
        match self {
            Self::Handshake => "three-way handshake: SYN, SYN-ACK, ACK",
            Self::SimultaneousOpen => {
                "both ends connect at once (4000 <-> 5000): SYN-SENT -> SYN-RECEIVED -> ESTABLISHED"
            }
            Self::Close => {
                "client closes first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT; server CLOSE-WAIT (ACK of the FIN delayed), LAST-ACK"
            }
            Self::SimultaneousClose => {
                "both close at the same instant: FIN-WAIT-1 -> CLOSING -> TIME-WAIT"
            }
            Self::HalfClose => {
                "client shuts down writing, server keeps sending --bytes (64 KiB), then closes"
            }
            Self::CloseSynReceived => {
                "simultaneous open; the client closes in SYN-RECEIVED: -> FIN-WAIT-1"
            }
            Self::Reset => "close with linger 0: RST; the server sees 'connection reset'",
            Self::Refused => "connect to port 81 (no listener): RST, 'connection refused'",
            Self::OldDuplicateSyn => {
                "RFC 9293 Figure 8: an old SYN arrives first, the client resets the bogus SYN-ACK"
            }
            Self::TimeWait => {
                "the last ACK is lost; the retransmitted FIN restarts the 2*MSL TIME-WAIT timer"
            }
            Self::ZeroWindow => {
                "slow reader (16 KiB buffer, 3 s pause): window 0, persist probes, --bytes (256 KiB)"
            }
            Self::Backlog => {
                "6 clients, backlog 2 (no SYN cookies), one accept per 300 ms: drops, SYN retries"
            }
            Self::Transfer => {
                "bulk transfer of --bytes (16 MiB) client -> server, verified by SHA-256 (default)"
            }
        }
    }

    /// Bytes the scenario moves when `--bytes` is not given.
    pub const fn default_bytes(self) -> u64 {
        match self {
            Self::Transfer => 16 << 20,
            Self::ZeroWindow => 256 << 10,
            Self::HalfClose => 64 << 10,
            _ => 0,
        }
    }

    /// Whether `--bytes` means something to this scenario.
    pub const fn uses_bytes(self) -> bool {
        matches!(self, Self::Transfer | Self::ZeroWindow | Self::HalfClose)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_clap() {
        for s in Scenario::ALL {
            let pv = s.to_possible_value().expect("every scenario is selectable");
            assert_eq!(pv.get_name(), s.name());
            assert_eq!(Scenario::from_str(s.name(), false), Ok(s));
        }
        assert_eq!(Scenario::value_variants().len(), Scenario::ALL.len());
    }
}
