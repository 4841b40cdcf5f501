//! The transmission control block (RFC 9293 §3.3.1): one connection's variables,
//! the application's operations on it, its timers and its state changes.
//!
//! Segment arrival lives in [`super::input`], segment production in
//! [`super::output`], loss recovery in [`super::recovery`], timers firing in
//! [`super::timeout`]; all are `impl Tcb` blocks over the fields defined here.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::net::SocketAddr;
use core::num::NonZeroU64;
use core::time::Duration;

use crate::config::{Keepalive, TcpConfig};
use crate::error::{ConnectionError, RecvError, SendError};
use crate::event::{Counters, Event, EventQueue};
use crate::stack::SocketHandle;
use crate::tcp::buffer::{RecvRing, SendBuffer};
use crate::tcp::congestion::{Cc, Prr};
use crate::tcp::pacing::{default_rate, PaceRate, Pacer};
use crate::tcp::rack::{Rack, RackSpares};
use crate::tcp::reassembly::Reassembly;
use crate::tcp::rto::RttEstimator;
use crate::tcp::sack::Scoreboard;
use crate::tcp::seq::SeqNum;
use crate::tcp::state::{Cause, State};
use crate::time::Instant;
use crate::wire::TcpHeader;

/// RFC 9293 §3.7.1: the MSS assumed when the peer sends no MSS option.
pub(crate) const DEFAULT_MSS_V4: u16 = 536;
/// RFC 8200 §5: 1280-byte minimum MTU minus 60 bytes of headers.
pub(crate) const DEFAULT_MSS_V6: u16 = 1220;
/// Bytes the timestamps option takes in every segment (with its two NOPs).
pub(crate) const TS_OPTION_LEN: u16 = 12;
/// RFC 7323 §5.5: TS.Recent is invalid after 24 days of idleness.
const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 3600);

/// A segment built by the stack with no connection behind it (RST replies).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CtrlSegment {
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) hdr: TcpHeader,
}

/// A recovery episode's undo record (Linux `undo_marker` / `undo_retrans`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Undo {
    pub(crate) prior_cwnd: usize,
    pub(crate) prior_ssthresh: usize,
    pub(crate) retrans: u32,
    pub(crate) dsacks: u32,
}

/// RFC 5961 §7: a stack-wide budget of challenge ACKs per second. The budget of
/// each second is drawn at random from [limit/2, limit·3/2), as Linux does since
/// CVE-2016-5696: a fixed global count lets an off-path attacker learn, by
/// exhausting it, whether its guessed segment hit a connection.
#[derive(Debug)]
pub(crate) struct ChallengeLimiter {
    window_start: Option<Instant>,
    budget: u32,
    rng: u64,
}

impl ChallengeLimiter {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            window_start: None,
            budget: 0,
            rng: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: enough to keep the budget unpredictable off-path.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Whether one more challenge ACK may go out now.
    pub(crate) fn allow(&mut self, now: Instant, limit: u32) -> bool {
        if self
            .window_start
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            self.window_start = Some(now);
            let jitter = if limit == 0 {
                0
            } else {
                (self.next_random() % u64::from(limit)) as u32
            };
            self.budget = limit / 2 + jitter;
        }
        if self.budget > 0 {
            self.budget -= 1;
            true
        } else {
            false
        }
    }
}

/// An optional `u64` in 8 bytes instead of 16: the value plus one in a
/// `NonZeroU64`. `u64::MAX` itself saturates to `u64::MAX - 1` (stream offsets
/// and microsecond counts never get there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OptU64(Option<NonZeroU64>);

impl OptU64 {
    pub(crate) const NONE: Self = Self(None);

    pub(crate) fn some(v: u64) -> Self {
        Self(NonZeroU64::new(v.saturating_add(1)))
    }

    pub(crate) fn get(self) -> Option<u64> {
        self.0.map(|n| n.get() - 1)
    }

    /// A duration kept in whole microseconds (saturating).
    pub(crate) fn from_duration(d: Duration) -> Self {
        Self::some(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    pub(crate) fn duration(self) -> Option<Duration> {
        self.get().map(Duration::from_micros)
    }
}

/// A user timeout as a TCB keeps it: whole microseconds, the resolution of
/// the deadline it sets (`Instant + Duration` drops the rest).
pub(crate) fn user_timeout_us(t: Option<Duration>) -> OptU64 {
    t.map_or(OptU64::NONE, OptU64::from_duration)
}

/// `Tcb::wnd_cache_key`: the cached window field must be computed again.
pub(crate) const WND_CACHE_STALE: u8 = 0;
/// `Tcb::wnd_cache_key` of a valid field computed without memory pressure
/// (one more with it).
pub(crate) const WND_CACHE_VALID: u8 = 1;

/// A buffer size as a TCB keeps it (the configuration caps buffers at 1 GiB).
pub(crate) fn buffer_u32(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// The earlier of two optional deadlines.
#[inline]
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    Instant::earliest(a, b)
}

/// What a connection needs from the stack while it handles an input.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a TcpConfig,
    pub(crate) events: &'a mut EventQueue,
    pub(crate) counters: &'a mut Counters,
    pub(crate) ctrl: &'a mut VecDeque<CtrlSegment>,
    pub(crate) challenge: &'a mut ChallengeLimiter,
    /// Spare RACK states for a connection's first segment (see `RackSpares`).
    pub(crate) racks: &'a mut RackSpares,
}

/// Per-connection statistics surfaced by `info()`. Counts of loss-recovery
/// episodes are kept in 32 bits (counted saturating: at most one per round
/// trip, they do not reach 2^32), the rest in 64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConnStats {
    pub(crate) segs_in: u64,
    pub(crate) segs_out: u64,
    pub(crate) retransmits: u64,
    pub(crate) bytes_acked: u64,
    pub(crate) bytes_received: u64,
    pub(crate) spurious_undos: u32,
    /// Loss-recovery episodes entered (fast retransmit / SACK / RACK).
    pub(crate) recoveries: u32,
    /// Retransmission timeouts.
    pub(crate) rtos: u32,
    /// Timeouts F-RTO found spurious and undid (RFC 5682).
    pub(crate) spurious_rtos: u32,
    /// ACKs that did not grow the window because it was not in use (RFC 7661).
    pub(crate) cwnd_unvalidated_acks: u64,
}

