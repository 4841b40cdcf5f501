//! TCP header (RFC 9293 §3.1) and options (RFC 9293 §3.2; window scale and
//! timestamps, RFC 7323; SACK, RFC 2018): a checked zero-copy view of a received
//! segment, an option decoder, and a writer.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # Option layout on emit
//!
//! Options are written in the order and alignment Linux uses, each piece a
//! multiple of 4 bytes, so no trailing padding is ever needed:
//!
//! ```text
//! MSS                         02 04 mm mm
//! SACK-permitted + timestamps 04 02 08 0a vv vv vv vv ee ee ee ee   (compact)
//! timestamps alone            01 01 08 0a vv vv vv vv ee ee ee ee
//! SACK-permitted alone        01 01 04 02
//! window scale                01 03 03 ss
//! SACK blocks (n = 1..=4)     01 01 05 (2+8n) left right ...
//! ```
//!
//! A Linux SYN therefore reads `02 04 mss | 04 02 08 0a tsval tsecr | 01 03 03 ws`.
//! The layout depends on the options only (never on the flags), so
//! [`header_len`] needs nothing else.

use core::net::IpAddr;

use super::{
    checksum, EmitError, ParseError, SackBlock, TcpFlags, TcpHeader, TcpOptions, Timestamps,
    IP_PROTO_TCP, MAX_SACK_BLOCKS, TCP_HEADER_LEN, TCP_MAX_HEADER_LEN,
};
use crate::tcp::seq::SeqNum;

/// Option kind: End of Option List.
pub const OPT_EOL: u8 = 0;
/// Option kind: No-Operation.
pub const OPT_NOP: u8 = 1;
/// Option kind: Maximum Segment Size (RFC 9293 §3.2), length 4.
pub const OPT_MSS: u8 = 2;
/// Option kind: Window Scale (RFC 7323 §2.2), length 3.
pub const OPT_WINDOW_SCALE: u8 = 3;
/// Option kind: SACK-permitted (RFC 2018 §2), length 2.
pub const OPT_SACK_PERMITTED: u8 = 4;
/// Option kind: SACK (RFC 2018 §3), length 2 + 8n.
pub const OPT_SACK: u8 = 5;
/// Option kind: Timestamps (RFC 7323 §3.2), length 10.
pub const OPT_TIMESTAMPS: u8 = 8;

