fn main() {
    let smol = std::env::args().nth(1).as_deref() == Some("smoltcp");
    let steps = 200_000u64;
    let mut n = 0u64;
    if smol {
        let mut p = synack_bench::path::SmolPath::new(1500);
        for _ in 0..1000 { p.step(); }
        for _ in 0..steps { n += p.step() as u64; }
    } else {
        let mut p = synack_bench::path::SynPath::new(1500);
        for _ in 0..1000 { p.step(); }
        for _ in 0..steps { n += p.step() as u64; }
    }
    println!("{n}");
}
