//! `lossy`: the congestion-control rows of issue 4 against smoltcp. One connection
//! moves `lossy_bytes` one way over a modelled path — 1 Gbit/s, 2 ms RTT, a
//! drop-tail bottleneck queue of one BDP, random loss on the data direction —
//! in virtual time; goodput is bytes over virtual seconds, next to the Mathis et
//! al. estimate for Reno (MSS/RTT · 1.22/√p).
//!
//! synack NewReno runs against smoltcp Reno and CUBIC against CUBIC; smoltcp has
//! no BBR, so the BBR rows are synack's alone. Both rivals get the same socket
//! buffers (4 BDP: windows never limit), the same MSS and, per rep, the same seed
//! of the loss pattern (the same sequence of drop decisions, packet by packet).
//! Every byte is verified ([`Sink`], [`Pattern`] of `bulk`).
//!
//! The path ([`Hop`], one per direction): a packet a stack sends is lost with
//! probability p (data direction only, from a seeded ChaCha8 RNG), else joins the
//! bottleneck queue — dropped if the queue holds more than [`QUEUE_BYTES`] — is
//! serialised at [`RATE_BPS`] and arrives [`DELAY_NS`] later, in order. The clock
//! jumps from event to event: the next arrival or the earliest timer of either
//! stack. A transfer that delivers nothing for [`STALL`] of virtual time, or is
//! slower on average than [`MIN_RATE_BPS`] (after a grace of [`GRACE`]), ends its
//! rep with an error in the row's note.

use std::collections::VecDeque;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smoltcp::socket::tcp;
use synack::wire::{Ipv4Packet, TcpPacket};
use synack::{Algorithm, SeqNum};

use crate::bulk::{
    check_established, smoltcp_pair, synack_config, synack_pair, Case, Pattern, Sink, SmolBulk,
    SynBulk,
};
use crate::link::{App, Clock, Pipe, RunError, Side, SmolSide, SynSide};
use crate::{median, progress, BenchOptions, Row};

/// Bottleneck rate, bits per second.
pub(crate) const RATE_BPS: u64 = 1_000_000_000;
/// One-way propagation delay (RTT 2 ms).
pub(crate) const DELAY_NS: u64 = 1_000_000;
/// Bandwidth-delay product: 250,000 bytes.
const BDP_BYTES: u64 = RATE_BPS / 8 * 2 * DELAY_NS / 1_000_000_000;
/// The link MTU and the MSS both rivals use.
const MTU: usize = 1500;
const MSS: u16 = 1460;
/// Drop-tail queue per direction: one BDP plus four full packets.
pub(crate) const QUEUE_BYTES: u64 = BDP_BYTES + 4 * MTU as u64;
/// Socket buffers (send and receive, both rivals): 4 BDP, so the window never
/// limits (the path holds at most 2 BDP: the pipe and a full queue).
const BUFFER: usize = 1 << 20;
/// No delivered byte for this long ends a rep (smoltcp's RTO backs off to 60 s).
const STALL: Duration = Duration::from_secs(120);
/// A transfer may take [`GRACE`] plus its bytes at this rate (128 MiB: about 3 h).
const MIN_RATE_BPS: u64 = 100_000;
const GRACE: Duration = Duration::from_secs(600);
/// A sender that sends nothing for this long (synack's minimum RTO) is counted as
/// a silence: a timeout, for a rival that does not count its own.
const SILENCE: Duration = Duration::from_millis(200);

/// A congestion-control case of the `lossy` bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossyCc {
    /// synack NewReno against smoltcp Reno.
    Reno,
    /// CUBIC against CUBIC.
    Cubic,
    /// synack BBR (smoltcp has none).
    Bbr,
}

impl LossyCc {
    /// Every case, in report order.
    pub const ALL: [Self; 3] = [Self::Reno, Self::Cubic, Self::Bbr];

