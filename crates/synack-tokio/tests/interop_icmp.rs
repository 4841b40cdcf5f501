//! ICMP errors from the Linux kernel reaching synack's TCP: the kernel, routing
//! for synack inside the test namespace, answers with host unreachable (an
//! `unreachable` route), administratively prohibited (a `prohibit` route) and
//! fragmentation needed (a next hop with a 1000-byte MTU, in a second namespace).
//! Every address involved lives in the test's namespaces (DESIGN.md §6).
//!
//! Needs root: prints `skipped: needs root` otherwise, fails if `CI` is set.

mod common;

use std::io::ErrorKind;

use common::*;
use synack_tokio::apps::SeededBytes;
use synack_tokio::TcpStream;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

fn sysctl(ns: &Ns, kv: &str) {
    let st = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "sysctl", "-qw", kv])
        .status()
        .expect("sysctl");
    assert!(st.success(), "sysctl {kv}");
}

#[test]
fn connecting_through_unreachable_and_prohibited_routes_fails_fast_with_host_unreachable() {
    if !can_run(&["sysctl"]) {
        return;
    }
    let netns = Netns::new();
    sysctl(&netns, "net.ipv4.ip_forward=1");
    sysctl(&netns, "net.ipv6.conf.all.forwarding=1");
    // Test-only ranges (RFC 2544, RFC 3849), routed nowhere: the kernel answers.
    netns.ip(&["route", "add", "unreachable", "198.18.0.0/24"]);
    netns.ip(&["route", "add", "prohibit", "198.18.1.0/24"]);
    netns.ip(&["-6", "route", "add", "unreachable", "2001:db8:99::/64"]);
    netns.run(*LIMIT, |_| async move {
        let iface = iface().await;
        let t = std::time::Instant::now();
        for (target, want) in [
            ("198.18.0.5", ErrorKind::HostUnreachable),
            ("198.18.1.5", ErrorKind::HostUnreachable),
            // ip6_pkt_discard sends "no route to destination" (code 0).
            ("2001:db8:99::5", ErrorKind::NetworkUnreachable),
        ] {
            let e = TcpStream::connect(&iface, addr(target, 80))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), want, "{target}: {e}");
        }
        // Without ICMP each would wait out the SYN retries (minutes).
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
        let c = iface.counters();
        assert_eq!(c.icmp_connect_aborts, 3, "{c:?}");
        assert_eq!(c.drop_icmp_out_of_window + c.drop_icmp_malformed, 0);
    });
}

const PY_SINK: &str = include_str!("py/sink.py");

/// synack (MTU 1500) uploads to a Linux server one hop further, through the
/// kernel as a router whose next hop has MTU 1000: the kernel answers the first
/// full-sized segments with fragmentation needed (DF is set), synack lowers its
/// MSS and resends, and the upload arrives intact.
#[test]
fn a_smaller_mtu_hop_behind_the_kernel_lowers_synack_mss_via_frag_needed() {
    if !can_run(&["python3", "sysctl"]) {
        return;
    }
    let a = Netns::new();
    let b = Netns::new();
    sysctl(&a, "net.ipv4.ip_forward=1");
    a.ip(&[
        "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", &b.name,
    ]);
    a.ip(&["addr", "add", "198.19.0.1/24", "dev", "veth0"]);
    b.ip(&["addr", "add", "198.19.0.2/24", "dev", "veth1"]);
    a.ip(&["link", "set", "veth0", "mtu", "1000", "up"]);
    b.ip(&["link", "set", "veth1", "up"]);
    b.ip(&["route", "add", "default", "via", "198.19.0.1"]);
    let server: Ns = (*b).clone();
    a.run(*LIMIT, move |_| async move {
        let iface = iface().await;
        let mut py = server.command("python3");
        py.args(["-c", PY_SINK, "198.19.0.2", "5001"]);
        py.stdout(std::process::Stdio::piped());
        let mut child = py.spawn().expect("python");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(
            lines.next_line().await.unwrap().as_deref(),
            Some("listening")
        );
        let mut s = TcpStream::connect(&iface, addr("198.19.0.2", 5001))
            .await
            .expect("connect");
        let n = 4 * MIB;
        for chunk in SeededBytes::new(n) {
            s.write_all(&chunk).await.expect("write");
        }
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        let got = lines.next_line().await.unwrap().expect("python result");
        assert_eq!(got, format!("{n} {}", seeded_sha256(n)));
        let info = s.info().expect("info");
        // 1000 - 20 (IPv4) - 20 (TCP) - 12 (timestamps).
        assert_eq!(info.mss, 948, "{info:?}");
        let c = iface.counters();
        assert!(c.icmp_mtu_lowered >= 1, "{c:?}");
        assert_eq!(c.drop_icmp_out_of_window, 0, "{c:?}");
        assert!(child.wait().await.unwrap().success());
    });
}
