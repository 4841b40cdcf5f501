//! Wire formats: IPv4 (RFC 791), IPv6 (RFC 8200) and TCP (RFC 9293 §3.1) with its
//! options (RFC 9293 §3.2, RFC 7323, RFC 2018), and the Internet checksum (RFC 1071).
//!
//! Parse, don't validate: [`parse`] turns bytes into a typed [`Segment`] or a
//! [`ParseError`] naming the reason; nothing here panics on any input. [`emit`]
//! writes a whole IP+TCP packet into a caller-provided buffer.
//!
//! Lower-level zero-copy views ([`Ipv4Packet`], [`Ipv6Packet`], [`TcpPacket`]) are
//! available for tools that want individual fields.

pub mod checksum;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
#[cfg(test)]
mod tests;

use core::fmt;
use core::net::{IpAddr, Ipv4Addr};

pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;
pub use tcp::TcpPacket;

use crate::tcp::seq::SeqNum;

/// IANA protocol number of TCP.
pub const IP_PROTO_TCP: u8 = 6;
/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// Largest TCP header (data offset 15).
pub const TCP_MAX_HEADER_LEN: usize = 60;
/// Most SACK blocks a header can carry (RFC 2018 §3: 4 without timestamps).
pub const MAX_SACK_BLOCKS: usize = 4;

/// Why a packet was dropped by the parser. Each reason has its own drop counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// Shorter than the headers it claims to carry.
    Truncated,
    /// IP version nibble is neither 4 nor 6.
    BadIpVersion,
    /// IPv4 IHL below 5 or past the packet.
    BadIpHeaderLength,
    /// IPv4 total length / IPv6 payload length disagrees with the bytes present.
    BadIpTotalLength,
    /// IPv4 header checksum does not verify.
    BadIpChecksum,
    /// An IPv4 fragment (MF set or offset non-zero) or an IPv6 Fragment header: not reassembled.
    Fragment,
    /// The upper-layer protocol is not TCP.
    NotTcp,
    /// An IPv6 extension header is malformed or unsupported.
    BadExtensionHeader,
    /// TCP data offset below 5 or past the segment.
    BadDataOffset,
    /// A TCP option has a bad length or overruns the header.
    BadOption,
    /// The TCP checksum over the pseudo-header does not verify.
    BadChecksum,
    /// Source or destination port is zero.
    ZeroPort,
    /// A source address that can never be a peer (multicast, broadcast, unspecified).
    BadAddress,
}

impl ParseError {
    /// Every reason, in counter order.
    pub const ALL: [Self; 13] = [
        Self::Truncated,
        Self::BadIpVersion,
        Self::BadIpHeaderLength,
        Self::BadIpTotalLength,
        Self::BadIpChecksum,
        Self::Fragment,
        Self::NotTcp,
        Self::BadExtensionHeader,
        Self::BadDataOffset,
        Self::BadOption,
        Self::BadChecksum,
        Self::ZeroPort,
        Self::BadAddress,
    ];

    /// Index of this reason in [`ParseError::ALL`], for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short snake_case name for counters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::BadIpVersion => "bad_ip_version",
            Self::BadIpHeaderLength => "bad_ip_header_length",
            Self::BadIpTotalLength => "bad_ip_total_length",
            Self::BadIpChecksum => "bad_ip_checksum",
            Self::Fragment => "fragment",
            Self::NotTcp => "not_tcp",
            Self::BadExtensionHeader => "bad_extension_header",
            Self::BadDataOffset => "bad_data_offset",
            Self::BadOption => "bad_option",
            Self::BadChecksum => "bad_checksum",
            Self::ZeroPort => "zero_port",
            Self::BadAddress => "bad_address",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a packet could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// The buffer is shorter than the packet.
    BufferTooSmall,
    /// Source and destination are of different IP versions.
    AddressFamilyMismatch,
    /// More SACK blocks than fit next to the other options.
    OptionsTooLong,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "buffer too small",
            Self::AddressFamilyMismatch => "address family mismatch",
            Self::OptionsTooLong => "options too long",
        })
    }
}

/// TCP control bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: Self = Self(0x01);
    pub const SYN: Self = Self(0x02);
    pub const RST: Self = Self(0x04);
    pub const PSH: Self = Self(0x08);
    pub const ACK: Self = Self(0x10);
    pub const URG: Self = Self(0x20);
    pub const ECE: Self = Self(0x40);
    pub const CWR: Self = Self(0x80);

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }
    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

