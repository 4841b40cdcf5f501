//! Segment arrival for a connection (RFC 9293 §3.10.7.3 SYN-SENT and §3.10.7.4
//! the other states), in the RFC's order: sequence check (with PAWS, RFC 7323),
//! RST, SYN, ACK, text, FIN. LISTEN and CLOSED are handled by the stack
//! (`stack::listen`, `stack::mod`) since they have no connection.

use core::cmp::min;

use crate::error::ConnectionError;
use crate::tcp::conn::{
    CtrlSegment, Ctx, OptU64, Tcb, DEFAULT_MSS_V4, DEFAULT_MSS_V6, TS_OPTION_LEN,
};
use crate::tcp::seq::SeqNum;
use crate::tcp::state::{Cause, State};
use crate::wire::{self, TcpFlags, TcpHeader, TcpOptions};

/// Builds `<SEQ=seq><CTL=RST>` or `<SEQ=seq><ACK=ack><CTL=RST,ACK>` from `local` to `remote`.
pub(crate) fn rst_segment(
    tcb_local: core::net::SocketAddr,
    remote: core::net::SocketAddr,
    seq: SeqNum,
    ack: Option<SeqNum>,
) -> CtrlSegment {
    let mut hdr = TcpHeader {
        src_port: tcb_local.port(),
        dst_port: remote.port(),
        seq,
        flags: TcpFlags::RST,
        ..TcpHeader::default()
    };
    if let Some(ack) = ack {
        hdr.ack = ack;
        hdr.flags |= TcpFlags::ACK;
    }
    CtrlSegment {
        src: tcb_local,
        dst: remote,
        hdr,
    }
}

impl Tcb {
    /// Takes the options of a SYN or SYN,ACK: MSS, window scale, SACK, timestamps.
    /// `ours_offered` says whether our own SYN offered each option (for SYN,ACK
    /// the peer may only accept what we offered).
    pub(crate) fn negotiate(&mut self, opts: &TcpOptions, ctx: &Ctx<'_>) {
        let cfg = ctx.cfg;
        let default_mss = if self.local.is_ipv4() {
            DEFAULT_MSS_V4
        } else {
            DEFAULT_MSS_V6
        };
        // RFC 9293 §3.7.1: SendMSS = min(MSS option or default, our own limit); RFC 6691.
        let peer_mss = opts.mss.unwrap_or(default_mss).max(64);
        self.mss = peer_mss.min(self.our_mss);
        // RFC 7323 §2.2: scaling only when both sides sent the option.
        if let (true, Some(shift)) = (cfg.window_scaling, opts.window_scale) {
            self.wscale_ok = true;
            // RFC 7323 §2.3: "If a Window Scale option is received with a shift.cnt
            // value larger than 14, the TCP SHOULD log the error but MUST use 14".
            self.snd_wscale = shift.min(14);
        } else {
            self.wscale_ok = false;
            self.snd_wscale = 0;
            self.rcv_wscale = 0;
        }
        self.sack_ok = cfg.sack && opts.sack_permitted;
        if let (true, Some(ts)) = (cfg.timestamps, opts.timestamps) {
            self.ts_ok = true;
            self.ts_recent = ts.val;
            self.ts_recent_at = ctx.now;
            // RFC 7323 §3.2 / RFC 6691: the MSS does not count TCP options, so the
            // payload per segment shrinks by the timestamp option's size.
            self.mss = self.mss.saturating_sub(TS_OPTION_LEN).max(64);
        } else {
            self.ts_ok = false;
        }
        // The initial window depends on the MSS (RFC 5681 §3.1), now known.
        self.cc.rebuild(cfg.congestion, usize::from(self.mss));
    }

    /// Records the peer's window from a segment that may update it (RFC 9293
    /// §3.10.7.4 "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)").
    #[inline]
    fn update_window(&mut self, hdr: &TcpHeader) {
        // RFC 7323 §2.2: "The window field in a segment where the SYN bit is set
        // (i.e., a <SYN> or <SYN,ACK>) MUST NOT be scaled."
        let shift = if hdr.flags.syn() { 0 } else { self.snd_wscale };
        let wnd = u32::from(hdr.window) << shift;
        self.snd_wnd = wnd;
        self.max_snd_wnd = self.max_snd_wnd.max(wnd);
        self.snd_wl1 = hdr.seq;
        self.snd_wl2 = hdr.ack;
        if wnd > 0 {
            self.persist_deadline = None;
            self.persist_backoff = 0;
        }
    }

    /// RFC 9293 §3.10.7.4 "fifth": "If SND.UNA =< SEG.ACK =< SND.NXT, the send
    /// window should be updated" — by a segment newer than the one that last
    /// set it (SND.WL1 < SEG.SEQ, or SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK).
    #[inline]
    fn update_window_if_newer(&mut self, hdr: &TcpHeader) {
        if self.snd_wl1.lt(hdr.seq) || (self.snd_wl1 == hdr.seq && self.snd_wl2.le(hdr.ack)) {
            self.update_window(hdr);
        }
    }

