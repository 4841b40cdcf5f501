//! ICMP errors about our segments (RFC 5927 checks, RFC 1122 soft errors, RFC 5461
//! in SYN-SENT, RFC 1191 / RFC 8201 path MTU): one stack and a hand-played peer
//! and router, then two stacks on a pipe whose "router" answers big packets with
//! fragmentation-needed.

mod common;

use common::inject_segment;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack::wire::{self, checksum, ipv4, ipv6, TcpFlags, TcpHeader};
use synack::{
    ConnectionError, Instant, SeqNum, SocketHandle, Stack, StackConfig, State, TcpConfig,
};

const P: u32 = 1_000_000;
const ROUTER4: &str = "10.0.0.254";
const ROUTER6: &str = "fd00::fe";

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An ICMP (v4) or ICMPv6 error from `from` to `to` quoting `quoted`: `ty`/`code`,
/// and `mtu` in the field RFC 1191 / RFC 4443 put it.
fn icmp(from: IpAddr, to: IpAddr, ty: u8, code: u8, mtu: u32, quoted: &[u8]) -> Vec<u8> {
    let mut body = vec![ty, code, 0, 0];
    match from {
        IpAddr::V4(_) => body.extend([0, 0, (mtu >> 8) as u8, mtu as u8]),
        IpAddr::V6(_) => body.extend(mtu.to_be_bytes()),
    }
    // RFC 792 quotes the IP header and 8 bytes; RFC 4443 as much as fits.
    let keep = match from {
        IpAddr::V4(_) => quoted.len().min(28),
        IpAddr::V6(_) => quoted.len().min(1280 - 48),
    };
    body.extend_from_slice(&quoted[..keep]);
    let mut buf = vec![0u8; 60 + body.len()];
    let (n, pseudo) = match (from, to) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            ipv4::emit_header(s, d, 1, 64, body.len(), &mut buf).unwrap(),
            0,
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => (
            ipv6::emit_header(s, d, 58, 64, body.len(), &mut buf).unwrap(),
            checksum::pseudo_header_v6(&s, &d, 58, body.len() as u32),
        ),
        _ => unreachable!(),
    };
    let sum = checksum::fold(checksum::sum(&body, pseudo));
    body[2..4].copy_from_slice(&sum.to_be_bytes());
    buf.truncate(n);
    buf.extend_from_slice(&body);
    buf
}

/// One stack (options off, so segment sizes are exact) and the peer we play.
struct Script {
    stack: Stack,
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    router: IpAddr,
    /// Our ISS.
    i: u32,
    h: SocketHandle,
    /// The packets the stack sent last, whole.
    sent: Vec<Vec<u8>>,
}

impl Script {
    /// A connection in SYN-SENT from `us` to `them`.
    fn syn_sent(us: &str, them: &str, router: &str) -> Self {
        let tcp = TcpConfig {
            timestamps: false,
            sack: false,
            window_scaling: false,
            ..TcpConfig::default()
        };
        let cfg = StackConfig {
            tcp,
            ..StackConfig::from_seed(11)
        };
        let mut stack = Stack::new(cfg, &[addr(us)]).unwrap();
        let remote = SocketAddr::new(addr(them), 80);
        let local = SocketAddr::new(addr(us), 40000);
        let h = stack.connect(remote, Some(local)).unwrap();
        let mut s = Self {
            stack,
            now: Instant::from_secs(1),
            local,
            remote,
            router: addr(router),
            i: 0,
            h,
            sent: Vec::new(),
        };
        let out = s.out();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, TcpFlags::SYN);
        s.i = out[0].1;
        s
    }

    fn v4() -> Self {
        Self::syn_sent("10.0.0.1", "10.0.0.2", ROUTER4)
    }

    fn v6() -> Self {
        Self::syn_sent("fd00::1", "fd00::2", ROUTER6)
    }

    fn established(mut self) -> Self {
        self.inject(TcpFlags::SYN | TcpFlags::ACK, P, self.i + 1, b"");
        assert_eq!(self.out(), [(TcpFlags::ACK, self.i + 1, P + 1, 0)]);
        assert_eq!(self.stack.state(self.h), Some(State::Established));
        self
    }

    fn inject(&mut self, f: TcpFlags, seq: u32, ack: u32, payload: &[u8]) {
        let mut hdr = TcpHeader {
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags: f,
            window: 65535,
            ..TcpHeader::default()
        };
        if f.syn() {
            hdr.options.mss = Some(1460);
        }
        let ends = (self.remote, self.local);
        inject_segment(&mut self.stack, self.now, ends, hdr, payload, None);
    }

    /// Everything the stack sends now: (flags, seq, ack, payload length).
    fn out(&mut self) -> Vec<(TcpFlags, u32, u32, usize)> {
        let mut buf = [0u8; 2048];
        self.sent.clear();
        let mut v = Vec::new();
        while let Some(n) = self.stack.poll_transmit(self.now, &mut buf) {
            self.sent.push(buf[..n].to_vec());
            let seg = wire::parse(&buf[..n]).unwrap();
            v.push((
                seg.tcp.flags,
                seg.tcp.seq.0,
                seg.tcp.ack.0,
                seg.payload.len(),
            ));
        }
        v
    }

    /// The router (or the peer) answers `quoted` with an ICMP error.
    fn icmp(&mut self, ty: u8, code: u8, mtu: u32, quoted: &[u8]) {
        let p = icmp(self.router, self.local.ip(), ty, code, mtu, quoted);
        self.stack.handle_packet(self.now, &p);
    }

    fn counter(&self, name: &str) -> u64 {
        self.stack
            .counters()
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no counter {name}"))
            .1
    }

    /// Runs timers until the connection ends (bounded).
    fn run_to_timeout(&mut self) {
        for _ in 0..100 {
            let Some(t) = self.stack.poll_timeout() else {
                break;
            };
            self.now = self.now.max(t);
            self.stack.handle_timeout(self.now);
            self.out();
            if self.stack.state(self.h) == Some(State::Closed) {
                return;
            }
        }
        panic!("no timeout: {:?}", self.stack.state(self.h));
    }
}

