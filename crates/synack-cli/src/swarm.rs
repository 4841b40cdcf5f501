//! `synack sim swarm --seeds N [--start S]`: the swarm simulation of
//! [`synack_sim::swarm`] (the same generator the swarm test uses) over a range
//! of seeds, one line per failing seed with the command that replays it, and a
//! summary.

use std::io::Write;
use std::sync::Mutex;

use clap::Args;
use serde::Serialize;
use synack_sim::swarm::{run_seed, run_seeds};

use crate::sim::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// `synack sim swarm [OPTIONS]`.
#[derive(Debug, Clone, Args)]
pub struct SwarmArgs {
    /// How many seeds to run.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub start: u64,
    /// Threads to run seeds on (default: the machine's parallelism).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Replay one seed, printing its plan and outcome (what a failing seed's
    /// replay command does).
    #[arg(long, value_name = "S", conflicts_with_all = ["seeds", "start"])]
    pub replay: Option<u64>,
    /// Print one JSON object (the summary) on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct SwarmSummary {
    ok: bool,
    start: u64,
    seeds: u64,
    flows: u64,
    bytes_delivered: u64,
    ends_done: u64,
    ends_reset: u64,
    ends_timed_out: u64,
    ends_refused: u64,
    ends_aborted: u64,
    ends_never_connected: u64,
    failed_seeds: Vec<u64>,
    skipped_seeds: Vec<u64>,
    wall_us: u64,
}

/// The command that replays `seed`.
pub fn replay_command(seed: u64) -> String {
    format!("synack sim swarm --replay {seed}")
}

/// `synack sim swarm`: runs, prints, returns the exit status.
pub fn run(a: &SwarmArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if let Some(seed) = a.replay {
        // The plan and outcome go to stderr (the library prints them verbosely).
        let (_, r) = run_seed(seed, true);
        return match r {
            Ok(()) => {
                let _ = writeln!(out, "seed={seed}: ok");
                EXIT_OK
            }
            Err(report) => {
                let _ = writeln!(out, "seed={seed}: FAILED\n{report}");
                EXIT_FAILED
            }
        };
    }
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let wall = std::time::Instant::now();
    // Failing seeds are reported as they are found.
    let live = Mutex::new(Vec::<u64>::new());
    let r = run_seeds(a.start, a.seeds, threads, &|seed, failed| {
        if failed {
            if let Ok(mut v) = live.lock() {
                v.push(seed);
            }
        }
    });
    let elapsed = wall.elapsed();
    let mut text = String::new();
    for (seed, report) in &r.failures {
        if !a.json {
            text += &format!(
                "seed={seed} FAILED; replay: {}\n{report}\n",
                replay_command(*seed)
            );
        }
    }
    let ok = r.failures.is_empty();
    let written = if a.json {
        let t = &r.tally;
        let s = SwarmSummary {
            ok,
            start: a.start,
            seeds: t.seeds,
            flows: t.flows,
            bytes_delivered: t.bytes,
            ends_done: t.done,
            ends_reset: t.reset,
            ends_timed_out: t.timed_out,
            ends_refused: t.refused,
            ends_aborted: t.aborted,
            ends_never_connected: t.none,
            failed_seeds: r.failures.iter().map(|(s, _)| *s).collect(),
            skipped_seeds: r.skipped.clone(),
            wall_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        };
        serde_json::to_writer(&mut *out, &s)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        text += &format!(
            "swarm: seeds {}..{}: {} in {:.1?} on {threads} threads; {}\n",
            a.start,
            a.start + a.seeds,
            r.tally,
            elapsed,
            if ok {
                "all passed".to_owned()
            } else {
                format!("{} FAILED", r.failures.len())
            }
        );
        if !r.skipped.is_empty() {
            text += &format!("skipped known-failing seeds: {:?}\n", r.skipped);
        }
        out.write_all(text.as_bytes())
    };
    if written.and_then(|()| out.flush()).is_err() {
        return EXIT_USAGE;
    }
    if ok {
        EXIT_OK
    } else {
        let _ = writeln!(err, "synack sim swarm: {} seeds failed", r.failures.len());
        EXIT_FAILED
    }
}
