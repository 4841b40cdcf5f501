//! LISTEN (RFC 9293 §3.10.7.2) and the backlog's two queues.
//!
//! A SYN to a listener creates a child connection in SYN-RECEIVED, counted in the
//! listener's SYN queue (half-open connections, bounded by
//! `min(backlog, max_syn_backlog)`). When the handshake completes the child moves
//! to the accept queue (bounded by `min(backlog, somaxconn)`), where
//! [`crate::Stack::accept`] takes it. While the accept queue is full, new SYNs are
//! dropped and the handshake's final ACK is dropped (so the peer retransmits), or
//! answered with RST when `abort_on_overflow` is set — as Linux does.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::net::SocketAddr;

use super::demux::FourTuple;
use super::{Socket, SocketHandle, Stack};
use crate::event::Event;
use crate::tcp::conn::Tcb;
use crate::tcp::input::rst_segment;
use crate::tcp::state::{Cause, State};
use crate::wire::TcpHeader;

/// A listening socket.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) handle: SocketHandle,
    pub(crate) local: SocketAddr,
    /// Accept-queue bound: min(backlog, somaxconn).
    pub(crate) accept_cap: usize,
    /// SYN-queue bound: min(backlog, max_syn_backlog).
    pub(crate) syn_cap: usize,
    /// Children in SYN-RECEIVED.
    pub(crate) syn_queue: usize,
    /// Children that completed the handshake, oldest first.
    pub(crate) accept_queue: VecDeque<SocketHandle>,
}

impl Stack {
    /// The listener for a local address: exact address first, then the wildcard.
    pub(super) fn find_listener(&self, local: &SocketAddr) -> Option<u32> {
        if let Some(&i) = self.listeners.get(local) {
            return Some(i);
        }
        let any = SocketAddr::new(unspecified_like(local), local.port());
        self.listeners.get(&any).copied()
    }

    fn listener_mut(&mut self, idx: u32) -> Option<&mut Listener> {
        match self
            .slots
            .get_mut(idx as usize)
            .and_then(|s| s.sock.as_mut())
        {
            Some(Socket::Listener(l)) => Some(l),
            _ => None,
        }
    }

    fn listener_of(&self, tcb: &Tcb) -> Option<&Listener> {
        let idx = self.index_of(tcb.parent?)?;
        match self.slots[idx as usize].sock.as_ref() {
            Some(Socket::Listener(l)) => Some(l),
            _ => None,
        }
    }

    pub(super) fn accept_queue_full_for(&self, tcb: &Tcb) -> bool {
        self.listener_of(tcb)
            .is_some_and(|l| l.accept_queue.len() >= l.accept_cap)
    }

    pub(super) fn in_accept_queue(&self, tcb: &Tcb) -> bool {
        self.listener_of(tcb)
            .is_some_and(|l| l.accept_queue.contains(&tcb.handle))
    }

    /// RFC 9293 §3.10.7.2: a segment arrives for a listener.
    pub(super) fn listen_input(
        &mut self,
        idx: u32,
        key: FourTuple,
        hdr: &TcpHeader,
        payload_len: usize,
    ) {
        let f = hdr.flags;
        // "First, check for a RST: An incoming RST segment could not be valid since it
        // could not have been sent in response to anything sent by this incarnation of
        // the connection. An incoming RST should be ignored."
        if f.rst() {
            self.counters.drop_listen_ignored += 1;
            return;
        }
        // "Second, check for an ACK: ... form a reset segment <SEQ=SEG.ACK><CTL=RST>"
        if f.ack() {
            self.counters.drop_no_socket += 1;
            self.push_ctrl(rst_segment(key.local, key.remote, hdr.ack, None));
            return;
        }
        // "Third, check for a SYN"
        if !f.syn() {
            self.counters.drop_listen_ignored += 1;
            return;
        }
        let Some(l) = self.listener_mut(idx) else {
            return;
        };
        if l.accept_queue.len() >= l.accept_cap {
            self.counters.drop_accept_queue_full += 1;
            return;
        }
        if l.syn_queue >= l.syn_cap {
            self.counters.drop_syn_queue_full += 1;
            return;
        }
        l.syn_queue += 1;
        let parent = l.handle;
        let _ = payload_len; // Data on a SYN is not accepted (no TCP Fast Open); the peer resends it.
        let iss = self.isn.isn(self.now, key.local, key.remote);
        let ts_offset = self.isn.ts_offset(key.local, key.remote);
        let cfg = self.config.tcp.clone();
        let h = self.alloc_slot(|h| {
            let mut t = Tcb::new(h, key.local, key.remote, iss, ts_offset, &cfg);
            t.parent = Some(parent);
            t.state = State::Listen;
            Socket::Conn(Box::new(t))
        });
        let cidx = h.index;
        self.conns.insert(key, cidx);
        self.counters.passive_opens += 1;
        self.with_conn(cidx, |t, ctx| {
            // "Set RCV.NXT to SEG.SEQ+1, IRS is set to SEG.SEQ ... ISS should be selected
            // and a SYN segment sent of the form <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
            // SND.NXT is set to ISS+1 and SND.UNA to ISS. The connection state should be
            // changed to SYN-RECEIVED."
            t.set_irs(hdr.seq);
            t.negotiate(&hdr.options, ctx);
            t.snd_wnd = u32::from(hdr.window);
            t.max_snd_wnd = t.snd_wnd;
            t.snd_wl1 = hdr.seq;
            t.transition(State::SynReceived, Cause::RcvSyn, ctx);
        });
        self.touch(cidx);
    }

    /// A child left SYN-RECEIVED: one fewer half-open; to the accept queue if it
    /// completed the handshake.
    pub(super) fn leave_syn_queue(&mut self, idx: u32, completed: bool) {
        let Some(tcb) = self.conn(idx) else { return };
        let (Some(parent), handle) = (tcb.parent, tcb.handle) else {
            return;
        };
        let Some(pidx) = self.index_of(parent) else {
            return;
        };
        let now = self.now;
        let Some(l) = self.listener_mut(pidx) else {
            return;
        };
        l.syn_queue = l.syn_queue.saturating_sub(1);
        if completed {
            l.accept_queue.push_back(handle);
            self.events.push_back(Event::Incoming {
                at: now,
                listener: parent,
            });
        }
    }
}

/// The unspecified address of the same family as `addr`.
fn unspecified_like(addr: &SocketAddr) -> core::net::IpAddr {
    match addr {
        SocketAddr::V4(_) => core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => core::net::IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED),
    }
}
