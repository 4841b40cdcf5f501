//! Segment production for a connection: SYN and SYN,ACK, data under the peer's
//! window and the congestion window (with Nagle and sender-side SWS avoidance,
//! RFC 1122 §4.2.3.4), FIN, fast retransmission, zero-window probes and ACKs.
//!
//! [`Tcb::poll_segment`] returns at most one segment per call; the stack calls it
//! until it returns `None`, and writes each segment with [`Tcb::emit`] (or takes
//! its [`Tcb::header`]) before asking again.

use core::cmp::min;
use core::net::SocketAddr;

use crate::tcp::conn::{Ctx, Tcb, WND_CACHE_STALE, WND_CACHE_VALID};
use crate::tcp::pacing::{PaceRate, HEADER_BYTES};
use crate::tcp::seq::SeqNum;
use crate::tcp::state::State;
use crate::time::Instant;
use crate::wire::{
    self, EmitError, SackBlock, TcpFlags, TcpHeader, TcpOptions, Timestamps, MAX_SACK_BLOCKS,
};

/// A segment to emit, as the connection decided it: where it starts, its
/// control bits, and which bytes of the send buffer it carries. The rest of
/// the header (ACK, window, options) describes the receive side, and is
/// written when the segment is: [`Tcb::emit`], [`Tcb::header`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutSegment {
    pub(crate) seq: SeqNum,
    pub(crate) flags: TcpFlags,
    /// Offset of the payload in the send buffer.
    pub(crate) payload_off: usize,
    pub(crate) payload_len: usize,
}

impl Tcb {
    /// The next segment this connection wants to send, if any.
    pub(crate) fn poll_segment(&mut self, ctx: &mut Ctx<'_>) -> Option<OutSegment> {
        // TIME-WAIT still sends the ACK of the peer's FIN.
        if matches!(self.state, State::Closed | State::Listen) {
            return None;
        }
        if !self.syn_acked() && self.snd_nxt == self.iss {
            return Some(self.build_syn(ctx));
        }
        if let Some(seg) = self.poll_data(ctx) {
            return Some(seg);
        }
        if self.keepalive_pending {
            self.keepalive_pending = false;
            // RFC 1122 §4.2.3.6: a keepalive is a segment with SEG.SEQ = SND.NXT-1,
            // which the peer must acknowledge.
            return Some(self.segment(self.snd_una + u32::MAX, TcpFlags::ACK, 0, 0));
        }
        if self.probe_pending {
            self.probe_pending = false;
            // The override timeout of RFC 1122 §4.2.3.4: if the window is open but
            // small, send what fits (as Linux's tcp_write_wakeup does).
            let room = (self.snd_wnd as usize)
                .saturating_sub((self.snd_nxt - self.snd_una).max(0) as usize);
            if room > 0 && self.snd_nxt == self.snd_max {
                if let Some(seg) = self.build_data(self.snd_nxt, room, false, ctx) {
                    return Some(seg);
                }
            }
            // A zero-window probe (RFC 9293 §3.8.6.1) as Linux sends it: an ACK carrying
            // an old sequence number, which the receiver must answer with its window.
            self.arm_persist(ctx);
            return Some(self.segment(self.snd_una + u32::MAX, TcpFlags::ACK, 0, 0));
        }
        if self.ack_now && self.state != State::SynSent {
            // SEQ of a pure ACK: the highest sequence number sent, not SND.NXT, which a
            // timeout may have rewound below the peer's RCV.NXT — the peer would drop
            // such an ACK unread (Linux tcp_acceptable_seq; found by the swarm).
            return Some(self.segment(self.snd_max, TcpFlags::ACK, 0, 0));
        }
        None
    }

