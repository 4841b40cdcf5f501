//! The human-readable report: a ladder diagram of the segments between the two
//! ends with each end's state changes at their times, the state path of every
//! socket, and a summary.

use std::fmt::Write as _;
use std::time::Duration;

use synack_sim::Fate;

use crate::cli::SimOptions;
use crate::record::{Entry, Line, SegLine, Side};
use crate::scenarios::path;
use crate::sim::Summary;
use crate::units::{format_bytes, format_duration, format_ms, format_rate};
use crate::world::{World, SERVER_PORT};

/// Width between the two posts of the ladder.
const INNER: usize = 68;

/// Renders the whole report (only the summary with `--quiet`).
pub(crate) fn render(
    w: &World<'_>,
    o: &SimOptions,
    s: &Summary,
    failure: Option<&str>,
    wall: Duration,
) -> String {
    let mut out = String::new();
    if !o.args.quiet {
        header(&mut out, w, o);
        ladder(&mut out, w);
        states(&mut out, w);
    }
    summary(&mut out, w, o, s, failure, wall);
    out
}

fn header(out: &mut String, w: &World<'_>, o: &SimOptions) {
    let a = &o.args;
    let mut link = format!("{} one-way", format_duration(a.delay));
    let mut add = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            let _ = write!(link, ", {name} {v}");
        }
    };
    let pct = |p: Option<f64>| p.filter(|&p| p > 0.0).map(|p| format!("{}%", p * 100.0));
    add(
        "jitter",
        a.jitter.filter(|j| !j.is_zero()).map(format_duration),
    );
    add("loss", pct(a.loss));
    add("reorder", pct(a.reorder));
    add("duplicate", pct(a.duplicate));
    add("corrupt", pct(a.corrupt));
    add(
        "rate",
        a.rate
            .map(|r| format!("{} (queue {})", format_rate(r), a.queue)),
    );
    add("MTU", Some(a.mtu.to_string()));
    let _ = writeln!(out, "synack sim {}  (seed {})", a.scenario, a.seed);
    let _ = writeln!(
        out,
        "client {}  <->  server {} (listening on port {SERVER_PORT})",
        w.client_ip, w.server_ip
    );
    let _ = writeln!(
        out,
        "link: {link}, both directions; congestion control {}",
        a.cc
    );
    let _ = writeln!(
        out,
        "seq/ack relative to each side's ISN; win in bytes; ✗ dropped, ⚡ corrupted, ×2 duplicated\n"
    );
}

/// The time column.
fn time(t_us: u64) -> String {
    format!("{:>11}", format_ms(t_us))
}

fn ladder(out: &mut String, w: &World<'_>) {
    let multi = w.rec.conn_count() > 1;
    let port_col = if multi { 7 } else { 0 };
    let _ = writeln!(
        out,
        "{:>11}  {:port_col$}{:<width$}server",
        "t (ms)",
        "",
        "client",
        width = INNER + 2 - "server".len()
    );
    let (entries, total) = w.rec.ladder();
    let mut shown = 0u64;
    for e in entries {
        if e.segs_before > shown {
            gap(out, e.segs_before - shown, port_col);
        }
        line(out, e, multi);
        if matches!(e.line, Line::Seg(_)) {
            shown = e.segs_before + 1;
        } else {
            shown = shown.max(e.segs_before);
        }
    }
    if total > shown {
        gap(out, total - shown, port_col);
    }
    out.push('\n');
}

fn gap(out: &mut String, n: u64, port_col: usize) {
    let text = format!("… {n} segment{} …", if n == 1 { "" } else { "s" });
    let _ = writeln!(out, "{:>11}  {:port_col$}│{text:^INNER$}│", "", "");
}

fn line(out: &mut String, e: &Entry, multi: bool) {
    match &e.line {
        Line::Seg(s) => seg_line(out, s, multi),
        Line::State {
            t_us,
            side,
            client_port,
            from,
            to,
            ..
        } => {
            let text = format!("{from} → {to}");
            side_line(
                out,
                *t_us,
                *side,
                multi.then_some(*client_port).flatten(),
                multi,
                &text,
            );
        }
        Line::Note { t_us, side, text } => {
            side_line(out, *t_us, *side, None, multi, &format!("» {text}"));
        }
    }
}

fn port_prefix(port: Option<u16>, multi: bool) -> String {
    match (multi, port) {
        (false, _) => String::new(),
        (true, Some(p)) => format!(":{p:<5} "),
        (true, None) => " ".repeat(7),
    }
}

fn side_line(out: &mut String, t_us: u64, side: Side, port: Option<u16>, multi: bool, text: &str) {
    let prefix = port_prefix(port, multi);
    let width = INNER - 1;
    match side {
        Side::Client => {
            let _ = writeln!(out, "{}  {prefix}│ {text:<width$}│", time(t_us));
        }
        Side::Server => {
            let _ = writeln!(out, "{}  {prefix}│{text:>width$} │", time(t_us));
        }
    }
}

fn seg_line(out: &mut String, s: &SegLine, multi: bool) {
    let ack = s.rel_ack.map_or_else(String::new, |a| a.to_string());
    let label = format!(
        "{:<4}seq={:<10} ack={:<10} len={:<5} win={}",
        s.flags.to_string(),
        s.rel_seq,
        ack,
        s.len,
        s.win
    );
    let dropped = matches!(s.fate, Fate::Dropped(_));
    // "──" + " label " + fill + head, INNER characters in all.
    let fill = INNER.saturating_sub(label.chars().count() + 5);
    let body = match (s.side, dropped) {
        (Side::Client, false) => format!("── {label} {}▶", "─".repeat(fill)),
        (Side::Client, true) => format!("── {label} {}✗ ", "─".repeat(fill.saturating_sub(1))),
        (Side::Server, false) => format!("◀─ {label} {}─", "─".repeat(fill)),
        (Side::Server, true) => format!(" ✗ {label} {}─", "─".repeat(fill)),
    };
    let mut mark = match s.fate {
        Fate::Delivered => String::new(),
        Fate::Dropped(r) => format!("  ✗ dropped ({r})"),
        Fate::Corrupted => "  ⚡ corrupted".to_owned(),
        Fate::Duplicated => "  ×2 duplicated".to_owned(),
    };
    if s.retransmission {
        mark.push_str("  (retransmission)");
    }
    let prefix = port_prefix(Some(s.client_port), multi);
    let _ = writeln!(out, "{}  {prefix}│{body}│{mark}", time(s.t_us));
}

