//! The record of a run: every segment (with its fate, relative sequence numbers
//! and whether it is a retransmission) and every state change, in the order they
//! happened. JSON lines are streamed as they come; the ladder keeps the first and
//! last segments of a long run; the plot keeps what the SVG needs.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::net::SocketAddr;

use serde::Serialize;
use synack::wire::{self, TcpFlags};
use synack::{Cause, ConnectionError, Event, Instant, State};
use synack_sim::{Fate, PacketRecord};

/// The ladder shows every segment of runs up to this many segments...
pub(crate) const LADDER_LIMIT: u64 = 60;
/// ...and otherwise the first this many...
pub(crate) const LADDER_HEAD: u64 = 20;
/// ...and the last this many...
pub(crate) const LADDER_TAIL: usize = 20;
/// ...and up to this many notable ones in between.
const LADDER_NOTABLE: u64 = 20;

/// The full log (for the HTML report) keeps every line up to this many segments...
pub(crate) const FULL_HEAD: u64 = 2_000;
/// ...then up to this many notable segments (see [`notable_for_report`])...
pub(crate) const FULL_NOTABLE: u64 = 2_000;
/// ...and the last this many segments (state changes and notes always).
pub(crate) const FULL_TAIL: usize = 2_000;

/// Segments the HTML report keeps from the middle of a long run: what
/// [`notable`] keeps, and everything the network or a loss touched.
fn notable_for_report(s: &SegLine) -> bool {
    notable(s) || s.retransmission || s.fate != Fate::Delivered
}

/// Segments worth showing in the middle of a long run: SYN, FIN, RST, and zero
/// windows.
fn notable(s: &SegLine) -> bool {
    s.flags.syn() || s.flags.fin() || s.flags.rst() || (s.win == 0 && !s.retransmission)
}

/// One of the two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Self::Client => 0,
            Self::Server => 1,
        }
    }
}

/// A segment as the ladder shows it.
#[derive(Clone, Debug)]
pub(crate) struct SegLine {
    pub(crate) t_us: u64,
    pub(crate) side: Side,
    /// The client end's port, naming the connection.
    pub(crate) client_port: u16,
    pub(crate) flags: TcpFlags,
    /// Relative to the sender's ISN when known, else absolute.
    pub(crate) rel_seq: u32,
    /// Relative to the receiver's ISN when known; `None` without ACK.
    pub(crate) rel_ack: Option<u32>,
    /// Absolute sequence and acknowledgment numbers.
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    pub(crate) len: usize,
    /// The window in bytes (scaled once both SYNs agreed on scaling).
    pub(crate) win: u64,
    pub(crate) fate: Fate,
    pub(crate) retransmission: bool,
    /// When (the first copy of) it arrives; `None` if dropped.
    pub(crate) deliver_us: Option<u64>,
    /// The TCP options, spelled out (kept for the HTML report only).
    pub(crate) options: Option<Box<str>>,
}

/// A line of the ladder.
#[derive(Clone, Debug)]
pub(crate) enum Line {
    Seg(SegLine),
    State {
        t_us: u64,
        side: Side,
        /// The client end's port, if the socket has a peer.
        client_port: Option<u16>,
        from: State,
        to: State,
        cause: Cause,
    },
    Note {
        t_us: u64,
        side: Side,
        text: String,
    },
}

/// A ladder line with its place in the run.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Position among all lines.
    pub(crate) order: u64,
    /// Segments recorded before this line (a segment's own index).
    pub(crate) segs_before: u64,
    pub(crate) line: Line,
}

/// The states one socket went through, first `from` included.
#[derive(Clone, Debug)]
pub(crate) struct History {
    pub(crate) side: Side,
    pub(crate) local: SocketAddr,
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) states: Vec<State>,
    /// When each state was entered (the first is when the first change happened).
    pub(crate) times: Vec<Instant>,
    /// Why each change happened: `causes[i]` led from `states[i]` to `states[i + 1]`.
    pub(crate) causes: Vec<Cause>,
}

impl History {
    /// The time the socket entered `to` from `from`, the last time it did.
    pub(crate) fn time_of(&self, from: State, to: State) -> Option<Instant> {
        self.states
            .windows(2)
            .zip(&self.times[1..])
            .filter(|(w, _)| w[0] == from && w[1] == to)
            .map(|(_, t)| *t)
            .next_back()
    }
}