/// tcpdump style: `S`, `F`, `R`, `P`, `.` for ACK, e.g. `S.` for SYN-ACK, `FP.`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (flag, c) in [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
        ] {
            if self.contains(flag) {
                write!(f, "{c}")?;
                any = true;
            }
        }
        if self.ack() {
            f.write_str(".")?;
            any = true;
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// A SACK block: bytes `[left, right)` the receiver holds (RFC 2018 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SackBlock {
    pub left: SeqNum,
    pub right: SeqNum,
}

/// The TCP timestamps option (RFC 7323 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timestamps {
    /// TSval: the sender's clock.
    pub val: u32,
    /// TSecr: the echoed TSval (meaningful when ACK is set).
    pub ecr: u32,
}

/// The TCP options synack understands. Unknown options are skipped by their length.
///
/// Equality compares the valid SACK blocks only (`sack()`), not unused slots.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2), only meaningful on SYN.
    pub mss: Option<u16>,
    /// Window scale shift (kind 3), only meaningful on SYN. Values above 14 are kept
    /// as received; RFC 7323 §2.3 says the user treats them as 14.
    pub window_scale: Option<u8>,
    /// SACK-permitted (kind 4), only meaningful on SYN.
    pub sack_permitted: bool,
    /// Timestamps (kind 8).
    pub timestamps: Option<Timestamps>,
    /// SACK blocks (kind 5); the first `sack_count` entries are valid.
    pub sack_blocks: [SackBlock; MAX_SACK_BLOCKS],
    /// How many entries of `sack_blocks` are valid.
    pub sack_count: u8,
}

impl PartialEq for TcpOptions {
    fn eq(&self, other: &Self) -> bool {
        self.mss == other.mss
            && self.window_scale == other.window_scale
            && self.sack_permitted == other.sack_permitted
            && self.timestamps == other.timestamps
            && self.sack() == other.sack()
    }
}

impl Eq for TcpOptions {}

impl TcpOptions {
    /// The valid SACK blocks.
    pub fn sack(&self) -> &[SackBlock] {
        &self.sack_blocks[..usize::from(self.sack_count).min(MAX_SACK_BLOCKS)]
    }

    /// Appends a SACK block; returns false when all slots are used.
    pub fn push_sack(&mut self, block: SackBlock) -> bool {
        let n = usize::from(self.sack_count);
        if n >= MAX_SACK_BLOCKS {
            return false;
        }
        self.sack_blocks[n] = block;
        self.sack_count += 1;
        true
    }
}

/// A parsed TCP header (everything but the payload).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    /// The raw (unscaled) window field.
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
}

impl TcpHeader {
    /// Length this header takes on the wire, options and padding included.
    pub fn header_len(&self) -> usize {
        tcp::header_len(&self.options)
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn seq_len(&self, payload_len: usize) -> usize {
        payload_len + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }
}

/// A parsed, checksum-verified TCP segment inside an IPv4 or IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
    pub tcp: TcpHeader,
    pub payload: &'a [u8],
}

/// Parses an IPv4 or IPv6 packet carrying TCP, verifying both checksums.
///
/// # Errors
/// A [`ParseError`] naming the first problem found. Never panics.
pub fn parse(packet: &[u8]) -> Result<Segment<'_>, ParseError> {
    parse_unverified(packet)?.verify().copied()
}

/// A parsed TCP segment whose TCP checksum is still to be checked (the IPv4
/// header checksum has been): the checksum of the pseudo-header and the TCP
/// header is summed, the payload's is not. [`Unverified::verify`] sums the
/// payload; [`Unverified::verify_into`] copies it out while summing it, so a
/// receiver that keeps the payload reads it once.
///
/// Nothing may act on the segment before it is verified: [`Unverified::peek`]
/// is for lookups (which connection would take it, where its payload would go).
#[derive(Clone, Copy, Debug)]
pub struct Unverified<'a> {
    seg: Segment<'a>,
    /// Partial sum of the pseudo-header and the TCP header (an even number of
    /// bytes, so the payload's sum continues it).
    head_sum: u32,
}

