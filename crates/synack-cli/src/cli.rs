//! The command line: clap definitions and their translation into [`SimOptions`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use synack::Algorithm;

pub use crate::net::args::{ConnectArgs, ServeArgs, SsArgs};
use crate::scenario::Scenario;
use crate::units::{parse_duration, parse_probability, parse_rate, parse_size};

/// synack: a TCP/IP stack you can watch.
#[derive(Debug, Parser)]
#[command(name = "synack", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per process: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run two synack stacks over a simulated, impairable network in virtual time,
    /// showing every segment and state change, and check the scenario's outcome.
    Sim(SimArgs),
    /// Draw the RFC 9293 state diagram from the core's own transition table, as
    /// SVG (no Graphviz needed) or Graphviz DOT.
    Diagram(DiagramArgs),
    /// Benchmark synack against smoltcp (same process, same run) and Linux
    /// loopback: bulk, connections, idle, lossy. `synack bench --help` lists the
    /// options.
    #[cfg(feature = "bench")]
    Bench(crate::bench::BenchArgs),
    /// Create a TUN device and serve an app (echo, discard, chargen, http) on
    /// synack behind it, for the kernel's TCP to talk to.
    Serve(ServeArgs),
    /// Create a TUN device, connect from synack to HOST:PORT, transfer, and print
    /// goodput and SHA-256 of what was sent and received.
    Connect(ConnectArgs),
    /// List every socket of every running synack instance, like `ss -tani`.
    Ss(SsArgs),
}

/// What `synack diagram` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagramFormat {
    /// A standalone SVG image.
    Svg,
    /// Graphviz DOT (render with `dot -Tsvg`).
    Dot,
}

/// `synack diagram [--format svg|dot] [--highlight SCENARIO]`.
#[derive(Debug, Clone, Args)]
pub struct DiagramArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiagramFormat::Svg)]
    pub format: DiagramFormat,
    /// Run this scenario (see `synack sim --list`) and highlight and number the
    /// path each endpoint took.
    #[arg(long, value_name = "SCENARIO", value_enum, hide_possible_values = true)]
    pub highlight: Option<Scenario>,
    /// Seed of the highlighted run.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "highlight")]
    pub seed: u64,
    /// Write to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `synack sim [SCENARIO] [OPTIONS]`.