/// A point of the time-sequence graph.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlotPoint {
    pub(crate) t_us: u64,
    pub(crate) conn: usize,
    pub(crate) side: Side,
    /// Unwrapped sequence offset from the sender's ISN.
    pub(crate) seq: i64,
    /// Sequence space taken: payload plus SYN and FIN.
    pub(crate) seq_len: u32,
    /// Unwrapped acknowledgment offset from the receiver's ISN, with ACK set.
    pub(crate) ack: Option<i64>,
    /// The advertised window in bytes.
    pub(crate) win: u64,
    pub(crate) retransmission: bool,
    pub(crate) dropped: bool,
}

/// Per-connection tracking, indexed by [`Side::index`] for the sender.
#[derive(Clone, Debug, Default)]
struct ConnTrack {
    id: usize,
    /// Every ISN each side used on this 4-tuple (an old duplicate SYN adds one).
    isn: [Vec<u32>; 2],
    snd_max: [Option<u32>; 2],
    /// Whether each side sent a SYN,ACK yet (the first one after our own SYN in a
    /// simultaneous open repeats the SYN's sequence number but is no retransmission).
    syn_ack_sent: [bool; 2],
    wscale: [Option<u8>; 2],
    plot_seq: [i64; 2],
    plot_ack: [i64; 2],
    bytes: [u64; 2],
}

/// A segment carrying SYN, FIN or RST, kept whole for the scenarios' checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CtlSeg {
    pub(crate) t: Instant,
    pub(crate) side: Side,
    pub(crate) flags: TcpFlags,
    /// Absolute sequence number.
    pub(crate) seq: u32,
    /// Absolute acknowledgment number.
    pub(crate) ack: u32,
    /// When (the first copy of) it arrives; `None` if dropped.
    pub(crate) deliver_at: Option<Instant>,
    /// Whether it arrives intact (delivered or duplicated, not dropped or corrupted).
    pub(crate) arrives: bool,
}

/// Counts over every segment.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SegStats {
    pub(crate) total: u64,
    pub(crate) from: [u64; 2],
    pub(crate) dropped: u64,
    pub(crate) corrupted: u64,
    pub(crate) duplicated: u64,
    pub(crate) retransmissions: u64,
    pub(crate) unparsed: u64,
    /// Per sender: segments advertising a zero window.
    pub(crate) zero_windows: [u64; 2],
    /// Per sender: segments carrying data, and pure ACKs (no data, SYN, FIN or RST).
    pub(crate) data_segs: [u64; 2],
    pub(crate) pure_acks: [u64; 2],
}

impl SegStats {
    pub(crate) const fn sent_by(&self, side: Side) -> u64 {
        self.from[side.index()]
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum JsonLine<'a> {
    State {
        t_us: u64,
        host: &'a str,
        socket: String,
        from: &'a str,
        to: &'a str,
    },
    Segment {
        t_us: u64,
        src: &'a str,
        flags: String,
        seq: u32,
        ack: u32,
        len: usize,
        win: u16,
        fate: &'a str,
    },
}

/// Everything recorded about a run.
pub(crate) struct Recorder<'a> {
    json: Option<&'a mut dyn Write>,
    io_error: Option<io::Error>,
    conns: BTreeMap<(SocketAddr, SocketAddr), ConnTrack>,
    order: u64,
    kept: Vec<Entry>,
    tail: VecDeque<Entry>,
    pub(crate) stats: SegStats,
    pub(crate) histories: Vec<History>,
    plot: Option<Vec<PlotPoint>>,
    /// Every SYN, FIN and RST segment.
    pub(crate) ctl: Vec<CtlSeg>,
    /// Middle-of-the-run segments shown anyway (see [`notable`]).
    notable_kept: u64,
    /// Every line, for the HTML report, if asked for.
    full: Option<FullLog>,
}

/// Every line of a run up to [`FULL_HEAD`] segments, then the last
/// [`FULL_TAIL`] segments; state changes and notes are always kept.
#[derive(Debug, Default)]
struct FullLog {
    head: Vec<Entry>,
    tail: VecDeque<Entry>,
    notable: u64,
}