/// A zero-copy view of a TCP segment, validated by [`TcpPacket::new_checked`]: the
/// fixed header and the options (by data offset) fit, and both ports are non-zero.
/// The checksum is checked separately by [`TcpPacket::verify_checksum`] (it needs
/// the IP addresses) and the options by [`TcpPacket::header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Checks `buffer` (the whole segment: header, options and data) and wraps it.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] under 20 bytes; [`ParseError::BadDataOffset`] if
    /// the data offset is below 5 or past the buffer; [`ParseError::ZeroPort`] if
    /// either port is 0.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < TCP_HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        // RFC 9293 §3.1: "Data Offset (DOffset): 4 bits. The number of 32-bit words
        // in the TCP header. This indicates where the data begins."
        let header_len = header_len_of(b);
        if header_len < TCP_HEADER_LEN || header_len > b.len() {
            return Err(ParseError::BadDataOffset);
        }
        // Port 0 is reserved; no connection can use it.
        if be16(b, 0) == 0 || be16(b, 2) == 0 {
            return Err(ParseError::ZeroPort);
        }
        Ok(Self { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.bytes(), 0)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.bytes(), 2)
    }

    /// Sequence number.
    pub fn seq(&self) -> SeqNum {
        SeqNum(be32(self.bytes(), 4))
    }

    /// Acknowledgment number (meaningful when ACK is set).
    pub fn ack(&self) -> SeqNum {
        SeqNum(be32(self.bytes(), 8))
    }

    /// Data offset in 32-bit words (5..=15).
    pub fn data_offset(&self) -> u8 {
        self.bytes().get(12).copied().unwrap_or(0) >> 4
    }

    /// Header length in bytes, options included (data offset × 4).
    pub fn header_len(&self) -> usize {
        header_len_of(self.bytes())
    }

    /// Control bits (CWR ECE URG ACK PSH RST SYN FIN).
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.bytes().get(13).copied().unwrap_or(0))
    }

    /// The raw (unscaled) window field.
    pub fn window(&self) -> u16 {
        be16(self.bytes(), 14)
    }

    /// The checksum field as received.
    pub fn checksum(&self) -> u16 {
        be16(self.bytes(), 16)
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        be16(self.bytes(), 18)
    }

    /// The raw option bytes (between the fixed header and the data).
    pub fn options(&self) -> &[u8] {
        let b = self.bytes();
        b.get(TCP_HEADER_LEN..header_len_of(b)).unwrap_or(&[])
    }

    /// The data after the header.
    pub fn payload(&self) -> &[u8] {
        payload_of(self.bytes())
    }

    /// Whether the checksum verifies over the pseudo-header for `src` → `dst` and
    /// the whole segment.
    ///
    /// RFC 9293 §3.1: "The checksum field is the 16-bit ones' complement of the
    /// ones' complement sum of all 16-bit words in the header and text. ... The
    /// checksum also covers a pseudo-header conceptually prefixed to the TCP
    /// header."
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        let b = self.bytes();
        let Ok(len) = u32::try_from(b.len()) else {
            return false;
        };
        let pseudo = checksum::pseudo_header(src, dst, IP_PROTO_TCP, len);
        checksum::fold(checksum::sum(b, pseudo)) == 0
    }

    /// Decodes the fixed fields and the options.
    ///
    /// # Errors
    /// [`ParseError::BadOption`] as described at [`parse_options`].
    pub fn header(&self) -> Result<TcpHeader, ParseError> {
        Ok(TcpHeader {
            src_port: self.src_port(),
            dst_port: self.dst_port(),
            seq: self.seq(),
            ack: self.ack(),
            flags: self.flags(),
            window: self.window(),
            urgent: self.urgent(),
            options: parse_options(self.options())?,
        })
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<'a> TcpPacket<&'a [u8]> {
    /// Like [`TcpPacket::payload`], but borrowing from the original buffer rather
    /// than from the view, so the result outlives `self`.
    pub fn into_payload(self) -> &'a [u8] {
        payload_of(self.buffer)
    }
}

/// Data offset × 4 from the raw bytes (0 if absent).
fn header_len_of(b: &[u8]) -> usize {
    usize::from(b.get(12).copied().unwrap_or(0) >> 4) * 4
}

/// The bytes after the header; the header length was validated by
/// `new_checked`, so the empty fallback is unreachable for checked views.
fn payload_of(b: &[u8]) -> &[u8] {
    b.get(header_len_of(b)..).unwrap_or(&[])
}

/// The big-endian u16 at `off`, or 0 past the end.
fn be16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off + 2) {
        Some(&[x0, x1]) => u16::from_be_bytes([x0, x1]),
        _ => 0,
    }
}

/// The big-endian u32 at `off`, or 0 past the end.
fn be32(b: &[u8], off: usize) -> u32 {
    match b.get(off..off + 4) {
        Some(&[x0, x1, x2, x3]) => u32::from_be_bytes([x0, x1, x2, x3]),
        _ => 0,
    }
}

