//! Transparent mode (`Stack::listen_any`): a catch-all listener accepts SYNs to
//! any address and port, the stack answers as that address, and the accepted
//! connection's local address is the original destination.

use std::net::{IpAddr, SocketAddr};

use synack::wire::{self, TcpFlags, TcpHeader};
use synack::{
    Instant, ListenError, SeqNum, SocketHandle, Stack, StackConfig, State, SynCookies, TcpConfig,
};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A client (10.0.0.1, fd00::1) and a transparent proxy (10.0.0.2, fd00::2)
/// joined so that everything one sends reaches the other, whatever the
/// destination address (as a TUN routes a whole prefix to the proxy).
struct Pair {
    client: Stack,
    proxy: Stack,
    now: Instant,
}

impl Pair {
    fn new(proxy_tcp: TcpConfig) -> Self {
        let client =
            Stack::new(StackConfig::from_seed(1), &[ip("10.0.0.1"), ip("fd00::1")]).unwrap();
        let cfg = StackConfig {
            tcp: proxy_tcp,
            ..StackConfig::from_seed(2)
        };
        let proxy = Stack::new(cfg, &[ip("10.0.0.2"), ip("fd00::2")]).unwrap();
        Self {
            client,
            proxy,
            now: Instant::from_secs(1),
        }
    }

