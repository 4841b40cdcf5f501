//! SYN cookies (RFC 4987 §3.6), in the shape Linux uses: when a listener's SYN
//! queue is full, the SYN,ACK's sequence number carries everything the handshake
//! needs, and no state is kept until the final ACK returns it.
//!
//! ```text
//! ISS = H0(tuple) + SEG.SEQ + (count << 24) + ((H1(tuple, count) + data) mod 2^24)
//! ```
//! `count` is a 64-second clock; `data` packs the MSS index and the options the
//! peer offered (window scale, SACK-permitted, timestamps). The ACK is valid when
//! `ACK - 1` decodes, for a `count` at most [`MAX_AGE`] old, to `data` in range.

use core::hash::Hasher;
use core::net::SocketAddr;

use siphasher::sip::SipHasher24;

use crate::tcp::seq::SeqNum;
use crate::time::Instant;

const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// Cookies older than this many 64-second periods are refused (Linux: 2).
pub(crate) const MAX_AGE: u32 = 2;
/// MSS values a cookie can carry (Linux `msstab`).
pub(crate) const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];
/// `data` values are below this: 2 bits MSS, 4 bits window scale (15 = none),
/// 1 bit SACK-permitted, 1 bit timestamps.
const DATA_LIMIT: u32 = 1 << 8;

/// The handshake parameters a cookie carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CookieData {
    pub(crate) mss: u16,
    pub(crate) window_scale: Option<u8>,
    pub(crate) sack: bool,
    pub(crate) timestamps: bool,
}

impl CookieData {
    /// Packs, rounding the MSS down to the table (at least the smallest entry).
    fn encode(self) -> u32 {
        let mss_idx = MSS_TABLE.iter().rposition(|&m| m <= self.mss).unwrap_or(0) as u32;
        let ws = u32::from(self.window_scale.map_or(15, |w| w.min(14)));
        mss_idx | (ws << 2) | (u32::from(self.sack) << 6) | (u32::from(self.timestamps) << 7)
    }

    fn decode(v: u32) -> Self {
        let ws = ((v >> 2) & 0xf) as u8;
        Self {
            mss: MSS_TABLE[(v & 3) as usize],
            window_scale: (ws != 15).then_some(ws),
            sack: v & (1 << 6) != 0,
            timestamps: v & (1 << 7) != 0,
        }
    }
}

/// Makes and checks cookies with a secret key.
#[derive(Clone)]
pub(crate) struct CookieJar {
    k0: (u64, u64),
    k1: (u64, u64),
}

impl core::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CookieJar { .. }")
    }
}

fn count(now: Instant) -> u32 {
    // Truncation is fine: only differences of a few periods matter.
    (now.micros() / 64_000_000) as u32
}

