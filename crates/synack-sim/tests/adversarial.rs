//! Adversarial scenarios in the simulator: a peer that keeps its window closed
//! forever, a peer that never acknowledges, blind RST / SYN / data injection
//! with random sequence numbers against a live transfer, and segments whose every
//! option is malformed. Each asserts the connection's fate (survives with its
//! data intact, or ends with a clear error) and the counters that show why.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use synack::wire::{self, checksum, ParseError, TcpFlags, TcpHeader, TcpOptions, Timestamps};
use synack::{ConnectionError, SeqNum, State, TcpConfig};
use synack_sim::harness::{net, Net, CLIENT, SERVER};
use synack_sim::{Direction, FilterAction, LinkConfig, Loss};

/// Uniform in `lo..hi`.
fn range(rng: &mut ChaCha8Rng, lo: u32, hi: u32) -> u32 {
    lo + rng.next_u32() % (hi - lo)
}

fn link() -> LinkConfig {
    LinkConfig::default().delay(Duration::from_millis(10))
}

/// A server that never reads, with a 16 KiB receive buffer: its window closes
/// for good once the client has sent 16 KiB.
fn never_reading_server(seed: u64, client: TcpConfig) -> Net {
    let server = TcpConfig {
        recv_buffer: 16 * 1024,
        auto_tune: false,
        ..TcpConfig::default()
    };
    net(seed, link(), link(), client, server)
}

/// Fills the client's send buffer with `bytes` (the server never reads).
fn write(n: &mut Net, c: synack::SocketHandle, bytes: usize) -> usize {
    let data = vec![0x5a; bytes];
    n.sim.host_mut(n.client).send(c, &data).unwrap()
}

#[test]
fn zero_window_forever_answered_probes_keep_the_connection_open_without_a_user_timeout() {
    // RFC 1122 §4.2.2.17: "As long as the receiving TCP continues to send
    // acknowledgments in response to the probe segments, the sending TCP MUST
    // allow the connection to stay open."
    let cfg = TcpConfig {
        send_buffer: 64 * 1024,
        auto_tune: false,
        ..TcpConfig::default()
    };
    let mut n = never_reading_server(11, cfg);
    let (c, _s) = n.connect();
    let wrote = write(&mut n, c, 1 << 20);
    assert_eq!(wrote, 64 * 1024, "the send buffer bounds what is queued");
    let t0 = n.sim.now();
    n.sim.run_until(t0 + Duration::from_secs(3600)).unwrap();
    let st = n.sim.host(n.client);
    assert_eq!(st.state(c), Some(State::Established));
    assert_eq!(st.info(c).unwrap().snd_wnd, 0);
    let probes = st.counters().window_probes;
    // Backed off to one probe per max_rto (120 s): about 30 in an hour, not thousands.
    assert!((20..=60).contains(&probes), "probes in an hour: {probes}");
    assert_eq!(st.counters().persist_timeouts, 0);
    assert_eq!(st.counters().timeouts, 0);
    // The server's receive queue is full and never grew past its buffer.
    assert_eq!(n.sim.host(n.server).sockets().len(), 2);
}

#[test]
fn zero_window_forever_ends_at_the_user_timeout_with_a_clear_error() {
    let cfg = TcpConfig {
        user_timeout: Some(Duration::from_secs(30)),
        ..TcpConfig::default()
    };
    let mut n = never_reading_server(12, cfg);
    let (c, _s) = n.connect();
    write(&mut n, c, 256 * 1024);
    let t0 = n.sim.now();
    n.sim.run_until(t0 + Duration::from_secs(600)).unwrap();
    let st = n.sim.host(n.client);
    assert_eq!(st.error(c), Some(ConnectionError::TimedOut));
    assert_eq!(st.state(c), Some(State::Closed));
    assert_eq!(st.counters().user_timeouts, 1);
    assert!(st.counters().window_probes >= 3, "it probed first");
    // It gave up at the user timeout after the window closed: within 30 s plus
    // the handshake-to-close ramp, not minutes later.
    let last_tx = n
        .sim
        .trace()
        .iter()
        .filter(|r| r.from == n.client)
        .map(|r| r.t)
        .max()
        .unwrap();
    assert!(
        last_tx <= t0 + Duration::from_secs(32),
        "last segment at {last_tx} (t0 {t0})"
    );
    assert_eq!(st.send_queue(c), 0, "buffers released");
}