/// F-RTO (RFC 5682 §3.1, the SACK-enhanced algorithm) after a timeout: which ACK
/// we wait for, and what undoing the timeout's reduction restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frto {
    /// 2 = waiting for the first ACK after the timeout, 3 = for the second.
    pub(crate) step: u8,
    /// RFC 5682 "recover": SND.NXT (the highest sequence sent) at the timeout.
    pub(crate) recover: SeqNum,
    pub(crate) prior_cwnd: usize,
    pub(crate) prior_ssthresh: usize,
    /// New segments step 2 (b) may still send past the congestion window.
    pub(crate) new_allowed: u8,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Tcb {
    pub(crate) handle: SocketHandle,
    pub(crate) state: State,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// The listener a passively opened connection belongs to until accepted.
    pub(crate) parent: Option<SocketHandle>,
    /// The application has closed its handle; the stack frees the TCB when CLOSED.
    pub(crate) orphan: bool,

    // Send sequence space (RFC 9293 §3.3.1, Figure 3).
    pub(crate) iss: SeqNum,
    pub(crate) snd_una: SeqNum,
    /// SND.UNA has advanced at least once, so our SYN is acknowledged. A flag, not
    /// `snd_una > iss`: that comparison turns false after 2^31 bytes acknowledged.
    pub(crate) una_advanced: bool,
    pub(crate) snd_nxt: SeqNum,
    /// Highest sequence number sent; `snd_nxt` drops back to `snd_una` on timeout.
    pub(crate) snd_max: SeqNum,
    /// Peer's window, scaled, in bytes.
    pub(crate) snd_wnd: u32,
    pub(crate) max_snd_wnd: u32,
    pub(crate) snd_wl1: SeqNum,
    pub(crate) snd_wl2: SeqNum,
    /// Shift applied to the peer's window field (RFC 7323 Snd.Wind.Shift).
    pub(crate) snd_wscale: u8,
    pub(crate) send_buf: SendBuffer,
    /// Sequence number of the first byte in `send_buf`.
    pub(crate) snd_buf_seq: SeqNum,
    /// The application is done writing: a FIN follows the last byte.
    pub(crate) write_closed: bool,

    // Receive sequence space (RFC 9293 §3.3.1, Figure 4).
    pub(crate) irs: SeqNum,
    pub(crate) rcv_nxt: SeqNum,
    /// Shift applied to our window field (RFC 7323 Rcv.Wind.Shift).
    pub(crate) rcv_wscale: u8,
    /// Right edge of the window we last advertised; never moves left (RFC 9293 §3.8.6.2.2).
    pub(crate) rcv_adv: SeqNum,
    /// The window field last computed for a segment other than a SYN, valid
    /// while `wnd_cache_key` is `WND_CACHE_VALID` + `mem_pressure` (see
    /// `Tcb::window_field`; `Stack::with_conn` marks it stale).
    pub(crate) wnd_cache: u16,
    pub(crate) wnd_cache_key: u8,
    pub(crate) recv_buf: RecvRing,
    pub(crate) recv_cap: u32,
    pub(crate) reasm: Reassembly,
    /// Stream offset of `rcv_nxt` (0 = the first data byte).
    pub(crate) rcv_off: u64,
    /// Stream offset of a FIN that arrived ahead of missing data.
    pub(crate) peer_fin_off: OptU64,
    pub(crate) fin_received: bool,
    /// A duplicate to report in the next ACK's first SACK block (RFC 2883).
    pub(crate) dsack: Option<(SeqNum, SeqNum)>,
    /// Stream offset of the latest out-of-order arrival (its block goes first, RFC 2018 §4).
    pub(crate) last_ooo: OptU64,
    pub(crate) read_closed: bool,

    // Options.
    /// Largest payload per segment we send (peer MSS, minus option overhead).
    pub(crate) mss: u16,
    /// The MSS we advertised.
    pub(crate) our_mss: u16,
    pub(crate) sack_ok: bool,
    pub(crate) ts_ok: bool,
    pub(crate) ts_recent: u32,
    pub(crate) ts_recent_at: Instant,
    pub(crate) ts_offset: u32,
    pub(crate) last_ack_sent: SeqNum,
    pub(crate) wscale_ok: bool,

    // Timers and retransmission.
    pub(crate) rtx_deadline: Option<Instant>,
    pub(crate) persist_deadline: Option<Instant>,
    pub(crate) delack_deadline: Option<Instant>,
    pub(crate) rtt: RttEstimator,
    /// Karn: the segment being timed (its end) and when it was first sent
    /// (see [`Tcb::rtt_timing`]); two fields, so that the sequence number
    /// packs with the other 4-byte fields (12 bytes, not 16).
    pub(crate) rtt_timing_end: SeqNum,
    pub(crate) rtt_timing_at: Option<Instant>,
    pub(crate) retries: u32,
    pub(crate) persist_backoff: u32,
    /// Zero-window probes sent since the peer last sent an acceptable ACK
    /// (Linux `icsk_probes_out`).
    pub(crate) probes_out: u32,
    pub(crate) cc: Cc,
    pub(crate) dupacks: u32,
    /// NewReno (RFC 6582) recovery point while in fast recovery.
    pub(crate) recover: Option<SeqNum>,
    /// The SACK scoreboard (RFC 6675).
    pub(crate) sb: Scoreboard,
    /// RACK-TLP per-segment state (RFC 8985), used when SACK is on.
    pub(crate) rack: Rack,
    /// When RACK's reordering window runs out for a segment not yet marked lost.
    pub(crate) rack_deadline: Option<Instant>,
    /// The tail loss probe timer (RFC 8985 §7.2).
    pub(crate) tlp_deadline: Option<Instant>,
    /// A probe is due on the next poll.
    pub(crate) tlp_pending: bool,
    /// TLP.end_seq: a probe is outstanding until this is acknowledged.
    pub(crate) tlp_end: Option<SeqNum>,
    /// RFC 6675 HighRxt: the highest sequence number retransmitted in this recovery.
    pub(crate) high_rxt: SeqNum,
    /// What undoing the current recovery would restore (cwnd, ssthresh), with the
    /// episode's retransmissions and D-SACKs so far. Boxed, like `prr` and `frto`:
    /// only a connection in or after loss recovery has one (8 bytes, not 32).
    pub(crate) undo: Option<Box<Undo>>,
    /// Proportional Rate Reduction during SACK recovery (RFC 6937), and what it
    /// currently allows to be sent.
    pub(crate) prr: Option<Box<Prr>>,
    pub(crate) prr_allow: u32,
    /// The latest RTT sample (for delay-based slow-start exit, HyStart++).
    pub(crate) latest_rtt: OptU64,
    /// Retransmit one segment at `snd_una` on the next poll (fast retransmit).
    pub(crate) rtx_one: bool,
    /// Send a zero-window probe on the next poll.
    pub(crate) probe_pending: bool,
    /// F-RTO in progress after a timeout (RFC 5682).
    pub(crate) frto: Option<Box<Frto>>,
    /// RFC 5681 §4.1 restart window after idle (`TcpConfig::slow_start_after_idle`).
    pub(crate) idle_restart: bool,
    /// Pacing (see `tcp::pacing`): on or off, the earliest next departure, the
    /// timer that wakes a paced-out sender, and the rate last used (bytes/s,
    /// with the times of a full segment and of a burst at it).
    pub(crate) pacing: bool,
    pub(crate) pacer: Pacer,
    pub(crate) pace_deadline: Option<Instant>,
    pub(crate) pacing_rate: PaceRate,
    /// What the rate depends on may have changed since it was last computed
    /// (see `Tcb::pace`).
    pub(crate) pacing_rate_stale: bool,
    /// RFC 5681 §4.1 restart window: when the last data segment went out.
    pub(crate) last_data_sent: Option<Instant>,

    // ACK policy.
    pub(crate) ack_now: bool,
    /// In-order full segments received since our last ACK.
    pub(crate) unacked_segs: u32,
    pub(crate) quickack: u32,

    // Options set by the application.
    pub(crate) nodelay: bool,
    pub(crate) linger_zero: bool,

    // Keepalive (RFC 1122 §4.2.3.6) and user timeout (RFC 5482).
    /// Boxed: most connections have none (8 bytes instead of 40).
    pub(crate) keepalive: Option<Box<Keepalive>>,
    pub(crate) keepalive_deadline: Option<Instant>,
    /// An orphan's FIN-WAIT-2 wait ends here (Linux `tcp_fin_timeout`).
    pub(crate) fin_wait_2_deadline: Option<Instant>,
    pub(crate) keepalive_probes: u32,
    /// A keepalive probe is due on the next poll.
    pub(crate) keepalive_pending: bool,
    /// When the last segment arrived from the peer.
    pub(crate) last_rcv: Instant,
    /// RFC 5482 user timeout, in whole microseconds (as deadlines are kept).
    pub(crate) user_timeout: OptU64,
    /// When the send side last made progress (an ACK advanced, or it left idle).
    pub(crate) progress_at: Instant,

    // Buffer auto-tuning (dynamic right-sizing of the receive buffer, Linux-style
    // send-buffer expansion).
    pub(crate) rcvbuf_locked: bool,
    pub(crate) sndbuf_locked: bool,
    /// Start of the current receive measurement: (time, stream offset).
    pub(crate) rcv_space: Option<(Instant, u64)>,
    /// The most bytes seen arriving in one receiver RTT.
    pub(crate) rcv_space_prev: u32,
    /// Receiver-side RTT estimate from echoed timestamps (Linux tcp_rcv_rtt_measure_ts).
    pub(crate) rcv_rtt: OptU64,

    /// The stack is under memory pressure / over its memory maximum (set by the
    /// stack before each call; see `stack/limits.rs`).
    pub(crate) mem_pressure: bool,
    pub(crate) mem_over: bool,

    pub(crate) error: Option<ConnectionError>,
    /// The last ICMP soft error (RFC 1122 §4.2.3.9): reported instead of
    /// `TimedOut` if the connection then times out (`stack/icmp.rs`).
    pub(crate) soft_error: Option<ConnectionError>,
    pub(crate) stats: ConnStats,
}

