//! The world a scenario runs in: a client and a server stack joined by one link,
//! stepped event by event so that application calls happen between steps, with
//! every segment and state change recorded in causal order.

use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use synack::{Instant, Phase, SocketHandle, Stack, StackConfig, TcpConfig, TcpInfo};
use synack_sim::{HostId, LinkConfig, Loss, PcapWriter, Sim};

use crate::cli::SimOptions;
use crate::data::Flow;
use crate::record::{Recorder, Side};
use crate::units::format_duration;

/// Why a run stopped early.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The scenario's outcome was not as expected (exit 1).
    Failed(String),
    /// Output could not be written, or the set-up was impossible (exit 2).
    Io(String),
}

/// The result of a scenario step.
pub(crate) type RunResult<T> = Result<T, RunError>;

/// Fails the scenario with `reason`.
pub(crate) fn fail<T>(reason: impl Into<String>) -> RunResult<T> {
    Err(RunError::Failed(reason.into()))
}

/// Fails the scenario with the message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return $crate::world::fail(format!($($msg)+));
        }
    };
}
pub(crate) use ensure;

/// The server's listening port.
pub(crate) const SERVER_PORT: u16 = 80;
/// Steps any run may take before it is declared stuck.
const BASE_STEP_LIMIT: u64 = 5_000_000;

/// Two stacks, one link, a recorder.
pub(crate) struct World<'a> {
    pub(crate) sim: Sim<Stack>,
    pub(crate) client: HostId,
    pub(crate) server: HostId,
    pub(crate) client_ip: IpAddr,
    pub(crate) server_ip: IpAddr,
    pub(crate) rec: Recorder<'a>,
    pub(crate) flow: Flow,
    /// The latest details of the watched client connection.
    pub(crate) info: Option<TcpInfo>,
    /// The watched connection's congestion window and RTT over time, if kept
    /// (for the HTML report).
    pub(crate) samples: Option<Vec<InfoSample>>,
    /// The congestion-control phases the watched connection went through.
    pub(crate) phases: PhaseTally,
    /// The client connection whose details the summary shows.
    watched: Option<(SocketAddr, SocketAddr, SocketHandle)>,
    /// 2·MSL, the TIME-WAIT duration.
    pub(crate) two_msl: Duration,
    /// No random impairment: scenarios check exact state sequences.
    pub(crate) strict: bool,
    pcap: Option<PcapWriter<BufWriter<File>>>,
    pcap_error: Option<String>,
    steps: u64,
    max_steps: u64,
    progress: Option<ProgressBar>,
}

impl std::fmt::Debug for World<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.sim.now())
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

/// The watched client connection's congestion state at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InfoSample {
    pub(crate) t_us: u64,
    pub(crate) cwnd: usize,
    pub(crate) ssthresh: usize,
    pub(crate) srtt_us: Option<u64>,
    pub(crate) rto_us: u64,
    pub(crate) phase: Phase,
}

/// How often the watched connection entered each congestion-control phase, and
/// when first (µs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PhaseTally {
    pub(crate) last: Option<Phase>,
    pub(crate) entered: [u64; 4],
    pub(crate) first_us: [Option<u64>; 4],
}

impl PhaseTally {
    fn index(p: Phase) -> usize {
        Phase::ALL.iter().position(|&q| q == p).unwrap_or(0)
    }

    fn note(&mut self, p: Phase, t_us: u64) {
        if self.last == Some(p) {
            return;
        }
        self.last = Some(p);
        let k = Self::index(p);
        self.entered[k] += 1;
        self.first_us[k].get_or_insert(t_us);
    }

    /// Times `p` was entered.
    pub(crate) fn count(&self, p: Phase) -> u64 {
        self.entered[Self::index(p)]
    }

    /// When `p` was first entered (µs).
    pub(crate) fn first(&self, p: Phase) -> Option<u64> {
        self.first_us[Self::index(p)]
    }
}

/// Samples kept at most; later changes are dropped (the chart says so).
const MAX_SAMPLES: usize = 200_000;

