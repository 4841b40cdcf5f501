//! IPv4 (RFC 791): a checked zero-copy view of a received packet carrying TCP, and
//! a writer for the 20-byte header synack sends.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Options are skipped (by IHL), fragments are refused (synack does not reassemble),
//! and bytes past Total Length (e.g. Ethernet padding) are ignored.

use core::net::Ipv4Addr;

use super::{checksum, EmitError, ParseError, IPV4_HEADER_LEN, IP_PROTO_TCP};

/// The "More Fragments" flag in the flags/fragment-offset word.
const FLAG_MF: u16 = 0x2000;
/// The "Don't Fragment" flag.
pub(super) const FLAG_DF: u16 = 0x4000;
/// The fragment offset bits.
const FRAG_OFFSET_MASK: u16 = 0x1fff;
/// Largest value of the 16-bit Total Length field.
const MAX_TOTAL_LEN: usize = 0xffff;

/// A zero-copy view of an IPv4 packet carrying TCP, validated by
/// [`Ipv4Packet::new_checked`]: the header and Total Length fit the buffer, the
/// header checksum verifies, and it is an unfragmented TCP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks `buffer` and wraps it.
    ///
    /// # Errors
    /// In this order: [`ParseError::Truncated`] (under 20 bytes),
    /// [`ParseError::BadIpVersion`], [`ParseError::BadIpHeaderLength`] (IHL below 5
    /// or past the buffer), [`ParseError::BadIpTotalLength`] (Total Length below the
    /// header or past the buffer), [`ParseError::BadIpChecksum`],
    /// [`ParseError::Fragment`], [`ParseError::NotTcp`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let Some(header) = b.get(..IPV4_HEADER_LEN) else {
            return Err(ParseError::Truncated);
        };
        let (vihl, total_len, frag, proto) = (
            header.first().copied().unwrap_or(0),
            usize::from(be16(header, 2)),
            be16(header, 6),
            header.get(9).copied().unwrap_or(0),
        );
        if vihl >> 4 != 4 {
            return Err(ParseError::BadIpVersion);
        }
        // RFC 791 §3.1: "Internet Header Length is the length of the internet
        // header in 32 bit words ... Note that the minimum value for a correct
        // header is 5."
        let header_len = usize::from(vihl & 0x0f) * 4;
        if header_len < IPV4_HEADER_LEN || header_len > b.len() {
            return Err(ParseError::BadIpHeaderLength);
        }
        // RFC 791 §3.1: "Total Length is the length of the datagram, measured in
        // octets, including internet header and data."
        if total_len < header_len || total_len > b.len() {
            return Err(ParseError::BadIpTotalLength);
        }
        // RFC 791 §3.1: "The checksum field is the 16 bit one's complement of the
        // one's complement sum of all 16 bit words in the header."
        let Some(full_header) = b.get(..header_len) else {
            return Err(ParseError::BadIpHeaderLength);
        };
        if checksum::fold(checksum::sum(full_header, 0)) != 0 {
            return Err(ParseError::BadIpChecksum);
        }
        // A fragment is anything but a whole datagram: more fragments follow, or
        // this is not the first one. synack does not reassemble.
        if frag & FLAG_MF != 0 || frag & FRAG_OFFSET_MASK != 0 {
            return Err(ParseError::Fragment);
        }
        if proto != IP_PROTO_TCP {
            return Err(ParseError::NotTcp);
        }
        Ok(Self { buffer })
    }

    /// The underlying buffer, as given (including any bytes past Total Length).
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.bytes().first().copied().unwrap_or(0) & 0x0f) * 4
    }

    /// The Total Length field: header plus data, in bytes.
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.bytes(), 2))
    }

    /// Time to Live.
    pub fn ttl(&self) -> u8 {
        self.bytes().get(8).copied().unwrap_or(0)
    }

    /// The Protocol field (always [`IP_PROTO_TCP`] for a checked packet).
    pub fn protocol(&self) -> u8 {
        self.bytes().get(9).copied().unwrap_or(0)
    }

    /// The Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.bytes(), 4)
    }

    /// Whether the Don't Fragment flag is set.
    pub fn dont_fragment(&self) -> bool {
        be16(self.bytes(), 6) & FLAG_DF != 0
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        addr(self.bytes(), 12)
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        addr(self.bytes(), 16)
    }

    /// The data after the header, up to Total Length (the TCP segment).
    pub fn payload(&self) -> &[u8] {
        payload_of(self.bytes())
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<'a> Ipv4Packet<&'a [u8]> {
    /// Like [`Ipv4Packet::payload`], but borrowing from the original buffer rather
    /// than from the view, so the result outlives `self`.
    pub fn into_payload(self) -> &'a [u8] {
        payload_of(self.buffer)
    }
}

/// `header_len..total_len`; both were validated against the buffer by
/// `new_checked`, the empty fallback is unreachable.
fn payload_of(b: &[u8]) -> &[u8] {
    let header_len = usize::from(b.first().copied().unwrap_or(0) & 0x0f) * 4;
    let total_len = usize::from(be16(b, 2));
    b.get(header_len..total_len).unwrap_or(&[])
}

/// The big-endian u16 at `off`, or 0 past the end (unreachable for checked views).
fn be16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off + 2) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

fn addr(b: &[u8], off: usize) -> Ipv4Addr {
    match b.get(off..off + 4) {
        Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

/// Writes a 20-byte IPv4 header for a `payload_len`-byte payload at the start of
/// `buf` and returns 20.
///
/// The header has no options, TOS 0, Don't Fragment set and Identification 0 (RFC
/// 6864 §4.1: "Originating sources MAY set the IPv4 ID field of atomic datagrams to
/// any value"; an atomic datagram has DF set and is not a fragment), and a
/// computed header checksum. The payload itself is not touched.
///
/// # Errors
/// [`EmitError::BufferTooSmall`] if `buf` is shorter than `20 + payload_len`, or if
/// that exceeds the 65535-byte limit of Total Length.
pub fn emit_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    payload_len: usize,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let total_len = payload_len
        .checked_add(IPV4_HEADER_LEN)
        .filter(|&n| n <= MAX_TOTAL_LEN && n <= buf.len())
        .ok_or(EmitError::BufferTooSmall)?;
    let Some(header) = buf.get_mut(..IPV4_HEADER_LEN) else {
        return Err(EmitError::BufferTooSmall);
    };
    // total_len <= 0xffff was checked above.
    let [tl_hi, tl_lo] = (total_len as u16).to_be_bytes();
    let [df_hi, df_lo] = FLAG_DF.to_be_bytes();
    let [s0, s1, s2, s3] = src.octets();
    let [d0, d1, d2, d3] = dst.octets();
    let mut h = [
        0x45, 0, tl_hi, tl_lo, 0, 0, df_hi, df_lo, ttl, proto, 0, 0, s0, s1, s2, s3, d0, d1, d2, d3,
    ];
    let [c_hi, c_lo] = checksum::fold(checksum::sum(&h, 0)).to_be_bytes();
    h[10] = c_hi;
    h[11] = c_lo;
    header.copy_from_slice(&h);
    Ok(IPV4_HEADER_LEN)
}
