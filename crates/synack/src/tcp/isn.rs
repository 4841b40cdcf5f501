//! Initial sequence numbers (RFC 6528) and timestamp offsets (RFC 7323).
//!
//! RFC 6528 §3: "TCP SHOULD generate its Initial Sequence Numbers with the
//! expression:
//!
//! ```text
//! ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//! ```
//!
//! where M is the 4 microsecond timer, and F() is a pseudorandom function (PRF) of
//! the connection-id." F is SipHash-2-4 keyed with a 128-bit secret, truncated to
//! 32 bits. Because M grows by one every 4 µs for every connection-id, a new
//! incarnation of a 4-tuple gets an ISN above the old one's (RFC 9293 §3.4.1), while
//! an off-path attacker who does not know the secret cannot guess the ISN of a
//! connection-id it has not observed.
//!
//! The same keyed function, with a different domain-separation byte, gives the
//! per-host-pair offset added to the RFC 7323 timestamp clock
//! ([`IsnGenerator::ts_offset`]).

use core::fmt;
use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr, SocketAddrV4};

use siphasher::sip::SipHasher24;

use crate::tcp::seq::SeqNum;
use crate::time::Instant;

/// Domain-separation byte for the ISN hash.
const DOMAIN_ISN: u8 = 1;
/// Domain-separation byte for the timestamp-offset hash.
const DOMAIN_TS_OFFSET: u8 = 2;

/// Generator of initial sequence numbers and timestamp offsets from a secret key.
///
/// RFC 6528 §3: "F() MUST NOT be computable from the outside, or an attacker
/// could still guess at sequence numbers from the ISN used for some other
/// connection." The secret must therefore come from a good random source, once
/// per stack (the core takes it from its seed), and stay private: `Debug` never
/// prints it.
#[derive(Clone)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl IsnGenerator {
    /// A generator keyed with `secret`.
    pub const fn new(secret: [u8; 16]) -> Self {
        Self { key: secret }
    }

    /// The initial sequence number for a connection from `local` to `remote`
    /// started at `now`.
    ///
    /// RFC 6528 §3: "ISN = M + F(localip, localport, remoteip, remoteport,
    /// secretkey) where M is the 4 microsecond timer". M is `now` in units of 4 µs,
    /// truncated to 32 bits, so it wraps every 2^32 × 4 µs ≈ 4.8 hours, and the
    /// sum wraps modulo 2^32 like all sequence arithmetic.
    pub fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> SeqNum {
        // Truncation is the point: M is a 32-bit counter.
        let m = (now.micros() / 4) as u32;
        let f = match (local, remote) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => self.prf_v4(l, r),
            _ => {
                let mut input = Input::new(DOMAIN_ISN);
                input.endpoint(local);
                input.endpoint(remote);
                self.prf(&input)
            }
        };
        SeqNum(m.wrapping_add(f))
    }

    /// F() of an IPv4 connection-id: the 15 bytes an [`Input`] would hold
    /// (the domain byte, then each end's family tag, address and port), put
    /// together in place and written as an 8-byte word and the 7 left, which
    /// SipHash reads as the same byte stream. Every connection a stack opens
    /// or accepts takes one; the general path spends ~80 instructions on
    /// building the input and the hasher's buffering.
    fn prf_v4(&self, l: SocketAddrV4, r: SocketAddrV4) -> u32 {
        let (la, ra) = (l.ip().octets(), r.ip().octets());
        let (lp, rp) = (l.port().to_be_bytes(), r.port().to_be_bytes());
        let head = [DOMAIN_ISN, 4, la[0], la[1], la[2], la[3], lp[0], lp[1]];
        let tail = [4, ra[0], ra[1], ra[2], ra[3], rp[0], rp[1]];
        let mut h = SipHasher24::new_with_key(&self.key);
        h.write_u64(u64::from_le_bytes(head));
        h.write(&tail);
        // Truncation is the point, as in `prf`.
        h.finish() as u32
    }

    /// The offset to add to the timestamp clock (TSval) of connections between the
    /// `local` and `remote` hosts.
    ///
    /// RFC 7323 (§5.4, §7) lets the timestamp clock start from a random offset, so
    /// that TSval does not reveal the host's uptime. Like Linux (`tsoffset`, since
    /// 4.13), the offset depends on the two **addresses only**, not the ports: all
    /// connections between the same two hosts then share one timestamp clock, whose
    /// values keep rising from one connection to the next. PAWS (RFC 7323 §5) and
    /// the reuse of a TIME-WAIT 4-tuple by a new SYN (RFC 6191) rely on that. The
    /// offset is still unrelated between different host pairs and unpredictable
    /// without the secret.
    pub fn ts_offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        let mut input = Input::new(DOMAIN_TS_OFFSET);
        input.ip(local.ip());
        input.ip(remote.ip());
        self.prf(&input)
    }

    /// F(): SipHash-2-4 of the input under the secret, low 32 bits. The input goes
    /// in as one write (the hasher's per-write buffering would otherwise run once
    /// per field); SipHash hashes the byte stream, so this is the same function as
    /// writing field by field.
    fn prf(&self, input: &Input) -> u32 {
        let mut h = SipHasher24::new_with_key(&self.key);
        h.write(&input.buf[..input.len]);
        // Truncation is the point: SipHash output bits are uniformly distributed.
        h.finish() as u32
    }
}

