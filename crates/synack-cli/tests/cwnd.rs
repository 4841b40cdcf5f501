//! Congestion control in `synack sim`: the phases in the summary, the cwnd plot,
//! and `--cc bbr`.

mod common;

use std::path::PathBuf;

use common::*;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("synack-cwnd-test-{}-{name}", std::process::id()))
}

/// The numbers after each "(first at" … in the summary's cc line, by phase name.
fn phase_count(line: &str, phase: &str) -> Option<u64> {
    let at = line.find(&format!("{phase} ×"))? + phase.len() + " ×".len();
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn summary_lists_the_phases_entered() {
    let (code, out, err) = sim(&[
        "transfer",
        "--bytes",
        "2MiB",
        "--loss",
        "1%",
        "--rate",
        "100000000",
        "--delay",
        "5ms",
        "--seed",
        "3",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("cc (client)"))
        .unwrap_or_else(|| panic!("no cc line in:\n{out}"));
    assert!(line.contains("cubic:"), "{line}");
    assert_eq!(phase_count(line, "slow-start"), Some(1), "{line}");
    let recoveries = phase_count(line, "recovery").unwrap_or(0);
    assert!(recoveries >= 3, "1% loss enters recovery: {line}");
    assert!(phase_count(line, "avoidance").unwrap_or(0) >= 1, "{line}");
    assert!(line.contains(&format!("{recoveries} recoveries")), "{line}");
    assert!(
        line.contains("pacing ") && !line.contains("pacing off"),
        "{line}"
    );
}

#[test]
fn cwnd_svg_plots_the_window_over_time() {
    let path = temp("cwnd.svg");
    let p = path.to_str().unwrap();
    let (code, _, err) = sim(&[
        "transfer",
        "--bytes",
        "2MiB",
        "--loss",
        "1%",
        "--rate",
        "100000000",
        "--delay",
        "5ms",
        "--seed",
        "3",
        "--quiet",
        "--cwnd-svg",
        p,
    ]);
    assert_eq!(code, 0, "{err}");
    let svg = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
        .collect();
    for want in ["cwnd", "ssthresh", "recovery entered", "time (s)"] {
        assert!(
            texts.iter().any(|t| t == want),
            "label {want:?} missing from {texts:?}"
        );
    }
    assert!(
        texts.iter().any(|t| t.starts_with("cwnd (")),
        "the y axis names its unit: {texts:?}"
    );
    // The cwnd line: the longest polyline, with a point per window change.
    let longest = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter_map(|n| n.attribute("points"))
        .map(|pts| pts.split_whitespace().count())
        .max()
        .unwrap_or(0);
    assert!(longest > 100, "the cwnd line has {longest} points");
    // Recovery entries are marked (one circle each, plus the legend's).
    let circles = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    assert!(circles >= 4, "{circles} recovery markers");
}

#[test]
fn bbr_is_a_congestion_control_choice() {
    let (code, out, err) = sim(&[
        "transfer",
        "--bytes",
        "2MiB",
        "--loss",
        "1%",
        "--rate",
        "100000000",
        "--delay",
        "5ms",
        "--cc",
        "bbr",
        "--seed",
        "3",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("intact"), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("cc (client)"))
        .unwrap_or_else(|| panic!("no cc line in:\n{out}"));
    assert!(
        line.contains("bbr:") && line.contains("ssthresh ∞"),
        "{line}"
    );
}
