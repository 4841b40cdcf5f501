//! `synack sim --html-gallery DIR`: one report per scenario, the plain state
//! diagram, and an index linking them.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::cli::SimOptions;
use crate::diagram::{self, Highlight};
use crate::record::Recorder;
use crate::scenario::Scenario;
use crate::sim::{execute, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::units::format_duration;
use crate::xml::esc;

use super::CSS;

/// One line of the index.
struct Entry {
    scenario: Scenario,
    ok: bool,
    segments: u64,
    retransmissions: u64,
    duration_us: u64,
}

/// Writes the gallery into `dir` with the impairments and seed of `o`; returns
/// the exit status (1 if any scenario did not end as expected).
pub(crate) fn gallery(o: &SimOptions, dir: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if let Err(e) = std::fs::create_dir_all(dir) {
        let _ = writeln!(err, "synack sim: cannot create {}: {e}", dir.display());
        return EXIT_USAGE;
    }
    let mut entries = Vec::new();
    for scenario in Scenario::ALL {
        let file = dir.join(format!("{}.html", scenario.name()));
        let mut args = o.args.clone();
        args.scenario = scenario;
        args.html_gallery = None;
        args.html = Some(file.clone());
        if !scenario.uses_bytes() {
            args.bytes = None;
        }
        let so = SimOptions::new(args, false);
        let mut rec = Recorder::new(None, false);
        rec.keep_all();
        let run = match execute(&so, rec, None, true) {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(err, "synack sim: {scenario}: {e}");
                return EXIT_USAGE;
            }
        };
        let page = super::report(&run.world, &so, &run.summary, run.failure.as_deref());
        if let Err(e) = std::fs::write(&file, page) {
            let _ = writeln!(err, "synack sim: cannot write {}: {e}", file.display());
            return EXIT_USAGE;
        }
        if let Some(reason) = &run.failure {
            let _ = writeln!(
                err,
                "synack sim: {scenario} FAILED: {reason}\nreplay: {}",
                so.replay
            );
        }
        if !o.args.quiet {
            let verdict = if run.failure.is_none() {
                "ok"
            } else {
                "FAILED"
            };
            let _ = writeln!(
                out,
                "{:<20} {verdict:<7} {}",
                scenario.name(),
                file.display()
            );
        }
        entries.push(Entry {
            scenario,
            ok: run.failure.is_none(),
            segments: run.world.rec.stats.total,
            retransmissions: run.summary.retransmissions,
            duration_us: run.summary.duration_us,
        });
    }
    let index = dir.join("index.html");
    let diagram_file = dir.join("state-diagram.svg");
    let plain = diagram::svg(&Highlight::default());
    let written = std::fs::write(&diagram_file, &plain)
        .and_then(|()| std::fs::write(&index, index_page(o, &entries, &plain)));
    if let Err(e) = written {
        let _ = writeln!(err, "synack sim: cannot write {}: {e}", index.display());
        return EXIT_USAGE;
    }
    if !o.args.quiet {
        let _ = writeln!(out, "{:<20} {:<7} {}", "index", "", index.display());
    }
    let _ = out.flush();
    if entries.iter().all(|e| e.ok) {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

fn index_page(o: &SimOptions, entries: &[Entry], diagram_svg: &str) -> String {
    let mut p = String::new();
    let _ = write!(
        p,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>synack: TCP in pictures</title><style>{CSS}</style></head><body><header><h1>TCP in pictures</h1><p class="about">Every synack scenario, simulated with seed {} and drawn from what actually happened: the segments, the states, the sequence numbers.</p></header><main><section class="card"><h2>Scenarios</h2><table class="list"><tr><th>scenario</th><th>what it shows</th><th>outcome</th><th>segments</th><th>retransmissions</th><th>virtual time</th></tr>"#,
        o.args.seed
    );
    for e in entries {
        let name = e.scenario.name();
        let (class, verdict) = if e.ok {
            ("ok", "ok")
        } else {
            ("failed", "FAILED")
        };
        let _ = write!(
            p,
            r#"<tr><td><a href="{name}.html">{name}</a></td><td>{}</td><td><span class="verdict {class}">{verdict}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(e.scenario.about()),
            e.segments,
            e.retransmissions,
            format_duration(Duration::from_micros(e.duration_us))
        );
    }
    let _ = writeln!(
        p,
        r#"</table></section><section class="card"><h2>The state diagram</h2><p class="hint">RFC 9293 Figure 5, drawn from synack's transition table (also in <a href="state-diagram.svg">state-diagram.svg</a>). Each report highlights the path its endpoints took.</p><div class="scroll">{diagram_svg}</div></section></main><footer>Generated by synack {}.</footer></body></html>"#,
        env!("CARGO_PKG_VERSION")
    );
    p
}
