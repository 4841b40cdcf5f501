//! The per-segment path: one MSS written, emitted, taken in and read, and the ACK
//! (every second segment) back, through two connected stacks, synack and smoltcp.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use synack_bench::path::{SmolPath, SynPath};

fn segment_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment");
    for mtu in [1500usize, 9000] {
        g.throughput(Throughput::Bytes((mtu - 40) as u64));
        let mut syn = SynPath::new(mtu);
        g.bench_function(BenchmarkId::new("synack", mtu), |b| {
            b.iter(|| assert!(syn.step() > 0));
        });
        let mut smol = SmolPath::new(mtu);
        g.bench_function(BenchmarkId::new("smoltcp", mtu), |b| {
            b.iter(|| assert!(smol.step() > 0));
        });
    }
    g.finish();
}

criterion_group!(benches, segment_path);
criterion_main!(benches);
