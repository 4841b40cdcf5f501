//! The scenarios of the classic descriptions, each driven through two stacks on an
//! in-memory pipe, asserting the exact RFC 9293 state sequence of each end.

mod common;

use std::time::Duration;

use common::*;
use synack::wire::TcpFlags;
use synack::{ConnectionError, Shutdown, State::*, TcpConfig};

const SEC: Duration = Duration::from_secs(1);

/// Connects A to a listener on B port 80; returns (client, server) handles once both are ESTABLISHED.
fn established(p: &mut Pair) -> (synack::SocketHandle, synack::SocketHandle) {
    let l = p.b.listen(sa(B_IP, 80), 16).unwrap();
    let c = p.a.connect(sa(B_IP, 80), None).unwrap();
    let mut s = None;
    p.run_until(5 * SEC, |p| {
        s = s.or_else(|| p.b.accept(l).ok());
        s.is_some() && p.a.state(c) == Some(Established)
    });
    let s = s.unwrap();
    assert_eq!(p.b.state(s), Some(Established));
    (c, s)
}

#[test]
fn three_way_handshake() {
    let mut p = Pair::new(1);
    let (c, _s) = established(&mut p);
    assert_eq!(p.conn_states(Side::A), [Closed, SynSent, Established]);
    assert_eq!(p.conn_states(Side::B), [Listen, SynReceived, Established]);
    // SYN, SYN-ACK, ACK: exactly three segments, no data on the first two.
    let flags: Vec<_> = p
        .trace
        .iter()
        .map(|s| (s.from, s.hdr.flags, s.len))
        .collect();
    assert_eq!(flags[0], (Side::A, TcpFlags::SYN, 0));
    assert_eq!(flags[1], (Side::B, TcpFlags::SYN | TcpFlags::ACK, 0));
    assert_eq!(flags[2], (Side::A, TcpFlags::ACK, 0));
    assert_eq!(p.trace.len(), 3);
    let info = p.a.info(c).unwrap();
    assert!(
        info.timestamps && info.sack && info.rcv_wscale > 0,
        "options negotiated: {info:?}"
    );
}

#[test]
fn data_rides_on_the_third_segment() {
    let mut p = Pair::new(2);
    let l = p.b.listen(sa(B_IP, 80), 16).unwrap();
    let c = p.a.connect(sa(B_IP, 80), None).unwrap();
    p.a.send(c, b"hello").unwrap();
    p.run_until(5 * SEC, |p| p.b.recv_queue_total() == 5);
    assert_eq!(p.trace[0].len, 0, "no data on SYN");
    assert_eq!(p.trace[1].len, 0, "no data on SYN-ACK");
    assert_eq!(p.trace[2].len, 5, "data piggybacked on the handshake's ACK");
    assert!(p.trace[2].hdr.flags.ack());
    let s = p.b.accept(l).unwrap();
    let mut got = Vec::new();
    p.read_available(Side::B, s, &mut got);
    assert_eq!(got, b"hello");
}

trait RecvTotal {
    fn recv_queue_total(&self) -> usize;
}
impl RecvTotal for synack::Stack {
    fn recv_queue_total(&self) -> usize {
        self.sockets()
            .iter()
            .filter(|s| s.remote.is_some())
            .map(|s| s.recv_queue)
            .sum()
    }
}

#[test]
fn simultaneous_open() {
    let mut p = Pair::new(3);
    let ca = p.a.connect(sa(B_IP, 5000), Some(sa(A_IP, 4000))).unwrap();
    let cb = p.b.connect(sa(A_IP, 4000), Some(sa(B_IP, 5000))).unwrap();
    p.run_until(5 * SEC, |p| {
        p.a.state(ca) == Some(Established) && p.b.state(cb) == Some(Established)
    });
    assert_eq!(
        p.conn_states(Side::A),
        [Closed, SynSent, SynReceived, Established]
    );
    assert_eq!(
        p.conn_states(Side::B),
        [Closed, SynSent, SynReceived, Established]
    );
    // Data flows both ways afterwards.
    p.a.send(ca, b"ping").unwrap();
    p.b.send(cb, b"pong").unwrap();
    p.settle(SEC);
    let (mut ga, mut gb) = (Vec::new(), Vec::new());
    p.read_available(Side::A, ca, &mut ga);
    p.read_available(Side::B, cb, &mut gb);
    assert_eq!((ga.as_slice(), gb.as_slice()), (&b"pong"[..], &b"ping"[..]));
}