    /// The common segment of a bulk transfer, decided and written in one step:
    /// a full-sized segment of new data in the middle of a flight over IPv4 with
    /// timestamps, when nothing else can come first (no fast retransmission,
    /// tail loss probe or recovery, no SACK blocks to carry) and the pacer,
    /// the peer's window and the congestion window each let a whole MSS go
    /// with more data behind it (so no PSH, no FIN, no Nagle or SWS question;
    /// F-RTO's allowance only ever raises the congestion room to one MSS). Returns `None`, having changed nothing, for every other case:
    /// the general path ([`Tcb::poll_segment`], [`Tcb::poll_more`],
    /// [`Tcb::emit`]) then decides. When it sends, it does what that path would:
    /// the same bookkeeping (`send_data`), the same header, and the stack asks
    /// again (data remains). Test: `transmit_fast_path_changes_nothing_on_the_wire`.
    #[inline]
    pub(crate) fn transmit_full(
        &mut self,
        ctx: &mut Ctx<'_>,
        hop_limit: u8,
        buf: &mut [u8],
    ) -> Option<Result<usize, EmitError>> {
        let seq = self.snd_nxt;
        // The branches of poll_segment and poll_data taken before new data,
        // and next_data_segment's: synchronized with our SYN acknowledged, not
        // going back (snd_nxt = snd_max), something in flight (so neither the
        // idle restart nor the user timeout's start applies). Pure tests, the
        // ones that fail most often outside a bulk transfer first (the
        // handshake, a request or reply sent with nothing in flight, a pure
        // ACK), and the addresses last: they are copied to be matched.
        if self.state != State::Established
            || seq == self.snd_una
            || !self.ts_ok
            || self.rtx_one
            || self.tlp_pending
            || self.recover.is_some()
            || seq != self.snd_max
            || !self.syn_acked()
            || (self.pacing && !self.pacer.ready(ctx.now))
            || self.sack_due(TcpFlags::ACK)
        {
            return None;
        }
        let (SocketAddr::V4(local), SocketAddr::V4(remote)) = (self.local, self.remote) else {
            return None;
        };
        let mss = usize::from(self.mss);
        let off = (seq - self.snd_buf_seq).max(0) as usize;
        let avail = self.send_buf.len().saturating_sub(off);
        // snd_una < snd_nxt: checked above.
        let used = (seq - self.snd_una) as usize;
        let peer_room = (self.snd_wnd as usize).saturating_sub(used);
        // RFC 3042 limited transmit, as in next_data_segment.
        let limited = self.dupacks.min(2) as usize * mss;
        let cc_room = self.cc.cwnd().saturating_add(limited).saturating_sub(used);
        if mss == 0 || avail <= mss || peer_room < mss || cc_room < mss {
            return None;
        }
        let seg = self.send_data(seq, off, mss, false, ctx);
        debug_assert!(seg.flags == TcpFlags::ACK && seg.payload_len == mss);
        ctx.counters.segments_out_fast += 1;
        let hdr = TcpHeader {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: seg.seq,
            ack: self.rcv_nxt,
            flags: seg.flags,
            window: self.window_field_kept(),
            urgent: 0,
            options: TcpOptions {
                timestamps: Some(Timestamps {
                    val: self.ts_val(ctx.now),
                    ecr: self.ts_recent,
                }),
                ..TcpOptions::default()
            },
        };
        let payload = self.send_buf.slices(off, mss).into();
        Some(wire::emit_v4_plain(
            *local.ip(),
            *remote.ip(),
            hop_limit,
            &hdr,
            payload,
            buf,
        ))
    }

    /// After [`Tcb::poll_segment`] returned a segment: whether the stack should
    /// ask again. When the answer is no, this does what that call would have
    /// done (it would have found nothing to send), so the stack can skip it.
    #[inline]
    pub(crate) fn poll_more(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.may_poll_more() {
            return true;
        }
        self.poll_nothing_more(ctx.now);
        #[cfg(debug_assertions)]
        {
            // The empty call, made anyway: nothing to send, and no side effect
            // beyond the one above.
            let before = (self.rack.app_limited_until(), self.next_deadline());
            debug_assert!(self.poll_segment(ctx).is_none(), "may_poll_more said no");
            debug_assert_eq!(
                before,
                (self.rack.app_limited_until(), self.next_deadline())
            );
        }
        false
    }

    /// Whether [`Tcb::poll_segment`] could return a segment if asked now. An
    /// upper bound (a false "yes" costs one more call); a false "no" would hold
    /// back a segment, so it covers every branch of `poll_segment` that can
    /// produce one.
    fn may_poll_more(&self) -> bool {
        if matches!(self.state, State::Closed | State::Listen) {
            return false;
        }
        (!self.syn_acked() && self.snd_nxt == self.iss)
            || self.may_send_data()
            || self.keepalive_pending
            || self.probe_pending
            || (self.ack_now && self.state != State::SynSent)
    }