#[test]
fn zero_window_then_silence_ends_after_unanswered_probes() {
    let mut n = never_reading_server(13, TcpConfig::default());
    let (c, _s) = n.connect();
    write(&mut n, c, 256 * 1024);
    // Let the window close, then the peer vanishes.
    n.sim.run_for(Duration::from_secs(2)).unwrap();
    assert_eq!(n.sim.host(n.client).info(c).unwrap().snd_wnd, 0);
    n.sim
        .set_link_config(n.link, Direction::BtoA, link().loss(Loss::Bernoulli(1.0)))
        .unwrap();
    n.sim.run_for(Duration::from_secs(3 * 3600)).unwrap();
    let st = n.sim.host(n.client);
    assert_eq!(st.error(c), Some(ConnectionError::TimedOut));
    assert_eq!(st.counters().persist_timeouts, 1);
    // data_retries (15) unanswered probes, then the end.
    let probes = st.counters().window_probes;
    assert!((15..=20).contains(&probes), "probes: {probes}");
    assert_eq!(
        n.sim.host_mut(n.client).poll_timeout(),
        None,
        "no timer left"
    );
}

#[test]
fn an_orphan_facing_a_zero_window_gives_up_after_orphan_retries_even_if_answered() {
    let mut n = never_reading_server(14, TcpConfig::default());
    let (c, _s) = n.connect();
    write(&mut n, c, 256 * 1024);
    n.sim.run_for(Duration::from_secs(2)).unwrap();
    // The application closes: the connection is an orphan with data queued.
    n.sim.host_mut(n.client).close(c).unwrap();
    n.sim.run_for(Duration::from_secs(3 * 3600)).unwrap();
    let st = n.sim.host(n.client);
    assert_eq!(st.counters().persist_timeouts, 1);
    assert!(
        st.sockets().is_empty(),
        "the orphan is gone: {:?}",
        st.sockets()
    );
    let probes = st.counters().window_probes;
    assert!((8..=10).contains(&probes), "orphan probes: {probes}");
}

#[test]
fn a_peer_that_never_acks_ends_the_connection_after_data_retries() {
    let mut n = net(
        15,
        link(),
        link(),
        TcpConfig::default(),
        TcpConfig::default(),
    );
    let (c, _s) = n.connect();
    n.sim
        .set_link_config(n.link, Direction::BtoA, link().loss(Loss::Bernoulli(1.0)))
        .unwrap();
    write(&mut n, c, 100_000);
    let t0 = n.sim.now();
    n.sim.run_for(Duration::from_secs(3 * 3600)).unwrap();
    let st = n.sim.host(n.client);
    assert_eq!(st.error(c), Some(ConnectionError::TimedOut));
    assert_eq!(
        st.counters().rto_expirations,
        16,
        "15 retries, then give up"
    );
    assert_eq!(st.counters().timeouts, 1);
    let last_tx = n
        .sim
        .trace()
        .iter()
        .filter(|r| r.from == n.client)
        .map(|r| r.t)
        .max()
        .unwrap();
    // RFC 1122 §4.2.3.5: R2 at least 100 s; Linux's 15 retries take ~15 minutes.
    let took = last_tx - t0;
    assert!(
        took >= Duration::from_secs(100) && took <= Duration::from_secs(1800),
        "gave up after {took:?}"
    );
}

