//! `synack serve`, `synack connect` and `synack ss`: synack on a real TUN device
//! (through `synack-tokio`), next to the Linux kernel's TCP.
//!
//! Shared here: address and impairment parsing, creating the interface with
//! errors a person can act on, and the tokio runtime the commands run on.

pub(crate) mod args;
pub(crate) mod connect;
pub(crate) mod serve;
pub(crate) mod ss;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use synack_tokio::{Impairment, Interface, LinkConfig, Loss};

use crate::units::{parse_duration, parse_probability, parse_rate};

/// An address with a prefix length: `10.7.0.2/24`, `fd00:7::2/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected ADDRESS/PREFIX, e.g. 10.7.0.2/24"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?}: {a:?} is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|&p| p <= max)
            .ok_or_else(|| format!("{s:?}: prefix must be a number from 0 to {max}"))?;
        // Room for the kernel's address (the first host) and ours.
        if prefix > max - 2 {
            return Err(format!(
                "{s:?}: a /{prefix} has no room for two hosts (the kernel takes the first \
                 host address of the prefix); use /{} or shorter",
                max - 2
            ));
        }
        let host_bits = u32::from(max - prefix);
        let (host, all_ones) = match addr {
            IpAddr::V4(a) => {
                let m = u32::MAX.checked_shr(32 - host_bits).unwrap_or(0);
                (u128::from(u32::from(a) & m), u128::from(m))
            }
            IpAddr::V6(a) => {
                let m = u128::MAX.checked_shr(128 - host_bits).unwrap_or(0);
                (u128::from(a) & m, m)
            }
        };
        if host == 0 || host == 1 || (addr.is_ipv4() && host == all_ones) {
            return Err(format!(
                "{s:?}: synack needs a host address other than the prefix's network \
                 address, broadcast address and first host (the kernel's), e.g. {}",
                example_host(addr, prefix)
            ));
        }
        Ok(Self { addr, prefix })
    }
}

fn example_host(addr: IpAddr, prefix: u8) -> String {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            format!("{}/{prefix}", Ipv4Addr::from((u32::from(a) & m) + 2))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            format!("{}/{prefix}", Ipv6Addr::from((u128::from(a) & m) + 2))
        }
    }
}

/// Parses `--impair`: comma-separated `KEY=VALUE` pairs, applied both ways:
/// `loss=2%`, `delay=5ms` (default 0), `jitter=1ms`, `reorder=1%`,
/// `duplicate=0.1%`, `corrupt=0.1%`, `rate=100Mbit`, `queue=1000`, `seed=N`.
///
/// # Errors
/// An unknown key, a malformed value, or a combination the link model rejects.
pub fn parse_impair(s: &str) -> Result<Impairment, String> {
    let mut link = LinkConfig {
        delay: Duration::ZERO,
        ..LinkConfig::default()
    };
    let mut seed = 1;
    let mut rate = None;
    for kv in s.split(',').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--impair: {kv:?} is not KEY=VALUE"))?;
        let bad = |e: String| format!("--impair {k}: {e}");
        match k {
            "loss" => link.loss = Loss::Bernoulli(parse_probability(v).map_err(bad)?),
            "delay" => link.delay = parse_duration(v).map_err(bad)?,
            "jitter" => link.jitter = parse_duration(v).map_err(bad)?,
            "reorder" => link.reorder = parse_probability(v).map_err(bad)?,
            "duplicate" => link.duplicate = parse_probability(v).map_err(bad)?,
            "corrupt" => link.corrupt = parse_probability(v).map_err(bad)?,
            "rate" => rate = Some(parse_rate(v).map_err(bad)?),
            "queue" => {
                link.queue_packets = v
                    .parse()
                    .ok()
                    .filter(|&q| q > 0)
                    .ok_or_else(|| bad("expected a packet count above 0".into()))?;
            }
            "seed" => seed = v.parse().map_err(|_| bad("expected an integer".into()))?,
            _ => {
                return Err(format!(
                    "--impair: unknown knob {k:?} (loss, delay, jitter, reorder, duplicate, \
                     corrupt, rate, queue, seed)"
                ))
            }
        }
    }
    link.rate_bps = rate;
    let imp = Impairment::symmetric(link, seed);
    imp.validate().map_err(|e| format!("--impair: {e}"))?;
    Ok(imp)
}

/// The common options of commands that create a TUN device.
#[derive(Clone, Debug)]
pub(crate) struct IfaceOptions {
    pub(crate) tun: String,
    pub(crate) addrs: Vec<Cidr>,
    pub(crate) mtu: u16,
    pub(crate) offload: bool,
    pub(crate) impair: Option<Impairment>,
    pub(crate) control: Option<PathBuf>,
}

/// Where an instance on TUN device `tun` puts its control socket by default.
pub(crate) fn default_control(tun: &str) -> PathBuf {
    Path::new(synack_tokio::control::DEFAULT_DIR).join(format!("{tun}.sock"))
}

/// Checks a TUN device name as the kernel would (`IFNAMSIZ`, no `/` or spaces).
pub(crate) fn check_tun_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "--tun {name:?}: an interface name has 1 to 15 characters"
        ));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
        || name == "."
        || name == ".."
    {
        return Err(format!(
            "--tun {name:?}: an interface name cannot contain '/', ':' or spaces"
        ));
    }
    Ok(())
}

/// Creates the interface, turning the usual failures into messages that say
/// what to do.
pub(crate) async fn build(o: &IfaceOptions) -> Result<Interface, String> {
    check_tun_name(&o.tun)?;
    if Path::new("/sys/class/net").join(&o.tun).exists() {
        return Err(format!(
            "a network device named {} already exists in this namespace; pick another \
             --tun name (or remove it: ip link del {})",
            o.tun, o.tun
        ));
    }
    let mut b = Interface::builder()
        .name(&o.tun)
        .mtu(o.mtu)
        .offload(o.offload);
    let mut v4 = false;
    let mut v6 = false;
    for c in &o.addrs {
        match c.addr {
            IpAddr::V4(a) if !v4 => {
                v4 = true;
                b = b.ipv4(a, c.prefix);
            }
            IpAddr::V6(a) if !v6 => {
                v6 = true;
                b = b.ipv6(a, c.prefix);
            }
            _ => return Err(format!("{}/{}: one address per family", c.addr, c.prefix)),
        }
    }
    if let Some(i) = &o.impair {
        b = b.impair(i.clone());
    }
    if let Some(c) = &o.control {
        b = b.control_socket(c);
    }
    b.build().await.map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "creating TUN device {} needs CAP_NET_ADMIN: run as root (ideally inside a \
             network namespace: ip netns exec NAME synack ...): {e}",
            o.tun
        ),
        io::ErrorKind::NotFound if !Path::new("/dev/net/tun").exists() => {
            "no /dev/net/tun: this kernel or container has no TUN support".to_string()
        }
        io::ErrorKind::AddrInUse => format!(
            "another synack instance is serving its control socket at {} (pass --control \
             PATH to use another)",
            o.control
                .as_deref()
                .map_or_else(String::new, |p| p.display().to_string())
        ),
        _ if e.raw_os_error() == Some(16) => format!(
            "TUN device {} is busy (another process holds it); pick another --tun name",
            o.tun
        ),
        _ => format!("creating TUN device {}: {e}", o.tun),
    })
}

/// A multi-threaded tokio runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the tokio runtime: {e}"))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests;
