//! The socket API's contract: typed errors for invalid calls, ephemeral ports,
//! the socket table, TCP_INFO, TIME-WAIT reuse, IPv6.

mod common;

use std::time::Duration;

use common::*;
use synack::{
    AcceptError, ConnectError, ListenError, RecvError, SendError, Shutdown, SocketError, Stack,
    StackConfig, State, TcpConfig,
};

const SEC: Duration = Duration::from_secs(1);

fn pair_established(
    seed: u64,
) -> (
    Pair,
    synack::SocketHandle,
    synack::SocketHandle,
    synack::SocketHandle,
) {
    let mut p = Pair::new(seed);
    let l = p.b.listen(sa(B_IP, 80), 16).unwrap();
    let c = p.a.connect(sa(B_IP, 80), None).unwrap();
    let mut s = None;
    p.run_until(5 * SEC, |p| {
        s = s.or_else(|| p.b.accept(l).ok());
        s.is_some() && p.a.state(c) == Some(State::Established)
    });
    (p, l, c, s.unwrap())
}

#[test]
fn invalid_calls_get_typed_errors() {
    let (mut p, l, c, s) = pair_established(1);
    let mut buf = [0u8; 16];
    // recv / send on a listener.
    assert_eq!(p.b.recv(l, &mut buf), Err(RecvError::InvalidHandle));
    assert_eq!(p.b.send(l, b"x"), Err(SendError::InvalidHandle));
    // accept on a connection.
    assert_eq!(p.b.accept(s), Err(AcceptError::NotListening));
    assert_eq!(p.b.accept(l), Err(AcceptError::WouldBlock));
    // listen on a used address, a foreign address, port 0, backlog 0.
    assert_eq!(p.b.listen(sa(B_IP, 80), 4), Err(ListenError::AddrInUse));
    assert_eq!(
        p.b.listen(sa("0.0.0.0".parse().unwrap(), 80), 4),
        Err(ListenError::AddrInUse),
        "wildcard overlaps"
    );
    assert_eq!(
        p.b.listen(sa(A_IP, 81), 4),
        Err(ListenError::AddrNotAvailable)
    );
    assert_eq!(
        p.b.listen(sa(B_IP, 0), 4),
        Err(ListenError::InvalidArgument)
    );
    assert_eq!(
        p.b.listen(sa(B_IP, 82), 0),
        Err(ListenError::InvalidArgument)
    );
    // connect twice on the same 4-tuple.
    let (local, remote) = p.a.addrs(c).unwrap();
    assert_eq!(
        p.a.connect(remote, Some(local)),
        Err(ConnectError::AddrInUse)
    );
    assert_eq!(
        p.a.connect(sa(B_IP, 0), None),
        Err(ConnectError::InvalidArgument)
    );
    assert_eq!(
        p.a.connect(sa(B_IP, 80), Some(sa(B_IP, 5))),
        Err(ConnectError::AddrNotAvailable),
        "not our address"
    );
    // recv with nothing queued.
    assert_eq!(p.a.recv(c, &mut buf), Err(RecvError::WouldBlock));
    // send after shutdown(Write).
    p.a.shutdown(c, Shutdown::Write).unwrap();
    assert_eq!(p.a.send(c, b"x"), Err(SendError::Closed));
    // stale handles after close.
    p.b.close(s).unwrap();
    assert_eq!(p.b.send(s, b"x"), Err(SendError::InvalidHandle));
    assert_eq!(p.b.close(s), Err(SocketError::InvalidHandle));
    assert_eq!(p.b.state(s), None);
    // shutdown on a listener.
    assert_eq!(
        p.b.shutdown(l, Shutdown::Both),
        Err(SocketError::InvalidState)
    );
    // Send on a connection still in SYN-SENT is queued, not refused.
    let c2 = p.a.connect(sa(B_IP, 80), None).unwrap();
    assert_eq!(p.a.send(c2, b"early"), Ok(5));
}

#[test]
fn send_buffer_fills_then_would_block() {
    let (mut p, _l, c, _s) = pair_established(2);
    let cap = p.a.send_capacity(c);
    let big = vec![7u8; cap + 1000];
    assert_eq!(p.a.send(c, &big), Ok(cap));
    assert_eq!(p.a.send(c, b"more"), Err(SendError::WouldBlock));
    assert_eq!(p.a.send_queue(c), cap);
}

