//! Opening and closing: handshake, simultaneous open, the four ways to close,
//! reset and refusal (RFC 9293 §3.5, §3.6; Figures 6, 7, 12, 13).

use std::time::Duration;

use synack::{ConnectionError, Shutdown, State::*};

use super::{
    api, check_data, check_prefix, check_states, connect, establish, listen, only_conn,
    orderly_close, settle, PHASE_LIMIT,
};
use crate::data::{drain, Source};
use crate::record::Side;
use crate::world::{ensure, fail, RunResult, World, SERVER_PORT};

/// The pause between the server's ACK of a FIN and its own close.
const CLOSE_PAUSE: Duration = Duration::from_millis(5);

/// The ports of the simultaneous-open scenarios.
const CLIENT_PORT: u16 = 4000;
const PEER_PORT: u16 = 5000;

pub(super) fn handshake(w: &mut World<'_>) -> RunResult<()> {
    establish(w, 16)?;
    let client = only_conn(w, Side::Client)?.states.clone();
    check_states(w, "client", &client, &[Closed, SynSent, Established], &[])?;
    let server = only_conn(w, Side::Server)?.states.clone();
    check_states(
        w,
        "server",
        &server,
        &[Listen, SynReceived, Established],
        &[],
    )
}

pub(super) fn simultaneous_open(w: &mut World<'_>) -> RunResult<()> {
    let (ca, cb) = open_simultaneously(w)?;
    w.until(PHASE_LIMIT, "both ends to reach ESTABLISHED", |w| {
        Ok(w.stack(Side::Client).state(ca) == Some(Established)
            && w.stack(Side::Server).state(cb) == Some(Established))
    })?;
    let opening = [Closed, SynSent, SynReceived, Established];
    let why = "a lost SYN turned the simultaneous open into an ordinary one";
    let client = only_conn(w, Side::Client)?.states.clone();
    check_prefix(w, "client", &client, &opening, why)?;
    let server = only_conn(w, Side::Server)?.states.clone();
    check_prefix(w, "server", &server, &opening, why)?;
    orderly_close(w, ca, cb, CLOSE_PAUSE)?;
    settle(w)?;
    let client = only_conn(w, Side::Client)?.states.clone();
    let expected = [opening.as_slice(), &[FinWait1, FinWait2, TimeWait, Closed]].concat();
    check_states(w, "client", &client, &expected, &[Established, TimeWait])?;
    let server = only_conn(w, Side::Server)?.states.clone();
    let expected = [opening.as_slice(), &[CloseWait, LastAck, Closed]].concat();
    check_states(w, "server", &server, &expected, &[Established, LastAck])
}

/// Client 10.0.0.1:4000 and server 10.0.0.2:5000 connect to each other at once.
fn open_simultaneously(
    w: &mut World<'_>,
) -> RunResult<(synack::SocketHandle, synack::SocketHandle)> {
    let (client, server) = (w.client_addr(CLIENT_PORT), w.server_addr(PEER_PORT));
    let ca = connect(w, Side::Client, server, Some(client))?;
    let cb = connect(w, Side::Server, client, Some(server))?;
    Ok((ca, cb))
}

pub(super) fn close(w: &mut World<'_>) -> RunResult<()> {
    let (c, s) = establish(w, 16)?;
    orderly_close(w, c, s, CLOSE_PAUSE)?;
    settle(w)?;
    check_active_close(w)?;
    check_passive_close(w)
}

/// The client closed first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT.
fn check_active_close(w: &World<'_>) -> RunResult<()> {
    let client = only_conn(w, Side::Client)?.states.clone();
    check_states(
        w,
        "client",
        &client,
        &[
            Closed,
            SynSent,
            Established,
            FinWait1,
            FinWait2,
            TimeWait,
            Closed,
        ],
        &[FinWait1, TimeWait],
    )
}

/// The server closed second: CLOSE-WAIT, LAST-ACK.
fn check_passive_close(w: &World<'_>) -> RunResult<()> {
    let server = only_conn(w, Side::Server)?.states.clone();
    check_states(
        w,
        "server",
        &server,
        &[Listen, SynReceived, Established, CloseWait, LastAck, Closed],
        &[CloseWait, LastAck],
    )
}

pub(super) fn simultaneous_close(w: &mut World<'_>) -> RunResult<()> {
    let (c, s) = establish(w, 16)?;
    // Let the handshake's last ACK land so both ends are quiet.
    w.wait(Duration::from_millis(50))?;
    api("client close", w.app(Side::Client).close(c))?;
    api("server close", w.app(Side::Server).close(s))?;
    settle(w)?;
    let tail = [FinWait1, Closing, TimeWait, Closed];
    let client = only_conn(w, Side::Client)?.states.clone();
    let expected = [[Closed, SynSent, Established].as_slice(), &tail].concat();
    check_states(w, "client", &client, &expected, &[FinWait1, TimeWait])?;
    let server = only_conn(w, Side::Server)?.states.clone();
    let expected = [[Listen, SynReceived, Established].as_slice(), &tail].concat();
    check_states(w, "server", &server, &expected, &[FinWait1, TimeWait])
}

