//! Proportional Rate Reduction: how much to send during fast recovery, RFC 6937
//! as updated by RFC 9937.
//!
//! RFC 9937 (abstract): "PRR regulates the amount of data sent by TCP or other transport
//! protocols during fast recovery. PRR accurately regulates the actual flight size
//! through recovery such that at the end of recovery it will be as close as
//! possible to the slow start threshold (ssthresh)". Per ACK during recovery:
//!
//! | condition | `sndcnt` |
//! |---|---|
//! | `DeliveredData = 0` | 0 (nothing changes) |
//! | `pipe > ssthresh` (proportional reduction) | `CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out`, the CEIL to whole MSS |
//! | `pipe ≤ ssthresh`, PRR-SSRB | `MIN(ssthresh - pipe, MAX(prr_delivered - prr_out, DeliveredData) + MSS)` |
//! | `pipe ≤ ssthresh`, PRR-CRB | `MIN(ssthresh - pipe, MAX(prr_delivered - prr_out, DeliveredData))` |
//! | nothing sent yet and `sndcnt = 0` | `MSS` (RFC 9937: force the fast retransmit) |
//!
//! The connection owns `pipe` (RFC 6675's estimate of the bytes in the network)
//! and `DeliveredData` ("change_in(snd.una) + change_in(SACKd)"), and reports what
//! it sends with [`Prr::on_sent`]. RFC 9937 lets the sender then use
//! `cwnd = pipe + sndcnt`.
//!
//! # Which reduction bound
//!
//! RFC 6937 used PRR-SSRB whenever `pipe ≤ ssthresh`. RFC 9937 keeps the slow
//! start bound only for a "safeACK" (`snd.una` advanced and no further loss is
//! indicated), and uses the conservative bound otherwise. [`Prr::on_ack`] is the
//! RFC 6937 rule (the connection does not always know about further losses);
//! [`Prr::on_ack_bounded`] takes the bound, so a caller that knows can follow
//! RFC 9937.

/// The bound on sending once `pipe` has fallen to `ssthresh` or below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReductionBound {
    /// PRR-CRB: "conservative", strict packet conservation.
    Conservative,
    /// PRR-SSRB: "slow start", one extra MSS per ACK, so `pipe` grows back to
    /// `ssthresh` as in slow start.
    SlowStart,
}

/// The state of one PRR episode, from the start of fast recovery to its end.
///
/// # Examples
///
/// RFC 6937 §6's single-loss case: 20 segments in flight, `ssthresh` 10; PRR sends
/// one segment for every two delivered.
///
/// ```
/// use synack::tcp::congestion::Prr;
///
/// let mss = 1000;
/// let mut prr = Prr::start(10 * mss, 20 * mss);
/// let mut sent = Vec::new();
/// let mut pipe = 19 * mss; // the lost segment is out of the pipe
/// for _ in 0..6 {
///     pipe -= mss; // one segment delivered per ACK
///     let sndcnt = prr.on_ack(mss, pipe, mss);
///     prr.on_sent(sndcnt);
///     pipe += sndcnt;
///     sent.push(sndcnt / mss);
/// }
/// assert_eq!(sent, [1, 0, 1, 0, 1, 0]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prr {
    /// `RecoverFS`: FlightSize when recovery started (never zero).
    recover_fs: usize,
    /// `prr_delivered`: bytes delivered to the receiver since recovery started.
    prr_delivered: usize,
    /// `prr_out`: bytes sent since recovery started.
    prr_out: usize,
    /// The target: the congestion controller's new `ssthresh`.
    ssthresh: usize,
}

impl Prr {
    /// Starts an episode at the start of fast recovery, after the congestion
    /// controller set `ssthresh`.
    ///
    /// RFC 6937 §3.1: "ssthresh = CongCtrlAlg() // Target cwnd after recovery;
    /// prr_delivered = 0; prr_out = 0; RecoverFS = snd.nxt-snd.una // FlightSize
    /// right before recovery". RFC 9937 then subtracts the bytes SACKed before
    /// recovery (they will not be counted as delivered during it); pass
    /// `flight_size` with that done if the connection keeps a scoreboard. Zero is
    /// treated as one.
    pub fn start(ssthresh: usize, flight_size: usize) -> Self {
        Self {
            recover_fs: flight_size.max(1),
            prr_delivered: 0,
            prr_out: 0,
            ssthresh,
        }
    }

    /// `RecoverFS`.
    pub const fn recover_fs(&self) -> usize {
        self.recover_fs
    }

    /// `prr_delivered`.
    pub const fn prr_delivered(&self) -> usize {
        self.prr_delivered
    }

    /// `prr_out`.
    pub const fn prr_out(&self) -> usize {
        self.prr_out
    }

    /// The `ssthresh` recovery converges to.
    pub const fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    /// An ACK during recovery delivered `delivered_bytes`; `pipe` is RFC 6675's
    /// pipe after it. Returns `sndcnt`, the bytes the sender may send now, with the
    /// PRR-SSRB bound once `pipe ≤ ssthresh` (RFC 6937).
    pub fn on_ack(&mut self, delivered_bytes: usize, pipe: usize, mss: usize) -> usize {
        self.on_ack_bounded(delivered_bytes, pipe, mss, ReductionBound::SlowStart)
    }

