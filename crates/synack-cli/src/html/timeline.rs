//! The per-socket state timeline of the HTML report, and the charts of the
//! congestion window and RTT over time.

use std::fmt::Write as _;

use plotters::prelude::*;
use synack::State;

use crate::record::History;
use crate::units::{format_duration, format_ms};
use crate::world::InfoSample;
use crate::xml::esc;

/// Sockets the timeline shows at most.
const MAX_ROWS: usize = 16;

/// A fill colour per state, used by the timeline and the page's legend.
pub(super) const fn colour(s: State) -> &'static str {
    match s {
        State::Closed => "#d0d7de",
        State::Listen => "#a5d8ff",
        State::SynSent => "#74c0fc",
        State::SynReceived => "#b197fc",
        State::Established => "#8ce99a",
        State::FinWait1 => "#ffd8a8",
        State::FinWait2 => "#ffc078",
        State::CloseWait => "#fcc2d7",
        State::Closing => "#eebefa",
        State::LastAck => "#f783ac",
        State::TimeWait => "#ffe066",
    }
}

/// A short name for narrow blocks.
const fn short(s: State) -> &'static str {
    match s {
        State::Closed => "CLOSED",
        State::Listen => "LISTEN",
        State::SynSent => "SYN-S",
        State::SynReceived => "SYN-R",
        State::Established => "ESTAB",
        State::FinWait1 => "FW-1",
        State::FinWait2 => "FW-2",
        State::CloseWait => "CL-WAIT",
        State::Closing => "CLOSING",
        State::LastAck => "LAST-ACK",
        State::TimeWait => "TIME-WAIT",
    }
}

/// A timeline row's name: `client 10.0.0.1:41267`, `server 10.0.0.2:80 (from
/// :41267)`, `server 10.0.0.2:80 (listener)`.
fn row_name(h: &History) -> String {
    match (h.remote, h.side) {
        (Some(r), crate::record::Side::Server) => {
            format!("{} {} (from :{})", h.side.name(), h.local, r.port())
        }
        (Some(_), _) => format!("{} {}", h.side.name(), h.local),
        (None, _) => format!("{} {} (listener)", h.side.name(), h.local),
    }
}

/// One socket's name: `client 10.0.0.1:41267 ↔ 10.0.0.2:80`,
/// `server 10.0.0.2:80 (listener)`.
pub(super) fn socket_name(h: &History) -> String {
    match h.remote {
        Some(r) => format!("{} {} ↔ {r}", h.side.name(), h.local),
        None => format!("{} {} (listener)", h.side.name(), h.local),
    }
}

/// The timeline: one row per socket, one block per state. The time axis is in
/// event order (every change of any socket is a tick), not to scale, so that a
/// 60 s TIME-WAIT does not squeeze a 20 ms handshake to nothing; each block says
/// how long it lasted.
pub(super) fn svg(histories: &[History], end_us: u64) -> String {
    let rows: Vec<&History> = histories.iter().take(MAX_ROWS).collect();
    let mut ticks: Vec<u64> = rows
        .iter()
        .flat_map(|h| h.times.iter().map(|t| t.micros()))
        .collect();
    ticks.sort_unstable();
    ticks.dedup();
    // Tick 0 is "before", the last one "end".
    let n = ticks.len() + 2;
    let (x0, label_w) = (250.0, 240.0);
    let step = ((1180.0 - x0 - 40.0) / (n - 1) as f64).max(64.0);
    let width = x0 + step * (n - 1) as f64 + 30.0;
    let (top, row_h) = (58.0, 46.0);
    let height = top + row_h * rows.len() as f64 + 14.0;
    let x_of = |t: u64| x0 + step * (1 + ticks.partition_point(|&v| v < t)) as f64;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}">"#
    );
    for (i, &t) in ticks.iter().enumerate() {
        let x = x0 + step * (i + 1) as f64;
        let _ = write!(
            o,
            r#"<line class="tick" x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{height:.0}"/><text class="tick" x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            top - 16.0,
            top - 22.0,
            format_ms(t)
        );
    }
    let _ = write!(
        o,
        r#"<text class="tick" x="{x0}" y="{}" text-anchor="middle">start</text><text class="tick" x="{:.1}" y="{}" text-anchor="middle">end</text><text class="axis" x="8" y="{}">time (ms), in event order, not to scale; the run ended at {} ms</text>"#,
        top - 22.0,
        x0 + step * (n - 1) as f64,
        top - 22.0,
        top - 40.0,
        format_ms(end_us)
    );
    for (r, h) in rows.iter().enumerate() {
        let y = top + row_h * r as f64;
        let _ = write!(
            o,
            r#"<text class="who" x="8" y="{:.1}">{}</text>"#,
            y + 21.0,
            esc(&ellipsize(&row_name(h), label_w))
        );
        for (j, &s) in h.states.iter().enumerate() {
            let (from, to) = match j {
                0 => (x0, x_of(h.times[0].micros())),
                _ => (
                    x_of(h.times[j].micros()),
                    h.times
                        .get(j + 1)
                        .map_or(x0 + step * (n - 1) as f64, |t| x_of(t.micros())),
                ),
            };
            // The first state began before the history; a final CLOSED has no
            // socket left to last.
            let last_closed = j + 1 == h.states.len() && s == State::Closed;
            let t_from = (j > 0).then(|| h.times[j].micros());
            let t_to = match h.times.get(j + 1) {
                Some(t) => Some(t.micros()),
                None if last_closed => None,
                None => Some(end_us),
            };
            block(&mut o, (s, h.side.name()), (from, to, y), (t_from, t_to));
        }
    }
    if histories.len() > MAX_ROWS {
        let _ = write!(
            o,
            r#"<text class="axis" x="8" y="{:.1}">… and {} more sockets</text>"#,
            height - 2.0,
            histories.len() - MAX_ROWS
        );
    }
    o.push_str("</svg>");
    o
}

