//! Packet-script tests: one stack, a hand-played peer. Each test reaches a state by
//! driving the protocol (never by writing fields), injects one crafted segment,
//! and checks the exact segments that come out and the state after.
//!
//! Options are off (no timestamps, SACK or window scaling) so segments are exact;
//! option handling has its own tests.

mod common;

use common::inject_segment;
use std::net::SocketAddr;
use std::time::Duration;

use synack::wire::{self, TcpFlags, TcpHeader};
use synack::{
    ConnectionError, Instant, SeqNum, SocketHandle, Stack, StackConfig, State, TcpConfig,
};

const US: &str = "10.0.0.1";
const THEM: &str = "10.0.0.2";
/// The hand-played peer's ISS.
const P: u32 = 1_000_000;

fn us(port: u16) -> SocketAddr {
    SocketAddr::new(US.parse().unwrap(), port)
}
fn them(port: u16) -> SocketAddr {
    SocketAddr::new(THEM.parse().unwrap(), port)
}

const A: TcpFlags = TcpFlags::ACK;
const S: TcpFlags = TcpFlags::SYN;
const F: TcpFlags = TcpFlags::FIN;
const R: TcpFlags = TcpFlags::RST;

/// One stack under test and the peer we play.
struct Script {
    stack: Stack,
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    /// Our ISS, learned from our SYN or SYN,ACK.
    i: u32,
    handle: Option<SocketHandle>,
    listener: Option<SocketHandle>,
}

/// A segment that came out: (flags, seq, ack, payload length).
type Out = (TcpFlags, u32, u32, usize);

impl Script {
    fn new() -> Self {
        let tcp = TcpConfig {
            timestamps: false,
            sack: false,
            window_scaling: false,
            ..TcpConfig::default()
        };
        let cfg = StackConfig {
            tcp,
            ..StackConfig::from_seed(7)
        };
        Self {
            stack: Stack::new(cfg, &[US.parse().unwrap()]).unwrap(),
            now: Instant::from_secs(1),
            local: us(80),
            remote: them(40000),
            i: 0,
            handle: None,
            listener: None,
        }
    }

    /// Injects a segment from the peer.
    fn inject(&mut self, f: TcpFlags, seq: u32, ack: u32, payload: &[u8]) {
        let hdr = TcpHeader {
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags: f,
            window: 65535,
            ..TcpHeader::default()
        };
        let ends = (self.remote, self.local);
        inject_segment(&mut self.stack, self.now, ends, hdr, payload, None);
    }

    /// Everything the stack sends now.
    fn out(&mut self) -> Vec<Out> {
        let mut buf = [0u8; 2048];
        let mut v = Vec::new();
        while let Some(n) = self.stack.poll_transmit(self.now, &mut buf) {
            let seg = wire::parse(&buf[..n]).unwrap();
            assert_eq!((seg.src, seg.dst), (self.local.ip(), self.remote.ip()));
            v.push((
                seg.tcp.flags,
                seg.tcp.seq.0,
                seg.tcp.ack.0,
                seg.payload.len(),
            ));
        }
        v
    }

    fn state(&self) -> Option<State> {
        if let Some(h) = self.handle {
            return self.stack.state(h);
        }
        self.stack
            .sockets()
            .iter()
            .find(|s| s.remote == Some(self.remote))
            .map(|s| s.state)
    }

    // ---- reaching each state by driving the protocol ----

    fn closed() -> Self {
        Self::new()
    }

    fn listen() -> Self {
        let mut s = Self::new();
        s.listener = Some(s.stack.listen(s.local, 8).unwrap());
        s
    }

