//! `synack bench`: the benchmark suite of the `synack-bench` crate inside the
//! `synack` tool, with the same options and output as the `synack-bench` binary.
//! The `synack` binary installs the counting allocator that the `idle` rows need.

use std::io::Write;

use clap::Args;

/// `synack bench [BENCH...] [OPTIONS]`: the arguments go to the bench suite's own
/// parser, so `synack bench` and `synack-bench` accept exactly the same ones.
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    /// Benches (bulk, connections, idle, lossy, linux; default all) and options:
    /// --json, --quick, --reps N, --bytes N, --mtu N..., --buffer N,
    /// --concurrency N..., --cycles N, --idle N..., --smoltcp-max-concurrency N,
    /// --smoltcp-max-idle N, --lossy-bytes N, --loss PERCENT..., --cc
    /// reno|cubic|bbr..., --only synack|smoltcp, -v. Build with --release.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

/// Runs the suite: a table on `out`, or with `--json` one JSON object per row on
/// `out` (and the table on `err`). Returns the exit status.
pub fn run(args: &BenchArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if args.args.iter().any(|a| a == "-h" || a == "--help") {
        let _ = writeln!(out, "usage: synack bench {}", synack_bench::USAGE);
        return 0;
    }
    synack_bench::main_with(&args.args, out, err)
}