    /// Moves packets both ways until quiet (bounded).
    fn pump(&mut self) {
        let mut buf = vec![0u8; 65536];
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(n) = self.client.poll_transmit(self.now, &mut buf) {
                self.proxy.handle_packet(self.now, &buf[..n]);
                moved = true;
            }
            while let Some(n) = self.proxy.poll_transmit(self.now, &mut buf) {
                self.client.handle_packet(self.now, &buf[..n]);
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("packets never stopped");
    }

    fn recv_all(stack: &mut Stack, h: SocketHandle) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stack.recv(h, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        out
    }
}

#[test]
fn connections_to_any_address_are_accepted_with_their_original_destination() {
    let mut p = Pair::new(TcpConfig::default());
    let l = p.proxy.listen_any(16).unwrap();
    let targets = [
        sa("192.0.2.7:443"),
        sa("198.51.100.9:80"),
        sa("[2001:db8::5]:8080"),
    ];
    let mut clients = Vec::new();
    for t in targets {
        clients.push(p.client.connect(t, None).unwrap());
    }
    p.pump();
    let mut accepted = Vec::new();
    while let Ok(h) = p.proxy.accept(l) {
        accepted.push(h);
    }
    assert_eq!(accepted.len(), 3);
    for (i, (&c, &t)) in clients.iter().zip(&targets).enumerate() {
        assert_eq!(p.client.state(c), Some(State::Established), "{t}");
        let (client_local, client_remote) = p.client.addrs(c).unwrap();
        assert_eq!(client_remote, t);
        // Find the proxy's side of this connection: its remote is the client.
        let &h = accepted
            .iter()
            .find(|&&h| p.proxy.addrs(h).unwrap().1 == client_local)
            .unwrap();
        assert_eq!(p.proxy.addrs(h).unwrap().0, t, "the original destination");
        // Data both ways.
        let msg = format!("hello {i}");
        p.client.send(c, msg.as_bytes()).unwrap();
        p.pump();
        assert_eq!(Pair::recv_all(&mut p.proxy, h), msg.as_bytes());
        p.proxy.send(h, b"reply").unwrap();
        p.pump();
        assert_eq!(Pair::recv_all(&mut p.client, c), b"reply");
    }
    let listed = p.proxy.sockets();
    assert!(listed
        .iter()
        .any(|s| s.state == State::Listen && s.local == sa("0.0.0.0:0")));
}

#[test]
fn ordinary_listeners_and_connections_come_first() {
    let mut p = Pair::new(TcpConfig::default());
    let any = p.proxy.listen_any(16).unwrap();
    let own = p.proxy.listen(sa("10.0.0.2:80"), 16).unwrap();
    let c1 = p.client.connect(sa("10.0.0.2:80"), None).unwrap();
    let c2 = p.client.connect(sa("10.0.0.2:81"), None).unwrap();
    p.pump();
    assert_eq!(p.client.state(c1), Some(State::Established));
    assert_eq!(p.client.state(c2), Some(State::Established));
    let a = p.proxy.accept(own).unwrap();
    assert_eq!(p.proxy.addrs(a).unwrap().0, sa("10.0.0.2:80"));
    let b = p.proxy.accept(any).unwrap();
    assert_eq!(
        p.proxy.addrs(b).unwrap().0,
        sa("10.0.0.2:81"),
        "the catch-all took port 81"
    );
    assert!(p.proxy.accept(own).is_err() && p.proxy.accept(any).is_err());
}

#[test]
fn without_the_catch_all_foreign_addresses_are_dropped_and_closing_it_ends_the_mode() {
    let mut p = Pair::new(TcpConfig::default());
    let c = p.client.connect(sa("192.0.2.7:443"), None).unwrap();
    p.pump();
    assert_eq!(p.client.state(c), Some(State::SynSent));
    assert_eq!(p.proxy.counters().drop_not_our_address, 1);

    let l = p.proxy.listen_any(4).unwrap();
    assert_eq!(p.proxy.listen_any(4), Err(ListenError::AddrInUse));
    p.proxy.close(l).unwrap();
    assert_eq!(p.proxy.listen_any(0), Err(ListenError::InvalidArgument));
    let c = p.client.connect(sa("192.0.2.8:443"), None).unwrap();
    p.pump();
    assert_eq!(p.client.state(c), Some(State::SynSent));
    assert_eq!(
        p.proxy.counters().drop_not_our_address,
        2,
        "closed: mode off"
    );
}

/// A SYN flood to many addresses holds at most `backlog` half-open connections.
#[test]
fn half_open_connections_are_capped_by_the_backlog() {
    for cookies in [SynCookies::Off, SynCookies::WhenFull] {
        let tcp = TcpConfig {
            syn_cookies: cookies,
            ..TcpConfig::default()
        };
        let mut p = Pair::new(tcp);
        let _l = p.proxy.listen_any(8).unwrap();
        let mut buf = [0u8; 128];
        for i in 0..200u32 {
            let hdr = TcpHeader {
                src_port: 1024 + (i as u16),
                dst_port: 80,
                seq: SeqNum(i * 1000),
                flags: TcpFlags::SYN,
                window: 65535,
                ..TcpHeader::default()
            };
            let dst = IpAddr::V4(std::net::Ipv4Addr::new(
                198,
                18,
                (i / 250) as u8,
                (i % 250) as u8 + 1,
            ));
            let n = wire::emit(ip("10.0.0.1"), dst, 64, &hdr, b"", &mut buf).unwrap();
            p.proxy.handle_packet(p.now, &buf[..n]);
        }
        let half_open = p
            .proxy
            .sockets()
            .iter()
            .filter(|s| s.state == State::SynReceived)
            .count();
        assert_eq!(half_open, 8, "{cookies:?}");
        let c = p.proxy.counters();
        match cookies {
            SynCookies::Off => assert_eq!(c.drop_syn_queue_full, 192),
            _ => assert_eq!(c.syncookies_sent, 192),
        }
    }
}

/// Closing the catch-all listener ends the mode for new connections only: the
/// connections it accepted keep their foreign local address and keep working
/// (a relay that stops accepting must still finish its transfers).
#[test]
fn accepted_connections_outlive_the_catch_all_listener() {
    let mut p = Pair::new(TcpConfig::default());
    let l = p.proxy.listen_any(4).unwrap();
    let c = p.client.connect(sa("192.0.2.7:443"), None).unwrap();
    p.pump();
    let h = p.proxy.accept(l).unwrap();
    p.proxy.close(l).unwrap();

    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    for _ in 0..1000 {
        if sent < data.len() {
            sent += p.proxy.send(h, &data[sent..]).unwrap_or(0);
        }
        p.pump();
        got.extend(Pair::recv_all(&mut p.client, c));
        if got.len() == data.len() {
            break;
        }
        p.now += std::time::Duration::from_millis(10);
        if p.proxy.poll_timeout().is_some_and(|t| t <= p.now) {
            p.proxy.handle_timeout(p.now);
        }
    }
    assert!(
        got == data,
        "the proxy's data all arrived: {} of {} bytes",
        got.len(),
        data.len()
    );
    // The client's delayed ACK.
    p.now += std::time::Duration::from_secs(1);
    p.client.handle_timeout(p.now);
    p.pump();
    assert_eq!(
        p.proxy.info(h).map(|i| i.unacked),
        Some(0),
        "and was all acknowledged"
    );
    p.proxy.close(h).unwrap();
    p.pump();
    p.client.close(c).unwrap();
    p.pump();
    assert_eq!(p.proxy.state(h), None, "closed through LAST-ACK");
    assert_eq!(p.proxy.counters().drop_not_our_address, 0);
}