/// The link configuration both directions get.
pub(crate) fn link_config(o: &SimOptions) -> LinkConfig {
    let a = &o.args;
    let mut cfg = LinkConfig::default()
        .delay(a.delay)
        .jitter(a.jitter.unwrap_or(Duration::ZERO))
        .reorder(a.reorder.unwrap_or(0.0))
        .duplicate(a.duplicate.unwrap_or(0.0))
        .corrupt(a.corrupt.unwrap_or(0.0))
        .mtu(usize::try_from(a.mtu).unwrap_or(usize::MAX));
    if let Some(p) = a.loss.filter(|&p| p > 0.0) {
        cfg = cfg.loss(Loss::Bernoulli(p));
    }
    if let Some(r) = a.rate {
        cfg = cfg.rate(r, usize::try_from(a.queue).unwrap_or(usize::MAX));
    }
    cfg
}

/// The TCP configuration both stacks get.
pub(crate) fn tcp_config(o: &SimOptions) -> TcpConfig {
    TcpConfig {
        congestion: o.args.cc,
        // The MTU minus 20 bytes of IPv4 and 20 of TCP (the core takes 20 more
        // for IPv6).
        mss: u16::try_from(o.args.mtu.saturating_sub(40)).unwrap_or(u16::MAX),
        ..TcpConfig::default()
    }
}

/// Whether the link has no random impairment and no rate limit.
fn is_perfect(o: &SimOptions) -> bool {
    let a = &o.args;
    let zero = |p: Option<f64>| p.unwrap_or(0.0) == 0.0;
    zero(a.loss)
        && zero(a.reorder)
        && zero(a.duplicate)
        && zero(a.corrupt)
        && a.jitter.unwrap_or(Duration::ZERO).is_zero()
        && a.rate.is_none()
}