    /// RFC 9293 §3.10.7.3: a segment arrives in SYN-SENT.
    pub(crate) fn input_syn_sent(&mut self, hdr: &TcpHeader, ctx: &mut Ctx<'_>) {
        let f = hdr.flags;
        // First, check the ACK bit.
        if f.ack() {
            // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit
            // is set, if so drop the segment and return) <SEQ=SEG.ACK><CTL=RST>"
            if hdr.ack.le(self.iss) || hdr.ack.gt(self.snd_max) {
                ctx.counters.drop_bad_ack += 1;
                if !f.rst() {
                    ctx.ctrl
                        .push_back(rst_segment(self.local, self.remote, hdr.ack, None));
                }
                return;
            }
        }
        // Second, check the RST bit.
        if f.rst() {
            if f.ack() {
                // "If the ACK was acceptable, then signal to the user 'error: connection
                // reset', drop the segment, enter CLOSED state"
                ctx.counters.rst_received += 1;
                ctx.counters.refused += 1;
                self.fail(ConnectionError::Refused, Cause::RcvRst, ctx);
            } else {
                ctx.counters.rst_ignored += 1;
            }
            return;
        }
        // Fourth, check the SYN bit.
        if !f.syn() {
            return;
        }
        self.set_irs(hdr.seq);
        self.negotiate(&hdr.options, ctx);
        if f.ack() {
            // "If SND.UNA > ISS (our SYN has been ACKed), change the connection state to
            // ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it."
            self.on_ack_advance(hdr.ack, ctx);
            self.update_window(hdr);
            self.transition(State::Established, Cause::RcvSynAck, ctx);
            self.ack_now = true;
        } else {
            // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment
            // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it."
            self.transition(State::SynReceived, Cause::RcvSyn, ctx);
            self.snd_wnd = u32::from(hdr.window);
            // Resend our SYN, now with ACK: go back to ISS.
            self.snd_nxt = self.iss;
            self.retries = 0;
            self.rtt_timing_at = None;
        }
        if let Some(ts) = hdr.options.timestamps {
            if self.ts_ok && f.ack() {
                self.rtt_sample_from_ts(ts.ecr, ctx);
            }
        }
    }

    /// RFC 9293 §3.10.7.4 "first": the acceptability test, with RFC 7323 PAWS.
    /// Returns false (and arranges an ACK) when the segment must be dropped.
    fn check_sequence(&mut self, hdr: &TcpHeader, payload_len: usize, ctx: &mut Ctx<'_>) -> bool {
        let f = hdr.flags;
        // RFC 7323 §5.3 R1: PAWS.
        if self.ts_ok && !f.rst() {
            if let Some(ts) = hdr.options.timestamps {
                if SeqNum(ts.val).lt(SeqNum(self.ts_recent)) && !self.ts_recent_expired(ctx.now) {
                    ctx.counters.drop_paws += 1;
                    self.ack_now = true;
                    // As Linux does, report an old duplicate's data with a D-SACK so the
                    // sender learns its retransmission was unnecessary (RFC 2883).
                    let end = hdr.seq + payload_len;
                    if self.sack_ok && payload_len > 0 && end.le(self.rcv_nxt) {
                        self.dsack = Some((hdr.seq, end));
                    }
                    return false;
                }
            }
        }
        let seg_len = hdr.seq_len(payload_len);
        let wnd = (self.rcv_adv - self.rcv_nxt).max(0) as u32;
        let seq = hdr.seq;
        let in_wnd = |s: SeqNum| s.in_range(self.rcv_nxt, self.rcv_nxt + wnd);
        let ok = match (seg_len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => in_wnd(seq),
            // RFC 9293: "special allowance should be made to accept valid ACKs, URGs,
            // and RSTs" when the window is zero: take the control part of a segment
            // at RCV.NXT, its text is trimmed away below.
            (_, 0) => seq == self.rcv_nxt,
            (n, _) => in_wnd(seq) || in_wnd(seq + (n - 1)),
        };
        if !ok {
            ctx.counters.drop_out_of_window += 1;
            // "If an incoming segment is not acceptable, an acknowledgment should be
            // sent in reply (unless the RST bit is set, if so drop the segment and return)"
            if !f.rst() {
                self.ack_now = true;
                // A whole duplicate: report it with a D-SACK (RFC 2883 §4.1).
                let end = seq + payload_len;
                if self.sack_ok && payload_len > 0 && end.le(self.rcv_nxt) {
                    self.dsack = Some((seq, end));
                }
            } else {
                ctx.counters.rst_ignored += 1;
            }
        }
        ok
    }

    /// RFC 5961 §3.2/§4.2: answer with a challenge ACK, within the global rate limit.
    fn challenge_ack(&mut self, ctx: &mut Ctx<'_>) {
        if ctx.challenge.allow(ctx.now, ctx.cfg.challenge_ack_limit) {
            ctx.counters.challenge_acks += 1;
            self.ack_now = true;
        } else {
            ctx.counters.challenge_acks_suppressed += 1;
        }
    }

    /// Header prediction (Van Jacobson's; Linux's `tcp_rcv_established` fast
    /// path): the segment is the next in-order data of an established
    /// connection that has nothing in flight, acknowledges nothing new, leaves
    /// the window as it was and carries no SACK blocks, and its timestamp (if
    /// they are in use) is not old. For such a segment every step of the full
    /// processing but the text is a no-op or a plain update, so
    /// [`Tcb::input_predicted`] does just those. The common case of a pure
    /// receiver: a bulk download, a request arriving at a server.
    #[inline]
    pub(crate) fn predicted(&self, hdr: &TcpHeader, len: usize) -> bool {
        let f = hdr.flags;
        self.state == State::Established
            && (f == TcpFlags::ACK || f == TcpFlags::ACK | TcpFlags::PSH)
            && len > 0
            && hdr.seq == self.rcv_nxt
            && hdr.ack == self.snd_una
            && self.snd_una == self.snd_max
            && (u32::from(hdr.window) << self.snd_wscale) == self.snd_wnd
            && hdr.options.sack().is_empty()
            && (!self.ts_ok
                || hdr
                    .options
                    .timestamps
                    .is_some_and(|t| SeqNum(t.val).ge(SeqNum(self.ts_recent))))
            && self.recover.is_none()
            && self.frto.is_none()
            && self.dupacks == 0
            && self.rack_deadline.is_none()
    }

