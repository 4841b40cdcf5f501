//! IPv6 (RFC 8200): a checked zero-copy view of a received packet carrying TCP,
//! walking the extension-header chain to the TCP header, and a writer for the
//! 40-byte fixed header synack sends.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Source Address (128 bits)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Destination Address (128 bits)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Extension headers handled on the way to TCP:
//!
//! | next header | what | handling |
//! |---|---|---|
//! | 0 Hop-by-Hop, 60 Destination Options | TLV options | skipped; options checked (§4.2) |
//! | 43 Routing | source route | skipped if Segments Left is 0 (§4.4), else refused |
//! | 44 Fragment | | [`ParseError::Fragment`]: synack does not reassemble |
//! | 50 ESP, 51 AH | IPsec | [`ParseError::BadExtensionHeader`]: unsupported |
//! | 59 No Next Header | | [`ParseError::NotTcp`] |
//! | 6 TCP | | done |
//! | anything else | | [`ParseError::NotTcp`] |
//!
//! At most [`MAX_EXTENSION_HEADERS`] extension headers are walked.

use core::net::Ipv6Addr;

use super::{EmitError, ParseError, IPV6_HEADER_LEN, IP_PROTO_TCP};

/// Next Header: Hop-by-Hop Options.
pub const NEXT_HOP_BY_HOP: u8 = 0;
/// Next Header: Routing.
pub const NEXT_ROUTING: u8 = 43;
/// Next Header: Fragment.
pub const NEXT_FRAGMENT: u8 = 44;
/// Next Header: Encapsulating Security Payload.
pub const NEXT_ESP: u8 = 50;
/// Next Header: Authentication Header.
pub const NEXT_AH: u8 = 51;
/// Next Header: No Next Header.
pub const NEXT_NONE: u8 = 59;
/// Next Header: Destination Options.
pub const NEXT_DEST_OPTS: u8 = 60;
/// Most extension headers [`Ipv6Packet::new_checked`] walks before giving up.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// A zero-copy view of an IPv6 packet carrying TCP, validated by
/// [`Ipv6Packet::new_checked`]: the fixed header and Payload Length fit the buffer
/// and the extension-header chain leads, intact, to TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
    /// Offset of the TCP header, after any extension headers.
    upper_offset: usize,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Checks `buffer`, walks its extension headers and wraps it.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] (under 40 bytes), [`ParseError::BadIpVersion`],
    /// [`ParseError::BadIpTotalLength`] (Payload Length past the buffer, or 0: a
    /// jumbogram, unsupported), then from the extension-header walk
    /// [`ParseError::BadExtensionHeader`], [`ParseError::Fragment`] or
    /// [`ParseError::NotTcp`] as in the [module table](self).
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < IPV6_HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if b.first().copied().unwrap_or(0) >> 4 != 6 {
            return Err(ParseError::BadIpVersion);
        }
        // RFC 8200 §3: "Payload Length ... Length of the IPv6 payload, i.e., the rest
        // of the packet following this IPv6 header, in octets. (Note that any
        // extension headers present are considered part of the payload ...)".
        // RFC 2675 §3: a jumbogram has Payload Length 0; not supported.
        let payload_len = usize::from(be16(b, 4));
        let end = IPV6_HEADER_LEN + payload_len;
        if payload_len == 0 || end > b.len() {
            return Err(ParseError::BadIpTotalLength);
        }
        let Some(packet) = b.get(..end) else {
            return Err(ParseError::BadIpTotalLength);
        };
        let first_next = b.get(6).copied().unwrap_or(NEXT_NONE);
        let upper_offset = find_upper_layer(packet, first_next)?;
        Ok(Self {
            buffer,
            upper_offset,
        })
    }

    /// The underlying buffer, as given (including any bytes past Payload Length).
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Traffic Class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (be16(self.bytes(), 0) >> 4) as u8
    }

    /// Flow Label (20 bits).
    pub fn flow_label(&self) -> u32 {
        match self.bytes().get(1..4) {
            Some(&[a, b, c]) => u32::from_be_bytes([0, a & 0x0f, b, c]),
            _ => 0,
        }
    }

    /// The Payload Length field: bytes after the fixed header, extension headers
    /// included.
    pub fn payload_len(&self) -> usize {
        usize::from(be16(self.bytes(), 4))
    }

    /// The Next Header field of the fixed header (the first extension header, or 6).
    pub fn next_header(&self) -> u8 {
        self.bytes().get(6).copied().unwrap_or(NEXT_NONE)
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        self.bytes().get(7).copied().unwrap_or(0)
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        addr(self.bytes(), 8)
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        addr(self.bytes(), 24)
    }

    /// Offset of the TCP header from the start of the packet (40 without extension
    /// headers).
    pub fn upper_offset(&self) -> usize {
        self.upper_offset
    }

    /// The TCP segment: from [`upper_offset`](Self::upper_offset) to the end of the
    /// payload.
    pub fn payload(&self) -> &[u8] {
        upper_of(self.bytes(), self.upper_offset)
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<'a> Ipv6Packet<&'a [u8]> {
    /// Like [`Ipv6Packet::payload`], but borrowing from the original buffer rather
    /// than from the view, so the result outlives `self`.
    pub fn into_payload(self) -> &'a [u8] {
        upper_of(self.buffer, self.upper_offset)
    }
}