    /// Parses a name as the CLI spells it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The name in the rows' case column.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reno => "reno",
            Self::Cubic => "cubic",
            Self::Bbr => "bbr",
        }
    }

    fn synack(self) -> Algorithm {
        match self {
            Self::Reno => Algorithm::NewReno,
            Self::Cubic => Algorithm::Cubic,
            Self::Bbr => Algorithm::Bbr,
        }
    }

    fn smoltcp(self) -> Option<tcp::CongestionControl> {
        match self {
            Self::Reno => Some(tcp::CongestionControl::Reno),
            Self::Cubic => Some(tcp::CongestionControl::Cubic),
            Self::Bbr => None,
        }
    }
}

/// The Mathis et al. estimate of Reno's goodput at loss rate `p`, bit/s:
/// MSS/RTT · 1.22/√p.
pub(crate) fn mathis_bps(p: f64) -> f64 {
    let rtt = 2.0 * DELAY_NS as f64 / 1e9;
    f64::from(MSS) * 8.0 / rtt * 1.22 / p.sqrt()
}

// ---- the path ----

/// What one direction of the path did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HopStats {
    /// Packets the sending stack put on the path.
    pub(crate) offered: u64,
    /// Dropped at random.
    pub(crate) lost: u64,
    /// Dropped because the bottleneck queue was full.
    pub(crate) overflowed: u64,
    /// Data segments that start below the highest sequence number seen so far.
    pub(crate) retransmits: u64,
    /// Gaps of at least [`SILENCE`] between two packets offered.
    pub(crate) silences: u64,
}

/// One direction of the path: random loss, a drop-tail bottleneck queue served at
/// [`RATE_BPS`], then [`DELAY_NS`] of propagation. Packets leave in the order they
/// came.
#[derive(Debug)]
pub(crate) struct Hop {
    loss: f64,
    rng: ChaCha8Rng,
    /// When the bottleneck has serialised every packet it holds, ns.
    busy_until_ns: u64,
    /// Packets on their way, in order: (arrival time ns, buffer, length).
    flight: VecDeque<(u64, Vec<u8>, usize)>,
    /// One past the highest TCP sequence number of data seen (snd.max).
    snd_max: Option<SeqNum>,
    /// When the last packet was offered, ns.
    last_offer_ns: u64,
    pub(crate) stats: HopStats,
}

impl Hop {
    /// A clean direction (no random loss).
    pub(crate) fn new() -> Self {
        Self {
            loss: 0.0,
            rng: ChaCha8Rng::seed_from_u64(0),
            busy_until_ns: 0,
            flight: VecDeque::new(),
            snd_max: None,
            last_offer_ns: 0,
            stats: HopStats::default(),
        }
    }

    /// From now on, drops each packet with probability `p`, drawn from a ChaCha8
    /// RNG seeded with `seed` (one draw per packet offered). The stats start again.
    pub(crate) fn start_loss(&mut self, p: f64, seed: u64) {
        self.loss = p;
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.stats = HopStats::default();
    }

    /// A packet of `len` bytes in `buf` leaves the sender at `now_ns`. Returns the
    /// buffer back if the packet was dropped.
    pub(crate) fn offer(&mut self, now_ns: u64, buf: Vec<u8>, len: usize) -> Option<Vec<u8>> {
        self.stats.offered += 1;
        if now_ns - self.last_offer_ns >= SILENCE.as_nanos() as u64 {
            self.stats.silences += 1;
        }
        self.last_offer_ns = now_ns;
        self.count_retransmit(&buf[..len]);
        if self.loss > 0.0 {
            // 53 random bits as a uniform draw in [0, 1).
            let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            if u < self.loss {
                self.stats.lost += 1;
                return Some(buf);
            }
        }
        // Bytes still waiting (or in service) at the bottleneck.
        let start = self.busy_until_ns.max(now_ns);
        let backlog = (start - now_ns) * RATE_BPS / 8 / 1_000_000_000;
        if backlog + len as u64 > QUEUE_BYTES {
            self.stats.overflowed += 1;
            return Some(buf);
        }
        self.busy_until_ns = start + len as u64 * 8 * 1_000_000_000 / RATE_BPS;
        self.flight
            .push_back((self.busy_until_ns + DELAY_NS, buf, len));
        None
    }

