//! The scenarios that need a trick: an injected old SYN, a dropped ACK, a slow
//! reader, a small backlog, and the bulk transfer.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use synack::wire::{self, TcpFlags, TcpHeader, TcpOptions};
use synack::{SeqNum, State::*};
use synack_sim::FilterAction;

use super::lifecycle::transfer_limit;
use super::{
    api, check_data, check_prefix, check_states, connect, establish, listen, only_conn, path,
    settle, PHASE_LIMIT,
};
use crate::data::{drain, Source};
use crate::record::Side;
use crate::world::{ensure, fail, RunResult, World, SERVER_PORT};

/// The client's port in old-duplicate-syn.
const OLD_DUP_PORT: u16 = 45000;
/// The sequence number of the old duplicate SYN.
const OLD_SEQ: u32 = 12345;

/// RFC 9293 §3.5, Figure 8: an old duplicate SYN arrives at the server first. Its
/// SYN,ACK acknowledges something the client never sent, so the client (in
/// SYN-SENT) answers RST <SEQ=SEG.ACK>; the server's half-open child goes away
/// and the real handshake completes.
pub(super) fn old_duplicate_syn(w: &mut World<'_>) -> RunResult<()> {
    let l = listen(w, 16)?;
    let local = w.client_addr(OLD_DUP_PORT);
    let remote = w.server_addr(SERVER_PORT);
    let old = TcpHeader {
        src_port: OLD_DUP_PORT,
        dst_port: SERVER_PORT,
        seq: SeqNum(OLD_SEQ),
        flags: TcpFlags::SYN,
        window: 8192,
        options: TcpOptions {
            mss: Some(536),
            ..TcpOptions::default()
        },
        ..TcpHeader::default()
    };
    let mut buf = [0u8; 128];
    let n = api(
        "building the old SYN",
        wire::emit(local.ip(), remote.ip(), 64, &old, &[], &mut buf),
    )?;
    let now = w.now();
    w.rec.note(
        now,
        Side::Client,
        format!("an old duplicate SYN (seq {OLD_SEQ}) enters the network first"),
    );
    w.sim.inject(w.client, &buf[..n]);
    let c = connect(w, Side::Client, remote, Some(local))?;
    let mut s = None;
    w.until(PHASE_LIMIT, "the real handshake", |w| {
        if s.is_none() {
            s = w.app(Side::Server).accept(l).ok();
        }
        Ok(s.is_some() && w.stack(Side::Client).state(c) == Some(Established))
    })?;
    w.wait(Duration::from_millis(100))?;

    let bogus = w
        .rec
        .ctl
        .iter()
        .find(|t| t.side == Side::Server && t.flags.syn() && t.ack == OLD_SEQ.wrapping_add(1));
    let Some(bogus) = bogus.copied() else {
        let arrived = w
            .rec
            .ctl
            .iter()
            .any(|t| t.side == Side::Client && t.flags.syn() && t.seq == OLD_SEQ && t.arrives);
        return fail(if arrived {
            "the server never answered the old SYN with SYN,ACK"
        } else {
            "the old SYN was lost in the network, so the server never saw it"
        });
    };
    let rst =
        w.rec.ctl.iter().find(|t| {
            t.side == Side::Client && t.flags.rst() && t.t >= bogus.t && t.seq == bogus.ack
        });
    ensure!(
        rst.is_some(),
        "the client never sent RST <SEQ={}> for the bogus SYN,ACK",
        bogus.ack
    );
    let client = only_conn(w, Side::Client)?.states.clone();
    check_states(w, "client", &client, &[Closed, SynSent, Established], &[])?;
    let children: Vec<_> = w
        .rec
        .connections(Side::Server)
        .map(|h| h.states.clone())
        .collect();
    ensure!(
        children.len() >= 2,
        "server: expected a half-open child that closes and then the real one, got {}",
        children
            .iter()
            .map(|c| path(c))
            .collect::<Vec<_>>()
            .join("; ")
    );
    check_states(
        w,
        "server's half-open child",
        &children[0],
        &[Listen, SynReceived, Closed],
        &[],
    )?;
    let last = &children[children.len() - 1];
    check_states(
        w,
        "server's real connection",
        last,
        &[Listen, SynReceived, Established],
        &[],
    )
}

