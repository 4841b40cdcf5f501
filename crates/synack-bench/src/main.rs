//! `synack-bench`: runs the benchmark suite and prints a table, or JSON lines with
//! `--json`. See the library for what each bench measures.

use std::process::ExitCode;

use synack_bench::{Bench, BenchOptions, StatsAlloc, INSTRUMENTED_SYSTEM};

/// Counts every allocation, for the `idle` bench (and allocations per segment).
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const USAGE: &str = "usage: synack-bench [BENCH...] [--json] [--quick] [--reps N]
    [--bytes N] [--mtu N]... [--buffer N] [--concurrency N]... [--cycles N]
    [--idle N]... [--smoltcp-max-concurrency N] [--smoltcp-max-idle N]
    [--only synack|smoltcp] [-v]
benches: bulk connections idle linux (default: all)";

fn parse(args: &[String]) -> Result<(BenchOptions, bool), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = if quick {
        BenchOptions::quick()
    } else {
        BenchOptions::default()
    };
    let (mut json, mut benches) = (false, Vec::new());
    let (mut mtus, mut conc, mut idle) = (Vec::new(), Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = || -> Result<u64, String> {
            let v = it.next().ok_or(format!("{a} needs a value"))?;
            v.replace('_', "")
                .parse()
                .map_err(|_| format!("{a}: not a number: {v}"))
        };
        match a.as_str() {
            "--json" => json = true,
            "--quick" => {}
            "-v" | "--verbose" => o.verbose = true,
            "--reps" => o.reps = num()? as usize,
            "--bytes" => o.bulk_bytes = num()?,
            "--mtu" => mtus.push(num()? as usize),
            "--buffer" => o.bulk_buffer = Some(num()? as usize),
            "--concurrency" => conc.push(num()? as usize),
            "--cycles" => o.cycles = num()?,
            "--idle" => idle.push(num()? as usize),
            "--smoltcp-max-concurrency" => o.smoltcp_max_concurrency = num()? as usize,
            "--smoltcp-max-idle" => o.smoltcp_max_idle = num()? as usize,
            "--only" => match it.next().map(String::as_str) {
                Some("synack") => o.smoltcp = false,
                Some("smoltcp") => o.synack = false,
                _ => return Err("--only takes synack or smoltcp".into()),
            },
            "-h" | "--help" => return Err(USAGE.into()),
            b => benches.push(Bench::parse(b).ok_or(format!("unknown bench {b}\n{USAGE}"))?),
        }
    }
    if mtus.iter().any(|&m| !(576..=65535).contains(&m)) {
        return Err("--mtu must lie in 576..=65535".into());
    }
    if !benches.is_empty() {
        o.benches = benches;
    }
    for (dst, v) in [
        (&mut o.mtus, mtus),
        (&mut o.concurrency, conc),
        (&mut o.idle_counts, idle),
    ] {
        if !v.is_empty() {
            *dst = v;
        }
    }
    Ok((o, json))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (opts, json) = match parse(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rows = synack_bench::run(opts);
    if json {
        // stdout carries the JSON lines and nothing else; the table goes to stderr.
        eprint!("{}", synack_bench::to_table(&rows));
        print!("{}", synack_bench::to_json_lines(&rows));
    } else {
        print!("{}", synack_bench::to_table(&rows));
    }
    ExitCode::SUCCESS
}
