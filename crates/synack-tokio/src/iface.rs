//! [`Interface`]: a TUN device, the addresses on both sides of it, and the driver
//! task that runs the stack.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;

use synack::{Counters, SocketInfo, Stack, StackConfig, TcpConfig};

/// The least catch-up a paced sender gets here (`TcpConfig::pacing_max_lag`).
/// tokio's timers fire on 1 ms ticks, and a wake-up can be later still on a busy
/// machine: with the core's 1 ms, a paced sender that woke late could never
/// send what it was owed, and synack -> Linux over a TUN with offload ran at
/// 3.5-4.9 Gbit/s paced vs 7.6-8.1 unpaced; with 3 ms, 6.4-7.0.
pub const RUNTIME_PACING_LAG: std::time::Duration = std::time::Duration::from_millis(3);
use synack_sim::LinkStats;
use tokio::task::JoinHandle;
use tun_rs::DeviceBuilder;

use crate::control::{self, SocketRecord};
use crate::driver::{self, Inner, Shared};
use crate::impair::{ImpairDir, Impairment};
use crate::io::{Out, Rx, Tx};

/// IPv4 header + TCP header without options.
const V4_TCP_OVERHEAD: u16 = 40;
/// The smallest MTU IPv4 hosts must accept (RFC 791); IPv6 needs 1280 (RFC 8200 §5).
const MIN_MTU: u16 = 576;

/// Counters of the packet I/O around the stack (the stack's own are
/// [`Interface::counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    /// Packets read from the TUN device.
    pub rx_packets: u64,
    /// Bytes read from the TUN device.
    pub rx_bytes: u64,
    /// Failed reads (other than "nothing to read").
    pub rx_errors: u64,
    /// Packets written to the TUN device.
    pub tx_packets: u64,
    /// Bytes written to the TUN device.
    pub tx_bytes: u64,
    /// Batches of packets handed to the device: with offload, each batch is
    /// coalesced into as few writes as possible; without, one per packet.
    pub tx_batches: u64,
    /// Packets the device refused (dropped; TCP retransmits).
    pub tx_dropped: u64,
    /// ICMP / ICMPv6 echo requests answered.
    pub icmp_echo_replies: u64,
    /// The inbound (kernel → synack) impairment's counters.
    pub impair_inbound: LinkStats,
    /// The outbound (synack → kernel) impairment's counters.
    pub impair_outbound: LinkStats,
}

/// Configures and creates an [`Interface`]. Made by [`Interface::builder`].
#[derive(Clone, Debug)]
pub struct InterfaceBuilder {
    name: Option<String>,
    ipv4: Option<(Ipv4Addr, u8)>,
    ipv6: Option<(Ipv6Addr, u8)>,
    mtu: u16,
    tcp: TcpConfig,
    icmp_echo: bool,
    offload: bool,
    impairment: Impairment,
    control: Option<PathBuf>,
    randomness: Option<([u8; 16], u64)>,
    transparent: bool,
}

impl InterfaceBuilder {
    /// Transparent mode (default false): allows a [`crate::TransparentListener`],
    /// which accepts connections to *any* address routed into the TUN device and
    /// reports each one's original destination — the tun2socks / VPN use case.
    /// Route the prefixes to capture into the device yourself (`ip route add
    /// 203.0.113.0/24 dev NAME`).
    #[must_use]
    pub fn transparent(mut self, on: bool) -> Self {
        self.transparent = on;
        self
    }

    /// The TUN device's name (default: the kernel picks `tunN`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// synack's IPv4 address and prefix length. The kernel side of the TUN gets the
    /// first host address of the prefix (`10.7.0.2/24` → `10.7.0.1`), which must
    /// differ from `addr`.
    #[must_use]
    pub fn ipv4(mut self, addr: Ipv4Addr, prefix: u8) -> Self {
        self.ipv4 = Some((addr, prefix));
        self
    }

