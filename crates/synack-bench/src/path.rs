//! One full-sized segment through two connected stacks, for the criterion bench of
//! the per-segment path and for profiling: the application writes one MSS, the
//! sender emits it, the receiver takes it in and the application reads it, and
//! whatever the receiver answers (an ACK every second segment) goes back.

use std::net::{IpAddr, SocketAddr};

use smoltcp::iface::SocketHandle as SmolHandle;
use smoltcp::socket::tcp;
use synack::{SocketHandle, StackConfig};

use crate::bulk::{smol_socket, A_IP, B_IP};
use crate::link::{drive, App, Clock, Pipe, RunError, Side, SmolSide, SynSide};

const PORT: u16 = 5002;
const BUFFER: usize = 256 << 10;
/// Bytes before a pair is replaced by a fresh one: synack stops sending once 2 GiB
/// have been acknowledged (`syn_acked()` compares SND.UNA with ISS in wrapping
/// sequence space), so neither rival gets that far.
const BYTES_PER_CONNECTION: u64 = 1 << 30;

/// Timer jumps one step may take (smoltcp's first segments wait for its delayed ACK).
const MAX_TIMER_JUMPS: usize = 8;

/// What an event loop does after each wakeup: asks when to wake next, and runs
/// timers already due.
fn due<S: Side>(a: &mut S, b: &mut S, clock: Clock) {
    if a.next_timer(clock).is_some_and(|t| t <= clock.0) {
        a.on_timer(clock);
    }
    if b.next_timer(clock).is_some_and(|t| t <= clock.0) {
        b.on_timer(clock);
    }
}

/// Nothing moved: run the clock to the earliest timer of either side.
fn jump<S: Side>(a: &mut S, b: &mut S, clock: &mut Clock) {
    let next = match (a.next_timer(*clock), b.next_timer(*clock)) {
        (Some(x), Some(y)) => x.min(y),
        (x, y) => x.or(y).unwrap_or(clock.0),
    };
    clock.0 = clock.0.max(next);
    a.on_timer(*clock);
    b.on_timer(*clock);
}

/// Two connected synack stacks.
#[derive(Debug)]
pub struct SynPath {
    a: SynSide,
    b: SynSide,
    client: SocketHandle,
    server: SocketHandle,
    links: (Pipe, Pipe),
    clock: Clock,
    data: Vec<u8>,
    rbuf: Vec<u8>,
    mtu: usize,
    bytes: u64,
}

struct Accept(SocketHandle, Option<SocketHandle>);

impl App<SynSide, SynSide> for Accept {
    fn on_a(&mut self, _a: &mut SynSide) -> Result<bool, RunError> {
        Ok(false)
    }

    fn on_b(&mut self, b: &mut SynSide) -> Result<bool, RunError> {
        self.1 = self.1.or_else(|| b.stack.accept(self.0).ok());
        Ok(self.1.is_some())
    }

    fn done(&self) -> bool {
        self.1.is_some()
    }
}

impl SynPath {
    /// A connected pair on a link of `mtu` bytes.
    ///
    /// # Panics
    /// If the handshake fails (a bug in synack).
    pub fn new(mtu: usize) -> Self {
        let cfg = |seed| {
            let mut c = StackConfig::from_seed(seed);
            c.tcp.mss = u16::try_from(mtu - 40).unwrap_or(u16::MAX);
            c.tcp.send_buffer = BUFFER;
            c.tcp.recv_buffer = BUFFER;
            c.tcp.auto_tune = false;
            c
        };
        let (a_ip, b_ip) = (IpAddr::V4(A_IP), IpAddr::V4(B_IP));
        let mut a = SynSide::new(cfg(1), &[a_ip]);
        let mut b = SynSide::new(cfg(2), &[b_ip]);
        let l = b
            .stack
            .listen(SocketAddr::new(b_ip, PORT), 4)
            .expect("listen");
        let client = a
            .stack
            .connect(SocketAddr::new(b_ip, PORT), None)
            .expect("connect");
        let mut links = (Pipe::new(mtu), Pipe::new(mtu));
        let mut clock = Clock::default();
        let mut app = Accept(l, None);
        drive(&mut a, &mut b, &mut links, &mut clock, &mut app).expect("handshake");
        let mss = a
            .stack
            .info(client)
            .map_or(mtu - 40, |i| usize::from(i.mss));
        Self {
            a,
            b,
            client,
            server: app.1.expect("accepted"),
            links,
            clock,
            data: vec![0x5a; mss],
            rbuf: vec![0; mss],
            mtu,
            bytes: 0,
        }
    }