/// A seed for one stack, derived from the run's seed (SplitMix64).
fn derive_seed(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl<'a> World<'a> {
    /// Builds the two hosts and the link.
    ///
    /// # Errors
    /// [`RunError::Io`] for a configuration the stack or simulator rejects.
    pub(crate) fn new(
        o: &SimOptions,
        rec: Recorder<'a>,
        pcap: Option<PcapWriter<BufWriter<File>>>,
    ) -> RunResult<Self> {
        let (client_ip, server_ip) = if o.args.ipv6 {
            (
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            )
        };
        let tcp = tcp_config(o);
        let two_msl = tcp.msl * 2;
        let mut server_tcp = tcp.clone();
        crate::scenarios::tune_server(o.args.scenario, &mut server_tcp);
        let stack = |n: u64, ip: IpAddr| {
            let mut cfg = StackConfig::from_seed(derive_seed(o.args.seed, n));
            cfg.tcp = if n == 2 {
                server_tcp.clone()
            } else {
                tcp.clone()
            };
            Stack::new(cfg, &[ip]).map_err(|e| RunError::Io(format!("stack configuration: {e}")))
        };
        let mut sim = Sim::new(o.args.seed);
        let bad = |e: synack_sim::ConfigError| RunError::Io(format!("network configuration: {e}"));
        let client = sim
            .try_add_host("client", stack(1, client_ip)?, &[client_ip])
            .map_err(bad)?;
        let server = sim
            .try_add_host("server", stack(2, server_ip)?, &[server_ip])
            .map_err(bad)?;
        let link = link_config(o);
        sim.try_connect(client, server, link.clone(), link)
            .map_err(bad)?;
        let max_steps = BASE_STEP_LIMIT + o.bytes / 64;
        let progress = (o.progress && o.bytes >= 4 << 20).then(|| {
            let bar = ProgressBar::with_draw_target(Some(o.bytes), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{bar:40}] {bytes}/{total_bytes} delivered  {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Ok(Self {
            sim,
            client,
            server,
            client_ip,
            server_ip,
            rec,
            flow: Flow::default(),
            info: None,
            samples: None,
            phases: PhaseTally::default(),
            watched: None,
            two_msl,
            strict: is_perfect(o),
            pcap,
            pcap_error: None,
            steps: 0,
            max_steps,
            progress,
        })
    }

    /// The virtual time.
    pub(crate) fn now(&self) -> Instant {
        self.sim.now()
    }

    /// The server's listening address.
    pub(crate) fn server_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.server_ip, port)
    }

    /// The client's address with `port`.
    pub(crate) fn client_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.client_ip, port)
    }

    fn host(&self, side: Side) -> HostId {
        match side {
            Side::Client => self.client,
            Side::Server => self.server,
        }
    }

    /// A stack, to read from.
    pub(crate) fn stack(&self, side: Side) -> &Stack {
        self.sim.host(self.host(side))
    }

    /// A stack, for an application call now. Its clock is brought up to the
    /// virtual time first, so the call's events carry the right time.
    pub(crate) fn app(&mut self, side: Side) -> &mut Stack {
        // Record what earlier calls did first, so events keep the calls' order.
        self.collect();
        let now = self.sim.now();
        let stack = self.sim.host_mut(self.host(side));
        stack.handle_timeout(now);
        stack
    }

    /// Follows the client connection `h` so the summary can show its RTT and
    /// window, as they were last seen before it ended.
    pub(crate) fn watch_first(&mut self, h: SocketHandle) {
        if self.watched.is_some() || self.info.is_some() {
            return;
        }
        if let Some((local, remote)) = self.stack(Side::Client).addrs(h) {
            self.watched = Some((local, remote, h));
            self.refresh_info();
        }
    }

    fn refresh_info(&mut self) {
        let Some((local, remote, h)) = self.watched else {
            return;
        };
        let stack = self.sim.host(self.client);
        if let Some(info) = stack.info(h) {
            self.info = Some(info);
            self.sample();
            return;
        }
        // Closing gives the connection a fresh handle; find it by its addresses.
        let again = stack
            .sockets()
            .into_iter()
            .find(|s| {
                s.local == local && s.remote == Some(remote) && s.state != synack::State::TimeWait
            })
            .and_then(|s| s.handle);
        let info = again.and_then(|h| stack.info(h));
        self.watched = again.map(|h| (local, remote, h));
        if info.is_some() {
            self.info = info;
            self.sample();
        }
    }

    /// Keeps the watched connection's congestion window and RTT over time.
    pub(crate) fn keep_samples(&mut self) {
        self.samples.get_or_insert_with(Vec::new);
    }

    /// Appends the latest details to the samples if they changed.
    fn sample(&mut self) {
        if let Some(i) = self.info.as_ref() {
            self.phases.note(i.phase, self.sim.now().micros());
        }
        let (Some(samples), Some(i)) = (self.samples.as_mut(), self.info.as_ref()) else {
            return;
        };
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let s = InfoSample {
            t_us: self.sim.now().micros(),
            cwnd: i.cwnd,
            ssthresh: i.ssthresh,
            srtt_us: i.srtt.map(micros),
            rto_us: micros(i.rto),
            phase: i.phase,
        };
        let changed = samples.last().is_none_or(|l| {
            (l.cwnd, l.ssthresh, l.srtt_us, l.rto_us, l.phase)
                != (s.cwnd, s.ssthresh, s.srtt_us, s.rto_us, s.phase)
        });
        if changed && samples.len() < MAX_SAMPLES {
            samples.push(s);
        }
    }

    /// Records every event and packet since the last call.
    fn collect(&mut self) {
        for side in [Side::Client, Side::Server] {
            let id = self.host(side);
            let stack = self.sim.host_mut(id);
            while let Some(ev) = stack.poll_event() {
                self.rec.on_event(side, &ev);
            }
        }
        let trace = self.sim.take_trace();
        for r in &trace {
            let side = if r.from == self.client {
                Side::Client
            } else {
                Side::Server
            };
            if let (Some(w), Some(_)) = (self.pcap.as_mut(), r.hop) {
                if let Err(e) = w.write_packet(r.t, &r.bytes) {
                    self.pcap = None;
                    self.pcap_error = Some(e.to_string());
                }
            }
            self.rec.on_packet(side, r);
        }
    }

    /// Processes the next event if it comes no later than `limit`; false when
    /// there is none.
    pub(crate) fn step_until(&mut self, limit: Instant) -> RunResult<bool> {
        self.collect();
        let next = self.sim.next_event_time();
        self.collect();
        match next {
            Some(t) if t <= limit => {}
            _ => return Ok(false),
        }
        self.sim.step();
        self.collect();
        self.refresh_info();
        self.steps += 1;
        if self.steps >= self.max_steps {
            return fail(format!(
                "still running after {} steps (t={})",
                self.steps,
                self.now()
            ));
        }
        if let Some(e) = self.rec.take_io_error() {
            return Err(RunError::Io(format!("cannot write output: {e}")));
        }
        if self.steps.is_multiple_of(4096) {
            if let Some(bar) = &self.progress {
                bar.set_position(self.flow.delivered);
                bar.set_message(format!(
                    "t={}",
                    format_duration(Duration::from_micros(self.now().micros()))
                ));
            }
        }
        Ok(true)
    }

    /// Steps until `cond` holds (it runs before every step and may make
    /// application calls), failing after `limit` of virtual time or when the
    /// network goes idle first.
    pub(crate) fn until(
        &mut self,
        limit: Duration,
        what: &str,
        mut cond: impl FnMut(&mut Self) -> RunResult<bool>,
    ) -> RunResult<()> {
        let deadline = self.deadline(limit);
        loop {
            if cond(self)? {
                self.collect();
                return Ok(());
            }
            if !self.step_until(deadline)? {
                return if self.sim.next_event_time().is_none() {
                    fail(format!(
                        "the network went idle at t={} waiting for {what}",
                        self.now()
                    ))
                } else {
                    fail(format!(
                        "waited {} of virtual time for {what} (t={})",
                        format_duration(limit),
                        self.now()
                    ))
                };
            }
        }
    }

    /// Lets `d` of virtual time pass, processing every event in it.
    pub(crate) fn wait(&mut self, d: Duration) -> RunResult<()> {
        let target = self.deadline(d);
        while self.step_until(target)? {}
        self.sim
            .run_until(target)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        self.collect();
        Ok(())
    }

    /// Lets `d` of virtual time pass, calling `act` (application calls) before
    /// every step.
    pub(crate) fn run_for(
        &mut self,
        d: Duration,
        mut act: impl FnMut(&mut Self) -> RunResult<()>,
    ) -> RunResult<()> {
        let target = self.deadline(d);
        loop {
            act(self)?;
            if !self.step_until(target)? {
                break;
            }
        }
        self.sim
            .run_until(target)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        self.collect();
        Ok(())
    }

    /// Runs until nothing is left to do (every timer, TIME-WAIT included, has
    /// run out), failing if that takes more than `limit` of virtual time.
    pub(crate) fn settle(&mut self, limit: Duration, what: &str) -> RunResult<()> {
        let deadline = self.deadline(limit);
        while self.step_until(deadline)? {}
        if let Some(t) = self.sim.next_event_time() {
            return fail(format!(
                "still busy at t={} (next event at {t}) waiting for {what}",
                self.now()
            ));
        }
        Ok(())
    }

    fn deadline(&self, d: Duration) -> Instant {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(self.now().micros().saturating_add(us))
    }

    /// Flushes the capture and hides the progress bar.
    pub(crate) fn finish(&mut self) -> RunResult<()> {
        self.collect();
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        if let Some(e) = self.pcap_error.take() {
            return Err(RunError::Io(format!("cannot write the pcap file: {e}")));
        }
        if let Some(w) = self.pcap.as_mut() {
            w.flush()
                .map_err(|e| RunError::Io(format!("cannot write the pcap file: {e}")))?;
        }
        if let Some(e) = self.rec.take_io_error() {
            return Err(RunError::Io(format!("cannot write output: {e}")));
        }
        Ok(())
    }
}
