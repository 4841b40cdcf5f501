//! `synack diagram`: the RFC 9293 connection state diagram (§3.3.2, Figure 5),
//! drawn from the core's own transition table
//! ([`synack::tcp::state::TRANSITIONS`]), so the picture cannot drift from the
//! code: every transition the state machine may make is an edge, labelled with
//! its [`Cause::label`], and nothing else is.
//!
//! The SVG is pure Rust (no Graphviz at run time); `--format dot` prints Graphviz
//! DOT for those who have it. Each edge is an element with `data-from`, `data-to`
//! and `data-cause` attributes, each state a `g.state` with `data-state`. With a
//! [`Highlight`], the states a run visited are shaded and each endpoint's path is
//! coloured and numbered.

mod cmd;
mod dot;
mod layout;

use std::fmt::Write as _;

use synack::tcp::state::TRANSITIONS;
use synack::{Cause, State};

pub(crate) use cmd::run;
pub(crate) use dot::dot;
use layout::{center, point_at, route, straight, Route, CLOSED_BELOW, HALF_H, HALF_W};

use crate::record::{History, Side};
use crate::xml::esc;

/// A transition: from, to, why.
pub(crate) type Transition = (State, State, Cause);

/// One endpoint's path through the states, numbered in the drawing.
#[derive(Clone, Debug)]
pub(crate) struct Walk {
    /// `client 10.0.0.1:41267`.
    pub(crate) name: String,
    pub(crate) side: Side,
    pub(crate) start: State,
    pub(crate) steps: Vec<Transition>,
}

/// What a run did, to highlight in the diagram.
#[derive(Clone, Debug, Default)]
pub(crate) struct Highlight {
    /// Every state any socket of the run was in, in RFC order.
    pub(crate) visited: Vec<State>,
    /// Every transition any socket made.
    pub(crate) used: Vec<Transition>,
    /// The numbered paths: the first connection of the client and of the server.
    pub(crate) walks: Vec<Walk>,
}

impl Highlight {
    /// The highlight of a run whose sockets went through `histories`.
    pub(crate) fn from_histories(histories: &[History]) -> Self {
        let mut h = Self::default();
        for hist in histories {
            for (i, &cause) in hist.causes.iter().enumerate() {
                let t = (hist.states[i], hist.states[i + 1], cause);
                if !h.used.contains(&t) {
                    h.used.push(t);
                }
            }
        }
        h.visited = State::ALL
            .into_iter()
            .filter(|s| histories.iter().any(|x| x.states.contains(s)))
            .collect();
        for side in [Side::Client, Side::Server] {
            let mut conns = histories
                .iter()
                .filter(|x| x.side == side && x.remote.is_some());
            let Some(first) = conns.next() else { continue };
            let more = conns.count();
            let mut name = format!("{} {}", side.name(), first.local);
            if more > 0 {
                let _ = write!(name, " (first of {} connections)", more + 1);
            }
            h.walks.push(walk(histories, first, name));
        }
        h
    }

    /// The walks that take `t`, with the step numbers at which they do.
    fn steps_on(&self, t: Transition) -> Vec<(&Walk, Vec<usize>)> {
        self.walks
            .iter()
            .filter_map(|w| {
                let n: Vec<usize> = (1..)
                    .zip(&w.steps)
                    .filter(|(_, s)| **s == t)
                    .map(|(i, _)| i)
                    .collect();
                (!n.is_empty()).then_some((w, n))
            })
            .collect()
    }

    /// Changes the run made that [`TRANSITIONS`] does not list (there should be
    /// none: the core asserts it in debug builds).
    pub(crate) fn unlisted(&self) -> Vec<Transition> {
        self.used
            .iter()
            .filter(|t| !TRANSITIONS.contains(t))
            .copied()
            .collect()
    }
}

