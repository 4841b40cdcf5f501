//! The `stack_input` target: a whole [`Stack`] fed arbitrary packets in every
//! state.
//!
//! # Input layout
//!
//! - byte 0: the state the connection under test ("main") is driven to by a
//!   fixed script before any fuzz input is used: [`TARGETS`] indexed by
//!   `byte % 10` (LISTEN, SYN-SENT, SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1,
//!   FIN-WAIT-2, CLOSE-WAIT, LAST-ACK, CLOSING, TIME-WAIT);
//! - byte 1: the set-up variant, bit by bit (see [`Variant`]): options
//!   (timestamps, SACK, window scaling) on or off, data exchanged and left in
//!   flight, `close()` instead of `shutdown(Write)` (an orphan), the peer's ISS
//!   just below the 2^32 wrap, a small receive buffer, Nagle off, CUBIC, a
//!   small MSS;
//! - then operations, one selector byte each ([`Harness::op`]): a segment built
//!   from fields (sequence and acknowledgment numbers relative to what the stack
//!   expects, flags, window, options, SACK blocks, a payload), a raw TCP header
//!   with its checksum fixed, a raw IP packet, time advancing with
//!   `handle_timeout`, and application calls (`recv`, `send`, `shutdown`,
//!   `close`, `abort`, `accept`, buffer and option setters, `connect`).
//!
//! # Invariants checked from outside
//!
//! - Never a panic (the core's `debug_assert!`s are on in fuzz builds).
//! - Every packet the stack emits parses, comes from our address, and any data
//!   in it is exactly the application's bytes at that sequence number, never
//!   past what the application wrote.
//! - `recv` returns exactly the peer's bytes at consecutive sequence numbers
//!   from IRS + 1 (the peer's payload byte at sequence `s` is always
//!   [`peer_byte`]`(s)`), never more than the peer ever sent, and nothing after
//!   end of stream.
//! - A handle the application holds stays valid until it closes or aborts it.
//! - `handle_timeout(now)` settles: the stack does not keep asking to be woken
//!   at `now` (a driver would spin).
//! - At the end, after accepting everything and running every timer with no
//!   more input (hours of virtual time): no timer is left, nothing the
//!   application let go of remains, and the connections it holds are idle
//!   (ESTABLISHED/CLOSE-WAIT with nothing unacknowledged, FIN-WAIT-2, or
//!   CLOSED).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack::tcp::congestion::Algorithm;
use synack::wire::{self, checksum, SackBlock, TcpFlags, TcpHeader, TcpOptions, Timestamps};
use synack::{
    Instant, RecvError, SendError, SeqNum, Shutdown, SocketHandle, Stack, StackConfig, State,
    TcpConfig,
};

use crate::input::Input;

/// The stack's address.
pub const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The played peer's address.
pub const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The listener's port.
pub const LISTEN_PORT: u16 = 80;
/// The peer's port on the main connection.
pub const PEER_PORT: u16 = 40_000;
/// Our port when the main connection is opened actively (SYN-SENT).
pub const ACTIVE_PORT: u16 = 40_001;

/// The states byte 0 selects.
pub const TARGETS: [State; 10] = [
    State::Listen,
    State::SynSent,
    State::SynReceived,
    State::Established,
    State::FinWait1,
    State::FinWait2,
    State::CloseWait,
    State::LastAck,
    State::Closing,
    State::TimeWait,
];

/// Byte of the peer's stream at sequence number `s`: every copy of a byte, in
/// any segment, carries the same value, so delivered data can be checked
/// without knowing which segment it came in.
pub fn peer_byte(s: u32) -> u8 {
    (s.wrapping_mul(0x9e37_79b1) >> 24) as u8 ^ s as u8
}

/// Byte `k` of what the application writes on any connection.
pub fn app_byte(k: u64) -> u8 {
    (k ^ (k >> 8) ^ (k >> 17)).wrapping_mul(0x9d) as u8
}

fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The set-up variant (byte 1).
#[derive(Clone, Copy, Debug)]
pub struct Variant(pub u8);

impl Variant {
    /// Timestamps, SACK and window scaling on (else all off).
    pub fn options(self) -> bool {
        self.0 & 1 != 0
    }
    /// Data both ways during set-up, and some left unacknowledged.
    pub fn data(self) -> bool {
        self.0 & 2 != 0
    }
    /// Reach the FIN states with `close()` (an orphan) instead of `shutdown`.
    pub fn close(self) -> bool {
        self.0 & 4 != 0
    }
    /// The peer's ISS just below the 2^32 wrap.
    pub fn wrap(self) -> bool {
        self.0 & 8 != 0
    }
    /// A 4 KiB receive buffer without auto-tuning (zero windows come quickly).
    pub fn small_buffer(self) -> bool {
        self.0 & 16 != 0
    }
    /// TCP_NODELAY.
    pub fn nodelay(self) -> bool {
        self.0 & 32 != 0
    }
    /// CUBIC instead of the default.
    pub fn cubic(self) -> bool {
        self.0 & 64 != 0
    }
    /// MSS 536.
    pub fn small_mss(self) -> bool {
        self.0 & 128 != 0
    }

