//! Loss recovery for a connection: the RFC 6675 pipe, entering and leaving
//! fast recovery (with PRR and the undo of spurious reductions, RFC 3708),
//! F-RTO after a timeout (RFC 5682), RACK's loss detection and the tail loss
//! probe (RFC 8985). An `impl Tcb` block over the fields of [`super::conn`].

use alloc::boxed::Box;

use crate::tcp::congestion::Prr;
use crate::tcp::conn::{Ctx, Tcb, Undo};
use crate::time::Instant;

impl Tcb {
    /// RFC 6675 §4 "pipe": bytes the sender believes are still in the network:
    /// outstanding, less SACKed, less what is lost and not yet retransmitted.
    pub(crate) fn pipe(&self) -> usize {
        self.in_flight()
            .saturating_sub(self.rack.sacked_bytes())
            .saturating_sub(self.rack.lost_bytes())
    }

    /// Enters loss recovery (RFC 5681 §3.2, RFC 6675 §5, RFC 8985 §6): once per
    /// window of data (RFC 6582), halving through the congestion controller.
    pub(crate) fn enter_recovery(&mut self, ctx: &mut Ctx<'_>) {
        if self.recover.is_some() || self.snd_una == self.snd_max {
            return;
        }
        self.recover = Some(self.snd_max);
        self.high_rxt = self.snd_una;
        self.undo = Some(Box::new(Undo {
            prior_cwnd: self.cc.cwnd(),
            prior_ssthresh: self.cc.ssthresh(),
            retrans: 0,
            dsacks: 0,
        }));
        let in_flight = self.in_flight();
        self.cc.on_congestion_event(ctx.now, in_flight);
        self.stats.recoveries = self.stats.recoveries.saturating_add(1);
        if self.sack_ok && self.cc.uses_prr() {
            self.prr = Some(Box::new(Prr::start(self.cc.ssthresh(), self.in_flight())));
            // RFC 6937: the first retransmission goes out at once.
            self.prr_allow = u32::from(self.mss);
        }
        self.rtt_timing_at = None;
        self.tlp_deadline = None;
        ctx.counters.recoveries += 1;
        ctx.counters.fast_retransmits += 1;
        if !self.sack_ok {
            // NewReno: retransmit the first unacknowledged segment now.
            self.rtx_one = true;
        }
    }

    /// Everything in flight is to be sent again from SND.UNA (after an RTO, or
    /// a smaller MSS from ICMP): recovery, duplicate-ACK count, tail loss
    /// probe, undo record and PRR are forgotten, the outstanding segments
    /// marked lost if `mark_lost` (so the resend skips SACKed ranges), no RTT
    /// sample is taken from what is resent (Karn), and SND.NXT goes back.
    pub(crate) fn go_back_to_una(&mut self, mark_lost: bool) {
        self.recover = None;
        self.dupacks = 0;
        self.tlp_end = None;
        self.tlp_deadline = None;
        self.undo = None;
        self.prr = None;
        if mark_lost {
            self.rack.mark_all_lost();
        }
        self.rtt_timing_at = None;
        self.snd_nxt = self.snd_una;
    }

    /// Recovery ended with the ACK of everything outstanding at its start. If it
    /// needed no retransmission, or every retransmission was reported a duplicate
    /// by D-SACK, the losses were reordering: undo the reduction (RFC 3708 §3,
    /// Linux `tcp_try_undo_recovery`).
    pub(crate) fn exit_recovery(&mut self, ctx: &mut Ctx<'_>) {
        self.recover = None;
        self.prr = None;
        self.prr_allow = 0;
        if self.undo.as_ref().is_some_and(|u| u.dsacks >= u.retrans) {
            self.undo_reduction(ctx);
        } else {
            // Keep the record: D-SACKs for the retransmissions may still come
            // (Linux tcp_try_undo_dsack).
            self.cc.on_recovery_exit(ctx.now);
        }
    }

    /// A D-SACK arrived: after recovery, undo once every retransmission of the
    /// episode has proved unnecessary.
    pub(crate) fn note_dsack(&mut self, ctx: &mut Ctx<'_>) {
        let Some(u) = self.undo.as_mut() else { return };
        u.dsacks += 1;
        if self.recover.is_none() && u.dsacks >= u.retrans {
            self.undo_reduction(ctx);
        }
    }

    fn undo_reduction(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(u) = self.undo.take() {
            self.cc.undo(u.prior_cwnd, u.prior_ssthresh);
            ctx.counters.spurious_undos += 1;
            self.stats.spurious_undos = self.stats.spurious_undos.saturating_add(1);
        }
    }

