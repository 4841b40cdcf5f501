//! Demultiplexing: keyed hash tables from a 4-tuple (or a listening address) to a
//! socket slot. O(1) per packet, no allocation on lookup, and keyed with the
//! stack's secret so a remote host cannot aim collisions at a bucket.
//!
//! # The tables' hash
//!
//! The tables hash with foldhash's fast variant (the hasher `hashbrown` itself
//! defaults to), every seed of it derived from the stack's secret, not SipHash.
//! What a table needs is weaker than what the ISN (RFC 6528) and SYN cookies need,
//! which stay SipHash-2-4: their outputs go on the wire, so the function must be a
//! PRF whose outputs teach an observer nothing about the key. A table's hash never
//! leaves the host; it must only keep a remote host that does not know the key from
//! choosing many 4-tuples that land in one bucket (hash flooding, which turns each
//! lookup into a scan). Linux's established table has the same need and uses
//! `jhash` under a random boot-time secret (`inet_ehashfn`), a non-cryptographic
//! mix; this is the same trade with a stronger mix and a 128-bit key.
//!
//! For an IPv4 key ([`V4Key`]: both addresses in one `u64`, both ports in a `u32`)
//! the whole hash is one 64×64→128-bit multiply whose two halves are XORed
//! ("folded"): `fold((addrs ^ s) * (ports ^ f))`, with `s` and `f` 64-bit words
//! derived from the secret (`f` has its top bit forced on, so `ports ^ f` is never
//! zero: the ports are 32 bits). A remote host controls its address and port,
//! i.e. 48 of the 96 input bits; every output bit of the folded product depends on
//! every bit of both unknown operands, so without `s` and `f` it cannot tell which
//! of its tuples share the low bits a table indexes with. Differences it makes
//! reach the product through carries that depend on the key. Like `jhash` (and
//! unlike SipHash) this is not a PRF: an attacker who could observe many hashes,
//! or time enough lookups precisely, could recover the key — the foldhash
//! authors say as much — so the key is per stack and derived from its secret
//! (`KeyedHasher`'s `Debug` shows none of it). The secret itself is the caller's
//! (`StackConfig::secret`: a random one per stack in the TUN runtime, fixed
//! seeds in the simulator, which is what keeps runs deterministic).
//!
//! The IPv4 connection index ([`V4Index`]) computes the same fold itself,
//! under two words of its own derived from the secret, because it takes its
//! probe's start straight from the hash (and so can prefetch the line).
//!
//! Measured on the `connections` bench (c1, callgrind): going from SipHash-1-3
//! to this took a connection's cycle (both hosts) from 25,397 to 24,224
//! instructions; the hashing left is ~65 of them.

use core::fmt;
use core::hash::{BuildHasher, Hash, Hasher};
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use foldhash::fast::FoldHasher;
use foldhash::SharedSeed;
use hashbrown::HashMap;
use siphasher::sip::SipHasher24;

mod v4index;
pub(crate) use v4index::V4Index;

/// A hasher builder keyed with a secret: foldhash with every seed derived from
/// it (see the module doc).
#[derive(Clone)]
pub(crate) struct KeyedHasher {
    /// The per-hasher seed (foldhash's initial accumulator).
    seed: u64,
    /// The other seeds (the fold seed among them), expanded from a second word.
    shared: SharedSeed,
    /// The IPv4 connection index's two words ([`V4Index`]).
    v4: [u64; 2],
}

impl KeyedHasher {
    pub(crate) fn new(secret: &[u8; 16]) -> Self {
        // Two words from SipHash-2-4 under the secret. The ISN and timestamp
        // offsets hash 11 to 39 bytes under the same key and these hash 8, so no
        // input is shared (SipHash's last block carries the length); SYN cookies
        // use keys of their own.
        let derive = |label: &[u8; 8]| {
            let mut h = SipHasher24::new_with_key(secret);
            h.write(label);
            h.finish()
        };
        Self {
            seed: derive(b"demux-s0"),
            shared: SharedSeed::from_u64(derive(b"demux-s1")),
            v4: [derive(b"demux-v0"), derive(b"demux-v1")],
        }
    }
}