    fn config(self) -> TcpConfig {
        let mut c = TcpConfig {
            timestamps: self.options(),
            sack: self.options(),
            window_scaling: self.options(),
            nodelay: self.nodelay(),
            // Every payload that may be kept in its packet is (see `inject`).
            keep_payload_min: 1,
            ..TcpConfig::default()
        };
        if self.small_buffer() {
            c.recv_buffer = 4096;
            c.auto_tune = false;
        }
        if self.cubic() {
            c.congestion = Algorithm::Cubic;
        }
        if self.small_mss() {
            c.mss = 536;
        }
        c
    }

    fn peer_iss(self) -> u32 {
        if self.wrap() {
            0xffff_fe00
        } else {
            1_000_000
        }
    }
}

/// (local, remote) of a connection.
type Tuple = (SocketAddr, SocketAddr);

/// One incarnation of a connection (a 4-tuple may be reused).
#[derive(Debug, Default)]
struct Inc {
    /// Our ISS, from the SYN or SYN-ACK we sent.
    iss: Option<u32>,
    /// The peer's ISS, once known.
    irs: Option<u32>,
    /// Bytes the application wrote.
    app_sent: u64,
    /// Bytes `recv` returned.
    received: u64,
    /// `recv` returned end of stream.
    eof: bool,
}

/// What the played peer knows of one 4-tuple.
#[derive(Debug, Default, Clone, Copy)]
struct Peer {
    /// The peer's next sequence number.
    nxt: u32,
    /// The last acknowledgment number the peer sent.
    acked: Option<u32>,
    /// The last acknowledgment number the stack sent (its RCV.NXT).
    stack_ack: Option<u32>,
    /// One past the highest sequence number the stack sent.
    stack_max: Option<u32>,
    /// The stack's last TSval.
    stack_ts: u32,
    /// Sequence number of the last SYN injected.
    syn_seq: Option<u32>,
}

/// The stack under test, the peer we play, and what the checks need to know.
pub struct Harness {
    stack: Stack,
    now: Instant,
    variant: Variant,
    listener: SocketHandle,
    main_tuple: Tuple,
    main: Option<SocketHandle>,
    /// Handles the application holds.
    held: Vec<SocketHandle>,
    incs: Vec<Inc>,
    /// The latest incarnation of each tuple.
    current: BTreeMap<Tuple, usize>,
    /// Handle → its incarnation, fixed when the handle is first seen.
    linked: BTreeMap<SocketHandle, usize>,
    /// Tuple → the handle the stack lists for it, as of the last step.
    handle_of: BTreeMap<Tuple, SocketHandle>,
    peers: BTreeMap<Tuple, Peer>,
    /// Tuples in the order first used (for the fuzz input to pick from).
    tuples: Vec<Tuple>,
    peer_ts: u32,
    /// Payload bytes injected in total.
    injected: u64,
    buf: Vec<u8>,
    pkt: Vec<u8>,
    connects: u16,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("now", &self.now)
            .field("variant", &self.variant)
            .field("main", &self.main)
            .field("sockets", &self.stack.sockets())
            .finish_non_exhaustive()
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut r = Input::new(data);
    let target = TARGETS[usize::from(r.u8()) % TARGETS.len()];
    let variant = Variant(r.u8());
    let mut h = Harness::reach(target, variant);
    let mut ops = 0;
    while !r.is_empty() && ops < 2000 {
        ops += 1;
        h.op(&mut r);
    }
    h.finish();
}

impl Harness {
    fn new(variant: Variant) -> Self {
        let cfg = StackConfig {
            tcp: variant.config(),
            ..StackConfig::from_seed(u64::from(variant.0))
        };
        let mut stack = Stack::new(cfg, &[IpAddr::V4(US)]).expect("valid config");
        let listen = SocketAddr::new(IpAddr::V4(US), LISTEN_PORT);
        let listener = stack.listen(listen, 8).expect("listen");
        let main_tuple = (listen, SocketAddr::new(IpAddr::V4(THEM), PEER_PORT));
        Self {
            stack,
            now: Instant::from_secs(1),
            variant,
            listener,
            main_tuple,
            main: None,
            held: Vec::new(),
            incs: Vec::new(),
            current: BTreeMap::new(),
            linked: BTreeMap::new(),
            handle_of: BTreeMap::new(),
            peers: BTreeMap::new(),
            tuples: Vec::new(),
            peer_ts: 7_000,
            injected: 0,
            buf: vec![0u8; 65_536],
            pkt: vec![0u8; 70_000],
            connects: 0,
        }
    }

