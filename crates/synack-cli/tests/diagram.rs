//! `synack diagram`: the SVG is valid XML whose edges are exactly the core's
//! transition table; DOT has the same edges; `--highlight` shades the states a
//! scenario visited and numbers each endpoint's path.

mod common;

use std::collections::BTreeSet;

use common::*;
use synack::tcp::state::TRANSITIONS;
use synack::State;
use synack_cli::Scenario;

/// Runs `synack ARGS` in-process: (exit status, stdout, stderr).
fn synack(args: &[&str]) -> (i32, String, String) {
    let mut argv = vec!["synack"];
    argv.extend_from_slice(args);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = synack_cli::run(argv, &mut out, &mut err, false);
    (
        code,
        String::from_utf8(out).expect("stdout is UTF-8"),
        String::from_utf8(err).expect("stderr is UTF-8"),
    )
}

type Triple = (String, String, String);

/// The edges of the diagram: every element with data-from, data-to, data-cause.
fn edges(doc: &roxmltree::Document<'_>) -> Vec<Triple> {
    doc.descendants()
        .filter(|n| n.has_attribute("data-from"))
        .map(|n| {
            let a = |k: &str| {
                n.attribute(k)
                    .unwrap_or_else(|| panic!("{k} missing"))
                    .to_owned()
            };
            (a("data-from"), a("data-to"), a("data-cause"))
        })
        .collect()
}

fn transitions() -> Vec<Triple> {
    TRANSITIONS
        .iter()
        .map(|(f, t, c)| {
            (
                f.name().to_owned(),
                t.name().to_owned(),
                c.label().to_owned(),
            )
        })
        .collect()
}

fn has_class(n: &roxmltree::Node<'_, '_>, class: &str) -> bool {
    n.attribute("class")
        .is_some_and(|c| c.split_whitespace().any(|w| w == class))
}

/// The `data-state` of every `g.state` with class `class` (all of them if empty).
fn states_with(doc: &roxmltree::Document<'_>, class: &str) -> BTreeSet<String> {
    doc.descendants()
        .filter(|n| n.tag_name().name() == "g" && has_class(n, "state"))
        .filter(|n| class.is_empty() || has_class(n, class))
        .map(|n| n.attribute("data-state").expect("data-state").to_owned())
        .collect()
}

#[test]
fn svg_is_valid_and_its_edges_are_the_transition_table() {
    let (code, svg, err) = synack(&["diagram", "--format", "svg"]);
    assert_eq!((code, err.as_str()), (0, ""));
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let mut got = edges(&doc);
    let mut want = transitions();
    got.sort();
    want.sort();
    assert_eq!(got.len(), TRANSITIONS.len(), "one element per transition");
    assert_eq!(got, want);
    // Every edge is labelled with its cause, visibly or as the title of its cell.
    for n in doc.descendants().filter(|n| n.has_attribute("data-cause")) {
        let cause = n.attribute("data-cause").unwrap();
        let text: String = n
            .descendants()
            .filter(|d| d.is_text())
            .filter_map(|d| d.text())
            .collect();
        assert!(
            text.contains(cause),
            "edge {cause:?} lacks its label: {text:?}"
        );
    }
    let names: BTreeSet<String> = State::ALL.iter().map(|s| s.name().to_owned()).collect();
    assert_eq!(states_with(&doc, ""), names, "one box per state");
    assert!(
        states_with(&doc, "visited").is_empty(),
        "no run, nothing highlighted"
    );
    // The default format is SVG, and -o writes the same to a file.
    assert_eq!(synack(&["diagram"]).1, svg);
    let file = std::env::temp_dir().join(format!("synack-diagram-{}.svg", std::process::id()));
    let path = file.to_str().unwrap();
    assert_eq!(synack(&["diagram", "-o", path]).0, 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), svg);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn dot_has_the_same_edges() {
    let (code, dot, _) = synack(&["diagram", "--format", "dot"]);
    assert_eq!(code, 0);
    assert!(dot.lines().any(|l| l.starts_with("digraph ")), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
    let lines: Vec<&str> = dot.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(lines.len(), TRANSITIONS.len());
    for (f, t, c) in transitions() {
        let want = format!("\"{f}\" -> \"{t}\" [label=\"{c}\"");
        assert!(
            lines.iter().any(|l| l.trim_start().starts_with(&want)),
            "{want} missing"
        );
    }
}

/// The states a run of `scenario` visited, from its JSON lines.
fn visited(scenario: &str) -> BTreeSet<String> {
    let (code, out, _) = sim(&[scenario, "--json"]);
    assert_eq!(code, 0);
    json_lines(&out)
        .iter()
        .filter(|l| l["type"] == "state")
        .flat_map(|l| [l["from"].as_str().unwrap(), l["to"].as_str().unwrap()])
        .map(str::to_owned)
        .collect()
}

#[test]
fn highlight_shades_the_visited_states_and_numbers_each_path() {
    let (code, svg, err) = synack(&["diagram", "--highlight", "close"]);
    assert_eq!((code, err.as_str()), (0, ""));
    let doc = roxmltree::Document::parse(&svg).expect("well-formed");
    assert_eq!(states_with(&doc, "visited"), visited("close"));
    // Client: CLOSED → SYN-SENT → ESTABLISHED → FIN-WAIT-1 → FIN-WAIT-2 →
    // TIME-WAIT → CLOSED; server: CLOSED → LISTEN (the listener) → SYN-RECEIVED
    // → ESTABLISHED → CLOSE-WAIT → LAST-ACK → CLOSED.
    let step = |walk: &str, n: usize| -> Triple {
        let badge = doc
            .descendants()
            .find(|b| {
                b.attribute("data-walk") == Some(walk)
                    && b.attribute("data-steps") == Some(n.to_string().as_str())
            })
            .unwrap_or_else(|| panic!("{walk} step {n} missing"));
        let edge: Vec<&str> = badge.attribute("data-edge").unwrap().split('|').collect();
        let triple = (edge[0].to_owned(), edge[1].to_owned(), edge[2].to_owned());
        assert!(edges(&doc).contains(&triple), "{triple:?} is an edge");
        triple
    };
    let path = |walk: &str, n: usize| -> Vec<String> {
        let mut states = Vec::new();
        for i in 1..=n {
            let (f, t, _) = step(walk, i);
            if i == 1 {
                states.push(f);
            }
            states.push(t);
        }
        states
    };
    assert_eq!(
        path("client", 6),
        states("CLOSED SYN-SENT ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT CLOSED")
    );
    assert_eq!(
        path("server", 6),
        states("CLOSED LISTEN SYN-RECEIVED ESTABLISHED CLOSE-WAIT LAST-ACK CLOSED")
    );
    assert_eq!(step("client", 4).2, "rcv ACK");
    let (code, dot, _) = synack(&["diagram", "--format", "dot", "--highlight", "close"]);
    assert_eq!(code, 0);
    assert!(
        dot.contains("[client 1]") && dot.contains("[server 6]"),
        "{dot}"
    );
}

#[test]
fn every_scenario_stays_inside_the_table() {
    for s in Scenario::ALL {
        let name = s.name();
        let (code, svg, err) = synack(&["diagram", "--highlight", name]);
        assert_eq!((code, err.as_str()), (0, ""), "{name}");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        assert!(!states_with(&doc, "visited").is_empty(), "{name}");
    }
    let (code, _, err) = synack(&["diagram", "--highlight", "no-such"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = synack(&["diagram", "--seed", "3"]);
    assert_eq!(code, 2, "--seed needs --highlight: {err}");
}
