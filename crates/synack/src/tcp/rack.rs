//! RACK-TLP loss detection (RFC 8985): time-based loss marking from per-segment
//! send times, with a reordering window, and the tail loss probe's timing.
//!
//! The connection records each segment it sends (`on_send`); ACKs and SACKs mark
//! segments delivered (`on_delivered`), which advances RACK's notion of the most
//! recently sent delivered segment; `detect_loss` then marks every segment sent
//! before it, and older than RACK.rtt + reo_wnd, as lost.

use alloc::boxed::Box;
use core::time::Duration;

use crate::tcp::congestion::RateSample;
use crate::tcp::conn::OptU64;
use crate::tcp::seq::SeqNum;
use crate::time::Instant;

mod records;

use records::Records;

/// One transmitted segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SentSeg {
    pub(crate) start: SeqNum,
    pub(crate) end: SeqNum,
    pub(crate) sent_at: Instant,
    pub(crate) rexmit: bool,
    pub(crate) sacked: bool,
    pub(crate) lost: bool,
    /// Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation §3.2):
    /// the connection's `delivered`, `delivered_time` and `first_sent_time` when
    /// this segment was (last) sent, and whether the sender was app-limited then.
    pub(crate) delivered: u64,
    pub(crate) delivered_at: Instant,
    pub(crate) first_sent_at: Instant,
    pub(crate) app_limited: bool,
}

impl SentSeg {
    fn len(&self) -> usize {
        (self.end - self.start).max(0) as usize
    }
}

/// Microseconds from `earlier` to `later` (zero if `later` is earlier), as
/// `later - earlier` would give them.
#[inline]
fn us(later: Instant, earlier: Instant) -> u64 {
    later.micros().saturating_sub(earlier.micros())
}

/// RFC 8985 §6.2 step 4: the reordering window grows by min_rtt/4 per D-SACK round,
/// up to this many steps.
const MAX_REO_MULT: u32 = 16;

/// RFC 8985 §6.2: the reordering window, min_RTT/4 per step (`mult`, at least
/// one), capped at SRTT. A function of the fields it reads, so that
/// `detect_loss` can work it out while it walks (and marks) the records.
fn reo_wnd(min_rtt_us: OptU64, mult: u32, srtt: Option<Duration>) -> Duration {
    let base = Duration::from_micros(min_rtt_us.get().unwrap_or(0)) / 4;
    let w = base * mult.max(1);
    srtt.map_or(w, |s| w.min(s))
}

/// RACK state for one connection.
///
/// Everything but the app-limited mark lives in a box taken with the first
/// segment sent: a connection that never sends data (an idle one, with empty
/// buffers) carries 16 bytes of RACK, not ~250. Once taken, the box stays (as
/// the record queue's heap allocation does, if it has one) so that a
/// request-response exchange does not allocate per flight.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rack {
    /// §3.4 C.app_limited: the `delivered` count up to which samples are marked
    /// app-limited (0: none). Inline because an idle sender sets it on every poll.
    app_limited_until: u64,
    st: Option<Box<RackState>>,
}

/// The state behind [`Rack`]'s box: one allocation with the first records in
/// place (see [`records`]), times in whole microseconds (every one of them is
/// a difference of two `Instant`s), so that the state of a connection with a
/// segment or two in flight is ~4 cache lines, not ~7 in two allocations.
#[derive(Clone, Debug, Default)]
struct RackState {
    segs: Records,
    /// RACK.xmit_ts / RACK.end_seq: the most recently sent segment known delivered.
    xmit_ts: Option<Instant>,
    end_seq: SeqNum,
    /// RACK.rtt: the RTT of that segment, in µs.
    rtt_us: u64,
    /// RACK.min_RTT, in µs.
    min_rtt_us: OptU64,
    reo_wnd_mult: u32,
    /// Bytes currently marked lost and not yet retransmitted.
    lost_bytes: usize,
    /// Bytes SACKed.
    sacked_bytes: usize,
    reorder_events: u64,
    /// Delivery-rate estimation state (C.delivered, C.delivered_time,
    /// C.first_sent_time) and the sample being built for this ACK.
    delivered: u64,
    delivered_at: Instant,
    first_sent_at: Instant,
    rs: Option<RsBuild>,
}

/// The newest delivered segment's send-time snapshot, for the current ACK.
#[derive(Clone, Copy, Debug)]
struct RsBuild {
    prior_delivered: u64,
    send_elapsed_us: u64,
    ack_elapsed_us: u64,
    app_limited: bool,
    rtt_us: OptU64,
}

/// Boxed RACK states of freed connections, reset, for the next connection's
/// first segment (the stack's TCB pool holds them, with the same bound): a
/// parked TCB keeps none, so a renewed TCB is exactly a new one and an idle
/// connection stays small, yet connection churn allocates no RACK state.
#[derive(Debug, Default)]
pub(crate) struct RackSpares {
    #[allow(clippy::vec_box)]
    boxes: alloc::vec::Vec<Box<RackState>>,
}