    /// synack's IPv6 address and prefix length; the kernel side gets the first host
    /// address of the prefix (`fd00:7::2/64` → `fd00:7::1`).
    #[must_use]
    pub fn ipv6(mut self, addr: Ipv6Addr, prefix: u8) -> Self {
        self.ipv6 = Some((addr, prefix));
        self
    }

    /// The device MTU (default 1500). The MSS follows: MTU − 40 for IPv4.
    #[must_use]
    pub fn mtu(mut self, mtu: u16) -> Self {
        self.mtu = mtu;
        self
    }

    /// TCP tunables (default [`TcpConfig::default`]); `mss` is capped to fit the
    /// MTU, and `pacing_max_lag` is raised to at least [`RUNTIME_PACING_LAG`].
    #[must_use]
    pub fn tcp_config(mut self, tcp: TcpConfig) -> Self {
        self.tcp = tcp;
        self
    }

    /// Answer ICMP/ICMPv6 echo requests (default true).
    #[must_use]
    pub fn icmp_echo(mut self, on: bool) -> Self {
        self.icmp_echo = on;
        self
    }

    /// TUN offload (`IFF_VNET_HDR` with TSO/GSO and checksum offload; default
    /// false): the kernel passes up to 64 KiB TCP super-packets each way, so a bulk
    /// transfer costs far fewer system calls. Falls back to plain I/O if the kernel
    /// refuses; [`Interface::offload`] tells which is in use.
    #[must_use]
    pub fn offload(mut self, on: bool) -> Self {
        self.offload = on;
        self
    }

    /// Impairs the path between the kernel and synack (loss, delay, reordering,
    /// rate...; see [`Impairment`]). Default: none.
    #[must_use]
    pub fn impair(mut self, impairment: Impairment) -> Self {
        self.impairment = impairment;
        self
    }