    /// Moves one segment; returns the bytes read by the receiver.
    pub fn step(&mut self) -> usize {
        self.bytes += self.data.len() as u64;
        if self.bytes > BYTES_PER_CONNECTION {
            *self = Self::new(self.mtu);
        }
        let (ab, ba) = &mut self.links;
        let _ = self.a.stack.send(self.client, &self.data);
        for _ in 0..MAX_TIMER_JUMPS {
            self.a.egress(ba, ab, self.clock);
            self.b.ingress(ab, ba, &mut self.clock);
            let got = self.b.stack.recv(self.server, &mut self.rbuf).unwrap_or(0);
            self.b.egress(ab, ba, self.clock);
            self.a.ingress(ba, ab, &mut self.clock);
            due(&mut self.a, &mut self.b, self.clock);
            if got > 0 {
                return got;
            }
            jump(&mut self.a, &mut self.b, &mut self.clock);
        }
        0
    }
}

/// Two connected smoltcp interfaces.
#[derive(Debug)]
pub struct SmolPath {
    a: SmolSide,
    b: SmolSide,
    client: SmolHandle,
    server: SmolHandle,
    links: (Pipe, Pipe),
    clock: Clock,
    data: Vec<u8>,
    rbuf: Vec<u8>,
    mtu: usize,
    bytes: u64,
}

struct Up(SmolHandle, bool);

impl App<SmolSide, SmolSide> for Up {
    fn on_a(&mut self, _a: &mut SmolSide) -> Result<bool, RunError> {
        Ok(false)
    }

    fn on_b(&mut self, b: &mut SmolSide) -> Result<bool, RunError> {
        self.1 = b.sockets.get::<tcp::Socket>(self.0).state() == tcp::State::Established;
        Ok(false)
    }

    fn done(&self) -> bool {
        self.1
    }
}

impl SmolPath {
    /// A connected pair on a link of `mtu` bytes.
    ///
    /// # Panics
    /// If the handshake fails.
    pub fn new(mtu: usize) -> Self {
        let mut a = SmolSide::new(A_IP, mtu, 1);
        let mut b = SmolSide::new(B_IP, mtu, 2);
        let client = a.sockets.add(smol_socket(BUFFER));
        let mut s = smol_socket(BUFFER);
        s.listen(PORT).expect("listen");
        let server = b.sockets.add(s);
        let o = B_IP.octets();
        let remote = (smoltcp::wire::IpAddress::v4(o[0], o[1], o[2], o[3]), PORT);
        let cx = a.iface.context();
        a.sockets
            .get_mut::<tcp::Socket>(client)
            .connect(cx, remote, 49153)
            .expect("connect");
        let mut links = (Pipe::new(mtu), Pipe::new(mtu));
        let mut clock = Clock::default();
        drive(
            &mut a,
            &mut b,
            &mut links,
            &mut clock,
            &mut Up(server, false),
        )
        .expect("handshake");
        Self {
            a,
            b,
            client,
            server,
            links,
            clock,
            data: vec![0x5a; mtu - 40],
            rbuf: vec![0; mtu - 40],
            mtu,
            bytes: 0,
        }
    }

    /// Moves one segment; returns the bytes read by the receiver.
    pub fn step(&mut self) -> usize {
        self.bytes += self.data.len() as u64;
        if self.bytes > BYTES_PER_CONNECTION {
            *self = Self::new(self.mtu);
        }
        let (ab, ba) = &mut self.links;
        let s = self.a.sockets.get_mut::<tcp::Socket>(self.client);
        let _ = s.send_slice(&self.data);
        for _ in 0..MAX_TIMER_JUMPS {
            self.a.egress(ba, ab, self.clock);
            self.b.ingress(ab, ba, &mut self.clock);
            let s = self.b.sockets.get_mut::<tcp::Socket>(self.server);
            let got = s.recv_slice(&mut self.rbuf).unwrap_or(0);
            self.b.egress(ab, ba, self.clock);
            self.a.ingress(ba, ab, &mut self.clock);
            due(&mut self.a, &mut self.b, self.clock);
            if got > 0 {
                return got;
            }
            jump(&mut self.a, &mut self.b, &mut self.clock);
        }
        0
    }
}
