//! ICMP echo (RFC 792) and ICMPv6 echo (RFC 4443 §4) replies, answered before
//! packets reach the core, which speaks only TCP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use synack::wire::checksum;

const PROTO_ICMP: u8 = 1;
const PROTO_ICMPV6: u8 = 58;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;
const TTL: u8 = 64;

/// If `packet` is an echo request to one of `ours`, writes the reply into `out` and
/// returns its length. Anything else (malformed, fragmented, not ours, too big for
/// `out`) returns `None` and goes on to the stack.
pub(crate) fn echo_reply(packet: &[u8], ours: &[IpAddr], out: &mut [u8]) -> Option<usize> {
    match packet.first()? >> 4 {
        4 => echo_reply_v4(packet, ours, out),
        6 => echo_reply_v6(packet, ours, out),
        _ => None,
    }
}

fn echo_reply_v4(p: &[u8], ours: &[IpAddr], out: &mut [u8]) -> Option<usize> {
    if p.len() < 20 || p[9] != PROTO_ICMP {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    // RFC 791: more-fragments flag or a fragment offset: not reassembled here.
    let frag = u16::from_be_bytes([p[6], p[7]]) & 0x3fff;
    if ihl < 20 || total < ihl + 8 || total > p.len() || frag != 0 || total > out.len() {
        return None;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let icmp = &p[ihl..total];
    if icmp[0] != ICMP_ECHO_REQUEST || icmp[1] != 0 || !ours.contains(&IpAddr::V4(dst)) {
        return None;
    }
    if checksum::fold(checksum::sum(icmp, 0)) != 0 {
        return None;
    }
    // RFC 792: "The data received in the echo message must be returned in the echo
    // reply message." Options are not copied: a 20-byte header.
    let icmp_len = icmp.len();
    let n = 20 + icmp_len;
    let h = &mut out[..20];
    h.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, TTL, PROTO_ICMP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    // n <= total <= u16::MAX, checked above.
    h[2..4].copy_from_slice(&u16::try_from(n).ok()?.to_be_bytes());
    h[12..16].copy_from_slice(&dst.octets());
    h[16..20].copy_from_slice(&src.octets());
    let ip_sum = checksum::fold(checksum::sum(h, 0));
    h[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let body = &mut out[20..n];
    body.copy_from_slice(icmp);
    body[0] = ICMP_ECHO_REPLY;
    body[2..4].fill(0);
    let sum = checksum::fold(checksum::sum(body, 0));
    body[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(n)
}

fn echo_reply_v6(p: &[u8], ours: &[IpAddr], out: &mut [u8]) -> Option<usize> {
    // Only an ICMPv6 header straight after the fixed header (no extension headers).
    if p.len() < 48 || p[6] != PROTO_ICMPV6 {
        return None;
    }
    let payload_len = usize::from(u16::from_be_bytes([p[4], p[5]]));
    let n = 40 + payload_len;
    if payload_len < 8 || n > p.len() || n > out.len() {
        return None;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).ok()?);
    let icmp = &p[40..n];
    if icmp[0] != ICMPV6_ECHO_REQUEST || icmp[1] != 0 || !ours.contains(&IpAddr::V6(dst)) {
        return None;
    }
    let len32 = u32::try_from(payload_len).ok()?;
    let pseudo = checksum::pseudo_header_v6(&src, &dst, PROTO_ICMPV6, len32);
    if checksum::fold(checksum::sum(icmp, pseudo)) != 0 {
        return None;
    }
    out[..40].copy_from_slice(&p[..40]);
    out[7] = TTL;
    out[8..24].copy_from_slice(&dst.octets());
    out[24..40].copy_from_slice(&src.octets());
    let body = &mut out[40..n];
    body.copy_from_slice(icmp);
    body[0] = ICMPV6_ECHO_REPLY;
    body[2..4].fill(0);
    let pseudo = checksum::pseudo_header_v6(&dst, &src, PROTO_ICMPV6, len32);
    let sum = checksum::fold(checksum::sum(body, pseudo));
    body[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_request(payload: &[u8]) -> Vec<u8> {
        let mut icmp = vec![ICMP_ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 1];
        icmp.extend_from_slice(payload);
        let s = checksum::fold(checksum::sum(&icmp, 0));
        icmp[2..4].copy_from_slice(&s.to_be_bytes());
        let total = u16::try_from(20 + icmp.len()).unwrap();
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, PROTO_ICMP, 0, 0, 10, 7, 0, 1, 10, 7, 0, 2,
        ];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let s = checksum::fold(checksum::sum(&ip, 0));
        ip[10..12].copy_from_slice(&s.to_be_bytes());
        ip.extend_from_slice(&icmp);
        ip
    }

    #[test]
    fn v4_echo_is_answered_with_the_same_data_and_valid_checksums() {
        let ours = [IpAddr::V4(Ipv4Addr::new(10, 7, 0, 2))];
        let req = v4_request(b"hello ping");
        let mut out = [0u8; 1500];
        let n = echo_reply(&req, &ours, &mut out).unwrap();
        let r = &out[..n];
        assert_eq!(n, req.len());
        assert_eq!(checksum::fold(checksum::sum(&r[..20], 0)), 0, "IP checksum");
        assert_eq!(
            checksum::fold(checksum::sum(&r[20..], 0)),
            0,
            "ICMP checksum"
        );
        assert_eq!(&r[12..16], &[10, 7, 0, 2]);
        assert_eq!(&r[16..20], &[10, 7, 0, 1]);
        assert_eq!(r[20], ICMP_ECHO_REPLY);
        assert_eq!(&r[24..], &req[24..], "identifier, sequence and data echoed");
    }

    #[test]
    fn v4_echo_to_another_address_or_corrupt_is_not_answered() {
        let other = [IpAddr::V4(Ipv4Addr::new(10, 7, 0, 3))];
        let mut out = [0u8; 1500];
        assert_eq!(echo_reply(&v4_request(b"x"), &other, &mut out), None);
        let ours = [IpAddr::V4(Ipv4Addr::new(10, 7, 0, 2))];
        let mut bad = v4_request(b"abcd");
        bad[30] ^= 1;
        assert_eq!(echo_reply(&bad, &ours, &mut out), None);
        assert_eq!(echo_reply(&bad[..10], &ours, &mut out), None);
        assert_eq!(echo_reply(&[], &ours, &mut out), None);
    }

    #[test]
    fn v6_echo_is_answered() {
        let src: Ipv6Addr = "fd00:7::1".parse().unwrap();
        let dst: Ipv6Addr = "fd00:7::2".parse().unwrap();
        let mut icmp = vec![ICMPV6_ECHO_REQUEST, 0, 0, 0, 0, 7, 0, 1, 1, 2, 3];
        let len = u32::try_from(icmp.len()).unwrap();
        let s = checksum::fold(checksum::sum(
            &icmp,
            checksum::pseudo_header_v6(&src, &dst, PROTO_ICMPV6, len),
        ));
        icmp[2..4].copy_from_slice(&s.to_be_bytes());
        let mut p = vec![0x60, 0, 0, 0, 0, 0, PROTO_ICMPV6, 64];
        p[4..6].copy_from_slice(&u16::try_from(icmp.len()).unwrap().to_be_bytes());
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&icmp);
        let mut out = [0u8; 1500];
        let n = echo_reply(&p, &[IpAddr::V6(dst)], &mut out).unwrap();
        let r = &out[..n];
        assert_eq!(r[40], ICMPV6_ECHO_REPLY);
        assert_eq!(&r[8..24], &dst.octets());
        let pseudo = checksum::pseudo_header_v6(&dst, &src, PROTO_ICMPV6, len);
        assert_eq!(checksum::fold(checksum::sum(&r[40..], pseudo)), 0);
    }
}