impl std::fmt::Debug for Recorder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("stats", &self.stats)
            .field("histories", &self.histories.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Recorder<'a> {
    /// A recorder streaming JSON lines to `json` (if any) and keeping plot points
    /// if `plot`.
    pub(crate) fn new(json: Option<&'a mut dyn Write>, plot: bool) -> Self {
        Self {
            json,
            io_error: None,
            conns: BTreeMap::new(),
            order: 0,
            kept: Vec::new(),
            tail: VecDeque::new(),
            stats: SegStats::default(),
            histories: Vec::new(),
            plot: plot.then(Vec::new),
            ctl: Vec::new(),
            notable_kept: 0,
            full: None,
        }
    }

    /// Keeps every line (up to a cap) for [`Self::full_ladder`], and every plot
    /// point.
    pub(crate) fn keep_all(&mut self) {
        self.full = Some(FullLog::default());
        self.plot.get_or_insert_with(Vec::new);
    }

    /// The first error writing JSON, taken.
    pub(crate) fn take_io_error(&mut self) -> Option<io::Error> {
        self.io_error.take()
    }

    fn emit_json(&mut self, line: &JsonLine<'_>) {
        let Some(out) = self.json.as_deref_mut() else {
            return;
        };
        if self.io_error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut *out, line)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = r {
            self.io_error = Some(e);
        }
    }

    fn push(&mut self, line: Line) {
        let keep = match &line {
            Line::Seg(s) if self.stats.total >= LADDER_HEAD => {
                let show = notable(s) && self.notable_kept < LADDER_NOTABLE;
                self.notable_kept += u64::from(show);
                show
            }
            _ => true,
        };
        let entry = Entry {
            order: self.order,
            segs_before: self.stats.total,
            line,
        };
        self.order += 1;
        if let Some(full) = self.full.as_mut() {
            match &entry.line {
                Line::Seg(s) if entry.segs_before >= FULL_HEAD => {
                    if notable_for_report(s) && full.notable < FULL_NOTABLE {
                        full.notable += 1;
                        full.head.push(entry.clone());
                    } else {
                        if full.tail.len() == FULL_TAIL {
                            full.tail.pop_front();
                        }
                        full.tail.push_back(entry.clone());
                    }
                }
                _ => full.head.push(entry.clone()),
            }
        }
        if keep {
            self.kept.push(entry);
        } else {
            if self.tail.len() as u64 == LADDER_LIMIT - LADDER_HEAD {
                self.tail.pop_front();
            }
            self.tail.push_back(entry);
        }
    }

    /// Records a state-change (or error) event of `side`'s stack.
    pub(crate) fn on_event(&mut self, side: Side, ev: &Event) {
        match *ev {
            Event::StateChanged {
                at,
                local,
                remote,
                from,
                to,
                cause,
                ..
            } => {
                self.on_state(side, at, (local, remote), (from, to), cause);
            }
            Event::Error { at, error, .. } => {
                let text = match error {
                    ConnectionError::Reset => "error: connection reset",
                    ConnectionError::Refused => "error: connection refused",
                    ConnectionError::TimedOut => "error: connection timed out",
                    ConnectionError::Aborted => "error: connection aborted",
                    ConnectionError::HostUnreachable => "error: host unreachable",
                    ConnectionError::NetworkUnreachable => "error: network unreachable",
                };
                self.push(Line::Note {
                    t_us: at.micros(),
                    side,
                    text: text.to_owned(),
                });
            }
            Event::Incoming { .. } => {}
        }
    }

    fn on_state(
        &mut self,
        side: Side,
        at: Instant,
        (local, remote): (SocketAddr, Option<SocketAddr>),
        (from, to): (State, State),
        cause: Cause,
    ) {
        let socket = format!(
            "{local}-{}",
            remote.map_or_else(|| "*:*".to_owned(), |r| r.to_string())
        );
        self.emit_json(&JsonLine::State {
            t_us: at.micros(),
            host: side.name(),
            socket,
            from: from.name(),
            to: to.name(),
        });
        let client_port = remote.map(|r| match side {
            Side::Client => local.port(),
            Side::Server => r.port(),
        });
        self.push(Line::State {
            t_us: at.micros(),
            side,
            client_port,
            from,
            to,
            cause,
        });
        // A new incarnation starts unless this continues the latest one.
        let latest = self
            .histories
            .iter_mut()
            .rev()
            .find(|h| h.side == side && h.local == local && h.remote == remote);
        match latest {
            Some(h) if h.states.last() == Some(&from) => {
                h.states.push(to);
                h.times.push(at);
                h.causes.push(cause);
            }
            _ => self.histories.push(History {
                side,
                local,
                remote,
                states: vec![from, to],
                times: vec![at, at],
                causes: vec![cause],
            }),
        }
    }

    /// Records a packet `side` sent.
    pub(crate) fn on_packet(&mut self, side: Side, rec: &PacketRecord) {
        let t_us = rec.t.micros();
        let seg = match wire::parse(&rec.bytes) {
            Ok(s) => s,
            Err(e) => {
                self.stats.unparsed += 1;
                self.push(Line::Note {
                    t_us,
                    side,
                    text: format!("sent a packet that does not parse ({e:?})"),
                });
                return;
            }
        };
        let h = seg.tcp;
        let len = seg.payload.len();
        let (src, dst) = (
            SocketAddr::new(seg.src, h.src_port),
            SocketAddr::new(seg.dst, h.dst_port),
        );
        let key = match side {
            Side::Client => (src, dst),
            Side::Server => (dst, src),
        };
        let next_id = self.conns.len();
        let ct = self.conns.entry(key).or_insert_with(|| ConnTrack {
            id: next_id,
            ..ConnTrack::default()
        });
        let (me, peer) = (side.index(), 1 - side.index());
        if h.flags.syn() && ct.isn[me].last() != Some(&h.seq.0) {
            // A SYN with a new ISN (first, or another incarnation): restart numbering.
            if ct.isn[me].len() < MAX_ISNS {
                ct.isn[me].push(h.seq.0);
            }
            ct.snd_max[me] = None;
            ct.wscale[me] = h.options.window_scale;
            ct.plot_seq[me] = 0;
        }
        let rel_seq = relative(h.seq.0, &ct.isn[me]);
        let rel_ack = h.flags.ack().then(|| relative(h.ack.0, &ct.isn[peer]));
        let seq_len = h.seq_len(len) as u32;
        let mut retransmission = false;
        let first_syn_ack = h.flags.syn() && h.flags.ack() && !ct.syn_ack_sent[me];
        if first_syn_ack {
            ct.syn_ack_sent[me] = true;
        }
        if seq_len > 0 && !first_syn_ack {
            let end = h.seq.0.wrapping_add(seq_len);
            match ct.snd_max[me] {
                Some(m) => {
                    retransmission = (h.seq.0.wrapping_sub(m) as i32) < 0;
                    if (end.wrapping_sub(m) as i32) > 0 {
                        ct.snd_max[me] = Some(end);
                    }
                }
                None => ct.snd_max[me] = Some(end),
            }
        }
        let win = match (h.flags.syn(), ct.wscale) {
            (false, [Some(a), Some(b)]) => {
                let shift = if me == 0 { a } else { b };
                u64::from(h.window) << shift.min(14)
            }
            _ => u64::from(h.window),
        };
        ct.bytes[me] += len as u64;
        // Unwrapped offsets for the plot.
        let seq_off = unwrap(&mut ct.plot_seq[me], rel_seq);
        let ack_off = rel_ack.map(|a| unwrap(&mut ct.plot_ack[me], a));
        let conn = ct.id;
        let client_port = key.0.port();

        self.stats.from[me] += 1;
        if len > 0 {
            self.stats.data_segs[me] += 1;
        } else if h.flags.ack() && !h.flags.syn() && !h.flags.fin() && !h.flags.rst() {
            self.stats.pure_acks[me] += 1;
        }
        match rec.fate {
            Fate::Dropped(_) => self.stats.dropped += 1,
            Fate::Corrupted => self.stats.corrupted += 1,
            Fate::Duplicated => self.stats.duplicated += 1,
            Fate::Delivered => {}
        }
        if retransmission {
            self.stats.retransmissions += 1;
        }
        if h.flags.syn() || h.flags.fin() || h.flags.rst() {
            self.ctl.push(CtlSeg {
                t: rec.t,
                side,
                flags: h.flags,
                seq: h.seq.0,
                ack: h.ack.0,
                deliver_at: rec.deliver_at,
                arrives: matches!(rec.fate, Fate::Delivered | Fate::Duplicated),
            });
        } else if h.window == 0 {
            self.stats.zero_windows[me] += 1;
        }
        if let Some(plot) = self.plot.as_mut() {
            plot.push(PlotPoint {
                t_us,
                conn,
                side,
                seq: seq_off,
                seq_len,
                ack: ack_off,
                win,
                retransmission,
                dropped: matches!(rec.fate, Fate::Dropped(_)),
            });
        }
        self.emit_json(&JsonLine::Segment {
            t_us,
            src: side.name(),
            flags: h.flags.to_string(),
            seq: h.seq.0,
            ack: h.ack.0,
            len,
            win: h.window,
            fate: rec.fate.as_str(),
        });
        let options = self.full.is_some().then(|| {
            let peer_isns = &self.conns[&key].isn[peer];
            describe_options(&h.options, peer_isns).into_boxed_str()
        });
        // `push` takes this segment's index from `stats.total` before it counts.
        self.push(Line::Seg(SegLine {
            t_us,
            side,
            client_port,
            flags: h.flags,
            rel_seq,
            rel_ack,
            seq: h.seq.0,
            ack: h.ack.0,
            len,
            win,
            fate: rec.fate,
            retransmission,
            deliver_us: rec.deliver_at.map(Instant::micros),
            options,
        }));
        self.stats.total += 1;
    }

    /// Adds a remark to the ladder.
    pub(crate) fn note(&mut self, t: Instant, side: Side, text: impl Into<String>) {
        self.push(Line::Note {
            t_us: t.micros(),
            side,
            text: text.into(),
        });
    }

    /// Connections seen on the wire.
    pub(crate) fn conn_count(&self) -> usize {
        self.conns.len()
    }

    /// The ladder lines kept, in order, and how many segments there were.
    pub(crate) fn ladder(&self) -> (Vec<&Entry>, u64) {
        let total = self.stats.total;
        let skip = if total > LADDER_LIMIT {
            self.tail.len().saturating_sub(LADDER_TAIL)
        } else {
            0
        };
        let mut out: Vec<&Entry> = self
            .kept
            .iter()
            .chain(self.tail.iter().skip(skip))
            .collect();
        out.sort_by_key(|e| e.order);
        (out, total)
    }

    /// Every line kept for the HTML report, in order (`None` unless
    /// [`Self::keep_all`] was called).
    pub(crate) fn full_ladder(&self) -> Option<Vec<&Entry>> {
        let full = self.full.as_ref()?;
        let mut out: Vec<&Entry> = full.head.iter().chain(&full.tail).collect();
        out.sort_by_key(|e| e.order);
        Some(out)
    }

    /// The plot points, if kept.
    pub(crate) fn plot(&self) -> Option<&[PlotPoint]> {
        self.plot.as_deref()
    }

    /// The connection that carried the most payload and its busier direction.
    pub(crate) fn busiest(&self) -> Option<(usize, Side)> {
        self.conns
            .values()
            .flat_map(|c| {
                [
                    (c.bytes[0], c.id, Side::Client),
                    (c.bytes[1], c.id, Side::Server),
                ]
            })
            .max_by_key(|&(bytes, id, side)| (bytes, std::cmp::Reverse(id), side == Side::Client))
            .map(|(_, id, side)| (id, side))
    }

    /// Every socket history of one side, listeners excluded.
    pub(crate) fn connections(&self, side: Side) -> impl Iterator<Item = &History> {
        self.histories
            .iter()
            .filter(move |h| h.side == side && h.remote.is_some())
    }
}

