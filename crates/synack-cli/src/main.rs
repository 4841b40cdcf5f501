//! `synack`: the command-line tool. Everything happens in [`synack_cli::run`].

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

/// Counts allocations for `synack bench idle` (heap bytes per connection). The
/// cost is a few relaxed atomic additions per allocation, negligible next to the
/// allocation itself, and the counts are only read by `synack bench`.
#[cfg(feature = "bench")]
#[global_allocator]
static GLOBAL: &synack_bench::StatsAlloc<std::alloc::System> = &synack_bench::INSTRUMENTED_SYSTEM;

fn main() -> ExitCode {
    let tty = io::stderr().is_terminal();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = synack_cli::run(std::env::args_os(), &mut out, &mut io::stderr(), tty);
    let flushed = out.flush();
    match (code, flushed) {
        (0, Err(_)) => ExitCode::from(2),
        (c, _) => ExitCode::from(u8::try_from(c).unwrap_or(2)),
    }
}