    /// What [`Tcb::poll_segment`] does when [`Tcb::may_poll_more`] is false:
    /// send nothing, and note that the sender is application-limited (the
    /// `avail == 0` branch of `next_data_segment`, behind the same gates).
    fn poll_nothing_more(&mut self, now: Instant) {
        if matches!(self.state, State::Closed | State::Listen)
            || (self.pacing && !self.pacer.ready(now))
            || !self.syn_acked()
            || !self.state.is_synchronized()
        {
            return;
        }
        self.note_app_limited();
    }

    /// Out of data with room in the window: delivery-rate samples until what
    /// is in flight now is delivered measure the application, not the path.
    fn note_app_limited(&mut self) {
        if self.in_flight() < self.cc.cwnd() {
            self.rack.on_app_limited(self.in_flight());
        }
    }

    /// Data, if the pacer lets a segment go now: a fast retransmission, a tail loss
    /// probe, a SACK-recovery segment, or new data. A paced-out sender arms the
    /// pacing timer instead.
    fn poll_data(&mut self, ctx: &mut Ctx<'_>) -> Option<OutSegment> {
        if self.pacing && !self.pacer.ready(ctx.now) {
            if self.may_send_data() {
                self.pace_deadline = self.pacer.deadline(ctx.now);
            }
            return None;
        }
        if self.rtx_one {
            self.rtx_one = false;
            if let Some(seg) = self.build_data(self.snd_una, usize::MAX, true, ctx) {
                self.high_rxt = self.high_rxt.max(self.snd_una + seg.payload_len);
                return Some(seg);
            }
        }
        if self.tlp_pending {
            self.tlp_pending = false;
            if let Some(seg) = self.tail_loss_probe(ctx) {
                return Some(seg);
            }
        }
        if self.recover.is_some() && self.sack_ok {
            self.sack_recovery_segment(ctx)
        } else {
            self.next_data_segment(ctx, None)
        }
    }

    /// Whether a data segment could go out if the pacer allowed: an upper bound
    /// (a false "yes" costs one timer wake-up; a false "no" would stall). The
    /// windows are not consulted here: a window-limited sender must still reach
    /// `next_data_segment`, which arms the persist and override timers (a stall
    /// found by the stack_input fuzz target).
    fn may_send_data(&self) -> bool {
        if self.rtx_one || self.tlp_pending || self.recover.is_some() {
            return true;
        }
        let data_end = self.data_end();
        self.snd_nxt.lt(data_end) || (self.write_closed && self.snd_nxt.le(data_end))
    }

    /// RFC 6675 §5 (C): while in loss recovery with SACK, and the pipe leaves room
    /// for a segment, send NextSeg: first the lowest lost hole not yet retransmitted,
    /// then new data.
    fn sack_recovery_segment(&mut self, ctx: &mut Ctx<'_>) -> Option<OutSegment> {
        let mss = usize::from(self.mss);
        // PRR (RFC 6937) paces the reduction; without it, RFC 6675's cwnd − pipe.
        let room = if self.prr.is_some() {
            self.prr_allow as usize
        } else {
            self.cc.cwnd().saturating_sub(self.pipe())
        };
        if room == 0 || (self.prr.is_none() && room < mss) {
            return None;
        }
        if let Some((l, r)) = self.rack.first_lost() {
            let len = ((r - l) as usize).min(mss);
            if let Some(seg) = self.build_data(l, len, true, ctx) {
                self.high_rxt = self.high_rxt.max(l + seg.payload_len);
                ctx.counters.sack_retransmits += 1;
                self.prr_sent(seg.payload_len.max(1));
                return Some(seg);
            }
        }
        let seg = self.next_data_segment(ctx, Some(room.max(mss)))?;
        self.prr_sent(seg.payload_len.max(1));
        Some(seg)
    }

    /// Charges a transmission during recovery to PRR's allowance.
    fn prr_sent(&mut self, bytes: usize) {
        if let Some(prr) = self.prr.as_mut() {
            prr.on_sent(bytes);
            self.prr_allow = self
                .prr_allow
                .saturating_sub(u32::try_from(bytes).unwrap_or(u32::MAX));
        }
    }

    /// RFC 8985 §7.3: the tail loss probe — one segment of new data if the peer's
    /// window allows, else the last segment again — so that a lost tail is
    /// reported by SACK within an RTT instead of waiting for the RTO.
    fn tail_loss_probe(&mut self, ctx: &mut Ctx<'_>) -> Option<OutSegment> {
        let mss = usize::from(self.mss);
        let seg = match self.next_data_segment(ctx, Some(mss)) {
            Some(seg) => Some(seg),
            None => {
                let (s, e) = self.rack.last()?;
                self.build_data(s, (e - s).max(0) as usize, true, ctx)
            }
        }?;
        self.tlp_end = Some(self.snd_max);
        self.tlp_deadline = None;
        self.rtx_deadline = Some(ctx.now + self.rtt.rto());
        Some(seg)
    }

