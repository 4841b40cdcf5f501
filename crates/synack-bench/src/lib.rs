//! The synack benchmark suite: synack against smoltcp (in the same process, over the
//! same in-memory link, in the same run) and Linux loopback TCP as a reference.
//!
//! Benches (issue 7):
//! - `bulk`: 1 GiB one direction at MTU 1500 and 65535; goodput and CPU seconds;
//!   every byte verified by an xxh3 hash.
//! - `connections`: connect + 1-byte request + 1-byte response + close, at several
//!   concurrencies; cycles per second.
//! - `idle`: heap bytes per established idle connection (needs the counting
//!   allocator, see [`INSTRUMENTED_SYSTEM`]).
//! - `lossy`: goodput of each congestion control (synack NewReno, CUBIC and BBR;
//!   smoltcp Reno and CUBIC) at 0.1 %, 1 % and 5 % random loss on a modelled
//!   1 Gbit/s, 2 ms RTT path, in virtual time, next to the Mathis estimate.
//! - `linux`: the `linux` column of `bulk` and `connections` from std::net over
//!   loopback (bounded loops, 127.0.0.1 only).
//!
//! Each rival runs `reps` times, interleaved with the other, and the row reports the
//! median. Ratios are `synack / smoltcp` except for costs (idle heap, CPU seconds),
//! where they are `smoltcp / synack`: higher is better everywhere.
//!
//! Use: `run(opts)` returns the rows; [`to_json_lines`] and [`to_table`] print them.
//! A binary that wants the `idle` rows installs the counting allocator:
//! `#[global_allocator] static A: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;`
//! (without it, `idle` reports a skipped row).
//!
//! The in-memory link ([`link`]) hands packets between two stacks through a queue per
//! direction, with a virtual clock that advances 1 µs per delivered packet and jumps
//! to the next timer when the link is quiet. Nothing sleeps. `lossy` puts a path
//! model (bottleneck rate, queue, delay, loss) between the stacks instead, and its
//! clock jumps from one arrival or timer to the next.

mod bulk;
mod conns;
mod idle;
pub mod link;
mod linux;
mod lossy;
pub mod path;

use std::fmt::Write as _;
use std::time::Duration;

pub use lossy::LossyCc;
pub use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

/// Which benches to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bench {
    Bulk,
    Connections,
    Idle,
    /// Congestion control under random loss, on a modelled path in virtual time.
    Lossy,
    /// Linux loopback reference values for the bulk and connections rows.
    Linux,
}

impl Bench {
    /// Every bench, in report order.
    pub const ALL: [Self; 5] = [
        Self::Bulk,
        Self::Connections,
        Self::Idle,
        Self::Lossy,
        Self::Linux,
    ];

    /// Parses a bench name as the CLI spells it.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bulk" => Some(Self::Bulk),
            "connections" | "conns" => Some(Self::Connections),
            "idle" => Some(Self::Idle),
            "lossy" => Some(Self::Lossy),
            "linux" => Some(Self::Linux),
            _ => None,
        }
    }
}

/// What to run and how big.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub benches: Vec<Bench>,
    /// Repetitions per rival and case (the median is reported; at least 1).
    pub reps: usize,
    /// Bytes moved by one bulk transfer.
    pub bulk_bytes: u64,
    /// Link MTUs for bulk.
    pub mtus: Vec<usize>,
    /// Socket buffer (send and receive, both rivals) for bulk; `None` picks
    /// max(256 KiB, 16 MSS).
    pub bulk_buffer: Option<usize>,
    /// Concurrency levels for connections.
    pub concurrency: Vec<usize>,
    /// Cycles per connections measurement: at least this many, and at least
    /// 4 × concurrency.
    pub cycles: u64,
    /// smoltcp is skipped above this concurrency (it scans every socket per packet).
    pub smoltcp_max_concurrency: usize,
    /// Idle connection counts.
    pub idle_counts: Vec<usize>,
    /// smoltcp is skipped above this many idle connections (same reason).
    pub smoltcp_max_idle: usize,
    /// Bytes moved by one lossy transfer.
    pub lossy_bytes: u64,
    /// Random loss rates of the lossy rows, in percent.
    pub lossy_loss_pct: Vec<f64>,
    /// Congestion controls of the lossy rows.
    pub lossy_cc: Vec<LossyCc>,
    /// Run synack (off only for profiling the other rival).
    pub synack: bool,
    /// Run smoltcp.
    pub smoltcp: bool,
    /// Progress lines on stderr.
    pub verbose: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            benches: Bench::ALL.to_vec(),
            reps: 3,
            bulk_bytes: 1 << 30,
            mtus: vec![1500, 65535],
            bulk_buffer: None,
            concurrency: vec![1, 1024, 100_000],
            cycles: 200_000,
            smoltcp_max_concurrency: 1024,
            idle_counts: vec![10_000, 100_000, 1_000_000],
            smoltcp_max_idle: 10_000,
            lossy_bytes: 128 << 20,
            lossy_loss_pct: vec![0.1, 1.0, 5.0],
            lossy_cc: LossyCc::ALL.to_vec(),
            synack: true,
            smoltcp: true,
            verbose: false,
        }
    }
}

