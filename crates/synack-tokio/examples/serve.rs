//! Runs a synack app on a fresh TUN device:
//!
//! ```text
//! serve --tun NAME --addr 10.7.0.2/24 [--addr6 fd00:7::2/64] --port N
//!       --app echo|discard|chargen|http [--mtu N] [--offload] [--control PATH]
//! ```
//!
//! The kernel side of the TUN gets the first host address of each prefix
//! (10.7.0.1, fd00:7::1). Needs CAP_NET_ADMIN; run it inside a network namespace
//! (`ip netns exec NAME ...`). Prints one `ready` line once listening, and the
//! interface counters on Ctrl-C / SIGTERM.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use synack_tokio::apps::{self, App};
use synack_tokio::{Interface, TcpListener};

#[derive(Debug)]
struct Args {
    tun: Option<String>,
    addr: Option<(Ipv4Addr, u8)>,
    addr6: Option<(Ipv6Addr, u8)>,
    port: u16,
    app: App,
    mtu: u16,
    offload: bool,
    control: Option<String>,
}

fn cidr<A: std::str::FromStr>(s: &str) -> Result<(A, u8), String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("{s}: expected ADDR/PREFIX"))?;
    let a = a.parse().map_err(|_| format!("{s}: bad address"))?;
    let p = p.parse().map_err(|_| format!("{s}: bad prefix"))?;
    Ok((a, p))
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        tun: None,
        addr: None,
        addr6: None,
        port: 0,
        app: App::Echo,
        mtu: 1500,
        offload: false,
        control: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--tun" => args.tun = Some(val()?),
            "--addr" => args.addr = Some(cidr(&val()?)?),
            "--addr6" => args.addr6 = Some(cidr(&val()?)?),
            "--port" => args.port = val()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--app" => args.app = val()?.parse()?,
            "--mtu" => args.mtu = val()?.parse().map_err(|e| format!("--mtu: {e}"))?,
            "--offload" => args.offload = true,
            "--control" => args.control = Some(val()?),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if args.port == 0 {
        return Err("--port is required".into());
    }
    if args.addr.is_none() && args.addr6.is_none() {
        return Err("--addr or --addr6 is required".into());
    }
    Ok(args)
}

async fn run(args: Args) -> std::io::Result<()> {
    let mut b = Interface::builder().mtu(args.mtu).offload(args.offload);
    if let Some(n) = &args.tun {
        b = b.name(n);
    }
    if let Some((a, p)) = args.addr {
        b = b.ipv4(a, p);
    }
    if let Some((a, p)) = args.addr6 {
        b = b.ipv6(a, p);
    }
    if let Some(c) = &args.control {
        b = b.control_socket(c);
    }
    let iface = b.build().await?;
    let mut listeners = Vec::new();
    for ip in iface.addresses() {
        listeners.push(TcpListener::bind(
            &iface,
            SocketAddr::new(*ip, args.port),
            1024,
        )?);
    }
    let kernel: Vec<String> = iface
        .kernel_addresses()
        .iter()
        .map(IpAddr::to_string)
        .collect();
    println!(
        "ready: {} on {:?} port {} (tun {}, kernel {})",
        args.app,
        iface.addresses(),
        args.port,
        iface.name(),
        kernel.join(", ")
    );
    let serving = serve_all(listeners, args.app);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = serving => r?,
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("{:?}", iface.stats());
    eprintln!("{:?}", iface.counters());
    iface.shutdown().await;
    Ok(())
}

/// Serves on every listener until one fails.
async fn serve_all(listeners: Vec<TcpListener>, app: App) -> std::io::Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for l in listeners {
        set.spawn(apps::serve(l, app));
    }
    match set.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(std::io::Error::other(e)),
        None => Ok(()),
    }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("serve: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::FAILURE
        }
    }
}
