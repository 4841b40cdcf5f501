//! The IPv4 connection index: a flat open-addressing table from a [`V4Key`] to
//! a slot, sixteen bytes per entry, four to a cache line.
//!
//! Every segment of an IPv4 connection is found here, so a lookup is what
//! matters. A general hash map (hashbrown: a control byte per bucket in one
//! array, the entries in another) costs a lookup two dependent reads, the
//! control group and then the entry; with a table far larger than the cache
//! both miss. Here the key and the slot sit together in the entry the hash points
//! at: one read, usually one line (linear probing at most half full finds a key
//! in 1.5 probes on average, most of them in the first line), and the line can
//! be fetched ahead of the segment ([`V4Index::prefetch`]) because its address
//! is known from the key alone.
//!
//! The hash is the module's keyed fold of a 64×64-bit product (see the module
//! doc of `demux`); deletion shifts the entries after the gap back (no
//! tombstones), so a probe stops at the first empty entry.

use alloc::vec::Vec;

use super::V4Key;

/// One entry: the key, and the slot plus one (0: empty).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    addrs: u64,
    ports: u32,
    slot: u32,
}

impl Entry {
    fn key(self) -> V4Key {
        V4Key {
            addrs: self.addrs,
            ports: self.ports,
        }
    }
}

/// Keyed IPv4 4-tuple → slot index (values up to `u32::MAX - 1`).
#[derive(Debug)]
pub(crate) struct V4Index {
    /// A power of two long (or empty), at most half full.
    entries: Vec<Entry>,
    len: usize,
    /// The hash's two key words (the second with its top bit set).
    seeds: [u64; 2],
}