pub(super) fn half_close(w: &mut World<'_>, bytes: u64, seed: u64) -> RunResult<()> {
    let (c, s) = establish(w, 16)?;
    api(
        "client shutdown(Write)",
        w.app(Side::Client).shutdown(c, Shutdown::Write),
    )?;
    w.until(PHASE_LIMIT, "the server to read the client's EOF", |w| {
        drain(w, Side::Server, s)
    })?;
    let mut src = Source::new(seed, bytes);
    w.flow.expect(&src);
    let (mut closed, mut eof) = (false, false);
    w.until(
        transfer_limit(bytes),
        "the client to read all the server's data and EOF",
        |w| {
            if !closed && src.pump(w, Side::Server, s)? {
                api("server close", w.app(Side::Server).close(s))?;
                closed = true;
            }
            if !eof {
                eof = drain(w, Side::Client, c)?;
            }
            Ok(eof)
        },
    )?;
    api("client close", w.app(Side::Client).close(c))?;
    settle(w)?;
    check_data(w, bytes, Side::Client)?;
    check_active_close(w)?;
    check_passive_close(w)
}

/// Time allowed for moving `bytes`: generous, as virtual time is free.
pub(super) fn transfer_limit(bytes: u64) -> Duration {
    Duration::from_secs(3600 + bytes / 1000)
}

pub(super) fn close_syn_received(w: &mut World<'_>) -> RunResult<()> {
    let (ca, cb) = open_simultaneously(w)?;
    w.until(PHASE_LIMIT, "the client to reach SYN-RECEIVED", |w| match w
        .stack(Side::Client)
        .state(ca)
    {
        Some(SynReceived) => Ok(true),
        Some(SynSent) => Ok(false),
        other => fail(format!(
            "the client went from SYN-SENT to {} without SYN-RECEIVED \
                 (a lost SYN turned the simultaneous open into an ordinary one)",
            other.map_or("nothing".to_owned(), |s| s.to_string())
        )),
    })?;
    api("client close", w.app(Side::Client).close(ca))?;
    w.until(PHASE_LIMIT, "the server to read EOF", |w| {
        drain(w, Side::Server, cb)
    })?;
    api("server close", w.app(Side::Server).close(cb))?;
    settle(w)?;
    let client = only_conn(w, Side::Client)?.states.clone();
    check_prefix(
        w,
        "client",
        &client,
        &[Closed, SynSent, SynReceived, FinWait1],
        "",
    )?;
    ensure!(
        client.last() == Some(&Closed) && client.contains(&TimeWait),
        "client: expected to end through TIME-WAIT in CLOSED, got {}",
        super::path(&client)
    );
    let server = only_conn(w, Side::Server)?.states.clone();
    check_states(
        w,
        "server",
        &server,
        &[
            Closed,
            SynSent,
            SynReceived,
            Established,
            CloseWait,
            LastAck,
            Closed,
        ],
        &[CloseWait, LastAck],
    )
}

pub(super) fn reset(w: &mut World<'_>) -> RunResult<()> {
    let (c, s) = establish(w, 16)?;
    w.wait(Duration::from_millis(50))?;
    api(
        "client set_linger(0)",
        w.app(Side::Client).set_linger(c, Some(Duration::ZERO)),
    )?;
    api("client close", w.app(Side::Client).close(c))?;
    let seen = w.until(PHASE_LIMIT, "the server to see the reset", |w| {
        Ok(w.stack(Side::Server).state(s) == Some(Closed))
    });
    let rst_arrived = w
        .rec
        .ctl
        .iter()
        .any(|t| t.side == Side::Client && t.flags.rst() && t.arrives);
    if seen.is_err() && !rst_arrived {
        return fail(
            "the client's RST was lost in the network; RSTs are not retransmitted, \
             so the server's connection stays half-open",
        );
    }
    seen?;
    let err = w.stack(Side::Server).error(s);
    ensure!(
        err == Some(ConnectionError::Reset),
        "server: expected error 'connection reset', got {err:?}"
    );
    ensure!(
        w.rec
            .ctl
            .iter()
            .any(|t| t.side == Side::Client && t.flags.rst()),
        "the client sent no RST"
    );
    api("server close", w.app(Side::Server).close(s))?;
    settle(w)?;
    let client = only_conn(w, Side::Client)?.states.clone();
    check_states(
        w,
        "client",
        &client,
        &[Closed, SynSent, Established, Closed],
        &[],
    )?;
    let server = only_conn(w, Side::Server)?.states.clone();
    check_states(
        w,
        "server",
        &server,
        &[Listen, SynReceived, Established, Closed],
        &[],
    )
}

pub(super) fn refused(w: &mut World<'_>) -> RunResult<()> {
    let _l = listen(w, 16)?;
    let remote = w.server_addr(SERVER_PORT + 1);
    let c = connect(w, Side::Client, remote, None)?;
    w.until(PHASE_LIMIT, "the connection to be refused", |w| {
        Ok(w.stack(Side::Client).state(c) == Some(Closed))
    })?;
    let err = w.stack(Side::Client).error(c);
    ensure!(
        err == Some(ConnectionError::Refused),
        "client: expected error 'connection refused', got {err:?}"
    );
    api("client close", w.app(Side::Client).close(c))?;
    settle(w)?;
    let client = only_conn(w, Side::Client)?.states.clone();
    check_states(w, "client", &client, &[Closed, SynSent, Closed], &[])
}