    /// [`on_ack`](Self::on_ack) with the reduction bound chosen by the caller
    /// (RFC 9937: [`SlowStart`](ReductionBound::SlowStart) on a safeACK,
    /// [`Conservative`](ReductionBound::Conservative) otherwise).
    pub fn on_ack_bounded(
        &mut self,
        delivered_bytes: usize,
        pipe: usize,
        mss: usize,
        bound: ReductionBound,
    ) -> usize {
        // RFC 9937: an ACK that delivered nothing changes nothing (`if
        // (DeliveredData is 0) Return`). What was allowed and not yet sent stays
        // owed: the next ACK's sndcnt includes it.
        if delivered_bytes == 0 {
            return 0;
        }
        // RFC 6937 §3.1: "prr_delivered += DeliveredData".
        self.prr_delivered = self.prr_delivered.saturating_add(delivered_bytes);
        let sndcnt = if pipe > self.ssthresh {
            // "Proportional Rate Reduction: sndcnt = CEIL(prr_delivered *
            // ssthresh / RecoverFS) - prr_out"
            //
            // The CEIL is taken in whole segments (as Linux does, counting
            // packets): a sender of full-sized segments then gets its fast
            // retransmit on the ACK that starts recovery, not half a segment.
            let allowed = ceil_div(
                wide(self.prr_delivered).saturating_mul(wide(self.ssthresh)),
                wide(self.recover_fs),
            );
            let mss = wide(mss.max(1));
            let allowed = ceil_div(allowed, mss).saturating_mul(mss);
            narrow(allowed.saturating_sub(wide(self.prr_out)))
        } else {
            // "Two versions of the Reduction Bound ... PRR-CRB: limit =
            // prr_delivered - prr_out ... PRR-SSRB: limit = MAX(prr_delivered -
            // prr_out, DeliveredData) + MSS". RFC 9937 takes the MAX with
            // DeliveredData in both.
            let conservative = self
                .prr_delivered
                .saturating_sub(self.prr_out)
                .max(delivered_bytes);
            let limit = match bound {
                ReductionBound::Conservative => conservative,
                ReductionBound::SlowStart => conservative.saturating_add(mss),
            };
            // "Attempt to catch up, as permitted by limit: sndcnt = MIN(ssthresh -
            // pipe, limit)"
            (self.ssthresh - pipe).min(limit)
        };
        // RFC 9937: force a fast retransmit upon entering recovery (`if (prr_out
        // is 0 AND SndCnt is 0) SndCnt = SMSS`).
        if self.prr_out == 0 && sndcnt == 0 {
            mss
        } else {
            sndcnt
        }
    }

    /// The sender sent (or retransmitted) `bytes` during recovery.
    ///
    /// RFC 6937 §3.1: "On any data transmission or retransmission: prr_out +=
    /// (data sent) // strictly less than or equal to sndcnt".
    pub fn on_sent(&mut self, bytes: usize) {
        self.prr_out = self.prr_out.saturating_add(bytes);
    }
}

/// `usize` to `u128`, lossless on every target Rust supports.
const fn wide(x: usize) -> u128 {
    x as u128
}

/// `u128` to `usize`, saturating.
fn narrow(x: u128) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