/// The client's ACK of the server's FIN is lost; the server retransmits the FIN;
/// the client, in TIME-WAIT, ACKs again and restarts its 2·MSL timer.
pub(super) fn time_wait(w: &mut World<'_>) -> RunResult<()> {
    let (c, s) = establish(w, 16)?;
    // The trap: once armed, note the end of the server's FIN and drop the first
    // pure ACK from the client that acknowledges it.
    let armed = Rc::new(Cell::new(false));
    let fin_end = Rc::new(Cell::new(None::<u32>));
    let (client, server) = (w.client, w.server);
    let (trap, target) = (Rc::clone(&armed), Rc::clone(&fin_end));
    w.sim.set_filter(Box::new(move |ctx, bytes| {
        if !trap.get() {
            return FilterAction::Pass;
        }
        let Ok(seg) = wire::parse(bytes) else {
            return FilterAction::Pass;
        };
        let t = &seg.tcp;
        if ctx.from == server && t.flags.fin() && target.get().is_none() {
            let len = u32::try_from(seg.payload.len()).unwrap_or(0);
            target.set(Some(t.seq.0.wrapping_add(len).wrapping_add(1)));
        }
        if ctx.from == client
            && t.flags == TcpFlags::ACK
            && seg.payload.is_empty()
            && target.get() == Some(t.ack.0)
        {
            trap.set(false);
            return FilterAction::Drop;
        }
        FilterAction::Pass
    }));
    // Like `close`, but arm the trap right before the server's FIN.
    let before = w.rec.stats.sent_by(Side::Server);
    api("client close", w.app(Side::Client).close(c))?;
    let mut eof = false;
    w.until(PHASE_LIMIT, "the server to read EOF and ACK the FIN", |w| {
        if !eof {
            eof = drain(w, Side::Server, s)?;
        }
        Ok(eof && w.rec.stats.sent_by(Side::Server) > before)
    })?;
    w.wait(Duration::from_millis(5))?;
    armed.set(true);
    let now = w.now();
    w.rec.note(
        now,
        Side::Client,
        "the client's next ACK will be dropped by a filter",
    );
    api("server close", w.app(Side::Server).close(s))?;
    settle(w)?;

    let history = only_conn(w, Side::Client)?.clone();
    let Some(tw_end) = history.time_of(TimeWait, Closed) else {
        return fail("the client never left TIME-WAIT");
    };
    let assassinated = w.rec.ctl.iter().any(|t| {
        t.side == Side::Server && t.flags.rst() && t.arrives && t.deliver_at == Some(tw_end)
    });
    ensure!(
        !assassinated,
        "a RST from the server ended the client's TIME-WAIT early at {tw_end} \
         (a duplicate reached the closed server, which answered RST: \
         RFC 1337 TIME-WAIT assassination)"
    );
    let restarts = w.stack(Side::Client).counters().time_wait_restarted;
    let server_fins = w
        .rec
        .ctl
        .iter()
        .filter(|t| t.side == Side::Server && t.flags.fin())
        .count();
    ensure!(
        restarts >= 1,
        "TIME-WAIT was never restarted{}",
        if armed.get() {
            " (the trap never saw the client's ACK of the server's FIN)"
        } else if server_fins < 2 {
            " (the server never retransmitted its FIN: another ACK from the client reached it)"
        } else {
            ""
        }
    );
    let Some(tw_start) = history
        .time_of(FinWait2, TimeWait)
        .or(history.time_of(FinWait1, TimeWait))
    else {
        return fail("the client never entered TIME-WAIT");
    };
    // Arrivals of the server's FINs during TIME-WAIT: the last one restarted it.
    let fins: Vec<_> = w
        .rec
        .ctl
        .iter()
        .filter(|t| t.side == Side::Server && t.flags.fin())
        .filter_map(|t| t.deliver_at)
        .filter(|&at| at >= tw_start && at < tw_end)
        .collect();
    ensure!(
        fins.len() >= 2,
        "expected the server's FIN to arrive twice during TIME-WAIT, saw {} arrivals",
        fins.len()
    );
    let (first, last) = (fins[0], fins[fins.len() - 1]);
    ensure!(
        tw_end == last + w.two_msl,
        "TIME-WAIT ended at {tw_end}, expected 2*MSL after the retransmitted FIN ({last}) = {}",
        last + w.two_msl
    );
    ensure!(
        tw_end != first + w.two_msl,
        "TIME-WAIT ended 2*MSL after the first FIN: it was not restarted"
    );
    let client = history.states;
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
    )?;
    let server = only_conn(w, Side::Server)?.states.clone();
    check_states(
        w,
        "server",
        &server,
        &[Listen, SynReceived, Established, CloseWait, LastAck, Closed],
        &[CloseWait, LastAck],
    )
}

