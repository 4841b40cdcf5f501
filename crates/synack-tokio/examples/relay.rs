//! A tiny transparent TCP relay (the tun2socks idea): every connection routed
//! into the TUN device, to any address, is accepted by synack and relayed over the
//! kernel's TCP to its original destination, or to one fixed upstream.
//!
//! ```text
//! relay --tun NAME --addr 10.7.0.2/24 --route 203.0.113.0/24 [--route ...]
//!       [--upstream HOST:PORT]
//! ```
//!
//! Needs CAP_NET_ADMIN: run it inside a network namespace (`ip netns exec NAME
//! ...`). It adds `ip route add PREFIX dev NAME` for each `--route`. Without
//! `--upstream`, the original destination must be reachable by the kernel some
//! other way than the TUN (policy routing, as tun2socks setups do) — otherwise the
//! relay's own connection would be routed back into the TUN; it refuses that.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use synack_tokio::{Interface, TransparentListener};

#[derive(Debug, Default)]
struct Args {
    tun: String,
    addr: Option<(IpAddr, u8)>,
    routes: Vec<String>,
    upstream: Option<SocketAddr>,
}

fn cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("{s}: expected ADDR/PREFIX"))?;
    Ok((
        a.parse().map_err(|_| format!("{s}: bad address"))?,
        p.parse().map_err(|_| format!("{s}: bad prefix"))?,
    ))
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        tun: "relay0".into(),
        ..Args::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--tun" => args.tun = val()?,
            "--addr" => args.addr = Some(cidr(&val()?)?),
            "--route" => {
                let r = val()?;
                cidr(&r)?;
                args.routes.push(r);
            }
            "--upstream" => {
                args.upstream = Some(val()?.parse().map_err(|e| format!("--upstream: {e}"))?);
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if args.addr.is_none() {
        return Err("--addr is required".into());
    }
    Ok(args)
}

fn in_prefix(ip: IpAddr, prefix: &str) -> bool {
    let Ok((net, len)) = cidr(prefix) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let mut b = Interface::builder().name(&args.tun).transparent(true);
    match args.addr {
        Some((IpAddr::V4(a), p)) => b = b.ipv4(a, p),
        Some((IpAddr::V6(a), p)) => b = b.ipv6(a, p),
        None => {}
    }
    let iface = b.build().await?;
    for r in &args.routes {
        let st = std::process::Command::new("ip")
            .args(["route", "add", r, "dev", iface.name()])
            .status()?;
        if !st.success() {
            return Err(std::io::Error::other(format!("ip route add {r} failed")));
        }
    }
    let listener = TransparentListener::bind(&iface, 1024)?;
    println!(
        "relaying {} via tun {} to {}",
        args.routes.join(", "),
        iface.name(),
        args.upstream
            .map_or_else(|| "the original destinations".into(), |u| u.to_string())
    );
    loop {
        let (mut inbound, peer, original) = listener.accept().await?;
        let target = args.upstream.unwrap_or(original);
        if args.upstream.is_none() && args.routes.iter().any(|r| in_prefix(target.ip(), r)) {
            eprintln!("{peer} -> {original}: routed into this TUN, would loop; dropped");
            inbound.abort();
            continue;
        }
        tokio::spawn(async move {
            match tokio::net::TcpStream::connect(target).await {
                Ok(mut out) => match tokio::io::copy_bidirectional(&mut inbound, &mut out).await {
                    Ok((up, down)) => {
                        println!("{peer} -> {original} via {target}: {up} bytes up, {down} down");
                    }
                    Err(e) => eprintln!("{peer} -> {original}: {e}"),
                },
                Err(e) => {
                    eprintln!("{peer} -> {original}: connecting to {target}: {e}");
                    inbound.abort();
                }
            }
        });
    }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("relay: {e}");
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
            eprintln!("relay: {e}");
            ExitCode::FAILURE
        }
    }
}
