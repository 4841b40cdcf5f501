//! ICMP (RFC 792) and ICMPv6 (RFC 4443) error messages that quote a TCP segment:
//! destination unreachable, IPv4 fragmentation needed (RFC 1191) and IPv6 packet
//! too big (RFC 8201). The stack's own replies (echo) live outside the core.
//!
//! [`parse`] checks the outer header and the ICMP checksum, then reads the quoted
//! IP header and the first 8 bytes of the quoted TCP header (ports and sequence
//! number: RFC 792 quotes "the internet header plus the first 64 bits of the
//! original datagram's data"). Nothing here panics on any input.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::checksum;
use super::{ParseError, IPV4_HEADER_LEN, IPV6_HEADER_LEN, IP_PROTO_TCP};
use crate::tcp::seq::SeqNum;

/// IANA protocol number of ICMP.
pub const IP_PROTO_ICMP: u8 = 1;
/// IPv6 Next Header value of ICMPv6.
pub const IP_PROTO_ICMPV6: u8 = 58;

/// What an ICMP error says happened to the quoted segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpKind {
    /// Net unreachable (v4 codes 0, 6, 9, 11; v6 code 0, no route): a soft error.
    NetUnreachable,
    /// Host unreachable (v4 codes 1, 5, 7, 8, 10, 12; v6 codes 3, 5, 6): a soft error.
    HostUnreachable,
    /// Protocol unreachable (v4 code 2): a hard error by RFC 1122.
    ProtocolUnreachable,
    /// Port unreachable (v4 code 3, v6 code 4): a hard error by RFC 1122.
    PortUnreachable,
    /// Administratively prohibited (v4 codes 13, 14, 15; v6 code 1).
    Prohibited,
    /// IPv4 fragmentation needed and DF set (RFC 1191), or IPv6 packet too big
    /// (RFC 8201): the path takes packets of at most `mtu` bytes.
    PacketTooBig {
        /// The next-hop MTU the message reports (estimated from the quoted
        /// length by RFC 1191 §5's plateau table if an old router sent 0).
        mtu: u32,
    },
}

impl IcmpKind {
    /// RFC 1122 §4.2.3.9 "soft" errors, which "MUST NOT" abort a connection by
    /// themselves (synchronized states; see docs/DEVIATIONS.md for SYN-SENT).
    pub fn is_soft(self) -> bool {
        matches!(self, Self::NetUnreachable | Self::HostUnreachable)
    }
}

/// An ICMP error about a TCP segment we sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// Who sent the ICMP message (a router, or the destination host).
    pub from: IpAddr,
    /// What it says.
    pub kind: IcmpKind,
    /// The quoted segment's source: one of our sockets.
    pub local: SocketAddr,
    /// The quoted segment's destination: the peer.
    pub remote: SocketAddr,
    /// The quoted segment's sequence number.
    pub seq: SeqNum,
}

/// True if `packet` is an ICMP (IPv4) or ICMPv6 (IPv6, no extension headers)
/// packet, judged from the version and protocol fields alone.
pub fn is_icmp(packet: &[u8]) -> bool {
    match packet.first().map(|b| b >> 4) {
        Some(4) => packet.get(9) == Some(&IP_PROTO_ICMP),
        Some(6) => packet.get(6) == Some(&IP_PROTO_ICMPV6),
        _ => false,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

fn v4_addr(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    be32(b, at).map(Ipv4Addr::from)
}

fn v6_addr(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

/// Parses an ICMP or ICMPv6 packet. `Ok(None)` for valid ICMP messages that are
/// not errors about a TCP segment (echo, time exceeded, a quoted UDP datagram...).
///
/// # Errors
/// [`ParseError::Truncated`] for a packet or quote too short to read,
/// [`ParseError::BadIpHeaderLength`] / [`ParseError::BadIpTotalLength`] /
/// [`ParseError::BadIpChecksum`] for a bad outer IPv4 header,
/// [`ParseError::BadChecksum`] for a bad ICMP checksum, [`ParseError::NotTcp`] if
/// the packet is not ICMP at all, [`ParseError::Fragment`] for a fragment.
pub fn parse(packet: &[u8]) -> Result<Option<IcmpError>, ParseError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => parse_v4(packet),
        Some(6) => parse_v6(packet),
        Some(_) => Err(ParseError::BadIpVersion),
        None => Err(ParseError::Truncated),
    }
}

fn parse_v4(packet: &[u8]) -> Result<Option<IcmpError>, ParseError> {
    let header = packet.get(..IPV4_HEADER_LEN).ok_or(ParseError::Truncated)?;
    let ihl = usize::from(header[0] & 0x0f) * 4;
    let total = usize::from(be16(header, 2).unwrap_or(0));
    if ihl < IPV4_HEADER_LEN || ihl > packet.len() {
        return Err(ParseError::BadIpHeaderLength);
    }
    if total < ihl || total > packet.len() {
        return Err(ParseError::BadIpTotalLength);
    }
    if checksum::fold(checksum::sum(&packet[..ihl], 0)) != 0 {
        return Err(ParseError::BadIpChecksum);
    }
    if be16(header, 6).unwrap_or(0) & 0x3fff != 0 {
        return Err(ParseError::Fragment);
    }
    if header[9] != IP_PROTO_ICMP {
        return Err(ParseError::NotTcp);
    }
    let from = IpAddr::V4(v4_addr(header, 12).ok_or(ParseError::Truncated)?);
    let icmp = &packet[ihl..total];
    if icmp.len() < 8 {
        return Err(ParseError::Truncated);
    }
    // RFC 792: "The checksum is the 16-bit ones's complement of the one's
    // complement sum of the ICMP message starting with the ICMP Type."
    if checksum::fold(checksum::sum(icmp, 0)) != 0 {
        return Err(ParseError::BadChecksum);
    }
    let (ty, code) = (icmp[0], icmp[1]);
    // RFC 792 type 3, Destination Unreachable.
    if ty != 3 {
        return Ok(None);
    }
    let quote = &icmp[8..];
    let kind = match code {
        0 | 6 | 9 | 11 => IcmpKind::NetUnreachable,
        1 | 5 | 7 | 8 | 10 | 12 => IcmpKind::HostUnreachable,
        2 => IcmpKind::ProtocolUnreachable,
        3 => IcmpKind::PortUnreachable,
        // RFC 1191 §4: "the low-order 16 bits of the ICMP header's 'unused'
        // field are used to carry the MTU of the next-hop network".
        4 => IcmpKind::PacketTooBig {
            mtu: match be16(icmp, 6).unwrap_or(0) {
                0 => plateau_below(be16(quote, 2).unwrap_or(0)),
                m => u32::from(m),
            },
        },
        13..=15 => IcmpKind::Prohibited,
        _ => return Ok(None),
    };
    quoted_v4(quote, from, kind)
}

/// RFC 1191 §7's MTU plateaus: the largest one below a quoted datagram's length,
/// for routers that report an MTU of 0.
fn plateau_below(len: u16) -> u32 {
    const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];
    u32::from(PLATEAUS.iter().copied().find(|&p| p < len).unwrap_or(68))
}

