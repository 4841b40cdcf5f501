//! A two-host harness for TCP experiments: a client and a server stack joined by
//! one link, a handshake, and a bulk transfer of a position-dependent pattern
//! verified byte by byte on arrival. Tests, examples and benchmarks share it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack::{Instant, SocketHandle, Stack, StackConfig, State, TcpConfig};

use crate::{HostId, LinkConfig, LinkId, Sim};

/// The client's address.
pub const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
/// The server's address (it listens on port 80).
pub const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// A client and a server stack on one link.
#[derive(Debug)]
pub struct Net {
    /// The simulator.
    pub sim: Sim<Stack>,
    /// The client host.
    pub client: HostId,
    /// The server host.
    pub server: HostId,
    /// The link between them (client→server is `Direction::AtoB`).
    pub link: LinkId,
}

/// Two stacks with the given configurations, joined by a link with `ab` from
/// client to server and `ba` back. Everything derives from `seed`.
pub fn net(seed: u64, ab: LinkConfig, ba: LinkConfig, ccfg: TcpConfig, scfg: TcpConfig) -> Net {
    let mut sim = Sim::new(seed);
    let c = Stack::new(
        StackConfig {
            tcp: ccfg,
            ..StackConfig::from_seed(seed ^ 0xc1)
        },
        &[CLIENT],
    )
    .unwrap();
    let s = Stack::new(
        StackConfig {
            tcp: scfg,
            ..StackConfig::from_seed(seed ^ 0x5e)
        },
        &[SERVER],
    )
    .unwrap();
    let client = sim.add_host("client", c, &[CLIENT]);
    let server = sim.add_host("server", s, &[SERVER]);
    let link = sim.connect(client, server, ab, ba);
    Net {
        sim,
        client,
        server,
        link,
    }
}

/// Byte `i` of the test stream: cheap, position-dependent, so reordering or
/// duplication inside the stream would show.
pub fn pattern_byte(i: u64) -> u8 {
    (i ^ (i >> 8) ^ (i >> 17)).wrapping_mul(0x9d) as u8
}

/// What a bulk transfer achieved.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Bytes the server read.
    pub delivered: u64,
    /// Whether every byte read matched the pattern.
    pub intact: bool,
    /// When the client queued its first byte.
    pub first_data: Option<Instant>,
    /// When half the bytes had been read.
    pub half_at: Option<Instant>,
    /// When the last byte was read.
    pub done_at: Option<Instant>,
    /// The most bytes waiting in the server's receive queue.
    pub max_recv_queue: usize,
}

impl Outcome {
    /// Goodput from the first byte queued to the last byte read, in bit/s.
    pub fn goodput_bps(&self) -> Option<f64> {
        let secs = (self.done_at? - self.first_data?).as_secs_f64();
        (secs > 0.0).then(|| self.delivered as f64 * 8.0 / secs)
    }
}

impl Net {
    /// Listens on the server, connects from the client; returns (client, server)
    /// handles once both are ESTABLISHED.
    ///
    /// # Panics
    /// If the handshake does not complete within 60 s of virtual time.
    pub fn connect(&mut self) -> (SocketHandle, SocketHandle) {
        let l = self
            .sim
            .host_mut(self.server)
            .listen(SocketAddr::new(SERVER, 80), 16)
            .unwrap();
        let c = self
            .sim
            .host_mut(self.client)
            .connect(SocketAddr::new(SERVER, 80), None)
            .unwrap();
        let mut s = None;
        let limit = self.sim.now() + Duration::from_secs(60);
        while s.is_none() || self.sim.host(self.client).state(c) != Some(State::Established) {
            assert!(
                self.sim.step() && self.sim.now() < limit,
                "handshake did not complete (seed={})",
                self.sim.seed()
            );
            if s.is_none() {
                s = self.sim.host_mut(self.server).accept(l).ok();
            }
        }
        (c, s.unwrap())
    }

    /// Sends `bytes` of the pattern from client to server, the server reading as it
    /// arrives unless `read_from` says not yet; then the client shuts down writing.
    /// Stops at `limit` of virtual time or when the network goes idle.
    ///
    /// # Panics
    /// If a socket call fails.
    pub fn bulk(
        &mut self,
        c: SocketHandle,
        s: SocketHandle,
        bytes: u64,
        limit: Duration,
        read_from: Instant,
    ) -> Outcome {
        self.bulk_with(c, s, bytes, limit, read_from, |_| {})
    }

    /// [`Net::bulk`], calling `hook` with the simulator before every step (to
    /// inject packets, change links, ...).
    ///
    /// # Panics
    /// If a socket call fails.
    pub fn bulk_with(
        &mut self,
        c: SocketHandle,
        s: SocketHandle,
        bytes: u64,
        limit: Duration,
        read_from: Instant,
        mut hook: impl FnMut(&mut Sim<Stack>),
    ) -> Outcome {
        let end = self.sim.now() + limit;
        let mut out = Outcome {
            intact: true,
            ..Outcome::default()
        };
        let mut sent = 0u64;
        let mut chunk = vec![0u8; 256 * 1024];
        let mut rbuf = vec![0u8; 256 * 1024];
        let mut closed = false;
        loop {
            // Client: keep the send buffer full.
            let cap = self.sim.host(self.client).send_capacity(c);
            if sent < bytes && cap > 0 {
                let n = cap
                    .min(chunk.len())
                    .min(usize::try_from(bytes - sent).unwrap());
                for (k, b) in chunk[..n].iter_mut().enumerate() {
                    *b = pattern_byte(sent + k as u64);
                }
                let took = self.sim.host_mut(self.client).send(c, &chunk[..n]).unwrap();
                sent += took as u64;
                out.first_data.get_or_insert(self.sim.now());
            } else if sent == bytes && !closed {
                self.sim
                    .host_mut(self.client)
                    .shutdown(c, synack::Shutdown::Write)
                    .unwrap();
                closed = true;
            }
            // Server: read and check.
            let q = self.sim.host(self.server).recv_queue(s);
            out.max_recv_queue = out.max_recv_queue.max(q);
            if self.sim.now() >= read_from && q > 0 {
                let n = self.sim.host_mut(self.server).recv(s, &mut rbuf).unwrap();
                for (k, &b) in rbuf[..n].iter().enumerate() {
                    if b != pattern_byte(out.delivered + k as u64) {
                        out.intact = false;
                    }
                }
                out.delivered += n as u64;
                if out.half_at.is_none() && out.delivered >= bytes / 2 {
                    out.half_at = Some(self.sim.now());
                }
                if out.delivered == bytes {
                    out.done_at = Some(self.sim.now());
                    return out;
                }
            }
            hook(&mut self.sim);
            if self.sim.now() > end || !self.sim.step() {
                return out;
            }
        }
    }
}
