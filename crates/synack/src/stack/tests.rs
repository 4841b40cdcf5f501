//! Unit tests of the stack that need its private parts (the TCB behind a handle).

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{Socket, SocketHandle, Stack};
use crate::config::StackConfig;
use crate::tcp::conn::Tcb;
use crate::tcp::state::State;
use crate::time::Instant;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// Moves packets both ways until neither stack has anything to send.
fn shuttle(a: &mut Stack, b: &mut Stack, now: Instant) {
    let mut buf = [0u8; 1500];
    for _ in 0..1000 {
        let mut moved = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            b.handle_packet(now, &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
            moved = true;
        }
        if !moved {
            return;
        }
    }
    panic!("the stacks never went quiet");
}

fn tcb_mut(s: &mut Stack, h: SocketHandle) -> &mut Tcb {
    match s.slots[h.index as usize].sock.as_mut() {
        Some(Socket::Conn(t)) => t,
        _ => panic!("{h} is not a connection"),
    }
}

/// Two established connection ends: (client stack, server stack, client, server).
fn established() -> (Stack, Stack, SocketHandle, SocketHandle) {
    let mut a = Stack::new(StackConfig::from_seed(1), &[A]).unwrap();
    let mut b = Stack::new(StackConfig::from_seed(2), &[B]).unwrap();
    let l = b.listen(SocketAddr::new(B, 80), 4).unwrap();
    let c = a.connect(SocketAddr::new(B, 80), None).unwrap();
    shuttle(&mut a, &mut b, Instant::ZERO);
    let s = b.accept(l).unwrap();
    assert_eq!(a.state(c), Some(State::Established));
    assert_eq!(b.state(s), Some(State::Established));
    (a, b, c, s)
}

/// `syn_acked()` was `snd_una > iss` in wrapping sequence space, false once 2^31
/// bytes had been acknowledged: the sender then stopped sending data (a bulk run
/// stalled after 2 GiB). A TCB whose SND.UNA lies 2^31 + 1,000 bytes past its ISS,
/// as after 2 GiB acknowledged, must still send.
#[test]
fn sends_after_two_gib_acknowledged() {
    let (mut a, mut b, c, s) = established();
    for (stack, h) in [(&mut a, c), (&mut b, s)] {
        let t = tcb_mut(stack, h);
        t.iss = t.snd_una + 0u32.wrapping_sub((1u32 << 31) + 1000);
        assert!(!t.snd_una.gt(t.iss), "the wrapped comparison is false here");
        assert!(t.syn_acked());
    }
    let now = Instant::ZERO;
    assert_eq!(a.send(c, b"after the wrap"), Ok(14));
    assert_eq!(b.send(s, b"and back"), Ok(8));
    shuttle(&mut a, &mut b, now);
    let mut buf = [0u8; 64];
    assert_eq!(b.recv(s, &mut buf), Ok(14));
    assert_eq!(&buf[..14], b"after the wrap");
    assert_eq!(a.recv(c, &mut buf), Ok(8));
    assert_eq!(&buf[..8], b"and back");
    assert_eq!(a.send_queue(c), 0, "everything sent was acknowledged");
    assert_eq!(b.send_queue(s), 0);
}

