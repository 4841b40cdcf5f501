//! ICMP errors about our TCP segments (RFC 5927, RFC 1122 §4.2.3.9, RFC 5461,
//! RFC 1191, RFC 8201).
//!
//! An ICMP destination unreachable or packet too big quotes the start of a
//! segment we sent. It is believed only if the quoted 4-tuple is a connection of
//! ours and the quoted sequence number lies in SND.UNA..SND.NXT (RFC 5927 §4.1;
//! anything else is counted and dropped: forged or stale). Then:
//!
//! - **Unreachable** (net, host, port, protocol, prohibited): in SYN-SENT the
//!   attempt ends at once with the matching error (RFC 5461, as Linux; see
//!   docs/DEVIATIONS.md); in every other state it is a soft error, remembered and
//!   reported instead of `TimedOut` if the connection later times out (RFC 1122
//!   §4.2.3.9 "MUST NOT abort" for soft errors; Linux treats hard ones the same).
//! - **Fragmentation needed / packet too big**: the send MSS drops to fit the
//!   reported MTU, never below 576 (IPv4) or 1280 (IPv6, RFC 8201 §4) bytes, and
//!   the outstanding segments are sent again at the new size, without a
//!   congestion response (the network did not drop them for congestion).

use core::net::SocketAddr;

use super::{FourTuple, Stack};
use crate::error::ConnectionError;
use crate::tcp::conn::{Ctx, Tcb};
use crate::tcp::seq::SeqNum;
use crate::tcp::state::{Cause, State};
use crate::wire::icmp::{self, IcmpKind};
use crate::wire::{IPV4_HEADER_LEN, IPV6_HEADER_LEN, TCP_HEADER_LEN};

/// The smallest path MTU believed for IPv4: every host must take 576-byte
/// datagrams (RFC 791, RFC 1122 §3.3.3), so MSS 536.
pub(crate) const MIN_PMTU_V4: u32 = 576;
/// The smallest path MTU for IPv6 (RFC 8200 §5), so MSS 1220.
pub(crate) const MIN_PMTU_V6: u32 = 1280;

/// Bytes of TCP options on every data segment: the timestamp option, padded.
const TS_OPTION_LEN: u32 = 12;

impl Stack {
    /// An ICMP or ICMPv6 packet arrived (the parser said "not TCP").
    pub(super) fn icmp_input(&mut self, packet: &[u8]) {
        let err = match icmp::parse(packet) {
            Ok(Some(e)) => e,
            Ok(None) => {
                self.counters.icmp_ignored += 1;
                return;
            }
            Err(_) => {
                self.counters.drop_icmp_malformed += 1;
                return;
            }
        };
        let key = FourTuple {
            local: err.local,
            remote: err.remote,
        };
        let Some(idx) = self.conns.get(&key) else {
            self.counters.drop_icmp_no_connection += 1;
            return;
        };
        let Some(prev) = self.conn(idx).map(|t| t.state) else {
            return;
        };
        self.with_conn(idx, |t, ctx| t.on_icmp(err.kind, err.seq, ctx));
        self.after_change(idx, prev);
    }
}

/// The error an unreachable reports: Linux's errno choice, in our enum.
fn unreachable_error(kind: IcmpKind) -> ConnectionError {
    match kind {
        IcmpKind::NetUnreachable => ConnectionError::NetworkUnreachable,
        IcmpKind::PortUnreachable | IcmpKind::ProtocolUnreachable => ConnectionError::Refused,
        IcmpKind::HostUnreachable | IcmpKind::Prohibited | IcmpKind::PacketTooBig { .. } => {
            ConnectionError::HostUnreachable
        }
    }
}