impl RackSpares {
    /// Takes `rack`'s state (a new connection's [`Rack`] is left), reset, and
    /// keeps it if fewer than `cap` are held. A record queue larger than
    /// `keep_bytes` is given back.
    pub(crate) fn put(&mut self, rack: &mut Rack, cap: usize, keep_bytes: usize) {
        let Some(mut st) = core::mem::take(rack).st else {
            return;
        };
        if self.boxes.len() >= cap {
            return;
        }
        st.reset(keep_bytes);
        self.boxes.push(st);
    }

    /// Keeps at most `cap`.
    pub(crate) fn truncate(&mut self, cap: usize) {
        self.boxes.truncate(cap);
    }

    /// States held.
    pub(crate) fn len(&self) -> usize {
        self.boxes.len()
    }
}

impl Rack {
    /// Bytes the record queue holds allocated while empty (nothing in flight).
    pub(crate) fn idle_bytes(&self) -> usize {
        self.st
            .as_deref()
            .filter(|st| st.segs.is_empty())
            .map_or(0, |st| st.segs.heap_bytes())
    }

    /// Gives back the record queue's heap allocation if it is empty; the RACK and
    /// delivery-rate state (min RTT, reordering window, delivered count) stays.
    pub(crate) fn trim(&mut self) {
        if let Some(st) = self.st.as_deref_mut().filter(|st| st.segs.is_empty()) {
            st.segs.release();
        }
    }

    /// Records a transmission of `[start, end)`. A retransmission updates the
    /// segments it covers; new data appends a segment.
    pub(crate) fn on_send(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        if !start.lt(end) {
            return;
        }
        let app_limited = self.app_limited_until != 0;
        self.st
            .get_or_insert_with(Box::default)
            .on_send(start, end, now, app_limited);
    }

    /// [`Rack::on_send`], the state taken from `spares` if this is the first
    /// segment recorded.
    #[inline]
    pub(crate) fn on_send_from(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        now: Instant,
        spares: &mut RackSpares,
    ) {
        // Runs per data segment: the common case (new data behind a flight)
        // inline, the rest out of line.
        let app_limited = self.app_limited_until != 0;
        if let Some(st) = self.st.as_deref_mut() {
            if st.append(start, end, now, app_limited) {
                return;
            }
        }
        self.on_send_first_or_again(start, end, now, spares);
    }

    /// [`Rack::on_send_from`] for all but new data behind a flight.
    #[inline(never)]
    fn on_send_first_or_again(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        now: Instant,
        spares: &mut RackSpares,
    ) {
        if self.st.is_none() && start.lt(end) {
            self.st = spares.boxes.pop();
        }
        self.on_send(start, end, now);
    }

    /// §3.4: the sender has run out of data (or is otherwise not using its
    /// window): samples taken until the data now in flight is delivered are
    /// marked app-limited.
    pub(crate) fn on_app_limited(&mut self, in_flight: usize) {
        let delivered = self.st.as_ref().map_or(0, |s| s.delivered);
        self.app_limited_until = (delivered + in_flight as u64).max(1);
    }

    /// The app-limited mark (see [`Rack::on_app_limited`]).
    #[cfg(debug_assertions)]
    pub(crate) fn app_limited_until(&self) -> u64 {
        self.app_limited_until
    }

    /// §3.3: the rate sample of the ACK just processed, if it delivered anything;
    /// `measured` says whether its interval is long enough to mean something.
    pub(crate) fn take_rate_sample(&mut self) -> Option<RateSample> {
        let st = self.st.as_deref_mut()?;
        let b = st.rs.take()?;
        if self.app_limited_until != 0 && st.delivered > self.app_limited_until {
            self.app_limited_until = 0;
        }
        let interval_us = b.send_elapsed_us.max(b.ack_elapsed_us);
        Some(RateSample {
            // "we discard rate samples shorter than min_rtt": their interval is too
            // short to be a measurement of the path.
            measured: interval_us != 0 && st.min_rtt_us.get().is_none_or(|m| interval_us >= m),
            delivered: st.delivered - b.prior_delivered,
            interval: Duration::from_micros(interval_us),
            app_limited: b.app_limited,
            rtt: b.rtt_us.duration(),
            prior_delivered: b.prior_delivered,
            total_delivered: st.delivered,
        })
    }

