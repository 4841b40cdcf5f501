//! The state diagram as Graphviz DOT, from the same transition table.

use std::fmt::Write as _;

use synack::tcp::state::TRANSITIONS;
use synack::State;

use super::{edge_class, Highlight};

/// A DOT string literal of `lines`: quoted, `"` and `\` escaped, lines joined
/// by DOT's `\n`.
fn quote(lines: &[&str]) -> String {
    let esc: Vec<String> = lines
        .iter()
        .map(|s| s.replace('\\', "\\\\").replace('"', "\\\""))
        .collect();
    format!("\"{}\"", esc.join("\\n"))
}

const fn colour(class: &str) -> Option<&'static str> {
    match class.as_bytes() {
        b"ep0" => Some("#0969da"),
        b"ep1" => Some("#c4420c"),
        b"both" => Some("#8250df"),
        b"used" => Some("#424a53"),
        _ => None,
    }
}

/// The diagram as a DOT digraph; with a highlight, visited states are filled and
/// each endpoint's steps are coloured and numbered in the edge labels.
pub(crate) fn dot(h: &Highlight) -> String {
    let mut o = String::new();
    o.push_str("// RFC 9293 Figure 5, drawn from synack's transition table.\n");
    o.push_str("digraph tcp_states {\n");
    o.push_str("  graph [rankdir=TB, fontname=\"Helvetica\", label=\"TCP connection states (RFC 9293)\", labelloc=t];\n");
    o.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    o.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for s in State::ALL {
        let fill = if h.visited.contains(&s) {
            " [style=\"rounded,filled,bold\", fillcolor=\"#fff1b8\"]"
        } else {
            ""
        };
        let _ = writeln!(o, "  {}{fill};", quote(&[s.name()]));
    }
    for &t in TRANSITIONS {
        let mut label = vec![t.2.label().to_owned()];
        for (w, n) in h.steps_on(t) {
            let n: Vec<String> = n.iter().map(ToString::to_string).collect();
            label.push(format!("[{} {}]", w.side.name(), n.join(",")));
        }
        let label: Vec<&str> = label.iter().map(String::as_str).collect();
        let style = colour(edge_class(h, t)).map_or_else(String::new, |c| {
            format!(
                ", color={}, fontcolor={}, penwidth=2.5",
                quote(&[c]),
                quote(&[c])
            )
        });
        let _ = writeln!(
            o,
            "  {} -> {} [label={}{style}];",
            quote(&[t.0.name()]),
            quote(&[t.1.name()]),
            quote(&label)
        );
    }
    o.push_str("}\n");
    o
}