impl BuildHasher for KeyedHasher {
    type Hasher = FoldHasher;
    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher::with_seed(self.seed, &self.shared)
    }
}

/// Shows no seed: they are the tables' key.
impl fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedHasher").finish_non_exhaustive()
    }
}

/// A connection's identity: our address and theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FourTuple {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
}

/// Hashes the four numbers that make the identity in as few hasher writes as
/// possible: for IPv4, one `u64` (both addresses) and one `u32` (both ports), 12
/// bytes through SipHash instead of the derived impl's dozen small writes of
/// discriminants, length prefixes, flow labels and scope ids. Equal tuples hash
/// equal (the fields left out only ever make unequal tuples collide), as `Hash`
/// requires with the derived `Eq`.
impl Hash for FourTuple {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let ports = u32::from(self.local.port()) << 16 | u32::from(self.remote.port());
        match (self.local.ip(), self.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                h.write_u64(u64::from(l.to_bits()) << 32 | u64::from(r.to_bits()));
            }
            (l, r) => {
                h.write_u128(ip_bits(l));
                h.write_u128(ip_bits(r));
            }
        }
        h.write_u32(ports);
    }
}

/// An address as 128 bits (IPv4 as its IPv4-mapped IPv6 form).
fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().to_bits(),
        IpAddr::V6(a) => a.to_bits(),
    }
}

/// A keyed hash map.
pub(crate) type KeyedMap<K, V> = HashMap<K, V, KeyedHasher>;

/// An IPv4 connection's identity in 12 bytes (a `FourTuple` takes 64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct V4Key {
    /// Local address (high 32 bits) and remote address (low 32 bits).
    addrs: u64,
    /// Local port (high 16 bits) and remote port (low 16 bits).
    ports: u32,
}

impl Hash for V4Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.addrs);
        h.write_u32(self.ports);
    }
}

impl V4Key {
    pub(crate) fn of(t: &FourTuple) -> Option<Self> {
        match (t.local, t.remote) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => {
                Some(Self::new(*l.ip(), l.port(), *r.ip(), r.port()))
            }
            _ => None,
        }
    }

    /// The key of local `l`:`lp` and remote `r`:`rp`.
    #[inline]
    pub(crate) fn new(l: Ipv4Addr, lp: u16, r: Ipv4Addr, rp: u16) -> Self {
        Self {
            addrs: u64::from(l.to_bits()) << 32 | u64::from(r.to_bits()),
            ports: u32::from(lp) << 16 | u32::from(rp),
        }
    }

    /// The 4-tuple back.
    pub(crate) fn tuple(self) -> FourTuple {
        let v4 = |ip: u64, port: u32| {
            // Truncations take the halves the key packed.
            SocketAddr::new(IpAddr::V4(Ipv4Addr::from_bits(ip as u32)), port as u16)
        };
        FourTuple {
            local: v4(self.addrs >> 32, self.ports >> 16),
            remote: v4(self.addrs, self.ports),
        }
    }
}

/// A map keyed by 4-tuple: IPv4 tuples as 12-byte keys ([`V4Key`]), anything
/// else under the full tuple in a second map.
#[derive(Debug)]
pub(crate) struct TupleMap<V> {
    v4: KeyedMap<V4Key, V>,
    other: KeyedMap<FourTuple, V>,
}

impl<V> TupleMap<V> {
    pub(crate) fn new(hasher: KeyedHasher) -> Self {
        Self {
            v4: keyed_map(hasher.clone()),
            other: keyed_map(hasher),
        }
    }

    pub(crate) fn get(&self, key: &FourTuple) -> Option<&V> {
        match V4Key::of(key) {
            Some(k) => self.v4.get(&k),
            None => self.other.get(key),
        }
    }

