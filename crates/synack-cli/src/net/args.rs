//! The command lines of `synack serve`, `synack connect` and `synack ss`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use synack_tokio::Impairment;

use super::{default_control, parse_impair, Cidr, IfaceOptions};
use crate::units::{parse_duration, parse_size};

/// `synack serve --tun NAME --addr CIDR [--addr6 CIDR] --port N --app APP`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
The kernel side of the TUN gets the first host address of each prefix
(--addr 10.7.0.2/24: the kernel is 10.7.0.1). Needs CAP_NET_ADMIN: run it
inside a network namespace (ip netns exec NAME synack serve ...). Prints a
`ready:` line once listening; stops on Ctrl-C or SIGTERM.
--impair takes KEY=VALUE pairs, applied both ways: loss=2%, delay=5ms,
jitter=1ms, reorder=1%, duplicate=0.1%, corrupt=0.1%, rate=100Mbit,
queue=1000, seed=N.")]
pub struct ServeArgs {
    /// Name of the TUN device to create.
    #[arg(long, value_name = "NAME")]
    pub tun: String,
    /// synack's IPv4 address and prefix (e.g. 10.7.0.2/24).
    #[arg(long, value_name = "CIDR")]
    pub addr: Option<Cidr>,
    /// synack's IPv6 address and prefix (e.g. fd00:7::2/64).
    #[arg(long, value_name = "CIDR")]
    pub addr6: Option<Cidr>,
    /// The port the app listens on (on every address).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// The app: echo, discard, chargen or http (`/` and `/bytes/N`).
    #[arg(long, value_name = "APP", default_value = "echo")]
    pub app: String,
    /// Accept queue bound.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub backlog: usize,
    /// Impair the path between the kernel and synack (see below).
    #[arg(long, value_name = "KNOBS", value_parser = parse_impair)]
    pub impair: Option<Impairment>,
    /// TUN offload: TSO/GSO super-packets both ways.
    #[arg(long)]
    pub offload: bool,
    /// Device MTU.
    #[arg(long, value_name = "N", default_value_t = 1500)]
    pub mtu: u16,
    /// Control socket for `synack ss` (default /run/synack/TUN.sock, TUN being the device name).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
}

impl ServeArgs {
    pub(crate) fn iface_options(&self) -> Result<IfaceOptions, String> {
        let mut addrs = Vec::new();
        if let Some(a) = self.addr {
            if !a.addr.is_ipv4() {
                return Err(format!(
                    "--addr {}: not an IPv4 address (use --addr6)",
                    a.addr
                ));
            }
            addrs.push(a);
        }
        if let Some(a) = self.addr6 {
            if !a.addr.is_ipv6() {
                return Err(format!(
                    "--addr6 {}: not an IPv6 address (use --addr)",
                    a.addr
                ));
            }
            addrs.push(a);
        }
        if addrs.is_empty() {
            return Err("--addr or --addr6 is required".into());
        }
        self.app.parse::<synack_tokio::apps::App>()?;
        super::check_tun_name(&self.tun)?;
        Ok(IfaceOptions {
            tun: self.tun.clone(),
            addrs,
            mtu: self.mtu,
            offload: self.offload,
            impair: self.impair.clone(),
            control: Some(
                self.control
                    .clone()
                    .unwrap_or_else(|| default_control(&self.tun)),
            ),
        })
    }
}

/// `synack connect --tun NAME --addr CIDR HOST:PORT [--send N | --send-file F] [--recv]`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Creates the TUN device (the kernel gets the first host address of the prefix),
connects from synack to HOST:PORT, sends (seeded bytes, or a file), half-closes,
and reads until the peer closes. Prints goodput and the SHA-256 of what was
sent and received: `sent N bytes (..) in T s: R sha256 HEX`.")]
pub struct ConnectArgs {
    /// Name of the TUN device to create.
    #[arg(long, value_name = "NAME")]
    pub tun: String,
    /// synack's address and prefix (IPv4 or IPv6); repeat for both families.
    #[arg(long, value_name = "CIDR", required = true)]
    pub addr: Vec<Cidr>,
    /// Where to connect.
    #[arg(value_name = "HOST:PORT")]
    pub target: SocketAddr,
    /// Send N bytes (16MiB, 1GiB, ...): the seeded stream `/bytes/N` serves.
    #[arg(long, value_name = "N", value_parser = parse_size, conflicts_with = "send_file")]
    pub send: Option<u64>,
    /// Send the contents of a file.
    #[arg(long, value_name = "FILE")]
    pub send_file: Option<PathBuf>,
    /// Report what the peer sent (always read until the peer closes).
    #[arg(long)]
    pub recv: bool,
    /// Fail unless exactly N bytes arrive (also sizes the progress bar).
    #[arg(long, value_name = "N", value_parser = parse_size)]
    pub expect: Option<u64>,
    /// Give up connecting after this long.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// Give up on the transfer after this long.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "10m")]
    pub transfer_timeout: Duration,
    /// Impair the path between the kernel and synack (as `synack serve`).
    #[arg(long, value_name = "KNOBS", value_parser = parse_impair)]
    pub impair: Option<Impairment>,
    /// TUN offload: TSO/GSO super-packets both ways.
    #[arg(long)]
    pub offload: bool,
    /// Device MTU.
    #[arg(long, value_name = "N", default_value_t = 1500)]
    pub mtu: u16,
    /// Control socket for `synack ss` (default /run/synack/TUN.sock, TUN being the device name).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
}

impl ConnectArgs {
    pub(crate) fn iface_options(&self) -> Result<IfaceOptions, String> {
        if let Some(f) = &self.send_file {
            super::connect::check_file(f)?;
        }
        super::check_tun_name(&self.tun)?;
        Ok(IfaceOptions {
            tun: self.tun.clone(),
            addrs: self.addr.clone(),
            mtu: self.mtu,
            offload: self.offload,
            impair: self.impair.clone(),
            control: Some(
                self.control
                    .clone()
                    .unwrap_or_else(|| default_control(&self.tun)),
            ),
        })
    }
}

/// `synack ss [--json] [--counters] [--dir DIR]`.
#[derive(Debug, Clone, Args)]
pub struct SsArgs {
    /// One JSON object per socket per line.
    #[arg(long)]
    pub json: bool,
    /// Also each instance's counters (segments, drops by reason, retransmits...).
    #[arg(long, short)]
    pub counters: bool,
    /// Where instances put their control sockets (default /run/synack).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