impl BenchOptions {
    /// A small, fast configuration (seconds, not minutes) for smoke tests.
    pub fn quick() -> Self {
        Self {
            reps: 1,
            bulk_bytes: 64 << 20,
            concurrency: vec![1, 1024],
            cycles: 20_000,
            idle_counts: vec![10_000],
            lossy_bytes: 4 << 20,
            ..Self::default()
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub bench: &'static str,
    pub case: String,
    pub unit: &'static str,
    pub synack: Option<f64>,
    pub smoltcp: Option<f64>,
    pub linux: Option<f64>,
    /// synack / smoltcp, or smoltcp / synack for costs: higher is better.
    pub ratio: Option<f64>,
    /// Why a value is missing, or how it was measured, when that is not obvious.
    pub note: Option<String>,
}

impl Row {
    fn new(bench: &'static str, case: String, unit: &'static str) -> Self {
        Self {
            bench,
            case,
            unit,
            synack: None,
            smoltcp: None,
            linux: None,
            ratio: None,
            note: None,
        }
    }

    /// Fills in the ratio: `synack / smoltcp`, or the inverse when `lower_is_better`.
    fn with_ratio(mut self, lower_is_better: bool) -> Self {
        self.ratio = match (self.synack, self.smoltcp) {
            (Some(s), Some(m)) if s > 0.0 && m > 0.0 => {
                Some(if lower_is_better { m / s } else { s / m })
            }
            _ => None,
        };
        self
    }

    /// The row as one JSON object with exactly the keys issue 7 specifies:
    /// `bench`, `case`, `unit`, `synack`, `smoltcp`, `linux`, `ratio` (numbers or
    /// `null`). The note goes only to the table.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"bench\":\"{}\",\"case\":\"{}\",\"unit\":\"{}\",\"synack\":{},\"smoltcp\":{},\"linux\":{},\"ratio\":{}}}",
            self.bench,
            self.case,
            self.unit,
            json_num(self.synack),
            json_num(self.smoltcp),
            json_num(self.linux),
            self.ratio
                .map_or_else(|| "null".to_string(), |r| format!("{r:.3}")),
        )
    }
}

fn json_num(v: Option<f64>) -> String {
    match v {
        None => "null".to_string(),
        Some(x) if x.is_finite() && x.abs() >= 1000.0 => format!("{}", x.round() as i64),
        // Shortest round-trip decimal (Rust never prints an exponent): small values
        // such as CPU seconds keep their precision, so the ratio can be checked.
        Some(x) if x.is_finite() => format!("{x}"),
        Some(_) => "null".to_string(),
    }
}

/// Rows as JSON lines, one object per line and nothing else.
pub fn to_json_lines(rows: &[Row]) -> String {
    rows.iter().map(|r| r.to_json() + "\n").collect()
}

/// Rows as a human-readable table (also valid Markdown).
pub fn to_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| bench | case | unit | synack | smoltcp | linux | ratio | note |\n|---|---|---|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.bench,
            r.case,
            r.unit,
            human(r.synack, r.unit),
            human(r.smoltcp, r.unit),
            human(r.linux, r.unit),
            r.ratio
                .map_or_else(|| "–".to_string(), |x| format!("{x:.2}×")),
            r.note.as_deref().unwrap_or(""),
        );
    }
    out
}