impl<'a> Unverified<'a> {
    /// The segment as parsed, checksum unchecked.
    pub fn peek(&self) -> &Segment<'a> {
        &self.seg
    }

    /// Checks the checksum over the payload.
    ///
    /// # Errors
    /// [`ParseError::BadChecksum`] if it does not verify.
    pub fn verify(&self) -> Result<&Segment<'a>, ParseError> {
        if checksum::fold(checksum::sum(self.seg.payload, self.head_sum)) == 0 {
            Ok(&self.seg)
        } else {
            Err(ParseError::BadChecksum)
        }
    }

    /// Copies the payload into `a` then `b` (two pieces of a ring, together
    /// exactly the payload's length) while checking the checksum. On an error the
    /// pieces hold the copied bytes all the same: the caller must not use them.
    ///
    /// # Errors
    /// [`ParseError::BadChecksum`] if it does not verify.
    ///
    /// # Panics
    /// If `a.len() + b.len()` is not the payload's length (a caller bug).
    pub fn verify_into(&self, a: &mut [u8], b: &mut [u8]) -> Result<&Segment<'a>, ParseError> {
        let p = self.seg.payload;
        assert_eq!(a.len() + b.len(), p.len(), "verify_into: pieces do not fit");
        let (pa, pb) = p.split_at(a.len());
        let sa = checksum::copy_and_sum(a, pa, self.head_sum);
        if b.is_empty() {
            // The usual case: the payload does not wrap around the ring.
            return if checksum::fold(sa) == 0 {
                Ok(&self.seg)
            } else {
                Err(ParseError::BadChecksum)
            };
        }
        let sb = checksum::copy_and_sum(b, pb, 0);
        // RFC 1071 §2(B): a piece starting at an odd offset sums byte-swapped.
        // Partial sums are folded to 16 bits, so the cast is lossless.
        let sb = if pa.len() % 2 == 1 {
            u32::from((sb as u16).swap_bytes())
        } else {
            sb
        };
        if checksum::fold(sa + sb) == 0 {
            Ok(&self.seg)
        } else {
            Err(ParseError::BadChecksum)
        }
    }
}

/// Parses an IPv4 or IPv6 packet carrying TCP, verifying the IPv4 header checksum
/// and leaving the TCP checksum to the caller ([`Unverified`]).
///
/// # Errors
/// A [`ParseError`] naming the first problem found, as [`parse`] (a packet that is
/// malformed *and* has a bad checksum is reported as [`ParseError::BadChecksum`]).
/// Never panics.
pub fn parse_unverified(packet: &[u8]) -> Result<Unverified<'_>, ParseError> {
    parse_v4_common_or(packet, parse_unverified_general)
}

/// The options after the handshake (RFC 7323 Appendix A; `tcp::write_options`
/// writes them so): NOP, NOP, kind 8, length 10 as one 32-bit word, then the
/// two timestamps.
const TS_WORD: u32 = u32::from_be_bytes([tcp::OPT_NOP, tcp::OPT_NOP, tcp::OPT_TIMESTAMPS, 10]);
/// Their length.
const TS_OPTIONS_LEN: usize = 12;

/// A handshake's options in Linux's order (`tcp::write_options` writes them so
/// too), as 32-bit words: MSS (kind 2, length 4; the value in the low half),
/// SACK-permitted with the timestamps' kind and length, the two timestamps,
/// then NOP and window scale (kind 3, length 3; the shift in the low byte).
const SYN_MSS: u32 = u32::from_be_bytes([tcp::OPT_MSS, 4, 0, 0]);
const SYN_SACK_TS: u32 = u32::from_be_bytes([tcp::OPT_SACK_PERMITTED, 2, tcp::OPT_TIMESTAMPS, 10]);
const SYN_WS: u32 = u32::from_be_bytes([tcp::OPT_NOP, tcp::OPT_WINDOW_SCALE, 3, 0]);
/// Their length.
const SYN_OPTIONS_LEN: usize = 20;

