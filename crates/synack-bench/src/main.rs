//! `synack-bench`: runs the benchmark suite and prints a table, or JSON lines with
//! `--json`. See the library for what each bench measures; `synack bench` is the
//! same command inside the `synack` tool.

use std::process::ExitCode;

use synack_bench::{StatsAlloc, INSTRUMENTED_SYSTEM};

/// Counts every allocation, for the `idle` bench (and allocations per segment).
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = synack_bench::main_with(&args, &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
