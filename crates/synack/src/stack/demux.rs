//! Demultiplexing: keyed hash tables from a 4-tuple (or a listening address) to a
//! socket slot. O(1) per packet, no allocation on lookup, and keyed with the
//! stack's secret (SipHash-1-3) so a remote host cannot aim collisions at a bucket.

use core::hash::{BuildHasher, Hash};
use core::net::SocketAddr;

use hashbrown::HashMap;
use siphasher::sip::SipHasher13;

/// A hasher builder keyed with a secret.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyedHasher {
    k0: u64,
    k1: u64,
}

impl KeyedHasher {
    pub(crate) fn new(secret: &[u8; 16]) -> Self {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&secret[..8]);
        b.copy_from_slice(&secret[8..]);
        // Domain-separate from the ISN key, which uses the same secret.
        Self {
            k0: u64::from_le_bytes(a) ^ 0x6465_6d75_785f_6b30,
            k1: u64::from_le_bytes(b) ^ 0x6465_6d75_785f_6b31,
        }
    }
}

impl BuildHasher for KeyedHasher {
    type Hasher = SipHasher13;
    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.k0, self.k1)
    }
}

/// A connection's identity: our address and theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FourTuple {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
}

/// A keyed hash map.
pub(crate) type KeyedMap<K, V> = HashMap<K, V, KeyedHasher>;

pub(crate) fn keyed_map<K: Hash + Eq, V>(hasher: KeyedHasher) -> KeyedMap<K, V> {
    HashMap::with_hasher(hasher)
}