/// [`parse_unverified`] of the packets a connection carries after its handshake
/// (IPv4 without IP options, unfragmented, TCP with no options or the NOP, NOP,
/// timestamps of RFC 7323 Appendix A) and of the SYN and SYN,ACK that open it
/// when they carry every option in Linux's order (MSS, SACK-permitted,
/// timestamps, NOP, window scale: what Linux and synack both send), well
/// formed: the same result, with the
/// fields read at fixed offsets and both header sums added up from 32-bit words
/// in one pass over the 40 or 52 bytes (RFC 1071 §2(B)/(C): `2^16 ≡ 1 (mod
/// 0xffff)`, so a big-endian 32-bit word counts as the sum of its two 16-bit
/// halves). Anything else, or anything wrong (the IPv4 checksum included), goes
/// to `general`, which names the reason. (A fallback rather than an `Option`:
/// the ~150-byte result is then built once, in place.)
#[inline]
fn parse_v4_common_or<'a>(
    packet: &'a [u8],
    general: impl FnOnce(&'a [u8]) -> Result<Unverified<'a>, ParseError>,
) -> Result<Unverified<'a>, ParseError> {
    let Some((h, _)) = packet.split_first_chunk::<{ IPV4_HEADER_LEN + TCP_HEADER_LEN }>() else {
        return general(packet);
    };
    let word = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let (w0, w1, w2, src, dst) = (word(0), word(4), word(8), word(12), word(16));
    let total = (w0 & 0xffff) as usize;
    // Version 4, IHL 5; Total Length within the packet and past both fixed
    // headers; neither More Fragments nor an offset (RFC 791 §3.1); TCP.
    if w0 >> 24 != 0x45
        || total > packet.len()
        || total < IPV4_HEADER_LEN + TCP_HEADER_LEN
        || w1 & 0x3fff != 0
        || (w2 >> 16) as u8 != IP_PROTO_TCP
    {
        return general(packet);
    }
    let ip_sum = u64::from(w0) + u64::from(w1) + u64::from(w2) + u64::from(src) + u64::from(dst);
    if checksum::fold64(ip_sum) != 0xffff {
        return general(packet);
    }
    // Unspecified, multicast (224/4) and broadcast sources: BadAddress.
    if src == 0 || src >> 28 == 0xe || src == u32::MAX {
        return general(packet);
    }
    let (ports, seq, ack, w3, w4) = (word(20), word(24), word(28), word(32), word(36));
    if ports >> 16 == 0 || ports & 0xffff == 0 {
        return general(packet);
    }
    let Some(segment) = packet.get(IPV4_HEADER_LEN..total) else {
        return general(packet);
    };
    let tcp_len = segment.len();
    let mut sum = u64::from(src)
        + u64::from(dst)
        + u64::from(IP_PROTO_TCP)
        + tcp_len as u64 // below 2^16
        + u64::from(ports)
        + u64::from(seq)
        + u64::from(ack)
        + u64::from(w3)
        + u64::from(w4);
    let (header_len, options) = match w3 >> 28 {
        5 => (TCP_HEADER_LEN, TcpOptions::default()),
        8 => {
            let Some([kind, val, ecr]) = option_words(segment) else {
                return general(packet);
            };
            if kind != TS_WORD {
                return general(packet);
            }
            sum += u64::from(kind) + u64::from(val) + u64::from(ecr);
            let options = TcpOptions {
                timestamps: Some(Timestamps { val, ecr }),
                ..TcpOptions::default()
            };
            (TCP_HEADER_LEN + TS_OPTIONS_LEN, options)
        }
        10 => {
            let Some([mss, sack_ts, val, ecr, ws]) = option_words(segment) else {
                return general(packet);
            };
            if mss & 0xffff_0000 != SYN_MSS || sack_ts != SYN_SACK_TS || ws & 0xffff_ff00 != SYN_WS
            {
                return general(packet);
            }
            sum += u64::from(mss) + u64::from(sack_ts) + u64::from(val);
            sum += u64::from(ecr) + u64::from(ws);
            // Truncations take the value fields the masks above left out.
            let options = TcpOptions {
                mss: Some(mss as u16),
                window_scale: Some(ws as u8),
                sack_permitted: true,
                timestamps: Some(Timestamps { val, ecr }),
                ..TcpOptions::default()
            };
            (TCP_HEADER_LEN + SYN_OPTIONS_LEN, options)
        }
        _ => return general(packet),
    };
    // The data offset is within the segment: every arm above read that far.
    let Some(payload) = segment.get(header_len..) else {
        return general(packet);
    };
    let [_, flags, _, _] = w3.to_be_bytes();
    Ok(Unverified {
        seg: Segment {
            src: IpAddr::V4(Ipv4Addr::from_bits(src)),
            dst: IpAddr::V4(Ipv4Addr::from_bits(dst)),
            hop_limit: (w2 >> 24) as u8,
            tcp: TcpHeader {
                src_port: (ports >> 16) as u16,
                dst_port: ports as u16,
                seq: SeqNum(seq),
                ack: SeqNum(ack),
                flags: TcpFlags(flags),
                window: w3 as u16,
                urgent: w4 as u16,
                options,
            },
            payload,
        },
        head_sum: checksum::fold64(sum),
    })
}

