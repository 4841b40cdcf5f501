//! The `synack diagram` command.

use std::io::Write;

use crate::cli::{DiagramArgs, DiagramFormat, SimOptions};
use crate::record::Recorder;
use crate::sim::{execute, EXIT_FAILED, EXIT_OK, EXIT_USAGE};

use super::{dot, svg, Highlight};

/// Runs `synack diagram` as `args` ask; returns the exit status (1 if the
/// highlighted scenario did not end as expected: the diagram still shows what
/// it did).
pub(crate) fn run(args: &DiagramArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut status = EXIT_OK;
    let highlight = match args.highlight {
        None => Highlight::default(),
        Some(scenario) => {
            let o = SimOptions::defaults(scenario, args.seed);
            let run = match execute(&o, Recorder::new(None, false), None, false) {
                Ok(r) => r,
                Err(e) => {
                    let _ = writeln!(err, "synack diagram: {e}");
                    return EXIT_USAGE;
                }
            };
            if let Some(reason) = &run.failure {
                let _ = writeln!(
                    err,
                    "synack diagram: {scenario} FAILED: {reason}\nreplay: {}",
                    o.replay
                );
                status = EXIT_FAILED;
            }
            let h = Highlight::from_histories(&run.world.rec.histories);
            for (from, to, cause) in h.unlisted() {
                let _ = writeln!(
                    err,
                    "synack diagram: warning: {from} -> {to} ({cause}) is not in TRANSITIONS"
                );
            }
            h
        }
    };
    let text = match args.format {
        DiagramFormat::Svg => svg(&highlight),
        DiagramFormat::Dot => dot(&highlight),
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display())),
        None => out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = written {
        let _ = writeln!(err, "synack diagram: cannot write: {e}");
        return EXIT_USAGE;
    }
    status
}