// ---- unreachable in SYN-SENT: the attempt ends (RFC 5461) ----

#[test]
fn syn_sent_unreachables_end_the_attempt_with_the_matching_error() {
    // (ICMP type, code, expected error), IPv4 then IPv6.
    let v4 = [
        (3, 3, ConnectionError::Refused),            // port unreachable
        (3, 2, ConnectionError::Refused),            // protocol unreachable
        (3, 1, ConnectionError::HostUnreachable),    // host unreachable
        (3, 13, ConnectionError::HostUnreachable),   // administratively prohibited
        (3, 0, ConnectionError::NetworkUnreachable), // net unreachable
    ];
    for (ty, code, want) in v4 {
        let mut s = Script::v4();
        let syn = s.sent[0].clone();
        s.icmp(ty, code, 0, &syn);
        assert_eq!(
            s.stack.state(s.h),
            Some(State::Closed),
            "type {ty} code {code}"
        );
        assert_eq!(s.stack.error(s.h), Some(want), "type {ty} code {code}");
        assert_eq!(s.counter("icmp_connect_aborts"), 1);
        assert!(s.out().is_empty(), "nothing more is sent");
    }
    let v6 = [
        (1, 4, ConnectionError::Refused),
        (1, 3, ConnectionError::HostUnreachable),
        (1, 1, ConnectionError::HostUnreachable),
        (1, 0, ConnectionError::NetworkUnreachable),
    ];
    for (ty, code, want) in v6 {
        let mut s = Script::v6();
        let syn = s.sent[0].clone();
        s.icmp(ty, code, 0, &syn);
        assert_eq!(
            s.stack.error(s.h),
            Some(want),
            "ICMPv6 type {ty} code {code}"
        );
    }
}

// ---- RFC 5927 checks: forged or stale errors are counted and dropped ----

#[test]
fn icmp_quoting_a_sequence_number_outside_the_window_is_dropped() {
    let mut s = Script::v4();
    let mut syn = s.sent[0].clone();
    // The quoted sequence number: bytes 4..8 of the TCP header after a 20-byte IP header.
    let off = 24;
    let forged = s.i.wrapping_add(1000);
    syn[off..off + 4].copy_from_slice(&forged.to_be_bytes());
    s.icmp(3, 3, 0, &syn);
    assert_eq!(s.stack.state(s.h), Some(State::SynSent));
    assert_eq!(s.counter("drop_icmp_out_of_window"), 1);
    assert_eq!(s.counter("icmp_connect_aborts"), 0);
}