/// The first `N` 32-bit words of a TCP segment's option area, big-endian, if
/// the segment is that long.
#[inline]
fn option_words<const N: usize>(segment: &[u8]) -> Option<[u32; N]> {
    let bytes = segment.get(TCP_HEADER_LEN..TCP_HEADER_LEN + 4 * N)?;
    let mut words = [0u32; N];
    for (w, b) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    }
    Some(words)
}

/// [`parse_unverified`] for any packet: each header checked in turn.
#[inline(never)]
fn parse_unverified_general(packet: &[u8]) -> Result<Unverified<'_>, ParseError> {
    let Some(first) = packet.first() else {
        return Err(ParseError::Truncated);
    };
    let (src, dst, hop_limit, tcp_bytes) = match first >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(packet)?;
            (
                IpAddr::V4(ip.src()),
                IpAddr::V4(ip.dst()),
                ip.ttl(),
                ip.into_payload(),
            )
        }
        6 => {
            let ip = Ipv6Packet::new_checked(packet)?;
            (
                IpAddr::V6(ip.src()),
                IpAddr::V6(ip.dst()),
                ip.hop_limit(),
                ip.into_payload(),
            )
        }
        _ => return Err(ParseError::BadIpVersion),
    };
    if src.is_unspecified()
        || src.is_multicast()
        || src == IpAddr::V4(core::net::Ipv4Addr::BROADCAST)
    {
        return Err(ParseError::BadAddress);
    }
    let tcp = TcpPacket::new_checked(tcp_bytes)?;
    let header = match tcp.header() {
        Ok(h) => h,
        // The checksum is checked first: a damaged packet is a bad checksum.
        Err(_) if !tcp.verify_checksum(&src, &dst) => return Err(ParseError::BadChecksum),
        Err(e) => return Err(e),
    };
    let Ok(len) = u32::try_from(tcp_bytes.len()) else {
        return Err(ParseError::BadChecksum);
    };
    let pseudo = checksum::pseudo_header(&src, &dst, IP_PROTO_TCP, len);
    // new_checked keeps the data offset within the packet.
    let hlen = tcp.header_len().min(tcp_bytes.len());
    let head_sum = checksum::sum(&tcp_bytes[..hlen], pseudo);
    Ok(Unverified {
        seg: Segment {
            src,
            dst,
            hop_limit,
            tcp: header,
            payload: tcp.into_payload(),
        },
        head_sum,
    })
}

/// Length of the whole packet [`emit`] would write.
pub fn emitted_len(src: &IpAddr, tcp: &TcpHeader, payload_len: usize) -> usize {
    let ip = if src.is_ipv4() {
        IPV4_HEADER_LEN
    } else {
        IPV6_HEADER_LEN
    };
    ip + tcp.header_len() + payload_len
}

/// Writes an IP packet carrying `tcp` + `payload` into `buf`, checksums filled in.
/// Returns the number of bytes written.
///
/// # Errors
/// [`EmitError::BufferTooSmall`] if `buf` is short; [`EmitError::AddressFamilyMismatch`]
/// if `src` and `dst` differ in version; [`EmitError::OptionsTooLong`] if the options
/// exceed 40 bytes.
pub fn emit(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpHeader,
    payload: &[u8],
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    emit_parts(src, dst, hop_limit, tcp, [payload, &[]], buf)
}

/// [`emit`] with the payload in two pieces sent back to back (a ring buffer's two
/// slices).
///
/// # Errors
/// As [`emit`].
#[inline]
pub fn emit_parts(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpHeader,
    payload: [&[u8]; 2],
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    if let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) {
        let o = &tcp.options;
        let handshake = o.mss.is_some()
            && o.window_scale.is_some()
            && o.sack_permitted
            && o.timestamps.is_some();
        let plain = o.mss.is_none() && o.window_scale.is_none() && !o.sack_permitted;
        if o.sack_count == 0 && (plain || handshake) {
            return emit_v4_plain(s, d, hop_limit, tcp, payload, buf);
        }
    }
    emit_parts_general(src, dst, hop_limit, tcp, payload, buf)
}