/// The largest payload that fits `mtu` on the path to `remote`, floored.
pub(crate) fn mss_for_mtu(remote: SocketAddr, mtu: u32, timestamps: bool) -> u16 {
    let (floor, ip) = if remote.is_ipv6() {
        (MIN_PMTU_V6, IPV6_HEADER_LEN as u32)
    } else {
        (MIN_PMTU_V4, IPV4_HEADER_LEN as u32)
    };
    let opts = if timestamps { TS_OPTION_LEN } else { 0 };
    let payload = mtu.max(floor) - ip - TCP_HEADER_LEN as u32 - opts;
    u16::try_from(payload).unwrap_or(u16::MAX)
}

impl Tcb {
    /// The error a timeout reports: the last ICMP soft error, if any (as Linux
    /// reports `sk_err_soft`), else `TimedOut`.
    pub(crate) fn timeout_error(&self) -> ConnectionError {
        self.soft_error.unwrap_or(ConnectionError::TimedOut)
    }

    /// An ICMP error quoting `seq` of this connection.
    pub(crate) fn on_icmp(&mut self, kind: IcmpKind, seq: SeqNum, ctx: &mut Ctx<'_>) {
        // RFC 5927 §4.1: "TCP SHOULD check that the TCP sequence number contained
        // in the payload of the ICMP error message is within the range SND.UNA =<
        // SEG.SEQ < SND.NXT." (SND.NXT here is the highest ever sent.)
        if !seq.in_range(self.snd_una, self.snd_max) {
            ctx.counters.drop_icmp_out_of_window += 1;
            return;
        }
        if let IcmpKind::PacketTooBig { mtu } = kind {
            self.on_packet_too_big(mtu, ctx);
            return;
        }
        ctx.counters.icmp_unreachable += 1;
        let error = unreachable_error(kind);
        if self.state == State::SynSent {
            // RFC 5461 §4: abort the connection-establishment attempt, soft error
            // or not (widely implemented; Linux does it).
            ctx.counters.icmp_connect_aborts += 1;
            self.fail(error, Cause::RcvIcmp, ctx);
        } else {
            // RFC 1122 §4.2.3.9: soft errors "MUST NOT" abort; RFC 5461 §3 and
            // Linux treat hard errors in synchronized states the same way.
            self.soft_error = Some(error);
        }
    }

    /// RFC 1191 §6.5 / RFC 8201 §5.4: lower the send MSS to fit `mtu`, and send
    /// the now too big outstanding segments again.
    fn on_packet_too_big(&mut self, mtu: u32, ctx: &mut Ctx<'_>) {
        let synchronized = !matches!(self.state, State::SynSent | State::SynReceived);
        let mss = mss_for_mtu(self.remote, mtu, self.ts_ok);
        if !synchronized || mss >= self.mss {
            ctx.counters.icmp_mtu_ignored += 1;
            return;
        }
        ctx.counters.icmp_mtu_lowered += 1;
        self.mss = mss;
        self.cc.set_mss(usize::from(mss));
        // The pacer's times are for segments of the old size.
        self.pacing_rate_stale = true;
        if self.snd_una == self.snd_max {
            return;
        }
        // As after an RTO (`Tcb::on_rto`) but with no congestion response: every
        // outstanding segment is marked lost and resent from SND.UNA at the new
        // size, skipping SACKed ranges.
        self.go_back_to_una(true);
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Some(ctx.now + self.rtt.rto());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mss_follows_the_mtu_with_floors() {
        let v4: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[fd00::1]:80".parse().unwrap();
        assert_eq!(mss_for_mtu(v4, 1400, false), 1360);
        assert_eq!(mss_for_mtu(v4, 1400, true), 1348);
        assert_eq!(mss_for_mtu(v4, 68, false), 536, "floor 576");
        assert_eq!(mss_for_mtu(v4, 0, false), 536);
        assert_eq!(mss_for_mtu(v6, 1280, false), 1220);
        assert_eq!(mss_for_mtu(v6, 500, true), 1208, "floor 1280");
        assert_eq!(mss_for_mtu(v6, u32::MAX, false), u16::MAX);
    }
}
