//! The scenarios: each sets up its sockets, drives the application calls between
//! simulator steps, runs to completion (TIME-WAIT included; virtual time is
//! free) and checks its own expected outcome.
//!
//! On a perfect link a scenario checks the exact RFC 9293 state sequence of each
//! end. With random impairments (loss, duplication, corruption, reordering,
//! jitter, a rate limit) TCP may legitimately take another path, e.g. skip
//! FIN-WAIT-2 when the ACK of a FIN is lost; then the first and last states and
//! the states that are the scenario's point are checked.

mod lifecycle;
mod special;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use synack::{SocketHandle, State, SynCookies, TcpConfig};

use crate::data::drain;
use crate::record::{History, Side};
use crate::scenario::Scenario;
use crate::world::{ensure, fail, RunError, RunResult, World, SERVER_PORT};

/// Virtual time allowed for a handshake or a close (SYN retries take 127 s).
pub(crate) const PHASE_LIMIT: Duration = Duration::from_secs(600);
/// Virtual time allowed for TIME-WAIT and stragglers to run out.
pub(crate) const SETTLE_LIMIT: Duration = Duration::from_secs(3600);

/// Runs `scenario` in `w`.
pub(crate) fn run(scenario: Scenario, w: &mut World<'_>, bytes: u64, seed: u64) -> RunResult<()> {
    match scenario {
        Scenario::Handshake => lifecycle::handshake(w),
        Scenario::SimultaneousOpen => lifecycle::simultaneous_open(w),
        Scenario::Close => lifecycle::close(w),
        Scenario::SimultaneousClose => lifecycle::simultaneous_close(w),
        Scenario::HalfClose => lifecycle::half_close(w, bytes, seed),
        Scenario::CloseSynReceived => lifecycle::close_syn_received(w),
        Scenario::Reset => lifecycle::reset(w),
        Scenario::Refused => lifecycle::refused(w),
        Scenario::OldDuplicateSyn => special::old_duplicate_syn(w),
        Scenario::TimeWait => special::time_wait(w),
        Scenario::ZeroWindow => special::zero_window(w, bytes, seed),
        Scenario::Backlog => special::backlog(w),
        Scenario::Transfer => special::transfer(w, bytes, seed),
    }
}

/// Adjusts the server's configuration for `scenario`.
pub(crate) fn tune_server(scenario: Scenario, tcp: &mut TcpConfig) {
    if scenario == Scenario::Backlog {
        // The classic two queues: with SYN cookies a full SYN queue answers
        // instead of dropping, and clients that send nothing would wait forever
        // for the server to learn of them.
        tcp.syn_cookies = SynCookies::Off;
    }
}

/// Maps an API error to a scenario failure naming the call.
pub(crate) fn api<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> RunResult<T> {
    r.map_err(|e| RunError::Failed(format!("{what}: {e}")))
}

/// The server listens on port 80.
pub(crate) fn listen(w: &mut World<'_>, backlog: usize) -> RunResult<SocketHandle> {
    let addr = w.server_addr(SERVER_PORT);
    api("server listen", w.app(Side::Server).listen(addr, backlog))
}

/// `side` connects to `remote`, from `local` if given.
pub(crate) fn connect(
    w: &mut World<'_>,
    side: Side,
    remote: SocketAddr,
    local: Option<SocketAddr>,
) -> RunResult<SocketHandle> {
    let what = format!("{} connect", side.name());
    let h = api(&what, w.app(side).connect(remote, local))?;
    if side == Side::Client {
        w.watch_first(h);
    }
    Ok(h)
}

/// The usual start: the server listens (with `backlog`), the client connects,
/// and both ends reach ESTABLISHED. Returns (client, accepted server socket).
pub(crate) fn establish(
    w: &mut World<'_>,
    backlog: usize,
) -> RunResult<(SocketHandle, SocketHandle)> {
    let l = listen(w, backlog)?;
    let remote = w.server_addr(SERVER_PORT);
    let c = connect(w, Side::Client, remote, None)?;
    let mut s = None;
    w.until(PHASE_LIMIT, "the handshake", |w| {
        if s.is_none() {
            s = w.app(Side::Server).accept(l).ok();
        }
        Ok(s.is_some() && w.stack(Side::Client).state(c) == Some(State::Established))
    })?;
    match s {
        Some(s) => Ok((c, s)),
        None => fail("the server accepted nothing"),
    }
}