    /// SYN (active open) or SYN,ACK (passive or simultaneous open); its options
    /// are written with its header (`syn_options`).
    fn build_syn(&mut self, ctx: &mut Ctx<'_>) -> OutSegment {
        let mut flags = TcpFlags::SYN;
        if self.state != State::SynSent {
            flags |= TcpFlags::ACK;
        }
        if self.snd_max != self.iss {
            self.note_retransmit(ctx);
        } else {
            self.start_rtt_timing(self.iss + 1u32, ctx.now);
        }
        self.snd_nxt = self.iss + 1u32;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        self.arm_rtx(ctx);
        self.segment(self.iss, flags, 0, 0)
    }

    /// New data, or data resent after a timeout, within the windows. `budget`
    /// replaces the congestion-window check during SACK recovery (cwnd − pipe).
    fn next_data_segment(
        &mut self,
        ctx: &mut Ctx<'_>,
        budget: Option<usize>,
    ) -> Option<OutSegment> {
        if !self.syn_acked() || !self.state.is_synchronized() {
            return None;
        }
        self.restart_after_idle(ctx.now);
        let mut retransmission = self.snd_nxt.lt(self.snd_max);
        let mut hole_len = usize::MAX;
        if retransmission && !self.sb.is_empty() {
            // Going back after a timeout: skip what the receiver already holds.
            match self.sb.next_hole(self.snd_nxt, self.snd_max) {
                Some((l, r)) => {
                    self.snd_nxt = l;
                    hole_len = (r - l) as usize;
                }
                None => {
                    self.snd_nxt = self.snd_max;
                    retransmission = false;
                }
            }
        }
        let data_end = self.data_end();
        let fin_pending = self.write_closed && self.snd_nxt.le(data_end);
        let off = (self.snd_nxt - self.snd_buf_seq).max(0) as usize;
        let avail = self.send_buf.len().saturating_sub(off);
        if avail == 0 && !fin_pending {
            self.note_app_limited();
            return None;
        }
        let used = (self.snd_nxt - self.snd_una).max(0) as usize;
        let peer_room = (self.snd_wnd as usize).saturating_sub(used);
        let mss = usize::from(self.mss);
        // RFC 3042 §2 (limited transmit): "a TCP sender SHOULD send a segment of
        // previously unsent data in response to each of the first two duplicate
        // acknowledgments ... [if] the outstanding data would remain less than or
        // equal to the congestion window plus 2*SMSS bytes"; cwnd itself is not
        // changed.
        let limited = if self.recover.is_none() && !retransmission {
            self.dupacks.min(2) as usize * mss
        } else {
            0
        };
        let mut cc_room =
            budget.unwrap_or_else(|| self.cc.cwnd().saturating_add(limited).saturating_sub(used));
        if !retransmission && self.frto.as_ref().is_some_and(|f| f.new_allowed > 0) {
            // RFC 5682 §3.1 step 2 (b): "transmit up to two new (previously unsent)
            // segments", whatever the window after the timeout says.
            cc_room = cc_room.max(mss);
        }
        let usable = peer_room.min(cc_room);
        let n = avail.min(mss).min(usable).min(hole_len);
        if n == 0 && avail > 0 {
            // The peer's window is closed with nothing in flight: probe it.
            if self.snd_wnd == 0 && self.snd_una == self.snd_max && self.persist_deadline.is_none()
            {
                self.arm_persist(ctx);
            }
            return None;
        }
        if n < mss && !retransmission && !self.write_closed {
            if n < avail {
                // RFC 1122 §4.2.3.4 (3): send a window-limited short segment only if it is
                // at least half the largest window the peer has offered ...
                if n < (self.max_snd_wnd as usize) / 2 {
                    // ... or when the override timeout fires (the persist timer here),
                    // so a small window never stalls a sender with nothing in flight.
                    if self.snd_una == self.snd_max && self.persist_deadline.is_none() {
                        self.arm_persist(ctx);
                    }
                    return None;
                }
            } else if !self.nodelay && self.snd_una != self.snd_max {
                // Nagle (RFC 1122 §4.2.3.4 (2)): hold a short segment while data is unacknowledged.
                return None;
            }
        }
        // n is within the buffer and the MSS, or 0 for a FIN alone: what
        // build_data would find again.
        debug_assert!(n <= avail && n <= mss && (n > 0 || fin_pending));
        Some(self.send_data(self.snd_nxt, off, n, false, ctx))
    }