#[test]
fn a_peer_that_never_acks_ends_at_the_user_timeout() {
    let cfg = TcpConfig {
        user_timeout: Some(Duration::from_secs(20)),
        ..TcpConfig::default()
    };
    let mut n = net(16, link(), link(), cfg, TcpConfig::default());
    let (c, _s) = n.connect();
    n.sim
        .set_link_config(n.link, Direction::BtoA, link().loss(Loss::Bernoulli(1.0)))
        .unwrap();
    write(&mut n, c, 100_000);
    n.sim.run_for(Duration::from_secs(600)).unwrap();
    let st = n.sim.host(n.client);
    assert_eq!(st.error(c), Some(ConnectionError::TimedOut));
    assert_eq!(st.counters().user_timeouts, 1);
    assert!(st.counters().rto_expirations < 10);
}

/// What the filter learned of the live connection: the highest sequence number
/// the client sent (about the server's RCV.NXT) and the server's window.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    client_nxt: Option<u32>,
    client_port: u16,
}

fn packet(src: IpAddr, dst: IpAddr, hdr: &TcpHeader, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 2000];
    let n = wire::emit(src, dst, 64, hdr, payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn blind_rst_syn_and_data_injection_against_a_live_transfer() {
    for seed in 21..=26 {
        blind_injection(seed);
    }
}

fn blind_injection(seed: u64) {
    let mut n = net(
        seed,
        link(),
        link(),
        TcpConfig::default(),
        TcpConfig::default(),
    );
    let (c, s) = n.connect();
    let seen = Rc::new(RefCell::new(Seen::default()));
    let seen_f = Rc::clone(&seen);
    n.sim.set_filter(Box::new(move |ctx, bytes| {
        if ctx.direction == Direction::AtoB {
            if let Ok(seg) = wire::parse(bytes) {
                let end = seg.tcp.seq.0.wrapping_add(seg.payload.len() as u32);
                let mut st = seen_f.borrow_mut();
                st.client_port = seg.tcp.src_port;
                if st
                    .client_nxt
                    .is_none_or(|x| (end.wrapping_sub(x) as i32) > 0)
                {
                    st.client_nxt = Some(end);
                }
            }
        }
        FilterAction::Pass
    }));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut rsts, mut syns, mut datas) = (0u32, 0u32, 0u32);
    let client_host = n.client;
    let bytes = 4 << 20;
    let o = n.bulk_with(c, s, bytes, Duration::from_secs(600), n.sim.now(), |sim| {
        // Every step, with probability 1/4, one spoofed segment "from the client".
        if rng.next_u32() % 4 != 0 {
            return;
        }
        let st = *seen.borrow();
        let Some(nxt) = st.client_nxt else { return };
        // Half fully blind, half a guess inside the receive window (RFC 5961's
        // threat: the attacker only needs to land in the window).
        let seq = if rng.next_u32() % 2 == 0 {
            rng.next_u32()
        } else {
            nxt.wrapping_add(range(&mut rng, 1, 60_000))
        };
        let mut hdr = TcpHeader {
            src_port: st.client_port,
            dst_port: 80,
            seq: SeqNum(seq),
            ack: SeqNum(rng.next_u32()),
            window: 1000,
            ..TcpHeader::default()
        };
        let mut payload: Vec<u8> = Vec::new();
        match rng.next_u32() % 3 {
            0 => {
                hdr.flags = TcpFlags::RST;
                rsts += 1;
            }
            1 => {
                hdr.flags = TcpFlags::SYN;
                syns += 1;
            }
            _ => {
                hdr.flags = TcpFlags::ACK | TcpFlags::PSH;
                payload = vec![0xEE; range(&mut rng, 1, 1000) as usize];
                datas += 1;
            }
        }
        sim.inject(client_host, &packet(CLIENT, SERVER, &hdr, &payload));
    });
    assert!(
        o.intact && o.delivered == bytes,
        "seed={seed}: transfer survived intact: {o:?}"
    );
    assert!(
        rsts > 100 && syns > 100 && datas > 100,
        "{rsts} {syns} {datas}"
    );
    let sc = n.sim.host(n.server).counters().clone();
    assert_eq!(sc.rst_received, 0, "seed={seed}: no injected RST accepted");
    assert!(
        sc.rst_ignored > 0,
        "seed={seed}: out-of-window RSTs counted"
    );
    assert!(
        sc.challenge_acks > 0,
        "seed={seed}: in-window RSTs and SYNs drew challenge ACKs"
    );
    assert!(
        sc.drop_out_of_window + sc.drop_bad_ack > 0,
        "seed={seed}: injected data dropped and counted"
    );
    assert!(matches!(
        n.sim.host(n.client).state(c),
        Some(State::FinWait1 | State::FinWait2 | State::TimeWait)
    ));
    assert_eq!(n.sim.host(n.server).error(s), None);
    assert_eq!(n.sim.host(n.client).error(c), None);
}