/// Decodes TCP options (the bytes between the fixed header and the data).
///
/// RFC 9293 §3.1: "An option may begin on any octet boundary. There are two cases
/// for the format of an option: Case 1: A single octet of option-kind. Case 2: An
/// octet of option-kind (Kind), an octet of option-length, and the actual
/// option-data octets. The option-length counts the two octets of option-kind and
/// option-length as well as the option-data octets."
///
/// - End of Option List (0) stops parsing; NOP (1) is skipped.
/// - Every other kind needs a length byte, a length of at least 2 and must end
///   within the header.
/// - Known kinds must have their exact length: MSS 4, window scale 3,
///   SACK-permitted 2, timestamps 10, SACK 2 + 8n with n ≥ 1 (at most the first
///   [`MAX_SACK_BLOCKS`] blocks are kept; 40 option bytes cannot hold more).
/// - Unknown kinds are skipped by their length (RFC 9293 §3.1: "A TCP
///   implementation MUST (MUST-6) ignore without error any TCP Option it does not
///   implement, assuming that the option has a length field").
/// - Options are accepted on any segment, whatever the flags (RFC 9293 §3.1: "A TCP
///   implementation MUST be able to receive a TCP Option in any segment (MUST-5)").
///   Whether an MSS on a non-SYN means anything is the caller's business.
/// - A repeated option overrides the earlier one.
///
/// # Errors
/// [`ParseError::BadOption`] on any violation above.
pub fn parse_options(rest: &[u8]) -> Result<TcpOptions, ParseError> {
    let mut opts = TcpOptions::default();
    // The options of almost every segment after the handshake, from Linux and
    // from us (RFC 7323 Appendix A's layout): NOP, NOP, timestamps.
    if let Ok(&[OPT_NOP, OPT_NOP, OPT_TIMESTAMPS, 10, v0, v1, v2, v3, e0, e1, e2, e3]) =
        <&[u8; 12]>::try_from(rest)
    {
        opts.timestamps = Some(Timestamps {
            val: u32::from_be_bytes([v0, v1, v2, v3]),
            ecr: u32::from_be_bytes([e0, e1, e2, e3]),
        });
        return Ok(opts);
    }
    parse_options_loop(rest)
}

/// [`parse_options`] without the shortcut: every option in turn.
pub(super) fn parse_options_loop(mut rest: &[u8]) -> Result<TcpOptions, ParseError> {
    let mut opts = TcpOptions::default();
    while let Some((&kind, after_kind)) = rest.split_first() {
        match kind {
            OPT_EOL => break,
            OPT_NOP => {
                rest = after_kind;
                continue;
            }
            _ => {}
        }
        let len = usize::from(*after_kind.first().ok_or(ParseError::BadOption)?);
        // RFC 9293 §3.1: "TCP implementations MUST be prepared to handle an illegal
        // option length (e.g., zero); a suggested procedure is to reset the
        // connection and log the error cause (MUST-7)." We drop the segment and
        // count the reason instead.
        if len < 2 {
            return Err(ParseError::BadOption);
        }
        let body = rest.get(2..len).ok_or(ParseError::BadOption)?;
        match kind {
            OPT_MSS => {
                let &[hi, lo] = body else {
                    return Err(ParseError::BadOption);
                };
                opts.mss = Some(u16::from_be_bytes([hi, lo]));
            }
            OPT_WINDOW_SCALE => {
                let &[shift] = body else {
                    return Err(ParseError::BadOption);
                };
                opts.window_scale = Some(shift);
            }
            OPT_SACK_PERMITTED => {
                if !body.is_empty() {
                    return Err(ParseError::BadOption);
                }
                opts.sack_permitted = true;
            }
            OPT_SACK => parse_sack(body, &mut opts)?,
            OPT_TIMESTAMPS => {
                if body.len() != 8 {
                    return Err(ParseError::BadOption);
                }
                opts.timestamps = Some(Timestamps {
                    val: be32(body, 0),
                    ecr: be32(body, 4),
                });
            }
            _ => {}
        }
        rest = rest.get(len..).ok_or(ParseError::BadOption)?;
    }
    Ok(opts)
}

/// RFC 2018 §3: "Length: Variable ... Left Edge of 1st Block, Right Edge of 1st
/// Block, ..."; each block is two 32-bit sequence numbers.
fn parse_sack(body: &[u8], opts: &mut TcpOptions) -> Result<(), ParseError> {
    if body.is_empty() || !body.len().is_multiple_of(8) {
        return Err(ParseError::BadOption);
    }
    // A repeated SACK option replaces the earlier one; no stale slots remain.
    opts.sack_count = 0;
    opts.sack_blocks = Default::default();
    for block in body.chunks_exact(8).take(MAX_SACK_BLOCKS) {
        opts.push_sack(SackBlock {
            left: SeqNum(be32(block, 0)),
            right: SeqNum(be32(block, 4)),
        });
    }
    Ok(())
}

/// Bytes the options take on the wire in the layout described in the module docs
/// (always a multiple of 4).
fn options_len(o: &TcpOptions) -> usize {
    let mut n = 0;
    if o.mss.is_some() {
        n += 4;
    }
    if o.timestamps.is_some() {
        n += 12; // with SACK-permitted folded in, or two NOPs
    } else if o.sack_permitted {
        n += 4;
    }
    if o.window_scale.is_some() {
        n += 4;
    }
    n + sack_option_len(o.sack().len())
}