/// Freed connections park their TCB in the stack's pool with at most
/// `POOLED_RING_KEEP` bytes per ring, and a renewed TCB is exactly what `Tcb::new`
/// makes (compared through `Debug`, which shows every field). The RACK state
/// is parked beside it, and the next connection's first segment takes it.
#[test]
fn freed_tcbs_are_pooled_small_and_renewed_fresh() {
    use crate::tcp::conn::POOLED_RING_KEEP;
    let (mut a, mut b, c, s) = established();
    let mut now = Instant::ZERO;
    let data = [7u8; 3000];
    let mut buf = [0u8; 4096];
    for _ in 0..10 {
        assert_eq!(a.send(c, &data), Ok(3000));
        assert_eq!(b.send(s, &data), Ok(3000));
        let (mut got_a, mut got_b) = (0, 0);
        for _ in 0..100 {
            if got_a == 3000 && got_b == 3000 {
                break;
            }
            now += core::time::Duration::from_millis(50);
            a.handle_timeout(now);
            b.handle_timeout(now);
            shuttle(&mut a, &mut b, now);
            got_a += a.recv(c, &mut buf).unwrap_or(0);
            got_b += b.recv(s, &mut buf).unwrap_or(0);
        }
        assert_eq!((got_a, got_b), (3000, 3000));
    }
    assert!(a.pool.is_empty() && b.pool.is_empty());
    // The server closes first (its end ends in TIME-WAIT, a compact record), then
    // the client: both TCBs are freed.
    b.close(s).unwrap();
    shuttle(&mut a, &mut b, now);
    assert_eq!(a.recv(c, &mut buf), Ok(0));
    a.close(c).unwrap();
    shuttle(&mut a, &mut b, now);
    assert_eq!((a.pool.len(), b.pool.len()), (1, 1));
    assert_eq!((a.pool.racks.len(), b.pool.racks.len()), (1, 1));
    for t in a.pool.iter().chain(b.pool.iter()) {
        assert_eq!(t.rack.idle_bytes(), 0, "no RACK state in a parked TCB");
        assert!(
            t.parked_bytes() <= 2 * POOLED_RING_KEEP,
            "{}",
            t.parked_bytes()
        );
    }
    // Renewed from the pool, a TCB is indistinguishable from a new one.
    let cfg = a.config.tcp.clone();
    let (local, remote) = (SocketAddr::new(A, 5000), SocketAddr::new(B, 80));
    let h = SocketHandle {
        index: 9,
        generation: 3,
    };
    let mut t = a.pool.pop().unwrap();
    // Fields this exchange leaves at their defaults, set as a connection with
    // a harder life would have left them: renewal resets them too.
    t.state = State::TimeWait;
    t.parent = Some(h);
    t.orphan = true;
    t.dsack = Some((crate::SeqNum(1), crate::SeqNum(2)));
    t.recover = Some(crate::SeqNum(3));
    t.tlp_end = Some(crate::SeqNum(4));
    t.user_timeout = crate::tcp::conn::OptU64::some(9_000_000);
    t.keepalive_probes = 3;
    t.retries = 5;
    t.quickack = 0;
    t.linger_zero = true;
    t.mem_over = true;
    t.error = Some(crate::ConnectionError::Reset);
    t.soft_error = Some(crate::ConnectionError::TimedOut);
    t.renew(h, local, remote, crate::SeqNum(77), 123, &cfg);
    let fresh = Tcb::new(h, local, remote, crate::SeqNum(77), 123, &cfg);
    assert_eq!(alloc::format!("{t:?}"), alloc::format!("{fresh:?}"));
    // A new connection takes the pooled TCB and works.
    let l = b.listen(SocketAddr::new(B, 81), 4).unwrap();
    let c2 = a.connect(SocketAddr::new(B, 81), None).unwrap();
    shuttle(&mut a, &mut b, now);
    let s2 = b.accept(l).unwrap();
    assert!(b.pool.is_empty(), "the server's TCB came from the pool");
    assert_eq!(a.pool.racks.len(), 1, "no RACK state before data is sent");
    assert_eq!(a.send(c2, b"again"), Ok(5));
    shuttle(&mut a, &mut b, now);
    assert_eq!(b.recv(s2, &mut buf), Ok(5));
    assert_eq!(a.pool.racks.len(), 0, "the first segment took the spare");
}

/// `n` connections from A to B established at t = 1 s: the client and server
/// handles, in order.
fn many_established(
    n: usize,
) -> (
    Stack,
    Stack,
    alloc::vec::Vec<SocketHandle>,
    alloc::vec::Vec<SocketHandle>,
) {
    let mut a = Stack::new(StackConfig::from_seed(1), &[A]).unwrap();
    let mut b = Stack::new(StackConfig::from_seed(2), &[B]).unwrap();
    let l = b.listen(SocketAddr::new(B, 80), n).unwrap();
    let clients: alloc::vec::Vec<_> = (0..n)
        .map(|_| a.connect(SocketAddr::new(B, 80), None).unwrap())
        .collect();
    shuttle(&mut a, &mut b, Instant::from_secs(1));
    let servers = (0..n).map(|_| b.accept(l).unwrap()).collect();
    (a, b, clients, servers)
}

/// Lets `st` sleep from timer to timer with nothing else happening, checking
/// that each wake-up is within two pool epochs (the pool's own deadline).
fn run_quiet_epochs(st: &mut Stack, mut now: Instant) {
    use super::pool::EPOCH;
    for _ in 0..10 {
        let Some(t) = st.poll_timeout() else { break };
        assert!(t <= now + EPOCH * 2, "the pool's own deadline");
        now = t;
        st.handle_timeout(now);
    }
}

