//! `synack serve`: a TUN device with an app (echo, discard, chargen, http) on
//! synack behind it, until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;

use synack_tokio::apps::{self, App};
use synack_tokio::TcpListener;

use super::args::ServeArgs;
use super::{build, IfaceOptions};

/// Runs `synack serve`; returns the exit status.
pub(crate) fn run(args: &ServeArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let opts = match args.iface_options() {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "synack serve: {e}");
            return 2;
        }
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "synack serve: {e}");
            return 1;
        }
    };
    match rt.block_on(serve(&opts, args, out, err)) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "synack serve: {e}");
            1
        }
    }
}

async fn serve(
    opts: &IfaceOptions,
    args: &ServeArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    let app: App = args.app.parse()?;
    let iface = build(opts).await?;
    let mut set = tokio::task::JoinSet::new();
    for ip in iface.addresses() {
        let addr = SocketAddr::new(*ip, args.port);
        let l = TcpListener::bind(&iface, addr, args.backlog)
            .map_err(|e| format!("listening on {addr}: {e}"))?;
        set.spawn(apps::serve(l, app));
    }
    let ours: Vec<String> = iface.addresses().iter().map(ToString::to_string).collect();
    let kernel: Vec<String> = iface
        .kernel_addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    // The `ready` line is what scripts wait for: flush it at once.
    let _ = writeln!(
        out,
        "ready: {app} on port {} of {} (tun {}, kernel {}, offload {}{})",
        args.port,
        ours.join(", "),
        iface.name(),
        kernel.join(", "),
        if iface.offload() { "on" } else { "off" },
        opts.control
            .as_deref()
            .map_or_else(String::new, |p| format!(", control {}", p.display())),
    );
    let _ = out.flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("installing the SIGTERM handler: {e}"))?;
    let result = tokio::select! {
        r = set.join_next() => match r {
            Some(Ok(Err(e))) => Err(format!("accepting: {e}")),
            Some(Err(e)) => Err(format!("server task: {e}")),
            _ => Ok(()),
        },
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    };
    let s = iface.stats();
    let c = iface.counters();
    let _ = writeln!(
        err,
        "stopped: {} packets in, {} out; {} segments in, {} out; {} connections \
         established, {} retransmits, {} RSTs sent, {} ICMP echo replies",
        s.rx_packets,
        s.tx_packets,
        c.segments_in,
        c.segments_out,
        c.established,
        c.retransmits,
        c.rst_sent,
        s.icmp_echo_replies
    );
    iface.shutdown().await;
    result
}