    /// Offers every packet queued on `tx` (what a stack just sent).
    fn offer_all(&mut self, now_ns: u64, tx: &mut Pipe) {
        while let Some((buf, len)) = tx.pop() {
            if let Some(buf) = self.offer(now_ns, buf, len) {
                tx.recycle(buf);
            }
        }
    }

    /// When the next packet arrives, ns.
    pub(crate) fn next_arrival(&self) -> Option<u64> {
        self.flight.front().map(|p| p.0)
    }

    /// Moves every packet that has arrived by `now_ns` to `rx`.
    pub(crate) fn deliver(&mut self, now_ns: u64, rx: &mut Pipe) {
        while self.flight.front().is_some_and(|p| p.0 <= now_ns) {
            if let Some((_, buf, len)) = self.flight.pop_front() {
                rx.push(buf, len);
            }
        }
    }

    /// Counts a data segment that starts below snd.max as a retransmission.
    fn count_retransmit(&mut self, packet: &[u8]) {
        let Ok(ip) = Ipv4Packet::new_checked(packet) else {
            return;
        };
        let Ok(seg) = TcpPacket::new_checked(ip.payload()) else {
            return;
        };
        let (seq, len) = (seg.seq(), seg.payload().len());
        if len == 0 {
            return;
        }
        let end = seq + len;
        match self.snd_max {
            Some(max) if seq.lt(max) => {
                self.stats.retransmits += 1;
                self.snd_max = Some(max.max(end));
            }
            _ => self.snd_max = Some(end),
        }
    }
}

/// Both directions of the path and the pipes between it and the stacks.
#[derive(Debug)]
struct Net {
    /// A → B, the data direction.
    ab: Hop,
    /// B → A, the ACKs.
    ba: Hop,
    a_out: Pipe,
    a_in: Pipe,
    b_out: Pipe,
    b_in: Pipe,
    now_ns: u64,
}

impl Net {
    fn new() -> Self {
        Self {
            ab: Hop::new(),
            ba: Hop::new(),
            a_out: Pipe::new(MTU),
            a_in: Pipe::new(MTU),
            b_out: Pipe::new(MTU),
            b_in: Pipe::new(MTU),
            now_ns: 0,
        }
    }
}

/// The stacks' clock (µs) at `now_ns`: a packet is not there before it arrives.
fn clock_at(now_ns: u64) -> Clock {
    Clock(now_ns.div_ceil(1000))
}

/// One host's turn at an event: it takes in what has arrived, runs due timers,
/// its application acts, and what it sends joins the path.
fn visit<S: Side>(
    side: &mut S,
    (inbound, rx): (&mut Hop, &mut Pipe),
    (tx, outbound): (&mut Pipe, &mut Hop),
    now_ns: u64,
    act: impl FnOnce(&mut S) -> Result<bool, RunError>,
) -> Result<(), RunError> {
    let clock = clock_at(now_ns);
    inbound.deliver(now_ns, rx);
    while side.take_one(rx, tx, clock) {}
    if side.next_timer(clock).is_some_and(|t| t <= clock.0) {
        side.on_timer(clock);
    }
    act(side)?;
    side.egress(rx, tx, clock);
    outbound.offer_all(now_ns, tx);
    Ok(())
}

/// The bulk application of either rival, seen by the lossy loop.
trait Transfer<A, B>: App<A, B> {
    fn sink(&self) -> &Sink;
    /// The handshake is over: send the data.
    fn start(&mut self);
}

impl Transfer<SynSide, SynSide> for SynBulk<'_> {
    fn sink(&self) -> &Sink {
        &self.sink
    }

    fn start(&mut self) {
        self.handshake = false;
    }
}

impl Transfer<SmolSide, SmolSide> for SmolBulk<'_> {
    fn sink(&self) -> &Sink {
        &self.sink
    }

    fn start(&mut self) {
        self.handshake = false;
    }
}

