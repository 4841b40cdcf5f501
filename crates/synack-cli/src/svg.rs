//! The time–sequence graph (Stevens, tcptrace): for the connection and direction
//! that carried the most data, each segment's sequence offset against time, with
//! retransmissions and drops highlighted, and the receiver's ACK and window edge;
//! and (`--cwnd-svg`) the client's congestion window over time.

use std::path::Path;

use plotters::prelude::*;

use synack::Phase;

use crate::record::{PlotPoint, Recorder};
use crate::world::InfoSample;

/// Points per series above which first transmissions and ACKs are thinned.
const MAX_POINTS: usize = 20_000;

/// The graph's series, in plot units (seconds, and bytes scaled to `unit`).
#[derive(Debug, Default)]
struct Series {
    sent: Vec<(f64, f64)>,
    retransmitted: Vec<(f64, f64)>,
    dropped: Vec<(f64, f64)>,
    acks: Vec<(f64, f64)>,
    window: Vec<(f64, f64)>,
}

fn collect(points: &[PlotPoint], rec: &Recorder<'_>) -> (Series, &'static str) {
    let (conn, side) = rec.busiest().unwrap_or((0, crate::record::Side::Client));
    let data: Vec<&PlotPoint> = points
        .iter()
        .filter(|p| p.conn == conn && p.side == side && p.seq_len > 0)
        .collect();
    let acks: Vec<&PlotPoint> = points
        .iter()
        .filter(|p| p.conn == conn && p.side != side && p.ack.is_some())
        .collect();
    let top = data
        .iter()
        .map(|p| p.seq + i64::from(p.seq_len))
        .chain(acks.iter().filter_map(|p| p.ack))
        .max()
        .unwrap_or(0);
    let (scale, unit) = if top >= 4 << 20 {
        (1024.0 * 1024.0, "MiB")
    } else if top >= 4 << 10 {
        (1024.0, "KiB")
    } else {
        (1.0, "bytes")
    };
    let xy = |t_us: u64, v: i64| (t_us as f64 / 1e6, v as f64 / scale);
    let thin = |n: usize| n.div_ceil(MAX_POINTS).max(1);
    let mut s = Series::default();
    let every = thin(data.len());
    for (i, p) in data.iter().enumerate() {
        let pt = xy(p.t_us, p.seq);
        if p.dropped {
            s.dropped.push(pt);
        } else if p.retransmission {
            s.retransmitted.push(pt);
        } else if i % every == 0 {
            s.sent.push(pt);
        }
    }
    let every = thin(acks.len());
    for (i, p) in acks.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        if let Some(a) = p.ack {
            s.acks.push(xy(p.t_us, a));
            let edge = a.saturating_add(i64::try_from(p.win).unwrap_or(i64::MAX));
            s.window.push(xy(p.t_us, edge));
        }
    }
    (s, unit)
}

fn range(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.03).max(1e-3);
    (lo - pad, hi + pad)
}