    /// Serves the socket table on a Unix socket at `path` (see [`crate::control`];
    /// conventionally `/run/synack/<tun>.sock`). Default: none.
    #[must_use]
    pub fn control_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.control = Some(path.into());
        self
    }

    /// Fixed ISN secret and seed instead of OS randomness (reproducible runs only:
    /// predictable ISNs are an attack surface, RFC 6528).
    #[must_use]
    pub fn randomness(mut self, secret: [u8; 16], seed: u64) -> Self {
        self.randomness = Some((secret, seed));
        self
    }

    /// Creates the TUN device in the calling thread's network namespace, assigns
    /// the kernel-side addresses, brings it up and starts the driver task on the
    /// current tokio runtime.
    ///
    /// # Errors
    /// `InvalidInput` for no address, a prefix without room for two hosts, or an
    /// MTU below 576 (1280 with IPv6); `PermissionDenied` without `CAP_NET_ADMIN`;
    /// other errors from creating the device.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn build(self) -> io::Result<Interface> {
        let invalid = |msg: &str| io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned());
        if self.ipv4.is_none() && self.ipv6.is_none() {
            return Err(invalid("an interface needs an IPv4 or IPv6 address"));
        }
        self.impairment
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let min_mtu = if self.ipv6.is_some() { 1280 } else { MIN_MTU };
        if self.mtu < min_mtu {
            return Err(invalid("MTU below the protocol minimum"));
        }
        let kernel4 = match self.ipv4 {
            Some((a, p)) => Some(kernel_v4(a, p).ok_or_else(|| {
                invalid("IPv4 prefix has no first host address distinct from synack's")
            })?),
            None => None,
        };
        let kernel6 = match self.ipv6 {
            Some((a, p)) => Some(kernel_v6(a, p).ok_or_else(|| {
                invalid("IPv6 prefix has no first host address distinct from synack's")
            })?),
            None => None,
        };
        let mut ours = Vec::new();
        ours.extend(self.ipv4.map(|(a, _)| IpAddr::V4(a)));
        ours.extend(self.ipv6.map(|(a, _)| IpAddr::V6(a)));
        let mut kernel = Vec::new();
        kernel.extend(kernel4.map(IpAddr::V4));
        kernel.extend(kernel6.map(IpAddr::V6));

        let (secret, seed) = match self.randomness {
            Some(r) => r,
            None => os_randomness()?,
        };
        let mut config = StackConfig::new(secret, seed);
        config.tcp = self.tcp;
        config.tcp.mss = config.tcp.mss.min(self.mtu - V4_TCP_OVERHEAD);
        config.tcp.pacing_max_lag = config.tcp.pacing_max_lag.max(RUNTIME_PACING_LAG);
        let stack = Stack::new(config, &ours)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;

        // The TUN's queue towards us (its ring is `txqueuelen` packets; a full ring
        // drops) holds a whole receive window: the kernel never has more in flight
        // than we advertise, so a clean path never loses packets here.
        let tcp = &stack.config().tcp;
        let window = if tcp.auto_tune {
            tcp.recv_buffer_max
        } else {
            tcp.recv_buffer
        };
        let qlen = (window / usize::from(tcp.mss) + 256).clamp(1000, 1 << 16);
        let mut b = DeviceBuilder::new()
            .mtu(self.mtu)
            .tx_queue_len(u32::try_from(qlen).unwrap_or(1 << 16));
        if let Some(n) = &self.name {
            b = b.name(n.clone());
        }
        if let (Some(k), Some((_, p))) = (kernel4, self.ipv4) {
            b = b.ipv4(k, p, None);
        }
        if let (Some(k), Some((_, p))) = (kernel6, self.ipv6) {
            b = b.ipv6(k, p);
        }
        if self.offload {
            b = b.offload(true);
        }
        let dev = Arc::new(b.build_async()?);
        let name = dev.name()?;
        // tun-rs falls back to plain I/O if the kernel refuses the offloads.
        let offload = self.offload && dev.tcp_gso();

        let epoch = std::time::Instant::now();
        let tx = Tx::new(Arc::clone(&dev), self.mtu, offload);
        let imp = &self.impairment;
        let inbound = imp.inbound.clone().map(|c| ImpairDir::new(c, imp.seed, 0));
        let outbound = imp.outbound.clone().map(|c| ImpairDir::new(c, imp.seed, 1));
        let inner = Inner::new(stack, Out::new(tx, outbound), inbound, self.icmp_echo);
        let shared = Arc::new(Shared::new(inner, epoch));
        let rx = Rx::new(dev, self.mtu, offload);
        let driver = tokio::spawn(driver::run(Arc::clone(&shared), rx));
        let control = match &self.control {
            Some(path) => match control::start(Arc::clone(&shared), name.clone(), path) {
                Ok(task) => Some((task, path.clone())),
                Err(e) => {
                    shared.request_shutdown();
                    return Err(e);
                }
            },
            None => None,
        };
        Ok(Interface {
            shared,
            name,
            mtu: self.mtu,
            addresses: ours,
            kernel_addresses: kernel,
            offload,
            transparent: self.transparent,
            driver: Some(driver),
            control,
        })
    }
}

fn os_randomness() -> io::Result<([u8; 16], u64)> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    let mut secret = [0u8; 16];
    secret.copy_from_slice(&bytes[..16]);
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&bytes[16..]);
    Ok((secret, u64::from_le_bytes(seed)))
}

/// The first host address of `addr/prefix`, if it exists and is not `addr`.
fn kernel_v4(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    if prefix > 30 {
        return None;
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let first = Ipv4Addr::from((u32::from(addr) & mask) + 1);
    (first != addr).then_some(first)
}

/// The first host address of `addr/prefix`, if it exists and is not `addr`.
fn kernel_v6(addr: Ipv6Addr, prefix: u8) -> Option<Ipv6Addr> {
    if prefix > 126 {
        return None;
    }
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    let first = Ipv6Addr::from((u128::from(addr) & mask) + 1);
    (first != addr).then_some(first)
}

/// A TUN device with synack behind it.
///
/// Made with [`Interface::builder`]. Sockets are opened on it with
/// [`crate::TcpListener::bind`] and [`crate::TcpStream::connect`]; they keep the
/// stack alive, but dropping the `Interface` stops the driver: every connection is
/// reset, the TUN device is closed, and socket calls fail with `NotConnected`.
pub struct Interface {
    shared: Arc<Shared>,
    name: String,
    mtu: u16,
    addresses: Vec<IpAddr>,
    kernel_addresses: Vec<IpAddr>,
    offload: bool,
    transparent: bool,
    driver: Option<JoinHandle<()>>,
    control: Option<(JoinHandle<()>, PathBuf)>,
}

impl fmt::Debug for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interface")
            .field("name", &self.name)
            .field("mtu", &self.mtu)
            .field("addresses", &self.addresses)
            .field("kernel_addresses", &self.kernel_addresses)
            .field("offload", &self.offload)
            .field("transparent", &self.transparent)
            .finish_non_exhaustive()
    }
}