    /// Drives the main connection to `target` with a fixed script.
    ///
    /// # Panics
    /// If the script does not reach the state (a harness or stack bug, found by
    /// the replay test for every state × variant).
    pub fn reach(target: State, variant: Variant) -> Self {
        let mut h = Self::new(variant);
        h.script(target);
        let got = h.main_state();
        let want = if target == State::Listen {
            None
        } else {
            Some(target)
        };
        assert_eq!(
            got, want,
            "set-up to {target} with {variant:?} failed: {h:?}"
        );
        h
    }

    fn script(&mut self, target: State) {
        if target == State::Listen {
            return;
        }
        if target == State::SynSent {
            let local = SocketAddr::new(IpAddr::V4(US), ACTIVE_PORT);
            let remote = SocketAddr::new(IpAddr::V4(THEM), PEER_PORT);
            self.main_tuple = (local, remote);
            let h = self.stack.connect(remote, Some(local)).expect("connect");
            self.main = Some(h);
            self.held.push(h);
            self.peer_mut(self.main_tuple).nxt = self.variant.peer_iss();
            self.after_op(None);
            return;
        }
        let t = self.main_tuple;
        let iss = self.variant.peer_iss();
        self.peer_mut(t).nxt = iss;
        let syn_opts = self.syn_options();
        self.send_scripted(TcpFlags::SYN, None, syn_opts, 0);
        if target == State::SynReceived {
            return;
        }
        let ack = self.peer(t).stack_max;
        self.send_scripted(TcpFlags::ACK, ack, TcpOptions::default(), 0);
        let h = self.stack.accept(self.listener).expect("accept");
        self.held.push(h);
        self.main = Some(h);
        self.after_op(None);
        if self.variant.nodelay() {
            let _ = self.stack.set_nodelay(h, true);
        }
        if self.variant.data() {
            // Both ways, all acknowledged, all read...
            self.app_send(h, 3000);
            let ack = self.peer(t).stack_max;
            self.send_scripted(
                TcpFlags::ACK | TcpFlags::PSH,
                ack,
                TcpOptions::default(),
                700,
            );
            self.ack_all();
            self.app_recv(h, 65_536);
            // ...then some left in flight.
            self.app_send(h, 2000);
        }
        match target {
            State::Established => {}
            State::CloseWait | State::LastAck => {
                // FIN, acknowledging only what was acknowledged before.
                let ack = self.peer(t).acked.or(self.peer(t).stack_max);
                self.send_scripted(TcpFlags::FIN | TcpFlags::ACK, ack, TcpOptions::default(), 0);
                if target == State::LastAck {
                    self.app_recv(h, 65_536);
                    self.app_close_write(h);
                }
            }
            _ => {
                // FIN-WAIT-1 and the states after it.
                self.app_close_write(h);
                match target {
                    State::FinWait1 => {}
                    State::Closing => {
                        let ack = self.peer(t).acked.or(self.peer(t).stack_max);
                        self.send_scripted(
                            TcpFlags::FIN | TcpFlags::ACK,
                            ack,
                            TcpOptions::default(),
                            0,
                        );
                    }
                    State::FinWait2 | State::TimeWait => {
                        self.ack_all();
                        if target == State::TimeWait {
                            let ack = self.peer(t).stack_max;
                            self.send_scripted(
                                TcpFlags::FIN | TcpFlags::ACK,
                                ack,
                                TcpOptions::default(),
                                0,
                            );
                        }
                    }
                    _ => unreachable!("not a target: {target}"),
                }
            }
        }
    }