/// `CEIL(x / y)` for `y > 0`.
const fn ceil_div(x: u128, y: u128) -> u128 {
    x / y + if x.is_multiple_of(y) { 0 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const MSS: usize = 1000;

    /// Runs one recovery: before each ACK `pipe` falls by what the ACK delivered
    /// (`pipe_drop`, in segments; more than delivered when the ACK also reveals a
    /// loss), then the sender sends all of `sndcnt`. Returns segments sent per ACK
    /// and the final pipe, in segments.
    fn recover(
        ssthresh: usize,
        recover_fs: usize,
        pipe: usize,
        acks: &[(usize, usize)],
        bound: ReductionBound,
    ) -> (Vec<usize>, usize) {
        let mut prr = Prr::start(ssthresh * MSS, recover_fs * MSS);
        let mut pipe = pipe * MSS;
        let sent = acks
            .iter()
            .map(|&(delivered, pipe_drop)| {
                pipe = pipe.saturating_sub(pipe_drop * MSS);
                let sndcnt = prr.on_ack_bounded(delivered * MSS, pipe, MSS, bound);
                prr.on_sent(sndcnt);
                pipe += sndcnt;
                sndcnt / MSS
            })
            .collect();
        (sent, pipe / MSS)
    }

    /// One recovery, in segments.
    struct Scenario {
        name: &'static str,
        ssthresh: usize,
        recover_fs: usize,
        /// Before the first ACK.
        pipe: usize,
        /// Per ACK: (delivered, drop in pipe).
        acks: &'static [(usize, usize)],
        bound: ReductionBound,
        /// Per ACK: segments sent.
        sent: &'static [usize],
        final_pipe: usize,
    }

    #[test]
    fn rfc_6937_section_6_scenarios() {
        use ReductionBound::{Conservative, SlowStart};
        const ONE: (usize, usize) = (1, 1);
        // RFC 6937 §6: "cwnd = FlightSize = pipe = 20 segments, so ssthresh will
        // be set to 10 at the beginning of recovery".
        #[rustfmt::skip]
        let cases = [
            // One loss: the ACK entering recovery (third duplicate) takes the
            // SACKed segment and the lost one out of the pipe.
            Scenario {
                name: "single loss: one segment per two ACKs down to ssthresh",
                ssthresh: 10, recover_fs: 20, pipe: 20,
                acks: &[(1, 2), ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE],
                bound: SlowStart,
                sent: &[1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1],
                final_pipe: 10,
            },
            Scenario {
                name: "single loss: CRB behaves the same above ssthresh",
                ssthresh: 10, recover_fs: 20, pipe: 20,
                acks: &[(1, 2), ONE, ONE, ONE, ONE, ONE],
                bound: Conservative,
                sent: &[1, 0, 1, 0, 1, 0],
                final_pipe: 16,
            },
            // "a burst of 15 consecutive losses": the pipe falls to 4, below
            // ssthresh. PRR-SSRB grows it by a segment per ACK (two sent per one
            // delivered), like slow start ...
            Scenario {
                name: "15 losses, SSRB: slow start back to ssthresh",
                ssthresh: 10, recover_fs: 20, pipe: 5,
                acks: &[ONE; 8],
                bound: SlowStart,
                sent: &[2, 2, 2, 2, 2, 1, 1, 1],
                final_pipe: 10,
            },
            // ... while PRR-CRB holds it where it is (packet conservation).
            Scenario {
                name: "15 losses, CRB: packet conservation",
                ssthresh: 10, recover_fs: 20, pipe: 5,
                acks: &[ONE; 6],
                bound: Conservative,
                sent: &[1, 1, 1, 1, 1, 1],
                final_pipe: 5,
            },
            Scenario {
                name: "stretch ACK below ssthresh: SSRB capped at ssthresh - pipe",
                ssthresh: 10, recover_fs: 20, pipe: 9,
                acks: &[(4, 2)],
                bound: SlowStart,
                sent: &[3],
                final_pipe: 10,
            },
            Scenario {
                name: "pipe at ssthresh on entry: the fast retransmit is still forced",
                ssthresh: 10, recover_fs: 10, pipe: 11,
                acks: &[ONE, ONE],
                bound: Conservative,
                sent: &[1, 0],
                final_pipe: 10,
            },
        ];
        for c in cases {
            let got = recover(c.ssthresh, c.recover_fs, c.pipe, c.acks, c.bound);
            assert_eq!(got, (c.sent.to_vec(), c.final_pipe), "{}", c.name);
        }
    }

    #[test]
    fn proportional_total_matches_ssthresh_over_recover_fs() {
        // Over a whole window delivered, PRR sends ssthresh/RecoverFS of it.
        for (ssthresh, fs) in [(10, 20), (14, 20), (7, 10), (35, 50)] {
            let mut prr = Prr::start(ssthresh * MSS, fs * MSS);
            let mut out = 0;
            for _ in 0..fs {
                // pipe stays above ssthresh
                let sndcnt = prr.on_ack(MSS, usize::MAX, MSS);
                prr.on_sent(sndcnt);
                out += sndcnt;
            }
            assert_eq!(out, ssthresh * MSS, "{ssthresh}/{fs}");
        }
    }

    #[test]
    fn unsent_allowance_carries_over() {
        let mut prr = Prr::start(10 * MSS, 20 * MSS);
        assert_eq!(prr.on_ack(MSS, 18 * MSS, MSS), MSS);
        // Nothing sent (say the send buffer was empty): owed at the next ACK.
        assert_eq!(prr.on_ack(MSS, 17 * MSS, MSS), MSS);
        assert_eq!(prr.on_ack(MSS, 16 * MSS, MSS), 2 * MSS);
        prr.on_sent(2 * MSS);
        assert_eq!(prr.prr_out(), 2 * MSS);
        assert_eq!(prr.prr_delivered(), 3 * MSS);
    }

    #[test]
    fn no_delivery_no_sending() {
        let mut prr = Prr::start(10 * MSS, 20 * MSS);
        assert_eq!(prr.on_ack(0, 18 * MSS, MSS), 0);
        assert_eq!(prr.prr_delivered(), 0);
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let mut prr = Prr::start(usize::MAX, 0);
        assert_eq!(prr.recover_fs(), 1);
        for pipe in [0, 1, usize::MAX] {
            let n = prr.on_ack(usize::MAX, pipe, usize::MAX);
            prr.on_sent(n);
            prr.on_sent(usize::MAX);
        }
        let mut prr = Prr::start(0, usize::MAX);
        assert_eq!(prr.ssthresh(), 0);
        for pipe in [0, 1, usize::MAX] {
            let _ = prr.on_ack_bounded(1, pipe, 0, ReductionBound::Conservative);
        }
    }
}