#[test]
fn active_and_passive_close() {
    let mut p = Pair::new(4);
    let (c, s) = established(&mut p);
    p.a.close(c).unwrap();
    p.run_until(5 * SEC, |p| p.b.state(s) == Some(CloseWait));
    let mut buf = [0u8; 8];
    assert_eq!(p.b.recv(s, &mut buf), Ok(0), "EOF after FIN");
    p.run_until(5 * SEC, |p| {
        p.a.sockets().first().is_some_and(|s| s.state == FinWait2)
    });
    p.b.close(s).unwrap();
    p.settle(SEC);
    let t_close = p.now;
    p.settle(Duration::from_secs(61));
    assert_eq!(p.a.time_wait_count(), 0);
    assert_eq!(
        p.conn_states(Side::A),
        [
            Closed,
            SynSent,
            Established,
            FinWait1,
            FinWait2,
            TimeWait,
            Closed
        ]
    );
    assert_eq!(
        p.conn_states(Side::B),
        [Listen, SynReceived, Established, CloseWait, LastAck, Closed]
    );
    // TIME-WAIT lasts 2·MSL = 60 s after the FIN.
    let tw_end = p
        .events_a
        .iter()
        .find_map(|e| match e {
            synack::Event::StateChanged {
                from: TimeWait, at, ..
            } => Some(*at),
            _ => None,
        })
        .unwrap();
    assert!(
        tw_end >= t_close + Duration::from_secs(59) && tw_end <= t_close + Duration::from_secs(61),
        "TIME-WAIT ended at {tw_end}"
    );
    assert!(p.a.sockets().is_empty() && p.b.sockets().iter().all(|s| s.state == Listen));
}

#[test]
fn fin_ack_in_fin_wait_1_goes_straight_to_time_wait() {
    let mut p = Pair::new(5);
    let (c, s) = established(&mut p);
    p.a.close(c).unwrap();
    // B's application closes as soon as the FIN arrives, so its ACK and FIN go together.
    p.run_until(5 * SEC, |p| {
        if p.b.state(s) == Some(CloseWait) {
            p.b.close(s).unwrap();
        }
        p.a.time_wait_count() == 1
    });
    p.settle(Duration::from_secs(61));
    assert_eq!(
        p.conn_states(Side::A),
        [Closed, SynSent, Established, FinWait1, TimeWait, Closed]
    );
    assert_eq!(
        p.conn_states(Side::B),
        [Listen, SynReceived, Established, CloseWait, LastAck, Closed]
    );
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut p = Pair::new(6);
    let (c, s) = established(&mut p);
    p.a.close(c).unwrap();
    p.b.close(s).unwrap();
    p.settle(Duration::from_secs(70));
    assert_eq!(
        p.conn_states(Side::A),
        [
            Closed,
            SynSent,
            Established,
            FinWait1,
            Closing,
            TimeWait,
            Closed
        ]
    );
    assert_eq!(
        p.conn_states(Side::B),
        [
            Listen,
            SynReceived,
            Established,
            FinWait1,
            Closing,
            TimeWait,
            Closed
        ]
    );
}