    /// An RTT sample in microseconds for a cumulative ACK reaching `una`, from
    /// the send times of the segments it newly covers (Linux
    /// `tcp_clean_rtx_queue`'s `seq_rtt_us`): the time since the oldest of them
    /// not SACKed before went out; `None` if any of them was retransmitted
    /// (Karn) or none is timed. Read-only: call before [`Rack::on_ack`].
    #[inline]
    pub(crate) fn ack_rtt(&self, una: SeqNum, now: Instant) -> Option<Duration> {
        let (a, b) = self.st.as_deref()?.segs.as_slices();
        let mut first = None;
        // Each half of the queue in a loop of its own (the chained iterator
        // asks per record which half it is in): this walks every segment the
        // ACK covers, dozens for a bulk sender.
        for half in [a, b] {
            for s in half {
                if !s.end.le(una) {
                    return first.map(|t| now - t);
                }
                if s.rexmit {
                    return None;
                }
                if !s.sacked && first.is_none() {
                    first = Some(s.sent_at);
                }
            }
        }
        first.map(|t| now - t)
    }

    /// The cumulative ACK reached `una`: segments below it are delivered.
    ///
    /// It runs on every ACK; one that delivers no record (a duplicate, or an
    /// ACK with nothing of ours in flight, as on a request or a response) is
    /// found here, without a call.
    #[inline]
    pub(crate) fn on_ack(&mut self, una: SeqNum, now: Instant) {
        if let Some(st) = self.st.as_deref_mut() {
            if st.segs.front().is_some_and(|s| s.end.le(una)) {
                st.on_ack(una, now);
            }
        }
    }

    /// A SACK block `[left, right)`: the segments wholly inside it are delivered.
    pub(crate) fn on_sack(&mut self, left: SeqNum, right: SeqNum, now: Instant) {
        if let Some(st) = self.st.as_deref_mut() {
            st.on_sack(left, right, now);
        }
    }

    /// RFC 8985 §6.2 step 4: a D-SACK means the reordering window was too small.
    pub(crate) fn on_dsack(&mut self) {
        self.st.get_or_insert_with(Box::default).reordering_seen();
    }

    /// Times reordering was observed.
    pub(crate) fn reorder_events(&self) -> u64 {
        self.st.as_ref().map_or(0, |s| s.reorder_events)
    }

    /// RFC 8985 §6.2 step 5 (see [`RackState::detect_loss`]), with SRTT in µs
    /// as the estimator keeps it (`None` before a sample).
    ///
    /// It runs on every ACK with SACK, and most ACKs of a request-response
    /// exchange leave nothing in flight: with no record there is nothing to
    /// mark and nothing to wait for, found here without the walk (out of line).
    #[inline]
    pub(crate) fn detect_loss(
        &mut self,
        now: Instant,
        srtt_us: Option<u64>,
    ) -> (bool, Option<Instant>) {
        match self.st.as_deref_mut() {
            Some(st) if !st.segs.is_empty() => st.detect_loss(now, srtt_us),
            _ => (false, None),
        }
    }

    /// The lowest segment marked lost (and not retransmitted since).
    pub(crate) fn first_lost(&self) -> Option<(SeqNum, SeqNum)> {
        self.st
            .as_ref()?
            .segs
            .iter()
            .find(|s| s.lost)
            .map(|s| (s.start, s.end))
    }

    /// The last segment sent (for a tail loss probe with no new data).
    pub(crate) fn last(&self) -> Option<(SeqNum, SeqNum)> {
        self.st.as_ref()?.segs.back().map(|s| (s.start, s.end))
    }

    /// Bytes marked lost and not retransmitted.
    pub(crate) fn lost_bytes(&self) -> usize {
        self.st.as_ref().map_or(0, |s| s.lost_bytes)
    }

    /// Bytes SACKed.
    pub(crate) fn sacked_bytes(&self) -> usize {
        self.st.as_ref().map_or(0, |s| s.sacked_bytes)
    }

    /// A timeout proved spurious (F-RTO): nothing is lost after all.
    pub(crate) fn clear_lost(&mut self) {
        if let Some(st) = self.st.as_deref_mut() {
            for s in st.segs.iter_mut() {
                s.lost = false;
            }
            st.lost_bytes = 0;
        }
    }

    /// After a retransmission timeout every outstanding, un-SACKed segment is lost
    /// (RFC 8985 §6.3 — go-back will resend them).
    pub(crate) fn mark_all_lost(&mut self) {
        if let Some(st) = self.st.as_deref_mut() {
            for s in st.segs.iter_mut() {
                if !s.sacked && !s.lost {
                    s.lost = true;
                    st.lost_bytes += s.len();
                }
            }
        }
    }

    #[cfg(test)]
    fn reo_wnd(&self, srtt: Option<Duration>) -> Duration {
        let (min_rtt, mult) = self
            .st
            .as_deref()
            .map_or((OptU64::default(), 0), |s| (s.min_rtt_us, s.reo_wnd_mult));
        reo_wnd(min_rtt, mult, srtt)
    }

    #[cfg(test)]
    fn rtt(&self) -> Duration {
        Duration::from_micros(self.st.as_ref().map_or(0, |s| s.rtt_us))
    }
}

