//! Configuration with documented, cited defaults.
//!
//! [`TcpConfig`] holds every tunable of the protocol; [`StackConfig`] adds what the
//! stack needs from its world: a secret for ISNs (RFC 6528) and a seed for its
//! random choices. Both are plain data: build, adjust the fields or use the
//! validating setters, and hand to [`crate::Stack::new`], which validates.

use core::fmt;
use core::ops::RangeInclusive;
use core::time::Duration;

/// Protocol tunables. Defaults follow Linux where RFCs leave a choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// Maximum segment lifetime. TIME-WAIT lasts 2·MSL. RFC 9293 §3.4.2 suggests 2
    /// minutes; Linux's TIME-WAIT is 60 s, so the default MSL is 30 s.
    pub msl: Duration,
    /// Lower bound on the RTO. RFC 6298 §2.4 says 1 s; Linux uses 200 ms (TCP_RTO_MIN).
    pub min_rto: Duration,
    /// Upper bound on the RTO. RFC 6298 §2.5 allows a maximum of at least 60 s;
    /// Linux uses 120 s (TCP_RTO_MAX).
    pub max_rto: Duration,
    /// RTO before any RTT sample. RFC 6298 §2.1: 1 s.
    pub initial_rto: Duration,
    /// SYN retransmissions before connect fails (Linux tcp_syn_retries = 6).
    pub syn_retries: u32,
    /// SYN,ACK retransmissions before a half-open connection is dropped
    /// (Linux tcp_synack_retries = 5).
    pub synack_retries: u32,
    /// Retransmissions of data or FIN before the connection times out
    /// (Linux tcp_retries2 = 15, RFC 1122 §4.2.3.5 R2 ≥ 100 s).
    pub data_retries: u32,
    /// Send buffer size in bytes (Linux tcp_wmem default 16 KiB grows; we start larger).
    pub send_buffer: usize,
    /// Receive buffer size in bytes (Linux tcp_rmem default 128 KiB).
    pub recv_buffer: usize,
    /// The MSS we advertise: interface MTU minus IP and TCP headers.
    /// 1460 for a 1500-byte IPv4 MTU; IPv6 connections advertise 20 less.
    pub mss: u16,
    /// Disable Nagle's algorithm on new sockets (RFC 1122 §4.2.3.4; TCP_NODELAY).
    pub nodelay: bool,
    /// Longest an ACK may be delayed (RFC 1122 §4.2.3.2 ≤ 0.5 s; Linux TCP_DELACK_MAX 200 ms,
    /// minimum 40 ms, which is what a bulk receiver sees).
    pub delayed_ack: Duration,
    /// Maximum compact TIME-WAIT entries (Linux tcp_max_tw_buckets = 262144).
    pub max_time_wait: usize,
    /// Cap on a listener's accept queue (Linux net.core.somaxconn = 4096).
    pub somaxconn: usize,
    /// Cap on a listener's half-open (SYN-RECEIVED) queue (Linux tcp_max_syn_backlog).
    pub max_syn_backlog: usize,
    /// Ephemeral ports for connect (Linux ip_local_port_range = 32768–60999).
    pub ephemeral_ports: RangeInclusive<u16>,
    /// When the accept queue is full, answer the handshake's final ACK with RST
    /// instead of dropping it (Linux tcp_abort_on_overflow = 0).
    pub abort_on_overflow: bool,
    /// Reuse a TIME-WAIT 4-tuple for a new outgoing connection when timestamps make
    /// it safe (Linux tcp_tw_reuse).
    pub time_wait_reuse: bool,
    /// RFC 5961 challenge ACKs allowed per second per stack (Linux tcp_challenge_ack_limit).
    pub challenge_ack_limit: u32,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Hop limit / TTL of outgoing packets (Linux ip_default_ttl = 64).
    pub hop_limit: u8,
    /// Congestion control for new connections: CUBIC, as Linux.
    pub congestion: crate::tcp::congestion::Algorithm,
    /// Pace transmissions (see `tcp::pacing`): at the algorithm's rate (BBR) or
    /// `cwnd/srtt` × 2 in slow start, × 1.2 after (Linux's defaults, as with the
    /// `fq` qdisc). Off sends whatever the windows allow at once.
    pub pacing: bool,
    /// How far a paced sender that was held up may catch up at once, in time's
    /// worth of data at the pacing rate (see `tcp::pacing::MAX_LAG`, 1 ms). A
    /// runtime whose timers fire in 1 ms ticks wants a few ticks here
    /// (synack-tokio raises it to 3 ms), or the late wake-ups cost goodput.
    pub pacing_max_lag: core::time::Duration,
    /// Header prediction: the next in-order data segment of a connection with
    /// nothing in flight skips the steps of RFC 9293 §3.10.7.4 that cannot act
    /// on it (Van Jacobson's fast path, Linux's `tcp_rcv_established`). On by
    /// default; off runs every segment through the full processing, with exactly
    /// the same result (`Counters::segments_predicted` counts the fast ones).
    /// Most of them the stack takes in one step, without its general
    /// per-segment bookkeeping (`Stack::input_fast`, counted in
    /// `Counters::segments_in_fast`), which this switch turns off too.
    pub header_prediction: bool,
    /// The sender's fast path: a full-sized segment of new data, in the middle
    /// of a flight with nothing else to do (no recovery, timer action or SACK
    /// blocks to carry), is decided and written in one step (`Tcb::transmit_full`)
    /// instead of through the general segment choice. On by default; off sends
    /// every segment through the general path, with exactly the same packets
    /// (`Counters::segments_out_fast` counts the fast ones).
    pub transmit_fast_path: bool,
    /// The smallest payload [`crate::Stack::handle_packet_owned`] keeps in its
    /// packet's buffer for the application to read there, instead of copying
    /// it into the receive ring (4,096 bytes by default: jumbo frames and
    /// GRO/LRO super-packets). A smaller payload is copied into the ring while
    /// its checksum is summed, which costs little (the ring's lines are warm)
    /// and keeps the received bytes contiguous for the application; a large
    /// one spares a copy whose destination is cold (`bulk --mtu 65535`:
    /// 1.02–1.29× → 1.49–1.70× smoltcp, while keeping MTU-1500 payloads
    /// measured 1.43× → 1.1–1.2×). `usize::MAX` never keeps one.
    pub keep_payload_min: usize,
    /// Detect spurious retransmission timeouts with F-RTO and undo them (RFC 5682
    /// §3.1, SACK-enhanced; Linux `tcp_frto` = 2 by default).
    pub frto: bool,
    /// Restart from the restart window after an idle period longer than the RTO
    /// (RFC 5681 §4.1; Linux `tcp_slow_start_after_idle` = 1).
    pub slow_start_after_idle: bool,
    /// Grow the receive and send buffers as the bandwidth-delay product demands,
    /// up to `recv_buffer_max` / `send_buffer_max` (Linux `tcp_moderate_rcvbuf` and
    /// send-buffer expansion). Setting a buffer size on a socket turns it off there.
    pub auto_tune: bool,
    /// Ceiling of receive-buffer auto-tuning (Linux `tcp_rmem[2]` is 6 MiB; a 1 Gbit/s
    /// × 100 ms path needs 12.5 MB, so the default is 32 MiB).
    pub recv_buffer_max: usize,
    /// Ceiling of send-buffer auto-tuning (Linux `tcp_wmem[2]` is 4 MiB; 32 MiB here
    /// for the same reason).
    pub send_buffer_max: usize,
    /// Keepalive (RFC 1122 §4.2.3.6): off by default, like Linux.
    pub keepalive: Option<Keepalive>,
    /// Most connections (every state but TIME-WAIT, half-open ones included). A
    /// `connect` beyond it fails with [`crate::ConnectError::TooManyConnections`]; a
    /// SYN beyond it is dropped and counted (`drop_conn_limit`). Linux bounds sockets
    /// per process by `RLIMIT_NOFILE`; 262,144 matches `tcp_max_tw_buckets`.
    pub max_connections: usize,
    /// Most half-open (SYN-RECEIVED) connections across all listeners. Beyond it a
    /// SYN is answered with a cookie (unless cookies are off: dropped, counted). Like
    /// gVisor's global `SynRcvdCountThreshold`; Linux bounds only per listener.
    pub max_half_open: usize,
    /// Most orphans — connections the application closed that are still sending or
    /// closing. Closing one more resets it at once (Linux `tcp_max_orphans`, which
    /// scales with memory: 65,536 at 4 GiB; counted `orphans_reset`).
    pub max_orphans: usize,
    /// Most events waiting for [`crate::Stack::poll_event`]. One more is dropped and
    /// counted (`events_dropped`), like an inotify queue overflow: an application
    /// that never drains events costs bounded memory, and one that finds the
    /// counter moved must re-check its sockets. 0 turns events off. Default 16,384
    /// (about 1.5 MiB).
    pub max_events: usize,
    /// Bytes queued in all connections' buffers (send, receive, out of order) above
    /// which the stack is under memory pressure: receive windows open by at most
    /// 4·MSS and auto-tuning stops growing buffers (Linux `tcp_mem[1]` and
    /// `tcp_clamp_window`). Default 768 MiB.
    pub mem_pressure: usize,
    /// Bytes queued above which incoming data that cannot be delivered straight to
    /// an empty receive queue is dropped (counted `drop_memory`) and `send` takes no
    /// more (Linux `tcp_mem[2]`). Default 1 GiB.
    pub mem_max: usize,
    /// Retransmissions (and zero-window probes) an orphan — a connection the
    /// application has closed — gets before it is dropped (Linux
    /// `tcp_orphan_retries`, whose 0 means 8).
    pub orphan_retries: u32,
    /// How long a connection the application has closed may wait in FIN-WAIT-2 for
    /// the peer's FIN (Linux `tcp_fin_timeout` = 60 s; RFC 9293 leaves it open).
    pub fin_wait_2_timeout: Duration,
    /// SYN cookies (RFC 4987): when a listener's SYN queue is full (Linux
    /// `tcp_syncookies = 1`, the default), always, or never.
    pub syn_cookies: SynCookies,
    /// Give up when data stays unacknowledged this long (RFC 9293 USER TIMEOUT,
    /// RFC 5482; Linux `TCP_USER_TIMEOUT`). None: only `data_retries` limits.
    pub user_timeout: Option<Duration>,
}