/// The server's receive buffer in zero-window.
const SMALL_BUFFER: usize = 16 * 1024;
/// How long the server does not read.
const READ_PAUSE: Duration = Duration::from_secs(3);

/// A slow reader: the window closes, the sender probes it, and once the reader
/// catches up everything arrives intact.
pub(super) fn zero_window(w: &mut World<'_>, bytes: u64, seed: u64) -> RunResult<()> {
    let l = listen(w, 16)?;
    let remote = w.server_addr(SERVER_PORT);
    let c = connect(w, Side::Client, remote, None)?;
    let mut s = None;
    w.until(PHASE_LIMIT, "the handshake", |w| {
        if s.is_none() {
            if let Ok(h) = w.app(Side::Server).accept(l) {
                api(
                    "server set_recv_buffer",
                    w.app(Side::Server).set_recv_buffer(h, SMALL_BUFFER),
                )?;
                s = Some(h);
            }
        }
        Ok(s.is_some() && w.stack(Side::Client).state(c) == Some(Established))
    })?;
    let Some(s) = s else {
        return fail("the server accepted nothing");
    };
    let now = w.now();
    w.rec.note(
        now,
        Side::Server,
        format!("the server's application stops reading for {READ_PAUSE:?}"),
    );
    let mut src = Source::new(seed, bytes);
    w.flow.expect(&src);
    let mut closed = false;
    let mut feed = |w: &mut World<'_>| -> RunResult<()> {
        if !closed && src.pump(w, Side::Client, c)? {
            api("client close", w.app(Side::Client).close(c))?;
            closed = true;
        }
        Ok(())
    };
    w.run_for(READ_PAUSE, &mut feed)?;
    let now = w.now();
    w.rec
        .note(now, Side::Server, "the server's application reads again");
    let mut eof = false;
    w.until(
        transfer_limit(bytes),
        "the server to read everything",
        |w| {
            feed(w)?;
            if !eof {
                eof = drain(w, Side::Server, s)?;
            }
            Ok(eof)
        },
    )?;
    api("server close", w.app(Side::Server).close(s))?;
    settle(w)?;

    check_data(w, bytes, Side::Server)?;
    if bytes as usize > 4 * SMALL_BUFFER {
        let zero = w.rec.stats.zero_windows[1];
        ensure!(zero > 0, "the server never advertised a zero window");
        let probes = w.stack(Side::Client).counters().window_probes;
        ensure!(probes > 0, "the client sent no zero-window probes");
    }
    let client = only_conn(w, Side::Client)?.states.clone();
    check_prefix(
        w,
        "client",
        &client,
        &[Closed, SynSent, Established, FinWait1],
        "",
    )?;
    ensure!(
        client.last() == Some(&Closed) && client.contains(&TimeWait),
        "client: expected to end through TIME-WAIT in CLOSED, got {}",
        path(&client)
    );
    let server = only_conn(w, Side::Server)?.states.clone();
    check_states(
        w,
        "server",
        &server,
        &[Listen, SynReceived, Established, CloseWait, LastAck, Closed],
        &[CloseWait, LastAck],
    )
}