/// [`emit_parts`] for any header: the options written out, the headers summed
/// back from the buffer.
fn emit_parts_general(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpHeader,
    payload: [&[u8]; 2],
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let tcp_len = tcp::header_len_checked(&tcp.options)? + payload[0].len() + payload[1].len();
    let ip_len = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ipv4::emit_header(s, d, IP_PROTO_TCP, hop_limit, tcp_len, buf)?
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ipv6::emit_header(s, d, IP_PROTO_TCP, hop_limit, tcp_len, buf)?
        }
        _ => return Err(EmitError::AddressFamilyMismatch),
    };
    let Some(rest) = buf.get_mut(ip_len..ip_len + tcp_len) else {
        return Err(EmitError::BufferTooSmall);
    };
    tcp::emit_parts(tcp, payload, &src, &dst, rest)?;
    Ok(ip_len + tcp_len)
}

/// [`emit_parts`] for IPv4 and a header with no options, timestamps alone
/// (every segment of an established connection but those carrying SACK
/// blocks), or a handshake's MSS, SACK-permitted, timestamps and window scale
/// (the caller checks it is one of these: with an MSS, all four are taken to
/// be there): the same bytes, with both headers written in place from their
/// fields and their checksums added up from the same fields instead of summed
/// back from the buffer. 32-bit words are added whole: `2^16 ≡ 1 (mod
/// 0xffff)`, so a word counts as the sum of its two 16-bit halves (RFC 1071
/// §2(B)); every sum here includes the protocol number, so it is never zero
/// and folds to the same 16 bits as the byte-wise sum.
#[inline]
pub(crate) fn emit_v4_plain(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    tcp: &TcpHeader,
    payload: [&[u8]; 2],
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    /// Version 4 and IHL 5; Don't Fragment, ID 0 (as `ipv4::emit_header`).
    const VER_IHL: u8 = 0x45;
    let o = &tcp.options;
    debug_assert!(
        o.sack_count == 0
            && if o.mss.is_some() {
                o.window_scale.is_some() && o.sack_permitted && o.timestamps.is_some()
            } else {
                o.window_scale.is_none() && !o.sack_permitted
            },
        "not a layout of the fast path"
    );
    // The handshake's set (an MSS means all four are there), timestamps
    // alone, or no options.
    let header_len = TCP_HEADER_LEN
        + match (o.mss, o.timestamps) {
            (Some(_), _) => SYN_OPTIONS_LEN,
            (None, Some(_)) => TS_OPTIONS_LEN,
            (None, None) => 0,
        };
    let tcp_len = header_len + payload[0].len() + payload[1].len();
    let total = IPV4_HEADER_LEN + tcp_len;
    if total > 0xffff {
        return Err(EmitError::BufferTooSmall);
    }
    let out = buf.get_mut(..total).ok_or(EmitError::BufferTooSmall)?;
    // The fixed headers (total is at least their length, so this never fails).
    let (head, rest) = out
        .split_first_chunk_mut::<{ IPV4_HEADER_LEN + TCP_HEADER_LEN }>()
        .ok_or(EmitError::BufferTooSmall)?;
    let (s, d) = (u32::from(src), u32::from(dst));
    let addrs = u64::from(s) + u64::from(d);
    // total <= 0xffff was checked above.
    let w0 = u32::from(VER_IHL) << 24 | total as u32;
    let w1 = u32::from(ipv4::FLAG_DF);
    let w2 = u32::from(ttl) << 24 | u32::from(IP_PROTO_TCP) << 16;
    let ip_sum = addrs + u64::from(w0) + u64::from(w1) + u64::from(w2);
    put_be32(head, 0, w0);
    put_be32(head, 4, w1);
    // fold64 returns at most 0xffff: the cast is lossless.
    put_be32(head, 8, w2 | u32::from(!(checksum::fold64(ip_sum) as u16)));
    put_be32(head, 12, s);
    put_be32(head, 16, d);

    let ports = u32::from(tcp.src_port) << 16 | u32::from(tcp.dst_port);
    // header_len <= 40, so header_len / 4 fits in the 4-bit data offset.
    let off_flags = u32::from(u16::from_be_bytes([
        ((header_len / 4) as u8) << 4,
        tcp.flags.0,
    ]));
    let (seq, ack) = (tcp.seq.get(), tcp.ack.get());
    let w3 = off_flags << 16 | u32::from(tcp.window);
    let urgent = u32::from(tcp.urgent);
    let mut sum = addrs
        + u64::from(IP_PROTO_TCP)
        + tcp_len as u64 // at most 0xffff
        + u64::from(ports)
        + u64::from(seq)
        + u64::from(ack)
        + u64::from(w3)
        + u64::from(urgent);
    put_be32(head, 20, ports);
    put_be32(head, 24, seq);
    put_be32(head, 28, ack);
    put_be32(head, 32, w3);
    // rest holds the option area (header_len - 20 bytes) and the payload.
    let data = match (o.mss, o.timestamps) {
        (Some(mss), Some(ts)) => {
            let words = [
                SYN_MSS | u32::from(mss),
                SYN_SACK_TS,
                ts.val,
                ts.ecr,
                SYN_WS | u32::from(o.window_scale.unwrap_or(0)),
            ];
            let (opts, data) = rest
                .split_first_chunk_mut::<SYN_OPTIONS_LEN>()
                .ok_or(EmitError::BufferTooSmall)?;
            for (i, w) in words.into_iter().enumerate() {
                sum += u64::from(w);
                put_be32(opts, 4 * i, w);
            }
            data
        }
        (None, Some(ts)) => {
            sum += u64::from(TS_WORD) + u64::from(ts.val) + u64::from(ts.ecr);
            let (opts, data) = rest
                .split_first_chunk_mut::<TS_OPTIONS_LEN>()
                .ok_or(EmitError::BufferTooSmall)?;
            put_be32(opts, 0, TS_WORD);
            put_be32(opts, 4, ts.val);
            put_be32(opts, 8, ts.ecr);
            data
        }
        _ => rest,
    };
    let sum = checksum::copy_and_sum_parts(data, payload[0], payload[1], checksum::fold64(sum));
    put_be32(head, 36, u32::from(checksum::fold(sum)) << 16 | urgent);
    Ok(total)
}

