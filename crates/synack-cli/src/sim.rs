//! `synack sim`: set up the world, run the scenario, write what happened.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};

use serde::Serialize;
use synack_sim::PcapWriter;

use crate::cli::SimOptions;
use crate::html;
use crate::human;
use crate::record::{Recorder, Side};
use crate::scenario::Scenario;
use crate::scenarios;
use crate::svg;
use crate::world::{RunError, World};

/// Exit status: the scenario's outcome was as expected.
pub const EXIT_OK: i32 = 0;
/// Exit status: the scenario's outcome was not as expected.
pub const EXIT_FAILED: i32 = 1;
/// Exit status: bad arguments, or output that could not be written.
pub const EXIT_USAGE: i32 = 2;

/// The last line of a run, in `--json` as
/// `{"type":"summary","scenario":...,"ok":...,...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The scenario's name.
    pub scenario: &'static str,
    /// Whether the outcome was as expected.
    pub ok: bool,
    /// Bytes the sending application handed to its stack.
    pub bytes_sent: u64,
    /// Bytes the receiving application read.
    pub bytes_delivered: u64,
    /// Whether what was read is exactly what was sent (SHA-256).
    pub intact: bool,
    /// Segments the two stacks retransmitted.
    pub retransmissions: u64,
    /// Virtual time at the end of the run, TIME-WAIT included, in µs.
    pub duration_us: u64,
    /// Bytes delivered × 8 per second, from the first byte sent to the last
    /// byte read (0 when no data moved).
    pub goodput_bps: u64,
    /// Every counter of the client's stack (drop reasons and limits included).
    pub client_counters: BTreeMap<&'static str, u64>,
    /// Every counter of the server's stack.
    pub server_counters: BTreeMap<&'static str, u64>,
    /// The client's drop and limit counters that moved (non-zero).
    pub client_drops: BTreeMap<&'static str, u64>,
    /// The server's drop and limit counters that moved (non-zero).
    pub server_drops: BTreeMap<&'static str, u64>,
}

/// The drop and limit counters of `st` that are not zero.
pub(crate) fn drop_map(st: &synack::Stack) -> BTreeMap<&'static str, u64> {
    st.counters()
        .drops_and_limits()
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Every counter of `st` by name.
pub(crate) fn counter_map(st: &synack::Stack) -> BTreeMap<&'static str, u64> {
    st.counters().iter().collect()
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    summary: &'a Summary,
}

impl Summary {
    fn of(w: &World<'_>, scenario: Scenario, ok: bool) -> Self {
        let f = &w.flow;
        let goodput_bps = match (f.first_tx, f.last_rx) {
            (Some(a), Some(b)) if b > a => {
                let us = u128::from(b.micros() - a.micros());
                u64::try_from(u128::from(f.delivered) * 8 * 1_000_000 / us).unwrap_or(u64::MAX)
            }
            _ => 0,
        };
        Self {
            scenario: scenario.name(),
            ok,
            bytes_sent: f.sent,
            bytes_delivered: f.delivered,
            intact: f.intact(),
            retransmissions: w.stack(Side::Client).counters().retransmits
                + w.stack(Side::Server).counters().retransmits,
            duration_us: w.now().micros(),
            goodput_bps,
            client_counters: counter_map(w.stack(Side::Client)),
            server_counters: counter_map(w.stack(Side::Server)),
            client_drops: drop_map(w.stack(Side::Client)),
            server_drops: drop_map(w.stack(Side::Server)),
        }
    }
}

/// Prints every scenario with its one-line description.
fn list(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "scenarios (synack sim SCENARIO):")?;
    for s in Scenario::ALL {
        writeln!(out, "  {:<20} {}", s.name(), s.about())?;
    }
    Ok(())
}

/// A finished run: the world as it ended, why the scenario failed if it did,
/// and the summary.
pub(crate) struct Run<'a> {
    pub(crate) world: World<'a>,
    pub(crate) failure: Option<String>,
    pub(crate) summary: Summary,
}

impl std::fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("failure", &self.failure)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

/// Runs the scenario `o` names in a fresh world recording into `rec`, keeping
/// the congestion window and RTT over time if `samples`.
///
/// # Errors
/// A message for exit status 2: the set-up was impossible or output could not
/// be written.
pub(crate) fn execute<'a>(
    o: &SimOptions,
    rec: Recorder<'a>,
    pcap: Option<PcapWriter<BufWriter<File>>>,
    samples: bool,
) -> Result<Run<'a>, String> {
    let mut w = match World::new(o, rec, pcap) {
        Ok(w) => w,
        Err(RunError::Io(e) | RunError::Failed(e)) => return Err(e),
    };
    if samples {
        w.keep_samples();
    }
    let result = scenarios::run(o.args.scenario, &mut w, o.bytes, o.args.seed);
    // Flush what was recorded, also after a failure, so the ladder shows how far
    // the run got.
    let finished = w.finish();
    let failure = match result.and(finished) {
        Ok(()) => None,
        Err(RunError::Failed(reason)) => Some(reason),
        Err(RunError::Io(e)) => return Err(e),
    };
    let summary = Summary::of(&w, o.args.scenario, failure.is_none());
    Ok(Run {
        world: w,
        failure,
        summary,
    })
}

