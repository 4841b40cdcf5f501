//! Resource limits: max connections (connect and incoming SYN), the global
//! half-open bound across listeners, per-listener backlog, ephemeral-port
//! exhaustion, the orphan cap and orphan timeout, and buffer memory (pressure
//! shrinks windows and stops auto-tuning before anything is dropped; over the
//! maximum data is dropped and counted, and the transfer still completes intact).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::*;
use synack::wire::{self, TcpFlags, TcpHeader};
use synack::{
    ConnectError, Instant, SeqNum, SocketHandle, Stack, StackConfig, State, SynCookies, TcpConfig,
};

const SEC: Duration = Duration::from_secs(1);

fn stack(seed: u64, tcp: TcpConfig) -> Stack {
    Stack::new(
        StackConfig {
            tcp,
            ..StackConfig::from_seed(seed)
        },
        &[B_IP],
    )
    .unwrap()
}

/// A SYN to `B_IP:port` from `10.9.x.y:sport`.
fn syn(k: u32, port: u16) -> Vec<u8> {
    let src = IpAddr::V4(Ipv4Addr::new(10, 9, (k >> 8) as u8, k as u8));
    let hdr = TcpHeader {
        src_port: 1024 + (k % 60000) as u16,
        dst_port: port,
        seq: SeqNum(k.wrapping_mul(7919)),
        flags: TcpFlags::SYN,
        window: 65535,
        ..TcpHeader::default()
    };
    let mut buf = vec![0u8; 100];
    let n = wire::emit(src, B_IP, 64, &hdr, &[], &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Every packet `st` wants to send now, parsed.
fn drain(st: &mut Stack) -> Vec<TcpHeader> {
    let mut buf = [0u8; 2000];
    let mut out = Vec::new();
    while let Some(n) = st.poll_transmit(Instant::ZERO, &mut buf) {
        out.push(wire::parse(&buf[..n]).unwrap().tcp);
    }
    out
}

#[test]
fn connect_beyond_max_connections_is_a_typed_error_and_counted() {
    let tcp = TcpConfig {
        max_connections: 3,
        ..TcpConfig::default()
    };
    let mut st = Stack::new(
        StackConfig {
            tcp,
            ..StackConfig::from_seed(1)
        },
        &[A_IP],
    )
    .unwrap();
    for port in 0..3 {
        st.connect(sa(B_IP, 80 + port), None).unwrap();
    }
    assert_eq!(
        st.connect(sa(B_IP, 99), None),
        Err(ConnectError::TooManyConnections)
    );
    assert_eq!(st.counters().connect_conn_limit, 1);
    assert_eq!(st.usage().connections, 3);
    // One ends: room again.
    let h = st.sockets()[0].handle.unwrap();
    st.abort(h).unwrap();
    assert!(st.connect(sa(B_IP, 99), None).is_ok());
}

#[test]
fn a_syn_beyond_max_connections_is_dropped_and_counted() {
    let tcp = TcpConfig {
        max_connections: 5,
        syn_cookies: SynCookies::Off,
        ..TcpConfig::default()
    };
    let mut st = stack(2, tcp);
    st.listen(sa(B_IP, 80), 100).unwrap();
    for k in 0..8 {
        st.handle_packet(Instant::ZERO, &syn(k, 80));
    }
    let out = drain(&mut st);
    assert_eq!(out.iter().filter(|h| h.flags.syn()).count(), 5);
    assert_eq!(st.counters().drop_conn_limit, 3);
    assert_eq!(st.usage().connections, 5);
}

#[test]
fn half_open_connections_are_bounded_across_listeners() {
    for cookies in [SynCookies::Off, SynCookies::WhenFull] {
        let tcp = TcpConfig {
            max_half_open: 4,
            syn_cookies: cookies,
            ..TcpConfig::default()
        };
        let mut st = stack(3, tcp);
        st.listen(sa(B_IP, 80), 100).unwrap();
        st.listen(sa(B_IP, 81), 100).unwrap();
        for k in 0..3 {
            st.handle_packet(Instant::ZERO, &syn(k, 80));
            st.handle_packet(Instant::ZERO, &syn(100 + k, 81));
        }
        let synacks = drain(&mut st)
            .iter()
            .filter(|h| h.flags.syn() && h.flags.ack())
            .count();
        let c = st.counters().clone();
        assert_eq!(st.usage().half_open, 4, "{cookies:?}");
        match cookies {
            SynCookies::Off => {
                assert_eq!(c.drop_half_open_limit, 2);
                assert_eq!(synacks, 4);
            }
            _ => {
                // The two beyond the bound are answered statelessly.
                assert_eq!(c.syncookies_sent, 2);
                assert_eq!(c.syncookies_half_open_limit, 2);
                assert_eq!(synacks, 6);
            }
        }
    }
}

#[test]
fn per_listener_backlog_bounds_the_syn_queue() {
    let tcp = TcpConfig {
        syn_cookies: SynCookies::Off,
        ..TcpConfig::default()
    };
    let mut st = stack(4, tcp);
    st.listen(sa(B_IP, 80), 2).unwrap();
    for k in 0..5 {
        st.handle_packet(Instant::ZERO, &syn(k, 80));
    }
    assert_eq!(st.usage().half_open, 2);
    assert_eq!(st.counters().drop_syn_queue_full, 3);
}

#[test]
fn ephemeral_port_exhaustion_is_counted() {
    let mut tcp = TcpConfig::default();
    tcp.set_ephemeral_ports(40000..=40001).unwrap();
    let mut st = Stack::new(
        StackConfig {
            tcp,
            ..StackConfig::from_seed(5)
        },
        &[A_IP],
    )
    .unwrap();
    st.connect(sa(B_IP, 80), None).unwrap();
    st.connect(sa(B_IP, 80), None).unwrap();
    assert_eq!(
        st.connect(sa(B_IP, 80), None),
        Err(ConnectError::NoFreePorts)
    );
    assert_eq!(st.counters().connect_no_ports, 1);
}

/// `n` established connections A→B with B's accepted handles.
fn established(p: &mut Pair, n: usize) -> Vec<(SocketHandle, SocketHandle)> {
    let l = p.b.listen(sa(B_IP, 80), 64).unwrap();
    let cs: Vec<SocketHandle> = (0..n)
        .map(|_| p.a.connect(sa(B_IP, 80), None).unwrap())
        .collect();
    let mut ss = Vec::new();
    p.run_until(5 * SEC, |p| {
        while let Ok(s) = p.b.accept(l) {
            ss.push(s);
        }
        ss.len() == n && cs.iter().all(|&c| p.a.state(c) == Some(State::Established))
    });
    // accept order is the handshake order, which is connect order on this pipe.
    cs.into_iter().zip(ss).collect()
}

#[test]
fn orphans_beyond_the_cap_are_reset() {
    let ca = TcpConfig {
        max_orphans: 2,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(6, ca, TcpConfig::default());
    let conns = established(&mut p, 3);
    // The peer goes silent: every orphan stays in FIN-WAIT-1 retransmitting.
    p.filter = Some(Box::new(|side, _, _| side == Side::A));
    for &(c, _) in &conns {
        p.a.send(c, &[1u8; 1000]).unwrap();
    }
    p.pump();
    for &(c, _) in &conns {
        p.a.close(c).unwrap();
    }
    assert_eq!(p.a.counters().orphans_reset, 1);
    assert_eq!(p.a.usage().orphans, 2);
    assert_eq!(p.a.usage(), p.a.recount_usage());
    p.pump();
    let rsts = p
        .trace
        .iter()
        .filter(|s| s.from == Side::A && s.hdr.flags.rst())
        .count();
    assert_eq!(rsts, 1, "the third was reset on the wire");
    assert_eq!(p.a.usage().connections, 2);
}

#[test]
fn orphans_time_out_after_orphan_retries() {
    let mut p = Pair::new(7);
    let conns = established(&mut p, 2);
    p.filter = Some(Box::new(|side, _, _| side == Side::A));
    for &(c, _) in &conns {
        p.a.send(c, &[1u8; 1000]).unwrap();
        p.a.close(c).unwrap();
    }
    assert_eq!(p.a.usage().orphans, 2);
    p.settle(Duration::from_secs(3600));
    assert_eq!(p.a.usage().orphans, 0, "{:?}", p.a.sockets());
    assert_eq!(p.a.usage().connections, 0);
    // orphan_retries (8) each, then gone: 9 RTOs per connection, not 16.
    assert_eq!(p.a.counters().rto_expirations, 2 * 9);
    assert_eq!(p.a.counters().timeouts, 2);
}

#[test]
fn memory_pressure_shrinks_windows_then_drops_and_the_data_still_arrives_intact() {
    let mss = 1460usize;
    let cb = TcpConfig {
        mem_pressure: 64 * 1024,
        mem_max: 128 * 1024,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(8, TcpConfig::default(), cb);
    let conns = established(&mut p, 4);
    let per = 200 * 1024;
    let data: Vec<Vec<u8>> = (0..4).map(|i| pattern(per, i)).collect();
    let mut sent = [0usize; 4];
    let mut got: Vec<Vec<u8>> = vec![Vec::new(); 4];
    // Phase 1: B does not read. Its buffers fill to the limits, not beyond.
    let end = p.now + 10 * SEC;
    while p.now < end {
        for (i, &(c, _)) in conns.iter().enumerate() {
            if sent[i] < per {
                if let Ok(n) = p.a.send(c, &data[i][sent[i]..]) {
                    sent[i] += n;
                }
            }
        }
        if !p.step() {
            break;
        }
    }
    let u = p.b.usage();
    let cnt = p.b.counters().clone();
    assert!(cnt.memory_pressure >= 1, "pressure entered: {cnt:?}");
    assert!(
        u.buffer_bytes_peak <= 128 * 1024 + 4 * 4 * mss,
        "peak {} bounded by mem_max plus a clamped window per connection",
        u.buffer_bytes_peak
    );
    assert!(u.buffer_bytes > 64 * 1024, "{u:?}");
    assert!(
        cnt.drop_memory > 0,
        "over mem_max, data was dropped and counted"
    );
    // Without the limits the same four receivers would hold all 800 KiB.
    assert!(u.buffer_bytes < 200 * 1024);
    // Phase 2: B reads everything; every byte arrives, in order.
    p.run_until(120 * SEC, |p| {
        for (i, &(_, s)) in conns.iter().enumerate() {
            if sent[i] < per {
                if let Ok(n) = p.a.send(conns[i].0, &data[i][sent[i]..]) {
                    sent[i] += n;
                }
            }
            p.read_available(Side::B, s, &mut got[i]);
        }
        got.iter().all(|g| g.len() == per)
    });
    for i in 0..4 {
        assert!(got[i] == data[i], "connection {i} intact");
    }
    assert_eq!(p.a.usage(), p.a.recount_usage());
    assert_eq!(p.b.usage(), p.b.recount_usage());
    assert!(p.b.usage().buffer_bytes_peak <= 128 * 1024 + 4 * 4 * mss);
}

#[test]
fn over_mem_max_send_takes_no_more_until_data_is_acknowledged() {
    let cb = TcpConfig {
        mem_pressure: 8 * 1024,
        mem_max: 8 * 1024,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(9, TcpConfig::default(), cb);
    let conns = established(&mut p, 1);
    let (c, s) = conns[0];
    // A's ACKs are lost for now: B's data stays queued.
    p.filter = Some(Box::new(|side, _, _| side == Side::B));
    let data = pattern(20 * 1024, 3);
    assert_eq!(
        p.b.send(s, &data),
        Ok(20 * 1024),
        "an empty buffer always takes"
    );
    assert_eq!(
        p.b.send(s, b"more"),
        Err(synack::SendError::WouldBlock),
        "over mem_max with data queued"
    );
    assert_eq!(p.b.counters().send_refused_memory, 1);
    // ACKs flow again: the data is acknowledged, the buffer drains, send works.
    p.filter = None;
    let mut got = Vec::new();
    p.run_until(60 * SEC, |p| {
        p.read_available(Side::A, c, &mut got);
        got.len() == data.len() && p.b.send_queue(s) == 0
    });
    assert_eq!(got, data);
    assert_eq!(p.b.send(s, b"more"), Ok(4));
    assert_eq!(p.b.usage(), p.b.recount_usage());
}
