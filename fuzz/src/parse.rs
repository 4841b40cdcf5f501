//! The `parse` target: the wire parser on arbitrary bytes, and round trips.
//!
//! 1. `wire::parse` (and the lower-level views) on the raw input must not panic.
//! 2. A segment that parses and re-emits must parse back to the same segment,
//!    and emitting that again gives the same bytes (emit is a function of the
//!    parsed segment).
//! 3. The same input read as a structured segment (addresses, header fields,
//!    options, payload): `emit` then `parse` gives it back, or a parse error the
//!    fields explain (port 0, a source address that can never be a peer).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use synack::wire::{
    self, tcp, EmitError, Ipv4Packet, Ipv6Packet, ParseError, SackBlock, Segment, TcpFlags,
    TcpHeader, TcpOptions, TcpPacket, Timestamps, MAX_SACK_BLOCKS, TCP_MAX_HEADER_LEN,
};
use synack::SeqNum;

use crate::input::Input;

/// A buffer exactly as long as the packet `emit` would write.
fn buffer(src: &IpAddr, hdr: &TcpHeader, payload_len: usize) -> Vec<u8> {
    vec![0u8; wire::emitted_len(src, hdr, payload_len)]
}

/// Runs every check on one input.
pub fn run(data: &[u8]) {
    raw(data);
    structured(data);
}

/// The options as they mean something: the SACK blocks past `sack_count` are
/// not part of the value.
fn options_key(
    o: &TcpOptions,
) -> (
    Option<u16>,
    Option<u8>,
    bool,
    Option<Timestamps>,
    Vec<SackBlock>,
) {
    (
        o.mss,
        o.window_scale,
        o.sack_permitted,
        o.timestamps,
        o.sack().to_vec(),
    )
}

fn header_key(h: &TcpHeader) -> impl PartialEq + std::fmt::Debug {
    (
        h.src_port,
        h.dst_port,
        h.seq,
        h.ack,
        h.flags,
        h.window,
        h.urgent,
        options_key(&h.options),
    )
}

fn raw(data: &[u8]) {
    // The lower-level views never panic either.
    if let Ok(p) = TcpPacket::new_checked(data) {
        let _ = p.header();
        let _ = p.payload();
        let _ = p.verify_checksum(
            &IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            &IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
    }
    let _ = Ipv4Packet::new_checked(data);
    let _ = Ipv6Packet::new_checked(data);
    let _ = tcp::parse_options(data.get(..40).unwrap_or(data));

    let Ok(seg) = wire::parse(data) else {
        return;
    };
    assert!(
        seg.payload.len() <= data.len(),
        "payload longer than the packet"
    );
    roundtrip(&seg);
}

/// A parsed segment, emitted again, parses to the same segment.
fn roundtrip(seg: &Segment<'_>) {
    let mut buf = buffer(&seg.src, &seg.tcp, seg.payload.len());
    let n = match wire::emit(
        seg.src,
        seg.dst,
        seg.hop_limit,
        &seg.tcp,
        seg.payload,
        &mut buf,
    ) {
        Ok(n) => n,
        Err(EmitError::OptionsTooLong) => {
            // Parsed options can take more room in emit's canonical layout (e.g.
            // timestamps + 4 SACK blocks); that is the only reason to refuse.
            assert!(
                tcp::header_len(&seg.tcp.options) > TCP_MAX_HEADER_LEN,
                "OptionsTooLong for options that fit: {:?}",
                seg.tcp.options
            );
            return;
        }
        Err(e) => panic!("re-emitting a parsed segment failed: {e:?} for {seg:?}"),
    };
    assert_eq!(n, wire::emitted_len(&seg.src, &seg.tcp, seg.payload.len()));
    let again = wire::parse(&buf[..n])
        .unwrap_or_else(|e| panic!("re-emitted segment does not parse: {e:?} for {seg:?}"));
    assert_eq!(
        (again.src, again.dst, again.hop_limit),
        (seg.src, seg.dst, seg.hop_limit)
    );
    assert_eq!(
        header_key(&again.tcp),
        header_key(&seg.tcp),
        "header changed"
    );
    assert_eq!(again.payload, seg.payload, "payload changed");
    let mut buf2 = buffer(&again.src, &again.tcp, again.payload.len());
    let n2 = wire::emit(
        again.src,
        again.dst,
        again.hop_limit,
        &again.tcp,
        again.payload,
        &mut buf2,
    )
    .expect("second emit");
    assert_eq!(
        &buf[..n],
        &buf2[..n2],
        "emit is not a function of the parsed segment"
    );
}

/// Reads a whole segment description from the input, emits it, parses it back.
fn structured(data: &[u8]) {
    let mut r = Input::new(data);
    let ctl = r.u8();
    let (src, dst) = if ctl & 1 == 0 {
        (
            IpAddr::V4(Ipv4Addr::from(r.u32())),
            IpAddr::V4(Ipv4Addr::from(r.u32())),
        )
    } else {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        a.copy_from_slice(&pad16(r.bytes(16)));
        b.copy_from_slice(&pad16(r.bytes(16)));
        (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))
    };
    let hop_limit = r.u8();
    let mut hdr = TcpHeader {
        src_port: r.u16(),
        dst_port: r.u16(),
        seq: SeqNum(r.u32()),
        ack: SeqNum(r.u32()),
        flags: TcpFlags(r.u8()),
        window: r.u16(),
        urgent: r.u16(),
        options: TcpOptions::default(),
    };
    let o = r.u8();
    if o & 1 != 0 {
        hdr.options.mss = Some(r.u16());
    }
    if o & 2 != 0 {
        hdr.options.window_scale = Some(r.u8());
    }
    hdr.options.sack_permitted = o & 4 != 0;
    if o & 8 != 0 {
        hdr.options.timestamps = Some(Timestamps {
            val: r.u32(),
            ecr: r.u32(),
        });
    }
    let blocks = usize::from(o >> 4) % (MAX_SACK_BLOCKS + 1);
    for _ in 0..blocks {
        hdr.options.push_sack(SackBlock {
            left: SeqNum(r.u32()),
            right: SeqNum(r.u32()),
        });
    }
    // The rest is payload (bounded so a run stays cheap).
    let payload = r.bytes(4096);

    let mut buf = buffer(&src, &hdr, payload.len());
    let n = match wire::emit(src, dst, hop_limit, &hdr, payload, &mut buf) {
        Ok(n) => n,
        Err(EmitError::OptionsTooLong) => {
            assert!(tcp::header_len(&hdr.options) > TCP_MAX_HEADER_LEN);
            return;
        }
        Err(e) => panic!("emit failed: {e:?} for {hdr:?}"),
    };
    assert_eq!(n, wire::emitted_len(&src, &hdr, payload.len()));
    match wire::parse(&buf[..n]) {
        Ok(seg) => {
            assert_eq!((seg.src, seg.dst, seg.hop_limit), (src, dst, hop_limit));
            assert_eq!(header_key(&seg.tcp), header_key(&hdr), "header changed");
            assert_eq!(seg.payload, payload, "payload changed");
            roundtrip(&seg);
        }
        Err(ParseError::ZeroPort) => assert!(hdr.src_port == 0 || hdr.dst_port == 0),
        Err(ParseError::BadAddress) => assert!(
            src.is_unspecified() || src.is_multicast() || src == IpAddr::V4(Ipv4Addr::BROADCAST),
            "BadAddress for {src}"
        ),
        Err(e) => panic!("emitted segment does not parse: {e:?} for {hdr:?} {src} -> {dst}"),
    }
}

fn pad16(b: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..b.len()].copy_from_slice(b);
    out
}