    fn syn_options(&self) -> TcpOptions {
        let mut o = TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        };
        if self.variant.options() {
            o.window_scale = Some(7);
            o.sack_permitted = true;
        }
        o
    }

    /// Shuts down writing on the main connection, or closes it, per the variant.
    fn app_close_write(&mut self, h: SocketHandle) {
        if self.variant.close() {
            self.stack.close(h).expect("close");
            self.held.retain(|&x| x != h);
            self.main = None;
        } else {
            self.stack.shutdown(h, Shutdown::Write).expect("shutdown");
        }
        self.after_op(None);
    }

    /// The peer acknowledges everything the stack sent, until the stack has
    /// nothing more to send (Nagle may hold a tail until an ACK).
    fn ack_all(&mut self) {
        let t = self.main_tuple;
        for _ in 0..32 {
            let p = self.peer(t);
            if p.stack_max.is_none() || p.acked == p.stack_max {
                break;
            }
            self.send_scripted(TcpFlags::ACK, p.stack_max, TcpOptions::default(), 0);
        }
    }

    /// A well-formed segment from the peer on the main tuple at its next
    /// sequence number; advances the peer.
    fn send_scripted(&mut self, flags: TcpFlags, ack: Option<u32>, opts: TcpOptions, len: usize) {
        let t = self.main_tuple;
        let p = self.peer(t);
        let mut flags = flags;
        if ack.is_some() {
            flags |= TcpFlags::ACK;
        }
        let mut hdr = TcpHeader {
            src_port: t.1.port(),
            dst_port: t.0.port(),
            seq: SeqNum(p.nxt),
            ack: SeqNum(ack.unwrap_or(0)),
            flags,
            window: 65_535,
            urgent: 0,
            options: opts,
        };
        if self.variant.options() {
            hdr.options.timestamps = Some(self.next_ts(t));
        }
        self.inject_segment(t, &hdr, len, true);
        self.after_op(None);
    }

    fn next_ts(&mut self, t: Tuple) -> Timestamps {
        self.peer_ts = self
            .peer_ts
            .max((self.now.millis() as u32).wrapping_add(7_000))
            .wrapping_add(1);
        Timestamps {
            val: self.peer_ts,
            ecr: self.peer(t).stack_ts,
        }
    }

    fn peer(&self, t: Tuple) -> Peer {
        self.peers.get(&t).copied().unwrap_or_default()
    }

    fn peer_mut(&mut self, t: Tuple) -> &mut Peer {
        if !self.peers.contains_key(&t) {
            self.tuples.push(t);
        }
        self.peers.entry(t).or_default()
    }

    /// State of the main connection, found by tuple (the handle may be gone).
    fn main_state(&self) -> Option<State> {
        if let Some(h) = self.main {
            return self.stack.state(h);
        }
        self.stack
            .sockets()
            .iter()
            .find(|s| s.local == self.main_tuple.0 && s.remote == Some(self.main_tuple.1))
            .map(|s| s.state)
    }

    // ---- injecting ----

    /// Emits `hdr` with `len` payload bytes of the peer's pattern (from tuple
    /// `t`'s remote to its local address) and hands it to the stack.
    fn inject_segment(&mut self, t: Tuple, hdr: &TcpHeader, len: usize, advance: bool) {
        let data_seq = hdr.seq.0.wrapping_add(u32::from(hdr.flags.syn()));
        let payload: Vec<u8> = (0..len as u32)
            .map(|k| peer_byte(data_seq.wrapping_add(k)))
            .collect();
        let Ok(n) = wire::emit(t.1.ip(), t.0.ip(), 64, hdr, &payload, &mut self.pkt) else {
            return; // options too long: nothing to send
        };
        if hdr.flags.syn() {
            self.peer_mut(t).syn_seq = Some(hdr.seq.0);
        }
        let p = self.peer_mut(t);
        if hdr.flags.ack() {
            p.acked = Some(hdr.ack.0);
        }
        if advance {
            p.nxt = hdr.seq.0.wrapping_add(hdr.seq_len(len) as u32);
        }
        self.injected += len as u64;
        if std::env::var_os("SYNACK_FUZZ_TRACE").is_some() {
            eprintln!(
                "{} in  {}->{} {} seq={} ack={} win={} len={len} {:?}",
                self.now, t.1, t.0, hdr.flags, hdr.seq.0, hdr.ack.0, hdr.window, hdr.options
            );
        }
        self.stack.prefetch(&self.pkt[..n]);
        if self.injected.is_multiple_of(2) {
            // Half the segments in a buffer of their own, which the stack may
            // keep and let the application read in place.
            let back = self
                .stack
                .handle_packet_owned(self.now, self.pkt[..n].to_vec(), n);
            drop(back);
            while self.stack.reclaim_buffer().is_some() {}
        } else {
            let pkt = std::mem::take(&mut self.pkt);
            self.stack.handle_packet(self.now, &pkt[..n]);
            self.pkt = pkt;
        }
    }

    /// Hands the stack raw bytes; if they parse, keeps the peer's books.
    fn inject_raw(&mut self, bytes: &[u8]) {
        if let Ok(seg) = wire::parse(bytes) {
            let t = (
                SocketAddr::new(seg.dst, seg.tcp.dst_port),
                SocketAddr::new(seg.src, seg.tcp.src_port),
            );
            if seg.tcp.flags.syn() {
                self.peer_mut(t).syn_seq = Some(seg.tcp.seq.0);
            }
            self.injected += seg.payload.len() as u64;
        }
        // The prefetch hint takes any bytes and changes nothing.
        self.stack.prefetch(bytes);
        self.stack.handle_packet(self.now, bytes);
    }

    // ---- after every step ----

    /// Drains output and events, links new handles, learns the IRS of an
    /// actively opened connection, and checks held handles.
    fn after_op(&mut self, syn_sent_before: Option<(SocketHandle, Tuple)>) {
        self.drain();
        while self.stack.poll_event().is_some() {}
        self.handle_of.clear();
        for s in self.stack.sockets() {
            let (Some(h), Some(remote)) = (s.handle, s.remote) else {
                continue;
            };
            // A reset socket the application still holds keeps its 4-tuple in
            // the list beside the connection that reused the tuple: the live
            // one is the one whose segments go out.
            if s.state != State::Closed || !self.handle_of.contains_key(&(s.local, remote)) {
                self.handle_of.insert((s.local, remote), h);
            }
            if self.linked.contains_key(&h) {
                continue;
            }
            let t = (s.local, remote);
            let inc = self.current_inc(t);
            self.linked.insert(h, inc);
        }
        if let Some((h, t)) = syn_sent_before {
            let st = self.stack.state(h);
            if !matches!(st, Some(State::SynSent | State::Closed) | None) {
                // Left SYN-SENT on this packet: it carried the SYN that set IRS.
                if let (Some(&i), Some(seq)) = (self.linked.get(&h), self.peer(t).syn_seq) {
                    if self.incs[i].irs.is_none() {
                        self.incs[i].irs = Some(seq);
                    }
                }
            }
        }
        for &h in &self.held {
            assert!(
                self.stack.state(h).is_some(),
                "a handle the application holds went stale: {h:?}"
            );
        }
    }

    fn current_inc(&mut self, t: Tuple) -> usize {
        if let Some(&i) = self.current.get(&t) {
            return i;
        }
        self.incs.push(Inc::default());
        let i = self.incs.len() - 1;
        self.current.insert(t, i);
        i
    }

    /// Sends everything the stack wants to send into the void, checking each
    /// packet and keeping the peer's books.
    fn drain(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        let mut count = 0;
        while let Some(n) = self.stack.poll_transmit(self.now, &mut buf) {
            count += 1;
            assert!(count < 100_000, "poll_transmit never returns None");
            assert!(n <= buf.len(), "length past the buffer");
            self.check_out(&buf[..n]);
        }
        self.buf = buf;
    }

    fn check_out(&mut self, pkt: &[u8]) {
        let seg =
            wire::parse(pkt).unwrap_or_else(|e| panic!("stack emitted an invalid packet: {e}"));
        assert_eq!(seg.src, IpAddr::V4(US), "packet from an address not ours");
        let t = (
            SocketAddr::new(seg.src, seg.tcp.src_port),
            SocketAddr::new(seg.dst, seg.tcp.dst_port),
        );
        let hdr = seg.tcp;
        if std::env::var_os("SYNACK_FUZZ_TRACE").is_some() {
            eprintln!(
                "{} out {}->{} {} seq={} ack={} win={} len={} {:?}",
                self.now,
                t.0,
                t.1,
                hdr.flags,
                hdr.seq.0,
                hdr.ack.0,
                hdr.window,
                seg.payload.len(),
                hdr.options
            );
        }
        if hdr.flags.syn() {
            // A SYN or SYN-ACK with a new ISS is a new incarnation; so is a
            // SYN-ACK with the same ISS acknowledging another IRS (a new
            // connection on the same 4-tuple at the same instant gets the same
            // RFC 6528 ISN: the clock part has not moved).
            let irs = hdr.flags.ack().then(|| hdr.ack.0.wrapping_sub(1));
            let same = self.current.get(&t).is_some_and(|&i| {
                self.incs[i].iss == Some(hdr.seq.0)
                    && (irs.is_none() || self.incs[i].irs.is_none() || self.incs[i].irs == irs)
            });
            if !same {
                let fresh = match self.current.get(&t) {
                    // A handle seen before its SYN (connect) already has one.
                    Some(&i) if self.incs[i].iss.is_none() => i,
                    _ => {
                        self.incs.push(Inc::default());
                        self.incs.len() - 1
                    }
                };
                self.incs[fresh].iss = Some(hdr.seq.0);
                self.incs[fresh].irs = irs;
                self.current.insert(t, fresh);
            }
        }
        let p = self.peer_mut(t);
        if hdr.flags.ack() {
            p.stack_ack = Some(hdr.ack.0);
        }
        if let Some(ts) = hdr.options.timestamps {
            p.stack_ts = ts.val;
        }
        let end = hdr
            .seq
            .0
            .wrapping_add(hdr.seq_len(seg.payload.len()) as u32);
        if !hdr.flags.rst() && p.stack_max.is_none_or(|m| seq_gt(end, m)) {
            p.stack_max = Some(end);
        }
        if seg.payload.is_empty() {
            return;
        }
        assert!(!hdr.flags.rst(), "RST with data");
        // RFC 6691: "the sender MUST reduce the TCP data length to account for any
        // IP or TCP options that it is including in the packets that it sends":
        // data plus options fit the MSS (TcpInfo's MSS already has the timestamps
        // option taken off).
        if let Some(info) = self.handle_of.get(&t).and_then(|&h| self.stack.info(h)) {
            let options = hdr.header_len() - wire::TCP_HEADER_LEN;
            let ts = if info.timestamps { 12 } else { 0 };
            assert!(
                seg.payload.len() + options <= usize::from(info.mss) + ts,
                "{} data bytes + {options} option bytes exceed the MSS {} (+{ts} for timestamps)",
                seg.payload.len(),
                info.mss
            );
        }
        let inc = self.current.get(&t).map(|&i| &self.incs[i]);
        let Some(Inc {
            iss: Some(iss),
            app_sent,
            ..
        }) = inc
        else {
            panic!("data on a connection the application never wrote to: {t:?}");
        };
        let first = hdr.seq.0.wrapping_add(u32::from(hdr.flags.syn()));
        let off = u64::from(first.wrapping_sub(iss.wrapping_add(1)));
        let len = seg.payload.len() as u64;
        assert!(
            off + len <= *app_sent,
            "sent bytes [{off}, {}) past the {app_sent} the application wrote",
            off + len
        );
        for (k, &b) in seg.payload.iter().enumerate() {
            assert_eq!(
                b,
                app_byte(off + k as u64),
                "sent byte {} corrupted",
                off + k as u64
            );
        }
    }

    // ---- application ----

    fn app_send(&mut self, h: SocketHandle, n: usize) {
        let Some(&i) = self.linked.get(&h) else {
            return;
        };
        let from = self.incs[i].app_sent;
        let data: Vec<u8> = (0..n as u64).map(|k| app_byte(from + k)).collect();
        match self.stack.send(h, &data) {
            Ok(took) => {
                assert!(took <= n);
                self.incs[i].app_sent += took as u64;
            }
            Err(SendError::InvalidHandle) => panic!("send: held handle invalid"),
            Err(_) => {}
        }
        self.after_op(None);
    }

    fn app_recv(&mut self, h: SocketHandle, n: usize) {
        let mut buf = vec![0u8; n.max(1)];
        let Some(&i) = self.linked.get(&h) else {
            return;
        };
        match self.stack.recv(h, &mut buf) {
            Ok(0) => self.incs[i].eof = true,
            Ok(got) => {
                let inc = &mut self.incs[i];
                assert!(!inc.eof, "data after end of stream");
                assert!(got <= buf.len());
                inc.received += got as u64;
                assert!(
                    inc.received <= self.injected,
                    "received {} bytes, more than the {} ever sent",
                    inc.received,
                    self.injected
                );
                if let Some(irs) = inc.irs {
                    let start = inc.received - got as u64;
                    for (k, &b) in buf[..got].iter().enumerate() {
                        let s = irs.wrapping_add(1).wrapping_add((start + k as u64) as u32);
                        assert_eq!(
                            b,
                            peer_byte(s),
                            "received byte {} (seq {s}) is not the peer's",
                            start + k as u64
                        );
                    }
                }
            }
            Err(RecvError::InvalidHandle) => panic!("recv: held handle invalid"),
            Err(_) => {}
        }
        self.after_op(None);
    }

    /// A held handle picked by `sel` (the main one if any, most of the time).
    fn pick(&self, sel: u8) -> Option<SocketHandle> {
        if self.held.is_empty() {
            return None;
        }
        match self.main {
            Some(m) if sel < 192 => Some(m),
            _ => Some(self.held[usize::from(sel) % self.held.len()]),
        }
    }

    fn let_go(&mut self, h: SocketHandle) {
        self.held.retain(|&x| x != h);
        if self.main == Some(h) {
            self.main = None;
        }
    }

    // ---- fuzz operations ----

    /// One operation from the input.
    pub fn op(&mut self, r: &mut Input<'_>) {
        match r.u8() % 16 {
            0..=5 => self.op_segment(r),
            6 => self.op_raw_tcp(r),
            7 => {
                let bytes = r.chunk().to_vec();
                self.inject_raw(&bytes);
                self.after_op(None);
            }
            8 => {
                let ms = u64::from(r.u16());
                self.advance(Duration::from_millis(ms));
            }
            9 => {
                let us = u64::from(r.u8()) * 500;
                self.advance(Duration::from_micros(us));
            }
            10 => {
                if let Some(t) = self.stack.poll_timeout() {
                    if t <= self.now + Duration::from_secs(3600) {
                        self.now = self.now.max(t);
                        self.fire_timers();
                    }
                }
            }
            11 => {
                let (sel, n) = (r.u8(), usize::from(r.u16()) + 1);
                if let Some(h) = self.pick(sel) {
                    self.app_recv(h, n);
                }
            }
            12 => {
                let (sel, n) = (r.u8(), usize::from(r.u16()));
                if let Some(h) = self.pick(sel) {
                    self.app_send(h, n);
                }
            }
            13 => self.op_close(r),
            14 => self.op_misc(r),
            _ => self.op_connect(r),
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.fire_timers();
    }

    /// `handle_timeout(now)` until nothing is due at `now`.
    fn fire_timers(&mut self) {
        for round in 0.. {
            assert!(
                round < 1000,
                "handle_timeout({}) keeps asking to be called again at once",
                self.now
            );
            self.stack.handle_timeout(self.now);
            self.after_op(None);
            match self.stack.poll_timeout() {
                Some(t) if t <= self.now => {}
                _ => break,
            }
        }
    }

    /// A segment built from fields, relative to what the stack expects.
    fn op_segment(&mut self, r: &mut Input<'_>) {
        let sel = r.u8();
        let t = if sel < 176 || self.tuples.is_empty() {
            self.main_tuple
        } else {
            let k = usize::from(sel) % (self.tuples.len() + 4);
            match self.tuples.get(k) {
                Some(&t) => t,
                None => (
                    SocketAddr::new(IpAddr::V4(US), LISTEN_PORT),
                    SocketAddr::new(IpAddr::V4(THEM), PEER_PORT + 2 + k as u16),
                ),
            }
        };
        let p = self.peer(t);
        let flags = TcpFlags(r.u8());
        let mode = r.u8();
        let base = p.stack_ack.unwrap_or(p.nxt);
        let seq = match mode & 3 {
            0 => base.wrapping_add(i32::from(r.u8() as i8) as u32),
            1 => base.wrapping_add(i32::from(r.u16() as i16) as u32),
            2 => r.u32(),
            _ => base.wrapping_add(u32::from(r.u16()) << 4),
        };
        let acked = p.stack_max.unwrap_or(0);
        let ack = match (mode >> 2) & 3 {
            0 => acked,
            1 => acked.wrapping_add(i32::from(r.u8() as i8) as u32),
            2 => acked.wrapping_add(i32::from(r.u16() as i16) as u32),
            _ => r.u32(),
        };
        let window = match (mode >> 4) & 3 {
            0 => 65_535,
            1 => 0,
            2 => r.u16(),
            _ => u16::from(r.u8()),
        };
        let advance = mode & 0x40 != 0;
        let o = r.u8();
        let mut opts = TcpOptions::default();
        // Timestamps: normal when negotiated, unless bit 0 flips that (absent
        // when negotiated, or present when not, with a fuzzed value).
        let normal_ts = self.variant.options() != (o & 1 != 0);
        if normal_ts {
            opts.timestamps = Some(self.next_ts(t));
        } else if o & 1 != 0 {
            opts.timestamps = Some(Timestamps {
                val: r.u32(),
                ecr: r.u32(),
            });
        }
        if o & 2 != 0 {
            opts.mss = Some(r.u16());
        }
        if o & 4 != 0 {
            opts.window_scale = Some(r.u8());
        }
        opts.sack_permitted = o & 8 != 0;
        let blocks = (o >> 4) % 5;
        let sack_base = p.acked.unwrap_or(acked);
        for _ in 0..blocks {
            let (left, right) = if o & 0x80 != 0 && r.u8() & 1 != 0 {
                (r.u32(), r.u32())
            } else {
                let l = sack_base.wrapping_add(u32::from(r.u16()));
                (l, l.wrapping_add(u32::from(r.u16())))
            };
            opts.push_sack(SackBlock {
                left: SeqNum(left),
                right: SeqNum(right),
            });
        }
        let len = usize::from(r.u8()) * 8;
        let hdr = TcpHeader {
            src_port: t.1.port(),
            dst_port: t.0.port(),
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags,
            window,
            urgent: if flags.contains(TcpFlags::URG) {
                r.u16()
            } else {
                0
            },
            options: opts,
        };
        let main_syn_sent = self
            .main
            .filter(|&h| self.stack.state(h) == Some(State::SynSent))
            .map(|h| (h, self.main_tuple));
        self.inject_segment(t, &hdr, len, advance);
        self.after_op(main_syn_sent);
    }

    /// A TCP header and payload straight from the input, from the peer's
    /// address, with the checksum made right (so it reaches the TCP code) and
    /// the payload set to the peer's pattern.
    fn op_raw_tcp(&mut self, r: &mut Input<'_>) {
        let ctl = r.u8();
        let len = usize::from(r.u16() % 1600);
        let mut seg = r.bytes(len).to_vec();
        if seg.len() < 20 {
            seg.resize(20, 0);
        }
        if ctl & 1 != 0 {
            // The main tuple's ports.
            let t = self.main_tuple;
            seg[0..2].copy_from_slice(&t.1.port().to_be_bytes());
            seg[2..4].copy_from_slice(&t.0.port().to_be_bytes());
        }
        let doff = usize::from(seg[12] >> 4) * 4;
        if doff >= 20 && doff <= seg.len() {
            let seq = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
            let data_seq = seq.wrapping_add(u32::from(seg[13] & 2 != 0));
            for (k, b) in seg[doff..].iter_mut().enumerate() {
                *b = peer_byte(data_seq.wrapping_add(k as u32));
            }
        }
        seg[16] = 0;
        seg[17] = 0;
        let (src, dst) = (IpAddr::V4(THEM), IpAddr::V4(US));
        let pseudo = checksum::pseudo_header(&src, &dst, wire::IP_PROTO_TCP, seg.len() as u32);
        let c = checksum::fold(checksum::sum(&seg, pseudo));
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        let mut pkt = vec![0u8; 20 + seg.len()];
        if wire::ipv4::emit_header(THEM, US, wire::IP_PROTO_TCP, 64, seg.len(), &mut pkt).is_err() {
            return;
        }
        pkt[20..].copy_from_slice(&seg);
        let main_syn_sent = self
            .main
            .filter(|&h| self.stack.state(h) == Some(State::SynSent))
            .map(|h| (h, self.main_tuple));
        self.inject_raw(&pkt);
        self.after_op(main_syn_sent);
    }

    fn op_close(&mut self, r: &mut Input<'_>) {
        let (how, sel) = (r.u8(), r.u8());
        let Some(h) = self.pick(sel) else {
            return;
        };
        match how % 6 {
            0 => {
                let _ = self.stack.shutdown(h, Shutdown::Write);
            }
            1 => {
                let _ = self.stack.shutdown(h, Shutdown::Read);
            }
            2 => {
                let _ = self.stack.shutdown(h, Shutdown::Both);
            }
            3 | 4 => {
                self.stack.close(h).expect("close of a held handle");
                self.let_go(h);
                assert_eq!(self.stack.state(h), None, "handle still valid after close");
            }
            _ => {
                self.stack.abort(h).expect("abort of a held handle");
                self.let_go(h);
                assert_eq!(self.stack.state(h), None, "handle still valid after abort");
            }
        }
        self.after_op(None);
    }

    fn op_misc(&mut self, r: &mut Input<'_>) {
        let (what, sel, v) = (r.u8(), r.u8(), r.u16());
        match what % 6 {
            0 | 1 => {
                if let Ok(h) = self.stack.accept(self.listener) {
                    self.held.push(h);
                    if self.main.is_none() && self.stack.addrs(h) == Some(self.main_tuple) {
                        self.main = Some(h);
                    }
                }
            }
            2 => {
                if let Some(h) = self.pick(sel) {
                    let _ = self.stack.set_recv_buffer(h, usize::from(v) * 16);
                }
            }
            3 => {
                if let Some(h) = self.pick(sel) {
                    let _ = self.stack.set_send_buffer(h, usize::from(v) * 16);
                }
            }
            4 => {
                if let Some(h) = self.pick(sel) {
                    let _ = self.stack.set_nodelay(h, v & 1 != 0);
                }
            }
            _ => {
                if let Some(h) = self.pick(sel) {
                    let _ = self
                        .stack
                        .set_linger(h, (v & 1 != 0).then_some(Duration::ZERO));
                }
            }
        }
        self.after_op(None);
    }

    fn op_connect(&mut self, r: &mut Input<'_>) {
        let port = 50_000 + u16::from(r.u8() % 8);
        if self.connects >= 16 {
            return;
        }
        self.connects += 1;
        let remote = SocketAddr::new(IpAddr::V4(THEM), port);
        if let Ok(h) = self.stack.connect(remote, None) {
            self.held.push(h);
            if let Some((l, rem)) = self.stack.addrs(h) {
                self.peer_mut((l, rem)).nxt = r.u32();
            }
        }
        self.after_op(None);
    }

    // ---- the end ----

    /// Accepts everything, runs every timer with no more input, and checks that
    /// nothing is left that should have ended.
    pub fn finish(&mut self) {
        while let Ok(h) = self.stack.accept(self.listener) {
            self.held.push(h);
        }
        self.after_op(None);
        let limit = self.now + Duration::from_secs(24 * 3600);
        let mut rounds = 0;
        while let Some(t) = self.stack.poll_timeout() {
            rounds += 1;
            assert!(
                t <= limit && rounds < 100_000,
                "timers never quiesce without input: next at {t}, {rounds} rounds; {self:?}"
            );
            self.now = self.now.max(t);
            self.stack.handle_timeout(self.now);
            self.after_op(None);
        }
        let usage = self.stack.usage();
        assert_eq!(
            usage,
            self.stack.recount_usage(),
            "the stack's running totals (buffered bytes, orphans) drifted from a recount"
        );
        for s in self.stack.sockets() {
            if s.state == State::Listen {
                continue;
            }
            let held = s.handle.is_some_and(|h| self.held.contains(&h));
            assert!(
                held,
                "a connection nobody holds is still {} after all timers: {s:?}",
                s.state
            );
            let idle = match s.state {
                State::Closed | State::FinWait2 => true,
                State::Established | State::CloseWait => s.send_queue == 0,
                _ => false,
            };
            assert!(
                idle,
                "a held connection is {} with {} bytes unacknowledged after all timers: {s:?}",
                s.state, s.send_queue
            );
        }
    }
}