/// The path of connection `conn`; one accepted from a listener starts with the
/// listener's own way to LISTEN (CLOSED → LISTEN), as in the RFC's figure.
fn walk(histories: &[History], conn: &History, name: String) -> Walk {
    let mut steps = Vec::new();
    let mut start = conn.states[0];
    if start == State::Listen {
        let listener = histories.iter().find(|x| {
            x.side == conn.side
                && x.remote.is_none()
                && x.local.port() == conn.local.port()
                && x.states.contains(&State::Listen)
        });
        if let Some(l) = listener {
            start = l.states[0];
            for (i, &cause) in l.causes.iter().enumerate() {
                steps.push((l.states[i], l.states[i + 1], cause));
                if l.states[i + 1] == State::Listen {
                    break;
                }
            }
        }
    }
    for (i, &cause) in conn.causes.iter().enumerate() {
        steps.push((conn.states[i], conn.states[i + 1], cause));
    }
    Walk {
        name,
        side: conn.side,
        start,
        steps,
    }
}

/// An edge as drawn: on its route, or (`None`) as a cell of the table of other
/// exits to CLOSED.
struct Edge {
    t: Transition,
    route: Option<Route>,
}

fn edges() -> Vec<Edge> {
    TRANSITIONS
        .iter()
        .map(|&(from, to, cause)| Edge {
            t: (from, to, cause),
            route: route(from, to, cause)
                .or_else(|| (to != State::Closed).then(|| straight(from, to))),
        })
        .collect()
}

/// The causes of the table of other exits to CLOSED, in table order.
fn exit_causes(edges: &[Edge]) -> Vec<Cause> {
    let mut causes = Vec::new();
    for e in edges.iter().filter(|e| e.route.is_none()) {
        if !causes.contains(&e.t.2) {
            causes.push(e.t.2);
        }
    }
    causes
}

