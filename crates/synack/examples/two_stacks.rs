//! Two synack stacks joined by an in-memory wire: a handshake, a transfer and a
//! close, printing every segment and every state change.
//!
//! `cargo run -p synack --example two_stacks`

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack::{wire, Event, Instant, Stack, StackConfig};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const DELAY: Duration = Duration::from_millis(10);

struct World {
    hosts: [Stack; 2],
    wire: VecDeque<(Instant, usize, Vec<u8>)>,
    now: Instant,
}

impl World {
    fn pump(&mut self) {
        let mut buf = [0u8; 2048];
        for from in 0..2 {
            while let Some(n) = self.hosts[from].poll_transmit(self.now, &mut buf) {
                if let Ok(seg) = wire::parse(&buf[..n]) {
                    let arrow = if from == 0 {
                        "client ──▶ server"
                    } else {
                        "client ◀── server"
                    };
                    let t = &seg.tcp;
                    println!(
                        "{:>9.3} ms  {arrow}  {:<3} seq={} ack={} len={} win={}",
                        self.now.micros() as f64 / 1000.0,
                        t.flags.to_string(),
                        t.seq,
                        t.ack,
                        seg.payload.len(),
                        t.window
                    );
                }
                self.wire
                    .push_back((self.now + DELAY, 1 - from, buf[..n].to_vec()));
            }
            while let Some(ev) = self.hosts[from].poll_event() {
                if let Event::StateChanged {
                    at,
                    from: f,
                    to,
                    cause,
                    ..
                } = ev
                {
                    let who = if from == 0 { "client" } else { "server" };
                    println!(
                        "{:>9.3} ms  {who}: {f} → {to}  ({cause})",
                        at.micros() as f64 / 1000.0
                    );
                }
            }
        }
    }

    /// Runs until nothing happens before `until`.
    fn run(&mut self, until: Instant, mut app: impl FnMut(&mut Self)) {
        loop {
            app(self);
            self.pump();
            let next_timer = self.hosts.iter_mut().filter_map(Stack::poll_timeout).min();
            let next = [self.wire.front().map(|w| w.0), next_timer]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    if self.wire.front().is_some_and(|w| w.0 <= self.now) {
                        if let Some((_, to, pkt)) = self.wire.pop_front() {
                            self.hosts[to].handle_packet(self.now, &pkt);
                        }
                    }
                    for h in &mut self.hosts {
                        h.handle_timeout(self.now);
                    }
                }
                _ => return,
            }
        }
    }
}

fn main() {
    let client = Stack::new(StackConfig::from_seed(1), &[CLIENT]).expect("valid config");
    let server = Stack::new(StackConfig::from_seed(2), &[SERVER]).expect("valid config");
    let mut w = World {
        hosts: [client, server],
        wire: VecDeque::new(),
        now: Instant::ZERO,
    };
    let listener = w.hosts[1]
        .listen(SocketAddr::new(SERVER, 80), 8)
        .expect("listen");
    let conn = w.hosts[0]
        .connect(SocketAddr::new(SERVER, 80), None)
        .expect("connect");
    // Data queued in SYN-SENT goes out with the handshake's final ACK.
    w.hosts[0].send(conn, b"hello, synack").expect("send");
    let mut client_closed = false;
    let mut accepted = None;
    let mut received = Vec::new();
    let mut closed = false;
    w.run(Instant::from_secs(120), |w| {
        if !client_closed && w.hosts[0].state(conn) == Some(synack::State::Established) {
            w.hosts[0].close(conn).expect("close");
            client_closed = true;
        }
        if accepted.is_none() {
            accepted = w.hosts[1].accept(listener).ok();
        }
        if let (Some(s), false) = (accepted, closed) {
            let mut buf = [0u8; 256];
            while let Ok(n) = w.hosts[1].recv(s, &mut buf) {
                if n == 0 {
                    // EOF: the client's FIN arrived. Close our side too.
                    w.hosts[1].close(s).expect("close");
                    closed = true;
                    break;
                }
                received.extend_from_slice(&buf[..n]);
            }
        }
    });
    println!("server received {:?}", String::from_utf8_lossy(&received));
}