/// Walks the extension headers of `packet` (exactly header + Payload Length bytes)
/// starting at `next`, and returns the offset of the TCP header.
fn find_upper_layer(packet: &[u8], mut next: u8) -> Result<usize, ParseError> {
    let mut off = IPV6_HEADER_LEN;
    let mut walked = 0;
    loop {
        match next {
            IP_PROTO_TCP => return Ok(off),
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_DEST_OPTS => {
                // RFC 8200 §4.1: "... except for the Hop-by-Hop Options header,
                // which is restricted to appear immediately after an IPv6 header
                // only."
                if next == NEXT_HOP_BY_HOP && walked != 0 {
                    return Err(ParseError::BadExtensionHeader);
                }
                if walked == MAX_EXTENSION_HEADERS {
                    return Err(ParseError::BadExtensionHeader);
                }
                let hdr = ext_header(packet, off)?;
                match next {
                    NEXT_ROUTING => check_routing(hdr)?,
                    _ => check_options(hdr)?,
                }
                next = hdr.first().copied().unwrap_or(NEXT_NONE);
                off += hdr.len();
                walked += 1;
            }
            NEXT_FRAGMENT => return Err(ParseError::Fragment),
            NEXT_ESP | NEXT_AH => return Err(ParseError::BadExtensionHeader),
            // RFC 8200 §4.7: "The value 59 in the Next Header field of an IPv6
            // header or any extension header indicates that there is nothing
            // following that header."
            NEXT_NONE => return Err(ParseError::NotTcp),
            _ => return Err(ParseError::NotTcp),
        }
    }
}

/// The extension header at `off` in the generic layout shared by Hop-by-Hop,
/// Routing and Destination Options: RFC 8200 §4.3, "Hdr Ext Len: 8-bit unsigned
/// integer. Length of the Hop-by-Hop Options header in 8-octet units, not
/// including the first 8 octets."
fn ext_header(packet: &[u8], off: usize) -> Result<&[u8], ParseError> {
    let ext_len = packet
        .get(off + 1)
        .copied()
        .ok_or(ParseError::BadExtensionHeader)?;
    let len = (usize::from(ext_len) + 1) * 8;
    packet
        .get(off..off + len)
        .ok_or(ParseError::BadExtensionHeader)
}

/// Checks the TLV options of a Hop-by-Hop or Destination Options header.
///
/// RFC 8200 §4.2: "The highest-order 2 bits of the Option Type specify the action
/// that must be taken if the processing IPv6 node does not recognize the Option
/// Type: 00 - skip over this option and continue processing the header. 01 -
/// discard the packet. 10 - discard the packet and ... send an ICMP Parameter
/// Problem ... 11 - discard the packet and, only if the packet's Destination
/// Address was not a multicast address, send an ICMP Parameter Problem".
/// synack recognizes only Pad1 and PadN and sends no ICMP.
fn check_options(hdr: &[u8]) -> Result<(), ParseError> {
    const PAD1: u8 = 0;
    let mut rest = hdr.get(2..).unwrap_or(&[]);
    while let Some((&kind, tail)) = rest.split_first() {
        if kind == PAD1 {
            rest = tail;
            continue;
        }
        let len = tail
            .first()
            .copied()
            .ok_or(ParseError::BadExtensionHeader)?;
        rest = tail
            .get(1 + usize::from(len)..)
            .ok_or(ParseError::BadExtensionHeader)?;
        // PadN (1) and other "skip" options (high bits 00) are fine; anything whose
        // action is "discard" is a drop.
        if kind >> 6 != 0 {
            return Err(ParseError::BadExtensionHeader);
        }
    }
    Ok(())
}

/// RFC 8200 §4.4, for an unrecognized Routing Type (synack recognizes none): "If
/// Segments Left is zero, the node must ignore the Routing header and proceed to
/// process the next header in the packet ... If Segments Left is non-zero, the
/// node must discard the packet".
fn check_routing(hdr: &[u8]) -> Result<(), ParseError> {
    match hdr.get(3) {
        Some(0) => Ok(()),
        _ => Err(ParseError::BadExtensionHeader),
    }
}

/// `upper_offset..40 + payload_len`; validated by `new_checked`, so the empty
/// fallback is unreachable.
fn upper_of(b: &[u8], upper_offset: usize) -> &[u8] {
    let end = IPV6_HEADER_LEN + usize::from(be16(b, 4));
    b.get(upper_offset..end).unwrap_or(&[])
}

/// The big-endian u16 at `off`, or 0 past the end (unreachable for checked views).
fn be16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off + 2) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

fn addr(b: &[u8], off: usize) -> Ipv6Addr {
    b.get(off..off + 16)
        .and_then(|s| <[u8; 16]>::try_from(s).ok())
        .map_or(Ipv6Addr::UNSPECIFIED, Ipv6Addr::from)
}

/// Writes a 40-byte IPv6 header (no extension headers, Traffic Class and Flow
/// Label 0) for a `payload_len`-byte payload at the start of `buf` and returns 40.
/// The payload itself is not touched.
///
/// # Errors
/// [`EmitError::BufferTooSmall`] if `payload_len` exceeds 65535 (jumbograms are not
/// sent) or `buf` is shorter than `40 + payload_len`.
pub fn emit_header(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload_len: usize,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let Ok(len16) = u16::try_from(payload_len) else {
        return Err(EmitError::BufferTooSmall);
    };
    if buf.len() < IPV6_HEADER_LEN + payload_len {
        return Err(EmitError::BufferTooSmall);
    }
    let Some((fixed, rest)) = buf.split_first_chunk_mut::<8>() else {
        return Err(EmitError::BufferTooSmall);
    };
    let [l_hi, l_lo] = len16.to_be_bytes();
    *fixed = [0x60, 0, 0, 0, l_hi, l_lo, next_header, hop_limit];
    let Some((s, rest)) = rest.split_first_chunk_mut::<16>() else {
        return Err(EmitError::BufferTooSmall);
    };
    *s = src.octets();
    let Some((d, _)) = rest.split_first_chunk_mut::<16>() else {
        return Err(EmitError::BufferTooSmall);
    };
    *d = dst.octets();
    Ok(IPV6_HEADER_LEN)
}