fn human(v: Option<f64>, unit: &str) -> String {
    let Some(x) = v else {
        return "–".to_string();
    };
    match unit {
        "bit/s" if x >= 1e9 => format!("{:.2} G", x / 1e9),
        "bit/s" => format!("{:.1} M", x / 1e6),
        "cycles/s" => format!("{:.0} k", x / 1e3),
        "bytes/conn" => format!("{x:.0}"),
        _ => format!("{x:.3}"),
    }
}

/// Runs the selected benches and returns their rows.
pub fn run(opts: BenchOptions) -> Vec<Row> {
    let owned = opts; // the CLI hands its options over
    let opts = &owned;
    let want = |b| opts.benches.contains(&b);
    let linux = want(Bench::Linux);
    let mut rows = Vec::new();
    if want(Bench::Bulk) || linux {
        rows.extend(bulk::rows(opts, want(Bench::Bulk), linux));
    }
    if want(Bench::Connections) || linux {
        rows.extend(conns::rows(opts, want(Bench::Connections), linux));
    }
    if want(Bench::Idle) {
        rows.extend(idle::rows(opts));
    }
    if want(Bench::Lossy) {
        rows.extend(lossy::rows(opts));
    }
    rows
}

/// Median of the values (the upper middle one for an even count).
pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// CPU time (user + system) this process has used so far.
pub(crate) fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |u| {
        let tv = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(t.tv_sec().max(0).unsigned_abs())
                + Duration::from_micros(t.tv_usec().max(0).unsigned_abs())
        };
        tv(u.user_time()) + tv(u.system_time())
    })
}

/// Live heap bytes, if the binary installed [`INSTRUMENTED_SYSTEM`] as its global
/// allocator (`#[global_allocator] static A: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;`).
pub fn heap_bytes() -> Option<i64> {
    let s = INSTRUMENTED_SYSTEM.stats();
    (s.allocations > 0).then(|| s.bytes_allocated as i64 - s.bytes_deallocated as i64)
}

/// Allocations made so far (0 without the counting allocator).
pub(crate) fn allocations() -> u64 {
    let s = INSTRUMENTED_SYSTEM.stats();
    (s.allocations + s.reallocations) as u64
}

pub(crate) fn progress(opts: &BenchOptions, msg: &str) {
    if opts.verbose {
        eprintln!("synack-bench: {msg}");
    }
}

/// The options of `synack-bench` and `synack bench` (the program name is left
/// out: the caller prints it before this).
pub const USAGE: &str = "[BENCH...] [--json] [--quick] [--reps N]
    [--bytes N] [--mtu N]... [--buffer N] [--concurrency N]... [--cycles N]
    [--idle N]... [--smoltcp-max-concurrency N] [--smoltcp-max-idle N]
    [--lossy-bytes N] [--loss PERCENT]... [--cc reno|cubic|bbr]...
    [--only synack|smoltcp] [-v]
benches: bulk connections idle lossy linux (default: all)";

/// Parses the command line (without the program name): the options and whether
/// `--json` was given. `Err` holds the message to print (the usage for `--help`).
///
/// # Errors
/// An unknown bench or option, a missing or malformed value.
pub fn parse_args(args: &[String]) -> Result<(BenchOptions, bool), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = if quick {
        BenchOptions::quick()
    } else {
        BenchOptions::default()
    };
    let (mut json, mut benches) = (false, Vec::new());
    let (mut mtus, mut conc, mut idle) = (Vec::new(), Vec::new(), Vec::new());
    let (mut losses, mut ccs) = (Vec::new(), Vec::new());
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
            "--lossy-bytes" => o.lossy_bytes = num()?,
            "--loss" => {
                let v = it.next().ok_or("--loss needs a value")?;
                match v.trim_end_matches('%').parse::<f64>() {
                    Ok(p) if (0.0..100.0).contains(&p) => losses.push(p),
                    _ => return Err(format!("--loss: a percentage in [0, 100): {v}")),
                }
            }
            "--cc" => {
                let v = it.next().map_or("", String::as_str);
                ccs.push(LossyCc::parse(v).ok_or("--cc takes reno, cubic or bbr")?);
            }
            "--only" => match it.next().map(String::as_str) {
                Some("synack") => o.smoltcp = false,
                Some("smoltcp") => o.synack = false,
                _ => return Err("--only takes synack or smoltcp".into()),
            },
            "-h" | "--help" => return Err(format!("usage: {USAGE}")),
            b => benches.push(Bench::parse(b).ok_or(format!(
                "unknown bench or option {b}; benches: bulk connections idle lossy linux"
            ))?),
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
    if !losses.is_empty() {
        o.lossy_loss_pct = losses;
    }
    if !ccs.is_empty() {
        o.lossy_cc = ccs;
    }
    if o.lossy_bytes == 0 {
        return Err("--lossy-bytes must be at least 1".into());
    }
    Ok((o, json))
}