    /// A segment of up to `max_len` bytes from `seq`, with FIN if it reaches the end
    /// of a closed stream. `forced` sends regardless of the windows (fast retransmit).
    fn build_data(
        &mut self,
        seq: SeqNum,
        max_len: usize,
        forced: bool,
        ctx: &mut Ctx<'_>,
    ) -> Option<OutSegment> {
        // Never describe bytes below SND.UNA: they are gone from the buffer (a lost
        // segment RACK still holds may be partly acknowledged by now).
        let (seq, max_len) = if seq.lt(self.snd_buf_seq) {
            let cut = (self.snd_buf_seq - seq) as usize;
            (self.snd_buf_seq, max_len.saturating_sub(cut).max(1))
        } else {
            (seq, max_len)
        };
        let off = (seq - self.snd_buf_seq) as usize;
        let avail = self.send_buf.len().saturating_sub(off);
        let n = min(min(avail, max_len), usize::from(self.mss));
        if n == 0 && !(self.write_closed && seq + n == self.data_end()) {
            return None;
        }
        Some(self.send_data(seq, off, n, forced, ctx))
    }

    /// Sends the `n` bytes at `seq` (offset `off` in the send buffer; at most
    /// one MSS, all in the buffer), with FIN if they reach the end of a closed
    /// stream (`n` = 0: a FIN alone). `forced` as for [`Tcb::build_data`].
    ///
    /// Inlined into its two callers: it runs once per data segment, and the
    /// call (arguments, saved registers, the returned segment) was a tenth of
    /// its cost.
    #[inline(always)]
    fn send_data(
        &mut self,
        seq: SeqNum,
        off: usize,
        n: usize,
        forced: bool,
        ctx: &mut Ctx<'_>,
    ) -> OutSegment {
        // RFC 6691: "the sender MUST reduce the TCP data length to account for any IP
        // or TCP options that it is including": `mss` already allows for timestamps;
        // SACK blocks on this segment take their room from the data.
        let n = if n > 0 {
            n.min(usize::from(self.mss).saturating_sub(self.sack_len()).max(1))
        } else {
            0
        };
        let end = seq + n;
        let data_end = self.data_end();
        let fin = self.write_closed && end == data_end;
        let mut flags = TcpFlags::ACK;
        if fin {
            flags |= TcpFlags::FIN;
        }
        if n > 0 && end == data_end {
            flags |= TcpFlags::PSH;
        }
        let seg_end = end + u32::from(fin);
        if self.snd_una == self.snd_max {
            // Leaving idle: the user timeout counts from now.
            self.progress_at = ctx.now;
        }
        let new_data = !forced && !seq.lt(self.snd_max);
        if !new_data {
            self.note_retransmit(ctx);
        } else if self.rtt_timing_at.is_none() {
            self.start_rtt_timing(seg_end, ctx.now);
        }
        if !forced {
            self.snd_nxt = seg_end;
        }
        self.snd_max = self.snd_max.max(seg_end);
        self.arm_rtx(ctx);
        // Every data segment is recorded: RACK (with SACK) and delivery-rate
        // sampling (always) read the records.
        self.rack.on_send_from(seq, seg_end, ctx.now, ctx.racks);
        if new_data {
            // RFC 8985 §7.2: new data went out, (re)arm the probe timer.
            self.arm_tlp(ctx.now);
            if let Some(f) = self.frto.as_mut() {
                f.new_allowed = f.new_allowed.saturating_sub(1);
            }
        }
        self.last_data_sent = Some(ctx.now);
        self.pace(ctx.now, n, ctx.cfg.pacing_max_lag);
        self.segment(seq, flags, off, n)
    }

    /// RFC 5681 §4.1: "if the TCP has not sent data in an interval exceeding the
    /// retransmission timeout", nothing is in flight and data waits, cwnd drops
    /// to the restart window before this transmission.
    fn restart_after_idle(&mut self, now: Instant) {
        // The cheap tests first: a sender with data in flight is not idle.
        if !self.idle_restart || self.in_flight() != 0 {
            return;
        }
        let idle = self
            .last_data_sent
            .is_some_and(|t| now.saturating_duration_since(t) > self.rtt.rto());
        if idle && self.may_send_data() {
            let rw = crate::tcp::congestion::initial_window(usize::from(self.mss));
            // Idempotent: once cwnd is at RW, a second call changes nothing.
            self.cc.on_idle_restart(now, rw);
            self.pacing_rate_stale = true;
        }
    }