fn states(out: &mut String, w: &World<'_>) {
    let _ = writeln!(out, "states:");
    for h in &w.rec.histories {
        let sock = match h.remote {
            Some(r) => format!("{}-{r}", h.local),
            None => format!("{} (listener)", h.local),
        };
        let _ = writeln!(
            out,
            "  {:<6} {sock:<32} {}",
            h.side.name(),
            path(&h.states).replace("->", "→")
        );
    }
    out.push('\n');
}

fn summary(
    out: &mut String,
    w: &World<'_>,
    o: &SimOptions,
    s: &Summary,
    failure: Option<&str>,
    wall: Duration,
) {
    let verdict = match failure {
        None => "ok".to_owned(),
        Some(r) => format!("FAILED: {r}"),
    };
    let _ = writeln!(
        out,
        "summary: {} (seed {}): {verdict}",
        s.scenario, o.args.seed
    );
    if s.bytes_sent == 0 && s.bytes_delivered == 0 {
        let _ = writeln!(out, "  data             none (this scenario moves no data)");
    } else {
        let (tx, _) = w.flow.digests();
        let hash: String = tx[..6].iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(
            out,
            "  data             {} sent, {} delivered, {}",
            format_bytes(s.bytes_sent),
            format_bytes(s.bytes_delivered),
            if s.intact {
                format!("intact (SHA-256 {hash}…)")
            } else {
                "NOT intact (SHA-256 differs)".to_owned()
            }
        );
        if let (Some(a), Some(b)) = (w.flow.first_tx, w.flow.last_rx) {
            let _ = writeln!(
                out,
                "  goodput          {} ({} bytes in {})",
                format_rate(s.goodput_bps),
                s.bytes_delivered,
                format_duration(b.saturating_duration_since(a))
            );
        }
    }
    let _ = writeln!(
        out,
        "  duration         {} of virtual time ({} of wall time)",
        format_duration(Duration::from_micros(s.duration_us)),
        format_duration(wall)
    );
    let st = &w.rec.stats;
    let _ = writeln!(
        out,
        "  segments         {} (client {}, server {}): {} dropped, {} corrupted, {} duplicated",
        st.total,
        st.sent_by(Side::Client),
        st.sent_by(Side::Server),
        st.dropped,
        st.corrupted,
        st.duplicated
    );
    // The receiver's ACK policy: about one ACK per two full segments (delayed ACK).
    let (c, sv) = (Side::Client.index(), Side::Server.index());
    for (rx, tx, name) in [(sv, c, "server"), (c, sv, "client")] {
        let (data, acks) = (st.data_segs[tx], st.pure_acks[rx]);
        if data > 0 && acks > 0 {
            let _ = writeln!(out, "  acks             {name} sent {acks} pure ACKs for {data} data segments ({:.2} per ACK)", data as f64 / acks as f64);
        }
    }
    let _ = writeln!(out, "  retransmissions  {}", s.retransmissions);
    for (name, c) in [("client", &s.client_drops), ("server", &s.server_drops)] {
        // Every drop reason and limit counter that moved (the rest are zero; all
        // of them are in --json).
        let moved: Vec<String> = c.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let list = if moved.is_empty() {
            "none".to_owned()
        } else {
            moved.join(", ")
        };
        let _ = writeln!(out, "  drops ({name})   {list}");
    }
    match w.info.as_ref() {
        Some(i) => {
            let rtt = i.srtt.map_or("not measured".to_owned(), format_duration);
            let var = i.rttvar.map_or("-".to_owned(), format_duration);
            let _ = writeln!(
                out,
                "  rtt (client)     srtt {rtt}, rttvar {var}, rto {}, cwnd {}, mss {}",
                format_duration(i.rto),
                format_bytes(i.cwnd as u64),
                i.mss
            );
        }
        None => {
            let _ = writeln!(out, "  rtt (client)     not measured");
        }
    }
    if let Some(i) = w.info.as_ref() {
        let t = &w.phases;
        let entered: Vec<String> = synack::Phase::ALL
            .iter()
            .filter(|&&p| t.count(p) > 0)
            .map(|&p| {
                let first = t.first(p).map_or_else(String::new, |us| {
                    format!(" (first at {} ms)", format_ms(us))
                });
                format!("{} ×{}{first}", p.name(), t.count(p))
            })
            .collect();
        let pacing = if i.pacing_rate > 0 {
            format_rate(i.pacing_rate.saturating_mul(8))
        } else {
            "off".to_owned()
        };
        let _ = writeln!(
            out,
            "  cc (client)      {}: {}; {} recoveries, {} RTOs ({} spurious), {} undone, ssthresh {}, pacing {pacing}",
            i.congestion,
            if entered.is_empty() { "no phase seen".to_owned() } else { entered.join(", ") },
            i.recoveries,
            i.rtos,
            i.spurious_rtos,
            i.spurious_undos,
            if i.ssthresh == usize::MAX { "∞".to_owned() } else { format_bytes(i.ssthresh as u64) },
        );
    }
}