/// The running values of [`RackState::take_plain_run`]'s pass over a run of
/// delivered segments, each sent once and neither SACKed nor marked lost: what
/// `sample_delivery` and `delivered` would have left after each of them in
/// turn. Per segment that is the delivered count, the newest segment for RACK
/// (a running maximum, as `note_delivered_send` keeps it) and the candidate
/// for the rate sample (the last one whose `delivered` snapshot is not older
/// than the sample's, as `sample_delivery` picks it); once for the run, the
/// durations: the RTT of its last segment and the minimum RTT, which, `now`
/// being the same for all, is that of the latest sent.
struct PlainRun<'a> {
    una: SeqNum,
    /// Records taken.
    n: usize,
    delivered: u64,
    sample: Option<&'a SentSeg>,
    /// The snapshot the next candidate must not be older than: the
    /// candidate's, else that of the sample being built, else 0 (which every
    /// snapshot passes, as every one passes when there is no sample).
    prior: u64,
    latest_sent: Instant,
    xmit_ts: Option<Instant>,
    end_seq: SeqNum,
    last: Option<&'a SentSeg>,
}

impl<'a> PlainRun<'a> {
    /// Takes the records of `segs` from the first, up to one that is not in
    /// the run; returns whether it took them all (the run may go on). Over a
    /// slice, not the records' chained iterator: this runs per segment of a
    /// bulk sender's flight.
    #[inline]
    fn scan(&mut self, segs: &'a [SentSeg]) -> bool {
        for s in segs {
            if !s.end.le(self.una) || s.lost || s.sacked || s.rexmit {
                return false;
            }
            self.n += 1;
            self.delivered += s.len() as u64;
            if s.delivered >= self.prior {
                self.prior = s.delivered;
                self.sample = Some(s);
            }
            self.latest_sent = self.latest_sent.max(s.sent_at);
            // RFC 8985 §6.2 step 2, as `note_delivered_send` keeps it.
            let newer = self
                .xmit_ts
                .is_none_or(|t| s.sent_at > t || (s.sent_at == t && s.end.gt(self.end_seq)));
            if newer {
                self.xmit_ts = Some(s.sent_at);
                self.end_seq = s.end;
            }
            self.last = Some(s);
        }
        true
    }
}

impl RackState {
    /// Back to [`RackState::default`] in place, field by field (the inline
    /// records are not rewritten, only emptied); a record queue on the heap
    /// larger than `keep_bytes` is given back.
    fn reset(&mut self, keep_bytes: usize) {
        // Every field named: a new one does not compile until it is reset here.
        let Self {
            segs,
            xmit_ts,
            end_seq,
            rtt_us,
            min_rtt_us,
            reo_wnd_mult,
            lost_bytes,
            sacked_bytes,
            reorder_events,
            delivered,
            delivered_at,
            first_sent_at,
            rs,
        } = self;
        segs.clear();
        if segs.heap_bytes() > keep_bytes {
            segs.release();
        }
        *xmit_ts = None;
        *end_seq = SeqNum::default();
        *rtt_us = 0;
        *min_rtt_us = OptU64::NONE;
        *reo_wnd_mult = 0;
        *lost_bytes = 0;
        *sacked_bytes = 0;
        *reorder_events = 0;
        *delivered = 0;
        *delivered_at = Instant::default();
        *first_sent_at = Instant::default();
        *rs = None;
    }

    /// [`RackState::on_send`] of a new segment `[start, end)` behind the last
    /// one recorded, while the oldest one recorded is not SACKed: then not
    /// everything in flight is SACKed (the delivery-rate interval goes on)
    /// and the record is appended. Returns false, having done nothing, in
    /// any other case.
    #[inline]
    fn append(&mut self, start: SeqNum, end: SeqNum, now: Instant, app_limited: bool) -> bool {
        let rec = self.new_record(start, end, now, app_limited);
        self.segs.push_back_if(
            |first, last| !first.sacked && last.end.le(start) && start.lt(end),
            || rec,
        )
    }

    /// The record of new data `[start, end)` sent at `now`, with the
    /// delivery-rate snapshot taken as it leaves (§3.2).
    #[inline]
    fn new_record(&self, start: SeqNum, end: SeqNum, now: Instant, app_limited: bool) -> SentSeg {
        SentSeg {
            start,
            end,
            sent_at: now,
            rexmit: false,
            sacked: false,
            lost: false,
            delivered: self.delivered,
            delivered_at: self.delivered_at,
            first_sent_at: self.first_sent_at,
            app_limited,
        }
    }

