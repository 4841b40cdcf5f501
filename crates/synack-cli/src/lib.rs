//! The `synack` command-line tool.
//!
//! `synack sim [SCENARIO] [OPTIONS]` runs two synack stacks, a client (10.0.0.1)
//! and a server (10.0.0.2, port 80), over a simulated link in virtual time and
//! shows every segment and every state change: as a ladder diagram, as JSON lines
//! (`--json`), as a pcap capture (`--pcap`) and as a time–sequence graph
//! (`--svg`), and as a self-contained HTML report (`--html FILE`, or
//! `--html-gallery DIR` for every scenario). Each scenario checks its own expected outcome; the exit status is 0
//! when it is as expected, 1 when not, 2 for bad arguments.
//!
//! `synack sim syn-flood` floods a listener with spoofed SYNs while legitimate
//! clients transfer; `synack sim swarm --seeds N` runs the swarm simulation.
//!
//! `synack diagram` draws the RFC 9293 state diagram from the core's transition
//! table, optionally with the path each endpoint of a scenario took.
//!
//! `synack bench` (default feature `bench`) runs the benchmark suite of the
//! `synack-bench` crate: synack against smoltcp and Linux loopback, as a table or
//! JSON lines (`--json`).
//!
//! `synack serve`, `synack connect` and `synack ss` put synack on a real TUN
//! device ([`net`]): serve an app to the kernel's TCP, transfer to a kernel
//! server with goodput and SHA-256, and list the sockets of every running
//! instance like `ss -tani`.
//!
//! The logic lives here so tests can run it in-process with [`run`]; the binary
//! is a thin wrapper.
//!
//! ```
//! let mut out = Vec::new();
//! let mut err = Vec::new();
//! let code = synack_cli::run(["synack", "sim", "handshake", "--json"], &mut out, &mut err, false);
//! assert_eq!(code, 0);
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.lines().last().unwrap().contains(r#""ok":true"#));
//! ```

#[cfg(feature = "bench")]
pub mod bench;
pub mod cli;
pub mod scenario;
pub mod sim;
pub mod units;

mod data;
mod diagram;
pub mod flood;
mod html;
mod human;
pub mod net;
mod record;
mod scenarios;
mod svg;
pub mod swarm;
mod world;
mod xml;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

pub use cli::{Cli, Command, DiagramArgs, DiagramFormat, SimArgs, SimOptions, SimTool};
pub use scenario::Scenario;
pub use sim::{run_sim, Summary, EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Runs the command line `args` (the program name first), writing results to
/// `out` and diagnostics to `err`; returns the exit status. A progress bar is
/// drawn on the process's stderr only if `stderr_is_terminal` (and the run is
/// long, and neither `--quiet` nor `--json` was given).
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, stderr_is_terminal: bool) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let text = e.render().to_string();
            let code = e.exit_code();
            if e.use_stderr() {
                let _ = write!(err, "{text}");
            } else {
                let _ = write!(out, "{text}");
            }
            return code;
        }
    };
    match cli.command {
        Command::Sim(SimArgs {
            tool: Some(SimTool::SynFlood(a)),
            ..
        }) => flood::run(&a, out, err),
        Command::Sim(SimArgs {
            tool: Some(SimTool::Swarm(a)),
            ..
        }) => swarm::run(&a, out, err),
        Command::Sim(args) => run_sim(&SimOptions::new(args, stderr_is_terminal), out, err),
        Command::Diagram(args) => diagram::run(&args, out, err),
        #[cfg(feature = "bench")]
        Command::Bench(args) => bench::run(&args, out, err),
        Command::Serve(args) => net::serve::run(&args, out, err),
        Command::Connect(args) => net::connect::run(&args, out, err, stderr_is_terminal),
        Command::Ss(args) => net::ss::run(&args, out, err),
    }
}
