//! `synack bench`: a tiny configuration of every bench through the real binary
//! (which installs the counting allocator), each `--json` line checked against the
//! schema of issue 7 — the shape and the consistency of the ratio, not the speed.
#![cfg(feature = "bench")]

mod common;

use common::*;
use serde_json::Value;

const KEYS: [&str; 7] = [
    "bench", "case", "unit", "synack", "smoltcp", "linux", "ratio",
];

/// A number or null.
fn num(row: &Value, key: &str) -> Option<f64> {
    match &row[key] {
        Value::Null => None,
        Value::Number(n) => Some(n.as_f64().expect("a finite number")),
        other => panic!("{key} is neither a number nor null: {other} in {row}"),
    }
}

fn check_row(row: &Value) {
    let obj = row
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {row}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = KEYS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "exactly the issue's keys: {row}");
    let bench = row["bench"].as_str().expect("bench is a string");
    assert!(
        ["bulk", "connections", "idle", "lossy"].contains(&bench),
        "{row}"
    );
    let case = row["case"].as_str().expect("case is a string");
    assert!(!case.is_empty(), "{row}");
    let unit = row["unit"].as_str().expect("unit is a string");
    let cost = match (bench, unit) {
        ("bulk" | "lossy", "bit/s") | ("connections", "cycles/s") => false,
        ("bulk", "cpu-s") | ("idle", "bytes/conn") => true,
        _ => panic!("unit {unit} does not belong to bench {bench}: {row}"),
    };
    let (s, m) = (num(row, "synack"), num(row, "smoltcp"));
    let _linux = num(row, "linux");
    let ratio = num(row, "ratio");
    for v in [s, m].into_iter().flatten() {
        // Zero is possible (a tiny run's CPU time below the clock's resolution).
        assert!(v >= 0.0, "measured values are not negative: {row}");
    }
    match (s, m) {
        (Some(s), Some(m)) if s > 0.0 && m > 0.0 => {
            // synack/smoltcp, inverted for costs: higher is better everywhere.
            let want = if cost { m / s } else { s / m };
            let r = ratio.unwrap_or_else(|| panic!("both rivals measured, no ratio: {row}"));
            assert!(
                (r - want).abs() <= 0.001 + want * 0.01,
                "ratio {r} != {want}: {row}"
            );
        }
        _ => assert_eq!(ratio, None, "a ratio needs both rivals, nonzero: {row}"),
    }
}

#[test]
fn json_rows_follow_the_schema() {
    let (code, out, err) = binary(&[
        "bench",
        "bulk",
        "connections",
        "idle",
        "--json",
        "--reps",
        "1",
        "--bytes",
        "262144",
        "--mtu",
        "1500",
        "--concurrency",
        "1",
        "--concurrency",
        "8",
        "--cycles",
        "40",
        "--idle",
        "50",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let rows = json_lines(&out);
    // bulk: mtu1500 + its cpu row; connections: c1, c8; idle: n50.
    assert_eq!(rows.len(), 5, "stdout: {out}");
    for row in &rows {
        check_row(row);
    }
    let cases: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["bench"].as_str().unwrap(), r["case"].as_str().unwrap()))
        .collect();
    assert_eq!(
        cases,
        [
            ("bulk", "mtu1500"),
            ("bulk", "mtu1500-cpu"),
            ("connections", "c1"),
            ("connections", "c8"),
            ("idle", "n50"),
        ]
    );
    // The binary has the counting allocator: idle is measured, not skipped.
    let idle = &rows[4];
    assert!(
        num(idle, "synack").is_some() && num(idle, "smoltcp").is_some(),
        "{idle}"
    );
    // The table goes to stderr with --json, and stdout holds nothing else.
    assert!(err.contains("| bench | case |"), "stderr: {err}");
    assert_eq!(out.lines().count(), rows.len());
}

#[test]
fn lossy_rows_pair_the_congestion_controls() {
    let (code, out, err) = binary(&[
        "bench",
        "lossy",
        "--json",
        "--reps",
        "1",
        "--lossy-bytes",
        "262144",
        "--loss",
        "1",
        "--cc",
        "cubic",
        "--cc",
        "bbr",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 2, "stdout: {out}");
    for row in &rows {
        check_row(row);
        assert_eq!(row["linux"], Value::Null, "{row}");
        // Goodput on a 1 Gbit/s path: positive, at most the link rate.
        let s = num(row, "synack").unwrap_or_else(|| panic!("synack measured: {row}"));
        assert!(s > 0.0 && s <= 1e9, "{row}");
    }
    assert_eq!(rows[0]["case"], "cubic-1%");
    assert!(num(&rows[0], "smoltcp").is_some(), "{}", rows[0]);
    // smoltcp has no BBR.
    assert_eq!(rows[1]["case"], "bbr-1%");
    assert_eq!(rows[1]["smoltcp"], Value::Null);
    assert!(err.contains("Mathis 71.2 M"), "stderr: {err}");
    assert!(!err.contains("failed"), "stderr: {err}");
    let (code, _, err) = binary(&["bench", "lossy", "--cc", "vegas"]);
    assert_eq!(code, 2);
    assert!(err.contains("--cc takes reno, cubic or bbr"), "{err}");
}

#[test]
fn table_by_default_and_usage_errors() {
    let (code, out, err) = binary(&["bench", "idle", "--idle", "20", "--reps", "1"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.starts_with("| bench | case | unit |"), "stdout: {out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("| idle | n20 | bytes/conn |")),
        "{out}"
    );
    let (code, _, err) = binary(&["bench", "nonsense"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown bench"), "{err}");
    let (code, out, _) = binary(&["bench", "--help"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("usage: synack bench"), "{out}");
}