#[test]
fn close_in_syn_received_goes_to_fin_wait_1() {
    let mut p = Pair::new(7);
    let ca = p.a.connect(sa(B_IP, 5000), Some(sa(A_IP, 4000))).unwrap();
    let cb = p.b.connect(sa(A_IP, 4000), Some(sa(B_IP, 5000))).unwrap();
    p.run_until(5 * SEC, |p| p.a.state(ca) == Some(SynReceived));
    p.a.close(ca).unwrap();
    p.run_until(5 * SEC, |p| p.b.state(cb) == Some(CloseWait));
    p.b.close(cb).unwrap();
    p.settle(Duration::from_secs(70));
    let sa_ = p.conn_states(Side::A);
    assert_eq!(&sa_[..4], [Closed, SynSent, SynReceived, FinWait1]);
    assert_eq!(sa_.last(), Some(&Closed));
    assert!(sa_.contains(&TimeWait));
    let sb = p.conn_states(Side::B);
    assert_eq!(
        sb,
        [
            Closed,
            SynSent,
            SynReceived,
            Established,
            CloseWait,
            LastAck,
            Closed
        ]
    );
}

#[test]
fn half_close_keeps_data_flowing_the_other_way() {
    let mut p = Pair::new(8);
    let (c, s) = established(&mut p);
    p.a.shutdown(c, Shutdown::Write).unwrap();
    p.run_until(5 * SEC, |p| {
        p.a.state(c) == Some(FinWait2) && p.b.state(s) == Some(CloseWait)
    });
    let mut buf = [0u8; 64];
    assert_eq!(p.b.recv(s, &mut buf), Ok(0), "server sees EOF");
    assert_eq!(
        p.a.send(c, b"x"),
        Err(synack::SendError::Closed),
        "no sending after shutdown(Write)"
    );
    let reply = pattern(100_000, 8);
    p.send_all(Side::B, s, &reply, 10 * SEC);
    p.b.close(s).unwrap();
    let mut got = Vec::new();
    p.run_until(10 * SEC, |p| p.read_available(Side::A, c, &mut got));
    assert_eq!(got, reply, "client read everything, then EOF");
    assert_eq!(p.a.recv(c, &mut buf), Ok(0), "EOF repeats");
    assert_eq!(
        p.conn_states(Side::A),
        [Closed, SynSent, Established, FinWait1, FinWait2, TimeWait]
    );
}

#[test]
fn linger_zero_close_sends_rst() {
    let mut p = Pair::new(9);
    let (c, s) = established(&mut p);
    p.a.set_linger(c, Some(Duration::ZERO)).unwrap();
    p.a.close(c).unwrap();
    p.settle(SEC);
    assert!(p
        .trace
        .iter()
        .any(|t| t.from == Side::A && t.hdr.flags.rst()));
    assert_eq!(
        p.conn_states(Side::A),
        [Closed, SynSent, Established, Closed]
    );
    assert_eq!(
        p.conn_states(Side::B),
        [Listen, SynReceived, Established, Closed]
    );
    assert_eq!(p.b.error(s), Some(ConnectionError::Reset));
    assert_eq!(p.a.time_wait_count(), 0, "abort skips TIME-WAIT");
}