/// Runs a whole command line (without the program name), as `synack-bench` and
/// `synack bench` do: the table on `out`, or with `--json` one JSON object per row
/// on `out` and the table on `err`. Returns the exit status (2 for bad arguments).
pub fn main_with(
    args: &[String],
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> i32 {
    let (opts, json) = match parse_args(args) {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 2;
        }
    };
    let rows = run(opts);
    let written = if json {
        // `out` carries the JSON lines and nothing else.
        let _ = write!(err, "{}", to_table(&rows));
        write!(out, "{}", to_json_lines(&rows))
    } else {
        write!(out, "{}", to_table(&rows))
    };
    if written.and_then(|()| out.flush()).is_err() {
        return 2;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_row_has_the_issue_shape() {
        let mut r = Row::new("bulk", "mtu1500".into(), "bit/s");
        r.synack = Some(4.5e10);
        r.smoltcp = Some(3.0e10);
        let r = r.with_ratio(false);
        assert_eq!(
            r.to_json(),
            "{\"bench\":\"bulk\",\"case\":\"mtu1500\",\"unit\":\"bit/s\",\"synack\":45000000000,\"smoltcp\":30000000000,\"linux\":null,\"ratio\":1.500}"
        );
    }

    #[test]
    fn cost_ratio_is_inverted() {
        let mut r = Row::new("idle", "n10".into(), "bytes/conn");
        r.synack = Some(500.0);
        r.smoltcp = Some(1000.0);
        assert_eq!(r.with_ratio(true).ratio, Some(2.0));
    }

    #[test]
    fn small_runs_complete_for_both_rivals() {
        let opts = BenchOptions {
            benches: vec![Bench::Bulk, Bench::Connections],
            reps: 1,
            bulk_bytes: 4 << 20,
            mtus: vec![1500, 65535],
            concurrency: vec![1, 64],
            cycles: 300,
            ..BenchOptions::default()
        };
        let rows = run(opts);
        assert_eq!(rows.len(), 6, "{rows:#?}");
        for r in &rows {
            assert!(r.synack.is_some() && r.smoltcp.is_some(), "{r:#?}");
            assert!(
                !r.note.as_deref().unwrap_or("").contains("failed:"),
                "{r:#?}"
            );
        }
    }

    #[test]
    fn lossy_options_parse() {
        let args: Vec<String> = [
            "lossy",
            "--loss",
            "0.1",
            "--loss",
            "5%",
            "--cc",
            "reno",
            "--lossy-bytes",
            "1_048_576",
        ]
        .map(String::from)
        .to_vec();
        let (o, json) = parse_args(&args).expect("valid");
        assert!(!json);
        assert_eq!(o.benches, [Bench::Lossy]);
        assert_eq!(o.lossy_loss_pct, [0.1, 5.0]);
        assert_eq!(o.lossy_cc, [LossyCc::Reno]);
        assert_eq!(o.lossy_bytes, 1 << 20);
        assert!(Bench::ALL.contains(&Bench::Lossy));
        for bad in [["--loss", "100"], ["--loss", "x"], ["--cc", "vegas"]] {
            let bad = bad.map(String::from).to_vec();
            assert!(parse_args(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn median_picks_the_middle() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
    }
}