/// Bytes a SACK option with `blocks` blocks takes, its two NOPs of alignment
/// included (0 for none).
pub const fn sack_option_len(blocks: usize) -> usize {
    if blocks == 0 {
        0
    } else {
        4 + 8 * blocks
    }
}

/// Length of a TCP header carrying `options`: 20 plus the option bytes, rounded up
/// to a multiple of 4.
///
/// This is the uncapped length: it exceeds [`TCP_MAX_HEADER_LEN`] (60) when the
/// options do not fit in 40 bytes (e.g. timestamps plus 4 SACK blocks), in which
/// case [`header_len_checked`] and [`emit`] fail with
/// [`EmitError::OptionsTooLong`].
pub fn header_len(options: &TcpOptions) -> usize {
    (TCP_HEADER_LEN + options_len(options) + 3) & !3
}

/// [`header_len`], or an error when the options do not fit.
///
/// RFC 9293 §3.1: the data offset is 4 bits, so a header is at most 15 words (60
/// bytes), leaving 40 bytes for options. RFC 2018 §3: "the 40 bytes available for
/// TCP options can specify a maximum of 4 blocks. It is expected that SACK will
/// often be used in conjunction with the Timestamp option ... which takes an
/// additional 10 bytes (plus two bytes of padding); thus a maximum of 3 SACK blocks
/// will be allowed in this case."
///
/// # Errors
/// [`EmitError::OptionsTooLong`] if the header would exceed 60 bytes.
pub fn header_len_checked(options: &TcpOptions) -> Result<usize, EmitError> {
    let len = header_len(options);
    if len > TCP_MAX_HEADER_LEN {
        return Err(EmitError::OptionsTooLong);
    }
    Ok(len)
}

/// Writes the segment `hdr` + `payload` into the start of `buf`, checksum filled
/// in for the pseudo-header `src` → `dst`, and returns its length
/// (`header_len + payload.len()`).
///
/// Options are laid out as in the module docs; MSS, window scale and
/// SACK-permitted are written whenever present, whatever the flags.
///
/// # Errors
/// [`EmitError::OptionsTooLong`] if the options exceed 40 bytes;
/// [`EmitError::BufferTooSmall`] if `buf` is shorter than the segment.
pub fn emit(
    hdr: &TcpHeader,
    payload: &[u8],
    src: &IpAddr,
    dst: &IpAddr,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    emit_parts(hdr, [payload, &[]], src, dst, buf)
}

/// [`emit`] with the payload in two pieces, written one after the other (a ring
/// buffer's two slices): the payload is copied and checksummed in one pass.
///
/// # Errors
/// As [`emit`].
pub fn emit_parts(
    hdr: &TcpHeader,
    payload: [&[u8]; 2],
    src: &IpAddr,
    dst: &IpAddr,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let header_len = header_len_checked(&hdr.options)?;
    let total = header_len + payload[0].len() + payload[1].len();
    let pseudo_len = u32::try_from(total).map_err(|_| EmitError::BufferTooSmall)?;
    let out = buf.get_mut(..total).ok_or(EmitError::BufferTooSmall)?;
    let (head, data) = out
        .split_at_mut_checked(header_len)
        .ok_or(EmitError::BufferTooSmall)?;

    let [sp0, sp1] = hdr.src_port.to_be_bytes();
    let [dp0, dp1] = hdr.dst_port.to_be_bytes();
    let [s0, s1, s2, s3] = hdr.seq.get().to_be_bytes();
    let [a0, a1, a2, a3] = hdr.ack.get().to_be_bytes();
    let [w0, w1] = hdr.window.to_be_bytes();
    let [u0, u1] = hdr.urgent.to_be_bytes();
    // header_len <= 60, so header_len / 4 fits in the 4-bit data offset.
    let offset = ((header_len / 4) as u8) << 4;
    let fixed = [
        sp0,
        sp1,
        dp0,
        dp1,
        s0,
        s1,
        s2,
        s3,
        a0,
        a1,
        a2,
        a3,
        offset,
        hdr.flags.0,
        w0,
        w1,
        0,
        0,
        u0,
        u1,
    ];
    let (fixed_out, opts_out) = head
        .split_at_mut_checked(TCP_HEADER_LEN)
        .ok_or(EmitError::BufferTooSmall)?;
    fixed_out.copy_from_slice(&fixed);
    write_options(&hdr.options, opts_out)?;

    let pseudo = checksum::pseudo_header(src, dst, IP_PROTO_TCP, pseudo_len);
    // The header (a multiple of 4 bytes long) first, then the payload copied into
    // the packet and summed in the same pass.
    let head_sum = checksum::sum(head, pseudo);
    // data.len() == total - header_len == the two payload pieces together.
    let sum = checksum::fold(checksum::copy_and_sum_parts(
        data, payload[0], payload[1], head_sum,
    ));
    let csum = out.get_mut(16..18).ok_or(EmitError::BufferTooSmall)?;
    csum.copy_from_slice(&sum.to_be_bytes());
    Ok(total)
}

