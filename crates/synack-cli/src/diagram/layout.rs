//! Where things go in the state diagram: a hand-placed layout after RFC 9293
//! Figure 5. Only positions live here; which edges exist comes from
//! [`synack::tcp::state::TRANSITIONS`]. An edge without a route here is drawn as a
//! straight line (or, if it goes to CLOSED, as a cell of the table of other
//! exits to CLOSED), so a new transition always shows up.

use synack::{Cause, State};

/// Width of the drawing.
pub(super) const WIDTH: f64 = 1180.0;
/// Height of the diagram above the table of other exits.
pub(super) const DIAGRAM_HEIGHT: f64 = 935.0;
/// Half the width and half the height of a state box.
pub(super) const HALF_W: f64 = 78.0;
pub(super) const HALF_H: f64 = 22.0;

/// The three columns and seven rows of the figure.
const L: f64 = 210.0;
const M: f64 = 590.0;
const R: f64 = 970.0;
const ROW: [f64; 7] = [60.0, 180.0, 320.0, 460.0, 600.0, 750.0, 890.0];

/// The centre of `s`'s box.
pub(super) const fn center(s: State) -> (f64, f64) {
    match s {
        State::Closed => (M, ROW[0]),
        State::Listen => (M, ROW[1]),
        State::SynReceived => (L, ROW[2]),
        State::SynSent => (R, ROW[2]),
        State::Established => (M, ROW[3]),
        State::FinWait1 => (L, ROW[4]),
        State::CloseWait => (R, ROW[4]),
        State::FinWait2 => (L, ROW[5]),
        State::Closing => (M, ROW[5]),
        State::LastAck => (R, ROW[5]),
        State::TimeWait => (M, ROW[6]),
    }
}

/// A second CLOSED box at the bottom right, as in the RFC's figure, where the
/// normal ends of a connection arrive.
pub(super) const CLOSED_BELOW: (f64, f64) = (R, ROW[6]);

/// How a label's `x` is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Middle => "middle",
            Self::End => "end",
        }
    }
}

/// The polyline of one edge and where its label goes.
#[derive(Clone, Debug)]
pub(super) struct Route {
    pub(super) points: Vec<(f64, f64)>,
    pub(super) label: (f64, f64),
    pub(super) anchor: Anchor,
}

fn r(points: &[(f64, f64)], label: (f64, f64), anchor: Anchor) -> Option<Route> {
    Some(Route {
        points: points.to_vec(),
        label,
        anchor,
    })
}