    fn on_send(&mut self, start: SeqNum, end: SeqNum, now: Instant, app_limited: bool) {
        // §3.2: "If there are no packets in flight yet, then we start the delivery
        // rate interval at the current time."
        // (The front first: with anything unSACKed in flight it usually is.)
        if self.segs.front().is_none_or(|s| s.sacked) && self.segs.iter().all(|s| s.sacked) {
            self.first_sent_at = now;
            self.delivered_at = now;
        }
        let (delivered, delivered_at, first_sent_at, app_limited) = (
            self.delivered,
            self.delivered_at,
            self.first_sent_at,
            app_limited,
        );
        if self.segs.back().is_none_or(|b| b.end.le(start)) {
            let rec = self.new_record(start, end, now, app_limited);
            self.segs.push_back(rec);
            return;
        }
        let first = self.segs.partition_point(|s| s.end.le(start));
        for s in self.segs.iter_mut().skip(first) {
            if end.le(s.start) {
                break;
            }
            if s.lost {
                self.lost_bytes -= s.len();
                s.lost = false;
            }
            s.sent_at = now;
            s.rexmit = true;
            s.delivered = delivered;
            s.delivered_at = delivered_at;
            s.first_sent_at = first_sent_at;
            s.app_limited = app_limited;
        }
    }

    /// §3.3 per delivered segment: count it, and take the newest segment's
    /// send-time snapshot for this ACK's sample.
    fn sample_delivery(&mut self, seg: &SentSeg, now: Instant) {
        self.delivered += seg.len() as u64;
        self.delivered_at = now;
        let newer = self.rs.is_none_or(|b| seg.delivered >= b.prior_delivered);
        if newer {
            self.rs = Some(RsBuild {
                prior_delivered: seg.delivered,
                send_elapsed_us: us(seg.sent_at, seg.first_sent_at),
                ack_elapsed_us: us(now, seg.delivered_at),
                app_limited: seg.app_limited,
                rtt_us: if seg.rexmit {
                    OptU64::NONE
                } else {
                    OptU64::some(us(now, seg.sent_at))
                },
            });
            self.first_sent_at = seg.sent_at;
        }
    }

    /// RFC 8985 §6.2 steps 1-2: a segment was delivered (ACKed or SACKed).
    fn delivered(&mut self, seg: SentSeg, now: Instant, ts_says_original: bool) {
        let rtt = us(now, seg.sent_at);
        if seg.rexmit {
            // "If the segment was retransmitted and ... the measured RTT is less than
            // RACK.min_RTT, the ACK is likely for the original: ignore it."
            if self.min_rtt_us.get().is_some_and(|m| rtt < m) || ts_says_original {
                return;
            }
        } else {
            self.min_rtt_us = OptU64::some(self.min_rtt_us.get().map_or(rtt, |m| m.min(rtt)));
        }
        self.rtt_us = rtt;
        self.note_delivered_send(&seg);
    }

    /// The cumulative ACK reached `una`: segments below it are delivered.
    ///
    /// An ACK of a loss-free flight covers dozens of segments, none of them
    /// resent, SACKed or marked lost: such runs are taken by
    /// [`RackState::take_plain_run`], which works out where the per-segment
    /// steps would leave things in one pass over the records; any other
    /// segment takes the steps itself, in order.
    #[inline(never)]
    fn on_ack(&mut self, una: SeqNum, now: Instant) {
        // A request-response exchange has one segment in flight: an ACK takes
        // one record, whose steps are what a run of one would leave
        // (`plain_runs_match_one_by_one`), without the run's bookkeeping.
        if self.segs.get(1).is_none_or(|s| !s.end.le(una)) {
            if self.segs.front().is_some_and(|s| s.end.le(una)) {
                if let Some(s) = self.segs.pop_front() {
                    self.acked(s, now);
                }
            }
            return;
        }
        loop {
            self.take_plain_run(una, now);
            let Some(&s) = self.segs.front() else { break };
            if !s.end.le(una) {
                break;
            }
            self.segs.pop_front();
            self.acked(s, now);
        }
    }

    /// Takes the run of records at the front that `una` covers and that were
    /// sent once and are neither SACKed nor marked lost (none if the first is
    /// not such), leaving what [`RackState::acked`] would have left after each
    /// of them in turn (see [`PlainRun`]). The records are read where they lie
    /// and dropped together, not copied out one by one.
    #[inline(never)]
    fn take_plain_run(&mut self, una: SeqNum, now: Instant) {
        let (a, b) = self.segs.as_slices();
        let mut run = PlainRun {
            una,
            n: 0,
            delivered: self.delivered,
            sample: None,
            prior: self.rs.map_or(0, |b| b.prior_delivered),
            latest_sent: Instant::ZERO,
            xmit_ts: self.xmit_ts,
            end_seq: self.end_seq,
            last: None,
        };
        if run.scan(a) {
            run.scan(b);
        }
        let Some(last) = run.last else {
            return;
        };
        self.delivered = run.delivered;
        self.delivered_at = now;
        if let Some(seg) = run.sample {
            self.rs = Some(RsBuild {
                prior_delivered: seg.delivered,
                send_elapsed_us: us(seg.sent_at, seg.first_sent_at),
                ack_elapsed_us: us(now, seg.delivered_at),
                app_limited: seg.app_limited,
                rtt_us: OptU64::some(us(now, seg.sent_at)),
            });
            self.first_sent_at = seg.sent_at;
        }
        let rtt = us(now, run.latest_sent);
        self.min_rtt_us = OptU64::some(self.min_rtt_us.get().map_or(rtt, |m| m.min(rtt)));
        self.rtt_us = us(now, last.sent_at);
        (self.xmit_ts, self.end_seq) = (run.xmit_ts, run.end_seq);
        self.segs.drop_front(run.n);
    }

