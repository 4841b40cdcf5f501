//! Network namespaces for interop tests (DESIGN.md §6): every test makes its own
//! namespace, runs synack and the Linux peers inside it, bounds everything in time,
//! and deletes the namespace on every path (a Drop guard).
#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use synack_tokio::apps::{self, App, SeededBytes};
use synack_tokio::{Interface, TcpListener};

/// Taken shared by every test run, exclusively by [`Netns::run_alone`].
static ALONE: RwLock<()> = RwLock::new(());

/// synack's addresses and the kernel's on the TUN.
pub const SYNACK_V4: &str = "10.7.0.2";
pub const KERNEL_V4: &str = "10.7.0.1";
pub const SYNACK_V6: &str = "fd00:7::2";
pub const KERNEL_V6: &str = "fd00:7::1";

/// True if the test can run. Otherwise prints `skipped: needs root` and returns
/// false, or panics when `CI` is set (a missing capability is a failure in CI).
pub fn can_run(tools: &[&str]) -> bool {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root".to_string());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun".to_string());
    }
    for t in std::iter::once(&"ip").chain(tools) {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            missing.push((*t).to_string());
        }
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("needs root, ip and tools: missing {}", missing.join(", "));
    if std::env::var_os("CI").is_some() {
        panic!("CI is set and this test {msg}");
    }
    println!("skipped: {msg}");
    false
}

/// A network namespace, deleted on drop. Derefs to [`Ns`] for running commands.
#[derive(Debug)]
pub struct Netns {
    ns: Ns,
}

/// The name of a namespace, for running commands in it (cheap to clone).
#[derive(Clone, Debug)]
pub struct Ns {
    pub name: String,
}

impl std::ops::Deref for Netns {
    type Target = Ns;
    fn deref(&self) -> &Ns {
        &self.ns
    }
}

impl Netns {
    /// `ip netns add synack-test-<pid>-<n>-<random>`.
    pub fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let mut r = [0u8; 4];
        getrandom::fill(&mut r).expect("OS randomness");
        let name = format!(
            "synack-test-{}-{}-{:08x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            u32::from_le_bytes(r)
        );
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(st.success(), "ip netns add {name} failed");
        let ns = Self { ns: Ns { name } };
        // Loopback up, for peers that talk to themselves.
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `f` on a tokio runtime whose threads live in this namespace (TUN devices
    /// and sockets they create are inside it), with an overall time limit. Panics
    /// in `f` are propagated after the runtime is gone.
    pub fn run<F, Fut>(&self, limit: Duration, f: F)
    where
        F: FnOnce(Ns) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let _shared = ALONE.read().unwrap_or_else(PoisonError::into_inner);
        self.run_inner(limit, f);
    }

    /// Like [`Netns::run`], with no other test of this binary running meanwhile
    /// (for measurements that CPU contention would disturb).
    pub fn run_alone<F, Fut>(&self, limit: Duration, f: F)
    where
        F: FnOnce(Ns) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let _alone = ALONE.write().unwrap_or_else(PoisonError::into_inner);
        self.run_inner(limit, f);
    }

    fn run_inner<F, Fut>(&self, limit: Duration, f: F)
    where
        F: FnOnce(Ns) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let path = format!("/run/netns/{}", self.name);
        let ns = self.ns.clone();
        let t = std::thread::spawn(move || {
            let file = File::open(&path).expect("open namespace");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            // Belt and braces: this thread really is in the test namespace now.
            let here = std::fs::metadata("/proc/thread-self/ns/net").expect("stat ns");
            let want = file.metadata().expect("stat ns file");
            assert_eq!((here.dev(), here.ino()), (want.dev(), want.ino()), "setns");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                tokio::time::timeout(limit, f(ns))
                    .await
                    .unwrap_or_else(|_| panic!("test timed out after {limit:?}"));
            });
            rt.shutdown_timeout(Duration::from_secs(5));
        });
        if let Err(p) = t.join() {
            std::panic::resume_unwind(p);
        }
    }
}

impl Ns {
    /// Runs `ip -n NAME args...` and asserts success.
    pub fn ip(&self, args: &[&str]) {
        let st = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .status()
            .expect("run ip");
        assert!(st.success(), "ip -n {} {args:?} failed", self.name);
    }