/// The pool follows the load: after 1,000 connections close at once it holds
/// them for the next burst, and once the load has been gone for two epochs it
/// is back to the base, with no timer left asking for it.
#[test]
fn the_pool_shrinks_back_when_the_load_is_gone() {
    use super::pool::POOL_BASE;
    const N: usize = 1000;
    let (mut a, mut b, clients, servers) = many_established(N);
    let now = Instant::from_secs(1);
    // Client first: the server's ends pass through LAST-ACK and are freed.
    for (&c, &s) in clients.iter().zip(&servers) {
        a.close(c).unwrap();
        shuttle(&mut a, &mut b, now);
        b.close(s).unwrap();
        shuttle(&mut a, &mut b, now);
    }
    assert_eq!(
        b.pool.len(),
        N,
        "every server TCB parked for the next burst"
    );
    // Quiet: the stack asks to be woken to shrink the pool, and does.
    run_quiet_epochs(&mut b, now);
    assert_eq!(b.pool.len(), POOL_BASE);
    assert!(b.pool.racks.len() <= POOL_BASE);
    assert_eq!(b.poll_timeout(), None, "nothing left to wake up for");
}

/// The RACK states parked beside the TCBs follow the same bound: after 1,000
/// connections that all had data in flight at once are freed, the spares hold
/// them all (the pool's cap follows the peak), and two quiet epochs later only
/// the base.
#[test]
fn parked_rack_states_follow_the_pool_bound() {
    use super::pool::POOL_BASE;
    const N: usize = 1000;
    let (mut a, mut b, clients, servers) = many_established(N);
    let now = Instant::from_secs(1);
    // Every server end sends at once, then all close: N RACK states in use.
    for &s in &servers {
        assert_eq!(b.send(s, b"x"), Ok(1));
        b.close(s).unwrap();
    }
    shuttle(&mut a, &mut b, now);
    for &c in &clients {
        a.close(c).unwrap();
    }
    shuttle(&mut a, &mut b, now);
    assert_eq!(b.pool.len(), N);
    assert_eq!(b.pool.racks.len(), N, "every RACK state parked");
    run_quiet_epochs(&mut b, now);
    assert_eq!((b.pool.len(), b.pool.racks.len()), (POOL_BASE, POOL_BASE));
    assert_eq!(b.poll_timeout(), None, "nothing left to wake up for");
}