/// The options area of a 40-byte-option segment, each case malformed in its own way.
const MALFORMED: [(&str, &[u8]); 12] = [
    ("mss length 3", &[2, 3, 5]),
    ("mss length 0", &[2, 0]),
    ("mss length 1", &[2, 1]),
    (
        "mss past the header",
        &[
            1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
            1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4,
        ],
    ),
    ("window scale length 4", &[3, 4, 7, 0]),
    ("sack-permitted length 3", &[4, 3, 0]),
    ("sack length 9", &[5, 9, 0, 0, 0, 0, 0, 0, 0]),
    ("sack length 2", &[5, 2]),
    ("timestamps length 9", &[8, 9, 0, 0, 0, 0, 0, 0, 0]),
    ("timestamps length 6", &[8, 6, 0, 0, 0, 0]),
    ("unknown kind running past the end", &[99, 41]),
    (
        "kind without a length byte",
        &[
            1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
            1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 30,
        ],
    ),
];

/// A segment from the client with `opts` (padded with EOL to 40 bytes) as its
/// options and a correct checksum.
fn with_raw_options(hdr: &TcpHeader, payload: &[u8], opts: &[u8]) -> Vec<u8> {
    let mut seg = vec![0u8; 60 + payload.len()];
    seg[0..2].copy_from_slice(&hdr.src_port.to_be_bytes());
    seg[2..4].copy_from_slice(&hdr.dst_port.to_be_bytes());
    seg[4..8].copy_from_slice(&hdr.seq.0.to_be_bytes());
    seg[8..12].copy_from_slice(&hdr.ack.0.to_be_bytes());
    seg[12] = 15 << 4;
    seg[13] = hdr.flags.0;
    seg[14..16].copy_from_slice(&hdr.window.to_be_bytes());
    seg[20..20 + opts.len()].copy_from_slice(opts);
    seg[60..].copy_from_slice(payload);
    let pseudo = checksum::pseudo_header(&CLIENT, &SERVER, wire::IP_PROTO_TCP, seg.len() as u32);
    let sum = checksum::fold(checksum::sum(&seg, pseudo));
    seg[16..18].copy_from_slice(&sum.to_be_bytes());
    let IpAddr::V4(src) = CLIENT else {
        unreachable!()
    };
    let IpAddr::V4(dst) = SERVER else {
        unreachable!()
    };
    let mut pkt = vec![0u8; 20 + seg.len()];
    wire::ipv4::emit_header(src, dst, wire::IP_PROTO_TCP, 64, seg.len(), &mut pkt).unwrap();
    pkt[20..].copy_from_slice(&seg);
    pkt
}

