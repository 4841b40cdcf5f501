//! Option handling by packet script: timestamps and PAWS (RFC 7323), window
//! scaling, SACK-permitted negotiation, MSS.

mod common;

use common::inject_segment;
use std::net::SocketAddr;

use synack::wire::{self, TcpFlags, TcpHeader, TcpOptions, Timestamps};
use synack::{Instant, SeqNum, Stack, StackConfig, State};

const P: u32 = 5_000_000;

struct Peer {
    stack: Stack,
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
}

impl Peer {
    fn new() -> Self {
        let stack = Stack::new(StackConfig::from_seed(11), &["10.0.0.1".parse().unwrap()]).unwrap();
        Self {
            stack,
            now: Instant::from_secs(5),
            local: "10.0.0.1:80".parse().unwrap(),
            remote: "10.0.0.2:40000".parse().unwrap(),
        }
    }

    fn inject(&mut self, flags: TcpFlags, seq: u32, ack: u32, options: TcpOptions, payload: &[u8]) {
        let hdr = TcpHeader {
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags,
            window: 1000,
            options,
            ..TcpHeader::default()
        };
        let ends = (self.remote, self.local);
        inject_segment(&mut self.stack, self.now, ends, hdr, payload, None);
    }

    fn out(&mut self) -> Vec<(TcpHeader, usize)> {
        let mut buf = [0u8; 2048];
        let mut v = Vec::new();
        while let Some(n) = self.stack.poll_transmit(self.now, &mut buf) {
            let seg = wire::parse(&buf[..n]).unwrap();
            v.push((seg.tcp, seg.payload.len()));
        }
        v
    }
}

fn ts(val: u32, ecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some(Timestamps { val, ecr }),
        ..TcpOptions::default()
    }
}

/// Handshake with every option offered; returns the peer and our ISS.
fn established_with_options() -> (Peer, u32, synack::SocketHandle) {
    let mut p = Peer::new();
    let l = p.stack.listen(p.local, 4).unwrap();
    let syn = TcpOptions {
        mss: Some(1000),
        window_scale: Some(2),
        sack_permitted: true,
        timestamps: Some(Timestamps { val: 100, ecr: 0 }),
        ..TcpOptions::default()
    };
    p.inject(TcpFlags::SYN, P, 0, syn, b"");
    let out = p.out();
    let (synack, _) = out[0];
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(synack.options.mss, Some(1460));
    assert!(synack.options.window_scale.is_some() && synack.options.sack_permitted);
    let tse = synack.options.timestamps.unwrap();
    assert_eq!(tse.ecr, 100, "SYN,ACK echoes the peer's TSval");
    let i = synack.seq.0;
    p.inject(TcpFlags::ACK, P + 1, i + 1, ts(101, tse.val), b"");
    let h = p.stack.accept(l).unwrap();
    (p, i, h)
}

#[test]
fn options_are_negotiated_from_the_syn() {
    let (p, _i, h) = established_with_options();
    let info = p.stack.info(h).unwrap();
    assert_eq!(info.mss, 1000 - 12, "peer's MSS less the timestamp option");
    assert_eq!(info.snd_wscale, 2);
    assert!(info.sack && info.timestamps);
    assert_eq!(
        info.snd_wnd,
        1000 << 2,
        "after the SYN, the peer's window is scaled"
    );
}

#[test]
fn syn_without_options_gets_none_back() {
    let mut p = Peer::new();
    p.stack.listen(p.local, 4).unwrap();
    p.inject(TcpFlags::SYN, P, 0, TcpOptions::default(), b"");
    let (synack, _) = p.out()[0];
    assert_eq!(
        synack.options.window_scale, None,
        "RFC 7323 §2.2: no WS unless offered"
    );
    assert!(!synack.options.sack_permitted);
    assert_eq!(synack.options.timestamps, None);
    assert_eq!(synack.options.mss, Some(1460), "MSS is always sent");
}

#[test]
fn paws_drops_an_old_duplicate_and_acks() {
    let (mut p, i, h) = established_with_options();
    p.inject(TcpFlags::ACK, P + 1, i + 1, ts(200, 0), b"new data");
    let out = p.out();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.ack, SeqNum(P + 9));
    // An old duplicate: in-window sequence, but a TSval older than TS.Recent.
    p.inject(TcpFlags::ACK, P + 9, i + 1, ts(150, 0), b"stale!!");
    let out = p.out();
    assert_eq!(out.len(), 1, "PAWS answers with an ACK");
    assert_eq!(
        out[0].0.ack,
        SeqNum(P + 9),
        "and the stale data is not accepted"
    );
    assert_eq!(
        out[0].0.options.timestamps.unwrap().ecr,
        200,
        "TS.Recent unchanged"
    );
    assert_eq!(p.stack.counters().drop_paws, 1);
    assert_eq!(p.stack.recv_queue(h), 8);
    // A RST is exempt from PAWS (RFC 7323 §5.3 R1 applies to non-RST segments only).
    p.inject(TcpFlags::RST, P + 9, 0, ts(1, 0), b"");
    assert_eq!(p.stack.state(h), Some(State::Closed));
}

#[test]
fn ts_recent_follows_the_segment_at_the_left_window_edge() {
    let (mut p, i, _h) = established_with_options();
    p.inject(TcpFlags::ACK, P + 1, i + 1, ts(300, 0), b"a");
    let out = p.out();
    assert_eq!(out[0].0.options.timestamps.unwrap().ecr, 300);
    // A later segment beyond a hole (seq > Last.ACK.sent) must not update TS.Recent.
    p.inject(TcpFlags::ACK, P + 100, i + 1, ts(400, 0), b"b");
    let out = p.out();
    assert_eq!(
        out[0].0.options.timestamps.unwrap().ecr,
        300,
        "RFC 7323 §4.3 R3: only SEG.SEQ <= Last.ACK.sent"
    );
}

#[test]
fn duplicate_data_is_reported_with_a_dsack_and_holes_with_sack_blocks() {
    let (mut p, i, _h) = established_with_options();
    // Out of order: bytes 100..110 before 0..100.
    p.inject(TcpFlags::ACK, P + 101, i + 1, ts(300, 0), &[1; 10]);
    let (ack, _) = p.out()[0];
    assert_eq!(ack.ack, SeqNum(P + 1));
    assert_eq!(
        ack.options.sack(),
        &[wire::SackBlock {
            left: SeqNum(P + 101),
            right: SeqNum(P + 111)
        }]
    );
    p.inject(TcpFlags::ACK, P + 1, i + 1, ts(301, 0), &[2; 100]);
    let (ack, _) = p.out()[0];
    assert_eq!(ack.ack, SeqNum(P + 111), "hole filled");
    assert!(ack.options.sack().is_empty());
    // A whole duplicate of the first segment: D-SACK (RFC 2883), below the ACK.
    p.inject(TcpFlags::ACK, P + 1, i + 1, ts(302, 0), &[2; 100]);
    let (ack, _) = p.out()[0];
    assert_eq!(
        ack.options.sack(),
        &[wire::SackBlock {
            left: SeqNum(P + 1),
            right: SeqNum(P + 101)
        }]
    );
}