#[test]
fn icmp_for_no_connection_and_malformed_icmp_are_counted() {
    let mut s = Script::v4();
    let mut syn = s.sent[0].clone();
    // Another source port: no such connection. (The quoted TCP header's
    // checksum is not checked: RFC 792 quotes only its first 8 bytes.)
    syn[20..22].copy_from_slice(&41000u16.to_be_bytes());
    s.icmp(3, 3, 0, &syn);
    assert_eq!(s.counter("drop_icmp_no_connection"), 1);
    // A corrupted ICMP checksum.
    let syn = s.sent[0].clone();
    let mut p = icmp(s.router, s.local.ip(), 3, 3, 0, &syn);
    let last = p.len() - 1;
    p[last] ^= 0xff;
    s.stack.handle_packet(s.now, &p);
    assert_eq!(s.counter("drop_icmp_malformed"), 1);
    // Truncated quotes, at every length: counted, never a panic.
    let good = icmp(s.router, s.local.ip(), 3, 3, 0, &syn);
    for cut in 20..good.len() {
        let mut p = good[..cut].to_vec();
        // Keep the IP total length honest so the ICMP layer sees the cut.
        p[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum::fold(checksum::sum(&p[..20], 0));
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        s.stack.handle_packet(s.now, &p);
    }
    // An echo request is valid ICMP but no error: ignored.
    let echo = icmp(s.router, s.local.ip(), 8, 0, 0, &[]);
    s.stack.handle_packet(s.now, &echo);
    assert_eq!(s.counter("icmp_ignored"), 1);
    assert_eq!(
        s.stack.state(s.h),
        Some(State::SynSent),
        "none of it touched the attempt"
    );
    assert!(s.counter("drop_icmp_malformed") > 5);
}

// ---- synchronized states: unreachable is a soft error ----

#[test]
fn established_unreachable_is_soft_and_reported_when_the_connection_times_out() {
    let mut s = Script::v4().established();
    s.stack.send(s.h, &[7u8; 1000]).unwrap();
    let out = s.out();
    assert_eq!(out, [(TcpFlags::ACK | TcpFlags::PSH, s.i + 1, P + 1, 1000)]);
    let data = s.sent[0].clone();
    s.icmp(3, 1, 0, &data);
    assert_eq!(
        s.stack.state(s.h),
        Some(State::Established),
        "MUST NOT abort"
    );
    assert_eq!(s.stack.error(s.h), None);
    assert_eq!(s.counter("icmp_unreachable"), 1);
    // The peer stays silent: retransmissions run out, and the error says why.
    s.run_to_timeout();
    assert_eq!(s.stack.error(s.h), Some(ConnectionError::HostUnreachable));
}

#[test]
fn without_icmp_the_same_silence_is_a_plain_timeout() {
    let mut s = Script::v4().established();
    s.stack.send(s.h, &[7u8; 1000]).unwrap();
    s.out();
    s.run_to_timeout();
    assert_eq!(s.stack.error(s.h), Some(ConnectionError::TimedOut));
}

// ---- fragmentation needed / packet too big ----

#[test]
fn fragmentation_needed_lowers_the_mss_and_resends_smaller_segments() {
    let mut s = Script::v4().established();
    assert_eq!(s.stack.info(s.h).unwrap().mss, 1460);
    s.stack.set_nodelay(s.h, true).unwrap();
    // The whole window at once (no pacing), so the segment sizes show the MSS.
    s.stack.set_pacing(s.h, false).unwrap();
    s.stack.send(s.h, &[1u8; 4000]).unwrap();
    let out = s.out();
    let sizes: Vec<usize> = out.iter().map(|o| o.3).collect();
    assert_eq!(sizes, [1460, 1460, 1080]);
    // A router with a 1000-byte next hop drops the first segment.
    let first = s.sent[0].clone();
    s.icmp(3, 4, 1000, &first);
    assert_eq!(s.stack.info(s.h).unwrap().mss, 960, "1000 - 20 - 20");
    assert_eq!(s.counter("icmp_mtu_lowered"), 1);
    let again = s.out();
    assert!(!again.is_empty(), "resent at once");
    assert_eq!(again[0].1, s.i + 1, "from SND.UNA");
    assert!(again.iter().all(|o| o.3 <= 960), "{again:?}");
    assert_eq!(s.stack.state(s.h), Some(State::Established));
    // A larger MTU later does not raise it (no PMTU increase without probing),
    // and a tiny one is floored at 576 (MSS 536).
    let first = s.sent[0].clone();
    s.icmp(3, 4, 1400, &first);
    assert_eq!(s.counter("icmp_mtu_ignored"), 1);
    assert_eq!(s.stack.info(s.h).unwrap().mss, 960);
    s.icmp(3, 4, 200, &first);
    assert_eq!(s.stack.info(s.h).unwrap().mss, 536);
    // The peer acknowledges everything: the data went through.
    s.inject(TcpFlags::ACK, P + 1, s.i + 1 + 4000, b"");
    assert_eq!(s.stack.info(s.h).unwrap().unacked, 0);
}

#[test]
fn an_old_router_reporting_mtu_zero_gets_the_rfc_1191_plateau() {
    let mut s = Script::v4().established();
    s.stack.send(s.h, &[1u8; 1460]).unwrap();
    s.out();
    let first = s.sent[0].clone();
    // Quoted total length 1500 → plateau 1492 → MSS 1452.
    s.icmp(3, 4, 0, &first);
    assert_eq!(s.stack.info(s.h).unwrap().mss, 1452);
}

#[test]
fn packet_too_big_v6_never_goes_below_1280() {
    let mut s = Script::v6().established();
    assert_eq!(s.stack.info(s.h).unwrap().mss, 1440, "1500 - 60");
    s.stack.send(s.h, &[1u8; 3000]).unwrap();
    s.out();
    let first = s.sent[0].clone();
    s.icmp(2, 0, 1400, &first);
    assert_eq!(s.stack.info(s.h).unwrap().mss, 1340);
    let first = s.sent[0].clone();
    s.icmp(2, 0, 600, &first);
    assert_eq!(
        s.stack.info(s.h).unwrap().mss,
        1220,
        "RFC 8201 §4: 1280 - 60"
    );
}

#[test]
fn packet_too_big_in_syn_sent_is_ignored() {
    let mut s = Script::v4();
    let syn = s.sent[0].clone();
    s.icmp(3, 4, 600, &syn);
    assert_eq!(s.stack.state(s.h), Some(State::SynSent));
    assert_eq!(s.counter("icmp_mtu_ignored"), 1);
}

// ---- two stacks and a router with a small next hop ----

/// A transfers to B through a "router" whose next hop takes 1280 bytes: bigger
/// packets are dropped and answered with fragmentation-needed (IPv4) or packet
/// too big (IPv6). The transfer completes intact at the smaller size.
#[test]
fn a_transfer_through_a_small_mtu_hop_completes_after_ptb() {
    for (a_ip, b_ip, router) in [
        ("10.0.0.1", "10.0.0.2", ROUTER4),
        ("fd00::1", "fd00::2", ROUTER6),
    ] {
        let (a_ip, b_ip, router) = (addr(a_ip), addr(b_ip), addr(router));
        let mut a = Stack::new(StackConfig::from_seed(1), &[a_ip]).unwrap();
        let mut b = Stack::new(StackConfig::from_seed(2), &[b_ip]).unwrap();
        let l = b.listen(SocketAddr::new(b_ip, 80), 4).unwrap();
        let c = a.connect(SocketAddr::new(b_ip, 80), None).unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut sent = 0;
        let mut got = Vec::new();
        let mut server = None;
        let mut now = Instant::from_secs(1);
        let mut buf = vec![0u8; 65536];
        let mut too_big = 0;
        for _ in 0..100_000 {
            if got.len() == data.len() {
                break;
            }
            if sent < data.len() {
                sent += a.send(c, &data[sent..]).unwrap_or(0);
            }
            let mut moved = false;
            while let Some(n) = a.poll_transmit(now, &mut buf) {
                moved = true;
                if n > 1280 {
                    too_big += 1;
                    let (ty, code) = if a_ip.is_ipv4() { (3, 4) } else { (2, 0) };
                    let p = icmp(router, a_ip, ty, code, 1280, &buf[..n]);
                    a.handle_packet(now, &p);
                } else {
                    b.handle_packet(now, &buf[..n]);
                }
            }
            while let Some(n) = b.poll_transmit(now, &mut buf) {
                moved = true;
                a.handle_packet(now, &buf[..n]);
            }
            if server.is_none() {
                server = b.accept(l).ok();
            }
            if let Some(h) = server {
                let mut chunk = [0u8; 65536];
                while let Ok(n @ 1..) = b.recv(h, &mut chunk) {
                    got.extend_from_slice(&chunk[..n]);
                    moved = true;
                }
            }
            if !moved {
                let next = [a.poll_timeout(), b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                now = next.map_or(now + Duration::from_millis(1), |t| t.max(now));
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
        }
        assert_eq!(got.len(), data.len(), "{a_ip}: transfer finished");
        assert!(got == data, "{a_ip}: intact");
        assert!(too_big >= 1, "the router saw big packets");
        let mss = a.info(c).unwrap().mss;
        let overhead = if a_ip.is_ipv4() {
            20 + 20 + 12
        } else {
            40 + 20 + 12
        };
        assert_eq!(usize::from(mss), 1280 - overhead, "{a_ip}");
        let lowered = a
            .counters()
            .iter()
            .find(|(n, _)| *n == "icmp_mtu_lowered")
            .unwrap()
            .1;
        assert_eq!(
            lowered, 1,
            "{a_ip}: one lowering; later PTBs quote old segments"
        );
    }
}
