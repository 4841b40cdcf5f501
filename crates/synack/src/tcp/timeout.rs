//! A connection's timers when they fire: idle buffer trim, delayed ACK, persist
//! (RFC 1122 §4.2.2.17), the user timeout (RFC 5482), FIN-WAIT-2, pacing, RACK
//! reordering and the tail loss probe (RFC 8985), retransmission (RFC 6298 §5,
//! with go-back and F-RTO) and keepalive. An `impl Tcb` block over the fields of
//! [`super::conn`].

use alloc::boxed::Box;

use crate::config::TcpConfig;
use crate::error::ConnectionError;
use crate::tcp::conn::{Ctx, Frto, Tcb};
use crate::tcp::state::{Cause, State};

impl Tcb {
    /// Handles whichever timers are due.
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if self.idle_trim_deadline().is_some_and(|t| t <= now) {
            self.trim_idle();
        }
        if self.delack_deadline.is_some_and(|t| t <= now) {
            self.delack_deadline = None;
            self.ack_now = true;
        }
        if self.persist_deadline.is_some_and(|t| t <= now) {
            self.persist_deadline = None;
            if self.persist_gives_up(ctx.cfg) {
                ctx.counters.timeouts += 1;
                ctx.counters.persist_timeouts += 1;
                self.fail(ConnectionError::TimedOut, Cause::Timeout, ctx);
                return;
            }
            self.probe_pending = true;
            self.persist_backoff = (self.persist_backoff + 1).min(16);
            self.probes_out = self.probes_out.saturating_add(1);
            ctx.counters.window_probes += 1;
        }
        if self.user_deadline().is_some_and(|t| t <= now) {
            ctx.counters.timeouts += 1;
            ctx.counters.user_timeouts += 1;
            self.fail(self.timeout_error(), Cause::Timeout, ctx);
            return;
        }
        if self.fin_wait_2_deadline.is_some_and(|t| t <= now) && self.state == State::FinWait2 {
            self.fin_wait_2_deadline = None;
            ctx.counters.fin_wait_2_timeouts += 1;
            self.transition(State::Closed, Cause::Timeout, ctx);
            self.stop_timers();
            return;
        }
        if self.pace_deadline.is_some_and(|t| t <= now) {
            // The pacer lets the next segment go: the stack polls us after this.
            self.pace_deadline = None;
        }
        if self.rack_deadline.is_some_and(|t| t <= now) {
            self.rack_deadline = None;
            self.rack_detect(ctx);
        }
        if self.tlp_deadline.is_some_and(|t| t <= now) {
            self.tlp_deadline = None;
            self.tlp_pending = true;
            ctx.counters.tlp_probes += 1;
        }
        if self.rtx_deadline.is_some_and(|t| t <= now) {
            self.rtx_deadline = None;
            self.on_rto(ctx);
        }
        if self.keepalive_deadline.is_some_and(|t| t <= now) && self.state != State::Closed {
            self.keepalive_deadline = None;
            self.on_keepalive(ctx);
        }
    }

    /// Whether the persist timer gives up instead of probing again.
    ///
    /// RFC 1122 §4.2.2.17: "As long as the receiving TCP continues to send
    /// acknowledgments in response to the probe segments, the sending TCP MUST allow
    /// the connection to stay open." So, as Linux's `tcp_probe_timer`: give up after
    /// `data_retries` (`tcp_retries2`) probes in a row that drew no acceptable ACK;
    /// an orphan, which no application will ever read from, gives up after
    /// `orphan_retries` probes even if they are answered (Linux
    /// `tcp_orphan_retries`). The user timeout bounds the zero window on its own
    /// (see `user_deadline`).
    fn persist_gives_up(&self, cfg: &TcpConfig) -> bool {
        if self.orphan && self.persist_backoff >= cfg.orphan_retries {
            return true;
        }
        self.probes_out >= cfg.data_retries
    }

    /// RFC 6298 §5.4–5.6: retransmit the earliest unacknowledged segment, back off,
    /// restart the timer; give up after the configured number of retries.
    fn on_rto(&mut self, ctx: &mut Ctx<'_>) {
        if self.snd_una == self.snd_max {
            return;
        }
        self.retries += 1;
        ctx.counters.rto_expirations += 1;
        let limit = match self.state {
            State::SynSent => ctx.cfg.syn_retries,
            State::SynReceived => ctx.cfg.synack_retries,
            // Linux `tcp_orphan_retries`: an orphan gives up sooner.
            _ if self.orphan => ctx.cfg.data_retries.min(ctx.cfg.orphan_retries),
            _ => ctx.cfg.data_retries,
        };
        if self.retries > limit {
            ctx.counters.timeouts += 1;
            self.fail(self.timeout_error(), Cause::Timeout, ctx);
            return;
        }
        self.rtt.backoff();
        self.stats.rtos = self.stats.rtos.saturating_add(1);
        // RFC 5682 §3.1 step 1: remember what undoing would restore, and
        // "recover" = the highest sequence number sent. Only for the first
        // timeout of a window (a backed-off timer means the peer is really silent)
        // and with data at hand to send new segments in step 2 (b).
        let (prior_cwnd, prior_ssthresh) = match (self.undo.as_deref(), self.recover) {
            (Some(u), Some(_)) => (u.prior_cwnd, u.prior_ssthresh),
            _ => (self.cc.cwnd(), self.cc.ssthresh()),
        };
        self.frto =
            (ctx.cfg.frto && self.retries == 1 && self.state.is_synchronized()).then(|| {
                Box::new(Frto {
                    step: 2,
                    recover: self.snd_max,
                    prior_cwnd,
                    prior_ssthresh,
                    new_allowed: 0,
                })
            });
        // RFC 5681 §3.1 eq. 4 and the loss window.
        let in_flight = self.in_flight();
        self.cc.on_rto(ctx.now, in_flight);
        self.go_back_to_una(self.sack_ok);
        self.rtx_deadline = Some(ctx.now + self.rtt.rto());
    }
}
