use std::time::Duration;

use super::*;

#[test]
fn cidrs_parse_and_bad_ones_say_why() {
    let c: Cidr = "10.7.0.2/24".parse().unwrap();
    assert_eq!((c.addr, c.prefix), ("10.7.0.2".parse().unwrap(), 24));
    let c: Cidr = "fd00:7::2/64".parse().unwrap();
    assert_eq!(c.prefix, 64);
    let err = |s: &str| s.parse::<Cidr>().unwrap_err();
    assert!(err("10.7.0.2").contains("ADDRESS/PREFIX"));
    assert!(err("10.7.0.300/24").contains("not an IPv4 or IPv6"));
    assert!(err("10.7.0.2/33").contains("0 to 32"));
    assert!(err("10.7.0.2/x").contains("0 to 32"));
    assert!(err("10.7.0.2/31").contains("no room"));
    assert!(err("fd00::2/127").contains("no room"));
    // The network address, the kernel's (first host) and the broadcast address.
    assert!(err("10.7.0.0/24").contains("e.g. 10.7.0.2/24"));
    assert!(err("10.7.0.1/24").contains("first host"));
    assert!(err("10.7.0.255/24").contains("broadcast"));
    assert!(err("fd00:7::1/64").contains("e.g. fd00:7::2/64"));
    assert!("10.7.0.2/30".parse::<Cidr>().is_ok());
}

#[test]
fn impairments_parse() {
    let i = parse_impair("loss=2%,delay=5ms,jitter=1ms,rate=100Mbit,queue=50,seed=7").unwrap();
    let l = i.inbound.clone().unwrap();
    assert_eq!(l.loss, Loss::Bernoulli(0.02));
    assert_eq!(l.delay, Duration::from_millis(5));
    assert_eq!(l.jitter, Duration::from_millis(1));
    assert_eq!(l.rate_bps, Some(100_000_000));
    assert_eq!(l.queue_packets, 50);
    assert_eq!(i.outbound, i.inbound);
    assert_eq!(i.seed, 7);
    let d = parse_impair("loss=1%").unwrap().inbound.unwrap();
    assert_eq!(d.delay, Duration::ZERO, "no delay unless asked");
    assert!(parse_impair("loss=200%").unwrap_err().contains("loss"));
    assert!(parse_impair("bogus=1")
        .unwrap_err()
        .contains("unknown knob"));
    assert!(parse_impair("loss").unwrap_err().contains("KEY=VALUE"));
    assert!(parse_impair("queue=0").unwrap_err().contains("queue"));
}

#[test]
fn tun_names_are_checked() {
    assert!(check_tun_name("syn0").is_ok());
    assert!(check_tun_name("").is_err());
    assert!(check_tun_name("a-name-too-long-for-linux").is_err());
    assert!(check_tun_name("a/b").is_err());
    assert!(check_tun_name("a b").is_err());
}

fn run(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = crate::run(args.iter().copied(), &mut out, &mut err, false);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn bad_command_lines_fail_with_a_message_before_touching_the_network() {
    let (code, _, err) = run(&[
        "synack",
        "serve",
        "--tun",
        "t0",
        "--addr",
        "10.7.0.1/24",
        "--port",
        "80",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("first host"), "{err}");
    let (code, _, err) = run(&["synack", "serve", "--tun", "t0", "--port", "80"]);
    assert_eq!(code, 2);
    assert!(err.contains("--addr or --addr6 is required"), "{err}");
    let (code, _, err) = run(&[
        "synack",
        "serve",
        "--tun",
        "t0",
        "--addr",
        "fd00::2/64",
        "--port",
        "80",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("use --addr6"), "{err}");
    let (code, _, err) = run(&[
        "synack",
        "serve",
        "--tun",
        "t0",
        "--addr",
        "10.7.0.2/24",
        "--port",
        "80",
        "--app",
        "ftp",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown app"), "{err}");
    let (code, _, err) = run(&[
        "synack",
        "connect",
        "--tun",
        "t0",
        "--addr",
        "10.7.0.2/24",
        "10.7.0.1:80",
        "--send-file",
        "/nonexistent/file",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/file"), "{err}");
    let (code, _, _) = run(&["synack", "connect", "--tun", "t0", "10.7.0.1:80"]);
    assert_eq!(code, 2, "--addr is required");
}

#[test]
fn ss_with_no_instances_prints_only_the_header() {
    let dir = std::env::temp_dir().join(format!("synack-ss-empty-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let (code, out, err) = run(&["synack", "ss", "--dir", d]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("State"));
    let (code, out, _) = run(&["synack", "ss", "--json", "--dir", d]);
    assert_eq!((code, out.as_str()), (0, ""));
}