    /// The full processing of a [`Tcb::predicted`] segment, without the steps that
    /// cannot act on it: it is acceptable (at RCV.NXT; PAWS passes), carries no
    /// RST, SYN or FIN, and its ACK is SND.UNA with nothing in flight (no RTT
    /// sample, no recovery, no duplicate ACK, no RACK or F-RTO work, nothing freed).
    fn input_predicted(&mut self, hdr: &TcpHeader, payload: &[u8], ctx: &mut Ctx<'_>) {
        self.predicted_before_text(hdr, ctx);
        self.process_text(hdr, payload, ctx);
        // An out-of-order FIN this data reaches is taken now.
        self.maybe_take_fin(ctx);
    }

    /// What a predicted segment does before its text: the peer is alive, the
    /// send window and the timestamp echo may move.
    #[inline(always)]
    fn predicted_before_text(&mut self, hdr: &TcpHeader, ctx: &mut Ctx<'_>) {
        ctx.counters.segments_predicted += 1;
        self.note_peer_alive(ctx.now);
        self.probes_out = 0;
        self.update_window_if_newer(hdr);
        self.update_ts_recent(hdr, ctx);
    }

    /// The receive fast path (`Stack::input_fast`, under
    /// `TcpConfig::header_prediction`): whether the payload (`len` bytes) of a
    /// [`Tcb::predicted`] segment goes straight into the receive queue —
    /// nothing held out of order, within the window, reading open, not over
    /// the memory maximum (the stack has set `mem_over` and `mem_pressure` for
    /// now). For such a segment the stage checks (`goes_straight_in`),
    /// `process_text`'s trimming and the stack's general accounting have
    /// nothing to do: [`Tcb::input_fast`] does the rest.
    #[inline]
    pub(crate) fn predicted_straight_in(&self, len: usize) -> bool {
        // `len <= accept_window()`, the advertised part first (no call).
        let advertised = (self.rcv_adv - self.rcv_nxt).max(0) as usize;
        !self.read_closed
            && !self.mem_over
            && self.reasm.is_empty()
            && (len <= advertised || len <= self.rcv_wnd() as usize)
    }