/// `text` cut to fit about `width` pixels.
fn ellipsize(text: &str, width: f64) -> String {
    let max = (width / 7.0) as usize;
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn block(
    o: &mut String,
    (s, side): (State, &str),
    (x1, x2, y): (f64, f64, f64),
    (t_from, t_to): (Option<u64>, Option<u64>),
) {
    let w = (x2 - x1).max(4.0);
    // Names and durations only where they fit; the title always has them.
    let name = [s.name(), short(s)]
        .into_iter()
        .find(|n| w >= 8.0 * n.len() as f64 + 4.0)
        .unwrap_or("");
    let lasted =
        |a: u64, b: u64| format_duration(std::time::Duration::from_micros(b.saturating_sub(a)));
    let (title, dur) = match (t_from, t_to) {
        (Some(a), Some(b)) => (
            format!(
                "{side}: {s} from {} ms to {} ms ({})",
                format_ms(a),
                format_ms(b),
                lasted(a, b)
            ),
            lasted(a, b),
        ),
        (Some(a), None) => (
            format!("{side}: {s} from {} ms: the socket is gone", format_ms(a)),
            String::new(),
        ),
        (None, Some(b)) => (
            format!("{side}: {s} until {} ms", format_ms(b)),
            String::new(),
        ),
        (None, None) => (format!("{side}: {s}"), String::new()),
    };
    let dur = if w >= 6.5 * dur.chars().count() as f64 {
        dur
    } else {
        String::new()
    };
    let _ = write!(
        o,
        r#"<g class="tl-state" data-state="{}" data-side="{side}"><title>{}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="24" rx="4" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{name}</text><text class="dur" x="{:.1}" y="{:.1}" text-anchor="middle">{dur}</text></g>"#,
        s.name(),
        esc(&title),
        x1 + 1.0,
        y + 4.0,
        w - 2.0,
        colour(s),
        x1 + w / 2.0,
        y + 20.0,
        x1 + w / 2.0,
        y + 39.0
    );
}

/// The congestion window (and ssthresh) and the smoothed RTT (and RTO) of the
/// watched connection over time, as two SVG charts; `None` with fewer than two
/// samples.
pub(super) fn charts(samples: &[InfoSample]) -> Option<(String, String)> {
    if samples.len() < 2 {
        return None;
    }
    let every = samples.len().div_ceil(4000).max(1);
    let thin: Vec<&InfoSample> = samples
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0 || *i == samples.len() - 1)
        .map(|(_, s)| s)
        .collect();
    let secs = |s: &InfoSample| s.t_us as f64 / 1e6;
    let kib = |v: usize| v as f64 / 1024.0;
    let cwnd: Vec<(f64, f64)> = thin.iter().map(|s| (secs(s), kib(s.cwnd))).collect();
    let ssthresh: Vec<(f64, f64)> = thin
        .iter()
        .filter(|s| s.ssthresh < 1 << 40)
        .map(|s| (secs(s), kib(s.ssthresh)))
        .collect();
    let ms = |us: u64| us as f64 / 1000.0;
    let srtt: Vec<(f64, f64)> = thin
        .iter()
        .filter_map(|s| s.srtt_us.map(|r| (secs(s), ms(r))))
        .collect();
    let rto: Vec<(f64, f64)> = thin.iter().map(|s| (secs(s), ms(s.rto_us))).collect();
    let a = chart(
        "congestion window (client)",
        "KiB",
        &[("cwnd", &cwnd), ("ssthresh", &ssthresh)],
    );
    let b = chart(
        "round-trip time (client)",
        "ms",
        &[("srtt", &srtt), ("rto", &rto)],
    );
    Some((a.ok()?, b.ok()?))
}

type Series<'a> = (&'a str, &'a [(f64, f64)]);

/// A step chart of up to two series.
fn chart(title: &str, unit: &str, series: &[Series<'_>]) -> Result<String, String> {
    let all = || series.iter().flat_map(|s| s.1.iter());
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut y1 = 0.0f64;
    for &(x, y) in all() {
        (x0, x1, y1) = (x0.min(x), x1.max(x), y1.max(y));
    }
    if !x0.is_finite() {
        return Err("no points".to_owned());
    }
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let mut out = String::new();
    draw(
        &mut out,
        title,
        unit,
        series,
        (x0..x1, 0.0..(y1 * 1.1).max(1.0)),
    )
    .map_err(|e| e.to_string())?;
    Ok(out)
}

fn draw(
    out: &mut String,
    title: &str,
    unit: &str,
    series: &[Series<'_>],
    (xr, yr): (std::ops::Range<f64>, std::ops::Range<f64>),
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, (560, 300)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(xr, yr)?;
    c.configure_mesh()
        .x_desc("time (s)")
        .y_desc(unit)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let colours = [RGBColor(9, 105, 218), RGBColor(196, 66, 12)];
    for (&(name, pts), colour) in series.iter().zip(colours) {
        let steps = pts
            .windows(2)
            .flat_map(|w| [w[0], (w[1].0, w[0].1)])
            .chain(pts.last().copied());
        c.draw_series(LineSeries::new(steps, colour.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    drop(c);
    drop(root);
    Ok(())
}
