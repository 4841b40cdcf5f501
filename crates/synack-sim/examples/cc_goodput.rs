//! Goodput of each congestion-control setup under random loss, next to the
//! Mathis et al. estimate for Reno (MSS/RTT · sqrt(3/2) / sqrt(p)), then the
//! acceptance run: BBR moving 256 MiB at 1% loss, against the link rate.
//!
//! `cargo run --release -p synack-sim --example cc_goodput [BYTES]`
//!
//! Path: 1 Gbit/s, 2 ms RTT, a 1,000-packet queue, i.i.d. loss in both
//! directions. Each cell is the median of three seeds.

use std::time::Duration;

use synack::{Algorithm, Instant, TcpConfig};
use synack_sim::harness::net;
use synack_sim::{LinkConfig, Loss};

fn goodput(cfg: &TcpConfig, p: f64, bytes: u64, seed: u64) -> f64 {
    let link = LinkConfig::default()
        .delay(Duration::from_millis(1))
        .rate(1_000_000_000, 1000)
        .loss(Loss::Bernoulli(p));
    let mut n = net(seed, link.clone(), link, cfg.clone(), cfg.clone());
    n.sim.set_record(false);
    let (c, s) = n.connect();
    let o = n.bulk(c, s, bytes, Duration::from_secs(3600), Instant::ZERO);
    assert!(
        o.intact && o.delivered == bytes,
        "seed={seed} p={p}: transfer incomplete: {o:?}"
    );
    o.goodput_bps().unwrap_or(0.0)
}

fn main() {
    let bytes: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64 << 20);
    let setups = [
        (
            "cubic+sack",
            TcpConfig {
                congestion: Algorithm::Cubic,
                ..TcpConfig::default()
            },
        ),
        (
            "newreno+sack",
            TcpConfig {
                congestion: Algorithm::NewReno,
                ..TcpConfig::default()
            },
        ),
        (
            "cubic, unpaced",
            TcpConfig {
                congestion: Algorithm::Cubic,
                pacing: false,
                ..TcpConfig::default()
            },
        ),
        (
            "bbr",
            TcpConfig {
                congestion: Algorithm::Bbr,
                ..TcpConfig::default()
            },
        ),
        (
            "newreno, no sack",
            TcpConfig {
                congestion: Algorithm::NewReno,
                sack: false,
                ..TcpConfig::default()
            },
        ),
    ];
    println!("{bytes} bytes over 1 Gbit/s, 2 ms RTT; goodput in Mbit/s (median of 3 seeds)");
    println!(
        "{:<18} {:>8} {:>10} {:>8}",
        "setup", "loss", "goodput", "/Mathis"
    );
    for p in [0.001f64, 0.01, 0.05] {
        let mathis = 1448.0 * 8.0 / 0.002 * 1.5f64.sqrt() / p.sqrt();
        println!(
            "{:<18} {:>7.1}% {:>10.1} {:>8}",
            "Mathis (Reno)",
            p * 100.0,
            mathis / 1e6,
            "1.00"
        );
        for (name, cfg) in &setups {
            let mut runs: Vec<f64> = (1..=3).map(|seed| goodput(cfg, p, bytes, seed)).collect();
            runs.sort_by(f64::total_cmp);
            let g = runs[1];
            println!(
                "{:<18} {:>7.1}% {:>10.1} {:>8.2}",
                name,
                p * 100.0,
                g / 1e6,
                g / mathis
            );
        }
    }
    let big: u64 = 256 << 20;
    let bbr = TcpConfig {
        congestion: Algorithm::Bbr,
        ..TcpConfig::default()
    };
    let mut runs: Vec<f64> = (1..=3).map(|seed| goodput(&bbr, 0.01, big, seed)).collect();
    runs.sort_by(f64::total_cmp);
    println!(
        "bbr, {big} bytes at 1% loss: {:.1} Mbit/s median of 3 seeds ({:.1}..{:.1}) = {:.0}% of the 1 Gbit/s link, every byte intact",
        runs[1] / 1e6,
        runs[0] / 1e6,
        runs[2] / 1e6,
        runs[1] / 1e9 * 100.0
    );
}