/// The quoted IPv4 header and TCP ports + sequence number.
fn quoted_v4(q: &[u8], from: IpAddr, kind: IcmpKind) -> Result<Option<IcmpError>, ParseError> {
    let first = *q.first().ok_or(ParseError::Truncated)?;
    if first >> 4 != 4 {
        return Err(ParseError::BadIpVersion);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < IPV4_HEADER_LEN {
        return Err(ParseError::BadIpHeaderLength);
    }
    if *q.get(9).ok_or(ParseError::Truncated)? != IP_PROTO_TCP {
        return Ok(None);
    }
    let src = v4_addr(q, 12).ok_or(ParseError::Truncated)?;
    let dst = v4_addr(q, 16).ok_or(ParseError::Truncated)?;
    tcp_quote(
        q.get(ihl..).ok_or(ParseError::Truncated)?,
        from,
        kind,
        src.into(),
        dst.into(),
    )
}

fn tcp_quote(
    tcp: &[u8],
    from: IpAddr,
    kind: IcmpKind,
    src: IpAddr,
    dst: IpAddr,
) -> Result<Option<IcmpError>, ParseError> {
    let sport = be16(tcp, 0).ok_or(ParseError::Truncated)?;
    let dport = be16(tcp, 2).ok_or(ParseError::Truncated)?;
    let seq = be32(tcp, 4).ok_or(ParseError::Truncated)?;
    Ok(Some(IcmpError {
        from,
        kind,
        local: SocketAddr::new(src, sport),
        remote: SocketAddr::new(dst, dport),
        seq: SeqNum(seq),
    }))
}

fn parse_v6(packet: &[u8]) -> Result<Option<IcmpError>, ParseError> {
    if packet.len() < IPV6_HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    let payload_len = usize::from(be16(packet, 4).unwrap_or(0));
    let end = IPV6_HEADER_LEN + payload_len;
    if payload_len == 0 || end > packet.len() {
        return Err(ParseError::BadIpTotalLength);
    }
    if packet[6] != IP_PROTO_ICMPV6 {
        return Err(ParseError::NotTcp);
    }
    let src = v6_addr(packet, 8).ok_or(ParseError::Truncated)?;
    let dst = v6_addr(packet, 24).ok_or(ParseError::Truncated)?;
    let icmp = &packet[IPV6_HEADER_LEN..end];
    if icmp.len() < 8 {
        return Err(ParseError::Truncated);
    }
    // RFC 4443 §2.3: the checksum covers the message and the RFC 8200 §8.1
    // pseudo-header.
    let pseudo = checksum::pseudo_header_v6(&src, &dst, IP_PROTO_ICMPV6, icmp.len() as u32);
    if checksum::fold(checksum::sum(icmp, pseudo)) != 0 {
        return Err(ParseError::BadChecksum);
    }
    let (ty, code) = (icmp[0], icmp[1]);
    let kind = match (ty, code) {
        // RFC 4443 §3.1 Destination Unreachable.
        (1, 0) => IcmpKind::NetUnreachable,
        (1, 1) => IcmpKind::Prohibited,
        (1, 3 | 5 | 6) => IcmpKind::HostUnreachable,
        (1, 4) => IcmpKind::PortUnreachable,
        // RFC 4443 §3.2 Packet Too Big: "MTU: The Maximum Transmission Unit of the
        // next-hop link."
        (2, 0) => IcmpKind::PacketTooBig {
            mtu: be32(icmp, 4).unwrap_or(0),
        },
        _ => return Ok(None),
    };
    let q = &icmp[8..];
    if q.len() < IPV6_HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    if q[0] >> 4 != 6 {
        return Err(ParseError::BadIpVersion);
    }
    // Quoted extension headers are not walked: synack sends none.
    if q[6] != IP_PROTO_TCP {
        return Ok(None);
    }
    let qs = v6_addr(q, 8).ok_or(ParseError::Truncated)?;
    let qd = v6_addr(q, 24).ok_or(ParseError::Truncated)?;
    tcp_quote(
        &q[IPV6_HEADER_LEN..],
        IpAddr::V6(src),
        kind,
        qs.into(),
        qd.into(),
    )
}
