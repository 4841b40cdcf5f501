//! A writer of the classic libpcap file format
//! (<https://wiki.wireshark.org/Development/LibpcapFileFormat>, IETF
//! draft-ietf-opsawg-pcap): a 24-byte global header, then a 16-byte record header
//! before each packet. Everything is written little-endian; readers detect the
//! byte order from the magic number.

use std::io::{self, Write};

use synack::Instant;

/// `LINKTYPE_RAW`: each record is a bare IPv4 or IPv6 packet, told apart by the
/// version nibble.
pub const LINKTYPE_RAW: u32 = 101;
/// Largest number of bytes kept per packet; longer packets are truncated in the
/// file (their original length is still recorded).
pub const PCAP_SNAPLEN: u32 = 65_535;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;

/// The precision of record timestamps, chosen by the magic number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimestampResolution {
    /// Nanoseconds (magic `0xa1b23c4d`). Virtual time is in whole microseconds,
    /// so the last three digits are always zero; the default.
    #[default]
    Nanos,
    /// Microseconds (magic `0xa1b2c3d4`), for the oldest readers.
    Micros,
}

/// Writes packets to a pcap file at virtual timestamps.
///
/// ```
/// use synack::Instant;
/// use synack_sim::PcapWriter;
///
/// let mut w = PcapWriter::new(Vec::new()).unwrap();
/// w.write_packet(Instant::from_millis(1), &[0x45; 20]).unwrap();
/// let bytes = w.into_inner();
/// assert_eq!(bytes.len(), 24 + 16 + 20);
/// ```
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    resolution: TimestampResolution,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header with nanosecond timestamps.
    ///
    /// # Errors
    ///
    /// Whatever writing to `out` returns.
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_resolution(out, TimestampResolution::Nanos)
    }

    /// Writes the global header with the given timestamp resolution.
    ///
    /// # Errors
    ///
    /// Whatever writing to `out` returns.
    pub fn with_resolution(mut out: W, resolution: TimestampResolution) -> io::Result<Self> {
        let magic = match resolution {
            TimestampResolution::Nanos => MAGIC_NANOS,
            TimestampResolution::Micros => MAGIC_MICROS,
        };
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&magic.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // 8..12 thiszone = 0 (UTC), 12..16 sigfigs = 0.
        header[16..20].copy_from_slice(&PCAP_SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(Self { out, resolution })
    }

    /// Appends one packet captured at virtual time `t` (seconds since
    /// [`Instant::ZERO`], which readers show as 1970-01-01).
    ///
    /// # Errors
    ///
    /// Whatever writing to the underlying writer returns.
    pub fn write_packet(&mut self, t: Instant, bytes: &[u8]) -> io::Result<()> {
        let micros = t.micros();
        let secs = u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX);
        let frac = (micros % 1_000_000) as u32;
        let frac = match self.resolution {
            TimestampResolution::Nanos => frac * 1000,
            TimestampResolution::Micros => frac,
        };
        let orig_len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(PCAP_SNAPLEN);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&frac.to_le_bytes());
        header[8..12].copy_from_slice(&incl_len.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&bytes[..incl_len as usize])
    }

    /// Flushes the underlying writer.
    ///
    /// # Errors
    ///
    /// Whatever flushing returns.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_header_bytes() {
        let w = PcapWriter::new(Vec::new()).unwrap().into_inner();
        assert_eq!(
            w,
            [
                0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101,
                0, 0, 0
            ]
        );
        let w = PcapWriter::with_resolution(Vec::new(), TimestampResolution::Micros).unwrap();
        assert_eq!(w.into_inner()[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
    }

    #[test]
    fn record_header_and_truncation() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(Instant::from_micros(2_000_123), &[1, 2, 3])
            .unwrap();
        let big = vec![0x45; 70_000];
        w.write_packet(Instant::ZERO, &big).unwrap();
        let out = w.into_inner();
        let rec = &out[24..];
        assert_eq!(rec[0..4], 2u32.to_le_bytes());
        assert_eq!(rec[4..8], 123_000u32.to_le_bytes());
        assert_eq!(rec[8..12], 3u32.to_le_bytes());
        assert_eq!(rec[12..16], 3u32.to_le_bytes());
        assert_eq!(rec[16..19], [1, 2, 3]);
        let rec = &rec[19..];
        assert_eq!(rec[8..12], 65_535u32.to_le_bytes());
        assert_eq!(rec[12..16], 70_000u32.to_le_bytes());
        assert_eq!(rec.len(), 16 + 65_535);
    }
}