    /// What `input_synchronized` does with a [`Tcb::predicted`] segment
    /// that goes [`Tcb::predicted_straight_in`]
    /// whose payload the stack staged in the receive queue (or in its packet),
    /// step for step ([`Tcb::input_predicted`], then `process_text` with
    /// nothing to trim, straight in): returns the bytes taken into the queue.
    /// The caller marks the window-field cache stale and accounts the bytes.
    /// (Inlined into its one caller: the call cost ~25 Ir per segment.)
    #[inline(always)]
    pub(crate) fn input_fast(
        &mut self,
        hdr: &TcpHeader,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> usize {
        debug_assert!(
            self.predicted(hdr, payload.len()) && self.predicted_straight_in(payload.len())
        );
        self.stats.segs_in += 1;
        self.predicted_before_text(hdr, ctx);
        // The payload was staged at RCV.NXT (committing leaves nothing staged).
        let n = payload.len();
        let committed = self.take_in_order(payload);
        debug_assert!(committed, "a fast segment's payload was not staged");
        self.took_text(hdr, n, ctx);
        self.maybe_take_fin(ctx);
        n
    }

    /// RFC 9293 §3.10.7.4: a segment arrives in SYN-RECEIVED or a synchronized state.
    pub(crate) fn input_synchronized(
        &mut self,
        hdr: &TcpHeader,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) {
        let predicted = ctx.cfg.header_prediction && self.predicted(hdr, payload.len());
        self.input_synchronized_as(hdr, payload, predicted, ctx);
    }

    /// [`Tcb::input_synchronized`] with header prediction's verdict at hand
    /// (`predicted`: on, and [`Tcb::predicted`]), from the stack's receive
    /// fast path that tried it.
    pub(crate) fn input_synchronized_as(
        &mut self,
        hdr: &TcpHeader,
        payload: &[u8],
        predicted: bool,
        ctx: &mut Ctx<'_>,
    ) {
        debug_assert_eq!(
            predicted,
            ctx.cfg.header_prediction && self.predicted(hdr, payload.len())
        );
        let f = hdr.flags;
        if self.state == State::SynReceived
            && self.parent.is_some()
            && f.syn()
            && !f.ack()
            && !f.rst()
            && hdr.seq == self.irs
        {
            // A retransmitted SYN for our half-open connection: our SYN,ACK was lost,
            // so send it again (as Linux's tcp_check_req does).
            self.snd_nxt = self.iss;
            return;
        }
        if predicted {
            self.input_predicted(hdr, payload, ctx);
            return;
        }
        if !self.check_sequence(hdr, payload.len(), ctx) {
            return;
        }
        // Only an acceptable segment shows the peer is alive: a blind attacker's
        // out-of-window guesses must not keep a dead connection open (Linux
        // refreshes its keepalive clock only from validated segments).
        self.note_peer_alive(ctx.now);
        // Second, check the RST bit. RFC 5961 §3.2: reset only on an exact match of
        // RCV.NXT; an in-window RST elsewhere earns a challenge ACK.
        if f.rst() {
            if hdr.seq != self.rcv_nxt {
                self.challenge_ack(ctx);
                return;
            }
            ctx.counters.rst_received += 1;
            match self.state {
                State::SynReceived if self.parent.is_some() => {
                    // "If this connection was initiated with a passive OPEN (i.e., came
                    // from the LISTEN state), then return this connection to LISTEN state"
                    // — the listener is still there; this half-open child goes away.
                    self.transition(State::Closed, Cause::RcvRst, ctx);
                    self.stop_timers();
                }
                State::SynReceived => {
                    // Active open: "the connection was refused".
                    ctx.counters.refused += 1;
                    self.fail(ConnectionError::Refused, Cause::RcvRst, ctx);
                }
                State::Closing | State::LastAck | State::TimeWait => {
                    self.transition(State::Closed, Cause::RcvRst, ctx);
                    self.stop_timers();
                }
                _ => self.fail(ConnectionError::Reset, Cause::RcvRst, ctx),
            }
            return;
        }
        // Fourth, check the SYN bit. RFC 5961 §4.2: any SYN in a synchronized state
        // (and in SYN-RECEIVED of an active open) gets a challenge ACK.
        if f.syn() {
            self.challenge_ack(ctx);
            return;
        }
        // Fifth, check the ACK field. "if the ACK bit is off, drop the segment and return"
        if !f.ack() {
            ctx.counters.drop_no_ack += 1;
            return;
        }
        // RFC 5961 §5.2: the ACK must lie in [SND.UNA - MAX.SND.WND, SND.NXT].
        let lowest = self.snd_una + (0u32.wrapping_sub(self.max_snd_wnd.max(1)));
        if hdr.ack.lt(lowest) || hdr.ack.gt(self.snd_max) {
            ctx.counters.drop_bad_ack += 1;
            if self.state == State::SynReceived {
                // RFC 9293 SYN-RECEIVED: "If the segment acknowledgment is not acceptable,
                // form a reset segment <SEQ=SEG.ACK><CTL=RST> and send it."
                ctx.ctrl
                    .push_back(rst_segment(self.local, self.remote, hdr.ack, None));
            } else {
                self.ack_now = true;
            }
            return;
        }
        if self.state == State::SynReceived {
            // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and continue
            // processing with the variables below set to: SND.WND <- SEG.WND ..."
            if hdr.ack.le(self.snd_una) {
                ctx.counters.drop_bad_ack += 1;
                ctx.ctrl
                    .push_back(rst_segment(self.local, self.remote, hdr.ack, None));
                return;
            }
            self.update_window(hdr);
            self.on_ack_advance(hdr.ack, ctx);
            if let (true, Some(ts)) = (self.ts_ok, hdr.options.timestamps) {
                // The handshake's RTT, from the echo of our SYN,ACK's timestamp.
                self.rtt_sample_from_ts(ts.ecr, ctx);
            }
            // A close in SYN-RECEIVED already moved us to FIN-WAIT-1.
            self.transition(State::Established, Cause::RcvAck, ctx);
        } else {
            self.process_ack(hdr, payload.len(), ctx);
            if self.state == State::Closed {
                return;
            }
        }
        self.update_ts_recent(hdr, ctx);
        // Sixth (URG) is not supported: the urgent pointer is ignored (RFC 6093 advises
        // against new uses). Seventh, process the segment text.
        if self.state.can_receive() {
            self.process_text(hdr, payload, ctx);
        } else if !payload.is_empty() {
            // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not occur since a FIN
            // has been received from the remote side. Ignore the segment text."
            self.ack_now = true;
        }
        // Eighth, check the FIN bit (only once it is in order: see process_text).
        if f.fin() && !self.fin_received {
            let fin_off = self.rcv_off_of(hdr.seq + payload.len());
            if let Some(off) = fin_off {
                self.peer_fin_off = OptU64::some(off);
                if off != self.rcv_off {
                    // An out-of-order FIN: acknowledge at once (RFC 5681 §4.2), and
                    // SACK it, so the sender learns it arrived.
                    self.ack_now = true;
                }
            }
        }
        self.maybe_take_fin(ctx);
        // FIN-WAIT-1: "In addition to the processing for the ESTABLISHED state, if the
        // FIN segment is now acknowledged, then enter FIN-WAIT-2". Checked after the FIN
        // step so that a FIN,ACK goes straight to TIME-WAIT.
        if self.state == State::FinWait1 && self.fin_acked() {
            self.transition(State::FinWait2, Cause::RcvAck, ctx);
        }
    }

    /// Records the peer's initial sequence number.
    pub(crate) fn set_irs(&mut self, irs: SeqNum) {
        self.irs = irs;
        self.rcv_nxt = irs + 1u32;
        self.rcv_off = 0;
        self.rcv_adv = self.rcv_nxt;
        self.last_ack_sent = self.rcv_nxt;
    }

    /// Stream offset of sequence number `seq`, if it is not before `rcv_nxt`.
    fn rcv_off_of(&self, seq: SeqNum) -> Option<u64> {
        let d = seq - self.rcv_nxt;
        u64::try_from(d).ok().map(|d| self.rcv_off + d)
    }

    /// Updates SND.UNA for an acceptable ACK, freeing acknowledged data.
    pub(crate) fn on_ack_advance(&mut self, ack: SeqNum, ctx: &mut Ctx<'_>) -> usize {
        if !ack.gt(self.snd_una) {
            return 0;
        }
        let acked_seq = (ack - self.snd_una) as usize;
        // Data bytes acknowledged: those between snd_buf_seq and the ack.
        let data_acked = if ack.gt(self.snd_buf_seq) {
            min((ack - self.snd_buf_seq) as usize, self.send_buf.len())
        } else {
            0
        };
        self.send_buf.consume(data_acked);
        self.snd_buf_seq += data_acked;
        self.snd_una = ack;
        // SND.UNA starts at the ISS, so any advance acknowledges the SYN.
        self.una_advanced = true;
        if self.snd_nxt.lt(ack) {
            self.snd_nxt = ack;
        }
        self.stats.bytes_acked += data_acked as u64;
        self.progress_at = ctx.now;
        // RFC 6298 §5.3/5.2: restart the timer on new ACKs, stop it when all is acked.
        self.retries = 0;
        self.rtt.reset_backoff();
        self.rtx_deadline = if self.snd_una == self.snd_max {
            None
        } else {
            Some(ctx.now + self.rtt.rto())
        };
        // RTT sample (RFC 6298 §3, Karn): only from a segment sent once.
        if let Some((end, sent)) = self.rtt_timing() {
            if ack.ge(end) {
                if !self.ts_ok {
                    self.rtt.on_sample(ctx.now - sent);
                    self.latest_rtt = OptU64::from_duration(ctx.now - sent);
                }
                self.rtt_timing_at = None;
            }
        }
        acked_seq
    }

    /// RFC 7323 §4.2: RTT measurement from the echoed timestamp.
    fn rtt_sample_from_ts(&mut self, ecr: u32, ctx: &Ctx<'_>) {
        if ecr == 0 {
            return;
        }
        let delta = self.ts_val(ctx.now).wrapping_sub(ecr);
        if delta < 1 << 30 {
            let rtt = core::time::Duration::from_millis(u64::from(delta).max(1));
            self.rtt.on_sample(rtt);
            self.latest_rtt = OptU64::from_duration(rtt);
        }
    }

    /// RFC 7323 §4.3 (R3): remember the peer's TSval if the segment covers the last ACK we sent.
    fn update_ts_recent(&mut self, hdr: &TcpHeader, ctx: &Ctx<'_>) {
        if let (true, Some(ts)) = (self.ts_ok, hdr.options.timestamps) {
            if SeqNum(ts.val).ge(SeqNum(self.ts_recent)) && hdr.seq.le(self.last_ack_sent) {
                self.ts_recent = ts.val;
                self.ts_recent_at = ctx.now;
            }
        }
    }

    /// RFC 9293 §3.10.7.4 "fifth" for ESTABLISHED and the closing states, with RFC 5681
    /// duplicate-ACK counting and RFC 6582 NewReno recovery.
    fn process_ack(&mut self, hdr: &TcpHeader, payload_len: usize, ctx: &mut Ctx<'_>) {
        let ack = hdr.ack;
        // An acceptable ACK answers any zero-window probes (Linux tcp_ack).
        self.probes_out = 0;
        let in_flight_before = self.in_flight();
        let sacked_before = self.rack.sacked_bytes();
        let advanced = ack.gt(self.snd_una);
        let mut acked = 0;
        if advanced {
            // With timestamps, RTT samples come on every ACK. Our own send times
            // give them in microseconds (as Linux prefers its skb timestamps); the
            // echoed timestamp, whose 1 ms clock floors every sample of a
            // sub-millisecond path at 1 ms (and with it the pacing rate at
            // cwnd/1 ms), is the fallback when Karn rules the records out.
            let seq_rtt = if self.ts_ok {
                self.rack.ack_rtt(ack, ctx.now)
            } else {
                None
            };
            acked = self.on_ack_advance(ack, ctx);
            self.sb.advance(self.snd_una);
            if let (true, Some(ts)) = (self.ts_ok, hdr.options.timestamps) {
                match seq_rtt {
                    Some(rtt) => {
                        self.rtt.on_sample(rtt);
                        self.latest_rtt = OptU64::from_duration(rtt);
                    }
                    None => self.rtt_sample_from_ts(ts.ecr, ctx),
                }
            }
            match self.recover {
                Some(recover) if ack.lt(recover) => {
                    if !self.sack_ok {
                        // RFC 6582 §3.2 step 3: a partial ACK retransmits the next hole.
                        self.rtx_one = true;
                        ctx.counters.fast_retransmits += 1;
                    }
                    // With SACK, RFC 6675 keeps filling holes as the pipe allows.
                    self.high_rxt = self.high_rxt.max(self.snd_una);
                }
                Some(_) => self.exit_recovery(ctx),
                // RFC 7661 §4.3: the window grows only while it is validated, i.e.
                // the data in flight used at least half of it; a rate-limited
                // sender keeps, but does not inflate, its window (Linux
                // tcp_is_cwnd_limited).
                None if in_flight_before.saturating_mul(2) >= self.cc.cwnd() => {
                    self.cc
                        .on_ack(ctx.now, acked, self.latest_rtt.duration(), in_flight_before);
                }
                None => self.stats.cwnd_unvalidated_acks += 1,
            }
            self.autotune_send(ctx.cfg);
            self.dupacks = 0;
        }
        self.frto_on_ack(advanced, ctx);
        self.take_sack_blocks(hdr, ctx);
        self.rack.on_ack(self.snd_una, ctx.now);
        if self.sack_ok {
            if self.tlp_end.is_some_and(|e| self.snd_una.ge(e)) {
                self.tlp_end = None;
            }
            self.rack_detect(ctx);
            if self.recover.is_some() {
                // RFC 6937: DeliveredData = change in SND.UNA + change in SACKed bytes.
                let delivered = (acked + self.rack.sacked_bytes()).saturating_sub(sacked_before);
                let (pipe, mss) = (self.pipe(), usize::from(self.mss));
                if let Some(prr) = self.prr.as_mut() {
                    self.prr_allow =
                        u32::try_from(prr.on_ack(delivered, pipe, mss)).unwrap_or(u32::MAX);
                }
            }
        }
        if let Some(rs) = self.rack.take_rate_sample() {
            let newly = (acked + self.rack.sacked_bytes()).saturating_sub(sacked_before);
            let pipe = self.pipe();
            self.cc.on_rate_sample(ctx.now, Some(&rs), newly, pipe);
        }
        if advanced {
            // RFC 8985 §7.2: restart the probe timer on an ACK of new data.
            self.arm_tlp(ctx.now);
        }
        if !advanced
            && ack == self.snd_una
            && payload_len == 0
            && !hdr.flags.fin()
            && self.snd_una != self.snd_max
            && (u32::from(hdr.window) << self.snd_wscale) == self.snd_wnd
        {
            // RFC 5681 §2 "DUPLICATE ACKNOWLEDGMENT".
            ctx.counters.dup_acks += 1;
            self.dupacks += 1;
        }
        // Without SACK, enter loss recovery on three duplicate ACKs (RFC 5681 §3.2);
        // with SACK, RACK's timing decides (RFC 8985), which tolerates reordering.
        if !self.sack_ok && self.dupacks >= 3 {
            self.enter_recovery(ctx);
        }
        self.update_window_if_newer(hdr);
        match self.state {
            // "if the ACK acknowledges our FIN, then enter the TIME-WAIT state"
            State::Closing if self.fin_acked() => {
                self.transition(State::TimeWait, Cause::RcvAck, ctx);
            }
            // "The only thing that can arrive in this state is an acknowledgment of our
            // FIN. If our FIN is now acknowledged, delete the TCB, enter the CLOSED state"
            State::LastAck if self.fin_acked() => {
                self.transition(State::Closed, Cause::RcvAck, ctx);
                self.stop_timers();
            }
            _ => {}
        }
    }

    /// RFC 2018 §4: records the SACK blocks of an ACK in the scoreboard. A block at
    /// or below the cumulative ACK is a D-SACK (RFC 2883 §4): a duplicate arrived,
    /// so some retransmission was unnecessary.
    fn take_sack_blocks(&mut self, hdr: &TcpHeader, ctx: &mut Ctx<'_>) {
        if !self.sack_ok {
            return;
        }
        for (k, b) in hdr.options.sack().iter().enumerate() {
            let dsack = b.right.le(hdr.ack)
                || (k == 0
                    && hdr
                        .options
                        .sack()
                        .get(1)
                        .is_some_and(|o| o.left.le(b.left) && b.right.le(o.right)));
            if dsack {
                ctx.counters.dsacks_received += 1;
                self.rack.on_dsack();
                self.note_dsack(ctx);
                continue;
            }
            if b.left.lt(b.right) && b.right.le(self.snd_max) {
                self.sb.add(b.left, b.right, self.snd_una, self.snd_max);
                self.rack.on_sack(b.left, b.right, ctx.now);
            } else {
                ctx.counters.bad_sack_blocks += 1;
            }
        }
    }

    /// RFC 9293 §3.10.7.4 "seventh": queue in-order text, hold out-of-order text,
    /// and decide how soon to acknowledge.
    fn process_text(&mut self, hdr: &TcpHeader, payload: &[u8], ctx: &mut Ctx<'_>) {
        if payload.is_empty() {
            return;
        }
        if self.read_closed {
            // Reading was shut down: the data is acknowledged and discarded, as Linux does.
            ctx.counters.drop_after_shutdown += 1;
        }
        // Trim to [rcv_nxt, rcv_nxt + window).
        let mut seq = hdr.seq;
        let mut data = payload;
        let before = self.rcv_nxt - seq;
        if before > 0 {
            let cut = (before as usize).min(data.len());
            if self.sack_ok {
                // RFC 2883: report the duplicate in the first SACK block (a D-SACK).
                self.dsack = Some((seq, seq + cut));
            }
            data = &data[cut..];
            seq += cut;
        }
        let room = ((self.rcv_nxt + self.accept_window()) - seq).max(0) as usize;
        if data.len() > room {
            data = &data[..room];
        }
        if data.len() < payload.len() {
            // Something was duplicate or beyond the window: tell the peer where we are.
            self.ack_now = true;
        }
        if data.is_empty() {
            return;
        }
        let straight_in = seq == self.rcv_nxt && self.reasm.is_empty();
        if self.mem_over && !(straight_in && self.recv_buf.is_empty()) {
            // Over the stack's memory maximum (Linux tcp_mem[2]): only data that
            // goes straight to an empty receive queue is taken; the rest is dropped
            // and the peer retransmits it.
            ctx.counters.drop_memory += 1;
            self.ack_now = true;
            return;
        }
        if straight_in {
            self.take_in_order(data);
        } else {
            let off = self.rcv_off + (seq - self.rcv_nxt).max(0) as u64;
            if !self.hold(off, data) {
                // The cap on held ranges (Linux counts it with the memory drops
                // as TCPOFODrop); the peer retransmits.
                ctx.counters.drop_ooo_ranges += 1;
                self.ack_now = true;
                return;
            }
            self.last_ooo = OptU64::some(off);
            // RFC 5681 §4.2: "A TCP receiver SHOULD send an immediate duplicate ACK when
            // an out-of-order segment arrives" — and an immediate ACK when it fills a gap.
            self.ack_now = true;
        }
        self.took_text(hdr, data.len(), ctx);
    }

    /// `process_text` took `len` bytes of `hdr`'s segment (in order or held):
    /// counters, the receiver's RTT sample, buffer auto-tuning and the ACK.
    #[inline]
    fn took_text(&mut self, hdr: &TcpHeader, len: usize, ctx: &mut Ctx<'_>) {
        ctx.counters.bytes_received += len as u64;
        if let (true, Some(ts)) = (self.ts_ok, hdr.options.timestamps) {
            self.rcv_rtt_sample(ts.ecr, ctx.now);
        }
        self.autotune_recv(ctx.now, ctx.cfg);
        self.schedule_ack(len, hdr.flags.fin(), ctx);
    }

    /// Receiver-side RTT from the echo of our own timestamp (the smallest seen, so
    /// delayed ACKs and queueing do not inflate it).
    #[inline]
    fn rcv_rtt_sample(&mut self, ecr: u32, now: crate::time::Instant) {
        if ecr == 0 {
            return;
        }
        let ms = self.ts_val(now).wrapping_sub(ecr);
        if ms < 1 << 30 {
            // In whole microseconds, as `rcv_rtt` keeps it (per data segment:
            // no `Duration` arithmetic).
            let sample = u64::from(ms.max(1)) * 1000;
            let best = self.rcv_rtt.get().map_or(sample, |r| r.min(sample));
            self.rcv_rtt = OptU64::some(best);
        }
    }

    /// In-order data at RCV.NXT goes into the ring: committed if the stack
    /// staged it there while verifying its checksum (`Tcb::verify_staging`),
    /// copied if not. If out-of-order bytes are held, `data` ends before them.
    /// Returns whether the staged copy was committed (else `data` was copied).
    #[inline]
    fn take_in_order(&mut self, data: &[u8]) -> bool {
        if !self.read_closed && self.recv_buf.commit_staged(self.rcv_nxt.0, data.len()) {
            self.delivered(data.len());
            true
        } else {
            self.deliver(data);
            false
        }
    }

    /// RFC 9293 §3.10.7.4: data beyond a hole is "held for later processing".
    /// `data` starts at stream offset `off` (at or past RCV.NXT, within the
    /// window) and something is held already or `off` is past RCV.NXT.
    ///
    /// Held bytes go straight into the receive ring at their place past the tail
    /// (`off` less RCV.NXT's offset: inside the window, so inside what the ring
    /// may grow to); `reasm` records which ranges are there. Data at RCV.NXT
    /// goes in up to the first held byte, and then the tail moves over every
    /// byte now in order, held ones included, without copying them again.
    /// Only bytes not held yet are written (the first copy wins, as with a
    /// queue of copies).
    ///
    /// Returns false, holding nothing, if the data touches no held range and
    /// the cap on ranges is reached.
    fn hold(&mut self, off: u64, data: &[u8]) -> bool {
        let (mut off, mut data) = (off, data);
        if off == self.rcv_off {
            // Up to the first held byte (always past RCV.NXT): straight in.
            let gap = self
                .reasm
                .first_start()
                .map_or(u64::MAX, |s| s.saturating_sub(off));
            let lead = usize::try_from(gap).map_or(data.len(), |g| g.min(data.len()));
            self.take_in_order(&data[..lead]);
            off += lead as u64;
            data = &data[lead..];
        }
        // A range per hole, as many as the buffer has room for segments of an
        // MSS (never fewer than MAX_RANGES): the bound is the receive buffer, as
        // RFC 9293 wants, while a peer sending one-byte islands holds at most 16
        // bytes of bookkeeping per MSS of buffer.
        let mss = usize::from(self.our_mss).max(1);
        self.reasm
            .set_max_ranges((self.recv_cap as usize / mss).max(crate::tcp::reassembly::MAX_RANGES));
        let base = self.rcv_off;
        let mut ring = (!self.read_closed).then_some(&mut self.recv_buf);
        let held = self.reasm.insert(off, data, |at, bytes| {
            if let Some(ring) = ring.as_deref_mut() {
                // `at` is inside the window past RCV.NXT (below 2^31): it fits.
                debug_assert!(at >= base && at - base < 1 << 31);
                ring.write_ahead((at - base) as usize, bytes);
            }
        });
        if held.is_err() {
            return false;
        }
        if let Some(end) = self.reasm.pop_ready(self.rcv_off) {
            // The hole at RCV.NXT is filled: [rcv_off, end) is in the ring.
            let n = (end - self.rcv_off) as usize;
            if !self.read_closed {
                self.recv_buf.advance(n);
            }
            self.delivered(n);
        }
        if self.reasm.is_empty() {
            self.recv_buf.release_ahead();
        }
        true
    }

    fn deliver(&mut self, data: &[u8]) {
        if !self.read_closed {
            self.recv_buf.extend(data);
        }
        self.delivered(data.len());
    }

    /// `n` bytes went into the receive ring, in order.
    fn delivered(&mut self, n: usize) {
        self.rcv_nxt += n;
        self.rcv_off += n as u64;
        self.stats.bytes_received += n as u64;
    }

    /// The data a segment may carry past RCV.NXT: the window we advertised, even
    /// if the application has since shrunk the buffer (a promised window is
    /// honoured, RFC 9293 §3.8.6.2.2), or more if the buffer has more room.
    fn accept_window(&self) -> usize {
        let advertised = (self.rcv_adv - self.rcv_nxt).max(0) as usize;
        (self.rcv_wnd() as usize).max(advertised)
    }

    /// Verifies the checksum of a segment for this connection, staging its
    /// payload if it goes straight into the receive queue (`straight`: the
    /// caller found [`Tcb::goes_straight_in`] or implied it). Staged, the
    /// payload is either kept where it lies in its packet (`keep`: the packet
    /// buffer's capacity, given for a payload of at least
    /// `TcpConfig::keep_payload_min`; only if nothing is held out of order and
    /// the queue can keep it, [`RecvRing::can_keep`]) and summed there, or
    /// copied into the receive ring while summed
    /// ([`crate::wire::Unverified::verify_into`]); it is declared good with
    /// `recv_buf.stage_kept` / `set_staged`, and [`Tcb::process_text`]
    /// commits it instead of copying again. Staged bytes that are not
    /// committed are forgotten; nothing else in the TCB changes here. A payload
    /// that does not go straight in is summed where it lies.
    ///
    /// Held out-of-order bytes sit in the ring past the tail, where a staged
    /// payload would land. The copy happens before the checksum is known good and
    /// before the segment is accepted, so a payload overlapping held bytes is
    /// not staged (it is verified where it lies, and [`Tcb::process_text`] writes
    /// only its bytes that are not held): a corrupt or rejected segment's copy can
    /// only land in the hole before the held bytes, which nothing reads. The
    /// usual gap filler, a retransmission of exactly the missing segment, fits
    /// the hole and is staged.
    ///
    /// [`RecvRing::can_keep`]: crate::tcp::buffer::RecvRing::can_keep
    #[inline]
    pub(crate) fn verify_staging<'u, 'p>(
        &mut self,
        seg: &'u wire::Unverified<'p>,
        straight: bool,
        keep: Option<usize>,
    ) -> Result<&'u wire::Segment<'p>, wire::ParseError> {
        if !straight {
            return seg.verify();
        }
        let (tag, len) = (seg.peek().tcp.seq.0, seg.peek().payload.len());
        if keep.is_some_and(|cap| self.reasm.is_empty() && self.recv_buf.can_keep(len, cap)) {
            let seg = seg.verify()?;
            self.recv_buf.stage_kept(tag, len);
            return Ok(seg);
        }
        let (a, b) = self.recv_buf.stage(len);
        let seg = seg.verify_into(a, b)?;
        self.recv_buf.set_staged(tag, len);
        Ok(seg)
    }

    /// Whether a payload of `len` bytes goes straight into the receive queue
    /// if its segment is accepted: data at RCV.NXT, within the window, ending
    /// before the first byte held out of order, in a state that takes data.
    #[inline]
    pub(crate) fn goes_straight_in(&self, hdr: &TcpHeader, len: usize) -> bool {
        let takes_data = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        );
        !(len == 0
            || !takes_data
            || hdr.flags.syn()
            || hdr.flags.rst()
            || self.read_closed
            || self.mem_over
            || hdr.seq != self.rcv_nxt
            || self
                .reasm
                .first_start()
                .is_some_and(|s| s.saturating_sub(self.rcv_off) < len as u64)
            || len > self.accept_window())
    }