/// When a listener answers SYNs with cookies instead of remembering them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SynCookies {
    /// Never: a full SYN queue drops SYNs.
    Off,
    /// When the SYN queue is full (Linux `tcp_syncookies = 1`).
    #[default]
    WhenFull,
    /// For every SYN (Linux `tcp_syncookies = 2`).
    Always,
}

/// Keepalive timing (Linux `tcp_keepalive_time`, `_intvl`, `_probes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (Linux 7200 s; RFC 1122 ≥ 2 hours).
    pub idle: Duration,
    /// Time between unanswered probes (Linux 75 s).
    pub interval: Duration,
    /// Unanswered probes before the connection is declared dead (Linux 9).
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            count: 9,
        }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            msl: Duration::from_secs(30),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            initial_rto: Duration::from_secs(1),
            syn_retries: 6,
            synack_retries: 5,
            data_retries: 15,
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            mss: 1460,
            nodelay: false,
            delayed_ack: Duration::from_millis(40),
            max_time_wait: 262_144,
            somaxconn: 4096,
            max_syn_backlog: 1024,
            ephemeral_ports: 32768..=60999,
            abort_on_overflow: false,
            time_wait_reuse: true,
            challenge_ack_limit: 1000,
            window_scaling: true,
            timestamps: true,
            sack: true,
            hop_limit: 64,
            congestion: crate::tcp::congestion::Algorithm::Cubic,
            pacing: true,
            pacing_max_lag: crate::tcp::pacing::MAX_LAG,
            header_prediction: true,
            keep_payload_min: 4096,
            transmit_fast_path: true,
            frto: true,
            slow_start_after_idle: true,
            auto_tune: true,
            recv_buffer_max: 32 << 20,
            send_buffer_max: 32 << 20,
            keepalive: None,
            user_timeout: None,
            syn_cookies: SynCookies::WhenFull,
            fin_wait_2_timeout: Duration::from_secs(60),
            orphan_retries: 8,
            max_connections: 262_144,
            max_half_open: 4096,
            max_orphans: 65_536,
            max_events: 16_384,
            mem_pressure: 768 << 20,
            mem_max: 1 << 30,
        }
    }
}