/// The MSS we advertise from `local`.
fn our_mss(local: SocketAddr, cfg: &TcpConfig) -> u16 {
    if local.is_ipv4() {
        cfg.mss
    } else {
        cfg.mss.saturating_sub(20)
    }
}

/// Bytes of each ring (send, receive, RACK records) a TCB kept for reuse may hold
/// on to; larger allocations are given back when the connection is freed, so a
/// pooled TCB, and the idle connection it may become, costs little more than a
/// fresh one.
pub(crate) const POOLED_RING_KEEP: usize = 512;

/// How long a connection must be quiet (nothing sent or received, nothing
/// queued either way) before its buffers are given back.
pub(crate) const IDLE_TRIM_AFTER: core::time::Duration = core::time::Duration::from_secs(2);

impl Tcb {
    /// A new connection in CLOSED, before the caller moves it to SYN-SENT or SYN-RECEIVED.
    pub(crate) fn new(
        handle: SocketHandle,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        ts_offset: u32,
        cfg: &TcpConfig,
    ) -> Self {
        let cc = Cc::new(cfg.congestion, usize::from(our_mss(local, cfg)));
        Self::with_cc(handle, local, remote, iss, ts_offset, cfg, cc)
    }

    /// Makes a freed connection's TCB (see [`Tcb::park`]) into the new connection
    /// [`Tcb::new`] would make, in the same allocations: the box itself (with
    /// CUBIC in it, or another congestion controller's box), and the small
    /// rings [`Tcb::park`] kept
    /// (the RACK state is not kept: a new connection has none until it sends).
    ///
    /// Field by field, in place: building a whole `Tcb` and moving it in cost a
    /// 752-byte temporary, its copy and the old value's drop (a renewal took
    /// ~570 instructions that way, ~360 now). Every field is named in the
    /// pattern (no `..`), so a field added to `Tcb` does not compile until it is
    /// reset here too; the values are [`Tcb::new`]'s (test
    /// `freed_tcbs_are_pooled_small_and_renewed_fresh` compares the two after
    /// setting fields a plain exchange leaves alone).
    pub(crate) fn renew(
        &mut self,
        handle: SocketHandle,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        ts_offset: u32,
        cfg: &TcpConfig,
    ) {
        let advertised = our_mss(local, cfg);
        let Self {
            handle: slot_handle,
            state,
            local: local_addr,
            remote: remote_addr,
            parent,
            orphan,
            iss: our_iss,
            snd_una,
            una_advanced,
            snd_nxt,
            snd_max,
            snd_wnd,
            max_snd_wnd,
            snd_wl1,
            snd_wl2,
            snd_wscale,
            send_buf,
            snd_buf_seq,
            write_closed,
            irs,
            rcv_nxt,
            rcv_wscale,
            rcv_adv,
            wnd_cache,
            wnd_cache_key,
            recv_buf,
            recv_cap,
            reasm,
            rcv_off,
            peer_fin_off,
            fin_received,
            dsack,
            last_ooo,
            read_closed,
            mss,
            our_mss: adv_mss,
            sack_ok,
            ts_ok,
            ts_recent,
            ts_recent_at,
            ts_offset: our_ts_offset,
            last_ack_sent,
            wscale_ok,
            rtx_deadline,
            persist_deadline,
            delack_deadline,
            rtt,
            rtt_timing_end,
            rtt_timing_at,
            retries,
            persist_backoff,
            probes_out,
            cc,
            dupacks,
            recover,
            sb,
            rack,
            rack_deadline,
            tlp_deadline,
            tlp_pending,
            tlp_end,
            high_rxt,
            undo,
            prr,
            prr_allow,
            latest_rtt,
            rtx_one,
            probe_pending,
            frto,
            idle_restart,
            pacing,
            pacer,
            pace_deadline,
            pacing_rate,
            pacing_rate_stale,
            last_data_sent,
            ack_now,
            unacked_segs,
            quickack,
            nodelay,
            linger_zero,
            keepalive,
            keepalive_deadline,
            fin_wait_2_deadline,
            keepalive_probes,
            keepalive_pending,
            last_rcv,
            user_timeout,
            progress_at,
            rcvbuf_locked,
            sndbuf_locked,
            rcv_space,
            rcv_space_prev,
            rcv_rtt,
            mem_pressure,
            mem_over,
            error,
            soft_error,
            stats,
        } = self;
        *slot_handle = handle;
        *state = State::Closed;
        *local_addr = local;
        *remote_addr = remote;
        *parent = None;
        *orphan = false;
        *our_iss = iss;
        *snd_una = iss;
        *una_advanced = false;
        *snd_nxt = iss;
        *snd_max = iss;
        *snd_wnd = 0;
        *max_snd_wnd = 0;
        *snd_wl1 = SeqNum(0);
        *snd_wl2 = iss;
        *snd_wscale = 0;
        send_buf.recycle(cfg.send_buffer, POOLED_RING_KEEP);
        *snd_buf_seq = iss + 1u32;
        *write_closed = false;
        *irs = SeqNum(0);
        *rcv_nxt = SeqNum(0);
        *rcv_wscale = cfg.rcv_wscale();
        *rcv_adv = SeqNum(0);
        *wnd_cache = 0;
        *wnd_cache_key = WND_CACHE_STALE;
        recv_buf.clear();
        *recv_cap = buffer_u32(cfg.recv_buffer);
        *reasm = Reassembly::new();
        *rcv_off = 0;
        *peer_fin_off = OptU64::NONE;
        *fin_received = false;
        *dsack = None;
        *last_ooo = OptU64::NONE;
        *read_closed = false;
        *mss = if local.is_ipv4() {
            DEFAULT_MSS_V4
        } else {
            DEFAULT_MSS_V6
        };
        *adv_mss = advertised;
        *sack_ok = false;
        *ts_ok = false;
        *ts_recent = 0;
        *ts_recent_at = Instant::ZERO;
        *our_ts_offset = ts_offset;
        *last_ack_sent = SeqNum(0);
        *wscale_ok = false;
        *rtx_deadline = None;
        *persist_deadline = None;
        *delack_deadline = None;
        *rtt = RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto);
        *rtt_timing_end = SeqNum(0);
        *rtt_timing_at = None;
        *retries = 0;
        *persist_backoff = 0;
        *probes_out = 0;
        cc.rebuild(cfg.congestion, usize::from(advertised));
        *dupacks = 0;
        *recover = None;
        *sb = Scoreboard::default();
        *rack = Rack::default();
        *rack_deadline = None;
        *tlp_deadline = None;
        *tlp_pending = false;
        *tlp_end = None;
        *high_rxt = iss;
        *undo = None;
        *prr = None;
        *prr_allow = 0;
        *latest_rtt = OptU64::NONE;
        *rtx_one = false;
        *probe_pending = false;
        *frto = None;
        *idle_restart = cfg.slow_start_after_idle;
        *pacing = cfg.pacing;
        *pacer = Pacer::default();
        *pace_deadline = None;
        *pacing_rate = PaceRate::default();
        *pacing_rate_stale = true;
        *last_data_sent = None;
        *ack_now = false;
        *unacked_segs = 0;
        *quickack = 16;
        *nodelay = cfg.nodelay;
        *linger_zero = false;
        *keepalive = cfg.keepalive.map(Box::new);
        *keepalive_deadline = None;
        *fin_wait_2_deadline = None;
        *keepalive_probes = 0;
        *keepalive_pending = false;
        *last_rcv = Instant::ZERO;
        *user_timeout = user_timeout_us(cfg.user_timeout);
        *progress_at = Instant::ZERO;
        *rcvbuf_locked = !cfg.auto_tune;
        *sndbuf_locked = !cfg.auto_tune;
        *rcv_space = None;
        *rcv_space_prev = 0;
        *rcv_rtt = OptU64::NONE;
        *mem_pressure = false;
        *mem_over = false;
        *error = None;
        *soft_error = None;
        *stats = ConnStats::default();
    }

    /// A freed connection's TCB goes to the stack's pool: everything but the box,
    /// the congestion controller and rings of at most [`POOLED_RING_KEEP`] bytes is
    /// given back now ([`Tcb::renew`] resets the rest).
    /// The RACK state goes to `racks` (kept if it holds fewer than `racks_cap`).
    pub(crate) fn park(&mut self, racks: &mut RackSpares, racks_cap: usize) {
        self.send_buf.recycle(0, POOLED_RING_KEEP);
        self.recv_buf.clear();
        if self.recv_buf.capacity() > POOLED_RING_KEEP {
            self.recv_buf = RecvRing::new();
        }
        racks.put(&mut self.rack, racks_cap, POOLED_RING_KEEP);
        self.reasm = Reassembly::new();
    }

    /// The heap bytes a parked TCB holds beyond its box and congestion controller.
    #[cfg(test)]
    pub(crate) fn parked_bytes(&self) -> usize {
        self.send_buf.allocated() + self.recv_buf.allocated()
    }

    fn with_cc(
        handle: SocketHandle,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        ts_offset: u32,
        cfg: &TcpConfig,
        cc: Cc,
    ) -> Self {
        let our_mss = our_mss(local, cfg);
        Self {
            handle,
            state: State::Closed,
            local,
            remote,
            parent: None,
            orphan: false,
            iss,
            snd_una: iss,
            una_advanced: false,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            snd_wscale: 0,
            send_buf: SendBuffer::new(cfg.send_buffer),
            snd_buf_seq: iss + 1u32,
            write_closed: false,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_wscale: cfg.rcv_wscale(),
            rcv_adv: SeqNum(0),
            wnd_cache: 0,
            wnd_cache_key: WND_CACHE_STALE,
            recv_buf: RecvRing::new(),
            recv_cap: buffer_u32(cfg.recv_buffer),
            reasm: Reassembly::new(),
            rcv_off: 0,
            peer_fin_off: OptU64::NONE,
            fin_received: false,
            dsack: None,
            last_ooo: OptU64::NONE,
            read_closed: false,
            mss: if local.is_ipv4() {
                DEFAULT_MSS_V4
            } else {
                DEFAULT_MSS_V6
            },
            our_mss,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: Instant::ZERO,
            ts_offset,
            last_ack_sent: SeqNum(0),
            wscale_ok: false,
            rtx_deadline: None,
            persist_deadline: None,
            delack_deadline: None,
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            rtt_timing_end: SeqNum(0),
            rtt_timing_at: None,
            retries: 0,
            persist_backoff: 0,
            probes_out: 0,
            cc,
            dupacks: 0,
            recover: None,
            sb: Scoreboard::default(),
            rack: Rack::default(),
            rack_deadline: None,
            tlp_deadline: None,
            tlp_pending: false,
            tlp_end: None,
            high_rxt: iss,
            undo: None,
            prr: None,
            prr_allow: 0,
            latest_rtt: OptU64::NONE,
            rtx_one: false,
            probe_pending: false,
            frto: None,
            idle_restart: cfg.slow_start_after_idle,
            pacing: cfg.pacing,
            pacer: Pacer::default(),
            pace_deadline: None,
            pacing_rate: PaceRate::default(),
            pacing_rate_stale: true,
            last_data_sent: None,
            ack_now: false,
            unacked_segs: 0,
            quickack: 16,
            nodelay: cfg.nodelay,
            linger_zero: false,
            keepalive: cfg.keepalive.map(Box::new),
            keepalive_deadline: None,
            fin_wait_2_deadline: None,
            keepalive_probes: 0,
            keepalive_pending: false,
            last_rcv: Instant::ZERO,
            user_timeout: user_timeout_us(cfg.user_timeout),
            progress_at: Instant::ZERO,
            rcvbuf_locked: !cfg.auto_tune,
            sndbuf_locked: !cfg.auto_tune,
            rcv_space: None,
            rcv_space_prev: 0,
            rcv_rtt: OptU64::NONE,
            mem_pressure: false,
            mem_over: false,
            error: None,
            soft_error: None,
            stats: ConnStats::default(),
        }
    }

    /// Changes state, checking the change against the transition table and
    /// emitting the event.
    pub(crate) fn transition(&mut self, to: State, cause: Cause, ctx: &mut Ctx<'_>) {
        let from = self.state;
        if from == to {
            return;
        }
        debug_assert!(
            crate::tcp::state::is_allowed(from, to, cause),
            "transition {from} -> {to} ({cause:?}) not in table"
        );
        self.state = to;
        if to == State::FinWait2 {
            self.arm_fin_wait_2(ctx);
        }
        if to == State::Established {
            ctx.counters.established += 1;
            self.last_rcv = ctx.now;
            self.arm_keepalive(ctx.now);
        }
        ctx.events.push(
            Event::StateChanged {
                at: ctx.now,
                handle: Some(self.handle),
                local: self.local,
                remote: Some(self.remote),
                from,
                to,
                cause,
            },
            ctx.counters,
        );
    }

    /// An orphan (closed by the application) in FIN-WAIT-2 waits only so long.
    pub(crate) fn arm_fin_wait_2(&mut self, ctx: &Ctx<'_>) {
        if self.orphan && self.state == State::FinWait2 && self.fin_wait_2_deadline.is_none() {
            self.fin_wait_2_deadline = Some(ctx.now + ctx.cfg.fin_wait_2_timeout);
        }
    }

    /// Ends the connection with an error: CLOSED, buffers dropped, timers off.
    pub(crate) fn fail(&mut self, error: ConnectionError, cause: Cause, ctx: &mut Ctx<'_>) {
        self.error = Some(error);
        self.transition(State::Closed, cause, ctx);
        self.stop_timers();
        self.send_buf.consume(self.send_buf.len());
        if error != ConnectionError::Aborted {
            ctx.events.push(
                Event::Error {
                    at: ctx.now,
                    handle: self.handle,
                    error,
                },
                ctx.counters,
            );
        }
    }

    pub(crate) fn stop_timers(&mut self) {
        self.rtx_deadline = None;
        self.persist_deadline = None;
        self.delack_deadline = None;
        self.keepalive_deadline = None;
        self.fin_wait_2_deadline = None;
        self.rack_deadline = None;
        self.tlp_deadline = None;
        self.pace_deadline = None;
    }

    /// The earliest time [`Tcb::on_timeout`] must run.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        // A chain of pairwise minima (it runs on every segment): no array, no
        // iterator adaptors.
        let mut t = earliest(self.rtx_deadline, self.persist_deadline);
        t = earliest(t, self.keepalive_deadline);
        t = earliest(t, self.fin_wait_2_deadline);
        t = earliest(t, self.rack_deadline);
        t = earliest(t, self.tlp_deadline);
        t = earliest(t, self.pace_deadline);
        t = earliest(t, self.delack_deadline);
        if self.user_timeout.get().is_some() {
            t = earliest(t, self.user_deadline());
        }
        earliest(t, self.idle_trim_deadline())
    }

    /// When an idle connection's buffers are given back: [`IDLE_TRIM_AFTER`]
    /// after the last segment either way, if by then nothing waits in either
    /// direction and memory is held (the rings grow to whatever a transfer
    /// needed, up to megabytes with auto-tuning; an idle connection keeps none).
    pub(crate) fn idle_trim_deadline(&self) -> Option<Instant> {
        // Runs on every segment (via `next_deadline`): the checks that fail
        // during a transfer come first.
        let quiet = self.snd_una == self.snd_max
            && self.send_buf.len() == 0
            && self.recv_buf.is_empty()
            && self.reasm.is_empty();
        let holds = quiet
            && (self.recv_buf.holds_memory()
                || self.send_buf.allocated() > 0
                || self.rack.idle_bytes() > 0);
        if !holds {
            return None;
        }
        let last = self
            .last_data_sent
            .map_or(self.last_rcv, |s| s.max(self.last_rcv));
        Some(last + IDLE_TRIM_AFTER)
    }

    /// Gives back the rings and the RACK record queue of an idle connection
    /// ([`Tcb::idle_trim_deadline`]); they grow again on demand.
    pub(crate) fn trim_idle(&mut self) {
        self.recv_buf = RecvRing::new();
        self.reasm = Reassembly::new();
        let cap = self.send_buf.capacity();
        self.send_buf.recycle(cap, 0);
        self.rack.trim();
    }

    /// When the user timeout runs out, while data waits for acknowledgment or the
    /// peer's window is closed.
    pub(crate) fn user_deadline(&self) -> Option<Instant> {
        let waiting = self.snd_una != self.snd_max || self.persist_deadline.is_some();
        self.user_timeout
            .duration()
            .filter(|_| waiting && self.state != State::Closed)
            .map(|t| self.progress_at + t)
    }

    /// Arms keepalive for `idle` after the last segment from the peer.
    pub(crate) fn arm_keepalive(&mut self, _now: Instant) {
        self.keepalive_deadline = self
            .keepalive
            .as_deref()
            .filter(|_| self.state.is_synchronized())
            .map(|k| self.last_rcv + k.idle);
    }

    /// RFC 1122 §4.2.3.6: probe an idle connection; after `count` unanswered probes,
    /// the connection is dead.
    pub(crate) fn on_keepalive(&mut self, ctx: &mut Ctx<'_>) {
        let Some(&k) = self.keepalive.as_deref() else {
            return;
        };
        let now = ctx.now;
        if self.keepalive_probes == 0 && self.last_rcv + k.idle > now {
            // Traffic arrived since the timer was set: wait for the full idle time again.
            self.keepalive_deadline = Some(self.last_rcv + k.idle);
            return;
        }
        if self.snd_una != self.snd_max {
            // Data is outstanding: retransmission, not keepalive, watches the peer.
            self.keepalive_deadline = Some(now + k.interval);
            return;
        }
        if self.keepalive_probes >= k.count {
            ctx.counters.timeouts += 1;
            ctx.counters.keepalive_timeouts += 1;
            self.fail(ConnectionError::TimedOut, Cause::Timeout, ctx);
            return;
        }
        self.keepalive_probes += 1;
        self.keepalive_pending = true;
        ctx.counters.keepalive_probes += 1;
        self.keepalive_deadline = Some(now + k.interval);
    }

    /// A segment arrived from the peer: it is alive.
    #[inline]
    pub(crate) fn note_peer_alive(&mut self, now: Instant) {
        self.last_rcv = now;
        if self.keepalive_probes > 0 {
            self.keepalive_probes = 0;
            self.arm_keepalive(now);
        }
    }

    /// Dynamic right-sizing of the receive buffer (as Linux's `tcp_rcv_space_adjust`):
    /// once per receiver RTT, make room for twice what arrived in the last RTT, plus
    /// twice the growth over the previous RTT while the sender is still speeding up,
    /// up to the cap.
    #[inline]
    pub(crate) fn autotune_recv(&mut self, now: Instant, cfg: &TcpConfig) {
        if self.rcvbuf_locked || self.mem_pressure {
            return;
        }
        // In microseconds: this runs for every data segment.
        let rtt_us = self
            .rcv_rtt
            .get()
            .or(self.rtt.srtt_us())
            .unwrap_or(100_000)
            .max(1_000);
        match self.rcv_space {
            None => self.rcv_space = Some((now, self.rcv_off)),
            Some((t, off)) if now.micros().saturating_sub(t.micros()) >= rtt_us => {
                let bytes = usize::try_from(self.rcv_off - off).unwrap_or(usize::MAX);
                let mut want = bytes.saturating_mul(2);
                let prev = self.rcv_space_prev as usize;
                if prev > 0 && bytes > prev {
                    let grow = want.saturating_mul(bytes - prev) / prev;
                    want = want.saturating_add(grow.saturating_mul(2));
                }
                let want = want.min(cfg.recv_buffer_max);
                if want > self.recv_cap as usize {
                    self.recv_cap = buffer_u32(want);
                }
                let bytes32 = u32::try_from(bytes).unwrap_or(u32::MAX);
                self.rcv_space_prev = self.rcv_space_prev.max(bytes32);
                self.rcv_space = Some((now, self.rcv_off));
            }
            Some(_) => {}
        }
    }

    /// Send-buffer expansion: room for two congestion windows, up to the cap.
    pub(crate) fn autotune_send(&mut self, cfg: &TcpConfig) {
        if self.sndbuf_locked || self.mem_pressure {
            return;
        }
        let want = self.cc.cwnd().saturating_mul(2).min(cfg.send_buffer_max);
        if want > self.send_buf.capacity() {
            self.send_buf.set_capacity(want);
        }
    }

    /// Sequence number just past the last queued data byte (where our FIN goes).
    pub(crate) fn data_end(&self) -> SeqNum {
        self.snd_buf_seq + self.send_buf.len()
    }

    /// Whether our FIN has been acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        self.write_closed && self.snd_una == self.data_end() + 1u32
    }

    /// Whether our SYN has been acknowledged: SND.UNA moved past the ISS. The
    /// comparison is exact only until 2^31 bytes are acknowledged (wrapping
    /// sequence space), so the first advance is remembered in `una_advanced`; the
    /// comparison covers a TCB whose SND.UNA was set directly (a SYN-cookie ACK).
    pub(crate) fn syn_acked(&self) -> bool {
        self.una_advanced || self.snd_una.gt(self.iss)
    }

    /// The congestion-control phase, for `info()`.
    pub(crate) fn phase(&self) -> crate::tcp::congestion::Phase {
        use crate::tcp::congestion::Phase;
        if self.retries > 0 && self.snd_una != self.snd_max {
            Phase::Rto
        } else if self.recover.is_some() {
            Phase::Recovery
        } else if self.cc.in_slow_start() {
            Phase::SlowStart
        } else {
            Phase::Avoidance
        }
    }

    /// The pacing rate in bytes per second: the algorithm's own, else Linux's
    /// default (`cwnd/srtt`, × 2 while cwnd < ssthresh/2, × 1.2 after).
    pub(crate) fn pacing_rate_now(&self) -> Option<u64> {
        self.cc.pacing_rate().or_else(|| {
            let cwnd = self.cc.cwnd();
            default_rate(cwnd, self.rtt.srtt(), cwnd < self.cc.ssthresh() / 2)
        })
    }

    /// Bytes in flight (sent, not acknowledged).
    pub(crate) fn in_flight(&self) -> usize {
        usize::try_from((self.snd_max - self.snd_una).max(0)).unwrap_or(0)
    }

    /// The window we can advertise now, in bytes (unscaled).
    pub(crate) fn rcv_wnd(&self) -> u32 {
        let mut free = (self.recv_cap as usize).saturating_sub(self.recv_buf.len());
        if self.mem_pressure {
            // Linux tcp_clamp_window / tcp_adjust_rcv_ssthresh under memory
            // pressure: open the window by at most 4·MSS (never moving its right
            // edge left: see `window_field`).
            free = free.min(4 * usize::from(self.our_mss));
        }
        u32::try_from(free).unwrap_or(u32::MAX)
    }

    /// The segment being timed for an RTT sample (its end), and when it was
    /// first sent.
    pub(crate) fn rtt_timing(&self) -> Option<(SeqNum, Instant)> {
        self.rtt_timing_at.map(|at| (self.rtt_timing_end, at))
    }

    /// Starts timing the segment ending at `end`, sent at `now`.
    pub(crate) fn start_rtt_timing(&mut self, end: SeqNum, now: Instant) {
        self.rtt_timing_end = end;
        self.rtt_timing_at = Some(now);
    }

    /// Bytes this connection holds in its buffers (for the stack's accounting).
    pub(crate) fn mem_bytes(&self) -> usize {
        self.send_buf.len() + self.recv_buf.len() + self.reasm.buffered()
    }

    /// RFC 7323 §4.3: our TSval clock, 1 ms per tick, offset per connection.
    pub(crate) fn ts_val(&self, now: Instant) -> u32 {
        // Truncation to 32 bits is the timestamp clock's wraparound.
        (now.millis() as u32).wrapping_add(self.ts_offset)
    }

    /// Whether the peer's timestamps are too stale for PAWS (RFC 7323 §5.5).
    pub(crate) fn ts_recent_expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.ts_recent_at) > PAWS_IDLE_LIMIT
    }

    // ---- application operations ----

    /// RFC 9293 §3.10.2 SEND.
    pub(crate) fn send(&mut self, data: &[u8]) -> Result<usize, SendError> {
        if let Some(_e) = self.error {
            return Err(SendError::Connection);
        }
        if self.write_closed {
            return Err(SendError::Closed);
        }
        match self.state {
            // RFC 9293: "queue the data for transmission after entering ESTABLISHED"
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {}
            State::Closed | State::Listen => return Err(SendError::NotConnected),
            _ => return Err(SendError::Closed),
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.send_buf.push(data);
        if n == 0 {
            return Err(SendError::WouldBlock);
        }
        self.stats_note_sent(n);
        Ok(n)
    }

    fn stats_note_sent(&mut self, _n: usize) {}

    /// RFC 9293 §3.10.3 RECEIVE. `Ok(0)` means end of stream.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        // Run by run (the ring's pieces, each kept packet), until `buf` is full.
        let mut n = 0;
        self.recv_each(|run| {
            let k = run.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&run[..k]);
            n += k;
            k
        })
    }

    /// RECEIVE in place: `f` gets the oldest unread bytes that lie contiguous
    /// (all of them unless the ring wraps or they are in a kept packet: call
    /// again for the rest) and
    /// returns how many it consumed; at end of stream it gets an empty slice.
    pub(crate) fn recv_with<R>(
        &mut self,
        f: impl FnOnce(&[u8]) -> (usize, R),
    ) -> Result<R, RecvError> {
        if self.recv_buf.is_empty() {
            self.nothing_to_read()?;
            return Ok(f(&[]).1);
        }
        let (a, _) = self.recv_buf.as_slices();
        let (n, r) = f(a);
        let n = n.min(a.len());
        if n > 0 {
            self.consume_read(n);
        }
        Ok(r)
    }

    /// RECEIVE in place, run by run: `f` gets each contiguous run of unread
    /// bytes in order and returns how many it consumed; stops after a run not
    /// consumed whole. Returns the bytes consumed (0 at end of stream).
    pub(crate) fn recv_each(
        &mut self,
        mut f: impl FnMut(&[u8]) -> usize,
    ) -> Result<usize, RecvError> {
        if self.recv_buf.is_empty() {
            return self.nothing_to_read().map(|()| 0);
        }
        let before = self.rcv_wnd();
        let mut total = 0;
        loop {
            let (a, _) = self.recv_buf.as_slices();
            let len = a.len();
            if len == 0 {
                break;
            }
            let n = f(a).min(len);
            self.recv_buf.consume(n);
            total += n;
            if n < len {
                break;
            }
        }
        if total > 0 {
            self.maybe_window_update(before);
        }
        Ok(total)
    }

    /// Why there is nothing to read: `Ok` at end of stream, else the error.
    fn nothing_to_read(&self) -> Result<(), RecvError> {
        if self.fin_received || self.read_closed {
            return Ok(());
        }
        if self.error.is_some() {
            return Err(RecvError::Connection);
        }
        match self.state {
            State::Closed | State::Listen | State::SynSent | State::SynReceived => {
                Err(RecvError::NotConnected)
            }
            _ => Err(RecvError::WouldBlock),
        }
    }

    /// The application read `n` held bytes: drop them and see whether the window
    /// grew enough to tell the peer.
    fn consume_read(&mut self, n: usize) {
        let before = self.rcv_wnd();
        self.recv_buf.consume(n);
        self.maybe_window_update(before);
    }

    /// RFC 1122 §4.2.3.3: after the application reads, send a window update when the
    /// window grew by at least min(2·MSS, half the buffer) since we last advertised it.
    fn maybe_window_update(&mut self, before: u32) {
        let advertised = (self.rcv_adv - self.rcv_nxt).max(0) as u32;
        let now_wnd = self.rcv_wnd();
        let threshold = (2 * u32::from(self.our_mss)).min(self.recv_cap / 2);
        if self.state.can_receive()
            && now_wnd > before
            && now_wnd.saturating_sub(advertised) >= threshold
        {
            self.ack_now = true;
        }
    }

    /// Bytes ready to read.
    pub(crate) fn recv_queue(&self) -> usize {
        self.recv_buf.len()
    }

    /// RFC 9293 §3.10.4 CLOSE (and shutdown of writing): queue a FIN after the data.
    /// Returns false if writing was already closed.
    pub(crate) fn close_write(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.write_closed {
            return false;
        }
        match self.state {
            State::SynSent => {
                // RFC 9293 §3.10.4: "Delete the TCB and return 'error: closing' responses
                // to any queued SENDs, or RECEIVEs."
                self.transition(State::Closed, Cause::AppClose, ctx);
                self.stop_timers();
                return true;
            }
            State::SynReceived | State::Established => {
                self.write_closed = true;
                self.transition(State::FinWait1, Cause::AppClose, ctx);
            }
            State::CloseWait => {
                self.write_closed = true;
                self.transition(State::LastAck, Cause::AppClose, ctx);
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use core::mem::size_of;

    /// Issue 7: an idle established connection with empty buffers costs at most
    /// 1 KiB of heap: the boxed `Tcb` (CUBIC, the default congestion
    /// controller, inside it; any other algorithm boxed) and its share of the
    /// stack's tables (~70-100 bytes). These pin the sizes that add up to it
    /// (64-bit targets); a field that grows them has to be paid for elsewhere,
    /// or the state it needs boxed until it is used. 832 = the 752 of the TCB
    /// with a boxed controller, plus CUBIC's 120 in place of a 16-byte box
    /// pointer, minus 24 bytes shaved (4-byte episode counters in the stats,
    /// the RTT-timing sequence number and `rcv_space_prev` packed with the
    /// other 4-byte fields).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn idle_connection_sizes_are_pinned() {
        assert_eq!(size_of::<Option<Instant>>(), 8);
        assert_eq!(size_of::<Rack>(), 16);
        assert_eq!(size_of::<Reassembly>(), 8);
        assert_eq!(size_of::<Scoreboard>(), 8);
        assert_eq!(size_of::<RttEstimator>(), 48);
        let tcb = size_of::<Tcb>();
        assert!(tcb <= 832, "Tcb is {tcb} bytes");
        let cubic = size_of::<crate::tcp::congestion::Cubic>();
        assert!(cubic <= 120, "Cubic is {cubic} bytes");
        assert_eq!(size_of::<crate::tcp::congestion::Cc>(), cubic);
    }
}
