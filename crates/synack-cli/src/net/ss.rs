//! `synack ss`: every socket of every running synack instance, like `ss -tani`,
//! read from each instance's control socket (`synack_tokio::control`).

use std::io::Write;

use synack_tokio::control::{self, InstanceReport, SocketRecord};

use super::args::SsArgs;
use crate::units::format_ms;

/// Runs `synack ss`; returns the exit status.
pub(crate) fn run(args: &SsArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| control::DEFAULT_DIR.into());
    let paths = match control::instances(&dir) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "synack ss: reading {}: {e}", dir.display());
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "synack ss: {e}");
            return 1;
        }
    };
    let mut reports = Vec::new();
    for p in &paths {
        let q = rt.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                control::query_instance(p),
            )
            .await
        });
        match q {
            Ok(Ok(r)) => reports.push(r),
            // A socket file nobody answers on: an instance that died.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Ok(Err(e)) => {
                let _ = writeln!(err, "synack ss: {}: {e}", p.display());
            }
            Err(_) => {
                let _ = writeln!(err, "synack ss: {}: no answer in 5 s", p.display());
            }
        }
    }
    let r = if args.json {
        json(&reports, args.counters, out)
    } else {
        table(&reports, args.counters, out)
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "synack ss: {e}");
            1
        }
    }
}

/// One JSON object per line: each socket (a [`SocketRecord`]), then, with
/// counters, one `{"interface":..,"counters":{..}}` per instance.
fn json(reports: &[InstanceReport], counters: bool, out: &mut dyn Write) -> std::io::Result<()> {
    for r in reports {
        for s in &r.sockets {
            serde_json::to_writer(&mut *out, s)?;
            writeln!(out)?;
        }
        if counters {
            let map: serde_json::Map<String, serde_json::Value> = r
                .counters
                .iter()
                .map(|(k, v)| (k.clone(), (*v).into()))
                .collect();
            let line = serde_json::json!({ "interface": r.interface, "counters": map });
            serde_json::to_writer(&mut *out, &line)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The `ss -tani` layout: a line per socket, and an indented detail line for
/// connections.
fn table(reports: &[InstanceReport], counters: bool, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<12} {:>8} {:>8} {:<45} {:<45} Interface",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    )?;
    for r in reports {
        for s in &r.sockets {
            writeln!(
                out,
                "{:<12} {:>8} {:>8} {:<45} {:<45} {}",
                s.state,
                s.recv_queue,
                s.send_queue,
                s.local,
                s.remote.map_or_else(|| "*:*".into(), |a| a.to_string()),
                s.interface
            )?;
            if s.cwnd.is_some() {
                writeln!(out, "\t {}", details(s))?;
            }
        }
        if counters {
            let list: Vec<String> = r
                .counters
                .iter()
                .filter(|(_, v)| *v > 0)
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            writeln!(out, "{} counters: {}", r.interface, list.join(" "))?;
        }
    }
    Ok(())
}

/// The `ss -i` detail line.
fn details(s: &SocketRecord) -> String {
    let rtt = match (s.rtt_us, s.rttvar_us) {
        (Some(r), Some(v)) => format!("rtt:{}/{} ", format_ms(r), format_ms(v)),
        _ => String::new(),
    };
    format!(
        "{}{rtt}rto:{} mss:{} cwnd:{} ssthresh:{} unacked:{} retrans:{} \
         bytes_acked:{} bytes_received:{} segs_out:{} segs_in:{} snd_wnd:{} rcv_wnd:{}",
        s.congestion
            .as_deref()
            .map_or_else(String::new, |c| format!("{c} ")),
        opt(s.rto_us.map(format_ms)),
        opt(s.mss),
        opt(s.cwnd),
        match s.ssthresh {
            Some(usize::MAX) | None => "-".to_string(),
            Some(v) => v.to_string(),
        },
        opt(s.unacked),
        opt(s.retransmits),
        opt(s.bytes_acked),
        opt(s.bytes_received),
        opt(s.segs_out),
        opt(s.segs_in),
        opt(s.snd_wnd),
        opt(s.rcv_wnd),
    )
}