/// A configuration value out of range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.reason)
    }
}

impl TcpConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, reason| Err(ConfigError { field, reason });
        if self.min_rto.is_zero() || self.min_rto > self.max_rto {
            return err("min_rto", "must be non-zero and at most max_rto");
        }
        if self.initial_rto < self.min_rto || self.initial_rto > self.max_rto {
            return err("initial_rto", "must lie within [min_rto, max_rto]");
        }
        if self.mss < 88 {
            return err("mss", "must be at least 88 (RFC 9293 §3.7.1 minimum IPv4 MTU 576 allows 536; 88 is the absolute floor)");
        }
        if self.send_buffer < usize::from(self.mss) || self.recv_buffer < usize::from(self.mss) {
            return err("send_buffer/recv_buffer", "must hold at least one MSS");
        }
        if self.recv_buffer > (1 << 30) {
            return err(
                "recv_buffer",
                "must be at most 1 GiB (RFC 7323 §2.3 window limit)",
            );
        }
        if self.ephemeral_ports.is_empty() || *self.ephemeral_ports.start() == 0 {
            return err(
                "ephemeral_ports",
                "must be a non-empty range not containing 0",
            );
        }
        if self.somaxconn == 0 || self.max_syn_backlog == 0 {
            return err("somaxconn/max_syn_backlog", "must be at least 1");
        }
        if self.auto_tune
            && (self.recv_buffer_max < self.recv_buffer || self.send_buffer_max < self.send_buffer)
        {
            return err(
                "recv_buffer_max/send_buffer_max",
                "must be at least recv_buffer/send_buffer",
            );
        }
        if self.recv_buffer_max > (1 << 30) {
            return err(
                "recv_buffer_max",
                "must be at most 1 GiB (RFC 7323 §2.3 window limit)",
            );
        }
        if let Some(k) = self.keepalive {
            if k.idle.is_zero() || k.interval.is_zero() || k.count == 0 {
                return err("keepalive", "idle, interval and count must be non-zero");
            }
        }
        if self.user_timeout.is_some_and(|t| t.is_zero()) {
            return err("user_timeout", "must be non-zero");
        }
        if self.max_connections == 0 || self.max_half_open == 0 || self.max_orphans == 0 {
            return err(
                "max_connections/max_half_open/max_orphans",
                "must be at least 1",
            );
        }
        if self.mem_pressure == 0 || self.mem_pressure > self.mem_max {
            return err("mem_pressure", "must be non-zero and at most mem_max");
        }
        if self.orphan_retries == 0 {
            return err(
                "orphan_retries",
                "must be at least 1 (Linux's 0 means 8: write 8)",
            );
        }
        if self.hop_limit == 0 {
            return err("hop_limit", "must be at least 1");
        }
        Ok(())
    }

    /// Sets the MSL (TIME-WAIT lasts twice this).
    ///
    /// # Errors
    /// If `msl` is zero.
    pub fn set_msl(&mut self, msl: Duration) -> Result<(), ConfigError> {
        if msl.is_zero() {
            return Err(ConfigError {
                field: "msl",
                reason: "must be non-zero",
            });
        }
        self.msl = msl;
        Ok(())
    }

    /// Sets the ephemeral port range.
    ///
    /// # Errors
    /// If the range is empty or contains port 0.
    pub fn set_ephemeral_ports(&mut self, ports: RangeInclusive<u16>) -> Result<(), ConfigError> {
        let old = core::mem::replace(&mut self.ephemeral_ports, ports);
        let r = self.validate();
        if r.is_err() {
            self.ephemeral_ports = old;
        }
        r
    }

    /// The window-scale shift we offer: the smallest that lets the window field
    /// cover the receive buffer (RFC 7323 §2.3: at most 14).
    pub fn rcv_wscale(&self) -> u8 {
        if !self.window_scaling {
            return 0;
        }
        let biggest = if self.auto_tune {
            self.recv_buffer.max(self.recv_buffer_max)
        } else {
            self.recv_buffer
        };
        let mut shift = 0u8;
        while shift < 14 && (biggest >> shift) > 65535 {
            shift += 1;
        }
        shift
    }
}