    fn syn_sent() -> Self {
        let mut s = Self::new();
        let h = s.stack.connect(s.remote, Some(us(40001))).unwrap();
        s.local = us(40001);
        s.handle = Some(h);
        let out = s.out();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, S);
        s.i = out[0].1;
        s
    }

    fn syn_received() -> Self {
        let mut s = Self::listen();
        s.inject(S, P, 0, b"");
        let out = s.out();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].0, out[0].2), (S | A, P + 1));
        s.i = out[0].1;
        assert_eq!(s.state(), Some(State::SynReceived));
        s
    }

    /// ESTABLISHED, passively opened and accepted.
    fn established() -> Self {
        let mut s = Self::syn_received();
        s.inject(A, P + 1, s.i + 1, b"");
        assert!(s.out().is_empty());
        s.handle = Some(s.stack.accept(s.listener.unwrap()).unwrap());
        assert_eq!(s.state(), Some(State::Established));
        s
    }

    fn fin_wait_1() -> Self {
        let mut s = Self::established();
        s.stack.close(s.handle.unwrap()).unwrap();
        assert_eq!(s.out(), [(F | A, s.i + 1, P + 1, 0)]);
        // Keep the handle meaningful: close() gave it up, so track by address.
        s.handle = None;
        assert_eq!(s.state(), Some(State::FinWait1));
        s
    }

    fn fin_wait_2() -> Self {
        let mut s = Self::fin_wait_1();
        s.inject(A, P + 1, s.i + 2, b"");
        assert!(s.out().is_empty());
        assert_eq!(s.state(), Some(State::FinWait2));
        s
    }

    /// Lets the stack's next timer come (at most `max` from now); returns when.
    fn run_timer(&mut self, max: Duration) -> Duration {
        let at = self.stack.poll_timeout().expect("a timer is set");
        let wait = at.saturating_duration_since(self.now);
        assert!(
            wait <= max,
            "the next timer is {wait:?} away, expected <= {max:?}"
        );
        self.now = at;
        self.stack.handle_timeout(at);
        wait
    }

    /// CLOSE-WAIT with the FIN acknowledged: the ACK of a FIN in ESTABLISHED
    /// waits the delayed-ACK time (so a close right after the EOF carries it).
    fn close_wait() -> Self {
        let mut s = Self::close_wait_ack_pending();
        assert!(s.run_timer(Duration::from_millis(40)) > Duration::ZERO);
        assert_eq!(s.out(), [(A, s.i + 1, P + 2, 0)]);
        s
    }

    /// CLOSE-WAIT, the ACK of the FIN not sent yet.
    fn close_wait_ack_pending() -> Self {
        let mut s = Self::established();
        s.inject(F | A, P + 1, s.i + 1, b"");
        assert_eq!(s.out(), []);
        assert_eq!(s.state(), Some(State::CloseWait));
        s
    }

    fn closing() -> Self {
        let mut s = Self::fin_wait_1();
        s.inject(F | A, P + 1, s.i + 1, b"");
        assert_eq!(s.out(), [(A, s.i + 2, P + 2, 0)]);
        assert_eq!(s.state(), Some(State::Closing));
        s
    }

    fn last_ack() -> Self {
        let mut s = Self::close_wait();
        s.stack.close(s.handle.unwrap()).unwrap();
        s.handle = None;
        assert_eq!(s.out(), [(F | A, s.i + 1, P + 2, 0)]);
        assert_eq!(s.state(), Some(State::LastAck));
        s
    }

    fn time_wait() -> Self {
        let mut s = Self::fin_wait_2();
        s.inject(F | A, P + 1, s.i + 2, b"");
        assert_eq!(s.out(), [(A, s.i + 2, P + 2, 0)]);
        assert_eq!(s.state(), Some(State::TimeWait));
        s
    }
}

/// Runs one case: reach the state, inject, compare output and state.
fn case(
    name: &str,
    reach: fn() -> Script,
    inject: impl Fn(&mut Script),
    expect: impl Fn(&Script) -> Vec<Out>,
    state: Option<State>,
) {
    let mut s = reach();
    inject(&mut s);
    let out = s.out();
    assert_eq!(out, expect(&s), "{name}: segments out");
    assert_eq!(s.state(), state, "{name}: state after");
}

// Kinds of incoming segment, relative to a script's sequence numbers.
fn rst_exact(s: &mut Script, rcv_nxt: u32) {
    s.inject(R, rcv_nxt, 0, b"");
}

#[test]
fn closed_state() {
    case(
        "SYN gets RST,ACK acking SEQ+1",
        Script::closed,
        |s| s.inject(S, P, 0, b""),
        |_| vec![(R | A, 0, P + 1, 0)],
        None,
    );
    case(
        "SYN,ACK gets RST at SEG.ACK",
        Script::closed,
        |s| s.inject(S | A, P, 777, b""),
        |_| vec![(R, 777, 0, 0)],
        None,
    );
    case(
        "ACK gets RST at SEG.ACK",
        Script::closed,
        |s| s.inject(A, P, 777, b""),
        |_| vec![(R, 777, 0, 0)],
        None,
    );
    case(
        "data gets RST at SEG.ACK",
        Script::closed,
        |s| s.inject(A, P, 777, b"hello"),
        |_| vec![(R, 777, 0, 0)],
        None,
    );
    case(
        "FIN without ACK gets RST,ACK over SEQ+LEN+1",
        Script::closed,
        |s| s.inject(F, P, 0, b"abc"),
        |_| vec![(R | A, 0, P + 4, 0)],
        None,
    );
    case(
        "RST is dropped",
        Script::closed,
        |s| s.inject(R, P, 0, b""),
        |_| vec![],
        None,
    );
    case(
        "stray data without ACK gets RST,ACK",
        Script::closed,
        |s| s.inject(TcpFlags::PSH, P, 0, b"xyz"),
        |_| vec![(R | A, 0, P + 3, 0)],
        None,
    );
}