/// The bytes F() hashes: a domain byte, then each address as a family tag and
/// its 4 or 16 bytes, each port big-endian (as on the wire).
struct Input {
    buf: [u8; 1 + 2 * (1 + 16 + 2)],
    len: usize,
}

impl Input {
    fn new(domain: u8) -> Self {
        let mut i = Self {
            buf: [0; 39],
            len: 0,
        };
        i.put(&[domain]);
        i
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// An address, unambiguously: a family tag, then the address bytes.
    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                self.put(&[4]);
                self.put(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.put(&[6]);
                self.put(&v6.octets());
            }
        }
    }

    /// An address then its port.
    fn endpoint(&mut self, addr: SocketAddr) {
        self.ip(addr.ip());
        self.put(&addr.port().to_be_bytes());
    }
}

/// Entries in a [`TsOffsetCache`] (a power of two).
const TS_CACHE_SLOTS: usize = 16;

/// The timestamp offsets of recently seen host pairs, so a new connection between
/// two hosts that already talked skips the second SipHash ([`IsnGenerator::ts_offset`]
/// depends on the addresses only, so many connections share one). Direct-mapped
/// on the low bits of the addresses: a miss just computes the offset again, so
/// a peer choosing its addresses can cost us the hash, never a wrong offset.
#[derive(Clone, Debug, Default)]
pub(crate) struct TsOffsetCache {
    slots: [Option<(IpAddr, IpAddr, u32)>; TS_CACHE_SLOTS],
}

impl TsOffsetCache {
    /// `gen.ts_offset(local, remote)`, from the cache when it holds the pair.
    pub(crate) fn get(&mut self, gen: &IsnGenerator, local: SocketAddr, remote: SocketAddr) -> u32 {
        let (l, r) = (local.ip(), remote.ip());
        let slot = &mut self.slots[(low_bits(l) ^ low_bits(r)) % TS_CACHE_SLOTS];
        match *slot {
            Some((cl, cr, offset)) if cl == l && cr == r => offset,
            _ => {
                let offset = gen.ts_offset(local, remote);
                *slot = Some((l, r, offset));
                offset
            }
        }
    }
}

/// The last byte of an address (the host part varies most there).
fn low_bits(ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(a) => usize::from(a.octets()[3]),
        IpAddr::V6(a) => usize::from(a.octets()[15]),
    }
}

