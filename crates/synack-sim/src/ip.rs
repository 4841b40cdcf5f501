//! Just enough IP to route: the version nibble and the destination address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The destination address of an IPv4 (RFC 791) or IPv6 (RFC 8200) packet, or
/// `None` if the packet is too short for its header or has another version.
pub(crate) fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let dst: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            // RFC 791: the header is at least 20 bytes.
            (packet.len() >= 20).then_some(IpAddr::V4(Ipv4Addr::from(dst)))
        }
        6 => {
            let dst: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(dst)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v4_and_v6_destinations() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[16..20].copy_from_slice(&[192, 0, 2, 7]);
        assert_eq!(
            destination(&v4),
            Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
        );

        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[39] = 1;
        assert_eq!(destination(&v6), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    }

    #[test]
    fn malformed_is_none_not_a_panic() {
        let cases: [&[u8]; 6] = [
            &[],
            &[0x45],
            &[0x45; 19],
            &[0x60; 39],
            &[0x00; 40],
            &[0xff; 100],
        ];
        for case in cases {
            assert_eq!(destination(case), None, "{case:?}");
        }
    }
}