    /// A record taken off the front by a cumulative ACK, one at a time.
    fn acked(&mut self, s: SentSeg, now: Instant) {
        if s.lost {
            self.lost_bytes -= s.len();
            self.reordering_seen();
        }
        if s.sacked {
            self.sacked_bytes -= s.len();
        } else {
            self.sample_delivery(&s, now);
            self.delivered(s, now, false);
        }
    }

    /// A SACK block `[left, right)`: the segments wholly inside it are delivered.
    /// Segments are sorted by sequence number, so this is a binary search and a walk
    /// over the block, not over the whole window.
    fn on_sack(&mut self, left: SeqNum, right: SeqNum, now: Instant) {
        let first = self.segs.partition_point(|s| s.start.lt(left));
        let mut reordered = false;
        // By index, each record marked and then taken as delivered in turn (the
        // delivery bookkeeping touches no record), with nothing allocated.
        for i in first..self.segs.len() {
            let Some(s) = self.segs.get_mut(i) else { break };
            if !s.end.le(right) {
                break;
            }
            if s.sacked {
                continue;
            }
            s.sacked = true;
            // Marked lost, never resent, yet delivered: it was reordering.
            let was_lost = core::mem::replace(&mut s.lost, false);
            let seg = *s;
            self.sacked_bytes += seg.len();
            if was_lost {
                self.lost_bytes -= seg.len();
                reordered = true;
            }
            self.sample_delivery(&seg, now);
            self.delivered(seg, now, false);
        }
        if reordered {
            self.reordering_seen();
        }
    }

    /// Reordering was observed (a D-SACK, or a segment marked lost that arrived
    /// without being resent): widen the reordering window by one step.
    /// RFC 8985 §6.2 step 2: RACK.xmit_ts and RACK.end_seq follow the most
    /// recently sent segment known delivered (the higher end on a tie).
    fn note_delivered_send(&mut self, seg: &SentSeg) {
        let newer = match self.xmit_ts {
            None => true,
            Some(t) => seg.sent_at > t || (seg.sent_at == t && seg.end.gt(self.end_seq)),
        };
        if newer {
            self.xmit_ts = Some(seg.sent_at);
            self.end_seq = seg.end;
        }
    }

    fn reordering_seen(&mut self) {
        self.reo_wnd_mult = (self.reo_wnd_mult.max(1) + 1).min(MAX_REO_MULT);
        self.reorder_events += 1;
    }