#[derive(Debug, Clone, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    allow_negative_numbers = true,
    after_help = "\
Values: P is a probability (1% or 0.01); D a duration (10ms, 1s, 250us);
R a rate (100Mbit, 1Gbit, 10kbit); sizes take 16MiB, 1GiB, 64KiB or plain bytes.
Impairments apply to both directions. Exit status: 0 when the scenario's outcome
is as expected, 1 when it is not, 2 for bad arguments."
)]
pub struct SimArgs {
    /// Runs that are not a two-host scenario: `syn-flood`, `swarm`.
    #[command(subcommand)]
    pub tool: Option<SimTool>,
    /// The scenario to run (see --list).
    #[arg(value_enum, default_value_t = Scenario::Transfer, hide_possible_values = true)]
    pub scenario: Scenario,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Seed of every random choice (links and stacks); same seed, same run.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Packet loss probability.
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub loss: Option<f64>,
    /// One-way delay.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "10ms")]
    pub delay: Duration,
    /// Extra random delay per packet, uniform in [0, D); never reorders by itself.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub jitter: Option<Duration>,
    /// Probability that a packet is held back so later ones overtake it.
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub reorder: Option<f64>,
    /// Probability that a packet is delivered twice.
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub duplicate: Option<f64>,
    /// Probability that 1 to 3 bits of a packet are flipped (checksums catch it).
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub corrupt: Option<f64>,
    /// Bottleneck rate with a tail-drop queue (default: unlimited).
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<u64>,
    /// Packets the bottleneck queue holds (with --rate).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub queue: u64,
    /// Link MTU in bytes; the stacks' MSS follows it.
    #[arg(long, value_name = "N", default_value_t = 1500, value_parser = clap::value_parser!(u64).range(128..=65_535))]
    pub mtu: u64,
    /// Bytes to move (transfer: 16MiB, zero-window: 256KiB, half-close: 64KiB).
    #[arg(long, value_name = "N", value_parser = parse_size)]
    pub bytes: Option<u64>,
    /// Congestion control algorithm.
    #[arg(long, value_name = "ALGO", default_value = "cubic", value_parser = parse_cc)]
    pub cc: Algorithm,
    /// Use IPv6 (fd00::1 and fd00::2) instead of IPv4.
    #[arg(long)]
    pub ipv6: bool,
    /// Write every packet, as it entered the link, to a pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Write a time-sequence graph (SVG) of the data, ACKs and retransmissions.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write the client's congestion window (and ssthresh) over time as an SVG,
    /// with the congestion-control phases marked.
    #[arg(long, value_name = "FILE")]
    pub cwnd_svg: Option<PathBuf>,
    /// Write a self-contained HTML report: ladder diagram, state diagram with each
    /// endpoint's path, state timeline, time-sequence graph, cwnd and RTT,
    /// parameters and summary.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Run every scenario (with these options) and write one HTML report per
    /// scenario and an index.html linking them into DIR.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["html", "pcap", "svg", "cwnd_svg", "json", "list"]
    )]
    pub html_gallery: Option<PathBuf>,
    /// Print JSON lines (state, segment, summary) on stdout and nothing else.
    #[arg(long)]
    pub json: bool,
    /// Print only the summary (with --json: only the summary line).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `synack sim syn-flood` and `synack sim swarm`.
#[derive(Debug, Clone, Subcommand)]
pub enum SimTool {
    /// A flood of spoofed SYNs (default 1,000,000) against a listener while
    /// legitimate clients (default 100) connect and transfer: cookies, every
    /// transfer checked, peak memory.
    SynFlood(crate::flood::FloodArgs),
    /// The swarm simulation: per seed, random impairments, flows, sizes and
    /// endings, checked for safety and liveness; failing seeds print their
    /// replay command.
    Swarm(crate::swarm::SwarmArgs),
}

/// Every congestion-control algorithm this build of the core knows.
pub fn known_algorithms() -> Vec<&'static str> {
    Algorithm::all().iter().map(|a| a.name()).collect()
}

fn parse_cc(s: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(s.trim()).ok_or_else(|| {
        format!(
            "unknown congestion control {s:?}; known: {}",
            known_algorithms().join(", ")
        )
    })
}

/// A validated `synack sim` request.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The parsed arguments.
    pub args: SimArgs,
    /// Bytes the scenario moves (`--bytes` or the scenario's default).
    pub bytes: u64,
    /// The command line that replays this run (`synack sim transfer --seed 1 ...`).
    pub replay: String,
    /// Draw a progress bar on stderr (stderr is a terminal, not --quiet/--json).
    pub progress: bool,
}

impl SimOptions {
    /// Builds the options from parsed arguments.
    pub fn new(args: SimArgs, stderr_is_terminal: bool) -> Self {
        let bytes = args.bytes.unwrap_or(args.scenario.default_bytes());
        let replay = replay_command(&args);
        let progress = stderr_is_terminal && !args.quiet && !args.json;
        Self {
            args,
            bytes,
            replay,
            progress,
        }
    }
}

impl SimOptions {
    /// The options of `synack sim SCENARIO --seed SEED`, everything else default.
    pub fn defaults(scenario: Scenario, seed: u64) -> Self {
        let seed = seed.to_string();
        let argv = ["synack", "sim", scenario.name(), "--seed", seed.as_str()];
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Sim(args)) => Self::new(args, false),
            // A scenario's own name and a number always parse; the defaults are
            // checked by the `defaults` test.
            other => unreachable!("synack sim {} --seed {seed}: {other:?}", scenario.name()),
        }
    }
}