/// The hand-placed route of an edge of Figure 5, if it has one.
pub(super) fn route(from: State, to: State, cause: Cause) -> Option<Route> {
    use Anchor::{End, Middle, Start};
    use State::*;
    let (top, bottom) = (|y: f64| y - HALF_H, |y: f64| y + HALF_H);
    let [r0, r1, r2, r3, r4, r5, r6] = ROW;
    match (from, to, cause) {
        (Closed, Listen, Cause::AppListen) => r(
            &[(M - 20.0, bottom(r0)), (M - 20.0, top(r1))],
            (M - 36.0, 124.0),
            End,
        ),
        (Listen, Closed, Cause::AppClose) => r(
            &[(M + 20.0, top(r1)), (M + 20.0, bottom(r0))],
            (M + 36.0, 124.0),
            Start,
        ),
        (Closed, SynSent, Cause::AppConnect) => r(
            &[
                (M + HALF_W, r0 + 8.0),
                (R - 20.0, r0 + 8.0),
                (R - 20.0, top(r2)),
            ],
            (780.0, r0 + 26.0),
            Middle,
        ),
        (SynSent, Closed, Cause::AppClose) => r(
            &[
                (R + 20.0, top(r2)),
                (R + 20.0, r0 - 16.0),
                (M + HALF_W, r0 - 16.0),
            ],
            (780.0, r0 - 24.0),
            Middle,
        ),
        (Listen, SynReceived, Cause::RcvSyn) => r(
            &[
                (M - HALF_W, r1 + 8.0),
                (L + 30.0, r1 + 8.0),
                (L + 30.0, top(r2)),
            ],
            (376.0, r1 - 5.0),
            Middle,
        ),
        (Listen, Established, _) => r(&[(M, bottom(r1)), (M, top(r3))], (M + 16.0, 250.0), Start),
        (SynSent, SynReceived, Cause::RcvSyn) => r(
            &[(R - HALF_W, r2), (L + HALF_W, r2)],
            (400.0, r2 - 13.0),
            Middle,
        ),
        (SynSent, Established, _) => r(
            &[(R - 40.0, bottom(r2)), (R - 40.0, r3), (M + HALF_W, r3)],
            (R - 56.0, 405.0),
            End,
        ),
        (SynReceived, Established, _) => r(
            &[(L + 40.0, bottom(r2)), (L + 40.0, r3), (M - HALF_W, r3)],
            (L + 56.0, 405.0),
            Start,
        ),
        (SynReceived, FinWait1, _) => r(
            &[(L - 40.0, bottom(r2)), (L - 40.0, top(r4))],
            (L - 56.0, 470.0),
            End,
        ),
        (SynReceived, CloseWait, _) => r(
            &[(L, bottom(r2)), (L, 530.0), (R, 530.0), (R, top(r4))],
            (L + 100.0, 517.0),
            Start,
        ),
        (Established, FinWait1, _) => r(
            &[
                (M - 40.0, bottom(r3)),
                (M - 40.0, r4 - 8.0),
                (L + HALF_W, r4 - 8.0),
            ],
            (M - 48.0, r4 - 21.0),
            End,
        ),
        (Established, CloseWait, _) => r(
            &[(M + 40.0, bottom(r3)), (M + 40.0, r4), (R - HALF_W, r4)],
            (M + 48.0, r4 - 13.0),
            Start,
        ),
        (FinWait1, FinWait2, _) => r(
            &[(L - 40.0, bottom(r4)), (L - 40.0, top(r5))],
            (L - 56.0, 680.0),
            End,
        ),
        (FinWait1, Closing, _) => r(
            &[
                (L + 50.0, bottom(r4)),
                (L + 50.0, 660.0),
                (M - 20.0, 660.0),
                (M - 20.0, top(r5)),
            ],
            (L + 60.0, 647.0),
            Start,
        ),
        (FinWait1, TimeWait, _) => r(
            &[
                (L + 20.0, bottom(r4)),
                (L + 20.0, 690.0),
                (400.0, 690.0),
                (400.0, r6 - 10.0),
                (M - HALF_W, r6 - 10.0),
            ],
            (416.0, 812.0),
            Start,
        ),
        (FinWait2, TimeWait, _) => r(
            &[(L, bottom(r5)), (L, r6 + 10.0), (M - HALF_W, r6 + 10.0)],
            (305.0, r6 + 27.0),
            Middle,
        ),
        (CloseWait, LastAck, _) => r(&[(R, bottom(r4)), (R, top(r5))], (R + 16.0, 680.0), Start),
        (Closing, TimeWait, _) => r(&[(M, bottom(r5)), (M, top(r6))], (M + 16.0, 825.0), Start),
        (LastAck, Closed, Cause::RcvAck) => {
            r(&[(R, bottom(r5)), (R, top(r6))], (R + 16.0, 825.0), Start)
        }
        (TimeWait, Closed, Cause::TimeWaitExpired) => r(
            &[(M + HALF_W, r6), (R - HALF_W, r6)],
            (780.0, r6 - 13.0),
            Middle,
        ),
        _ => None,
    }
}

/// A straight route between two boxes, for an edge the figure does not place.
pub(super) fn straight(from: State, to: State) -> Route {
    let (a, b) = (center(from), center(to));
    let (p, q) = (clip(a, b), clip(b, a));
    Route {
        points: vec![p, q],
        label: ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0 - 6.0),
        anchor: Anchor::Middle,
    }
}

/// Where the segment from `a` (a box centre) towards `b` leaves `a`'s box.
fn clip(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let tx = if dx == 0.0 {
        f64::INFINITY
    } else {
        HALF_W / dx.abs()
    };
    let ty = if dy == 0.0 {
        f64::INFINITY
    } else {
        HALF_H / dy.abs()
    };
    let t = tx.min(ty).min(1.0);
    (a.0 + dx * t, a.1 + dy * t)
}

/// The point a fraction `f` of the way along `points`.
pub(super) fn point_at(points: &[(f64, f64)], f: f64) -> (f64, f64) {
    let seg = |w: &[(f64, f64)]| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt();
    let total: f64 = points.windows(2).map(seg).sum();
    let mut left = total * f.clamp(0.0, 1.0);
    for w in points.windows(2) {
        let len = seg(w);
        if left <= len && len > 0.0 {
            let t = left / len;
            return (
                w[0].0 + (w[1].0 - w[0].0) * t,
                w[0].1 + (w[1].1 - w[0].1) * t,
            );
        }
        left -= len;
    }
    points.last().copied().unwrap_or((0.0, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_do_not_overlap() {
        for (i, a) in State::ALL.iter().enumerate() {
            for b in &State::ALL[i + 1..] {
                let (p, q) = (center(*a), center(*b));
                let apart = (p.0 - q.0).abs() >= 2.0 * HALF_W || (p.1 - q.1).abs() >= 2.0 * HALF_H;
                assert!(apart, "{a} and {b} overlap");
            }
        }
    }

    #[test]
    fn walking_a_polyline() {
        let pts = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)];
        assert_eq!(point_at(&pts, 0.0), (0.0, 0.0));
        assert_eq!(point_at(&pts, 0.25), (5.0, 0.0));
        assert_eq!(point_at(&pts, 0.75), (10.0, 5.0));
        assert_eq!(point_at(&pts, 1.0), (10.0, 10.0));
        let s = straight(State::Closed, State::Listen);
        assert_eq!(s.points, vec![(M, ROW[0] + HALF_H), (M, ROW[1] - HALF_H)]);
    }
}
