//! Runs the per-segment path alone, for profilers:
//! `valgrind --tool=callgrind target/release/examples/path_profile [synack|smoltcp] [STEPS]`
//! gives repeatable instruction counts per segment (divide by STEPS).

use synack_bench::path::{SmolPath, SynPath};

fn main() {
    let mut args = std::env::args().skip(1);
    let smoltcp = args.next().as_deref() == Some("smoltcp");
    let steps: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let mut bytes = 0u64;
    if smoltcp {
        let mut p = SmolPath::new(1500);
        for _ in 0..steps {
            bytes += p.step() as u64;
        }
    } else {
        let mut p = SynPath::new(1500);
        for _ in 0..steps {
            bytes += p.step() as u64;
        }
    }
    println!("{steps} segments, {bytes} bytes");
}