/// Writes the options into `out` (exactly the option area) and fills whatever is
/// left with zeros: an End of Option List, then padding (RFC 9293 §3.1: "The
/// content of the header beyond the End of Option List Option MUST be header
/// padding of zeros (MUST-69)"). With the layout above nothing is left over.
fn write_options(o: &TcpOptions, out: &mut [u8]) -> Result<(), EmitError> {
    let mut w = Writer { out, pos: 0 };
    if let Some(mss) = o.mss {
        let [m0, m1] = mss.to_be_bytes();
        w.put(&[OPT_MSS, 4, m0, m1])?;
    }
    if let Some(ts) = o.timestamps {
        if o.sack_permitted {
            w.put(&[OPT_SACK_PERMITTED, 2, OPT_TIMESTAMPS, 10])?;
        } else {
            w.put(&[OPT_NOP, OPT_NOP, OPT_TIMESTAMPS, 10])?;
        }
        w.put(&ts.val.to_be_bytes())?;
        w.put(&ts.ecr.to_be_bytes())?;
    } else if o.sack_permitted {
        w.put(&[OPT_NOP, OPT_NOP, OPT_SACK_PERMITTED, 2])?;
    }
    if let Some(shift) = o.window_scale {
        w.put(&[OPT_NOP, OPT_WINDOW_SCALE, 3, shift])?;
    }
    let blocks = o.sack();
    if !blocks.is_empty() {
        // At most 4 blocks: 2 + 32 fits in a u8.
        let len = (2 + 8 * blocks.len()) as u8;
        w.put(&[OPT_NOP, OPT_NOP, OPT_SACK, len])?;
        for b in blocks {
            w.put(&b.left.get().to_be_bytes())?;
            w.put(&b.right.get().to_be_bytes())?;
        }
    }
    debug_assert_eq!(w.pos, options_len(o));
    let pad = w.out.get_mut(w.pos..).ok_or(EmitError::OptionsTooLong)?;
    pad.fill(OPT_EOL);
    Ok(())
}