#[test]
fn listen_state() {
    let l = Script::listen;
    // LISTEN × SYN is `listen_syn_answers_syn_ack_exactly`.
    case(
        "SYN,ACK gets RST at SEG.ACK",
        l,
        |s| s.inject(S | A, P, 777, b""),
        |_| vec![(R, 777, 0, 0)],
        None,
    );
    case(
        "ACK gets RST at SEG.ACK",
        l,
        |s| s.inject(A, P, 777, b""),
        |_| vec![(R, 777, 0, 0)],
        None,
    );
    case(
        "data with ACK gets RST",
        l,
        |s| s.inject(A, P, 777, b"data"),
        |_| vec![(R, 777, 0, 0)],
        None,
    );
    case(
        "FIN,ACK gets RST",
        l,
        |s| s.inject(F | A, P, 777, b""),
        |_| vec![(R, 777, 0, 0)],
        None,
    );
    case(
        "RST is ignored",
        l,
        |s| s.inject(R, P, 0, b""),
        |_| vec![],
        None,
    );
    case(
        "segment without SYN/ACK/RST is dropped",
        l,
        |s| s.inject(TcpFlags::PSH, P, 0, b"x"),
        |_| vec![],
        None,
    );
}

#[test]
fn listen_syn_answers_syn_ack_exactly() {
    let mut s = Script::listen();
    s.inject(S, P, 0, b"");
    let out = s.out();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].2, out[0].3), (S | A, P + 1, 0));
    assert_eq!(s.stack.counters().passive_opens, 1);
}

#[test]
fn syn_sent_state() {
    use State::*;
    let ss = Script::syn_sent;
    case(
        "SYN alone: simultaneous open, SYN,ACK from ISS",
        ss,
        |s| s.inject(S, P, 0, b""),
        |s| vec![(S | A, s.i, P + 1, 0)],
        Some(SynReceived),
    );
    case(
        "SYN,ACK acking ISS+1: ESTABLISHED and ACK",
        ss,
        |s| s.inject(S | A, P, s.i + 1, b""),
        |s| vec![(A, s.i + 1, P + 1, 0)],
        Some(Established),
    );
    case(
        "stale SYN,ACK (ACK of another ISS) gets RST at SEG.ACK",
        ss,
        |s| s.inject(S | A, P, s.i + 1000, b""),
        |s| vec![(R, s.i + 1000, 0, 0)],
        Some(SynSent),
    );
    case(
        "ACK without SYN is dropped",
        ss,
        |s| s.inject(A, P, s.i + 1, b""),
        |_| vec![],
        Some(SynSent),
    );
    case(
        "data without SYN is dropped",
        ss,
        |s| s.inject(A, P + 1, s.i + 1, b"data"),
        |_| vec![],
        Some(SynSent),
    );
    case(
        "FIN without SYN is dropped",
        ss,
        |s| s.inject(F | A, P + 1, s.i + 1, b""),
        |_| vec![],
        Some(SynSent),
    );
    case(
        "RST with acceptable ACK: refused",
        ss,
        |s| s.inject(R | A, 0, s.i + 1, b""),
        |_| vec![],
        Some(Closed),
    );
    case(
        "RST without ACK is ignored",
        ss,
        |s| s.inject(R, P, 0, b""),
        |_| vec![],
        Some(SynSent),
    );
    case(
        "ACK at or below ISS gets RST",
        ss,
        |s| s.inject(A, P, s.i, b""),
        |s| vec![(R, s.i, 0, 0)],
        Some(SynSent),
    );
}

#[test]
fn syn_sent_rst_reports_refused() {
    let mut s = Script::syn_sent();
    s.inject(R | A, 0, s.i + 1, b"");
    assert_eq!(
        s.stack.error(s.handle.unwrap()),
        Some(ConnectionError::Refused)
    );
}

