//! TIME-WAIT as compact records (RFC 9293 §3.6.1, §3.10.7.4 TIME-WAIT; RFC 6191).
//!
//! A connection that enters TIME-WAIT leaves the connection table for this one:
//! a few dozen bytes instead of a whole TCB, with a cap (Linux
//! `tcp_max_tw_buckets`). Entries expire 2·MSL after the last FIN; a retransmitted
//! FIN is acknowledged again and restarts the timer. Expiry is a FIFO queue
//! (every entry lives the same 2·MSL), with stale queue entries skipped lazily.
//! IPv4 entries are keyed by 12 bytes, not a 64-byte `FourTuple`, in the table
//! and in the queue (as in the connection table).

use alloc::collections::VecDeque;

use crate::stack::demux::{FourTuple, KeyedHasher, TupleMap, V4Key};
use crate::stack::SocketHandle;
use crate::tcp::seq::SeqNum;
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpHeader, Timestamps};

/// What remains of a connection in TIME-WAIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TwEntry {
    pub(crate) snd_nxt: SeqNum,
    pub(crate) rcv_nxt: SeqNum,
    pub(crate) expires: Instant,
    /// Window field to advertise in our ACKs (already scaled down).
    pub(crate) window: u16,
    /// (TS.Recent, our TS offset, when TS.Recent was taken) when timestamps were in use.
    pub(crate) ts: Option<(u32, u32, Instant)>,
    /// The application's socket, while it still has one.
    pub(crate) handle: Option<SocketHandle>,
}

/// What to do with a segment that hit a TIME-WAIT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TwDisposition {
    /// Drop it silently.
    Drop,
    /// Send this ACK.
    Ack(TcpHeader),
    /// A retransmitted FIN: send this ACK; the timer was restarted.
    AckRestart(TcpHeader),
    /// An acceptable RST: the entry is gone.
    Reset(TwEntry),
    /// A new SYN may reuse the 4-tuple (RFC 6191): the entry is gone; hand the
    /// SYN to the listener.
    Reuse(TwEntry),
}

/// The expiry queue: (expiry, key) in the order entries were (re)armed, which is
/// expiry order. IPv4 keys are kept compact; others in a queue of their own.
#[derive(Debug)]
struct Queue<K> {
    q: VecDeque<(Instant, K)>,
    /// The front is known to match a live entry (checked since the last change
    /// that could end or move an entry), so peeking needs no lookup.
    front_ok: bool,
}

impl<K> Queue<K> {
    const fn new() -> Self {
        Self {
            q: VecDeque::new(),
            front_ok: false,
        }
    }

    /// Whether the front needs no check: known live, or no front at all.
    fn front_known(&self) -> bool {
        self.front_ok || self.q.is_empty()
    }
}

#[derive(Debug)]
pub(crate) struct TimeWaitTable {
    map: TupleMap<TwEntry>,
    v4_queue: Queue<V4Key>,
    other_queue: Queue<FourTuple>,
    cap: usize,
}

impl TimeWaitTable {
    pub(crate) fn new(cap: usize, hasher: KeyedHasher) -> Self {
        Self {
            map: TupleMap::new(hasher),
            v4_queue: Queue::new(),
            other_queue: Queue::new(),
            cap,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, key: &FourTuple) -> Option<&TwEntry> {
        self.map.get(key)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (FourTuple, &TwEntry)> {
        self.map.iter()
    }

    /// Puts `key` at the back of its expiry queue. Entries that ended or were
    /// re-armed leave stale records behind, dropped lazily as they reach the
    /// front, which is 2·MSL away: a peer retransmitting its FIN (each re-arms the
    /// timer) or a stream of reused tuples would grow the queue without bound
    /// meanwhile, so once stale records outnumber live entries the queue is
    /// compacted (O(queue), paid for by as many earlier changes).
    fn enqueue(&mut self, key: &FourTuple, expires: Instant) {
        match V4Key::of(key) {
            Some(k) => self.v4_queue.q.push_back((expires, k)),
            None => self.other_queue.q.push_back((expires, *key)),
        }
        if self.v4_queue.q.len() + self.other_queue.q.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            compact(&mut self.v4_queue, |k| map.get_v4(k));
            compact(&mut self.other_queue, |k| map.get(k));
        }
    }

    /// Records in the expiry queues, live and stale.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.v4_queue.q.len() + self.other_queue.q.len()
    }

