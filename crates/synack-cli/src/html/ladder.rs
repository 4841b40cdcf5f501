//! The ladder diagram of the HTML report: one SVG row per segment, state change
//! and note, in the order they happened. Every segment is a `g.segment` whose
//! `data-*` attributes carry all its fields. Long runs start summarised (the
//! first and last [`SUMMARY_EDGE`] segments); the page's script re-lays the rows
//! out for any range with the same rules as [`layout`] here.

use std::fmt::Write as _;

use synack::wire::TcpFlags;
use synack_sim::Fate;

use crate::record::{Entry, Line, SegLine, Side};
use crate::units::format_ms;
use crate::xml::esc;

/// Runs up to this many segments are shown whole...
pub(super) const FULL_VIEW: u64 = 300;
/// ...longer ones start with the first and last this many.
pub(super) const SUMMARY_EDGE: u64 = 100;

/// Geometry, shared with the script (see `LADDER_GEOMETRY` in the page).
pub(super) const ROW_H: f64 = 26.0;
pub(super) const TOP: f64 = 58.0;
pub(super) const WIDTH: f64 = 1140.0;
const X_TIME: f64 = 84.0;
const X_CLIENT: f64 = 330.0;
const X_SERVER: f64 = 830.0;
/// The colours of what each host sends (as in the state diagram).
pub(super) const CLIENT_COLOUR: &str = "#0969da";
pub(super) const SERVER_COLOUR: &str = "#c4420c";

/// Which rows show: the row of each kept line (`Some(y)`) or `None` if hidden,
/// and the gaps `(y, segments)` between shown rows.
pub(super) struct Layout {
    pub(super) ys: Vec<Option<f64>>,
    pub(super) gaps: Vec<(f64, u64)>,
    pub(super) height: f64,
}

/// Lays out `entries` showing the segments in `ranges` (half-open), with a gap
/// row wherever segments are skipped. The script's `layout()` does the same.
pub(super) fn layout(entries: &[&Entry], total: u64, ranges: &[(u64, u64)]) -> Layout {
    let mut ys = Vec::with_capacity(entries.len());
    let mut gaps = Vec::new();
    let mut y = TOP;
    let mut cursor = 0;
    let mut gap_to = |y: &mut f64, cursor: &mut u64, at: u64| {
        if at > *cursor {
            gaps.push((*y, at - *cursor));
            *y += ROW_H;
            *cursor = at;
        }
    };
    for e in entries {
        let (at, seg) = match e.line {
            Line::Seg(_) => (e.segs_before, true),
            _ => (e.segs_before, false),
        };
        let shown = ranges.iter().any(|&(a, b)| {
            if seg {
                a <= at && at < b
            } else {
                a <= at && at <= b
            }
        });
        if !shown {
            ys.push(None);
            continue;
        }
        gap_to(&mut y, &mut cursor, at);
        ys.push(Some(y));
        y += ROW_H;
        if seg {
            cursor = at + 1;
        }
    }
    gap_to(&mut y, &mut cursor, total);
    Layout {
        ys,
        gaps,
        height: y + 12.0,
    }
}

/// The ranges shown first: everything, or the first and last segments.
pub(super) fn initial_ranges(total: u64) -> Vec<(u64, u64)> {
    if total <= FULL_VIEW {
        vec![(0, total)]
    } else {
        vec![(0, SUMMARY_EDGE), (total - SUMMARY_EDGE, total)]
    }
}

/// The ladder SVG for `entries` (every kept line of the run).
pub(super) fn svg(entries: &[&Entry], total: u64, names: (&str, &str), multi: bool) -> String {
    let lay = layout(entries, total, &initial_ranges(total));
    let mut o = String::with_capacity(256 * entries.len() + 4096);
    let h = lay.height;
    let ranges: Vec<String> = initial_ranges(total)
        .iter()
        .map(|(a, b)| format!("[{a},{b}]"))
        .collect();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="ladder" class="ladder" width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}" data-total="{total}" data-row-h="{ROW_H}" data-top="{TOP}" data-width="{WIDTH}" data-gap-x="{}" data-edge="{SUMMARY_EDGE}" data-ranges="[{}]">"#,
        (X_CLIENT + X_SERVER) / 2.0,
        ranges.join(",")
    );
    o.push_str("<defs>");
    for (side, colour) in [(Side::Client, CLIENT_COLOUR), (Side::Server, SERVER_COLOUR)] {
        let _ = write!(
            o,
            r#"<marker id="ld-head-{}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>"#,
            side.name()
        );
    }
    o.push_str("</defs>");
    let _ = write!(
        o,
        r#"<g class="posts"><text class="host" x="{X_CLIENT}" y="22" text-anchor="middle">{}</text><text class="host" x="{X_SERVER}" y="22" text-anchor="middle">{}</text><text class="thead" x="{X_TIME}" y="44" text-anchor="end">t (ms)</text><line id="post-client" x1="{X_CLIENT}" x2="{X_CLIENT}" y1="32" y2="{h}"/><line id="post-server" x1="{X_SERVER}" x2="{X_SERVER}" y1="32" y2="{h}"/></g><g id="ladder-rows">"#,
        esc(names.0),
        esc(names.1)
    );
    for (e, y) in entries.iter().zip(&lay.ys) {
        row(&mut o, e, *y, multi);
    }
    for &(y, n) in &lay.gaps {
        gap(&mut o, y, n);
    }
    o.push_str("</g></svg>");
    o
}