impl Interface {
    /// A builder with defaults: no address, MTU 1500, default TCP tunables, echo on.
    pub fn builder() -> InterfaceBuilder {
        InterfaceBuilder {
            name: None,
            ipv4: None,
            ipv6: None,
            mtu: 1500,
            tcp: TcpConfig::default(),
            icmp_echo: true,
            offload: false,
            impairment: Impairment::default(),
            control: None,
            randomness: None,
            transparent: false,
        }
    }

    /// Whether transparent mode is allowed (see [`InterfaceBuilder::transparent`]).
    pub fn transparent(&self) -> bool {
        self.transparent
    }

    /// The TUN device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Whether TUN offload is in use (see [`InterfaceBuilder::offload`]).
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// synack's addresses.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }

    /// The kernel's addresses on the other side of the TUN (first host of each prefix).
    pub fn kernel_addresses(&self) -> &[IpAddr] {
        &self.kernel_addresses
    }

    /// Every socket, like `ss -tan`.
    pub fn sockets(&self) -> Vec<SocketInfo> {
        self.shared.lock().stack.sockets()
    }

    /// Every socket with its connection details, as the control socket reports them.
    pub fn socket_records(&self) -> Vec<SocketRecord> {
        control::records(&self.shared, &self.name)
    }

    /// The stack's counters (segments, drops by reason, retransmissions...).
    pub fn counters(&self) -> Counters {
        self.shared.lock().stack.counters().clone()
    }

    /// Packet I/O counters.
    pub fn stats(&self) -> InterfaceStats {
        let g = self.shared.lock();
        let mut s = g.stats;
        (s.impair_inbound, s.impair_outbound) = g.impair_stats();
        s
    }

    /// Stops the driver and waits for it: connections are reset, the device closed.
    pub async fn shutdown(mut self) {
        self.stop_control();
        self.shared.request_shutdown();
        if let Some(d) = self.driver.take() {
            let _ = d.await;
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Interface {
    fn stop_control(&mut self) {
        if let Some((task, path)) = self.control.take() {
            task.abort();
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Interface {
    fn drop(&mut self) {
        self.stop_control();
        self.shared.request_shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_gets_the_first_host_of_the_prefix() {
        let v4 = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(kernel_v4(v4("10.7.0.2"), 24), Some(v4("10.7.0.1")));
        assert_eq!(kernel_v4(v4("10.7.0.200"), 24), Some(v4("10.7.0.1")));
        assert_eq!(
            kernel_v4(v4("10.7.0.1"), 24),
            None,
            "synack took the kernel's address"
        );
        assert_eq!(kernel_v4(v4("10.7.0.2"), 31), None, "no room");
        assert_eq!(kernel_v4(v4("10.7.0.2"), 30), Some(v4("10.7.0.1")));
        assert_eq!(kernel_v4(v4("10.7.0.2"), 0), Some(v4("0.0.0.1")));
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(kernel_v6(v6("fd00:7::2"), 64), Some(v6("fd00:7::1")));
        assert_eq!(kernel_v6(v6("fd00:7::1"), 64), None);
        assert_eq!(kernel_v6(v6("fd00:7::2"), 127), None);
    }
}