/// Everything a [`crate::Stack`] needs from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackConfig {
    /// Protocol tunables.
    pub tcp: TcpConfig,
    /// Secret key of the ISN generator (RFC 6528 §3) and of the demux hash.
    /// Use fresh OS randomness in production; a fixed value in simulation.
    pub secret: [u8; 16],
    /// Seed of the stack's pseudo-random choices (ephemeral port, challenge-ACK jitter).
    pub seed: u64,
}

impl StackConfig {
    /// A configuration with default tunables and the given randomness.
    pub fn new(secret: [u8; 16], seed: u64) -> Self {
        Self {
            tcp: TcpConfig::default(),
            secret,
            seed,
        }
    }

    /// A deterministic configuration derived from one seed (for simulation and tests).
    pub fn from_seed(seed: u64) -> Self {
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&seed.to_le_bytes());
        secret[8..].copy_from_slice(&(!seed).rotate_left(17).to_le_bytes());
        Self::new(secret, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert_eq!(TcpConfig::default().validate(), Ok(()));
    }

    #[test]
    fn invalid_values_are_rejected_with_their_field() {
        type Mutate = fn(&mut TcpConfig);
        let cases: [(&str, Mutate); 10] = [
            ("min_rto", |c| c.min_rto = Duration::ZERO),
            ("initial_rto", |c| c.initial_rto = Duration::from_millis(1)),
            ("mss", |c| c.mss = 10),
            ("ephemeral_ports", |c| c.ephemeral_ports = 0..=10),
            ("hop_limit", |c| c.hop_limit = 0),
            ("max_connections/max_half_open/max_orphans", |c| {
                c.max_connections = 0;
            }),
            ("max_connections/max_half_open/max_orphans", |c| {
                c.max_orphans = 0;
            }),
            ("mem_pressure", |c| c.mem_pressure = 0),
            ("mem_pressure", |c| c.mem_pressure = c.mem_max + 1),
            ("orphan_retries", |c| c.orphan_retries = 0),
        ];
        for (field, mutate) in cases {
            let mut c = TcpConfig::default();
            mutate(&mut c);
            assert_eq!(c.validate().map_err(|e| e.field), Err(field));
        }
    }

    #[test]
    fn setter_keeps_old_value_on_error() {
        let mut c = TcpConfig::default();
        #[allow(clippy::reversed_empty_ranges)]
        let bad = 10..=5;
        assert!(c.set_ephemeral_ports(bad).is_err());
        assert_eq!(c.ephemeral_ports, 32768..=60999);
    }

    #[test]
    fn window_scale_covers_buffer() {
        let mut c = TcpConfig {
            recv_buffer: 65535,
            auto_tune: false,
            ..TcpConfig::default()
        };
        assert_eq!(c.rcv_wscale(), 0);
        c.recv_buffer = 256 * 1024;
        assert_eq!(c.rcv_wscale(), 3);
        c.recv_buffer = 1 << 30;
        assert_eq!(c.rcv_wscale(), 14);
        c.window_scaling = false;
        assert_eq!(c.rcv_wscale(), 0);
        // With auto-tuning the shift must cover the largest the buffer may grow to.
        let c = TcpConfig::default();
        assert_eq!(c.rcv_wscale(), 10, "a 32 MiB ceiling needs shift 10");
    }
}