    /// Charges a data segment of `payload` bytes to the pacer. The rate is
    /// computed again only if what it depends on (the congestion controller,
    /// the RTT estimate) may have changed since: that happens with ACKs,
    /// timeouts and application calls, each of which the stack follows with
    /// `Stack::touch`, which marks it stale, and in `restart_after_idle` —
    /// not between the segments of a flight. With it are kept the times a
    /// full segment and a burst take at it ([`PaceRate`]), for the MSS of
    /// then: a lowered MSS (`on_packet_too_big`) marks it stale too. Debug
    /// assertions compare both with a fresh computation on every segment.
    #[inline]
    fn pace(&mut self, now: Instant, payload: usize, max_lag: core::time::Duration) {
        if !self.pacing || (self.pacing_rate_stale && !self.refresh_pacing_rate()) {
            return;
        }
        let segment = usize::from(self.mss) + HEADER_BYTES;
        debug_assert_eq!(
            Some(self.pacing_rate.rate()),
            self.pacing_rate_now(),
            "pacing rate not marked stale after a change"
        );
        debug_assert!(
            self.pacing_rate.is_for(segment),
            "pacing times not marked stale after an MSS change"
        );
        self.pacer.on_send_at(
            now,
            payload + HEADER_BYTES,
            segment,
            &mut self.pacing_rate,
            max_lag,
        );
    }

    /// Computes the pacing rate afresh (see [`Tcb::pace`]); false before the
    /// first RTT sample, when there is none (unpaced, and stale still).
    #[inline(never)]
    fn refresh_pacing_rate(&mut self) -> bool {
        let Some(rate) = self.pacing_rate_now() else {
            return false;
        };
        self.pacing_rate = PaceRate::new(rate);
        self.pacing_rate_stale = false;
        true
    }

    fn note_retransmit(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(u) = self.undo.as_mut() {
            u.retrans += 1;
        }
        self.stats.retransmits += 1;
        ctx.counters.retransmits += 1;
        // Karn's algorithm: never time a retransmitted segment.
        self.rtt_timing_at = None;
    }