/// Writes the graph of `rec`'s plot points to `path`.
///
/// # Errors
/// The file cannot be written, or plotters failed.
pub(crate) fn write(rec: &Recorder<'_>, path: &Path, title: &str) -> Result<(), String> {
    match render(rec, title)? {
        Some(svg) => std::fs::write(path, svg).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// The graph of `rec`'s plot points as an SVG document (`None` if no plot points
/// were kept).
///
/// # Errors
/// Whatever plotters reports.
pub(crate) fn render(rec: &Recorder<'_>, title: &str) -> Result<Option<String>, String> {
    let Some(points) = rec.plot() else {
        return Ok(None);
    };
    let (s, unit) = collect(points, rec);
    let all = || {
        s.sent
            .iter()
            .chain(&s.retransmitted)
            .chain(&s.dropped)
            .chain(&s.acks)
    };
    let (x0, x1) = range(all().map(|p| p.0));
    // The window edge can sit far above the data; let it stretch the axis a little only.
    let (y0, mut y1) = range(all().map(|p| p.1));
    let wmax = s
        .window
        .iter()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max);
    if wmax.is_finite() {
        y1 = y1.max(wmax.min(y1 + (y1 - y0) * 0.25));
    }
    let mut svg = String::new();
    draw(&mut svg, title, unit, &s, (x0..x1, y0..y1)).map_err(|e| e.to_string())?;
    Ok(Some(svg))
}

type Ranges = (std::ops::Range<f64>, std::ops::Range<f64>);

fn draw(
    out: &mut String,
    title: &str,
    unit: &str,
    s: &Series,
    (xr, yr): Ranges,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, (1200, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(xr, yr.clone())?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(format!("sequence offset ({unit})"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let window = RGBColor(230, 170, 0);
    let (lo, hi) = (yr.start, yr.end);
    let clip = move |p: &(f64, f64)| (p.0, p.1.clamp(lo, hi));
    chart
        .draw_series(LineSeries::new(
            s.window.iter().map(clip),
            window.stroke_width(1),
        ))?
        .label("receive window edge")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], window));
    chart
        .draw_series(LineSeries::new(
            s.acks.iter().copied(),
            GREEN.stroke_width(2),
        ))?
        .label("ACK")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
    chart
        .draw_series(s.sent.iter().map(|&p| Circle::new(p, 2, BLUE.filled())))?
        .label("segment sent")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, BLUE.filled()));
    chart
        .draw_series(
            s.retransmitted
                .iter()
                .map(|&p| Circle::new(p, 4, RED.filled())),
        )?
        .label("retransmission")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, RED.filled()));
    chart
        .draw_series(
            s.dropped
                .iter()
                .map(|&p| Cross::new(p, 5, BLACK.stroke_width(2))),
        )?
        .label("dropped in the network")
        .legend(|(x, y)| Cross::new((x + 10, y), 5, BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    drop(chart);
    drop(root);
    Ok(())
}

/// Writes the congestion window (and ssthresh, once finite) over time to `path`,
/// with recovery and RTO entries marked. Nothing is written without samples.
///
/// # Errors
/// The file cannot be written, or plotters failed.
pub(crate) fn write_cwnd(samples: &[InfoSample], path: &Path, title: &str) -> Result<(), String> {
    match render_cwnd(samples, title)? {
        Some(svg) => std::fs::write(path, svg).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// The cwnd-over-time plot as an SVG document (`None` without samples).
///
/// # Errors
/// Whatever plotters reports.
pub(crate) fn render_cwnd(samples: &[InfoSample], title: &str) -> Result<Option<String>, String> {
    if samples.is_empty() {
        return Ok(None);
    }
    let top = samples.iter().map(|s| s.cwnd).max().unwrap_or(0);
    let (scale, unit) = if top >= 4 << 20 {
        (1024.0 * 1024.0, "MiB")
    } else {
        (1024.0, "KiB")
    };
    // Only changes of the window, ssthresh or phase (not of the RTT alone), so
    // the time axis ends with the last change of the window.
    let mut kept: Vec<InfoSample> = Vec::with_capacity(samples.len());
    for s in samples {
        if kept
            .last()
            .is_none_or(|l| (l.cwnd, l.ssthresh, l.phase) != (s.cwnd, s.ssthresh, s.phase))
        {
            kept.push(*s);
        }
    }
    let samples = &kept[..];
    let t = |s: &InfoSample| s.t_us as f64 / 1e6;
    // A step line: each value holds until the next sample.
    let mut cwnd = Vec::with_capacity(samples.len() * 2);
    let mut ssthresh = Vec::new();
    for (k, s) in samples.iter().enumerate() {
        if k > 0 {
            cwnd.push((t(s), samples[k - 1].cwnd as f64 / scale));
        }
        cwnd.push((t(s), s.cwnd as f64 / scale));
        if s.ssthresh != usize::MAX {
            ssthresh.push((t(s), s.ssthresh as f64 / scale));
        }
    }
    let entered = |p: Phase| -> Vec<(f64, f64)> {
        samples
            .windows(2)
            .filter(|w| w[1].phase == p && w[0].phase != p)
            .map(|w| (t(&w[1]), w[1].cwnd as f64 / scale))
            .collect()
    };
    let (recoveries, rtos) = (entered(Phase::Recovery), entered(Phase::Rto));
    let (x0, x1) = range(cwnd.iter().map(|p| p.0));
    let (_, y1) = range(cwnd.iter().chain(&ssthresh).map(|p| p.1));
    let mut svg = String::new();
    draw_cwnd(
        &mut svg,
        title,
        unit,
        (&cwnd, &ssthresh, &recoveries, &rtos),
        (x0..x1, 0.0..y1),
    )
    .map_err(|e| e.to_string())?;
    Ok(Some(svg))
}

type CwndSeries<'a> = (
    &'a [(f64, f64)],
    &'a [(f64, f64)],
    &'a [(f64, f64)],
    &'a [(f64, f64)],
);

fn draw_cwnd(
    out: &mut String,
    title: &str,
    unit: &str,
    (cwnd, ssthresh, recoveries, rtos): CwndSeries<'_>,
    (xr, yr): Ranges,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, (1200, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(xr, yr)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(format!("cwnd ({unit})"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    chart
        .draw_series(LineSeries::new(cwnd.iter().copied(), BLUE.stroke_width(2)))?
        .label("cwnd")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    let orange = RGBColor(230, 140, 0);
    chart
        .draw_series(LineSeries::new(
            ssthresh.iter().copied(),
            orange.stroke_width(1),
        ))?
        .label("ssthresh")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], orange));
    chart
        .draw_series(recoveries.iter().map(|&p| Circle::new(p, 4, RED.filled())))?
        .label("recovery entered")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, RED.filled()));
    chart
        .draw_series(
            rtos.iter()
                .map(|&p| Cross::new(p, 6, BLACK.stroke_width(2))),
        )?
        .label("retransmission timeout")
        .legend(|(x, y)| Cross::new((x + 10, y), 6, BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    drop(chart);
    drop(root);
    Ok(())
}