#[test]
fn connection_refused() {
    let mut p = Pair::new(10);
    let c = p.a.connect(sa(B_IP, 81), None).unwrap();
    p.settle(SEC);
    assert_eq!(p.conn_states(Side::A), [Closed, SynSent, Closed]);
    assert_eq!(p.a.error(c), Some(ConnectionError::Refused));
    let rst = &p.trace[1];
    assert_eq!(rst.hdr.flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!(
        rst.hdr.ack,
        p.trace[0].hdr.seq + 1u32,
        "RST acks SEG.SEQ+SEG.LEN"
    );
    assert!(p.events_a.iter().any(|e| matches!(
        e,
        synack::Event::Error {
            error: ConnectionError::Refused,
            ..
        }
    )));
}

#[test]
fn time_wait_restarted_by_retransmitted_fin() {
    let mut p = Pair::new(11);
    let (c, s) = established(&mut p);
    p.a.close(c).unwrap();
    p.run_until(5 * SEC, |p| p.b.state(s) == Some(CloseWait));
    // Let B's ACK of A's FIN go out on its own before B closes.
    p.settle(Duration::from_millis(100));
    p.b.close(s).unwrap();
    // Lose A's first ACK of B's FIN.
    let mut acks_of_fin = 0;
    p.filter = Some(Box::new(move |side, hdr, len| {
        if side == Side::A && hdr.flags == TcpFlags::ACK && len == 0 {
            acks_of_fin += 1;
            return acks_of_fin > 1;
        }
        true
    }));
    p.run_until(5 * SEC, |p| p.a.time_wait_count() == 1);
    let t_tw = p.now;
    p.run_until(10 * SEC, |p| p.a.counters().time_wait_restarted == 1);
    let t_restart = p.now;
    assert!(t_restart > t_tw);
    p.settle(Duration::from_secs(120));
    let tw_end = p
        .events_a
        .iter()
        .find_map(|e| match e {
            synack::Event::StateChanged {
                from: TimeWait, at, ..
            } => Some(*at),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        tw_end,
        t_restart + Duration::from_secs(60),
        "2·MSL counted from the retransmitted FIN"
    );
    assert_eq!(
        p.conn_states(Side::B),
        [Listen, SynReceived, Established, CloseWait, LastAck, Closed]
    );
    assert_eq!(
        p.conn_states(Side::A),
        [
            Closed,
            SynSent,
            Established,
            FinWait1,
            FinWait2,
            TimeWait,
            Closed
        ]
    );
}

#[test]
fn backlog_overflow_drops_then_recovers() {
    // The classic two queues, without SYN cookies.
    let cb = TcpConfig {
        syn_cookies: synack::SynCookies::Off,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(12, TcpConfig::default(), cb);
    let l = p.b.listen(sa(B_IP, 80), 1).unwrap();
    let clients: Vec<_> = (0..3)
        .map(|_| p.a.connect(sa(B_IP, 80), None).unwrap())
        .collect();
    p.settle(Duration::from_millis(500));
    let established_now = clients
        .iter()
        .filter(|&&c| p.a.state(c) == Some(synack::State::Established))
        .count();
    assert_eq!(established_now, 1, "only one fits the accept queue");
    let c = p.b.counters();
    assert!(
        c.drop_syn_queue_full + c.drop_accept_queue_full >= 2,
        "{c:?}"
    );
    // Accept as they come: everyone gets in, by SYN retransmission.
    let mut accepted = Vec::new();
    p.run_until(Duration::from_secs(30), |p| {
        while let Ok(h) = p.b.accept(l) {
            accepted.push(h);
        }
        accepted.len() == 3
    });
    p.settle(SEC);
    for &c in &clients {
        assert_eq!(p.a.state(c), Some(synack::State::Established));
        let (local, remote) = p.a.addrs(c).unwrap();
        assert_eq!(
            p.states(Side::A, local, remote),
            [Closed, SynSent, Established]
        );
    }
}

#[test]
fn accept_queue_overflow_with_abort_on_overflow_resets_the_final_ack() {
    // somaxconn 1 with backlog 2: two half-open slots, one accept slot.
    let cb = TcpConfig {
        abort_on_overflow: true,
        somaxconn: 1,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(13, TcpConfig::default(), cb);
    let _l = p.b.listen(sa(B_IP, 80), 2).unwrap();
    let c1 = p.a.connect(sa(B_IP, 80), None).unwrap();
    let c2 = p.a.connect(sa(B_IP, 80), None).unwrap();
    p.settle(SEC);
    assert_eq!(p.a.state(c1), Some(synack::State::Established));
    assert_eq!(
        p.a.error(c2),
        Some(ConnectionError::Reset),
        "second final ACK answered with RST"
    );
    assert_eq!(p.b.counters().drop_accept_queue_full, 1);
    let (l2, r2) = p.a.addrs(c2).unwrap();
    assert_eq!(
        p.states(Side::A, l2, r2),
        [Closed, SynSent, Established, Closed]
    );
    assert_eq!(p.states(Side::B, r2, l2), [Listen, SynReceived, Closed]);
}

#[test]
fn accept_queue_overflow_drops_the_final_ack_until_accept() {
    let cb = TcpConfig {
        somaxconn: 1,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(14, TcpConfig::default(), cb);
    let l = p.b.listen(sa(B_IP, 80), 2).unwrap();
    let _c1 = p.a.connect(sa(B_IP, 80), None).unwrap();
    let c2 = p.a.connect(sa(B_IP, 80), None).unwrap();
    p.settle(Duration::from_millis(300));
    assert!(p.b.counters().drop_accept_queue_full >= 1);
    let (l2, r2) = p.a.addrs(c2).unwrap();
    assert_eq!(
        p.states(Side::B, r2, l2),
        [Listen, SynReceived],
        "server child still half-open"
    );
    // Once the application accepts, the retransmitted SYN-ACK / ACK completes it.
    p.b.accept(l).unwrap();
    p.run_until(Duration::from_secs(10), |p| p.b.accept(l).is_ok());
    assert_eq!(
        p.states(Side::B, r2, l2),
        [Listen, SynReceived, Established]
    );
}

#[test]
fn transfer_survives_ten_percent_loss_both_ways() {
    for seed in 0..6u64 {
        let mut p = Pair::new(100 + seed);
        p.loss = 0.10;
        let l = p.b.listen(sa(B_IP, 80), 16).unwrap();
        let c = p.a.connect(sa(B_IP, 80), None).unwrap();
        p.run_until(Duration::from_secs(120), |p| {
            p.a.state(c) == Some(synack::State::Established)
        });
        let mut s = None;
        p.run_until(Duration::from_secs(120), |p| {
            s = s.or_else(|| p.b.accept(l).ok());
            s.is_some()
        });
        let s = s.unwrap();
        let up = pattern(300_000, seed);
        let down = pattern(200_000, seed + 1000);
        let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
        let (mut feed_up, mut feed_down) = (Feed::new(&up), Feed::new(&down));
        p.run_until(Duration::from_secs(1200), |p| {
            feed_up.step(&mut p.a, c);
            feed_down.step(&mut p.b, s);
            let ea = p.read_available(Side::A, c, &mut got_down);
            let eb = p.read_available(Side::B, s, &mut got_up);
            ea && eb
        });
        assert!(
            got_up == up,
            "seed={seed}: upload corrupted ({} of {} bytes)",
            got_up.len(),
            up.len()
        );
        assert!(
            got_down == down,
            "seed={seed}: download corrupted ({} of {} bytes)",
            got_down.len(),
            down.len()
        );
        assert!(p.dropped_count() > 20, "seed={seed}: the loss was real");
    }
}

#[test]
fn old_duplicate_syn_is_reset_by_the_client_and_the_real_handshake_completes() {
    // RFC 9293 §3.5, Figure 8: an old SYN reaches the server first; its SYN,ACK
    // acknowledges a sequence number the client never sent, so the client (in
    // SYN-SENT) answers RST <SEQ=SEG.ACK> and the server's half-open child goes away.
    let mut p = Pair::new(20);
    let l = p.b.listen(sa(B_IP, 80), 4).unwrap();
    let local = sa(A_IP, 45000);
    let c = p.a.connect(sa(B_IP, 80), Some(local)).unwrap();
    // The old duplicate: same 4-tuple, an unrelated sequence number, sent to B now.
    let old = synack::wire::TcpHeader {
        src_port: 45000,
        dst_port: 80,
        seq: synack::SeqNum(12345),
        flags: TcpFlags::SYN,
        window: 8192,
        ..Default::default()
    };
    let mut buf = [0u8; 128];
    let n = synack::wire::emit(A_IP, B_IP, 64, &old, &[], &mut buf).unwrap();
    p.b.handle_packet(p.now, &buf[..n]);
    let mut s = None;
    p.run_until(10 * SEC, |p| {
        s = s.or_else(|| p.b.accept(l).ok());
        s.is_some() && p.a.state(c) == Some(Established)
    });
    let rst = p
        .trace
        .iter()
        .find(|t| t.from == Side::A && t.hdr.flags.rst())
        .expect("client sent RST");
    let bogus = p.trace.iter().find(|t| t.from == Side::B).unwrap();
    assert_eq!(
        bogus.hdr.ack,
        synack::SeqNum(12346),
        "SYN,ACK for the old SYN"
    );
    assert_eq!(
        (rst.hdr.seq, rst.hdr.flags),
        (bogus.hdr.ack, TcpFlags::RST),
        "RST <SEQ=SEG.ACK><CTL=RST>"
    );
    assert_eq!(p.conn_states(Side::A), [Closed, SynSent, Established]);
    assert_eq!(
        p.states(Side::B, sa(B_IP, 80), local),
        [Listen, SynReceived, Closed, SynReceived, Established]
    );
}

#[test]
fn whole_lifecycle_survives_ten_percent_loss() {
    for seed in 0..20u64 {
        let mut p = Pair::new(300 + seed);
        p.loss = 0.10;
        let l = p.b.listen(sa(B_IP, 80), 4).unwrap();
        let c = p.a.connect(sa(B_IP, 80), None).unwrap();
        let mut s = None;
        p.run_until(Duration::from_secs(300), |p| {
            s = s.or_else(|| p.b.accept(l).ok());
            s.is_some()
        });
        let s = s.unwrap();
        let data = pattern(20_000, seed);
        p.send_all(Side::A, c, &data, Duration::from_secs(300));
        p.a.close(c).unwrap();
        let mut got = Vec::new();
        p.run_until(Duration::from_secs(300), |p| {
            p.read_available(Side::B, s, &mut got)
        });
        assert!(got == data, "seed={seed}: data intact");
        p.b.close(s).unwrap();
        p.settle(Duration::from_secs(400));
        let a = p.conn_states(Side::A);
        let b = p.conn_states(Side::B);
        assert_eq!(
            a.last(),
            Some(&Closed),
            "seed={seed}: client ends CLOSED: {a:?}"
        );
        assert_eq!(
            b.last(),
            Some(&Closed),
            "seed={seed}: server ends CLOSED: {b:?}"
        );
        assert!(
            a.contains(&TimeWait),
            "seed={seed}: active closer passed TIME-WAIT: {a:?}"
        );
        assert_eq!(p.a.error(c), None);
        assert!(
            p.a.sockets().is_empty() && p.b.sockets().len() == 1,
            "seed={seed}: nothing left but the listener"
        );
    }
}

#[test]
fn syn_flood_is_absorbed_by_syn_cookies_and_legitimate_clients_connect() {
    let mut p = Pair::new(30);
    let l = p.b.listen(sa(B_IP, 80), 8).unwrap();
    // 5,000 spoofed SYNs from addresses that will never answer.
    let mut buf = [0u8; 128];
    for k in 0..5000u32 {
        let src = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a01_0000 + k));
        let syn = synack::wire::TcpHeader {
            src_port: 1024 + (k % 60000) as u16,
            dst_port: 80,
            seq: synack::SeqNum(k.wrapping_mul(7919)),
            flags: TcpFlags::SYN,
            window: 1024,
            ..Default::default()
        };
        let n = synack::wire::emit(src, B_IP, 64, &syn, &[], &mut buf).unwrap();
        p.b.handle_packet(p.now, &buf[..n]);
        // The SYN,ACKs go nowhere.
        while p.b.poll_transmit(p.now, &mut [0u8; 2048]).is_some() {}
    }
    let c = p.b.counters().clone();
    assert_eq!(
        c.syncookies_sent,
        5000 - 8,
        "8 half-open, the rest answered statelessly"
    );
    assert!(
        p.b.sockets().len() <= 1 + 8,
        "memory stays bounded: {} sockets",
        p.b.sockets().len()
    );
    // Legitimate clients, while the SYN queue is still full of the flood's half-opens.
    let clients: Vec<_> = (0..20)
        .map(|_| p.a.connect(sa(B_IP, 80), None).unwrap())
        .collect();
    let mut accepted = Vec::new();
    p.run_until(5 * SEC, |p| {
        while let Ok(h) = p.b.accept(l) {
            accepted.push(h);
        }
        accepted.len() == 20
    });
    for (k, &c) in clients.iter().enumerate() {
        p.a.send(c, format!("client {k}").as_bytes()).unwrap();
    }
    p.settle(SEC);
    let mut got: Vec<String> = accepted
        .iter()
        .map(|&s| {
            let mut v = Vec::new();
            p.read_available(Side::B, s, &mut v);
            String::from_utf8(v).unwrap()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..20).map(|k| format!("client {k}")).collect();
    want.sort();
    assert_eq!(got, want, "every legitimate transfer intact");
    assert_eq!(p.b.counters().syncookies_ok, 20);
    let info = p.b.info(accepted[0]).unwrap();
    assert!(
        info.sack && info.timestamps && info.snd_wscale > 0,
        "options survived the cookie: {info:?}"
    );
}

#[test]
fn a_forged_ack_to_a_listener_is_reset_not_accepted() {
    let mut p = Pair::new(31);
    let _l = p.b.listen(sa(B_IP, 80), 1).unwrap();
    // Fill the SYN queue so cookies are in use.
    let _c1 = p.a.connect(sa(B_IP, 80), None).unwrap();
    let _c2 = p.a.connect(sa(B_IP, 80), None).unwrap();
    p.run_until(SEC, |p| p.b.counters().syncookies_sent >= 1);
    let ack = synack::wire::TcpHeader {
        src_port: 5555,
        dst_port: 80,
        seq: synack::SeqNum(1),
        ack: synack::SeqNum(0xdead_beef),
        flags: TcpFlags::ACK,
        window: 1000,
        ..Default::default()
    };
    let mut buf = [0u8; 128];
    let n = synack::wire::emit(A_IP, B_IP, 64, &ack, &[], &mut buf).unwrap();
    p.b.handle_packet(p.now, &buf[..n]);
    assert_eq!(p.b.counters().syncookies_failed, 1);
    assert_eq!(p.b.counters().syncookies_ok, 0);
}

/// RFC 5681 §4.1: after an idle period longer than the RTO, the next
/// transmission starts from the restart window (min(IW, cwnd)); ssthresh keeps
/// ¾ of the old cwnd, as Linux. With the restart off, cwnd is kept.
#[test]
fn cwnd_restarts_from_the_restart_window_after_an_idle_period() {
    for restart in [true, false] {
        let cfg = TcpConfig {
            slow_start_after_idle: restart,
            ..TcpConfig::default()
        };
        let mut p = Pair::with_config(5, cfg.clone(), cfg);
        let l = p.b.listen(sa(B_IP, 80), 16).unwrap();
        let c = p.a.connect(sa(B_IP, 80), None).unwrap();
        let mut s = None;
        p.run_until(5 * SEC, |p| {
            s = s.or_else(|| p.b.accept(l).ok());
            s.is_some() && p.a.state(c) == Some(Established)
        });
        let s = s.unwrap();
        let data = pattern(1 << 20, 7);
        p.send_all(Side::A, c, &data, 60 * SEC);
        let mut got = Vec::new();
        p.run_until(60 * SEC, |p| {
            p.read_available(Side::B, s, &mut got);
            got.len() == data.len() && p.a.info(c).unwrap().unacked == 0
        });
        assert_eq!(got, data);
        let before = p.a.info(c).unwrap();
        let iw = 10 * usize::from(before.mss);
        assert!(before.cwnd > 2 * iw, "cwnd grew: {}", before.cwnd);
        // Ten seconds of silence: far beyond the RTO.
        p.settle(10 * SEC);
        p.a.send(c, &data[..200_000]).unwrap();
        p.pump();
        let after = p.a.info(c).unwrap();
        if restart {
            assert_eq!(after.cwnd, iw, "restart window");
            assert!(after.ssthresh >= before.cwnd / 4 * 3, "{after:?}");
            assert!(after.unacked <= iw, "at most RW sent at once");
        } else {
            assert_eq!(after.cwnd, before.cwnd, "no restart");
        }
        // Either way the data arrives intact.
        let mut tail = Vec::new();
        p.run_until(60 * SEC, |p| {
            p.read_available(Side::B, s, &mut tail);
            tail.len() == 200_000
        });
        assert_eq!(tail, data[..200_000]);
    }
}