/// Writes `v` big-endian at `at` (a constant offset within `b` once inlined:
/// no bounds check is left).
#[inline]
fn put_be32<const N: usize>(b: &mut [u8; N], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod plain_tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    proptest! {
        /// The IPv4 fast path writes exactly what the general one does.
        #[test]
        fn v4_plain_matches_general(
            s in any::<u32>(), d in any::<u32>(), ttl in any::<u8>(),
            ports in (1u16.., 1u16..), seq in any::<u32>(), ack in any::<u32>(),
            flags in any::<u8>(), window in any::<u16>(), urgent in any::<u16>(),
            ts in proptest::option::of((any::<u32>(), any::<u32>())),
            syn in proptest::option::of((any::<u16>(), any::<u8>())),
            a in proptest::collection::vec(any::<u8>(), 0..1600),
            b in proptest::collection::vec(any::<u8>(), 0..300),
            room in 0usize..2000,
        ) {
            let mut hdr = TcpHeader {
                src_port: ports.0,
                dst_port: ports.1,
                seq: SeqNum(seq),
                ack: SeqNum(ack),
                flags: TcpFlags(flags),
                window,
                urgent,
                options: TcpOptions {
                    timestamps: ts.map(|(val, ecr)| Timestamps { val, ecr }),
                    ..TcpOptions::default()
                },
            };
            if let (Some((mss, shift)), Some(_)) = (syn, ts) {
                // A handshake's full set, which the fast path writes too.
                hdr.options.mss = Some(mss);
                hdr.options.window_scale = Some(shift);
                hdr.options.sack_permitted = true;
            }
            let (src, dst) = (IpAddr::V4(Ipv4Addr::from(s)), IpAddr::V4(Ipv4Addr::from(d)));
            let mut x = vec![0xa5u8; room + 100];
            let mut y = vec![0xa5u8; room + 100];
            let rx = emit_parts(src, dst, ttl, &hdr, [&a, &b], &mut x[..room]);
            let ry = emit_parts_general(src, dst, ttl, &hdr, [&a, &b], &mut y[..room]);
            prop_assert_eq!(rx, ry);
            if rx.is_ok() {
                prop_assert_eq!(x, y);
            }
        }
    }
}
