//! `synack sim --html` and `--html-gallery`, read as text and XML (no browser;
//! tests/browser.rs opens the report in headless Chromium).

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::*;
use synack_cli::Scenario;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("synack-html-test-{}-{name}", std::process::id()))
}

/// Runs `synack sim ARGS --html FILE --json`: (status, JSON lines, the HTML).
fn report(name: &str, args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let file = temp(name);
    let path = file.to_str().unwrap();
    let mut argv = args.to_vec();
    argv.extend_from_slice(&["--html", path, "--json"]);
    let (code, out, err) = sim(&argv);
    assert!(code != 2, "{err}");
    let html = std::fs::read_to_string(&file).expect("the report was written");
    let _ = std::fs::remove_file(&file);
    (code, json_lines(&out), html)
}

/// The start tags beginning with `prefix` (`<g class="row segment`).
fn tags<'a>(html: &'a str, prefix: &str) -> Vec<&'a str> {
    html.match_indices(prefix)
        .map(|(i, _)| &html[i..i + html[i..].find('>').unwrap()])
        .collect()
}

/// The value of attribute `name` in start tag `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// Every inline `<svg …>…</svg>` element of the page.
fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg ")
        .map(|(i, _)| &html[i..i + html[i..].find("</svg>").unwrap() + 6])
        .collect()
}

/// Every http(s) URL in `html` except SVG namespace declarations.
pub fn external_urls(html: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for scheme in ["http://", "https://", "//cdn", "url(http"] {
        for (i, _) in html.match_indices(scheme) {
            let before = &html[i.saturating_sub(7)..i];
            let rest = &html[i..];
            let url: String = rest
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | ' ' | ')' | '<'))
                .collect();
            let namespace = before.ends_with("xmlns=\"") && url == "http://www.w3.org/2000/svg";
            if !namespace {
                bad.push(url);
            }
        }
    }
    bad
}

#[test]
fn close_report_has_every_segment_and_the_visited_states() {
    let (code, lines, html) = report("close.html", &["close"]);
    assert_eq!(code, 0);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        external_urls(&html),
        Vec::<String>::new(),
        "no external fetches"
    );
    for needle in ["<link", "<img", "<iframe", "@import", " src=\""] {
        assert!(!html.contains(needle), "{needle} in the report");
    }
    // One g.segment per segment, with every field, in order.
    let segs = segments(&lines);
    let rows = tags(&html, "<g class=\"row segment");
    assert_eq!(rows.len(), segs.len());
    for (i, (row, seg)) in rows.iter().zip(&segs).enumerate() {
        assert_eq!(attr(row, "data-i"), Some(i.to_string().as_str()));
        assert_eq!(attr(row, "data-side"), seg["src"].as_str());
        assert_eq!(
            attr(row, "data-abs-seq"),
            Some(seg["seq"].to_string().as_str())
        );
        assert_eq!(attr(row, "data-len"), Some(seg["len"].to_string().as_str()));
        assert_eq!(attr(row, "data-fate"), seg["fate"].as_str());
        for a in [
            "data-flags",
            "data-seq",
            "data-ack",
            "data-win",
            "data-retransmission",
        ] {
            assert!(attr(row, a).is_some(), "{a} missing in {row}");
        }
        assert!(
            attr(row, "display").is_none(),
            "short runs show every segment"
        );
    }
    assert_eq!(attr(rows[0], "data-flags"), Some("SYN"));
    assert_eq!(attr(rows[1], "data-flags"), Some("SYN,ACK"));
    // The state diagram shades what the run visited.
    let want: BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["type"] == "state")
        .flat_map(|l| [l["from"].as_str().unwrap(), l["to"].as_str().unwrap()])
        .collect();
    let got: BTreeSet<&str> = tags(&html, "<g class=\"state visited\"")
        .iter()
        .filter_map(|t| attr(t, "data-state"))
        .collect();
    assert_eq!(got, want);
    // Every picture is well-formed XML; the state diagram, the ladder, the
    // timeline, the time-sequence graph and two charts.
    let pictures = svgs(&html);
    assert_eq!(pictures.len(), 6, "{}", pictures.len());
    for svg in pictures {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {}", &svg[..200]));
    }
    assert!(
        html.contains("synack sim close --seed 1 --html"),
        "the replay line"
    );
    // Listener CLOSED, LISTEN; client 7 states; server 6.
    assert_eq!(
        tags(&html, "<g class=\"tl-state\"").len(),
        2 + 7 + 6,
        "timeline blocks"
    );
}

#[test]
fn long_runs_start_summarised_and_mark_what_the_network_did() {
    let args = [
        "transfer",
        "--bytes",
        "4MiB",
        "--loss",
        "1%",
        "--duplicate",
        "1%",
        "--corrupt",
        "1%",
    ];
    let (_, lines, html) = report("lossy.html", &args);
    let total = segments(&lines).len();
    let ladder = tags(
        &html,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"ladder\"",
    )[0];
    assert_eq!(attr(ladder, "data-total"), Some(total.to_string().as_str()));
    let rows = tags(&html, "<g class=\"row segment");
    assert!(rows.len() < total, "the middle is summarised");
    let shown = rows.iter().filter(|r| attr(r, "display").is_none()).count();
    assert_eq!(shown, 200, "the first and last 100");
    assert!(html.contains("id=\"lad-slider\""), "a range control");
    assert_eq!(tags(&html, "<g class=\"row gap\"").len(), 1);
    for fate in ["dropped", "corrupted", "duplicated"] {
        let n = rows
            .iter()
            .filter(|r| attr(r, "data-fate") == Some(fate))
            .count();
        let want = segments(&lines)
            .iter()
            .filter(|s| s["fate"] == fate)
            .count();
        assert!(n > 0 && n <= want, "{fate}: {n} of {want}");
    }
    let rtx = tags(&html, "<g class=\"row segment client retransmission");
    assert!(!rtx.is_empty(), "retransmissions marked");
    assert!(
        html.contains("congestion window (client)"),
        "the cwnd chart"
    );
}

#[test]
fn gallery_writes_every_scenario_and_an_index() {
    let dir = temp("gallery");
    let path = dir.to_str().unwrap();
    let (code, out, err) = sim(&["--html-gallery", path, "--bytes", "128KiB"]);
    assert_eq!(code, 0, "{err}");
    let index = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    for s in Scenario::ALL {
        let file = format!("{}.html", s.name());
        assert!(index.contains(&format!("href=\"{file}\"")), "{file} linked");
        let page = std::fs::read_to_string(dir.join(&file)).expect("report written");
        assert!(page.contains("<g class=\"row segment"), "{file}");
        assert!(out.contains(&file), "{out}");
    }
    let diagram = std::fs::read_to_string(dir.join("state-diagram.svg")).unwrap();
    roxmltree::Document::parse(&diagram).expect("well-formed");
    assert_eq!(external_urls(&index), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_destinations_and_combinations_exit_2() {
    let (code, _, err) = sim(&["close", "--html", "/nonexistent-dir/r.html"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot create"), "{err}");
    let (code, _, err) = sim(&["--html-gallery", "/tmp/x", "--json"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = sim(&["--html-gallery", "/tmp/x", "--html", "a.html"]);
    assert_eq!(code, 2, "{err}");
}
