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
use crate::config::SynCookies;
use crate::error::ListenError;
use crate::event::Event;
use crate::tcp::conn::{CtrlSegment, Tcb};
use crate::tcp::cookie::CookieData;
use crate::tcp::input::rst_segment;
use crate::tcp::state::{Cause, State};
use crate::wire::{TcpFlags, TcpHeader, TcpOptions, Timestamps};

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

/// The key of the catch-all listener ([`Stack::listen_any`]) in the listener
/// table: port 0 never appears in a valid segment (the parser drops it), so it
/// cannot clash with an ordinary listener.
pub(super) const ANY_LISTENER: SocketAddr =
    SocketAddr::new(core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), 0);

impl Stack {
    /// The listener for a local address: exact address first, then the wildcard,
    /// then the catch-all of transparent mode.
    pub(super) fn find_listener(&self, local: &SocketAddr) -> Option<u32> {
        // A client's stack listens nowhere: its port search asks for every port.
        if self.listeners.is_empty() {
            return None;
        }
        if let Some(&i) = self.listeners.get(local) {
            return Some(i);
        }
        let any = SocketAddr::new(unspecified_like(local), local.port());
        self.listeners
            .get(&any)
            .or_else(|| self.listeners.get(&ANY_LISTENER))
            .copied()
    }

    /// Transparent mode: a catch-all listener exists, so segments to any address
    /// are ours to answer.
    pub(super) fn accepts_any_address(&self) -> bool {
        self.listeners.contains_key(&ANY_LISTENER)
    }

    /// Opens the catch-all listener of **transparent mode** (a tun2socks-style
    /// proxy or VPN endpoint): SYNs to *any* address and port that no ordinary
    /// listener or connection claims are accepted here, including addresses that
    /// are not the stack's own, and the stack answers as those addresses. Each
    /// accepted connection's local address ([`Stack::addrs`]) is the original
    /// destination the peer asked for.
    ///
    /// `backlog` bounds the accept queue and the half-open (SYN-RECEIVED)
    /// connections, as for [`Stack::listen`] (capped at `somaxconn` and
    /// `max_syn_backlog`); beyond it SYN cookies answer (if enabled) or SYNs are
    /// dropped, so a SYN flood to many addresses holds no more state than that.
    /// The listener shows in [`Stack::sockets`] with local address `0.0.0.0:0`.
    /// Closing it ([`Stack::close`]) leaves transparent mode for new
    /// connections; those already accepted keep their foreign local address
    /// and run to their end.
    ///
    /// # Errors
    /// [`ListenError::AddrInUse`] if a catch-all listener is already open,
    /// [`ListenError::InvalidArgument`] for a backlog of 0.
    pub fn listen_any(&mut self, backlog: usize) -> Result<SocketHandle, ListenError> {
        if backlog == 0 {
            return Err(ListenError::InvalidArgument);
        }
        if self.accepts_any_address() {
            return Err(ListenError::AddrInUse);
        }
        Ok(self.open_listener(ANY_LISTENER, backlog))
    }