#[test]
fn ephemeral_ports_come_from_the_range_and_run_out_with_a_clear_error() {
    let mut cfg = TcpConfig::default();
    cfg.set_ephemeral_ports(50000..=50003).unwrap();
    let mut st = Stack::new(
        StackConfig {
            tcp: cfg,
            ..StackConfig::from_seed(3)
        },
        &[A_IP],
    )
    .unwrap();
    let mut ports = Vec::new();
    for _ in 0..4 {
        let h = st.connect(sa(B_IP, 80), None).unwrap();
        ports.push(st.addrs(h).unwrap().0.port());
    }
    ports.sort_unstable();
    assert_eq!(ports, [50000, 50001, 50002, 50003]);
    assert_eq!(
        st.connect(sa(B_IP, 80), None),
        Err(ConnectError::NoFreePorts)
    );
    // A different destination may reuse the same ports (distinct 4-tuples).
    assert!(st.connect(sa(B_IP, 81), None).is_ok());
}

#[test]
fn socket_table_and_info_describe_each_connection() {
    let (mut p, _l, c, s) = pair_established(4);
    p.a.send(c, &[1u8; 5000]).unwrap();
    p.settle(SEC);
    let rows = p.b.sockets();
    assert_eq!(rows.len(), 2);
    let listen = rows.iter().find(|r| r.state == State::Listen).unwrap();
    assert_eq!((listen.local, listen.remote), (sa(B_IP, 80), None));
    let conn = rows.iter().find(|r| r.state == State::Established).unwrap();
    assert_eq!(conn.recv_queue, 5000);
    assert_eq!(conn.handle, Some(s));
    let info = p.a.info(c).unwrap();
    assert_eq!(info.bytes_acked, 5000);
    assert!(
        info.srtt.is_some_and(|r| r >= Duration::from_millis(9)),
        "srtt {:?} ≈ 10 ms RTT",
        info.srtt
    );
    assert_eq!(info.mss, 1460 - 12, "MSS less the timestamp option");
    assert_eq!(info.unacked, 0);
}

#[test]
fn time_wait_tuple_is_reused_by_a_new_connect_when_timestamps_allow() {
    let (mut p, l, c, s) = pair_established(5);
    let (local, remote) = p.a.addrs(c).unwrap();
    p.a.close(c).unwrap();
    p.run_until(5 * SEC, |p| p.b.state(s) == Some(State::CloseWait));
    p.b.close(s).unwrap();
    p.run_until(5 * SEC, |p| p.a.time_wait_count() == 1);
    // Too soon (< 1 s since the last timestamp): the tuple is still blocked.
    assert_eq!(
        p.a.connect(remote, Some(local)),
        Err(ConnectError::AddrInUse)
    );
    p.settle(2 * SEC);
    let c2 = p.a.connect(remote, Some(local)).unwrap();
    assert_eq!(p.a.time_wait_count(), 0);
    let mut s2 = None;
    p.run_until(5 * SEC, |p| {
        s2 = s2.or_else(|| p.b.accept(l).ok());
        s2.is_some() && p.a.state(c2) == Some(State::Established)
    });
    assert_eq!(p.a.counters().time_wait_reused, 1);
}

#[test]
fn ipv6_connection_lifecycle() {
    let mut p = Pair::new(6);
    let l = p.b.listen(sa(B6_IP, 443), 4).unwrap();
    let c = p.a.connect(sa(B6_IP, 443), None).unwrap();
    let mut s = None;
    p.run_until(5 * SEC, |p| {
        s = s.or_else(|| p.b.accept(l).ok());
        s.is_some()
    });
    let s = s.unwrap();
    assert_eq!(p.a.addrs(c).unwrap().0.ip(), A6_IP);
    assert_eq!(
        p.a.info(c).unwrap().mss,
        1440 - 12,
        "IPv6 MSS is 20 bytes less"
    );
    let data = pattern(50_000, 6);
    p.send_all(Side::A, c, &data, 10 * SEC);
    p.a.close(c).unwrap();
    let mut got = Vec::new();
    p.run_until(10 * SEC, |p| p.read_available(Side::B, s, &mut got));
    assert_eq!(got, data);
    p.settle(Duration::from_millis(100));
    p.b.close(s).unwrap();
    p.settle(Duration::from_secs(70));
    assert_eq!(
        p.conn_states(Side::A),
        [
            State::Closed,
            State::SynSent,
            State::Established,
            State::FinWait1,
            State::FinWait2,
            State::TimeWait,
            State::Closed
        ]
    );
}

#[test]
fn unread_data_at_close_resets_like_linux() {
    let (mut p, _l, c, s) = pair_established(7);
    p.a.send(c, b"unread").unwrap();
    p.settle(SEC);
    p.b.close(s).unwrap();
    p.settle(SEC);
    assert_eq!(
        p.a.error(c),
        Some(synack::ConnectionError::Reset),
        "RFC 2525 §2.17: RST when closing with unread data"
    );
}