impl CookieJar {
    pub(crate) fn new(secret: &[u8; 16]) -> Self {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&secret[..8]);
        b.copy_from_slice(&secret[8..]);
        let (a, b) = (u64::from_le_bytes(a), u64::from_le_bytes(b));
        // Domain-separated from the ISN and demux keys.
        Self {
            k0: (a ^ 0x636f_6f6b_6965_3030, b ^ 0x636f_6f6b_6965_3031),
            k1: (a ^ 0x636f_6f6b_6965_3130, b ^ 0x636f_6f6b_6965_3131),
        }
    }

    fn hash(key: (u64, u64), local: SocketAddr, remote: SocketAddr, count: Option<u32>) -> u32 {
        let mut h = SipHasher24::new_with_keys(key.0, key.1);
        for a in [local, remote] {
            match a {
                SocketAddr::V4(v4) => h.write(&v4.ip().octets()),
                SocketAddr::V6(v6) => h.write(&v6.ip().octets()),
            }
            h.write_u16(a.port());
        }
        if let Some(c) = count {
            h.write_u32(c);
        }
        // Truncation to 32 bits is the cookie's width.
        h.finish() as u32
    }

    /// The ISS for a SYN with sequence number `syn_seq`, carrying `data`.
    pub(crate) fn make(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        syn_seq: SeqNum,
        data: CookieData,
    ) -> SeqNum {
        let c = count(now);
        let v = Self::hash(self.k0, local, remote, None)
            .wrapping_add(syn_seq.0)
            .wrapping_add(c << COOKIE_BITS)
            .wrapping_add(
                Self::hash(self.k1, local, remote, Some(c)).wrapping_add(data.encode())
                    & COOKIE_MASK,
            );
        SeqNum(v)
    }

    /// Checks the ACK of a cookie SYN,ACK: `seq` and `ack` are the ACK's fields.
    pub(crate) fn check(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seq: SeqNum,
        ack: SeqNum,
    ) -> Option<CookieData> {
        let cookie = ack.0.wrapping_sub(1);
        let syn_seq = seq.0.wrapping_sub(1);
        let v = cookie
            .wrapping_sub(Self::hash(self.k0, local, remote, None))
            .wrapping_sub(syn_seq);
        let now_c = count(now);
        let diff = now_c.wrapping_sub(v >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if diff > MAX_AGE {
            return None;
        }
        let c = now_c.wrapping_sub(diff);
        let data = v.wrapping_sub(Self::hash(self.k1, local, remote, Some(c))) & COOKIE_MASK;
        (data < DATA_LIMIT).then(|| CookieData::decode(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar() -> CookieJar {
        CookieJar::new(&[7; 16])
    }
    const L: &str = "10.0.0.1:80";
    const R: &str = "10.0.0.2:40000";

    #[test]
    fn round_trip_carries_the_options() {
        let (l, r) = (L.parse().unwrap(), R.parse().unwrap());
        let cases = [
            (
                "all options",
                CookieData {
                    mss: 1460,
                    window_scale: Some(7),
                    sack: true,
                    timestamps: true,
                },
            ),
            (
                "none",
                CookieData {
                    mss: 536,
                    window_scale: None,
                    sack: false,
                    timestamps: false,
                },
            ),
            (
                "mss rounds down",
                CookieData {
                    mss: 1400,
                    window_scale: Some(0),
                    sack: true,
                    timestamps: false,
                },
            ),
        ];
        for (name, d) in cases {
            let iss = jar().make(Instant::from_secs(100), l, r, SeqNum(5000), d);
            let got = jar()
                .check(Instant::from_secs(130), l, r, SeqNum(5001), iss + 1u32)
                .expect(name);
            let want = CookieData {
                mss: MSS_TABLE[MSS_TABLE.iter().rposition(|&m| m <= d.mss).unwrap()],
                ..d
            };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn forged_stale_or_misdirected_cookies_fail() {
        let (l, r): (SocketAddr, SocketAddr) = (L.parse().unwrap(), R.parse().unwrap());
        let d = CookieData {
            mss: 1460,
            window_scale: Some(7),
            sack: true,
            timestamps: true,
        };
        let iss = jar().make(Instant::from_secs(100), l, r, SeqNum(5000), d);
        let t = Instant::from_secs(101);
        // An ACK a few off decodes to neighbouring data (as in Linux); one that is
        // wrong in the hashed bits does not.
        assert!(
            jar()
                .check(t, l, r, SeqNum(5001), iss + (1u32 + (1 << 20)))
                .is_none(),
            "wrong ACK"
        );
        assert!(
            jar()
                .check(t, l, r, SeqNum(5001 + (1 << 20)), iss + 1u32)
                .is_none(),
            "wrong SEQ"
        );
        assert!(
            jar()
                .check(
                    t,
                    l,
                    "10.0.0.3:40000".parse().unwrap(),
                    SeqNum(5001),
                    iss + 1u32
                )
                .is_none(),
            "other peer"
        );
        assert!(
            CookieJar::new(&[8; 16])
                .check(t, l, r, SeqNum(5001), iss + 1u32)
                .is_none(),
            "other secret"
        );
        assert!(
            jar()
                .check(
                    Instant::from_secs(100 + 64 * 4),
                    l,
                    r,
                    SeqNum(5001),
                    iss + 1u32
                )
                .is_none(),
            "too old"
        );
        // Random ACKs almost never validate (24-bit check on a 2^-16 data window).
        let forged = (0..20_000u32)
            .filter(|k| {
                jar()
                    .check(t, l, r, SeqNum(5001), SeqNum(k.wrapping_mul(2_654_435_761)))
                    .is_some()
            })
            .count();
        assert!(forged <= 2, "{forged} forged cookies validated");
    }
}