/// The command line that replays `args`: every option that differs from its
/// default, written so that it parses back to the same values.
fn replay_command(args: &SimArgs) -> String {
    let mut w: Vec<String> = vec![
        "synack".into(),
        "sim".into(),
        args.scenario.name().into(),
        "--seed".into(),
        args.seed.to_string(),
    ];
    let mut opt = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            w.push(format!("--{name}"));
            w.push(v);
        }
    };
    let dur = |d: Duration| format!("{}ns", d.as_nanos());
    opt("loss", args.loss.map(|p| p.to_string()));
    if args.delay != Duration::from_millis(10) {
        opt("delay", Some(dur(args.delay)));
    }
    opt("jitter", args.jitter.map(dur));
    opt("reorder", args.reorder.map(|p| p.to_string()));
    opt("duplicate", args.duplicate.map(|p| p.to_string()));
    opt("corrupt", args.corrupt.map(|p| p.to_string()));
    opt("rate", args.rate.map(|r| r.to_string()));
    opt(
        "queue",
        (args.queue != 1000).then(|| args.queue.to_string()),
    );
    opt("mtu", (args.mtu != 1500).then(|| args.mtu.to_string()));
    opt("bytes", args.bytes.map(|b| b.to_string()));
    opt(
        "cc",
        (args.cc != Algorithm::Cubic).then(|| args.cc.name().to_owned()),
    );
    opt("pcap", args.pcap.as_ref().map(|p| p.display().to_string()));
    opt("svg", args.svg.as_ref().map(|p| p.display().to_string()));
    opt(
        "cwnd-svg",
        args.cwnd_svg.as_ref().map(|p| p.display().to_string()),
    );
    opt("html", args.html.as_ref().map(|p| p.display().to_string()));
    if args.ipv6 {
        w.push("--ipv6".into());
    }
    if args.json {
        w.push("--json".into());
    }
    w.iter()
        .map(|s| shell_quote(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_quote(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '%' | '=' | ':' | ',')
        });
    if plain {
        w.to_owned()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> SimArgs {
        let mut argv = vec!["synack", "sim"];
        argv.extend_from_slice(words);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Sim(a) => a,
            other => unreachable!("parsed `synack sim`: {other:?}"),
        }
    }

    #[test]
    fn replay_parses_back_to_the_same_run() {
        let cases: [&[&str]; 3] = [
            &["--loss", "5%"],
            &[
                "close", "--seed", "7", "--pcap", "a.pcap", "--delay", "250us", "--html", "r.html",
            ],
            &[
                "--jitter", "1.5ms", "--rate", "10Mbit", "--bytes", "64KiB", "--json", "--ipv6",
            ],
        ];
        for words in cases {
            let a = parse(words);
            let o = SimOptions::new(a.clone(), false);
            let replay = o.replay.replace('\'', "");
            let again: Vec<&str> = replay.split(' ').collect();
            assert_eq!(again[..2], ["synack", "sim"], "{replay}");
            let b = parse(&again[2..]);
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{replay}");
        }
        let o = SimOptions::new(parse(&["--loss", "5%"]), false);
        assert_eq!(o.replay, "synack sim transfer --seed 1 --loss 0.05");
        assert_eq!(shell_quote("a b's"), r"'a b'\''s'");
        assert_eq!(shell_quote("x/y.pcap"), "x/y.pcap");
    }

    #[test]
    fn defaults() {
        let a = parse(&[]);
        assert_eq!(a.scenario, Scenario::Transfer);
        assert_eq!(a.delay, Duration::from_millis(10));
        assert_eq!(a.mtu, 1500);
        assert_eq!(a.cc, Algorithm::Cubic);
        assert!(known_algorithms().contains(&"reno"));
        let o = SimOptions::defaults(Scenario::Close, 9);
        assert_eq!(o.replay, "synack sim close --seed 9");
    }
}