#[test]
fn closing_a_listener_resets_its_pending_connections() {
    let mut p = Pair::new(8);
    let l = p.b.listen(sa(B_IP, 80), 4).unwrap();
    let c = p.a.connect(sa(B_IP, 80), None).unwrap();
    p.settle(SEC);
    assert_eq!(p.a.state(c), Some(State::Established));
    p.b.close(l).unwrap();
    p.settle(SEC);
    assert_eq!(p.a.error(c), Some(synack::ConnectionError::Reset));
    assert!(p.b.sockets().is_empty());
}

#[test]
fn malformed_packets_are_counted_by_reason_not_panicked_on() {
    let mut st = Stack::new(StackConfig::from_seed(9), &[B_IP]).unwrap();
    let now = synack::Instant::ZERO;
    st.handle_packet(now, &[]);
    st.handle_packet(now, &[0x45, 0, 0]);
    st.handle_packet(now, &[0x75; 40]);
    let c = st.counters();
    assert_eq!(c.parse_drop(synack::wire::ParseError::Truncated), 2);
    assert_eq!(c.parse_drop(synack::wire::ParseError::BadIpVersion), 1);
    assert_eq!(c.packets_in, 3);
}

#[test]
fn control_segments_beyond_the_queue_bound_are_counted_not_kept() {
    // A caller that feeds packets without draining `poll_transmit`: the RST replies
    // to closed ports queue up to a bound, and the excess is counted as dropped.
    let mut st = Stack::new(StackConfig::from_seed(9), &[B_IP]).unwrap();
    let now = synack::Instant::ZERO;
    let mut pkt = [0u8; 128];
    let sent = 5_000u64;
    for i in 0..sent {
        let hdr = synack::wire::TcpHeader {
            src_port: 1024 + u16::try_from(i).unwrap(),
            dst_port: 9,
            seq: synack::SeqNum(u32::try_from(i).unwrap()),
            flags: synack::wire::TcpFlags::SYN,
            window: 1000,
            ..Default::default()
        };
        let n = synack::wire::emit(A_IP, B_IP, 64, &hdr, b"", &mut pkt).unwrap();
        st.handle_packet(now, &pkt[..n]);
    }
    let mut out = [0u8; 1600];
    let mut queued = 0u64;
    while st.poll_transmit(now, &mut out).is_some() {
        queued += 1;
    }
    let c = st.counters();
    assert_eq!(c.drop_no_socket, sent);
    assert!(queued > 0 && queued < sent, "queued {queued}");
    assert_eq!(queued + c.drop_ctrl_queue_full, sent);
}

/// `recv_with` hands out the ring's bytes in place: partial consumption leaves
/// the rest, a wrapped ring comes in two calls, end of stream is an empty slice,
/// and the errors are `recv`'s (with the closure not called).
#[test]
fn recv_with_reads_in_place_in_order_and_reports_end_of_stream() {
    let (mut p, l, c, s) = pair_established(11);
    let mut called = false;
    assert_eq!(
        p.b.recv_with(s, |_| {
            called = true;
            (0, ())
        }),
        Err(RecvError::WouldBlock)
    );
    assert_eq!(p.b.recv_with(l, |_| (0, ())), Err(RecvError::InvalidHandle));
    assert!(!called, "the closure runs only when there is data or EOF");

    // Many times the receive buffer, read in odd-sized pieces so that the
    // ring's head moves around it and its contents wrap.
    p.b.set_recv_buffer(s, 6000).unwrap();
    let data = pattern(300_000 + 777, 11);
    let mut got = Vec::new();
    let mut off = 0;
    let mut piece = 1usize;
    let mut wrapped = false;
    for _ in 0..100_000 {
        if got.len() == data.len() {
            break;
        }
        if off < data.len() {
            if let Ok(n) = p.a.send(c, &data[off..]) {
                off += n;
            }
        }
        p.pump();
        // A few pieces per round: the ring stays partly full and its head moves
        // around it instead of starting over at an empty ring.
        for _ in 0..2 {
            let queued = p.b.recv_queue(s);
            let r = p.b.recv_with(s, |d| {
                assert!(
                    !d.is_empty() && d.len() <= queued,
                    "{} of {queued}",
                    d.len()
                );
                wrapped |= d.len() < queued;
                let n = piece.min(d.len());
                // Ask for more than there is: clamped.
                (n + usize::from(n == d.len()) * 1000, d[..n].to_vec())
            });
            match r {
                Ok(bytes) => got.extend_from_slice(&bytes),
                Err(RecvError::WouldBlock) => break,
                Err(e) => panic!("recv_with: {e}"),
            }
            piece = piece % 1999 + 397;
        }
        p.step();
    }
    assert!(got == data, "bytes differ from what was sent");
    assert!(wrapped, "the ring never wrapped: the test lost its point");

    // Consuming nothing leaves everything.
    p.a.send(c, b"xyz").unwrap();
    p.a.shutdown(c, Shutdown::Write).unwrap();
    p.settle(5 * SEC);
    assert_eq!(p.b.recv_with(s, |d| (0, d.to_vec())), Ok(b"xyz".to_vec()));
    assert_eq!(p.b.recv_with(s, |d| (d.len(), d.len())), Ok(3));
    // End of stream: an empty slice, every time it is asked.
    for _ in 0..2 {
        assert_eq!(p.b.recv_with(s, |d| (0, d.is_empty())), Ok(true));
    }
}

