//! RFC 6191 §2: which new SYNs may reopen a 4-tuple in TIME-WAIT.

use core::net::SocketAddr;
use core::time::Duration;

use super::*;
use crate::wire::TcpOptions;

const RCV_NXT: u32 = 5_000;
const RECENT: u32 = 700;

fn key() -> FourTuple {
    FourTuple {
        local: "10.0.0.1:80".parse().unwrap(),
        remote: "10.0.0.2:40000".parse().unwrap(),
    }
}

/// A table holding one entry; `ts` says whether the old incarnation used timestamps.
fn table(ts: bool) -> TimeWaitTable {
    let mut t = TimeWaitTable::new(16, KeyedHasher::new(&[7; 16]));
    let entry = TwEntry {
        snd_nxt: SeqNum(9_000),
        rcv_nxt: SeqNum(RCV_NXT),
        expires: Instant::from_micros(60_000_000),
        window: 1000,
        ts: ts.then_some((RECENT, 0, Instant::from_micros(0))),
        handle: None,
    };
    assert!(t.insert(key(), entry));
    t
}

fn syn(seq: u32, tsval: Option<u32>) -> TcpHeader {
    TcpHeader {
        src_port: 40000,
        dst_port: 80,
        seq: SeqNum(seq),
        flags: TcpFlags::SYN,
        options: TcpOptions {
            timestamps: tsval.map(|val| Timestamps { val, ecr: 0 }),
            ..TcpOptions::default()
        },
        ..TcpHeader::default()
    }
}

#[test]
fn rfc6191_reuse_cases() {
    let higher = RCV_NXT + 10;
    let lower = RCV_NXT - 10;
    // (name, old incarnation had timestamps, SYN seq, SYN TSval, reopens)
    let cases = [
        (
            "newer TSval, lower seq",
            true,
            lower,
            Some(RECENT + 1),
            true,
        ),
        ("equal TSval, higher seq", true, higher, Some(RECENT), true),
        ("equal TSval, lower seq", true, lower, Some(RECENT), false),
        (
            "older TSval, higher seq",
            true,
            higher,
            Some(RECENT - 1),
            false,
        ),
        ("no TS on the SYN, higher seq", true, higher, None, true),
        ("no TS on the SYN, lower seq", true, lower, None, false),
        ("no TS before, higher seq", false, higher, Some(1), true),
        ("no TS before, lower seq", false, lower, None, false),
    ];
    for (name, old_ts, seq, tsval, reopens) in cases {
        let mut t = table(old_ts);
        let d = t.on_segment(
            &key(),
            &syn(seq, tsval),
            0,
            Instant::from_micros(1_000_000),
            Duration::from_secs(60),
        );
        assert_eq!(
            matches!(d, TwDisposition::Reuse(_)),
            reopens,
            "{name}: {d:?}"
        );
        assert_eq!(
            t.len(),
            usize::from(!reopens),
            "{name}: entry kept iff refused"
        );
        if !reopens {
            assert!(
                matches!(d, TwDisposition::Ack(_)),
                "{name}: refused SYN is ACKed"
            );
        }
    }
}

/// Expiry across the two queues (IPv4 keys, other keys): entries come out in
/// expiry order, a restarted entry moves back, a removed one never comes out, and
/// the remembered front never outlives a change.
#[test]
fn expiry_order_across_families_restarts_and_removals() {
    let mut t = TimeWaitTable::new(16, KeyedHasher::new(&[7; 16]));
    let at = |ms: u64| Instant::from_micros(ms * 1000);
    let v4 = |port: u16| FourTuple {
        local: "10.0.0.1:80".parse().unwrap(),
        remote: SocketAddr::new("10.0.0.2".parse().unwrap(), port),
    };
    let v6 = |port: u16| FourTuple {
        local: "[fd00::1]:80".parse().unwrap(),
        remote: SocketAddr::new("fd00::2".parse().unwrap(), port),
    };
    let entry = |ms| TwEntry {
        snd_nxt: SeqNum(1),
        rcv_nxt: SeqNum(RCV_NXT),
        expires: at(ms),
        window: 1000,
        ts: None,
        handle: None,
    };
    assert_eq!(t.next_expiry(), None);
    assert!(t.insert(v4(1), entry(10)));
    assert!(t.insert(v6(2), entry(20)));
    assert!(t.insert(v4(3), entry(30)));
    assert!(t.insert(v6(4), entry(40)));
    assert_eq!(t.next_expiry(), Some(at(10)));
    assert_eq!(t.next_expiry(), Some(at(10)), "peeking twice");
    // A retransmitted FIN restarts v4(1) at 50 ms.
    let fin = TcpHeader {
        seq: SeqNum(RCV_NXT - 1),
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..TcpHeader::default()
    };
    let d = t.on_segment(&v4(1), &fin, 0, at(0), Duration::from_millis(50));
    assert!(matches!(d, TwDisposition::AckRestart(_)), "{d:?}");
    assert_eq!(t.next_expiry(), Some(at(20)));
    assert!(t.remove(&v6(2)).is_some());
    assert_eq!(t.next_expiry(), Some(at(30)));
    let keys: alloc::vec::Vec<_> =
        core::iter::from_fn(|| t.pop_expired(at(100)).map(|(k, e)| (k, e.expires))).collect();
    assert_eq!(keys, [(v4(3), at(30)), (v6(4), at(40)), (v4(1), at(50))]);
    assert_eq!((t.len(), t.next_expiry()), (0, None));
}

/// Re-arming (a retransmitted FIN) and ending entries leave stale records in the
/// expiry queue; the queue stays within a constant factor of the table, and
/// every live entry still expires on time.
#[test]
fn expiry_queue_stays_bounded_under_rearming_and_reuse() {
    let mut t = table(false);
    let fin = TcpHeader {
        src_port: 40000,
        dst_port: 80,
        seq: SeqNum(RCV_NXT - 1),
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..TcpHeader::default()
    };
    let two_msl = Duration::from_secs(60);
    for i in 0..10_000u64 {
        let now = Instant::from_micros(i);
        let d = t.on_segment(&key(), &fin, 0, now, two_msl);
        assert!(matches!(d, TwDisposition::AckRestart(_)), "{d:?}");
        // Other tuples come and go (reused or reset) meanwhile.
        let other = FourTuple {
            local: key().local,
            remote: SocketAddr::new(key().remote.ip(), 1 + (i % 50_000) as u16),
        };
        let e = *t.get(&key()).unwrap();
        assert!(t.insert(other, e));
        assert!(t.remove(&other).is_some());
        assert!(
            t.queued() <= 2 * t.len() + 65,
            "{} records for {}",
            t.queued(),
            t.len()
        );
    }
    // The entry re-armed last (at 9,999 µs) expires 2·MSL later, not before.
    let last = Instant::from_micros(9_999) + two_msl;
    assert_eq!(t.next_expiry(), Some(last));
    let just_before = Instant::from_micros(last.micros() - 1);
    assert_eq!(t.pop_expired(just_before), None);
    assert_eq!(t.pop_expired(last).map(|(k, _)| k), Some(key()));
    assert_eq!(t.len(), 0);
}