#[test]
fn syn_received_state() {
    use State::*;
    let sr = Script::syn_received;
    case(
        "retransmitted SYN: SYN,ACK again",
        sr,
        |s| s.inject(S, P, 0, b""),
        |s| vec![(S | A, s.i, P + 1, 0)],
        Some(SynReceived),
    );
    case(
        "SYN,ACK (old seq) is out of window: ACK",
        sr,
        |s| s.inject(S | A, P, s.i + 1, b""),
        |s| vec![(A, s.i + 1, P + 1, 0)],
        Some(SynReceived),
    );
    case(
        "ACK of SYN,ACK: ESTABLISHED",
        sr,
        |s| s.inject(A, P + 1, s.i + 1, b""),
        |_| vec![],
        Some(Established),
    );
    case(
        "bad ACK gets RST at SEG.ACK",
        sr,
        |s| s.inject(A, P + 1, s.i + 99, b""),
        |s| vec![(R, s.i + 99, 0, 0)],
        Some(SynReceived),
    );
    case(
        "data with ACK: ESTABLISHED and ACKed",
        sr,
        |s| s.inject(A, P + 1, s.i + 1, b"hello"),
        |s| vec![(A, s.i + 1, P + 6, 0)],
        Some(Established),
    );
    case(
        "FIN with ACK: ESTABLISHED then CLOSE-WAIT, the ACK delayed",
        sr,
        |s| s.inject(F | A, P + 1, s.i + 1, b""),
        |_| vec![],
        Some(CloseWait),
    );
    case(
        "FIN with ACK: the delayed ACK comes",
        sr,
        |s| {
            s.inject(F | A, P + 1, s.i + 1, b"");
            s.run_timer(Duration::from_millis(40));
        },
        |s| vec![(A, s.i + 1, P + 2, 0)],
        Some(CloseWait),
    );
    case(
        "RST at RCV.NXT: back to the listener",
        sr,
        |s| rst_exact(s, P + 1),
        |_| vec![],
        None,
    );
    case(
        "out-of-window data: ACK, no change",
        sr,
        |s| s.inject(A, P + 1 + 200_000, s.i + 1, b"x"),
        |s| vec![(A, s.i + 1, P + 1, 0)],
        Some(SynReceived),
    );
    case(
        "in-window SYN with another ISN: challenge ACK",
        sr,
        |s| s.inject(S, P + 10, 0, b""),
        |s| vec![(A, s.i + 1, P + 1, 0)],
        Some(SynReceived),
    );
}

#[test]
fn established_state() {
    use State::*;
    let e = Script::established;
    case(
        "SYN: RFC 5961 challenge ACK",
        e,
        |s| s.inject(S, P + 1, 0, b""),
        |s| vec![(A, s.i + 1, P + 1, 0)],
        Some(Established),
    );
    case(
        "SYN,ACK: challenge ACK",
        e,
        |s| s.inject(S | A, P + 1, s.i + 1, b""),
        |s| vec![(A, s.i + 1, P + 1, 0)],
        Some(Established),
    );
    case(
        "pure ACK: silence",
        e,
        |s| s.inject(A, P + 1, s.i + 1, b""),
        |_| vec![],
        Some(Established),
    );
    case(
        "data: ACKed at once (quick-ACK at start)",
        e,
        |s| s.inject(A, P + 1, s.i + 1, b"0123456789"),
        |s| vec![(A, s.i + 1, P + 11, 0)],
        Some(Established),
    );
    case(
        "FIN: CLOSE-WAIT, the ACK delayed",
        e,
        |s| s.inject(F | A, P + 1, s.i + 1, b""),
        |_| vec![],
        Some(CloseWait),
    );
    case(
        "data with FIN: CLOSE-WAIT, the ACK delayed though quick-ACK is on",
        e,
        |s| s.inject(F | A, P + 1, s.i + 1, b"request"),
        |_| vec![],
        Some(CloseWait),
    );
    case(
        "FIN, then close at once: the FIN carries the ACK (three-segment close)",
        e,
        |s| {
            s.inject(F | A, P + 1, s.i + 1, b"");
            s.stack.close(s.handle.take().unwrap()).unwrap();
        },
        |s| vec![(F | A, s.i + 1, P + 2, 0)],
        Some(LastAck),
    );
    case(
        "RST at RCV.NXT: CLOSED",
        e,
        |s| rst_exact(s, P + 1),
        |_| vec![],
        Some(Closed),
    );
    case(
        "RST in window but not at RCV.NXT: challenge ACK",
        e,
        |s| rst_exact(s, P + 100),
        |s| vec![(A, s.i + 1, P + 1, 0)],
        Some(Established),
    );
    case(
        "RST out of window: dropped",
        e,
        |s| rst_exact(s, P + 1_000_000),
        |_| vec![],
        Some(Established),
    );
    case(
        "out-of-window data: ACK, dropped",
        e,
        |s| s.inject(A, P + 1 + 300_000, s.i + 1, b"zz"),
        |s| vec![(A, s.i + 1, P + 1, 0)],
        Some(Established),
    );
    case(
        "ACK of unsent data: ACK, dropped",
        e,
        |s| s.inject(A, P + 1, s.i + 5000, b""),
        |s| vec![(A, s.i + 1, P + 1, 0)],
        Some(Established),
    );
    case(
        "segment without ACK: dropped",
        e,
        |s| s.inject(TcpFlags::PSH, P + 1, 0, b"abc"),
        |_| vec![],
        Some(Established),
    );
}

#[test]
fn established_rst_reports_reset() {
    let mut s = Script::established();
    rst_exact(&mut s, P + 1);
    assert_eq!(
        s.stack.error(s.handle.unwrap()),
        Some(ConnectionError::Reset)
    );
    // Further segments for the tuple now meet CLOSED: RST.
    s.inject(A, P + 1, s.i + 1, b"late");
    assert_eq!(s.out(), [(R, s.i + 1, 0, 0)]);
}