/// Events are bounded by `max_events`: an application that never drains them
/// gets the oldest ones and a count of the rest, not unbounded memory.
#[test]
fn undrained_events_stop_at_max_events_and_the_rest_are_counted() {
    fn run(max_events: usize) -> (Vec<synack::Event>, u64) {
        let mut cb = StackConfig::from_seed(7);
        cb.tcp.max_events = max_events;
        let mut b = Stack::new(cb, &[B_IP]).unwrap();
        let mut a = Stack::new(StackConfig::from_seed(8), &[A_IP]).unwrap();
        let l = b.listen(sa(B_IP, 80), 8).unwrap();
        let mut clients = Vec::new();
        let mut now = synack::Instant::ZERO;
        let mut buf = vec![0u8; 2048];
        for round in 0..40 {
            if round < 5 {
                clients.push(a.connect(sa(B_IP, 80), None).unwrap());
            }
            if round == 20 {
                for &c in &clients {
                    a.close(c).unwrap();
                }
            }
            while let Ok(s) = b.accept(l) {
                b.close(s).unwrap();
            }
            now += Duration::from_millis(1);
            while let Some(n) = a.poll_transmit(now, &mut buf) {
                b.handle_packet(now, &buf[..n]);
            }
            while let Some(n) = b.poll_transmit(now, &mut buf) {
                a.handle_packet(now, &buf[..n]);
            }
        }
        (
            std::iter::from_fn(|| b.poll_event()).collect(),
            b.counters().events_dropped,
        )
    }
    let (all, dropped) = run(usize::MAX);
    assert_eq!(dropped, 0);
    assert!(all.len() > 20, "only {} events", all.len());
    for cap in [0, 1, 7] {
        let (kept, dropped) = run(cap);
        assert_eq!(
            kept[..],
            all[..cap],
            "max_events {cap}: the oldest are kept"
        );
        assert_eq!(dropped as usize, all.len() - cap, "max_events {cap}");
    }
}

/// `poll_ready` lists each connection something happened to, once, until polled
/// again: arriving data, an ACK that freed send space, the application's own calls;
/// idle connections and closed (orphaned) ones are not listed.
#[test]
fn poll_ready_lists_each_touched_connection_once() {
    let (mut p, _l, c, s) = pair_established(12);
    let ready = |st: &mut Stack| {
        let mut v: Vec<_> = std::iter::from_fn(|| st.poll_ready()).collect();
        v.sort_by_key(|h| format!("{h:?}"));
        v
    };
    // Everything so far (the handshake) is reported, then nothing.
    ready(&mut p.a);
    ready(&mut p.b);
    p.settle(SEC);
    ready(&mut p.a);
    ready(&mut p.b);
    p.settle(SEC);
    assert_eq!(ready(&mut p.a), vec![], "idle");
    assert_eq!(ready(&mut p.b), vec![], "idle");

    // A second, idle connection must stay unlisted while the first one talks.
    let c2 = p.a.connect(sa(B_IP, 80), None).unwrap();
    p.settle(SEC);
    ready(&mut p.a);
    ready(&mut p.b);

    p.a.send(c, &[1u8; 3000]).unwrap();
    assert_eq!(ready(&mut p.a), vec![c], "the application's send");
    p.pump();
    p.settle(SEC);
    assert_eq!(ready(&mut p.b), vec![s], "data arrived");
    assert_eq!(ready(&mut p.a), vec![c], "its ACK freed send space");
    assert_eq!(ready(&mut p.a), vec![], "listed once until polled again");
    let mut buf = [0u8; 4096];
    assert_eq!(p.b.recv(s, &mut buf), Ok(3000));
    p.settle(SEC);
    ready(&mut p.a);
    ready(&mut p.b);

    // Closed by the application: no longer listed, though it goes on closing.
    p.a.close(c).unwrap();
    p.settle(SEC);
    assert!(!ready(&mut p.a).contains(&c));
    assert!(ready(&mut p.b).contains(&s), "the FIN arrived");
    assert_eq!(p.a.state(c2), Some(State::Established));
}