/// Runs events until the app is done: each event, B and then A take their turn
/// ([`visit`]), then the clock jumps to the next arrival or timer. `total` (the
/// bytes to move) is for the messages.
fn run<A: Side, B: Side>(
    a: &mut A,
    b: &mut B,
    app: &mut impl Transfer<A, B>,
    net: &mut Net,
    total: u64,
) -> Result<(), RunError> {
    let stall_ns = STALL.as_nanos() as u64;
    let max_ns = (net.now_ns + GRACE.as_nanos() as u64)
        .saturating_add(total.saturating_mul(8 * 1_000_000_000 / MIN_RATE_BPS));
    let (mut last_received, mut last_progress_ns) = (app.sink().received, net.now_ns);
    loop {
        let now = net.now_ns;
        let n = &mut *net;
        visit(
            b,
            (&mut n.ab, &mut n.b_in),
            (&mut n.b_out, &mut n.ba),
            now,
            |b| app.on_b(b),
        )?;
        visit(
            a,
            (&mut n.ba, &mut n.a_in),
            (&mut n.a_out, &mut n.ab),
            now,
            |a| app.on_a(a),
        )?;
        // The buffers go back to the pipes that sent them.
        n.b_in.give_buffers(&mut n.a_out);
        n.a_in.give_buffers(&mut n.b_out);
        if app.done() {
            return Ok(());
        }
        let received = app.sink().received;
        if received > last_received {
            (last_received, last_progress_ns) = (received, now);
        } else if now - last_progress_ns > stall_ns {
            return Err(format!(
                "stalled: nothing delivered for {} s of virtual time ({received} of {total} bytes)",
                STALL.as_secs()
            ));
        }
        if now > max_ns {
            return Err(format!(
                "too slow: not done after {} s of virtual time ({received} of {total} bytes)",
                max_ns / 1_000_000_000
            ));
        }
        let clock = clock_at(now);
        let timer = |t: Option<u64>| t.map(|us| us.saturating_mul(1000));
        let next = [
            net.ab.next_arrival(),
            net.ba.next_arrival(),
            timer(a.next_timer(clock)),
            timer(b.next_timer(clock)),
        ]
        .into_iter()
        .flatten()
        .min()
        .ok_or_else(|| {
            format!("stalled: nothing in flight and no timer ({received} of {total} bytes)")
        })?;
        // A timer that stays due after its turn waits for the next microsecond.
        net.now_ns = if next > now {
            next
        } else {
            (clock.0 + 1) * 1000
        };
    }
}

/// One transfer over the lossy path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    /// Goodput: bytes over virtual seconds from the end of the handshake until the
    /// receiving application has read the last byte.
    pub(crate) bps: f64,
    /// The data direction's path statistics.
    pub(crate) path: HopStats,
    /// Retransmission timeouts, if the rival counts them (synack does).
    pub(crate) rtos: Option<u64>,
}

/// The handshake over the clean path, then the transfer with loss `p` (seed `seed`)
/// on the data direction; checks every byte.
fn transfer<A: Side, B: Side>(
    case: &Case<'_>,
    (a, b, app): (&mut A, &mut B, &mut impl Transfer<A, B>),
    (p, seed): (f64, u64),
    established: impl FnOnce(&A) -> Result<(), RunError>,
) -> Result<Outcome, RunError> {
    let mut net = Net::new();
    run(a, b, app, &mut net, case.total).map_err(|e| format!("handshake: {e}"))?;
    established(a)?;
    app.start();
    net.ab.start_loss(p, seed);
    let t0 = net.now_ns;
    run(a, b, app, &mut net, case.total)?;
    case.verify(app.sink())?;
    let secs = (net.now_ns - t0).max(1) as f64 / 1e9;
    Ok(Outcome {
        bps: case.total as f64 * 8.0 / secs,
        path: net.ab.stats,
        rtos: None,
    })
}

/// synack with `cc` moves `case.total` bytes at loss `p`.
pub(crate) fn synack_lossy(
    case: &Case<'_>,
    cc: LossyCc,
    p: f64,
    seed: u64,
) -> Result<Outcome, RunError> {
    let (mut a, mut b, mut app) = synack_pair(case, |s| {
        let mut c = synack_config(s, case.mtu, case.buffer);
        c.tcp.congestion = cc.synack();
        c
    })?;
    let client = app.client;
    let mut o = transfer(case, (&mut a, &mut b, &mut app), (p, seed), |a| {
        check_established(&a.stack, client)
    })?;
    o.rtos = Some(a.stack.counters().rto_expirations);
    Ok(o)
}