#[test]
fn fin_wait_1_state() {
    use State::*;
    let f = Script::fin_wait_1;
    case(
        "SYN: challenge ACK",
        f,
        syn_in_window,
        |s| vec![(A, s.i + 2, P + 1, 0)],
        Some(FinWait1),
    );
    case(
        "SYN,ACK: challenge ACK",
        f,
        |s| s.inject(S | A, P + 1, s.i + 1, b""),
        |s| vec![(A, s.i + 2, P + 1, 0)],
        Some(FinWait1),
    );
    case(
        "ACK of FIN: FIN-WAIT-2",
        f,
        |s| s.inject(A, P + 1, s.i + 2, b""),
        |_| vec![],
        Some(FinWait2),
    );
    case(
        "ACK not covering FIN: stays",
        f,
        |s| s.inject(A, P + 1, s.i + 1, b""),
        |_| vec![],
        Some(FinWait1),
    );
    case(
        "data still received after our FIN",
        f,
        |s| s.inject(A, P + 1, s.i + 1, b"late data"),
        |s| vec![(A, s.i + 2, P + 10, 0)],
        Some(FinWait1),
    );
    case(
        "FIN not acking ours: CLOSING",
        f,
        |s| s.inject(F | A, P + 1, s.i + 1, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(Closing),
    );
    case(
        "FIN,ACK acking ours: straight to TIME-WAIT",
        f,
        |s| s.inject(F | A, P + 1, s.i + 2, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(TimeWait),
    );
    case(
        "RST at RCV.NXT: CLOSED",
        f,
        |s| rst_exact(s, P + 1),
        |_| vec![],
        None,
    );
    case(
        "out-of-window: ACK",
        f,
        |s| s.inject(A, P + 400_000, s.i + 1, b"x"),
        |s| vec![(A, s.i + 2, P + 1, 0)],
        Some(FinWait1),
    );
}

fn syn_in_window(s: &mut Script) {
    s.inject(S, P + 1, 0, b"");
}

#[test]
fn fin_wait_2_state() {
    use State::*;
    let f = Script::fin_wait_2;
    case(
        "SYN: challenge ACK",
        f,
        syn_in_window,
        |s| vec![(A, s.i + 2, P + 1, 0)],
        Some(FinWait2),
    );
    case(
        "SYN,ACK: challenge ACK",
        f,
        |s| s.inject(S | A, P + 1, s.i + 2, b""),
        |s| vec![(A, s.i + 2, P + 1, 0)],
        Some(FinWait2),
    );
    case(
        "pure ACK: silence",
        f,
        |s| s.inject(A, P + 1, s.i + 2, b""),
        |_| vec![],
        Some(FinWait2),
    );
    case(
        "data still received (half-close)",
        f,
        |s| s.inject(A, P + 1, s.i + 2, b"more"),
        |s| vec![(A, s.i + 2, P + 5, 0)],
        Some(FinWait2),
    );
    case(
        "FIN: ACK and TIME-WAIT",
        f,
        |s| s.inject(F | A, P + 1, s.i + 2, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(TimeWait),
    );
    case(
        "RST at RCV.NXT: CLOSED",
        f,
        |s| rst_exact(s, P + 1),
        |_| vec![],
        None,
    );
    case(
        "out-of-window: ACK",
        f,
        |s| s.inject(A, P + 400_000, s.i + 2, b"x"),
        |s| vec![(A, s.i + 2, P + 1, 0)],
        Some(FinWait2),
    );
}

#[test]
fn close_wait_state() {
    use State::*;
    let c = Script::close_wait;
    case(
        "SYN: challenge ACK",
        c,
        |s| s.inject(S, P + 2, 0, b""),
        |s| vec![(A, s.i + 1, P + 2, 0)],
        Some(CloseWait),
    );
    case(
        "SYN,ACK: challenge ACK",
        c,
        |s| s.inject(S | A, P + 2, s.i + 1, b""),
        |s| vec![(A, s.i + 1, P + 2, 0)],
        Some(CloseWait),
    );
    case(
        "pure ACK: silence",
        c,
        |s| s.inject(A, P + 2, s.i + 1, b""),
        |_| vec![],
        Some(CloseWait),
    );
    case(
        "data after FIN is ignored but ACKed",
        c,
        |s| s.inject(A, P + 2, s.i + 1, b"bogus"),
        |s| vec![(A, s.i + 1, P + 2, 0)],
        Some(CloseWait),
    );
    case(
        "retransmitted FIN: ACK",
        c,
        |s| s.inject(F | A, P + 1, s.i + 1, b""),
        |s| vec![(A, s.i + 1, P + 2, 0)],
        Some(CloseWait),
    );
    case(
        "RST at RCV.NXT: CLOSED",
        c,
        |s| rst_exact(s, P + 2),
        |_| vec![],
        Some(Closed),
    );
    case(
        "out-of-window: ACK",
        c,
        |s| s.inject(A, P + 400_000, s.i + 1, b"x"),
        |s| vec![(A, s.i + 1, P + 2, 0)],
        Some(CloseWait),
    );
}

#[test]
fn closing_state() {
    use State::*;
    let c = Script::closing;
    case(
        "SYN: challenge ACK",
        c,
        |s| s.inject(S, P + 2, 0, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(Closing),
    );
    case(
        "SYN,ACK: challenge ACK",
        c,
        |s| s.inject(S | A, P + 2, s.i + 1, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(Closing),
    );
    case(
        "ACK of our FIN: TIME-WAIT",
        c,
        |s| s.inject(A, P + 2, s.i + 2, b""),
        |_| vec![],
        Some(TimeWait),
    );
    case(
        "data is ignored but ACKed",
        c,
        |s| s.inject(A, P + 2, s.i + 1, b"bogus"),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(Closing),
    );
    case(
        "retransmitted FIN: ACK",
        c,
        |s| s.inject(F | A, P + 1, s.i + 1, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(Closing),
    );
    case(
        "RST at RCV.NXT: CLOSED",
        c,
        |s| rst_exact(s, P + 2),
        |_| vec![],
        None,
    );
    case(
        "out-of-window: ACK",
        c,
        |s| s.inject(A, P + 400_000, s.i + 1, b"x"),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(Closing),
    );
}

#[test]
fn last_ack_state() {
    use State::*;
    let c = Script::last_ack;
    case(
        "SYN: challenge ACK",
        c,
        |s| s.inject(S, P + 2, 0, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(LastAck),
    );
    case(
        "SYN,ACK: challenge ACK",
        c,
        |s| s.inject(S | A, P + 2, s.i + 1, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(LastAck),
    );
    case(
        "ACK of our FIN: CLOSED and gone",
        c,
        |s| s.inject(A, P + 2, s.i + 2, b""),
        |_| vec![],
        None,
    );
    case(
        "ACK not covering FIN: stays",
        c,
        |s| s.inject(A, P + 2, s.i + 1, b""),
        |_| vec![],
        Some(LastAck),
    );
    case(
        "data is ignored but ACKed",
        c,
        |s| s.inject(A, P + 2, s.i + 1, b"bogus"),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(LastAck),
    );
    case(
        "retransmitted FIN: ACK",
        c,
        |s| s.inject(F | A, P + 1, s.i + 1, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(LastAck),
    );
    case(
        "RST at RCV.NXT: CLOSED",
        c,
        |s| rst_exact(s, P + 2),
        |_| vec![],
        None,
    );
    case(
        "out-of-window: ACK",
        c,
        |s| s.inject(A, P + 400_000, s.i + 1, b"x"),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(LastAck),
    );
}

#[test]
fn time_wait_state() {
    use State::*;
    let t = Script::time_wait;
    case(
        "old SYN: ACK, stays",
        t,
        |s| s.inject(S, P, 0, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(TimeWait),
    );
    case(
        "SYN,ACK: ACK",
        t,
        |s| s.inject(S | A, P + 2, s.i + 2, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(TimeWait),
    );
    case(
        "duplicate ACK: silence",
        t,
        |s| s.inject(A, P + 2, s.i + 2, b""),
        |_| vec![],
        Some(TimeWait),
    );
    case(
        "data: ACK",
        t,
        |s| s.inject(A, P + 2, s.i + 2, b"bogus"),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(TimeWait),
    );
    case(
        "retransmitted FIN: ACK",
        t,
        |s| s.inject(F | A, P + 1, s.i + 2, b""),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(TimeWait),
    );
    case(
        "RST at RCV.NXT: CLOSED",
        t,
        |s| rst_exact(s, P + 2),
        |_| vec![],
        None,
    );
    case(
        "RST elsewhere: ignored",
        t,
        |s| rst_exact(s, P + 90),
        |_| vec![],
        Some(TimeWait),
    );
    case(
        "out-of-window: ACK",
        t,
        |s| s.inject(A, P + 400_000, s.i + 2, b"x"),
        |s| vec![(A, s.i + 2, P + 2, 0)],
        Some(TimeWait),
    );
}

#[test]
fn time_wait_new_syn_with_higher_seq_reopens_the_tuple() {
    // RFC 9293 §3.6.1 / RFC 6191: a SYN beyond the old RCV.NXT starts a new incarnation.
    let mut s = Script::time_wait();
    s.inject(S, P + 100_000, 0, b"");
    let out = s.out();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].2), (S | A, P + 100_001));
    assert_eq!(s.state(), Some(State::SynReceived));
    assert_eq!(s.stack.counters().time_wait_reused, 1);
}

#[test]
fn time_wait_lasts_two_msl_and_fin_restarts_it() {
    let mut s = Script::time_wait();
    s.now += Duration::from_secs(30);
    s.stack.handle_timeout(s.now);
    s.inject(F | A, P + 1, s.i + 2, b"");
    assert_eq!(s.out(), [(A, s.i + 2, P + 2, 0)]);
    let restart = s.now;
    s.now = restart + Duration::from_secs(59);
    s.stack.handle_timeout(s.now);
    assert_eq!(
        s.state(),
        Some(State::TimeWait),
        "restarted timer still running"
    );
    assert_eq!(
        s.stack.poll_timeout(),
        Some(restart + Duration::from_secs(60))
    );
    s.now = restart + Duration::from_secs(60);
    s.stack.handle_timeout(s.now);
    assert_eq!(s.state(), None);
}

#[test]
fn time_wait_table_cap_skips_time_wait() {
    let tcp = TcpConfig {
        timestamps: false,
        sack: false,
        window_scaling: false,
        max_time_wait: 0,
        ..TcpConfig::default()
    };
    let mut s = Script::new();
    s.stack = Stack::new(
        StackConfig {
            tcp,
            ..StackConfig::from_seed(7)
        },
        &[US.parse().unwrap()],
    )
    .unwrap();
    s.listener = Some(s.stack.listen(s.local, 8).unwrap());
    s.inject(S, P, 0, b"");
    s.i = s.out()[0].1;
    s.inject(A, P + 1, s.i + 1, b"");
    let h = s.stack.accept(s.listener.unwrap()).unwrap();
    s.stack.close(h).unwrap();
    s.out();
    s.inject(F | A, P + 1, s.i + 2, b"");
    assert_eq!(s.out(), [(A, s.i + 2, P + 2, 0)], "final ACK still sent");
    assert_eq!(s.stack.time_wait_count(), 0);
    assert_eq!(s.stack.counters().time_wait_overflow, 1);
    assert_eq!(s.state(), None);
}

#[test]
fn syn_retransmits_with_backoff_then_times_out() {
    let mut s = Script::syn_sent();
    let mut times = vec![s.now];
    while let Some(t) = s.stack.poll_timeout() {
        s.now = t;
        s.stack.handle_timeout(t);
        let out = s.out();
        if out.is_empty() {
            break;
        }
        assert_eq!(out, [(S, s.i, 0, 0)]);
        times.push(t);
    }
    // 1 + 6 retries, RTO 1 s doubling: 1, 2, 4, 8, 16, 32 s gaps.
    let gaps: Vec<u64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(gaps, [1, 2, 4, 8, 16, 32]);
    assert_eq!(
        s.stack.error(s.handle.unwrap()),
        Some(ConnectionError::TimedOut)
    );
    assert_eq!(s.state(), Some(State::Closed));
}

#[test]
fn data_retransmits_on_rto_and_times_out() {
    let mut s = Script::established();
    let h = s.handle.unwrap();
    s.stack.send(h, b"payload").unwrap();
    assert_eq!(s.out(), [(A | TcpFlags::PSH, s.i + 1, P + 1, 7)]);
    let mut n = 0;
    while let Some(t) = s.stack.poll_timeout() {
        s.now = t;
        s.stack.handle_timeout(t);
        let out = s.out();
        if out.is_empty() {
            break;
        }
        assert_eq!(
            out,
            [(A | TcpFlags::PSH, s.i + 1, P + 1, 7)],
            "retransmission {n}"
        );
        n += 1;
    }
    assert_eq!(n, 15, "tcp_retries2 retransmissions");
    assert_eq!(s.stack.error(h), Some(ConnectionError::TimedOut));
}

#[test]
fn rst_reply_to_closed_port_reports_refused_and_abort_sends_rst() {
    let mut s = Script::established();
    let h = s.handle.unwrap();
    s.stack.abort(h).unwrap();
    assert_eq!(s.out(), [(R | A, s.i + 1, P + 1, 0)]);
    assert_eq!(s.stack.state(h), None, "handle released");
}

#[test]
fn challenge_acks_are_rate_limited() {
    let tcp = TcpConfig {
        timestamps: false,
        sack: false,
        window_scaling: false,
        challenge_ack_limit: 3,
        ..TcpConfig::default()
    };
    let mut s = Script::new();
    s.stack = Stack::new(
        StackConfig {
            tcp,
            ..StackConfig::from_seed(7)
        },
        &[US.parse().unwrap()],
    )
    .unwrap();
    s.listener = Some(s.stack.listen(s.local, 8).unwrap());
    s.inject(S, P, 0, b"");
    s.i = s.out()[0].1;
    s.inject(A, P + 1, s.i + 1, b"");
    // Each second's budget is random in [limit/2, 3·limit/2) = [1, 4).
    let mut per_second = Vec::new();
    for second in 0..20u32 {
        let mut acks = 0;
        for k in 0..10 {
            s.inject(R, P + 50 + k, 0, b"");
            acks += s.out().len();
        }
        assert!(
            (1..4).contains(&acks),
            "second {second}: {acks} challenge ACKs"
        );
        per_second.push(acks);
        s.now += Duration::from_secs(1);
    }
    let c = s.stack.counters();
    assert_eq!(c.challenge_acks + c.challenge_acks_suppressed, 200);
    assert!(
        per_second.iter().any(|&a| a != per_second[0]),
        "the budget varies: {per_second:?}"
    );
}

#[test]
fn an_orphan_in_fin_wait_2_gives_up_after_the_fin_timeout() {
    let mut s = Script::fin_wait_2();
    assert_eq!(s.state(), Some(State::FinWait2));
    // The peer never sends its FIN. After 60 s the orphan is dropped, silently.
    s.now += Duration::from_secs(59);
    s.stack.handle_timeout(s.now);
    assert_eq!(s.state(), Some(State::FinWait2));
    s.now += Duration::from_secs(1);
    s.stack.handle_timeout(s.now);
    assert_eq!(s.state(), None);
    assert!(s.out().is_empty());
    assert_eq!(s.stack.counters().fin_wait_2_timeouts, 1);
}

#[test]
fn a_half_closed_socket_the_application_still_holds_waits_in_fin_wait_2() {
    // shutdown(Write) is not close: the application may still read, so no timeout.
    let mut s = Script::established();
    let h = s.handle.unwrap();
    s.stack.shutdown(h, synack::Shutdown::Write).unwrap();
    s.out();
    s.inject(A, P + 1, s.i + 2, b"");
    assert_eq!(s.stack.state(h), Some(State::FinWait2));
    s.now += Duration::from_secs(600);
    s.stack.handle_timeout(s.now);
    assert_eq!(s.stack.state(h), Some(State::FinWait2));
}

/// In-order data is copied into the receive ring while its checksum is checked
/// (staged), and becomes readable only if the segment is then accepted: a bad
/// checksum, or a segment the state machine drops after the copy, leaves
/// nothing behind, and the good segment that follows reads back intact. Sizes
/// on both sides of the checksum's vector threshold.
#[test]
fn staged_payload_is_readable_only_once_its_segment_is_accepted() {
    for len in [5usize, 127, 128, 1000, 1460] {
        let mut s = Script::established();
        let h = s.handle.unwrap();
        let good: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        let junk = vec![0xeeu8; len];
        // Two bytes first, so that the good segment below can overlap them.
        s.inject(A, P + 1, s.i + 1, b"ab");
        assert_eq!(s.out(), [(A, s.i + 1, P + 3, 0)]);
        let mut r = [0u8; 2048];
        assert_eq!(s.stack.recv(h, &mut r), Ok(2));
        let _ = s.out(); // a window update, perhaps
                         // A bad checksum: the payload is damaged in flight.
        let hdr = TcpHeader {
            src_port: s.remote.port(),
            dst_port: s.local.port(),
            seq: SeqNum(P + 3),
            ack: SeqNum(s.i + 1),
            flags: A,
            window: 65535,
            ..TcpHeader::default()
        };
        let mut buf = [0u8; 2048];
        let n = wire::emit(s.remote.ip(), s.local.ip(), 64, &hdr, &junk, &mut buf).unwrap();
        buf[n - 1] ^= 0x10;
        s.stack.handle_packet(s.now, &buf[..n]);
        assert_eq!(
            s.stack.counters().parse_drop(wire::ParseError::BadChecksum),
            1
        );
        assert!(
            s.out().is_empty(),
            "len {len}: a damaged segment is dropped silently"
        );
        // Accepted by the checksum, then dropped by the state machine.
        s.inject(A, P + 3, s.i + 5000, &junk); // ACK of unsent data
        assert_eq!(s.out(), [(A, s.i + 1, P + 3, 0)], "len {len}");
        s.inject(TcpFlags::PSH, P + 3, 0, &junk); // no ACK bit
        assert!(s.out().is_empty());
        assert_eq!(
            s.stack.recv(h, &mut r),
            Err(synack::RecvError::WouldBlock),
            "len {len}"
        );
        // The good segment, overlapping the two bytes already read: it is not
        // staged (it does not start at RCV.NXT) but its data goes straight in.
        let mut seg = b"ab".to_vec();
        seg.extend_from_slice(&good);
        s.inject(A, P + 1, s.i + 1, &seg);
        assert_eq!(s.out(), [(A, s.i + 1, P + 3 + len as u32, 0)], "len {len}");
        let got = s.stack.recv(h, &mut r).unwrap();
        assert_eq!(&r[..got], &good[..], "len {len}");
    }
}