    /// RFC 6298 §5.1: "Every time a packet containing data is sent (including a
    /// retransmission), if the timer is not running, start it running".
    fn arm_rtx(&mut self, ctx: &Ctx<'_>) {
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Some(ctx.now + self.rtt.rto());
        }
    }

    /// The persist timer, backed off exponentially like the RTO (RFC 1122 §4.2.2.17).
    fn arm_persist(&mut self, ctx: &Ctx<'_>) {
        if self.persist_deadline.is_none() && self.persist_backoff == 0 {
            self.progress_at = ctx.now;
        }
        let base = self.rtt.rto().max(ctx.cfg.min_rto);
        let t = base
            .saturating_mul(1u32 << self.persist_backoff.min(10))
            .min(ctx.cfg.max_rto);
        self.persist_deadline = Some(ctx.now + t);
    }

    /// Writes `seg` as an IP packet into `buf`: its header as it stands now
    /// ([`Tcb::header`]), the payload from the send buffer.
    pub(crate) fn emit(
        &mut self,
        seg: &OutSegment,
        ctx: &Ctx<'_>,
        hop_limit: u8,
        buf: &mut [u8],
    ) -> Result<usize, EmitError> {
        let hdr = self.header(seg, ctx);
        let payload = self
            .send_buf
            .slices(seg.payload_off, seg.payload_len)
            .into();
        wire::emit_parts(
            self.local.ip(),
            self.remote.ip(),
            hop_limit,
            &hdr,
            payload,
            buf,
        )
    }

    /// The header of `seg` as it goes out now: our ports, its sequence number
    /// and flags, the ACK and window, timestamps when in use, and a SYN's
    /// options or SACK blocks if it carries them.
    #[inline]
    pub(crate) fn header(&mut self, seg: &OutSegment, ctx: &Ctx<'_>) -> TcpHeader {
        let mut hdr = TcpHeader {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: seg.seq,
            flags: seg.flags,
            window: self.window_field(seg.flags.syn()),
            ..TcpHeader::default()
        };
        if seg.flags.ack() {
            hdr.ack = self.rcv_nxt;
        }
        if self.ts_ok {
            hdr.options.timestamps = Some(Timestamps {
                val: self.ts_val(ctx.now),
                ecr: self.ts_recent,
            });
        }
        if seg.flags.syn() || self.sack_due(seg.flags) {
            self.add_options(&mut hdr.options, seg.flags, ctx);
        }
        hdr
    }

    /// The options beyond timestamps a header carries: a SYN's, or SACK
    /// blocks (a D-SACK is reported once). Out of line: almost every segment
    /// has none.
    #[inline(never)]
    fn add_options(&mut self, opts: &mut TcpOptions, flags: TcpFlags, ctx: &Ctx<'_>) {
        if flags.syn() {
            self.syn_options(opts, ctx);
        } else {
            self.fill_sack(opts);
            debug_assert_eq!(
                wire::tcp::sack_option_len(opts.sack().len()),
                self.sack_len(),
                "sack_len counts the blocks fill_sack writes"
            );
            self.dsack = None;
        }
    }

    /// A SYN's options: our MSS, and on a SYN the window scale, SACK and
    /// timestamps we are configured for; on a SYN,ACK only what the peer
    /// offered (RFC 7323 §2.2, RFC 2018 §2).
    fn syn_options(&self, opts: &mut TcpOptions, ctx: &Ctx<'_>) {
        let heard_peer = self.state != State::SynSent;
        let cfg = ctx.cfg;
        opts.mss = Some(self.our_mss);
        if if heard_peer {
            self.wscale_ok
        } else {
            cfg.window_scaling
        } {
            opts.window_scale = Some(self.rcv_wscale);
        }
        opts.sack_permitted = if heard_peer { self.sack_ok } else { cfg.sack };
        if !heard_peer && cfg.timestamps {
            opts.timestamps = Some(Timestamps {
                val: self.ts_val(ctx.now),
                ecr: 0,
            });
        }
    }

    /// Whether a segment with `flags` carries SACK blocks: SACK is on, it is a
    /// (non-SYN) ACK, and we hold something out of order or a D-SACK to report.
    fn sack_due(&self, flags: TcpFlags) -> bool {
        self.sack_ok
            && flags.ack()
            && !flags.syn()
            && (self.dsack.is_some() || !self.reasm.is_empty() || self.peer_fin_off.get().is_some())
    }

    /// Bytes of SACK option the next data segment carries (none, almost always):
    /// as many blocks as [`Tcb::fill_sack`] will write, counted, not built.
    fn sack_len(&self) -> usize {
        if !self.sack_due(TcpFlags::ACK) {
            return 0;
        }
        let max = if self.ts_ok { 3 } else { MAX_SACK_BLOCKS };
        let blocks = (usize::from(self.dsack.is_some()) + self.sack_held().2).min(max);
        wire::tcp::sack_option_len(blocks)
    }

    /// What we hold beyond RCV.NXT, in stream offsets, for SACK: the reassembly
    /// ranges and an out-of-order FIN, one more byte of sequence space that
    /// extends the last range or makes a range of its own. Returns the FIN's
    /// own range, whether it extends the last range instead, and how many
    /// ranges there are in all.
    fn sack_held(&self) -> (Option<(u64, u64)>, bool, usize) {
        let fin = self.peer_fin_off.get().filter(|&f| f > self.rcv_off);
        let fin_extends = fin.is_some() && self.reasm.highest_end() == fin;
        let fin_alone = fin.filter(|_| !fin_extends).map(|f| (f, f + 1));
        let count = self.reasm.range_count() + usize::from(fin_alone.is_some());
        (fin_alone, fin_extends, count)
    }

    /// RFC 2018 §4: SACK blocks for what we hold out of order — a D-SACK first if a
    /// duplicate just arrived (RFC 2883), then the block holding the latest
    /// arrival, then the others, highest first; as many as fit beside timestamps.
    fn fill_sack(&self, opts: &mut TcpOptions) {
        let max = if opts.timestamps.is_some() {
            3
        } else {
            MAX_SACK_BLOCKS
        };
        if let Some((l, r)) = self.dsack {
            opts.push_sack(SackBlock { left: l, right: r });
        }
        let (fin_alone, fin_extends, count) = self.sack_held();
        if count == 0 {
            // Nothing held out of order (the common case).
            return;
        }
        // Newest first, the last range extended by the FIN if it ends there. No
        // list is built: this runs for every ACK while data is held.
        let highest = self.reasm.highest_end();
        let extend = |(s, e): (u64, u64)| (s, e + u64::from(fin_extends && Some(e) == highest));
        let ranges = fin_alone
            .into_iter()
            .chain(self.reasm.ranges().rev().map(extend));
        let to_seq = |off: u64| {
            self.rcv_nxt + u32::try_from(off.saturating_sub(self.rcv_off)).unwrap_or(u32::MAX)
        };
        // The range holding the latest arrival: found by a binary search (a
        // peer sending one-byte islands can make thousands of ranges).
        let latest = self.last_ooo.get().and_then(|o| match fin_alone {
            Some((f, end)) if o == f => Some((f, end)),
            _ => self.reasm.range_containing(o).map(extend),
        });
        if let Some((s, e)) = latest {
            opts.push_sack(SackBlock {
                left: to_seq(s),
                right: to_seq(e),
            });
        }
        for (s, e) in ranges {
            if usize::from(opts.sack_count) >= max {
                break;
            }
            if Some((s, e)) != latest {
                opts.push_sack(SackBlock {
                    left: to_seq(s),
                    right: to_seq(e),
                });
            }
        }
    }

    /// The window field to advertise, never moving the right edge left (RFC 9293
    /// §3.8.6.2.2) and holding it until it can open by a useful amount (receiver-side
    /// SWS avoidance, RFC 1122 §4.2.3.3).
    #[inline]
    fn window_field(&mut self, syn: bool) -> u16 {
        let (field, edge) = self.window_now(syn);
        if let Some(edge) = edge {
            self.rcv_adv = edge;
        }
        if syn {
            // A SYN's field is unscaled, and may have moved the edge past
            // what the field kept for the fast path implies.
            self.wnd_cache_key = WND_CACHE_STALE;
        }
        field
    }

    /// [`Tcb::window_field`] for a segment other than a SYN, as last computed
    /// here if that still holds (the sender's fast path: many segments per
    /// change). The general path computes it afresh and need not update it:
    /// with the same inputs it finds the same field.
    /// What it depends on (RCV.NXT, the receive buffer and its size, the
    /// advertised edge, the MSS and the window scale) changes only in
    /// `Stack::with_conn` — segments in, application calls, timeouts — which
    /// marks it stale, never while transmitting; memory pressure, set before
    /// every call, is part of its key. Computed again, it is the same field
    /// and leaves the edge where it is (the edge it moved to is the window it
    /// advertised), which a debug assertion checks on every use.
    #[inline]
    fn window_field_kept(&mut self) -> u16 {
        let key = WND_CACHE_VALID + u8::from(self.mem_pressure);
        if self.wnd_cache_key != key {
            self.wnd_cache = self.window_field(false);
            self.wnd_cache_key = key;
            return self.wnd_cache;
        }
        debug_assert_eq!(
            self.window_now(false),
            (self.wnd_cache, None),
            "the window's inputs changed outside Stack::with_conn"
        );
        self.wnd_cache
    }

    /// [`Tcb::window_field`] computed afresh: the field, and the new right
    /// edge if it moves.
    #[inline]
    fn window_now(&self, syn: bool) -> (u16, Option<SeqNum>) {
        let shift = if syn { 0 } else { self.rcv_wscale };
        let wnd = self.rcv_wnd();
        let adv = (self.rcv_adv - self.rcv_nxt).max(0) as u32;
        let step = min(u32::from(self.our_mss), self.recv_cap / 2);
        let wnd = if wnd < adv || wnd - adv < step {
            adv
        } else {
            wnd
        };
        let field = min((wnd + (1 << shift) - 1) >> shift, 65535);
        let edge = self.rcv_nxt + (field << shift);
        // field <= 65535 by the min above.
        (field as u16, edge.gt(self.rcv_adv).then_some(edge))
    }

    /// Bookkeeping common to every segment sent.
    fn segment(
        &mut self,
        seq: SeqNum,
        flags: TcpFlags,
        payload_off: usize,
        payload_len: usize,
    ) -> OutSegment {
        if flags.ack() {
            self.ack_now = false;
            self.delack_deadline = None;
            self.unacked_segs = 0;
            self.last_ack_sent = self.rcv_nxt;
        }
        self.stats.segs_out += 1;
        OutSegment {
            seq,
            flags,
            payload_off,
            payload_len,
        }
    }
}