#[test]
fn segments_with_every_option_malformed_are_counted_and_the_connection_survives() {
    let mut n = net(
        22,
        link(),
        link(),
        TcpConfig::default(),
        TcpConfig::default(),
    );
    let (c, s) = n.connect();
    // One real byte, so the server's RCV.NXT is known exactly.
    n.sim.host_mut(n.client).send(c, b"x").unwrap();
    n.sim.run_for(Duration::from_secs(1)).unwrap();
    let mut one = [0u8; 1];
    assert_eq!(n.sim.host_mut(n.server).recv(s, &mut one).unwrap(), 1);
    // What a perfectly in-window segment from the client looks like now: found
    // from the client's own next data segment.
    let local = n.sim.host(n.client).sockets()[0].local;
    let last = n
        .sim
        .trace()
        .iter()
        .rev()
        .filter(|r| r.from == n.client)
        .find_map(|r| wire::parse(&r.bytes).ok().map(|s| s.tcp))
        .unwrap();
    let base = TcpHeader {
        src_port: local.port(),
        dst_port: 80,
        seq: last.seq + 1u32,
        ack: last.ack,
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 1000,
        options: TcpOptions {
            timestamps: Some(Timestamps { val: 1, ecr: 0 }),
            ..TcpOptions::default()
        },
        ..TcpHeader::default()
    };
    let before = n
        .sim
        .host(n.server)
        .counters()
        .parse_drop(ParseError::BadOption);
    for (name, opts) in MALFORMED {
        // Perfectly in window: if it were accepted, "BAD" would corrupt the stream.
        let pkt = with_raw_options(&base, b"BAD", opts);
        n.sim.inject(n.client, &pkt);
        n.sim.run_for(Duration::from_millis(50)).unwrap();
        assert_eq!(
            n.sim.host(n.server).state(s),
            Some(State::Established),
            "{name}"
        );
    }
    let sc = n.sim.host(n.server).counters();
    assert_eq!(
        sc.parse_drop(ParseError::BadOption) - before,
        MALFORMED.len() as u64,
        "each malformed segment counted as BadOption"
    );
    // The connection still carries data, exactly.
    n.sim.host_mut(n.client).send(c, b"good").unwrap();
    n.sim.run_for(Duration::from_secs(1)).unwrap();
    let mut buf = [0u8; 16];
    let k = n.sim.host_mut(n.server).recv(s, &mut buf).unwrap();
    assert_eq!(&buf[..k], b"good");
}

#[test]
fn blind_out_of_window_segments_do_not_keep_a_dead_peer_alive() {
    let cfg = TcpConfig {
        keepalive: Some(synack::Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(2),
            count: 3,
        }),
        ..TcpConfig::default()
    };
    let mut n = net(23, link(), link(), cfg, TcpConfig::default());
    let (c, _s) = n.connect();
    let local = n.sim.host(n.client).sockets()[0].local;
    // The server vanishes; an attacker who knows the 4-tuple sprays segments with
    // random sequence numbers "from the server" every 500 ms.
    n.sim
        .set_link_config(n.link, Direction::BtoA, link().loss(Loss::Bernoulli(1.0)))
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let t0 = n.sim.now();
    let mut sent = 0;
    while n.sim.now() < t0 + Duration::from_secs(60) {
        let hdr = TcpHeader {
            src_port: 80,
            dst_port: local.port(),
            seq: SeqNum(rng.next_u32()),
            ack: SeqNum(rng.next_u32()),
            flags: TcpFlags::ACK,
            window: 1000,
            ..TcpHeader::default()
        };
        // Handed straight to the client: the server→client direction of the link
        // loses everything, the attacker sits past it.
        let now = n.sim.now();
        n.sim
            .host_mut(n.client)
            .handle_packet(now, &packet(SERVER, CLIENT, &hdr, &[]));
        sent += 1;
        n.sim.run_for(Duration::from_millis(500)).unwrap();
    }
    let st = n.sim.host(n.client);
    assert!(sent >= 100);
    // About 16 s of spray (10 s idle, 3 probes 2 s apart) hit the live connection;
    // the rest found no socket.
    assert!(
        st.counters().drop_out_of_window >= 30,
        "{:?}",
        st.counters()
    );
    assert_eq!(st.error(c), Some(ConnectionError::TimedOut));
    assert_eq!(st.counters().keepalive_timeouts, 1);
}