/// Clients in the backlog scenario.
const BACKLOG_CLIENTS: usize = 6;
/// The listener's backlog.
const BACKLOG: usize = 2;
/// The server accepts one connection this often.
const ACCEPT_EVERY: Duration = Duration::from_millis(300);

/// More clients than the backlog: SYNs and final ACKs are dropped while the
/// queues are full; retransmissions get everyone in as the server accepts.
pub(super) fn backlog(w: &mut World<'_>) -> RunResult<()> {
    let l = listen(w, BACKLOG)?;
    let remote = w.server_addr(SERVER_PORT);
    let mut clients = Vec::new();
    for _ in 0..BACKLOG_CLIENTS {
        clients.push(connect(w, Side::Client, remote, None)?);
    }
    let mut accepted = Vec::new();
    let start = w.now();
    loop {
        let all_in = clients
            .iter()
            .all(|&c| w.stack(Side::Client).state(c) == Some(Established));
        if all_in && accepted.len() == BACKLOG_CLIENTS {
            break;
        }
        if w.now().saturating_duration_since(start) > PHASE_LIMIT {
            return fail(format!(
                "after {PHASE_LIMIT:?}, {} of {BACKLOG_CLIENTS} connections accepted",
                accepted.len()
            ));
        }
        w.wait(ACCEPT_EVERY)?;
        if let Ok(h) = w.app(Side::Server).accept(l) {
            accepted.push(h);
        }
    }
    w.wait(Duration::from_millis(100))?;
    let counters = w.stack(Side::Server).counters();
    let drops = counters.drop_syn_queue_full + counters.drop_accept_queue_full;
    ensure!(
        drops > 0,
        "the server dropped nothing: the backlog of {BACKLOG} never filled"
    );
    for h in w.rec.connections(Side::Client) {
        let who = format!("client port {}", h.local.port());
        check_states(w, &who, &h.states, &[Closed, SynSent, Established], &[])?;
    }
    for h in w.rec.connections(Side::Server) {
        let port = h.remote.map_or(0, |r| r.port());
        ensure!(
            h.states.last() == Some(&Established),
            "server connection from port {port}: expected to end ESTABLISHED, got {}",
            path(&h.states)
        );
    }
    for &h in &accepted {
        let st = w.stack(Side::Server).state(h);
        ensure!(
            st == Some(Established),
            "an accepted connection is {st:?}, not ESTABLISHED"
        );
    }
    Ok(())
}

/// Bulk transfer client -> server, verified by SHA-256, then both close.
pub(super) fn transfer(w: &mut World<'_>, bytes: u64, seed: u64) -> RunResult<()> {
    let (c, s) = establish(w, 16)?;
    let mut src = Source::new(seed, bytes);
    w.flow.expect(&src);
    let (mut closed, mut eof) = (false, false);
    w.until(transfer_limit(bytes), "the transfer to complete", |w| {
        if !closed && src.pump(w, Side::Client, c)? {
            api("client close", w.app(Side::Client).close(c))?;
            closed = true;
        }
        if !eof {
            eof = drain(w, Side::Server, s)?;
        }
        Ok(eof)
    })?;
    api("server close", w.app(Side::Server).close(s))?;
    settle(w)?;
    check_data(w, bytes, Side::Server)?;
    let client = only_conn(w, Side::Client)?.states.clone();
    check_prefix(
        w,
        "client",
        &client,
        &[Closed, SynSent, Established, FinWait1],
        "",
    )?;
    ensure!(
        client.last() == Some(&Closed) && client.contains(&TimeWait),
        "client: expected to end through TIME-WAIT in CLOSED, got {}",
        path(&client)
    );
    let server = only_conn(w, Side::Server)?.states.clone();
    check_states(
        w,
        "server",
        &server,
        &[Listen, SynReceived, Established, CloseWait, LastAck, Closed],
        &[CloseWait, LastAck],
    )
}