    /// A command run inside the namespace (`ip netns exec NAME prog`), killed if
    /// its handle is dropped.
    pub fn command(&self, prog: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("ip");
        c.args(["netns", "exec", &self.name, prog]);
        c.kill_on_drop(true);
        c
    }

    /// Runs `python3 -c script args...` in the namespace with a time limit.
    pub async fn python(&self, script: &str, args: &[&str], limit: Duration) -> Output {
        let mut c = self.command("python3");
        c.arg("-c").arg(script).args(args);
        output(c, limit).await
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes left inside (should be none: commands are kill_on_drop).
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs a command to completion with a time limit, capturing its output.
pub async fn output(mut c: tokio::process::Command, limit: Duration) -> Output {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("spawn");
    tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("command timed out after {limit:?}"))
        .expect("wait")
}

/// Stdout as text, asserting the command succeeded.
pub fn stdout_ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// ---- shared test helpers ----

pub const MIB: u64 = 1 << 20;
/// Time limit of a whole test: 3 minutes, plus a second per MiB of bulk transfer
/// beyond the default 100 (`SYNACK_TEST_MIB`).
pub static LIMIT: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_secs(180 + (bulk_bytes() >> 20).saturating_sub(100))
});
/// Time limit of one command, scaled the same way.
pub static CMD_LIMIT: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_secs(120 + (bulk_bytes() >> 20).saturating_sub(100))
});

/// Bulk transfer size: 100 MiB, or `SYNACK_TEST_MIB`.
pub fn bulk_bytes() -> u64 {
    std::env::var("SYNACK_TEST_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
        * MIB
}

pub async fn iface() -> Interface {
    iface_with(false).await
}

/// The interface, with or without TUN offload (TSO/GSO super-packets).
pub async fn iface_with(offload: bool) -> Interface {
    iface_tcp(offload, synack_tokio::TcpConfig::default()).await
}

/// [`iface_with`] with its stack's TCP tunables.
pub async fn iface_tcp(offload: bool, tcp: synack_tokio::TcpConfig) -> Interface {
    let iface = Interface::builder()
        .name("syn0")
        .ipv4(SYNACK_V4.parse().unwrap(), 24)
        .ipv6(SYNACK_V6.parse().unwrap(), 64)
        .offload(offload)
        .tcp_config(tcp)
        .build()
        .await
        .expect("create TUN interface");
    assert_eq!(iface.offload(), offload, "offload negotiated");
    iface
}

pub fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// Serves `app` on port `port` of both synack addresses.
pub fn serve(iface: &Interface, port: u16, app: App) {
    for ip in [SYNACK_V4, SYNACK_V6] {
        let l = TcpListener::bind(iface, addr(ip, port), 1024).expect("bind");
        tokio::spawn(apps::serve(l, app));
    }
}

pub fn seeded_sha256(n: u64) -> String {
    let mut h = Sha256::new();
    for chunk in SeededBytes::new(n) {
        h.update(&chunk);
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn curl(ns: &Ns, url: &str) -> Vec<u8> {
    let mut c = ns.command("curl");
    c.args(["-sS", "--fail", "-g", "-m", "110", url]);
    let o = output(c, *CMD_LIMIT).await;
    stdout_ok(&o);
    o.stdout
}

pub fn impaired(
    iface: synack_tokio::InterfaceBuilder,
    link: synack_tokio::LinkConfig,
) -> synack_tokio::InterfaceBuilder {
    iface.impair(synack_tokio::Impairment::symmetric(link, 42))
}

pub async fn impaired_iface(link: synack_tokio::LinkConfig) -> Interface {
    let b = Interface::builder()
        .name("syn0")
        .ipv4(SYNACK_V4.parse().unwrap(), 24)
        .ipv6(SYNACK_V6.parse().unwrap(), 64);
    impaired(b, link)
        .build()
        .await
        .expect("create TUN interface")
}

/// Deletes a file on drop.
pub struct TempFile(pub std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if std::env::var_os("SYNACK_KEEP_PCAP").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_file(&self.0);
    }
}