/// The options of a segment, spelled out: `mss=1448 ws=7 sackOK ts=5/0
/// sack=1449-2897`; SACK blocks relative to the receiver's ISN.
fn describe_options(o: &wire::TcpOptions, peer_isns: &[u32]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if let Some(m) = o.mss {
        let _ = write!(s, " mss={m}");
    }
    if let Some(w) = o.window_scale {
        let _ = write!(s, " ws={w}");
    }
    if o.sack_permitted {
        s.push_str(" sackOK");
    }
    if let Some(ts) = o.timestamps {
        let _ = write!(s, " ts={}/{}", ts.val, ts.ecr);
    }
    for (i, b) in o.sack().iter().enumerate() {
        let sep = if i == 0 { " sack=" } else { "," };
        let (l, r) = (
            relative(b.left.0, peer_isns),
            relative(b.right.0, peer_isns),
        );
        let _ = write!(s, "{sep}{l}-{r}");
    }
    s.trim_start().to_owned()
}

/// ISNs remembered per side of a 4-tuple.
const MAX_ISNS: usize = 8;

/// `v` relative to the nearest ISN at or below it (absolute if none is known), so
/// that segments of an old incarnation still read as small numbers.
fn relative(v: u32, isns: &[u32]) -> u32 {
    isns.iter().map(|&i| v.wrapping_sub(i)).min().unwrap_or(v)
}

/// Extends a wrapping 32-bit offset to 64 bits, near the last value seen.
fn unwrap(last: &mut i64, v: u32) -> i64 {
    let delta = i64::from(v.wrapping_sub(*last as u32) as i32);
    *last += delta;
    *last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_picks_the_nearest_isn() {
        assert_eq!(relative(5, &[]), 5);
        assert_eq!(relative(12_346, &[12_345, 4_000_000_000]), 1);
        assert_eq!(relative(4_000_000_001, &[12_345, 4_000_000_000]), 1);
        assert_eq!(relative(3, &[u32::MAX]), 4);
    }

    #[test]
    fn unwrap_follows_wraparound() {
        let mut last = 0;
        assert_eq!(unwrap(&mut last, 10), 10);
        assert_eq!(unwrap(&mut last, u32::MAX), -1);
        let mut last = i64::from(u32::MAX) - 5;
        assert_eq!(unwrap(&mut last, 5), i64::from(u32::MAX) + 6);
    }
}
