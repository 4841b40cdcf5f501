use synack::tcp::state::TRANSITIONS;
use synack::{Cause, State};

use super::*;

/// Every `data-from="…" data-to="…" data-cause="…"` triple in `svg`.
fn edge_triples(svg: &str) -> Vec<(String, String, String)> {
    let attr = |s: &str, name: &str| -> Option<String> {
        let start = s.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + s[start..].find('"')?;
        Some(s[start..end].replace("&amp;", "&"))
    };
    svg.split("<g class=\"edge")
        .skip(1)
        .map(|g| {
            let head = &g[..g.find('>').unwrap()];
            (
                attr(head, "data-from").unwrap(),
                attr(head, "data-to").unwrap(),
                attr(head, "data-cause").unwrap(),
            )
        })
        .collect()
}

#[test]
fn one_edge_per_transition() {
    let svg = svg(&Highlight::default());
    let mut got = edge_triples(&svg);
    let mut want: Vec<(String, String, String)> = TRANSITIONS
        .iter()
        .map(|(f, t, c)| {
            (
                f.name().to_owned(),
                t.name().to_owned(),
                c.label().to_owned(),
            )
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(svg.matches("<g class=\"state").count(), State::ALL.len());
    assert!(
        !svg.contains(" used\""),
        "nothing highlighted without a run"
    );
}

#[test]
fn walks_are_numbered_in_order() {
    use State::*;
    let client = walk_of(
        Side::Client,
        &[Closed, SynSent, Established],
        &[Cause::AppConnect, Cause::RcvSynAck],
    );
    let h = Highlight {
        visited: vec![Closed, SynSent, Established],
        used: client.steps.clone(),
        walks: vec![client],
    };
    let svg = svg(&h);
    assert!(
        svg.contains(r#"data-walk="client" data-steps="1""#),
        "{svg}"
    );
    assert!(svg.contains(r#"data-walk="client" data-steps="2""#));
    assert_eq!(svg.matches(r#"class="state visited""#).count(), 3);
    assert_eq!(edge_class(&h, (Closed, SynSent, Cause::AppConnect)), "ep0");
    assert_eq!(edge_class(&h, (Closed, Listen, Cause::AppListen)), "plain");
    let dot = dot(&h);
    assert!(
        dot.contains(r#""CLOSED" -> "SYN-SENT" [label="app connect / snd SYN\n[client 1]""#),
        "{dot}"
    );
    assert_eq!(dot.matches(" -> ").count(), TRANSITIONS.len());
}