    /// F-RTO (RFC 5682 §3.1, SACK-enhanced) on each ACK after a timeout: step 2
    /// sends new data instead of going back if the first ACK advanced the window;
    /// step 3 declares the timeout spurious if the second ACK advances it too
    /// (acknowledging data that was never retransmitted) and undoes it (the
    /// RFC 4015 response: the window as it was), else recovers conventionally.
    pub(crate) fn frto_on_ack(&mut self, advanced: bool, ctx: &mut Ctx<'_>) {
        let Some(mut f) = self.frto.as_deref().copied() else {
            return;
        };
        if f.step == 2 {
            // "(a) If the Cumulative Acknowledgment field covers 'recover', or the
            // ACK is a duplicate ACK": conventional recovery.
            let unsent = self.data_end().gt(self.snd_max);
            if !advanced || self.snd_una.ge(f.recover) || !unsent {
                self.frto = None;
                return;
            }
            // "(b) ... transmit up to two new (previously unsent) segments".
            self.snd_nxt = self.snd_max;
            f.step = 3;
            f.new_allowed = 2;
            if let Some(slot) = self.frto.as_deref_mut() {
                *slot = f;
            }
            return;
        }
        self.frto = None;
        if advanced {
            // Step 3 (b): "declare the timeout spurious".
            self.cc.undo(f.prior_cwnd, f.prior_ssthresh);
            self.rack.clear_lost();
            self.stats.spurious_rtos = self.stats.spurious_rtos.saturating_add(1);
            self.stats.spurious_undos = self.stats.spurious_undos.saturating_add(1);
            ctx.counters.spurious_rtos += 1;
            ctx.counters.spurious_undos += 1;
        } else {
            // Step 3 (a): a duplicate ACK; retransmit what is outstanding (go back).
            self.snd_nxt = self.snd_una;
        }
    }

    /// RFC 8985 §6.2: runs RACK's loss detection; enters recovery on a loss,
    /// or with a loss still unrepaired from before.
    #[inline]
    pub(crate) fn rack_detect(&mut self, ctx: &mut Ctx<'_>) {
        if !self.sack_ok {
            return;
        }
        let (marked, timeout) = self.rack.detect_loss(ctx.now, self.rtt.srtt_us());
        self.rack_deadline = timeout;
        // While F-RTO decides whether the timeout was spurious, its own rules
        // (RFC 5682 §3.1) say what is sent.
        if self.frto.is_some() {
            return;
        }
        if marked {
            ctx.counters.rack_losses += 1;
            self.enter_recovery(ctx);
        } else if self.recover.is_none()
            && self.snd_nxt == self.snd_max
            && self.rack.lost_bytes() > 0
        {
            // A segment above the recovery point, marked lost during the
            // episode but not yet retransmitted (PRR had no allowance) when
            // the cumulative ACK ended it. Only `sack_recovery_segment`
            // retransmits a lost hole, and RACK reports a segment as lost only
            // once, so without a new episode the hole would wait for the RTO
            // (found at 1% random loss, a 200 ms stall). It is a loss in a new
            // window of data, so a new congestion event (RFC 6582 §3.2 step 4,
            // RFC 6675 §5: enter recovery when IsLost(HighACK + 1); Linux
            // tcp_time_to_recover: any lost_out). Not while going back after a
            // timeout (snd_nxt < snd_max): there every segment is marked lost
            // and go-back resends them (RFC 8985 §6.3).
            self.enter_recovery(ctx);
        }
    }

    /// RFC 8985 §7.2: (re)arms the tail loss probe after new data is sent or new
    /// data is acknowledged, unless recovering or a probe is already out.
    #[inline]
    pub(crate) fn arm_tlp(&mut self, now: Instant) {
        self.tlp_deadline = None;
        if !self.sack_ok
            || self.recover.is_some()
            || self.tlp_end.is_some()
            || self.snd_una == self.snd_max
            || !self.state.is_synchronized()
        {
            return;
        }
        // In microseconds, as SRTT is kept: this runs per data segment sent.
        let Some(srtt_us) = self.rtt.srtt_us() else {
            return;
        };
        let mut pto_us = srtt_us.saturating_mul(2);
        if self.in_flight() <= usize::from(self.mss) {
            // "If FlightSize is one segment ... PTO += WCDelAckT", the worst-case
            // delayed-ACK timer (200 ms).
            pto_us = pto_us.saturating_add(200_000);
        }
        let at = Instant::from_micros(now.micros().saturating_add(pto_us.max(10_000)));
        if self.rtx_deadline.is_none_or(|rto| at < rto) {
            self.tlp_deadline = Some(at);
        }
    }
}