    /// RFC 1122 §4.2.3.2 / RFC 5681 §4.2: ACK at least every second full-sized
    /// segment, otherwise within the delayed-ACK time; quick-ACK at the start,
    /// except for text that comes with the peer's FIN in ESTABLISHED, whose ACK
    /// waits as the FIN's does (`take_fin`).
    fn schedule_ack(&mut self, len: usize, fin: bool, ctx: &mut Ctx<'_>) {
        if self.quickack > 0 && !(fin && self.state == State::Established) {
            self.quickack -= 1;
            self.ack_now = true;
            return;
        }
        if len >= usize::from(self.mss) {
            self.unacked_segs += 1;
        }
        self.delay_ack(ctx);
    }

    /// Acknowledges now if two full-sized segments wait for it, otherwise within
    /// the delayed-ACK time.
    #[inline]
    fn delay_ack(&mut self, ctx: &Ctx<'_>) {
        if self.unacked_segs >= 2 {
            self.ack_now = true;
        } else if self.delack_deadline.is_none() {
            self.delack_deadline = Some(ctx.now + ctx.cfg.delayed_ack);
        }
    }

    /// RFC 9293 §3.10.7.4 "eighth": take the FIN once all data before it has arrived.
    #[inline]
    fn maybe_take_fin(&mut self, ctx: &mut Ctx<'_>) {
        // Inline, the common case (no FIN held) is one test per segment.
        if self.peer_fin_off.get() == Some(self.rcv_off) && !self.fin_received {
            self.take_fin(ctx);
        }
    }