/// smoltcp with `cc` moves `case.total` bytes at loss `p`.
pub(crate) fn smoltcp_lossy(
    case: &Case<'_>,
    cc: tcp::CongestionControl,
    p: f64,
    seed: u64,
) -> Result<Outcome, RunError> {
    let (mut a, mut b, mut app) = smoltcp_pair(case, cc)?;
    transfer(case, (&mut a, &mut b, &mut app), (p, seed), |_| Ok(()))
}

// ---- rows ----

/// The case's loss rate as the row names it (`0.1%`, `1%`).
fn pct_name(pct: f64) -> String {
    format!("{pct}%")
}

/// Medians of a rival's outcomes for the note.
fn detail(name: &str, v: &[Outcome]) -> String {
    let med = |f: &dyn Fn(&Outcome) -> Option<u64>| {
        median(v.iter().filter_map(f).map(|x| x as f64).collect())
    };
    let Some(rexmit) = med(&|o| Some(o.path.retransmits)) else {
        return format!("{name} –");
    };
    let overflow = med(&|o| Some(o.path.overflowed)).unwrap_or(0.0);
    let silences = med(&|o| Some(o.path.silences)).unwrap_or(0.0);
    let rtos = med(&|o| o.rtos).map_or_else(String::new, |r| format!("{r:.0} RTOs, "));
    format!(
        "{name} {rexmit:.0} rexmits, {rtos}{silences:.0} silences ≥ {} ms, {overflow:.0} queue drops",
        SILENCE.as_millis()
    )
}