const STYLE: &str = r#"
.state-diagram{font-family:"DejaVu Sans",Verdana,system-ui,sans-serif;font-size:12px}
.state-diagram .title{font-size:18px;font-weight:700;fill:#1f2328}
.state-diagram .subtitle,.state-diagram .legend text{fill:#57606a}
.state-diagram .state rect{fill:#fff;stroke:#8c959f;stroke-width:1.5}
.state-diagram .state text,.state-diagram .alias text{font-weight:700;fill:#6e7781;font-size:13px}
.state-diagram .state.visited rect{fill:#fff1b8;stroke:#1f2328;stroke-width:2.5}
.state-diagram .state.visited text{fill:#1f2328}
.state-diagram .alias rect{fill:#fff;stroke:#8c959f;stroke-dasharray:5 3}
.state-diagram .alias.visited rect{fill:#fff1b8;stroke:#1f2328;stroke-width:2}
.state-diagram .alias.visited text{fill:#1f2328}
.state-diagram .edge path{fill:none;stroke:#b6bec7;stroke-width:1.4}
.state-diagram .edge text{fill:#6e7781;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}
.state-diagram .edge.used path{stroke:#424a53;stroke-width:2.2}
.state-diagram .edge.used text{fill:#1f2328;font-weight:700}
.state-diagram .edge.ep0 path{stroke:#0969da;stroke-width:3}
.state-diagram .edge.ep1 path{stroke:#c4420c;stroke-width:3}
.state-diagram .edge.both path{stroke:#8250df;stroke-width:3}
.state-diagram .exit circle{fill:#fff;stroke:#8c959f;stroke-width:1.5}
.state-diagram .exit.used circle{fill:#424a53;stroke:#424a53}
.state-diagram .exit.ep0 circle{fill:#0969da;stroke:#0969da}
.state-diagram .exit.ep1 circle{fill:#c4420c;stroke:#c4420c}
.state-diagram .exit.both circle{fill:#8250df;stroke:#8250df}
.state-diagram .step rect{stroke:#fff;stroke-width:1.5}
.state-diagram .step text{fill:#fff;font-weight:700;font-size:11px}
.state-diagram .ep0 rect,.state-diagram .ep0.sd-key{fill:#0969da}
.state-diagram .ep1 rect,.state-diagram .ep1.sd-key{fill:#c4420c}
.state-diagram .both.sd-key{fill:#8250df}
.state-diagram .used.sd-key{fill:#424a53}
.state-diagram .start text{fill:#fff;font-weight:700;font-size:10px}
.state-diagram .grid{stroke:#eaeef2}
.state-diagram .head{fill:#57606a;font-weight:700}
"#;

/// Arrowheads, one per edge colour.
const MARKERS: [(&str, &str); 5] = [
    ("plain", "#b6bec7"),
    ("used", "#424a53"),
    ("ep0", "#0969da"),
    ("ep1", "#c4420c"),
    ("both", "#8250df"),
];

/// The class of an edge: who took it.
fn edge_class(h: &Highlight, t: Transition) -> &'static str {
    let sides: Vec<Side> = h.steps_on(t).iter().map(|(w, _)| w.side).collect();
    match (sides.contains(&Side::Client), sides.contains(&Side::Server)) {
        (true, true) => "both",
        (true, false) => "ep0",
        (false, true) => "ep1",
        (false, false) if h.used.contains(&t) => "used",
        _ => "plain",
    }
}

const fn side_class(side: Side) -> &'static str {
    match side {
        Side::Client => "ep0",
        Side::Server => "ep1",
    }
}

/// The diagram as an SVG document (no XML declaration, so it can be inlined in
/// HTML as is).
pub(crate) fn svg(h: &Highlight) -> String {
    let edges = edges();
    let causes = exit_causes(&edges);
    let exit_rows: Vec<State> = State::ALL
        .into_iter()
        .filter(|s| edges.iter().any(|e| e.route.is_none() && e.t.0 == *s))
        .collect();
    let table_top = layout::DIAGRAM_HEIGHT + 10.0;
    let height = table_top + 78.0 + 24.0 * exit_rows.len() as f64 + 16.0;
    let width = layout::WIDTH;
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="state-diagram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="TCP state diagram">"#
    );
    o.push_str("<title>TCP connection states (RFC 9293 Figure 5)</title>");
    let _ = write!(o, "<style>{STYLE}</style><defs>");
    for (name, colour) in MARKERS {
        let _ = write!(
            o,
            r#"<marker id="sd-arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>"#
        );
    }
    o.push_str("</defs>");
    legend(&mut o, h);
    for e in edges.iter().filter(|e| e.route.is_some()) {
        draw_edge(&mut o, h, e);
    }
    for s in State::ALL {
        draw_state(&mut o, h, s);
    }
    draw_closed_below(&mut o, h, &edges);
    for e in &edges {
        if let Some(r) = &e.route {
            draw_badges(&mut o, h, e.t, |f| point_at(&r.points, f));
        }
    }
    for w in &h.walks {
        start_tab(&mut o, w, h);
    }
    exit_table(&mut o, h, &edges, (&causes, &exit_rows), table_top);
    o.push_str("</svg>\n");
    o
}

fn legend(o: &mut String, h: &Highlight) {
    o.push_str(r#"<text class="title" x="16" y="28">TCP connection states</text>"#);
    let n = TRANSITIONS.len();
    let _ = write!(
        o,
        r#"<text class="subtitle" x="16" y="48">RFC 9293 Figure 5, drawn from synack's</text><text class="subtitle" x="16" y="64">transition table: {n} transitions</text>"#
    );
    let mut y = 92.0;
    let mut item = |o: &mut String, class: &str, text: &str| {
        let _ = write!(
            o,
            r#"<g class="legend"><rect class="sd-key {class}" x="16" y="{}" width="22" height="5" rx="2"/><text x="46" y="{y}">{}</text></g>"#,
            y - 6.0,
            esc(text)
        );
        y += 18.0;
    };
    for w in &h.walks {
        let text = format!("{}: steps 1–{}", w.name, w.steps.len());
        item(o, side_class(w.side), &text);
    }
    let classes: Vec<&str> = h.used.iter().map(|&t| edge_class(h, t)).collect();
    if classes.contains(&"both") {
        item(o, "both", "taken by both endpoints");
    }
    if classes.contains(&"used") {
        item(o, "used", "taken by other sockets of the run");
    }
    if !h.visited.is_empty() {
        let _ = write!(
            o,
            r##"<g class="legend"><rect x="16" y="{}" width="22" height="12" rx="3" fill="#fff1b8" stroke="#1f2328"/><text x="46" y="{y}">state visited in this run</text></g>"##,
            y - 10.0
        );
    }
}

fn path_d(points: &[(f64, f64)]) -> String {
    let mut d = String::new();
    for (i, (x, y)) in points.iter().enumerate() {
        let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" });
    }
    d
}

fn edge_title(t: Transition) -> String {
    format!("{} → {}: {}", t.0, t.1, t.2.label())
}

fn edge_attrs(t: Transition) -> String {
    format!(
        r#"data-from="{}" data-to="{}" data-cause="{}""#,
        t.0.name(),
        t.1.name(),
        esc(t.2.label())
    )
}

fn draw_edge(o: &mut String, h: &Highlight, e: &Edge) {
    let Some(r) = &e.route else { return };
    let class = edge_class(h, e.t);
    let used = if class == "plain" { "" } else { " used" };
    let _ = write!(
        o,
        r#"<g class="edge {class}{used}" {}><title>{}</title><path d="{}" marker-end="url(#sd-arrow-{class})"/><text x="{:.1}" y="{:.1}" text-anchor="{}">{}</text></g>"#,
        edge_attrs(e.t),
        esc(&edge_title(e.t)),
        path_d(&r.points),
        r.label.0,
        r.label.1,
        r.anchor.as_str(),
        esc(e.t.2.label())
    );
}

fn draw_box(o: &mut String, (x, y): (f64, f64), name: &str) {
    let _ = write!(
        o,
        r#"<rect x="{:.1}" y="{:.1}" width="{}" height="{}" rx="9"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{name}</text>"#,
        x - HALF_W,
        y - HALF_H,
        2.0 * HALF_W,
        2.0 * HALF_H,
        y + 4.5
    );
}

fn draw_state(o: &mut String, h: &Highlight, s: State) {
    let visited = if h.visited.contains(&s) {
        " visited"
    } else {
        ""
    };
    let _ = write!(
        o,
        r#"<g class="state{visited}" data-state="{}"><title>{}</title>"#,
        s.name(),
        s.name()
    );
    draw_box(o, center(s), s.name());
    o.push_str("</g>");
}

/// The second CLOSED box (not a `g.state`: the same state drawn twice), shaded
/// when a transition drawn into it was taken.
fn draw_closed_below(o: &mut String, h: &Highlight, edges: &[Edge]) {
    let below = |r: &Route| {
        r.points
            .last()
            .is_some_and(|p| p.1 > CLOSED_BELOW.1 - 2.0 * HALF_H)
    };
    let reached = edges.iter().any(|e| {
        e.t.1 == State::Closed && e.route.as_ref().is_some_and(below) && h.used.contains(&e.t)
    });
    let visited = if reached { " visited" } else { "" };
    let _ = write!(
        o,
        r#"<g class="alias{visited}" data-alias="CLOSED"><title>CLOSED (drawn a second time, as in RFC 9293 Figure 5)</title>"#
    );
    draw_box(o, CLOSED_BELOW, "CLOSED");
    o.push_str("</g>");
}

/// A numbered badge for each walk that takes `t`, at `at(fraction)`.
fn draw_badges(o: &mut String, h: &Highlight, t: Transition, at: impl Fn(f64) -> (f64, f64)) {
    let on = h.steps_on(t);
    for (w, numbers) in &on {
        let f = match (on.len(), w.side) {
            (1, _) => 0.5,
            (_, Side::Client) => 0.3,
            (_, Side::Server) => 0.7,
        };
        badge(o, at(f), (w, t), numbers);
    }
}

fn badge(o: &mut String, (x, y): (f64, f64), (w, t): (&Walk, Transition), numbers: &[usize]) {
    let text = numbers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let width = 8.0 + 7.0 * text.len() as f64;
    let _ = write!(
        o,
        r#"<g class="step {}" data-walk="{}" data-steps="{text}" data-edge="{}|{}|{}"><title>{}: step {text}</title><rect x="{:.1}" y="{:.1}" width="{width:.1}" height="18" rx="9"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{text}</text></g>"#,
        side_class(w.side),
        w.side.name(),
        t.0.name(),
        t.1.name(),
        esc(t.2.label()),
        esc(&w.name),
        x - width / 2.0,
        y - 9.0,
        y + 4.0
    );
}

/// A tab on the state where a walk starts.
fn start_tab(o: &mut String, w: &Walk, h: &Highlight) {
    let (x, y) = center(w.start);
    let same = h.walks.iter().filter(|v| v.start == w.start).count() > 1;
    let dx = match (same, w.side) {
        (true, Side::Server) => HALF_W - 58.0,
        _ => -HALF_W,
    };
    let label = format!("{} ▶", w.side.name());
    let _ = write!(
        o,
        r#"<g class="start {}"><title>{} starts here</title><rect x="{:.1}" y="{:.1}" width="58" height="15" rx="4"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text></g>"#,
        side_class(w.side),
        esc(&w.name),
        x + dx,
        y - HALF_H - 16.0,
        x + dx + 29.0,
        y - HALF_H - 5.0
    );
}

/// The transitions to CLOSED the figure leaves implicit (RST, timeouts, aborts
/// from every state), as a table: one row per state, one column per cause.
fn exit_table(
    o: &mut String,
    h: &Highlight,
    edges: &[Edge],
    (causes, rows): (&[Cause], &[State]),
    top: f64,
) {
    if rows.is_empty() {
        return;
    }
    let (x0, col, row_h) = (190.0, 150.0, 24.0);
    let _ = write!(
        o,
        r#"<text class="title" x="16" y="{:.1}" style="font-size:15px">Other transitions to CLOSED (not drawn as arrows)</text>"#,
        top + 18.0
    );
    let head_y = top + 42.0;
    for (i, c) in causes.iter().enumerate() {
        let x = x0 + col * (i as f64 + 0.5);
        let label = c.label();
        let (a, b) = label.split_once(" / ").map_or((label, ""), |(a, b)| (a, b));
        let _ = write!(
            o,
            r#"<text class="head" x="{x:.1}" y="{head_y:.1}" text-anchor="middle">{}</text>"#,
            esc(a)
        );
        if !b.is_empty() {
            let _ = write!(
                o,
                r#"<text class="head" x="{x:.1}" y="{:.1}" text-anchor="middle">/ {}</text>"#,
                head_y + 15.0,
                esc(b)
            );
        }
    }
    let body = head_y + 30.0;
    for (j, s) in rows.iter().enumerate() {
        let y = body + row_h * j as f64;
        let _ = write!(
            o,
            r#"<line class="grid" x1="16" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><text class="head" x="24" y="{:.1}">{} → CLOSED</text>"#,
            x0 + col * causes.len() as f64,
            y - row_h / 2.0,
            y - row_h / 2.0,
            y + 4.0,
            s.name()
        );
        for (i, c) in causes.iter().enumerate() {
            let t = (*s, State::Closed, *c);
            if !edges.iter().any(|e| e.route.is_none() && e.t == t) {
                continue;
            }
            let x = x0 + col * (i as f64 + 0.5);
            let class = edge_class(h, t);
            let used = if class == "plain" { "" } else { " used" };
            let _ = write!(
                o,
                r#"<g class="edge exit {class}{used}" {}><title>{}</title><circle cx="{x:.1}" cy="{y:.1}" r="6"/></g>"#,
                edge_attrs(t),
                esc(&edge_title(t))
            );
            draw_badges(o, h, t, |f| (x + 22.0 + 36.0 * (f - 0.3), y));
        }
    }
}

/// Builds a highlight by hand, for tests.
#[cfg(test)]
pub(crate) fn walk_of(side: Side, states: &[State], causes: &[Cause]) -> Walk {
    Walk {
        name: side.name().to_owned(),
        side,
        start: states[0],
        steps: states
            .windows(2)
            .zip(causes)
            .map(|(w, &c)| (w[0], w[1], c))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