impl fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsnGenerator").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use core::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

    const SECRET: [u8; 16] = *b"synack-test-key!";

    fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port))
    }

    fn v6(last: u16, port: u16) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last),
            port,
            0,
            0,
        ))
    }

    fn local() -> SocketAddr {
        v4(10, 0, 0, 1, 80)
    }

    fn remote() -> SocketAddr {
        v4(10, 0, 0, 2, 40_000)
    }

    #[test]
    fn clock_component_table() {
        let g = IsnGenerator::new(SECRET);
        let (l, r) = (local(), remote());
        // (name, t0, t1, expected ISN(t1) - ISN(t0))
        let cases = [
            ("same instant", 0, 0, 0u32),
            ("under 4 us: no tick", 0, 3, 0),
            ("one tick per 4 us", 0, 4, 1),
            ("250 000 per second", 1_000_000, 2_000_000, 250_000),
            ("one hour", 0, 3_600_000_000, 900_000_000),
            // M wraps at 2^32 ticks; the ISN wraps with it.
            (
                "across the M wrap",
                (u32::MAX as u64) * 4,
                (u32::MAX as u64 + 2) * 4,
                2,
            ),
            ("exactly one M period", 0, (1u64 << 32) * 4, 0),
        ];
        for (name, t0, t1, delta) in cases {
            let a = g.isn(Instant::from_micros(t0), l, r);
            let b = g.isn(Instant::from_micros(t1), l, r);
            assert_eq!(b.get().wrapping_sub(a.get()), delta, "{name}");
        }
    }

    #[test]
    fn later_incarnation_is_ahead_in_sequence_space() {
        let g = IsnGenerator::new(SECRET);
        for t in [0u64, 1_000_000, (u32::MAX as u64) * 4 - 100] {
            let a = g.isn(Instant::from_micros(t), local(), remote());
            let b = g.isn(Instant::from_micros(t + 1_000_000), local(), remote());
            assert!(b.gt(a), "t={t}");
        }
    }

    #[test]
    fn distinct_tuples_give_unrelated_isns() {
        let g = IsnGenerator::new(SECRET);
        let now = Instant::from_secs(42);
        let mut seen = BTreeSet::new();
        let mut top_bytes = BTreeSet::new();
        let (mut ones, mut zeros) = (0u32, 0u32);
        for i in 0..1000u16 {
            // Neighbouring tuples: consecutive ports, and a few addresses.
            let r = v4(192, 0, 2, (i % 7) as u8, 50_000 + i);
            let isn = g.isn(now, local(), r).get();
            assert!(seen.insert(isn), "duplicate ISN for tuple {i}");
            top_bytes.insert(isn >> 24);
            ones |= isn;
            zeros |= !isn;
        }
        // 1000 draws from 256 values cover ~251 on average.
        assert!(
            top_bytes.len() > 200,
            "high byte took only {} values",
            top_bytes.len()
        );
        assert_eq!(ones, u32::MAX, "some bit is never 1");
        assert_eq!(zeros, u32::MAX, "some bit is never 0");
    }

    #[test]
    fn inputs_that_must_change_the_isn() {
        let now = Instant::from_secs(7);
        let g = IsnGenerator::new(SECRET);
        let base = g.isn(now, local(), remote());
        let mut other_secret = SECRET;
        other_secret[15] ^= 1;
        // (name, ISN that must differ from `base`)
        let cases = [
            (
                "other secret",
                IsnGenerator::new(other_secret).isn(now, local(), remote()),
            ),
            ("swapped endpoints", g.isn(now, remote(), local())),
            (
                "other local port",
                g.isn(now, v4(10, 0, 0, 1, 81), remote()),
            ),
            (
                "other remote port",
                g.isn(now, local(), v4(10, 0, 0, 2, 40_001)),
            ),
            (
                "other local address",
                g.isn(now, v4(10, 0, 0, 3, 80), remote()),
            ),
            (
                "other remote address",
                g.isn(now, local(), v4(10, 0, 0, 4, 40_000)),
            ),
            ("IPv4-mapped IPv6 is another tuple", {
                let mapped = |a: SocketAddr| match a {
                    SocketAddr::V4(s) => {
                        SocketAddr::V6(SocketAddrV6::new(s.ip().to_ipv6_mapped(), s.port(), 0, 0))
                    }
                    v6 => v6,
                };
                g.isn(now, mapped(local()), mapped(remote()))
            }),
        ];
        for (name, isn) in cases {
            assert_ne!(isn, base, "{name}");
        }
    }

    #[test]
    fn deterministic_for_v4_and_v6() {
        let a = IsnGenerator::new(SECRET);
        let b = IsnGenerator::new(SECRET);
        let now = Instant::from_millis(1234);
        for (l, r) in [(local(), remote()), (v6(1, 443), v6(2, 50_000))] {
            assert_eq!(a.isn(now, l, r), b.isn(now, l, r));
            assert_eq!(a.ts_offset(l, r), b.ts_offset(l, r));
        }
        assert_ne!(
            a.isn(now, v6(1, 443), v6(2, 50_000)),
            a.isn(now, v6(2, 443), v6(1, 50_000))
        );
    }

    #[test]
    fn ts_offset_table() {
        let g = IsnGenerator::new(SECRET);
        let base = g.ts_offset(local(), remote());
        let mut other_secret = SECRET;
        other_secret[0] ^= 0x80;
        // (name, offset, equal to `base`?)
        let cases = [
            (
                "same host pair, other ports",
                g.ts_offset(v4(10, 0, 0, 1, 22), v4(10, 0, 0, 2, 1)),
                true,
            ),
            ("swapped hosts", g.ts_offset(remote(), local()), false),
            (
                "other remote host",
                g.ts_offset(local(), v4(10, 0, 0, 9, 40_000)),
                false,
            ),
            (
                "other secret",
                IsnGenerator::new(other_secret).ts_offset(local(), remote()),
                false,
            ),
            // Domain separation: not the ISN's F() at M = 0.
            (
                "not the ISN hash",
                g.isn(Instant::ZERO, local(), remote()).get(),
                false,
            ),
        ];
        for (name, offset, same) in cases {
            assert_eq!(offset == base, same, "{name}");
        }
    }

    #[test]
    fn ts_offsets_vary_across_hosts() {
        let g = IsnGenerator::new(SECRET);
        let offsets: BTreeSet<u32> = (0..=255u8)
            .map(|d| g.ts_offset(local(), v4(198, 51, 100, d, 1)))
            .collect();
        assert_eq!(offsets.len(), 256);
    }

    /// The field-by-field writes the one-write `Input` replaced: the same values.
    #[test]
    fn one_write_equals_field_by_field() {
        fn ip(h: &mut SipHasher24, ip: IpAddr) {
            match ip {
                IpAddr::V4(v4) => {
                    h.write_u8(4);
                    h.write(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    h.write_u8(6);
                    h.write(&v6.octets());
                }
            }
        }
        let g = IsnGenerator::new(SECRET);
        let now = Instant::from_micros(123_456_789);
        for (l, r) in [
            (local(), remote()),
            (v6(1, 80), v6(2, 443)),
            (v4(10, 0, 0, 1, 22), v6(7, 1)),
        ] {
            let mut h = SipHasher24::new_with_key(&SECRET);
            h.write_u8(DOMAIN_ISN);
            for a in [l, r] {
                ip(&mut h, a.ip());
                h.write(&a.port().to_be_bytes());
            }
            let m = (now.micros() / 4) as u32;
            assert_eq!(g.isn(now, l, r), SeqNum(m.wrapping_add(h.finish() as u32)));
            let mut h = SipHasher24::new_with_key(&SECRET);
            h.write_u8(DOMAIN_TS_OFFSET);
            ip(&mut h, l.ip());
            ip(&mut h, r.ip());
            assert_eq!(g.ts_offset(l, r), h.finish() as u32);
        }
    }

    #[test]
    fn ts_offset_cache_agrees_with_the_generator() {
        let g = IsnGenerator::new(SECRET);
        let mut c = TsOffsetCache::default();
        // Pairs that share a cache slot, repeated, in both families and both
        // directions: every answer is the generator's.
        let pairs = [
            (local(), remote()),
            (local(), v4(192, 0, 2, 17, 999)),
            (local(), v4(198, 51, 100, 2, 1)),
            (remote(), local()),
            (v6(1, 80), v6(2, 443)),
            (v6(1, 80), v4(10, 0, 0, 2, 5)),
        ];
        for _ in 0..3 {
            for &(l, r) in &pairs {
                for port in [1, 2] {
                    let r = SocketAddr::new(r.ip(), port);
                    assert_eq!(c.get(&g, l, r), g.ts_offset(l, r), "{l} {r}");
                }
            }
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let s = alloc::format!("{:?}", IsnGenerator::new(SECRET));
        assert_eq!(s, "IsnGenerator { .. }");
    }
}