pub(crate) fn rows(opts: &BenchOptions) -> Vec<Row> {
    let pattern = Pattern::new();
    let case = Case {
        mtu: MTU,
        total: opts.lossy_bytes,
        buffer: BUFFER,
        pattern: &pattern,
        expect: pattern.hash(opts.lossy_bytes),
    };
    let reps = opts.reps.max(1) as u64;
    let mut rows = Vec::new();
    for &cc in &opts.lossy_cc {
        for &pct in &opts.lossy_loss_pct {
            let p = pct / 100.0;
            let name = format!("{}-{}", cc.name(), pct_name(pct));
            let (mut syn, mut smol, mut notes) = (Vec::new(), Vec::new(), Vec::new());
            for seed in 1..=reps {
                progress(opts, &format!("lossy {name} seed {seed}"));
                if opts.synack {
                    match synack_lossy(&case, cc, p, seed) {
                        Ok(o) => syn.push(o),
                        Err(e) => notes.push(format!("synack seed {seed} failed: {e}")),
                    }
                }
                if let (true, Some(rival)) = (opts.smoltcp, cc.smoltcp()) {
                    match smoltcp_lossy(&case, rival, p, seed) {
                        Ok(o) => smol.push(o),
                        Err(e) => notes.push(format!("smoltcp seed {seed} failed: {e}")),
                    }
                }
            }
            let mut row = Row::new("lossy", name, "bit/s");
            row.synack = median(syn.iter().map(|o| o.bps).collect());
            row.smoltcp = median(smol.iter().map(|o| o.bps).collect());
            let rival = if cc.smoltcp().is_some() {
                detail("smoltcp", &smol)
            } else {
                "smoltcp has no BBR".to_string()
            };
            let seeds = if reps == 1 {
                "loss seed 1".to_string()
            } else {
                format!("loss seeds 1–{reps}")
            };
            let mathis = if p > 0.0 {
                format!("Mathis {:.1} M", mathis_bps(p) / 1e6)
            } else {
                "no loss".to_string()
            };
            notes.push(format!(
                "{mathis}; {}; {rival}; {seeds}; {} MiB, buffers {} KiB",
                detail("synack", &syn),
                case.total >> 20,
                BUFFER >> 10,
            ));
            row.note = Some(notes.join("; "));
            rows.push(row.with_ratio(false));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(pattern: &Pattern, total: u64) -> Case<'_> {
        Case {
            mtu: MTU,
            total,
            buffer: BUFFER,
            pattern,
            expect: pattern.hash(total),
        }
    }

    #[test]
    fn both_rivals_move_a_mebibyte_at_one_percent_loss() {
        let pattern = Pattern::new();
        let case = case(&pattern, 1 << 20);
        let syn = synack_lossy(&case, LossyCc::Cubic, 0.01, 7).expect("synack");
        let smol = smoltcp_lossy(&case, tcp::CongestionControl::Cubic, 0.01, 7).expect("smoltcp");
        for o in [syn, smol] {
            assert!(o.bps > 0.0 && o.bps <= RATE_BPS as f64, "{o:?}");
            assert!(o.path.lost > 0, "1% of ~750 packets: {o:?}");
        }
        assert!(syn.rtos.is_some() && smol.rtos.is_none());
    }

    #[test]
    fn a_dead_path_ends_the_rep_with_an_error() {
        let pattern = Pattern::new();
        let case = case(&pattern, 64 << 10);
        let smol = smoltcp_lossy(&case, tcp::CongestionControl::Reno, 1.0, 1);
        let e = smol.expect_err("nothing gets through");
        assert!(e.starts_with("stalled: nothing delivered for 120 s"), "{e}");
        // synack gives up by itself after its retransmissions (RFC 1122 R2); the
        // receiver, which never heard of data, waits for nothing.
        let e = synack_lossy(&case, LossyCc::Reno, 1.0, 1).expect_err("nothing gets through");
        assert!(
            e.starts_with("stalled: nothing in flight and no timer"),
            "{e}"
        );
    }

    #[test]
    fn path_drops_at_the_configured_rate_and_keeps_order() {
        let mut hop = Hop::new();
        hop.start_loss(0.05, 42);
        let (mut rx, n) = (Pipe::new(MTU), 100_000u64);
        let mut last_arrival = 0;
        let mut now = 0;
        for i in 0..n {
            // Two 1,000-byte packets every 16 µs: 1 Gbit/s, the queue never fills.
            now += if i % 2 == 0 { 16_000 } else { 0 };
            let mut buf = vec![0; MTU];
            buf[..8].copy_from_slice(&i.to_be_bytes());
            let _ = hop.offer(now, buf, 1000);
            if let Some(t) = hop.next_arrival() {
                assert!(t >= last_arrival);
                last_arrival = t;
            }
            hop.deliver(now, &mut rx);
        }
        hop.deliver(u64::MAX, &mut rx);
        assert_eq!(hop.stats.overflowed, 0);
        assert_eq!(hop.stats.offered, n);
        let lost = hop.stats.lost as f64 / n as f64;
        assert!((lost - 0.05).abs() < 0.003, "loss rate {lost}");
        let mut seen = Vec::new();
        while let Some((buf, len)) = rx.pop() {
            assert_eq!(len, 1000);
            seen.push(u64::from_be_bytes(buf[..8].try_into().expect("8 bytes")));
        }
        assert_eq!(seen.len() as u64 + hop.stats.lost, n);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "never reordered");
    }

    #[test]
    fn bottleneck_serialises_and_tail_drops() {
        let mut hop = Hop::new();
        // A burst at t = 0: the queue takes QUEUE_BYTES, then drops.
        let mut accepted = 0u64;
        for _ in 0..400 {
            if hop.offer(0, vec![0; MTU], MTU).is_none() {
                accepted += 1;
            }
        }
        assert_eq!(accepted, QUEUE_BYTES / MTU as u64);
        assert_eq!(hop.stats.overflowed, 400 - accepted);
        // The first arrives after one serialisation (12 µs) and the delay.
        assert_eq!(hop.next_arrival(), Some(12_000 + DELAY_NS));
    }

    #[test]
    fn mathis_matches_the_formula() {
        // 1460 B / 2 ms · 1.22 / √0.01 = 71.2 Mbit/s.
        assert!((mathis_bps(0.01) / 1e6 - 71.248).abs() < 0.01);
    }
}