/// A cursor over the option area that fails instead of panicking when full.
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EmitError> {
        let end = self.pos + bytes.len();
        let dst = self
            .out
            .get_mut(self.pos..end)
            .ok_or(EmitError::OptionsTooLong)?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;
    use crate::wire::emit as emit_packet;
    use crate::wire::tests::{hex, linux_syn_options, opts, sacked, ts, with_opts, LO4};

    #[test]
    fn option_layouts() {
        let sack = SackBlock {
            left: SeqNum(1),
            right: SeqNum(2),
        };
        let cases: &[(&str, TcpOptions, &str)] = &[
            ("none", TcpOptions::default(), ""),
            ("mss", opts(|o| o.mss = Some(1460)), "020405b4"),
            ("ws", opts(|o| o.window_scale = Some(7)), "01030307"),
            ("sack_perm", opts(|o| o.sack_permitted = true), "01010402"),
            (
                "ts",
                opts(|o| o.timestamps = ts(1, 2)),
                "0101080a0000000100000002",
            ),
            (
                "sack",
                opts(|o| assert!(o.push_sack(sack))),
                "0101050a0000000100000002",
            ),
            (
                "linux syn",
                linux_syn_options(1, 1460),
                "020405b40402080a00000001000000000103030a",
            ),
        ];
        for (name, options, expected) in cases {
            let hdr = with_opts(*options);
            let mut buf = vec![0; hdr.header_len()];
            emit(&hdr, &[], &LO4, &LO4, &mut buf).unwrap();
            assert_eq!(buf[20..], hex(expected)[..], "{name}");
            assert_eq!(usize::from(buf[12] >> 4) * 4, buf.len(), "{name}");
            assert_eq!(parse_options(&buf[20..]).unwrap(), *options, "{name}");
        }
    }

    #[test]
    fn option_space_limits() {
        let ts = opts(|o| o.timestamps = Some(Timestamps::default()));
        let syn = linux_syn_options(0, 0);
        let too_long = Err(EmitError::OptionsTooLong);
        let cases: &[(&str, TcpOptions, Result<usize, EmitError>)] = &[
            ("4 blocks alone", sacked(4, TcpOptions::default()), Ok(56)),
            ("3 blocks + ts", sacked(3, ts), Ok(60)),
            ("4 blocks + ts", sacked(4, ts), too_long),
            ("syn + 2 blocks", sacked(2, syn), Ok(60)),
            ("syn + 3 blocks", sacked(3, syn), too_long),
        ];
        for (name, options, expected) in cases {
            assert_eq!(header_len_checked(options), *expected, "{name}");
            let mut buf = vec![0; 100];
            let r = emit_packet(LO4, LO4, 64, &with_opts(*options), &[], &mut buf);
            assert_eq!(r, expected.map(|n| n + 20), "{name}");
        }
        // sack_count beyond the array is clamped, not a panic.
        let mut o = opts(|o| o.sack_count = 200);
        assert_eq!(o.sack().len(), MAX_SACK_BLOCKS);
        assert!(!o.push_sack(SackBlock::default()));
        assert_eq!(header_len(&o), 56);
    }

    #[test]
    fn lenient_option_parsing() {
        let parse_opts = |h: &str| parse_options(&hex(h));
        // Unknown kinds are skipped by length; NOPs anywhere; no alignment needed.
        let o = parse_opts("1e04abcd01020405b4fd020303050000").unwrap();
        assert_eq!((o.mss, o.window_scale), (Some(1460), Some(5)));
        // Anything after End of Option List is ignored, even garbage.
        let o = parse_opts("020405b400ff00").unwrap();
        assert_eq!(o, opts(|o| o.mss = Some(1460)));
        // Four SACK blocks (the most 40 bytes can hold), in order, then EOL.
        let mut four = vec![1, 1, 5, 34];
        (1u32..=8).for_each(|v| four.extend_from_slice(&v.to_be_bytes()));
        four.push(0);
        let o = parse_options(&four).unwrap();
        let edges: Vec<(u32, u32)> = o.sack().iter().map(|b| (b.left.0, b.right.0)).collect();
        assert_eq!(edges, [(1, 2), (3, 4), (5, 6), (7, 8)]);
        // More than four blocks (only possible in a raw option list): the first four kept.
        let mut five = vec![5u8, 42];
        (1u32..=10).for_each(|v| five.extend_from_slice(&v.to_be_bytes()));
        assert_eq!(parse_options(&five).unwrap().sack().len(), 4);
        // A repeated option: the last one wins.
        assert_eq!(parse_opts("020405b4020405dc").unwrap().mss, Some(1500));
        // A repeated SACK option replaces the earlier blocks, leaving no stale slot:
        // two blocks then one equals the one block alone.
        let mut twice = vec![5u8, 18];
        (1u32..=4).for_each(|v| twice.extend_from_slice(&v.to_be_bytes()));
        let mut once = vec![5u8, 10];
        (9u32..=10).for_each(|v| once.extend_from_slice(&v.to_be_bytes()));
        twice.extend_from_slice(&once);
        let (twice, once) = (
            parse_options(&twice).unwrap(),
            parse_options(&once).unwrap(),
        );
        assert_eq!(twice.sack().len(), 1);
        assert_eq!(twice, once);
        assert_eq!(twice.sack_blocks, once.sack_blocks);
        assert_eq!(parse_opts("").unwrap(), TcpOptions::default());
    }
}