    /// An entry ended or moved: the queue fronts must be checked again.
    fn fronts_changed(&mut self) {
        self.v4_queue.front_ok = false;
        self.other_queue.front_ok = false;
    }

    /// Adds an entry; returns false when the table is full.
    pub(crate) fn insert(&mut self, key: FourTuple, entry: TwEntry) -> bool {
        if self.map.len() >= self.cap && !self.map.contains_key(&key) {
            return false;
        }
        // The entry goes in first: a compaction while enqueueing keeps only the
        // records of entries in the table.
        let replaced = self.map.insert(key, entry).is_some();
        self.enqueue(&key, entry.expires);
        if replaced {
            self.fronts_changed();
        }
        true
    }

    pub(crate) fn remove(&mut self, key: &FourTuple) -> Option<TwEntry> {
        let e = self.map.remove(key)?;
        self.fronts_changed();
        Some(e)
    }

    /// Forgets the application's handle (it closed its socket).
    pub(crate) fn detach(&mut self, key: &FourTuple) {
        if let Some(e) = self.map.get_mut(key) {
            e.handle = None;
        }
    }

    /// The earliest expiry still pending. Asked before every wait
    /// (`Stack::poll_timeout`), so the common case — each queue's front known
    /// live, or the queue empty — takes no lookup and no call.
    #[inline]
    pub(crate) fn next_expiry(&mut self) -> Option<Instant> {
        if self.v4_queue.front_known() && self.other_queue.front_known() {
            let v4 = self.v4_queue.q.front().map(|&(t, _)| t);
            let other = self.other_queue.q.front().map(|&(t, _)| t);
            return Instant::earliest(v4, other);
        }
        self.next_expiry_checked()
    }