impl V4Index {
    pub(crate) fn new(seeds: [u64; 2]) -> Self {
        Self {
            entries: Vec::new(),
            len: 0,
            seeds: [seeds[0], seeds[1] | 1 << 63],
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Where `k`'s probe starts (the table must not be empty).
    #[inline]
    fn home(&self, k: V4Key) -> usize {
        let p =
            u128::from(k.addrs ^ self.seeds[0]) * u128::from(u64::from(k.ports) ^ self.seeds[1]);
        // The fold's truncations are the point: both halves of the product.
        let h = (p as u64) ^ ((p >> 64) as u64);
        h as usize & (self.entries.len() - 1)
    }

    /// The position holding `k`, if any.
    #[inline]
    fn find(&self, k: V4Key) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let mask = self.entries.len() - 1;
        let mut i = self.home(k);
        loop {
            let e = self.entries[i];
            if e.slot == 0 {
                return None;
            }
            if e.addrs == k.addrs && e.ports == k.ports {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    pub(crate) fn get(&self, k: V4Key) -> Option<u32> {
        self.find(k).map(|i| self.entries[i].slot - 1)
    }

    /// Starts fetching the line `k`'s probe begins in (a hint: no effect on
    /// what any lookup returns).
    #[inline]
    pub(crate) fn prefetch(&self, k: V4Key) {
        if !self.entries.is_empty() {
            crate::prefetch::read(&self.entries[self.home(k)]);
        }
    }

    /// Maps `k` to `slot`; the slot it had, if any.
    pub(crate) fn insert(&mut self, k: V4Key, slot: u32) -> Option<u32> {
        debug_assert!(slot < u32::MAX);
        if let Some(i) = self.find(k) {
            let old = self.entries[i].slot - 1;
            self.entries[i].slot = slot + 1;
            return Some(old);
        }
        if 2 * (self.len + 1) > self.entries.len() {
            self.grow();
        }
        self.place(Entry {
            addrs: k.addrs,
            ports: k.ports,
            slot: slot + 1,
        });
        self.len += 1;
        None
    }

    /// Puts `e` (whose key is absent) in the first empty entry of its probe.
    fn place(&mut self, e: Entry) {
        let mask = self.entries.len() - 1;
        let mut i = self.home(e.key());
        while self.entries[i].slot != 0 {
            i = (i + 1) & mask;
        }
        self.entries[i] = e;
    }

    fn grow(&mut self) {
        let cap = (self.entries.len() * 2).max(16);
        let old = core::mem::replace(&mut self.entries, alloc::vec![Entry::default(); cap]);
        for e in old.into_iter().filter(|e| e.slot != 0) {
            self.place(e);
        }
    }

    /// Unmaps `k`; the slot it had, if any.
    pub(crate) fn remove(&mut self, k: V4Key) -> Option<u32> {
        let i = self.find(k)?;
        let slot = self.entries[i].slot - 1;
        self.take_out(i);
        Some(slot)
    }

    /// Unmaps `k` if it maps to `slot`.
    pub(crate) fn remove_if(&mut self, k: V4Key, slot: u32) {
        if let Some(i) = self.find(k) {
            if self.entries[i].slot == slot + 1 {
                self.take_out(i);
            }
        }
    }

    /// Empties position `gap` and shifts back every entry after it whose probe
    /// would otherwise pass the gap (backward-shift deletion: each probe
    /// sequence stays unbroken without tombstones).
    fn take_out(&mut self, mut gap: usize) {
        let mask = self.entries.len() - 1;
        let mut j = gap;
        loop {
            j = (j + 1) & mask;
            let e = self.entries[j];
            if e.slot == 0 {
                break;
            }
            // `e` may fill the gap if its home is not in the cyclic range (gap, j].
            let home = self.home(e.key());
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(gap) & mask) {
                self.entries[gap] = e;
                gap = j;
            }
        }
        self.entries[gap] = Entry::default();
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use core::net::Ipv4Addr;
    use proptest::prelude::*;

    fn key(a: u8, lp: u16, b: u8, rp: u16) -> V4Key {
        V4Key::new(
            Ipv4Addr::new(10, 0, 0, a),
            lp,
            Ipv4Addr::new(10, 0, 1, b),
            rp,
        )
    }

    /// Every stored key is reachable from its home without crossing an empty
    /// entry, and the count is right.
    fn check(t: &V4Index) {
        let mut n = 0;
        for (i, e) in t.entries.iter().enumerate() {
            if e.slot != 0 {
                n += 1;
                assert_eq!(t.find(e.key()), Some(i));
            }
        }
        assert_eq!(n, t.len);
        assert!(t.entries.is_empty() || 2 * t.len <= t.entries.len());
    }

    #[test]
    fn insert_get_replace_remove() {
        let mut t = V4Index::new([3, 5]);
        assert_eq!(t.get(key(1, 80, 2, 40000)), None);
        assert_eq!(t.remove(key(1, 80, 2, 40000)), None);
        assert_eq!(t.insert(key(1, 80, 2, 40000), 0), None);
        assert_eq!(t.insert(key(1, 80, 2, 40001), 7), None);
        assert_eq!(t.get(key(1, 80, 2, 40000)), Some(0));
        assert_eq!(t.insert(key(1, 80, 2, 40000), 9), Some(0));
        assert_eq!(t.get(key(1, 80, 2, 40000)), Some(9));
        assert_eq!(t.len(), 2);
        t.remove_if(key(1, 80, 2, 40001), 6);
        assert_eq!(t.get(key(1, 80, 2, 40001)), Some(7));
        t.remove_if(key(1, 80, 2, 40001), 7);
        assert_eq!(t.get(key(1, 80, 2, 40001)), None);
        assert_eq!(t.remove(key(1, 80, 2, 40000)), Some(9));
        assert_eq!(t.len(), 0);
        check(&t);
    }

    #[test]
    fn many_keys_grow_and_shrink_back() {
        let mut t = V4Index::new([0x1234_5678, 0x9abc_def0]);
        for p in 0..5000u16 {
            assert_eq!(t.insert(key(1, 80, 2, 30000 + p), u32::from(p)), None);
        }
        check(&t);
        assert_eq!(t.entries.len(), 16384);
        for p in (0..5000u16).step_by(3) {
            assert_eq!(t.remove(key(1, 80, 2, 30000 + p)), Some(u32::from(p)));
        }
        check(&t);
        for p in 0..5000u16 {
            let want = (p % 3 != 0).then_some(u32::from(p));
            assert_eq!(t.get(key(1, 80, 2, 30000 + p)), want);
        }
    }

    #[test]
    fn the_seeds_move_keys() {
        let (a, b) = (V4Index::new([1, 2]), V4Index::new([1, 3]));
        let mut t = (a, b);
        t.0.entries = alloc::vec![Entry::default(); 1 << 16];
        t.1.entries = alloc::vec![Entry::default(); 1 << 16];
        let moved = (0..64u16)
            .filter(|&p| t.0.home(key(1, 80, 2, p)) != t.1.home(key(1, 80, 2, p)))
            .count();
        assert!(moved > 60, "{moved}");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u16, u32),
        Remove(u8, u16),
        RemoveIf(u8, u16, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct keys, so operations hit each other and clusters form.
        let k = (0u8..4, 0u16..40);
        prop_oneof![
            (k.clone(), 0u32..8).prop_map(|((a, p), v)| Op::Insert(a, p, v)),
            k.clone().prop_map(|(a, p)| Op::Remove(a, p)),
            (k, 0u32..8).prop_map(|((a, p), v)| Op::RemoveIf(a, p, v)),
        ]
    }

    proptest! {
        /// The table against a `BTreeMap`, with a seed that clusters keys (a
        /// zero multiplier word but the forced top bit) and a random one.
        #[test]
        fn agrees_with_a_btreemap(ops in proptest::collection::vec(op(), 0..400), s0: u64, s1: u64, degenerate: bool) {
            let mut t = V4Index::new(if degenerate { [0, 0] } else { [s0, s1] });
            let mut m = BTreeMap::new();
            for o in ops {
                match o {
                    Op::Insert(a, p, v) => prop_assert_eq!(t.insert(key(a, 80, a, p), v), m.insert((a, p), v)),
                    Op::Remove(a, p) => prop_assert_eq!(t.remove(key(a, 80, a, p)), m.remove(&(a, p))),
                    Op::RemoveIf(a, p, v) => {
                        t.remove_if(key(a, 80, a, p), v);
                        if m.get(&(a, p)) == Some(&v) {
                            m.remove(&(a, p));
                        }
                    }
                }
                prop_assert_eq!(t.len(), m.len());
            }
            check(&t);
            for a in 0..4u8 {
                for p in 0..40u16 {
                    prop_assert_eq!(t.get(key(a, 80, a, p)), m.get(&(a, p)).copied());
                }
            }
        }
    }
}