/// The client closes; the server reads to EOF, lets its ACK of the FIN go out,
/// waits `pause` and closes too.
pub(crate) fn orderly_close(
    w: &mut World<'_>,
    c: SocketHandle,
    s: SocketHandle,
    pause: Duration,
) -> RunResult<()> {
    let before = w.rec.stats.sent_by(Side::Server);
    api("client close", w.app(Side::Client).close(c))?;
    let mut eof = false;
    w.until(PHASE_LIMIT, "the server to read EOF and ACK the FIN", |w| {
        if !eof {
            eof = drain(w, Side::Server, s)?;
        }
        Ok(eof && w.rec.stats.sent_by(Side::Server) > before)
    })?;
    w.wait(pause)?;
    api("server close", w.app(Side::Server).close(s))
}

/// Runs until every timer, TIME-WAIT included, has run out.
pub(crate) fn settle(w: &mut World<'_>) -> RunResult<()> {
    w.settle(SETTLE_LIMIT, "TIME-WAIT and retransmissions to end")
}

/// The only connection (not listener) history of `side`.
pub(crate) fn only_conn<'w>(w: &'w World<'_>, side: Side) -> RunResult<&'w History> {
    let mut it = w.rec.connections(side);
    match (it.next(), it.next()) {
        (Some(h), None) => Ok(h),
        (None, _) => fail(format!("the {} has no connection", side.name())),
        (Some(_), Some(_)) => fail(format!("the {} has more than one connection", side.name())),
    }
}

/// `CLOSED -> SYN-SENT -> ESTABLISHED`.
pub(crate) fn path(states: &[State]) -> String {
    let mut s = String::new();
    for (i, st) in states.iter().enumerate() {
        if i > 0 {
            s.push_str(" -> ");
        }
        let _ = write!(s, "{st}");
    }
    s
}

/// Checks a state sequence: exactly `expected` on a perfect link; on an
/// impaired one, the same first and last states and every state of `essential`.
pub(crate) fn check_states(
    w: &World<'_>,
    who: &str,
    actual: &[State],
    expected: &[State],
    essential: &[State],
) -> RunResult<()> {
    if w.strict {
        ensure!(
            actual == expected,
            "{who}: expected {}, got {}",
            path(expected),
            path(actual)
        );
    } else {
        let ok = actual.first() == expected.first()
            && actual.last() == expected.last()
            && essential.iter().all(|s| actual.contains(s));
        ensure!(
            ok,
            "{who}: expected {} (on an impaired link: from {} to {} through {}), got {}",
            path(expected),
            path(&expected[..1]),
            path(&expected[expected.len() - 1..]),
            path(essential),
            path(actual)
        );
    }
    Ok(())
}

/// Checks that a state sequence starts with `prefix` (on any link); `lax_why`
/// explains, on an impaired link, how the impairment can prevent it.
pub(crate) fn check_prefix(
    w: &World<'_>,
    who: &str,
    actual: &[State],
    prefix: &[State],
    lax_why: &str,
) -> RunResult<()> {
    ensure!(
        actual.starts_with(prefix),
        "{who}: expected to start {}, got {}{}",
        path(prefix),
        path(actual),
        if w.strict || lax_why.is_empty() {
            String::new()
        } else {
            format!(" ({lax_why})")
        }
    );
    Ok(())
}

/// Checks that the `reader` read exactly the `bytes` bytes sent, unchanged.
pub(crate) fn check_data(w: &World<'_>, bytes: u64, reader: Side) -> RunResult<()> {
    if let Some(why) = w.flow.damage() {
        return fail(format!("the {} read wrong data: {why}", reader.name()));
    }
    ensure!(
        w.flow.delivered == bytes,
        "the {} read {} of {bytes} bytes",
        reader.name(),
        w.flow.delivered
    );
    Ok(())
}