    /// [`TimeWaitTable::next_expiry`], dropping stale queue fronts first.
    #[inline(never)]
    fn next_expiry_checked(&mut self) -> Option<Instant> {
        let map = &self.map;
        let v4 = front(&mut self.v4_queue, |k| map.get_v4(k));
        let other = front(&mut self.other_queue, |k| map.get(k));
        match (v4, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes and returns one entry whose 2·MSL has run out by `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(FourTuple, TwEntry)> {
        let t = self.next_expiry()?;
        if t > now {
            return None;
        }
        let map = &self.map;
        let key = if front(&mut self.v4_queue, |k| map.get_v4(k)) == Some(t) {
            self.v4_queue.q.pop_front().map(|(_, k)| k.tuple())
        } else {
            self.other_queue.q.pop_front().map(|(_, k)| k)
        }?;
        self.v4_queue.front_ok = false;
        self.other_queue.front_ok = false;
        self.map.remove(&key).map(|e| (key, e))
    }

    /// RFC 9293 §3.10.7.4 for TIME-WAIT, and RFC 6191 for a new SYN.
    pub(crate) fn on_segment(
        &mut self,
        key: &FourTuple,
        hdr: &TcpHeader,
        payload_len: usize,
        now: Instant,
        two_msl: core::time::Duration,
    ) -> TwDisposition {
        let Some(e) = self.map.get_mut(key) else {
            return TwDisposition::Drop;
        };
        let f = hdr.flags;
        if f.rst() {
            // RFC 1337 would ignore it; like Linux (tcp_rfc1337 = 0) an exact RST ends TIME-WAIT.
            if hdr.seq == e.rcv_nxt {
                let e = *e;
                self.remove(key);
                return TwDisposition::Reset(e);
            }
            return TwDisposition::Drop;
        }
        if f.syn() && !f.ack() {
            // RFC 6191 §2: with timestamps, a SYN whose TSval is newer than TS.Recent may
            // start a new incarnation; without them, RFC 9293 (and RFC 1122 §4.2.2.13)
            // allows it when its sequence number is beyond the old RCV.NXT.
            // §2's three cases: a newer TSval; an equal TSval with a higher sequence
            // number; no timestamps on the new SYN and a higher sequence number.
            let higher_seq = hdr.seq.gt(e.rcv_nxt);
            let newer = match (e.ts, hdr.options.timestamps) {
                (Some((recent, _, _)), Some(ts)) => {
                    SeqNum(ts.val).gt(SeqNum(recent)) || (ts.val == recent && higher_seq)
                }
                (_, None) | (None, _) => higher_seq,
            };
            if newer {
                let e = *e;
                self.remove(key);
                return TwDisposition::Reuse(e);
            }
            return TwDisposition::Ack(Self::ack(key, e, now));
        }
        // "The only thing that can arrive in this state is a retransmission of the
        // remote FIN. Acknowledge it, and restart the 2 MSL timeout."
        if f.fin() && (hdr.seq + payload_len) + 1u32 == e.rcv_nxt {
            e.expires = now + two_msl;
            let (expires, hdr) = (e.expires, Self::ack(key, e, now));
            self.enqueue(key, expires);
            self.fronts_changed();
            return TwDisposition::AckRestart(hdr);
        }
        // A bare ACK at RCV.NXT is a duplicate of what the peer already said: drop it.
        // Anything else (data, a SYN,ACK, an old segment) is answered with our ACK, as
        // for any unacceptable segment (RFC 9293 §3.10.7.4 "first").
        if payload_len == 0 && !f.fin() && !f.syn() && hdr.seq == e.rcv_nxt {
            return TwDisposition::Drop;
        }
        TwDisposition::Ack(Self::ack(key, e, now))
    }

    /// The ACK a TIME-WAIT entry sends.
    fn ack(key: &FourTuple, e: &TwEntry, now: Instant) -> TcpHeader {
        let mut hdr = TcpHeader {
            src_port: key.local.port(),
            dst_port: key.remote.port(),
            seq: e.snd_nxt,
            ack: e.rcv_nxt,
            flags: TcpFlags::ACK,
            window: e.window,
            ..TcpHeader::default()
        };
        if let Some((recent, offset, _)) = e.ts {
            // Truncation to 32 bits is the timestamp clock's wraparound.
            hdr.options.timestamps = Some(Timestamps {
                val: (now.millis() as u32).wrapping_add(offset),
                ecr: recent,
            });
        }
        hdr
    }
}

/// Drops `queue`'s stale records (entries gone or re-armed later), keeping order.
fn compact<'m, K: Copy>(queue: &mut Queue<K>, entry: impl Fn(&K) -> Option<&'m TwEntry>) {
    queue.q.retain(|&(t, key)| is_live(&entry, t, &key));
    queue.front_ok = false;
}

/// Whether the record `(t, key)` is the one that expires `key`'s entry.
fn is_live<'m, K>(entry: &impl Fn(&K) -> Option<&'m TwEntry>, t: Instant, key: &K) -> bool {
    entry(key).is_some_and(|e| e.expires == t)
}

/// The earliest live expiry of `queue`, dropping stale fronts (entries gone or
/// re-armed later); `entry` finds a key's entry.
fn front<'m, K: Copy>(
    queue: &mut Queue<K>,
    entry: impl Fn(&K) -> Option<&'m TwEntry>,
) -> Option<Instant> {
    while let Some(&(t, key)) = queue.q.front() {
        if queue.front_ok || is_live(&entry, t, &key) {
            queue.front_ok = true;
            return Some(t);
        }
        queue.q.pop_front();
    }
    queue.front_ok = false;
    None
}

#[cfg(test)]
mod tests;