    /// RFC 8985 §6.2 step 5: marks lost every segment sent before the most recently
    /// delivered one that has waited longer than RACK.rtt + reo_wnd. Returns whether
    /// anything new was marked, and when to check again for the rest.
    #[inline(never)]
    fn detect_loss(&mut self, now: Instant, srtt_us: Option<u64>) -> (bool, Option<Instant>) {
        let Some(xmit_ts) = self.xmit_ts else {
            return (false, None);
        };
        // RACK.rtt + reo_wnd, worked out at the first segment that needs it: on
        // most ACKs of a flight the oldest segment left was sent after the one
        // just delivered, and the walk stops there.
        let mut wait = None;
        let mut marked = false;
        let mut timeout: Option<Instant> = None;
        for s in self.segs.iter_mut() {
            let sent_before =
                s.sent_at < xmit_ts || (s.sent_at == xmit_ts && s.end.lt(self.end_seq));
            if !sent_before && !s.rexmit {
                // Original transmissions leave in sequence order (and a retransmission
                // leaves after its original), so nothing from here on was sent before
                // the most recently delivered segment.
                break;
            }
            if s.sacked || s.lost || !sent_before {
                continue;
            }
            let wait = *wait.get_or_insert_with(|| {
                Duration::from_micros(self.rtt_us)
                    + reo_wnd(
                        self.min_rtt_us,
                        self.reo_wnd_mult,
                        srtt_us.map(Duration::from_micros),
                    )
            });
            let deadline = s.sent_at + wait;
            if deadline <= now {
                s.lost = true;
                self.lost_bytes += s.len();
                marked = true;
            } else {
                timeout = Some(timeout.map_or(deadline, |t| t.min(deadline)));
            }
        }
        (marked, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// `RackState::on_ack` as it was before runs of plain segments were taken
    /// together: every segment through `sample_delivery` and `delivered`.
    fn on_ack_one_by_one(st: &mut RackState, una: SeqNum, now: Instant) {
        while let Some(&s) = st.segs.front() {
            if !s.end.le(una) {
                break;
            }
            st.segs.pop_front();
            st.acked(s, now);
        }
    }

    proptest::proptest! {
        /// A cumulative ACK leaves the same RACK and delivery-rate state
        /// whether plain runs are taken together or each segment alone, over
        /// records in any mix of resent, SACKed and lost, with send times and
        /// delivered snapshots out of order too.
        #[test]
        fn plain_runs_match_one_by_one(
            recs in proptest::collection::vec(
                (1u32..3000, 0u64..50_000, 0u64..200_000, 0u8..16, 0u64..50_000),
                1..80,
            ),
            una_at in 0usize..100,
            now_us in 0u64..100_000,
            prior in proptest::option::of((0u64..200_000, 0u64..1000)),
            xmit in proptest::option::of(0u64..50_000),
            min_rtt in proptest::option::of(0u64..20_000),
            lead in 0usize..12,
        ) {
            let mut st = RackState::default();
            // Records pushed and taken before: on the heap, the queue's
            // start moves, and the records may wrap around its end (the
            // run is read as two slices).
            let pad = st.new_record(SeqNum(0), SeqNum(1), Instant::ZERO, false);
            for _ in 0..lead {
                st.segs.push_back(pad);
            }
            for _ in 0..lead {
                st.segs.pop_front();
            }
            let mut seq = SeqNum(1000);
            for &(len, sent, delivered, flags, first) in &recs {
                let (sacked, lost) = (flags & 1 != 0, flags & 2 != 0 && flags & 1 == 0);
                let seg = SentSeg {
                    start: seq,
                    end: seq + len,
                    sent_at: Instant::from_micros(sent),
                    rexmit: flags & 4 != 0,
                    sacked,
                    lost,
                    delivered,
                    delivered_at: Instant::from_micros(first / 2),
                    first_sent_at: Instant::from_micros(first),
                    app_limited: flags & 8 != 0,
                };
                st.sacked_bytes += if sacked { seg.len() } else { 0 };
                st.lost_bytes += if lost { seg.len() } else { 0 };
                st.segs.push_back(seg);
                seq += len;
            }
            st.delivered = 1_000_000;
            st.rs = prior.map(|(p, e)| RsBuild {
                prior_delivered: p,
                send_elapsed_us: e,
                ack_elapsed_us: 0,
                app_limited: false,
                rtt_us: OptU64::NONE,
            });
            st.xmit_ts = xmit.map(Instant::from_micros);
            st.end_seq = SeqNum(1000 + 5 * u32::try_from(recs.len()).unwrap());
            st.min_rtt_us = min_rtt.map_or(OptU64::NONE, OptU64::some);
            let una = st.segs.get(una_at % recs.len()).map_or(seq, |s| s.end);
            let now = Instant::from_micros(now_us);
            let mut reference = st.clone();
            st.on_ack(una, now);
            on_ack_one_by_one(&mut reference, una, now);
            proptest::prop_assert_eq!(alloc::format!("{st:?}"), alloc::format!("{reference:?}"));
        }
    }

    #[test]
    fn a_later_delivery_marks_earlier_segments_lost_after_rtt_plus_window() {
        let mut r = Rack::default();
        for k in 0..4u32 {
            r.on_send(SeqNum(k * 100), SeqNum(k * 100 + 100), t(u64::from(k)));
        }
        // Segment 0 delivered at 10 ms: RTT 10 ms, min_RTT 10 ms, reo_wnd 2.5 ms.
        r.on_ack(SeqNum(100), t(10));
        // Segment 3 SACKed at 14 ms: segments 1 and 2 were sent before it.
        r.on_sack(SeqNum(300), SeqNum(400), t(14));
        let (marked, timeout) = r.detect_loss(t(14), None);
        // RACK.rtt is now 11 ms (segment 3: sent at 3, delivered at 14) and min_RTT
        // 10 ms, so reo_wnd is 2.5 ms; segment 1, sent at 1 ms, is lost at 14.5 ms.
        assert!(!marked);
        assert_eq!(timeout, Some(Instant::from_micros(14_500)));
        let (marked, _) = r.detect_loss(Instant::from_micros(15_000), None);
        assert!(marked);
        assert_eq!(r.first_lost(), Some((SeqNum(100), SeqNum(200))));
        assert_eq!(
            r.lost_bytes(),
            100,
            "segment 2 (sent at 2 ms) still has until 15.5 ms"
        );
        // Retransmitting segment 1 clears its loss mark.
        r.on_send(SeqNum(100), SeqNum(200), t(16));
        assert_eq!(r.lost_bytes(), 0);
        let (marked, _) = r.detect_loss(t(16), None);
        assert!(marked);
        assert_eq!(
            r.first_lost(),
            Some((SeqNum(200), SeqNum(300))),
            "and now segment 2, not the fresh retransmission"
        );
    }

    #[test]
    fn dsack_widens_the_reordering_window_up_to_srtt() {
        let mut r = Rack::default();
        r.on_send(SeqNum(0), SeqNum(100), t(0));
        r.on_ack(SeqNum(100), t(8));
        assert_eq!(r.reo_wnd(None), Duration::from_millis(2));
        r.on_dsack();
        r.on_dsack();
        assert_eq!(r.reo_wnd(None), Duration::from_millis(6));
        assert_eq!(
            r.reo_wnd(Some(Duration::from_millis(5))),
            Duration::from_millis(5)
        );
    }

    #[test]
    fn ack_of_a_retransmission_faster_than_min_rtt_is_ignored() {
        let mut r = Rack::default();
        r.on_send(SeqNum(0), SeqNum(100), t(0));
        r.on_send(SeqNum(100), SeqNum(200), t(0));
        r.on_ack(SeqNum(100), t(10));
        r.on_send(SeqNum(100), SeqNum(200), t(30));
        // Delivered 2 ms after the retransmission: it was the original arriving late.
        r.on_ack(SeqNum(200), t(32));
        assert_eq!(r.rtt(), Duration::from_millis(10));
    }

    #[test]
    fn reo_wnd_table() {
        let ms = Duration::from_millis;
        // RFC 8985 §6.2: reo_wnd = min(RACK.reo_wnd_mult * RACK.min_RTT / 4, SRTT).
        // (name, min_RTT in ms, D-SACK rounds, SRTT, reo_wnd)
        let cases = [
            ("no RTT sample yet: zero", None, 0, None, ms(0)),
            ("min_RTT/4", Some(8), 0, None, ms(2)),
            ("one D-SACK: 2 steps", Some(8), 1, None, ms(4)),
            ("three D-SACKs: 4 steps", Some(8), 3, None, ms(8)),
            ("capped at SRTT", Some(8), 3, Some(ms(5)), ms(5)),
            ("SRTT above: no cap", Some(8), 1, Some(ms(50)), ms(4)),
            ("at most 16 steps", Some(8), 40, None, ms(32)),
            (
                "sub-ms min_RTT",
                Some(1),
                0,
                None,
                Duration::from_micros(250),
            ),
        ];
        for (name, min_rtt, dsacks, srtt, want) in cases {
            let mut r = Rack::default();
            if let Some(m) = min_rtt {
                r.on_send(SeqNum(0), SeqNum(100), t(0));
                r.on_ack(SeqNum(100), t(m));
            }
            for _ in 0..dsacks {
                r.on_dsack();
            }
            assert_eq!(r.reo_wnd(srtt), want, "{name}");
        }
    }

    #[test]
    fn rate_samples_measure_delivery_over_the_longer_interval() {
        let mut r = Rack::default();
        // Ten 1000-byte segments sent 1 ms apart from t=0.
        for k in 0..10u32 {
            r.on_send(SeqNum(k * 1000), SeqNum(k * 1000 + 1000), t(u64::from(k)));
        }
        // The first ACK (20 ms): 1000 bytes over the 20 ms since the interval
        // began at the first send.
        r.on_ack(SeqNum(1000), t(20));
        let rs = r.take_rate_sample().unwrap();
        assert_eq!((rs.delivered, rs.total_delivered), (1000, 1000));
        assert_eq!(rs.interval, Duration::from_millis(20));
        assert_eq!(rs.rate(), Some(50_000));
        assert!(rs.measured);
        // All the rest ACKed at 29 ms: the newest (sent at 9 ms) was sent when 0
        // bytes were delivered; send interval 9 ms, ACK interval 29 ms - 0 = 29 ms.
        r.on_ack(SeqNum(10_000), t(29));
        let rs = r.take_rate_sample().unwrap();
        assert_eq!(rs.delivered, 10_000);
        assert_eq!(rs.interval, Duration::from_millis(29));
        assert_eq!(rs.rtt, Some(Duration::from_millis(20)));
        assert!(rs.measured && !rs.app_limited);
        assert_eq!(rs.rate(), Some(10_000 * 1000 / 29));
        assert_eq!(r.take_rate_sample(), None, "one sample per ACK");
    }

    #[test]
    fn app_limited_marks_samples_until_the_flight_is_delivered() {
        let mut r = Rack::default();
        r.on_send(SeqNum(0), SeqNum(1000), t(0));
        r.on_app_limited(1000);
        r.on_send(SeqNum(1000), SeqNum(2000), t(1));
        r.on_ack(SeqNum(2000), t(30));
        assert!(r.take_rate_sample().unwrap().app_limited);
        r.on_send(SeqNum(2000), SeqNum(3000), t(30));
        r.on_ack(SeqNum(3000), t(60));
        assert!(
            !r.take_rate_sample().unwrap().app_limited,
            "cleared once delivered past the mark"
        );
    }
}