/// Issue 7: buffers grow on demand and shrink when idle. After a transfer each
/// way, the rings hold what the transfer needed; two quiet seconds later the
/// connection gives them back (a timer of its own), and the next transfer
/// grows them again and arrives intact.
#[test]
fn an_idle_connection_gives_its_buffers_back() {
    use crate::tcp::conn::IDLE_TRIM_AFTER;
    let (mut a, mut b, c, s) = established();
    let mut now = Instant::from_secs(1);
    let data: alloc::vec::Vec<u8> = (0..60_000u32).map(|i| (i % 253) as u8).collect();
    let mut buf = alloc::vec![0u8; 65536];
    let held = |st: &mut Stack, h| {
        let t = tcb_mut(st, h);
        t.recv_buf.capacity() + t.send_buf.allocated() + t.rack.idle_bytes()
    };
    for round in 0..2 {
        let (mut sent, mut got) = (0, alloc::vec::Vec::new());
        for _ in 0..200 {
            if sent < data.len() {
                sent += a.send(c, &data[sent..]).unwrap_or(0);
            }
            shuttle(&mut a, &mut b, now);
            while let Ok(n @ 1..) = b.recv(s, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            if got.len() == data.len() {
                break;
            }
            now += core::time::Duration::from_millis(10);
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
        assert!(
            got == data,
            "round {round}: {} of {} bytes",
            got.len(),
            data.len()
        );
        shuttle(&mut a, &mut b, now);
        assert!(
            held(&mut a, c) > 0 && held(&mut b, s) > 0,
            "round {round}: rings in use"
        );
        // Quiet: each end asks to be woken and gives its memory back.
        let quiet_until = now + IDLE_TRIM_AFTER + core::time::Duration::from_millis(1);
        for st in [&mut a, &mut b] {
            for _ in 0..100 {
                let Some(t) = st.poll_timeout().filter(|&t| t <= quiet_until) else {
                    break;
                };
                now = now.max(t);
                st.handle_timeout(t);
            }
        }
        assert_eq!(
            (held(&mut a, c), held(&mut b, s)),
            (0, 0),
            "round {round}: trimmed"
        );
        assert_eq!(a.state(c), Some(State::Established));
        now = quiet_until;
    }
}

/// Every packet `from` has to send, in order.
fn drain(from: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Some(n) = from.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// Fills `s`'s connection table past `PREFETCH_DEEP_MIN` with entries for
/// tuples no packet here uses (TEST-NET-2 peers), pointing at no slot, so that
/// the prefetch hints run all their stages.
fn pad_conns(s: &mut Stack) {
    for i in 0..=super::PREFETCH_DEEP_MIN {
        let port = u16::try_from(i % 50_000).unwrap() + 1024;
        let peer = Ipv4Addr::new(198, 51, 100, u8::try_from(i / 50_000).unwrap());
        let key = super::FourTuple {
            local: SocketAddr::new(A, 9),
            remote: SocketAddr::new(IpAddr::V4(peer), port),
        };
        s.conns.insert(key, u32::MAX - 1);
    }
}

/// `Stack::prefetch` is a hint: twenty connections opened, used and closed
/// with every packet hinted `PREFETCH_AHEAD` packets ahead (and junk hints
/// between: empty, cut, IPv6, not TCP) put exactly the same packets on the
/// wire, and end with the same counters, as without hints; with tables large
/// enough for every stage of the hints, and without.
#[test]
fn prefetch_hints_change_nothing() {
    for padded in [false, true] {
        prefetch_hints_change_nothing_with(padded);
    }
}

fn prefetch_hints_change_nothing_with(padded: bool) {
    use super::PREFETCH_AHEAD;
    let run = |hint: bool| {
        let mut a = Stack::new(StackConfig::from_seed(1), &[A]).unwrap();
        let mut b = Stack::new(StackConfig::from_seed(2), &[B]).unwrap();
        if padded {
            pad_conns(&mut a);
            pad_conns(&mut b);
        }
        let l = b.listen(SocketAddr::new(B, 80), 32).unwrap();
        let clients: Vec<_> = (0..20)
            .map(|_| a.connect(SocketAddr::new(B, 80), None).unwrap())
            .collect();
        let mut wire = Vec::new();
        let mut servers = Vec::new();
        let mut v6 = [0u8; 60];
        v6[0] = 0x60;
        let junk: [&[u8]; 4] = [&[], &[0x45, 0, 0], &v6, &[0x45; 40]];
        for round in 0..12u64 {
            let now = Instant::from_micros(round * 1000);
            for dir in 0..2 {
                let (from, to) = if dir == 0 {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                let batch = drain(from, now);
                if hint {
                    batch
                        .iter()
                        .take(PREFETCH_AHEAD)
                        .for_each(|p| to.prefetch(p));
                }
                for (i, p) in batch.iter().enumerate() {
                    if hint {
                        if let Some(q) = batch.get(i + PREFETCH_AHEAD) {
                            to.prefetch(q);
                        }
                        to.prefetch(junk[i % junk.len()]);
                    }
                    to.handle_packet(now, p);
                }
                wire.extend(batch);
            }
            while let Ok(s) = b.accept(l) {
                servers.push(s);
            }
            let mut buf = [0u8; 16];
            for &s in &servers {
                if b.recv(s, &mut buf) == Ok(4) {
                    b.send(s, b"pong").unwrap();
                    b.close(s).unwrap();
                }
            }
            for &c in &clients {
                match round {
                    2 => assert_eq!(a.send(c, b"ping"), Ok(4)),
                    8 => a.close(c).unwrap(),
                    _ => {}
                }
            }
        }
        let states: Vec<_> = clients.iter().map(|&c| a.state(c)).collect();
        (wire, a.counters().clone(), b.counters().clone(), states)
    };
    let plain = run(false);
    let hinted = run(true);
    assert!(plain.0.len() > 100, "{} packets", plain.0.len());
    assert!(plain.3.iter().all(|s| s.is_none()), "{:?}", plain.3);
    assert_eq!(plain, hinted);
}

/// The hint pipeline finds a hinted packet's connection: `HINT_STAGE` calls
/// after a data segment is hinted, its entry holds the connection's slot.
#[test]
fn prefetch_finds_the_connection_of_a_hinted_packet() {
    use super::{hint_key, HINT_STAGE};
    let (mut a, mut b, c, s) = established();
    pad_conns(&mut b);
    assert_eq!(a.send(c, b"x"), Ok(1));
    let pkt = drain(&mut a, Instant::ZERO).pop().unwrap();
    let key = hint_key(&pkt).unwrap();
    assert_eq!(b.conns.peek_v4(key), Some(s.index));
    b.prefetch(&pkt);
    for _ in 0..HINT_STAGE {
        b.prefetch(&[]);
    }
    assert!(
        b.hints.ring.contains(&Some((key, Some(s.index)))),
        "{:?}",
        b.hints.ring
    );
    // The packet itself is unaffected.
    b.handle_packet(Instant::ZERO, &pkt);
    let mut buf = [0u8; 4];
    assert_eq!(b.recv(s, &mut buf), Ok(1));
}