    /// [`Tcb::maybe_take_fin`] once the FIN is reached.
    fn take_fin(&mut self, ctx: &mut Ctx<'_>) {
        self.fin_received = true;
        self.peer_fin_off = OptU64::NONE;
        // "advance RCV.NXT over the FIN, and send an acknowledgment for the FIN"
        self.rcv_nxt += 1u32;
        if self.state == State::Established {
            // As Linux does (`tcp_fin` enters "pingpong" mode), the ACK of a FIN
            // in ESTABLISHED waits the delayed-ACK time, quick-ACK or not: the
            // application's close, which usually follows the EOF at once, carries
            // it (a three-segment close), or its reply does after a half-close.
            // An ACK something else asked for still goes now.
            self.delay_ack(ctx);
        } else {
            self.ack_now = true;
        }
        match self.state {
            State::SynReceived | State::Established => {
                self.transition(State::CloseWait, Cause::RcvFin, ctx);
            }
            State::FinWait1 if self.fin_acked() => {
                self.transition(State::TimeWait, Cause::RcvFinAck, ctx);
            }
            State::FinWait1 => self.transition(State::Closing, Cause::RcvFin, ctx),
            State::FinWait2 => self.transition(State::TimeWait, Cause::RcvFin, ctx),
            _ => {}
        }
    }
}