    /// A new listener on `local` (already checked free) with its queues bounded
    /// by `backlog` (capped at `somaxconn` and `max_syn_backlog`): CLOSED → LISTEN.
    pub(crate) fn open_listener(&mut self, local: SocketAddr, backlog: usize) -> SocketHandle {
        let cfg = &self.config.tcp;
        let (accept_cap, syn_cap) = (backlog.min(cfg.somaxconn), backlog.min(cfg.max_syn_backlog));
        let h = self.alloc_slot(|handle| {
            Socket::Listener(Box::new(Listener {
                handle,
                local,
                accept_cap,
                syn_cap,
                syn_queue: 0,
                accept_queue: VecDeque::new(),
            }))
        });
        self.listeners.insert(local, h.index);
        self.events.push(
            Event::StateChanged {
                at: self.now,
                handle: Some(h),
                local,
                remote: None,
                from: State::Closed,
                to: State::Listen,
                cause: Cause::AppListen,
            },
            &mut self.counters,
        );
        h
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
        payload: &[u8],
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
        // — unless it returns a SYN cookie we sent (RFC 4987 §3.6).
        if f.ack() {
            if !f.syn() && self.cookies_recent() {
                if let Some(d) = self
                    .cookies
                    .check(self.now, key.local, key.remote, hdr.seq, hdr.ack)
                {
                    self.counters.syncookies_ok += 1;
                    self.accept_cookie(idx, key, hdr, payload, d);
                    return;
                }
                self.counters.syncookies_failed += 1;
            }
            self.counters.drop_no_socket += 1;
            self.push_ctrl(rst_segment(key.local, key.remote, hdr.ack, None));
            return;
        }
        // "Third, check for a SYN"
        if !f.syn() {
            self.counters.drop_listen_ignored += 1;
            return;
        }
        let cookies = self.config.tcp.syn_cookies;
        if self.conns.len() >= self.config.tcp.max_connections {
            self.counters.drop_conn_limit += 1;
            return;
        }
        let global_full = self.totals.half_open >= self.config.tcp.max_half_open;
        let Some(l) = self.listener_mut(idx) else {
            return;
        };
        if l.accept_queue.len() >= l.accept_cap {
            self.counters.drop_accept_queue_full += 1;
            return;
        }
        let full = l.syn_queue >= l.syn_cap;
        if cookies == SynCookies::Always
            || ((full || global_full) && cookies == SynCookies::WhenFull)
        {
            if global_full && !full {
                self.counters.syncookies_half_open_limit += 1;
            }
            self.send_cookie(key, hdr);
            return;
        }
        if full {
            self.counters.drop_syn_queue_full += 1;
            return;
        }
        if global_full {
            self.counters.drop_half_open_limit += 1;
            return;
        }
        l.syn_queue += 1;
        let parent = l.handle;
        self.totals.half_open += 1;
        // Data on a SYN is not accepted (no TCP Fast Open); the peer resends it.
        let iss = self.isn.isn(self.now, key.local, key.remote);
        let ts_offset = self.ts_offsets.get(&self.isn, key.local, key.remote);
        let h = self.alloc_conn(key.local, key.remote, iss, ts_offset);
        let cidx = h.index;
        self.conns.insert(key, cidx);
        self.counters.passive_opens += 1;
        self.with_conn(cidx, |t, ctx| {
            t.parent = Some(parent);
            t.state = State::Listen;
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

    /// Whether a cookie may still be out there (sent within the cookie lifetime).
    fn cookies_recent(&self) -> bool {
        let life = core::time::Duration::from_secs(64 * u64::from(crate::tcp::cookie::MAX_AGE + 1));
        self.cookie_sent_at
            .is_some_and(|t| self.now.saturating_duration_since(t) <= life)
    }

    /// Answers a SYN with a SYN,ACK whose ISS is a cookie; nothing is remembered.
    fn send_cookie(&mut self, key: FourTuple, syn: &TcpHeader) {
        let cfg = &self.config.tcp;
        let o = &syn.options;
        let d = CookieData {
            mss: o
                .mss
                .unwrap_or(if key.local.is_ipv4() { 536 } else { 1220 }),
            window_scale: o.window_scale.filter(|_| cfg.window_scaling),
            sack: o.sack_permitted && cfg.sack,
            timestamps: o.timestamps.is_some() && cfg.timestamps,
        };
        let iss = self
            .cookies
            .make(self.now, key.local, key.remote, syn.seq, d);
        let our_mss = if key.local.is_ipv4() {
            cfg.mss
        } else {
            cfg.mss.saturating_sub(20)
        };
        let mut hdr = TcpHeader {
            src_port: key.local.port(),
            dst_port: key.remote.port(),
            seq: iss,
            ack: syn.seq + 1u32,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: u16::try_from(cfg.recv_buffer).unwrap_or(u16::MAX),
            ..TcpHeader::default()
        };
        hdr.options.mss = Some(our_mss);
        if d.window_scale.is_some() {
            hdr.options.window_scale = Some(cfg.rcv_wscale());
        }
        hdr.options.sack_permitted = d.sack;
        if let (true, Some(ts)) = (d.timestamps, o.timestamps) {
            let offset = self.ts_offsets.get(&self.isn, key.local, key.remote);
            // Truncation to 32 bits is the timestamp clock's wraparound.
            hdr.options.timestamps = Some(Timestamps {
                val: (self.now.millis() as u32).wrapping_add(offset),
                ecr: ts.val,
            });
        }
        self.counters.syncookies_sent += 1;
        self.cookie_sent_at = Some(self.now);
        self.push_ctrl(CtrlSegment {
            src: key.local,
            dst: key.remote,
            hdr,
        });
    }

    /// The final ACK returned a valid cookie: build the connection from it, straight
    /// into ESTABLISHED and the accept queue, then process the rest of the segment.
    fn accept_cookie(
        &mut self,
        lidx: u32,
        key: FourTuple,
        hdr: &TcpHeader,
        payload: &[u8],
        d: CookieData,
    ) {
        let Some(l) = self.listener_mut(lidx) else {
            return;
        };
        if l.accept_queue.len() >= l.accept_cap {
            self.counters.drop_accept_queue_full += 1;
            return;
        }
        let parent = l.handle;
        if self.conns.len() >= self.config.tcp.max_connections {
            self.counters.drop_conn_limit += 1;
            return;
        }
        let iss = hdr.ack + u32::MAX;
        let ts_offset = self.ts_offsets.get(&self.isn, key.local, key.remote);
        let h = self.alloc_conn(key.local, key.remote, iss, ts_offset);
        let cidx = h.index;
        self.conns.insert(key, cidx);
        self.counters.passive_opens += 1;
        self.with_conn(cidx, |t, ctx| {
            t.parent = Some(parent);
            t.state = State::Listen;
            t.set_irs(hdr.seq + u32::MAX);
            let opts = TcpOptions {
                mss: Some(d.mss),
                window_scale: d.window_scale,
                sack_permitted: d.sack,
                timestamps: if d.timestamps {
                    hdr.options.timestamps
                } else {
                    None
                },
                ..TcpOptions::default()
            };
            t.negotiate(&opts, ctx);
            t.snd_una = hdr.ack;
            t.snd_nxt = hdr.ack;
            t.snd_max = hdr.ack;
            // The window our cookie SYN,ACK advertised (unscaled, as on any SYN).
            t.rcv_adv = t.rcv_nxt + u32::try_from(ctx.cfg.recv_buffer.min(65535)).unwrap_or(65535);
            t.snd_wnd = u32::from(hdr.window) << t.snd_wscale;
            t.max_snd_wnd = t.snd_wnd;
            t.snd_wl1 = hdr.seq;
            t.snd_wl2 = hdr.ack;
            t.transition(State::Established, Cause::RcvCookieAck, ctx);
            if !payload.is_empty() || hdr.flags.fin() {
                t.input_synchronized(hdr, payload, ctx);
            }
        });
        let now = self.now;
        if let Some(l) = self.listener_mut(lidx) {
            l.accept_queue.push_back(h);
        }
        self.events.push(
            Event::Incoming {
                at: now,
                listener: parent,
            },
            &mut self.counters,
        );
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
        let left = l.syn_queue > 0;
        l.syn_queue -= usize::from(left);
        if completed {
            l.accept_queue.push_back(handle);
            self.events.push(
                Event::Incoming {
                    at: now,
                    listener: parent,
                },
                &mut self.counters,
            );
        }
        self.totals.half_open -= usize::from(left);
    }
}

/// The unspecified address of the same family as `addr`.
fn unspecified_like(addr: &SocketAddr) -> core::net::IpAddr {
    match addr {
        SocketAddr::V4(_) => core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => core::net::IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED),
    }
}