fn place(y: Option<f64>) -> String {
    match y {
        Some(y) => format!(r#"transform="translate(0,{y})""#),
        None => r#"display="none""#.to_owned(),
    }
}

/// A gap row (the script makes its own the same way).
fn gap(o: &mut String, y: f64, n: u64) {
    let s = if n == 1 { "" } else { "s" };
    let _ = write!(
        o,
        r#"<g class="row gap" transform="translate(0,{y})"><text x="{}" y="17" text-anchor="middle">⋯ {n} segment{s} not shown ⋯</text></g>"#,
        (X_CLIENT + X_SERVER) / 2.0
    );
}

fn time_text(o: &mut String, t_us: u64) {
    let _ = write!(
        o,
        r#"<text class="t" x="{X_TIME}" y="17">{}</text>"#,
        format_ms(t_us)
    );
}

fn row(o: &mut String, e: &Entry, y: Option<f64>, multi: bool) {
    match &e.line {
        Line::Seg(s) => segment(o, e.segs_before, s, y, multi),
        Line::State {
            t_us,
            side,
            client_port,
            from,
            to,
            cause,
        } => {
            let port = match (multi, client_port) {
                (true, Some(p)) => format!(":{p} "),
                _ => String::new(),
            };
            let text = format!("{port}{from} → {to}");
            let title = format!(
                "{} {port}{from} → {to} at {} ms: {}",
                side.name(),
                format_ms(*t_us),
                cause.label()
            );
            let attrs = format!(
                r#"class="row state {}" data-after="{}" data-from="{}" data-to="{}" data-cause="{}""#,
                side.name(),
                e.segs_before,
                from.name(),
                to.name(),
                esc(cause.label())
            );
            side_row(o, (&attrs, y, *t_us, *side), &text, &title);
        }
        Line::Note { t_us, side, text } => {
            let attrs = format!(
                r#"class="row note {}" data-after="{}""#,
                side.name(),
                e.segs_before
            );
            side_row(o, (&attrs, y, *t_us, *side), &format!("» {text}"), text);
        }
    }
}

/// A row of text beside one host's post.
fn side_row(
    o: &mut String,
    (attrs, y, t_us, side): (&str, Option<f64>, u64, Side),
    text: &str,
    title: &str,
) {
    let _ = write!(o, "<g {attrs} {}><title>{}</title>", place(y), esc(title));
    time_text(o, t_us);
    let (x, dot, anchor) = match side {
        Side::Client => (X_CLIENT - 14.0, X_CLIENT, "end"),
        Side::Server => (X_SERVER + 14.0, X_SERVER, "start"),
    };
    let _ = write!(
        o,
        r#"<circle cx="{dot}" cy="13" r="4"/><text class="label" x="{x}" y="17" text-anchor="{anchor}">{}</text></g>"#,
        esc(text)
    );
}

/// `SYN,ACK`: the flags set, spelled out.
pub(super) fn flag_words(f: TcpFlags) -> String {
    let words: Vec<&str> = [
        (f.syn(), "SYN"),
        (f.fin(), "FIN"),
        (f.rst(), "RST"),
        (f.contains(TcpFlags::PSH), "PSH"),
        (f.contains(TcpFlags::URG), "URG"),
        (f.contains(TcpFlags::ECE), "ECE"),
        (f.contains(TcpFlags::CWR), "CWR"),
        (f.ack(), "ACK"),
    ]
    .into_iter()
    .filter_map(|(set, w)| set.then_some(w))
    .collect();
    if words.is_empty() {
        "none".to_owned()
    } else {
        words.join(",")
    }
}

/// The mark beside a segment: what became of it.
fn fate_mark(s: &SegLine) -> String {
    let mut mark = match s.fate {
        Fate::Delivered => String::new(),
        Fate::Dropped(r) => format!("✗ dropped ({r})"),
        Fate::Corrupted => "⚡ corrupted".to_owned(),
        Fate::Duplicated => "×2 duplicated".to_owned(),
    };
    if s.retransmission {
        if !mark.is_empty() {
            mark.push_str(", ");
        }
        mark.push_str("↻ retransmission");
    }
    mark
}

fn segment(o: &mut String, i: u64, s: &SegLine, y: Option<f64>, multi: bool) {
    let ack = s.rel_ack.map_or_else(String::new, |a| a.to_string());
    let flags = flag_words(s.flags);
    let mut classes = format!("row segment {}", s.side.name());
    let fate = s.fate.as_str();
    if s.fate != Fate::Delivered {
        let _ = write!(classes, " {fate}");
    }
    if s.retransmission {
        classes.push_str(" retransmission");
    }
    let _ = write!(
        o,
        r#"<g class="{classes}" data-i="{i}" data-t-ms="{}" data-side="{}" data-port="{}" data-flags="{}" data-seq="{}" data-ack="{ack}" data-abs-seq="{}" data-abs-ack="{}" data-len="{}" data-win="{}" data-fate="{fate}" data-retransmission="{}""#,
        format_ms(s.t_us),
        s.side.name(),
        s.client_port,
        esc(&flags),
        s.rel_seq,
        s.seq,
        s.ack,
        s.len,
        s.win,
        s.retransmission
    );
    if let Fate::Dropped(r) = s.fate {
        let _ = write!(o, r#" data-drop="{}""#, esc(&r.to_string()));
    }
    if let Some(t) = s.deliver_us {
        let _ = write!(o, r#" data-arrive-ms="{}""#, format_ms(t));
    }
    if let Some(opts) = s.options.as_deref().filter(|x| !x.is_empty()) {
        let _ = write!(o, r#" data-options="{}""#, esc(opts));
    }
    let _ = write!(o, " {}>", place(y));
    time_text(o, s.t_us);
    let (x1, x2) = match s.side {
        Side::Client => (X_CLIENT, X_SERVER),
        Side::Server => (X_SERVER, X_CLIENT),
    };
    let dropped = matches!(s.fate, Fate::Dropped(_));
    let end = if dropped { x1 + (x2 - x1) * 0.62 } else { x2 };
    let head = if dropped {
        String::new()
    } else {
        format!(r#" marker-end="url(#ld-head-{})""#, s.side.name())
    };
    let _ = write!(
        o,
        r#"<line class="arrow" x1="{x1}" y1="15" x2="{end:.1}" y2="{:.1}"{head}/>"#,
        15.0 + 8.0 * (end - x1).abs() / (x2 - x1).abs()
    );
    if dropped {
        let (cx, cy) = (end, 15.0 + 8.0 * 0.62);
        let _ = write!(
            o,
            r#"<path class="cross" d="M{:.1},{:.1} l10,10 m0,-10 l-10,10"/>"#,
            cx - 5.0,
            cy - 5.0
        );
    }
    if s.fate == Fate::Duplicated {
        let back = if x2 > x1 { -9.0 } else { 9.0 };
        let _ = write!(
            o,
            r#"<line class="arrow dup" x1="{:.1}" y1="23" x2="{:.1}" y2="23" marker-end="url(#ld-head-{})"/>"#,
            x2 + 2.0 * back,
            x2 + back,
            s.side.name()
        );
    }
    let port = if multi {
        format!(":{} ", s.client_port)
    } else {
        String::new()
    };
    let rtx = if s.retransmission { "↻ " } else { "" };
    let ack = if ack.is_empty() {
        ack
    } else {
        format!(" ack={ack}")
    };
    let _ = write!(
        o,
        r#"<text class="label" x="{}" y="11">{rtx}{port}{} seq={}{ack} len={} win={}</text>"#,
        (X_CLIENT + X_SERVER) / 2.0,
        esc(&flags),
        s.rel_seq,
        s.len,
        s.win
    );
    let mark = fate_mark(s);
    if !mark.is_empty() {
        let _ = write!(
            o,
            r#"<text class="mark" x="{}" y="17">{}</text>"#,
            X_SERVER + 14.0,
            esc(&mark)
        );
    }
    o.push_str("</g>");
}