    pub(crate) fn get_v4(&self, key: &V4Key) -> Option<&V> {
        self.v4.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &FourTuple) -> Option<&mut V> {
        match V4Key::of(key) {
            Some(k) => self.v4.get_mut(&k),
            None => self.other.get_mut(key),
        }
    }

    pub(crate) fn contains_key(&self, key: &FourTuple) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn insert(&mut self, key: FourTuple, v: V) -> Option<V> {
        match V4Key::of(&key) {
            Some(k) => self.v4.insert(k, v),
            None => self.other.insert(key, v),
        }
    }

    pub(crate) fn remove(&mut self, key: &FourTuple) -> Option<V> {
        match V4Key::of(key) {
            Some(k) => self.v4.remove(&k),
            None => self.other.remove(key),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (FourTuple, &V)> {
        let v4 = self.v4.iter().map(|(k, v)| (k.tuple(), v));
        v4.chain(self.other.iter().map(|(k, v)| (*k, v)))
    }
}

/// The connection table: 4-tuple → slot. IPv4 tuples (the bulk of a busy
/// server) in a [`V4Index`] (12-byte keys in 16-byte entries, one probe, and
/// prefetchable); any other under the full tuple in a keyed map.
#[derive(Debug)]
pub(crate) struct ConnTable {
    v4: V4Index,
    other: KeyedMap<FourTuple, u32>,
    /// The IPv4 entry [`ConnTable::lookup`] found last: a bulk flow's segments skip
    /// the hash. Cleared by every insert and remove.
    last: Option<(V4Key, u32)>,
}

impl ConnTable {
    pub(crate) fn new(hasher: KeyedHasher) -> Self {
        Self {
            v4: V4Index::new(hasher.v4),
            other: keyed_map(hasher),
            last: None,
        }
    }

    pub(crate) fn get(&self, key: &FourTuple) -> Option<u32> {
        match V4Key::of(key) {
            Some(k) => self.v4.get(k),
            None => self.other.get(key).copied(),
        }
    }

    /// [`ConnTable::get`] for the packet path, remembering the IPv4 entry it finds
    /// so the next segment of the same flow is found without hashing.
    pub(crate) fn lookup(&mut self, key: &FourTuple) -> Option<u32> {
        match V4Key::of(key) {
            Some(k) => self.lookup_v4(k),
            None => self.other.get(key).copied(),
        }
    }

    /// [`ConnTable::lookup`] of an IPv4 key.
    #[inline]
    pub(crate) fn lookup_v4(&mut self, k: V4Key) -> Option<u32> {
        if let Some((lk, idx)) = self.last {
            if lk == k {
                return Some(idx);
            }
        }
        let idx = self.v4.get(k)?;
        self.last = Some((k, idx));
        Some(idx)
    }

    /// [`ConnTable::lookup_v4`] without touching the flow cache: a prefetch
    /// hint looks ahead and must not evict the entry the packet path uses.
    #[inline]
    pub(crate) fn peek_v4(&self, k: V4Key) -> Option<u32> {
        self.v4.get(k)
    }

    /// Starts fetching the line where `k`'s lookup begins.
    #[inline]
    pub(crate) fn prefetch_v4(&self, k: V4Key) {
        self.v4.prefetch(k);
    }

    pub(crate) fn contains_key(&self, key: &FourTuple) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn insert(&mut self, key: FourTuple, idx: u32) -> Option<u32> {
        self.last = None;
        match V4Key::of(&key) {
            Some(k) => self.v4.insert(k, idx),
            None => self.other.insert(key, idx),
        }
    }

    pub(crate) fn remove(&mut self, key: &FourTuple) -> Option<u32> {
        self.last = None;
        match V4Key::of(key) {
            Some(k) => self.v4.remove(k),
            None => self.other.remove(key),
        }
    }

    /// Removes `key` if it maps to `idx` (one probe of the table).
    pub(crate) fn remove_if(&mut self, key: &FourTuple, idx: u32) {
        self.last = None;
        match V4Key::of(key) {
            Some(k) => self.v4.remove_if(k, idx),
            None => {
                if self.other.get(key) == Some(&idx) {
                    self.other.remove(key);
                }
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }
}

pub(crate) fn keyed_map<K: Hash + Eq, V>(hasher: KeyedHasher) -> KeyedMap<K, V> {
    HashMap::with_hasher(hasher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{format, vec::Vec};
    use core::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

    fn hash_of(h: &KeyedHasher, t: &FourTuple) -> u64 {
        h.hash_one(t)
    }

    #[test]
    fn equal_tuples_hash_equal_and_fields_matter() {
        let h = KeyedHasher::new(&[7; 16]);
        let a = |ip: [u8; 4], port| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port);
        let t = FourTuple {
            local: a([10, 0, 0, 1], 80),
            remote: a([10, 0, 0, 2], 49152),
        };
        assert_eq!(hash_of(&h, &t), hash_of(&h, &t.clone()));
        let variants = [
            FourTuple {
                local: a([10, 0, 0, 3], 80),
                ..t
            },
            FourTuple {
                local: a([10, 0, 0, 1], 81),
                ..t
            },
            FourTuple {
                remote: a([10, 0, 0, 4], 49152),
                ..t
            },
            FourTuple {
                remote: a([10, 0, 0, 2], 49153),
                ..t
            },
            FourTuple {
                local: t.remote,
                remote: t.local,
            },
        ];
        for v in variants {
            assert_ne!(hash_of(&h, &t), hash_of(&h, &v), "{v:?}");
        }
        // A different secret gives a different hash.
        assert_ne!(hash_of(&h, &t), hash_of(&KeyedHasher::new(&[8; 16]), &t));
        // IPv6: flow info and scope id are not hashed, and need not be.
        let v6 = |flow| SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, flow, 0));
        let (x, y) = (
            FourTuple {
                local: v6(0),
                remote: v6(0),
            },
            FourTuple {
                local: v6(5),
                remote: v6(0),
            },
        );
        assert_ne!(x, y);
        assert_eq!(hash_of(&h, &x), hash_of(&h, &y));
    }

    /// The most loaded of `buckets` buckets (hashbrown indexes with the low bits
    /// and tags with the top 7) over the keys' hashes.
    fn max_load(h: &KeyedHasher, keys: &[V4Key], buckets: u64, top_bits: bool) -> usize {
        let mut load = alloc::vec![0usize; buckets as usize];
        for k in keys {
            let x = h.hash_one(k);
            let b = if top_bits { x >> 57 } else { x % buckets };
            load[b as usize] += 1;
        }
        load.into_iter().max().unwrap_or(0)
    }

    /// What a remote host controls, varied the way a flood would (ports in order,
    /// addresses in order, one bit at a time), spreads over the buckets like
    /// random keys do: 16,384 keys into 1,024 buckets is 16 a bucket on average,
    /// and a balls-into-bins maximum near 30; into the 128 tags, 128 each.
    #[test]
    fn keys_a_remote_host_chooses_spread_over_buckets() {
        let ours = Ipv4Addr::new(10, 0, 0, 1);
        let them = |i: u32| Ipv4Addr::from_bits(0xc0a8_0000 | i);
        let ports: Vec<V4Key> = (0..16_384u32)
            .map(|p| V4Key::new(ours, 80, them(7), 32_768 + p as u16))
            .collect();
        let addrs: Vec<V4Key> = (0..16_384u32)
            .map(|i| V4Key::new(ours, 80, them(i), 40_000))
            .collect();
        // Both at once in steps of powers of two (a multiply's weak spot would be
        // inputs differing in high bits only).
        let strided: Vec<V4Key> = (0..16_384u32)
            .map(|i| V4Key::new(ours, 80, them((i & 0x7f) << 9), (i >> 7) as u16 * 512))
            .collect();
        for secret in [[0u8; 16], [7; 16], *b"synack-test-key!"] {
            let h = KeyedHasher::new(&secret);
            for (name, keys) in [("ports", &ports), ("addrs", &addrs), ("strided", &strided)] {
                let low = max_load(&h, keys, 1024, false);
                let tag = max_load(&h, keys, 128, true);
                assert!(low <= 40, "{name}: {low} keys in one of 1,024 buckets");
                assert!(tag <= 190, "{name}: {tag} keys under one of 128 tags");
            }
        }
    }

    #[test]
    fn the_key_depends_on_the_whole_secret() {
        let k = V4Key::new(
            Ipv4Addr::new(10, 0, 0, 1),
            80,
            Ipv4Addr::new(10, 0, 0, 2),
            1000,
        );
        let base = KeyedHasher::new(&[0; 16]).hash_one(k);
        for byte in 0..16 {
            let mut s = [0u8; 16];
            s[byte] = 1;
            assert_ne!(KeyedHasher::new(&s).hash_one(k), base, "secret byte {byte}");
        }
        assert_eq!(
            format!("{:?}", KeyedHasher::new(&[9; 16])),
            "KeyedHasher { .. }"
        );
    }

    #[test]
    fn v4_keys_give_the_tuple_back() {
        let a = |ip: [u8; 4], port| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port);
        for t in [
            FourTuple {
                local: a([10, 0, 0, 1], 80),
                remote: a([192, 168, 200, 255], 65535),
            },
            FourTuple {
                local: a([255, 255, 255, 255], 1),
                remote: a([0, 0, 0, 1], 0),
            },
        ] {
            assert_eq!(V4Key::of(&t).map(V4Key::tuple), Some(t));
        }
    }

    #[test]
    fn conn_table_keeps_families_apart() {
        let mut t = ConnTable::new(KeyedHasher::new(&[1; 16]));
        let v4 = |ip: [u8; 4], port| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port);
        let v6 = |port| SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port);
        let a = FourTuple {
            local: v4([10, 0, 0, 1], 80),
            remote: v4([10, 0, 0, 2], 1000),
        };
        let b = FourTuple {
            local: v4([10, 0, 0, 1], 80),
            remote: v4([10, 0, 0, 2], 1001),
        };
        let c = FourTuple {
            local: v6(80),
            remote: v6(1000),
        };
        // An IPv4 local address with an IPv6 remote one goes to the general map.
        let d = FourTuple {
            local: v4([10, 0, 0, 1], 80),
            remote: v6(1000),
        };
        assert_eq!(t.insert(a, 1), None);
        assert_eq!(t.insert(b, 2), None);
        assert_eq!(t.insert(c, 3), None);
        assert_eq!(t.insert(d, 4), None);
        assert_eq!(t.insert(a, 5), Some(1));
        assert_eq!(
            (t.get(&a), t.get(&b), t.get(&c), t.get(&d)),
            (Some(5), Some(2), Some(3), Some(4))
        );
        assert_eq!(t.len(), 4);
        // The one-entry cache answers a repeat, and never outlives a change.
        assert_eq!(
            (t.lookup(&a), t.lookup(&a), t.lookup(&c)),
            (Some(5), Some(5), Some(3))
        );
        assert_eq!(t.insert(a, 6), Some(5));
        assert_eq!(t.lookup(&a), Some(6));
        assert_eq!(t.lookup(&b), Some(2));
        assert_eq!(t.remove(&b), Some(2));
        assert_eq!(t.lookup(&b), None);
        assert_eq!(t.lookup(&a), Some(6));
        assert!(!t.contains_key(&b));
        assert_eq!(t.remove(&c), Some(3));
        assert_eq!(t.remove(&c), None);
        assert!(t.contains_key(&a) && t.contains_key(&d));
        assert_eq!(t.len(), 2);
    }
}