/// Creates `path` (empty) to find out early whether it can be written.
fn can_create(path: Option<&std::path::PathBuf>, err: &mut dyn Write) -> bool {
    match path.map(File::create) {
        Some(Err(e)) => {
            let _ = writeln!(
                err,
                "synack sim: cannot create {}: {e}",
                path.map_or_else(String::new, |p| p.display().to_string())
            );
            false
        }
        _ => true,
    }
}

/// Runs `synack sim` as `o` asks, writing results to `out` and diagnostics to
/// `err`. Returns the exit status: [`EXIT_OK`], [`EXIT_FAILED`] or [`EXIT_USAGE`].
pub fn run_sim(o: &SimOptions, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = &o.args;
    if args.list {
        return match list(out) {
            Ok(()) => EXIT_OK,
            Err(_) => EXIT_USAGE,
        };
    }
    if let Some(dir) = &args.html_gallery {
        return html::gallery(o, dir, out, err);
    }
    if args.bytes.is_some() && !args.scenario.uses_bytes() && !args.quiet && !args.json {
        let _ = writeln!(
            err,
            "note: --bytes does not apply to scenario {}; ignored",
            args.scenario
        );
    }
    let pcap = match &args.pcap {
        None => None,
        Some(path) => match File::create(path).and_then(|f| PcapWriter::new(BufWriter::new(f))) {
            Ok(w) => Some(w),
            Err(e) => {
                let _ = writeln!(err, "synack sim: cannot create {}: {e}", path.display());
                return EXIT_USAGE;
            }
        },
    };
    if !can_create(args.svg.as_ref(), err)
        || !can_create(args.html.as_ref(), err)
        || !can_create(args.cwnd_svg.as_ref(), err)
    {
        return EXIT_USAGE;
    }

    let wall = std::time::Instant::now();
    let json = if args.json && !args.quiet {
        Some(&mut *out as &mut dyn Write)
    } else {
        None
    };
    let mut rec = Recorder::new(json, args.svg.is_some());
    if args.html.is_some() {
        rec.keep_all();
    }
    let samples = args.html.is_some() || args.cwnd_svg.is_some();
    let run = match execute(o, rec, pcap, samples) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "synack sim: {e}");
            return EXIT_USAGE;
        }
    };
    let (w, failure, summary) = (&run.world, run.failure.as_deref(), &run.summary);
    let text = (!args.json).then(|| human::render(w, o, summary, failure, wall.elapsed()));
    let svg_result = args.svg.as_ref().map(|path| {
        let title = format!("synack sim {} (seed {})", args.scenario, args.seed);
        svg::write(&w.rec, path, &title)
    });
    let cwnd_result = args.cwnd_svg.as_ref().map(|path| {
        let title = format!(
            "synack sim {} (seed {}, {}): client cwnd",
            args.scenario, args.seed, args.cc
        );
        svg::write_cwnd(w.samples.as_deref().unwrap_or_default(), path, &title)
    });
    let html_result = args
        .html
        .as_ref()
        .map(|path| std::fs::write(path, html::report(w, o, summary, failure)));
    let (failure, summary) = (run.failure.clone(), run.summary.clone());
    drop(run);

    let written = match text {
        Some(t) => out.write_all(t.as_bytes()),
        None => serde_json::to_writer(
            &mut *out,
            &SummaryLine {
                kind: "summary",
                summary: &summary,
            },
        )
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n")),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        let _ = writeln!(err, "synack sim: cannot write output: {e}");
        return EXIT_USAGE;
    }
    if let Some(Err(e)) = svg_result {
        let _ = writeln!(err, "synack sim: cannot write the SVG: {e}");
        return EXIT_USAGE;
    }
    if let Some(Err(e)) = cwnd_result {
        let _ = writeln!(err, "synack sim: cannot write the cwnd SVG: {e}");
        return EXIT_USAGE;
    }
    if let Some(Err(e)) = html_result {
        let _ = writeln!(err, "synack sim: cannot write the HTML report: {e}");
        return EXIT_USAGE;
    }
    match failure {
        None => EXIT_OK,
        Some(reason) => {
            let _ = writeln!(
                err,
                "synack sim: {} FAILED: {reason}\nseed={}\nreplay: {}",
                args.scenario, args.seed, o.replay
            );
            EXIT_FAILED
        }
    }
}
