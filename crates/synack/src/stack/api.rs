//! The application's calls (RFC 9293 §3.10 "user calls", in socket form):
//! listen, connect, accept, send, recv, shutdown, close, abort, options, and the
//! views of sockets (`ss`) and of one connection (`TCP_INFO`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use super::demux::FourTuple;
use super::{ports, Socket, SocketHandle, Stack};
use crate::error::{
    AcceptError, ConnectError, ConnectionError, ListenError, RecvError, SendError, SocketError,
};
use crate::event::Event;
use crate::tcp::conn::Tcb;
use crate::tcp::input::rst_segment;
use crate::tcp::state::{Cause, State};
use rand_core::RngCore;

/// Which directions [`Stack::shutdown`] closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// No more receiving: queued and future data is discarded.
    Read,
    /// No more sending: a FIN follows the queued data.
    Write,
    /// Both.
    Both,
}

/// One line of the socket table (what `ss -tan` shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// The handle, if the socket still has one (compact TIME-WAIT entries do not).
    pub handle: Option<SocketHandle>,
    /// State.
    pub state: State,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address (None for a listener).
    pub remote: Option<SocketAddr>,
    /// Bytes received not yet read; for a listener, connections waiting in the accept queue.
    pub recv_queue: usize,
    /// Bytes queued not yet acknowledged; for a listener, the accept queue's bound.
    pub send_queue: usize,
}

/// Connection details, like Linux's `TCP_INFO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    pub state: State,
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    pub rttvar: Option<Duration>,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Our send MSS.
    pub mss: u16,
    pub cwnd: usize,
    pub ssthresh: usize,
    /// Peer's window (scaled).
    pub snd_wnd: u32,
    /// Our receive window.
    pub rcv_wnd: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub sack: bool,
    pub timestamps: bool,
    pub retransmits: u64,
    pub segs_in: u64,
    pub segs_out: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    /// Bytes in flight.
    pub unacked: usize,
    /// Bytes the peer has SACKed above the cumulative ACK.
    pub sacked: usize,
    /// Bytes marked lost (RACK) and not yet retransmitted.
    pub lost: usize,
    /// Times reordering was observed (widening RACK's reordering window).
    pub reordering: u64,
    /// Recoveries undone as spurious.
    pub spurious_undos: u64,
    /// Congestion control in use.
    pub congestion: &'static str,
    /// Where congestion control is: slow start, avoidance, recovery, RTO.
    pub phase: crate::tcp::congestion::Phase,
    /// Pacing rate in bytes per second last used (0: not pacing, or no RTT yet).
    pub pacing_rate: u64,
    /// Loss-recovery episodes entered.
    pub recoveries: u64,
    /// Retransmission timeouts.
    pub rtos: u64,
    /// Timeouts F-RTO found spurious and undid (RFC 5682); also counted in
    /// `spurious_undos`.
    pub spurious_rtos: u64,
    /// ACKs that did not grow cwnd because it was not in use (RFC 7661).
    pub cwnd_unvalidated_acks: u64,
}

impl Stack {
    /// Opens a listening socket (RFC 9293 OPEN, passive). `backlog` bounds the accept
    /// queue (capped at `somaxconn`) and the SYN queue (capped at `max_syn_backlog`).
    ///
    /// # Errors
    /// [`ListenError::AddrInUse`] if a listener holds the address (or overlaps it via
    /// the wildcard), [`ListenError::AddrNotAvailable`] for an address not ours,
    /// [`ListenError::InvalidArgument`] for port 0 or backlog 0.
    pub fn listen(
        &mut self,
        local: SocketAddr,
        backlog: usize,
    ) -> Result<SocketHandle, ListenError> {
        if local.port() == 0 || backlog == 0 {
            return Err(ListenError::InvalidArgument);
        }
        if !local.ip().is_unspecified() && !self.is_our_address(&local.ip()) {
            return Err(ListenError::AddrNotAvailable);
        }
        let clash = self.listeners.keys().any(|l| {
            l.port() == local.port()
                && l.is_ipv4() == local.is_ipv4()
                && (l.ip() == local.ip() || l.ip().is_unspecified() || local.ip().is_unspecified())
        });
        if clash {
            return Err(ListenError::AddrInUse);
        }
        Ok(self.open_listener(local, backlog))
    }

    /// Opens a connection (RFC 9293 OPEN, active): sends SYN. `local` picks the local
    /// address and/or port; by default the stack's first address of the remote's
    /// family and an ephemeral port. Completion is seen as the state ESTABLISHED (or
    /// an [`Event::Error`] with `Refused`/`TimedOut`).
    ///
    /// # Errors
    /// See [`ConnectError`].
    pub fn connect(
        &mut self,
        remote: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<SocketHandle, ConnectError> {
        if remote.port() == 0 || remote.ip().is_unspecified() || remote.ip().is_multicast() {
            return Err(ConnectError::InvalidArgument);
        }
        if self.conns.len() >= self.config.tcp.max_connections {
            self.counters.connect_conn_limit += 1;
            return Err(ConnectError::TooManyConnections);
        }
        let local_ip = match local {
            Some(l) if !l.ip().is_unspecified() => {
                if !self.is_our_address(&l.ip()) || l.is_ipv4() != remote.is_ipv4() {
                    return Err(ConnectError::AddrNotAvailable);
                }
                l.ip()
            }
            _ => *self
                .addresses
                .iter()
                .find(|a| a.is_ipv4() == remote.is_ipv4())
                .ok_or(ConnectError::AddrNotAvailable)?,
        };
        let mut reuse_tw = None;
        let local = match local.map(|l| l.port()).filter(|&p| p != 0) {
            Some(port) => {
                let key = FourTuple {
                    local: SocketAddr::new(local_ip, port),
                    remote,
                };
                if self.conns.contains_key(&key) {
                    return Err(ConnectError::AddrInUse);
                }
                if self.time_wait.get(&key).is_some() {
                    if !self.tw_reusable(&key) {
                        return Err(ConnectError::AddrInUse);
                    }
                    reuse_tw = Some(key);
                }
                key.local
            }
            None => {
                let hint = self.rng.next_u32();
                let range = self.config.tcp.ephemeral_ports.clone();
                let base = SocketAddr::new(local_ip, 0);
                let mut tw_candidate = None;
                let port = ports::pick(&range, hint, |p| {
                    let key = FourTuple {
                        local: ports::with_port(base, p),
                        remote,
                    };
                    if self.conns.contains_key(&key) || self.find_listener(&key.local).is_some() {
                        return false;
                    }
                    if self.time_wait.get(&key).is_some() {
                        if tw_candidate.is_none() && self.tw_reusable(&key) {
                            tw_candidate = Some(p);
                        }
                        return false;
                    }
                    true
                });
                match (port, tw_candidate) {
                    (Some(p), _) => ports::with_port(base, p),
                    (None, Some(p)) => {
                        let l = ports::with_port(base, p);
                        reuse_tw = Some(FourTuple { local: l, remote });
                        l
                    }
                    (None, None) => {
                        self.counters.connect_no_ports += 1;
                        return Err(ConnectError::NoFreePorts);
                    }
                }
            }
        };
        let mut iss = self.isn.isn(self.now, local, remote);
        if let Some(key) = reuse_tw {
            if let Some(e) = self.time_wait.remove(&key) {
                // Like Linux's tcp_twsk_unique: start well past the old incarnation.
                iss = e.snd_nxt + 65537u32;
                self.counters.time_wait_reused += 1;
                self.time_wait_closed(&key, &e, Cause::TimeWaitReused);
            }
        }
        let ts_offset = self.ts_offsets.get(&self.isn, local, remote);
        let h = self.alloc_conn(local, remote, iss, ts_offset);
        self.conns.insert(FourTuple { local, remote }, h.index);
        self.counters.active_opens += 1;
        self.with_conn_tx(h.index, |t, ctx| {
            t.transition(State::SynSent, Cause::AppConnect, ctx);
        });
        self.touch(h.index);
        Ok(h)
    }

    /// Linux tcp_tw_reuse: a TIME-WAIT 4-tuple may be reused for an outgoing
    /// connection if timestamps were in use and the last one seen is over a second
    /// old, so PAWS on the peer rejects any old duplicate.
    fn tw_reusable(&self, key: &FourTuple) -> bool {
        self.config.tcp.time_wait_reuse
            && self.config.tcp.timestamps
            && self
                .time_wait
                .get(key)
                .and_then(|e| e.ts)
                .is_some_and(|(_, _, at)| {
                    self.now.saturating_duration_since(at) >= Duration::from_secs(1)
                })
    }

    /// Takes a completed connection from a listener's accept queue.
    ///
    /// # Errors
    /// [`AcceptError::WouldBlock`] when none is waiting.
    pub fn accept(&mut self, listener: SocketHandle) -> Result<SocketHandle, AcceptError> {
        let idx = self.index_of(listener).ok_or(AcceptError::InvalidHandle)?;
        let Some(Socket::Listener(l)) = self.slots[idx as usize].sock.as_mut() else {
            return Err(AcceptError::NotListening);
        };
        let h = l.accept_queue.pop_front().ok_or(AcceptError::WouldBlock)?;
        if let Some(cidx) = self.index_of(h) {
            if let Some(Socket::Conn(t)) = self.slots[cidx as usize].sock.as_mut() {
                t.parent = None;
            }
        }
        Ok(h)
    }

    fn conn_index(&self, h: SocketHandle) -> Result<u32, SocketError> {
        let idx = self.index_of(h).ok_or(SocketError::InvalidHandle)?;
        match self.slots[idx as usize].sock {
            Some(Socket::Conn(_)) => Ok(idx),
            _ => Err(SocketError::InvalidState),
        }
    }

    /// Queues data to send; returns how many bytes were taken (possibly fewer than
    /// offered when the send buffer fills).
    ///
    /// # Errors
    /// [`SendError::WouldBlock`] when the buffer is full; see [`SendError`].
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, SendError> {
        let idx = self.conn_index(h).map_err(|_| SendError::InvalidHandle)?;
        if self.mem_flags().1 && self.conn(idx).is_some_and(|t| t.send_buf.len() > 0) {
            // Over the stack's memory maximum: no more until some is acknowledged.
            self.counters.send_refused_memory += 1;
            return Err(SendError::WouldBlock);
        }
        let r = self
            .with_conn(idx, |t, _| t.send(data))
            .ok_or(SendError::InvalidHandle)?;
        if let Ok(n) = r {
            self.counters.bytes_sent += n as u64;
            self.touch(idx);
        }
        r
    }

    /// Reads received data. `Ok(0)` is end of stream: the peer's FIN arrived and all
    /// data before it has been read (or reading was shut down).
    ///
    /// # Errors
    /// [`RecvError::WouldBlock`] when nothing is ready yet; see [`RecvError`].
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, RecvError> {
        let idx = self.conn_index(h).map_err(|_| RecvError::InvalidHandle)?;
        self.recv_at(idx, |t| t.recv(buf))
    }

    /// Reads received data in place, without copying it out: `f` is given the
    /// oldest unread bytes that lie contiguous (all of them unless the ring
    /// wraps or they lie in a kept packet, see [`Stack::handle_packet_owned`]:
    /// call again for the rest, or use [`Stack::recv_each`]) and returns how many of
    /// them it consumed, with a value passed back. At end of stream `f` is called
    /// with an empty slice (the `Ok(0)` of [`Stack::recv`]). A proxy can hand the
    /// slice straight to another socket's [`Stack::send`]: one copy instead of two.
    ///
    /// # Errors
    /// As [`Stack::recv`]; `f` is not called then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synack::{Stack, StackConfig, SocketHandle, RecvError};
    /// fn drain(stack: &mut Stack, h: SocketHandle) -> Result<u64, RecvError> {
    ///     let mut total = 0u64;
    ///     loop {
    ///         let n = stack.recv_with(h, |data| (data.len(), data.len()))?;
    ///         if n == 0 {
    ///             return Ok(total); // end of stream
    ///         }
    ///         total += n as u64;
    ///     }
    /// }
    /// ```
    pub fn recv_with<R>(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&[u8]) -> (usize, R),
    ) -> Result<R, RecvError> {
        let idx = self.conn_index(h).map_err(|_| RecvError::InvalidHandle)?;
        self.recv_at(idx, |t| t.recv_with(f))
    }

    /// Reads received data in place, piece by piece: `f` is given each
    /// contiguous run of unread bytes in order (the payload of a kept packet,
    /// see [`Stack::handle_packet_owned`], or a piece of the receive ring) and
    /// returns how many of them it consumed; the call stops after the first
    /// run `f` does not consume whole, or when nothing is left, and returns the
    /// bytes consumed. One call reads everything that has arrived, at the cost
    /// of one read ([`Stack::recv_with`] gives one run per call). `Ok(0)`
    /// without `f` being called is end of stream.
    ///
    /// # Errors
    /// As [`Stack::recv`]; `f` is not called then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synack::{Stack, StackConfig, SocketHandle, RecvError};
    /// /// Feeds everything readable to `out`; `Ok(0)` at end of stream.
    /// fn pump(stack: &mut Stack, h: SocketHandle, out: &mut Vec<u8>) -> Result<usize, RecvError> {
    ///     stack.recv_each(h, |data| {
    ///         out.extend_from_slice(data);
    ///         data.len()
    ///     })
    /// }
    /// ```
    pub fn recv_each(
        &mut self,
        h: SocketHandle,
        f: impl FnMut(&[u8]) -> usize,
    ) -> Result<usize, RecvError> {
        let idx = self.conn_index(h).map_err(|_| RecvError::InvalidHandle)?;
        self.recv_at(idx, |t| t.recv_each(f))
    }

    /// Runs a read on connection `idx`; a read that opened the window enough to
    /// need an update wakes the connection.
    fn recv_at<R>(
        &mut self,
        idx: u32,
        read: impl FnOnce(&mut Tcb) -> Result<R, RecvError>,
    ) -> Result<R, RecvError> {
        let r = self
            .with_conn(idx, |t, _| read(t))
            .ok_or(RecvError::InvalidHandle)?;
        if let Some(Some(Socket::Conn(t))) = self.slots.get_mut(idx as usize).map(|s| &mut s.sock) {
            // Kept packets read to the end go back to the caller.
            let spare = &mut self.spare_buffers;
            t.recv_buf.drain_spent(|b| spare.put(b));
            if t.ack_now {
                self.touch(idx);
            }
        }
        r
    }

    /// Shuts down reading, writing or both (RFC 9293 CLOSE for writing).
    ///
    /// # Errors
    /// [`SocketError::InvalidHandle`] or, for a listener, [`SocketError::InvalidState`].
    pub fn shutdown(&mut self, h: SocketHandle, how: Shutdown) -> Result<(), SocketError> {
        let idx = self.conn_index(h)?;
        let prev = self
            .conn(idx)
            .map(|t| t.state)
            .ok_or(SocketError::InvalidHandle)?;
        self.with_conn(idx, |t, ctx| {
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                t.read_closed = true;
                t.recv_buf.clear();
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) {
                t.close_write(ctx);
            }
        });
        self.after_change(idx, prev);
        Ok(())
    }

    /// Closes a socket: a listener stops (its pending connections are reset); a
    /// connection sends FIN after its queued data and lives on in the stack until the
    /// close completes. With linger 0, or with unread received data (RFC 2525 §2.17,
    /// as Linux does), the connection is aborted with RST instead. The handle is
    /// invalid afterwards.
    ///
    /// # Errors
    /// [`SocketError::InvalidHandle`] for a stale handle.
    pub fn close(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        let idx = self.index_of(h).ok_or(SocketError::InvalidHandle)?;
        if matches!(self.slots[idx as usize].sock, Some(Socket::Listener(_))) {
            self.close_listener(idx);
            return Ok(());
        }
        let tcb = self.conn(idx).ok_or(SocketError::InvalidHandle)?;
        if tcb.linger_zero || (!tcb.recv_buf.is_empty() && tcb.state != State::TimeWait) {
            return self.abort(h);
        }
        let lingers = !matches!(tcb.state, State::TimeWait | State::Closed);
        if lingers && self.totals.orphans >= self.config.tcp.max_orphans {
            // Linux tcp_close → tcp_check_oom: "too many orphaned sockets", reset.
            self.counters.orphans_reset += 1;
            return self.abort(h);
        }
        let prev = tcb.state;
        let key = FourTuple {
            local: tcb.local,
            remote: tcb.remote,
        };
        self.with_conn(idx, |t, ctx| {
            t.orphan = true;
            t.read_closed = true;
            t.close_write(ctx);
            t.arm_fin_wait_2(ctx);
        });
        let state = self.conn(idx).map(|t| t.state);
        if matches!(state, Some(State::TimeWait | State::Closed))
            && prev == state.unwrap_or(State::Closed)
        {
            // Already finished (a husk): just let go.
            self.time_wait.detach(&key);
            if self.conns.get(&key) == Some(idx) {
                self.conns.remove(&key);
            }
            self.free_slot(idx);
            return Ok(());
        }
        // The application's handle is spent; the connection lives on under a fresh one.
        self.reissue_handle(idx);
        self.after_change(idx, prev);
        Ok(())
    }

    /// Gives slot `idx` a new generation so the application's old handle goes stale
    /// while the connection itself finishes closing.
    fn reissue_handle(&mut self, idx: u32) {
        self.set_timer(idx, None);
        let slot = &mut self.slots[idx as usize];
        slot.generation = slot.generation.wrapping_add(1);
        let handle = SocketHandle {
            index: idx,
            generation: slot.generation,
        };
        if let Some(Socket::Conn(t)) = slot.sock.as_mut() {
            t.handle = handle;
        }
    }

    /// Aborts a connection (RFC 9293 ABORT): a RST `<SEQ=SND.NXT><CTL=RST>` in the
    /// synchronized states and SYN-RECEIVED, nothing in SYN-SENT; queued data is
    /// dropped. Closing a listener aborts its pending connections.
    ///
    /// # Errors
    /// [`SocketError::InvalidHandle`] for a stale handle.
    pub fn abort(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        let idx = self.index_of(h).ok_or(SocketError::InvalidHandle)?;
        if matches!(self.slots[idx as usize].sock, Some(Socket::Listener(_))) {
            self.close_listener(idx);
            return Ok(());
        }
        self.abort_conn(idx, Cause::AppAbort);
        Ok(())
    }

    fn abort_conn(&mut self, idx: u32, cause: Cause) {
        let Some(tcb) = self.conn(idx) else { return };
        let key = FourTuple {
            local: tcb.local,
            remote: tcb.remote,
        };
        let prev = tcb.state;
        if matches!(prev, State::SynReceived) || (prev.is_synchronized() && prev != State::TimeWait)
        {
            let rst = rst_segment(tcb.local, tcb.remote, tcb.snd_max, Some(tcb.rcv_nxt));
            self.push_ctrl(rst);
        }
        self.with_conn(idx, |t, ctx| {
            t.orphan = true;
            if t.state != State::Closed {
                t.fail(ConnectionError::Aborted, cause, ctx);
            }
        });
        if prev == State::TimeWait {
            self.time_wait.detach(&key);
        }
        if prev == State::SynReceived {
            self.leave_syn_queue(idx, false);
        }
        if self.conns.get(&key) == Some(idx) {
            self.conns.remove(&key);
        }
        self.free_slot(idx);
    }

    fn close_listener(&mut self, idx: u32) {
        let Some(Socket::Listener(l)) = self.slots[idx as usize].sock.as_ref() else {
            return;
        };
        let (handle, local) = (l.handle, l.local);
        let mut children: Vec<u32> = l
            .accept_queue
            .iter()
            .filter_map(|&h| self.index_of(h))
            .collect();
        // Half-open children are found through their parent link.
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(Socket::Conn(t)) = &s.sock {
                if t.parent == Some(handle) && t.state == State::SynReceived {
                    children.push(i as u32);
                }
            }
        }
        for c in children {
            self.abort_conn(c, Cause::ListenerClosed);
        }
        // Every half-open child left the SYN queue as it was aborted.
        if let Some(Socket::Listener(l)) = self.slots[idx as usize].sock.as_ref() {
            debug_assert_eq!(l.syn_queue, 0, "half-open children left behind");
            self.totals.half_open -= l.syn_queue.min(self.totals.half_open);
        }
        self.listeners.remove(&local);
        self.events.push(
            Event::StateChanged {
                at: self.now,
                handle: Some(handle),
                local,
                remote: None,
                from: State::Listen,
                to: State::Closed,
                cause: Cause::AppClose,
            },
            &mut self.counters,
        );
        self.free_slot(idx);
    }

    /// Sets SO_LINGER: `Some(Duration::ZERO)` makes close send RST. Other values
    /// behave like the default (close in the background).
    ///
    /// # Errors
    /// [`SocketError`] for a bad handle or a listener.
    pub fn set_linger(
        &mut self,
        h: SocketHandle,
        linger: Option<Duration>,
    ) -> Result<(), SocketError> {
        let idx = self.conn_index(h)?;
        self.with_conn(idx, |t, _| t.linger_zero = linger == Some(Duration::ZERO));
        Ok(())
    }

    /// Sets TCP_NODELAY (disables Nagle's algorithm when true).
    ///
    /// # Errors
    /// [`SocketError`] for a bad handle or a listener.
    pub fn set_nodelay(&mut self, h: SocketHandle, nodelay: bool) -> Result<(), SocketError> {
        let idx = self.conn_index(h)?;
        self.with_conn(idx, |t, _| t.nodelay = nodelay);
        self.touch(idx);
        Ok(())
    }

    /// Turns pacing on or off for one connection (see [`TcpConfig::pacing`]).
    ///
    /// # Errors
    /// [`SocketError`] if `h` is not a connection.
    ///
    /// [`TcpConfig::pacing`]: crate::TcpConfig::pacing
    pub fn set_pacing(&mut self, h: SocketHandle, pacing: bool) -> Result<(), SocketError> {
        let idx = self.conn_index(h)?;
        self.with_conn(idx, |t, _| {
            t.pacing = pacing;
            t.pace_deadline = None;
        });
        self.touch(idx);
        Ok(())
    }

    /// Sets the send buffer size in bytes (at least one MSS).
    ///
    /// # Errors
    /// [`SocketError::InvalidArgument`] when below one MSS.
    pub fn set_send_buffer(&mut self, h: SocketHandle, bytes: usize) -> Result<(), SocketError> {
        let idx = self.conn_index(h)?;
        if bytes < usize::from(self.config.tcp.mss) {
            return Err(SocketError::InvalidArgument);
        }
        self.with_conn(idx, |t, _| {
            t.send_buf.set_capacity(bytes);
            t.sndbuf_locked = true;
        });
        Ok(())
    }

    /// Sets the receive buffer size in bytes (at least one MSS). Shrinking never
    /// takes back window already advertised.
    ///
    /// # Errors
    /// [`SocketError::InvalidArgument`] when below one MSS or above 1 GiB.
    pub fn set_recv_buffer(&mut self, h: SocketHandle, bytes: usize) -> Result<(), SocketError> {
        let idx = self.conn_index(h)?;
        if bytes < usize::from(self.config.tcp.mss) || bytes > 1 << 30 {
            return Err(SocketError::InvalidArgument);
        }
        self.with_conn(idx, |t, _| {
            t.recv_cap = crate::tcp::conn::buffer_u32(bytes);
            t.rcvbuf_locked = true;
        });
        self.touch(idx);
        Ok(())
    }

    /// Turns keepalive on (with its timing) or off for a connection.
    ///
    /// # Errors
    /// [`SocketError::InvalidArgument`] for zero timings; [`SocketError`] for a bad handle.
    pub fn set_keepalive(
        &mut self,
        h: SocketHandle,
        keepalive: Option<crate::config::Keepalive>,
    ) -> Result<(), SocketError> {
        let idx = self.conn_index(h)?;
        if keepalive.is_some_and(|k| k.idle.is_zero() || k.interval.is_zero() || k.count == 0) {
            return Err(SocketError::InvalidArgument);
        }
        let now = self.now;
        self.with_conn(idx, |t, _| {
            t.keepalive = keepalive.map(Box::new);
            t.keepalive_probes = 0;
            t.arm_keepalive(now);
        });
        self.touch(idx);
        Ok(())
    }

    /// Sets the user timeout (RFC 5482, Linux `TCP_USER_TIMEOUT`): the connection
    /// fails with `TimedOut` when sent data stays unacknowledged this long.
    ///
    /// # Errors
    /// [`SocketError::InvalidArgument`] for zero; [`SocketError`] for a bad handle.
    pub fn set_user_timeout(
        &mut self,
        h: SocketHandle,
        timeout: Option<Duration>,
    ) -> Result<(), SocketError> {
        let idx = self.conn_index(h)?;
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(SocketError::InvalidArgument);
        }
        self.with_conn(idx, |t, _| {
            t.user_timeout = crate::tcp::conn::user_timeout_us(timeout);
        });
        self.touch(idx);
        Ok(())
    }

    // ---- getters ----

    /// A socket's state (None for an invalid handle).
    pub fn state(&self, h: SocketHandle) -> Option<State> {
        let idx = self.index_of(h)?;
        match self.slots[idx as usize].sock.as_ref()? {
            Socket::Listener(_) => Some(State::Listen),
            Socket::Conn(t) => Some(t.state),
        }
    }

    /// Why a connection failed, if it did.
    pub fn error(&self, h: SocketHandle) -> Option<ConnectionError> {
        self.conn(self.index_of(h)?)?.error
    }

    /// Local and remote address of a connection.
    pub fn addrs(&self, h: SocketHandle) -> Option<(SocketAddr, SocketAddr)> {
        let t = self.conn(self.index_of(h)?)?;
        Some((t.local, t.remote))
    }

    /// Bytes that [`Stack::send`] would accept now.
    pub fn send_capacity(&self, h: SocketHandle) -> usize {
        self.index_of(h).and_then(|i| self.conn(i)).map_or(0, |t| {
            if t.write_closed {
                0
            } else {
                t.send_buf.free()
            }
        })
    }

    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue(&self, h: SocketHandle) -> usize {
        self.index_of(h)
            .and_then(|i| self.conn(i))
            .map_or(0, |t| t.send_buf.len())
    }

    /// Bytes ready for [`Stack::recv`].
    pub fn recv_queue(&self, h: SocketHandle) -> usize {
        self.index_of(h)
            .and_then(|i| self.conn(i))
            .map_or(0, Tcb::recv_queue)
    }

    /// Every socket, like `ss -tan`: listeners, connections, and TIME-WAIT entries.
    pub fn sockets(&self) -> Vec<SocketInfo> {
        let mut out = Vec::new();
        for s in &self.slots {
            match &s.sock {
                Some(Socket::Listener(l)) => out.push(SocketInfo {
                    handle: Some(l.handle),
                    state: State::Listen,
                    local: l.local,
                    remote: None,
                    recv_queue: l.accept_queue.len(),
                    send_queue: l.accept_cap,
                }),
                Some(Socket::Conn(t)) if t.state != State::TimeWait => out.push(SocketInfo {
                    handle: Some(t.handle),
                    state: t.state,
                    local: t.local,
                    remote: Some(t.remote),
                    recv_queue: t.recv_buf.len(),
                    send_queue: t.send_buf.len(),
                }),
                _ => {}
            }
        }
        for (key, e) in self.time_wait.iter() {
            out.push(SocketInfo {
                handle: e.handle,
                state: State::TimeWait,
                local: key.local,
                remote: Some(key.remote),
                recv_queue: 0,
                send_queue: 0,
            });
        }
        out
    }

    /// TCP_INFO-style details of a connection.
    pub fn info(&self, h: SocketHandle) -> Option<TcpInfo> {
        let t = self.conn(self.index_of(h)?)?;
        Some(TcpInfo {
            state: t.state,
            srtt: t.rtt.srtt(),
            rttvar: t.rtt.rttvar(),
            rto: t.rtt.rto(),
            mss: t.mss,
            cwnd: t.cc.cwnd(),
            ssthresh: t.cc.ssthresh(),
            snd_wnd: t.snd_wnd,
            rcv_wnd: t.rcv_wnd(),
            snd_wscale: t.snd_wscale,
            rcv_wscale: t.rcv_wscale,
            sack: t.sack_ok,
            timestamps: t.ts_ok,
            retransmits: t.stats.retransmits,
            segs_in: t.stats.segs_in,
            segs_out: t.stats.segs_out,
            bytes_acked: t.stats.bytes_acked,
            bytes_received: t.stats.bytes_received,
            unacked: t.in_flight(),
            sacked: t.rack.sacked_bytes(),
            lost: t.rack.lost_bytes(),
            reordering: t.rack.reorder_events(),
            spurious_undos: u64::from(t.stats.spurious_undos),
            congestion: t.cc.name(),
            phase: t.phase(),
            pacing_rate: if t.pacing { t.pacing_rate.rate() } else { 0 },
            recoveries: u64::from(t.stats.recoveries),
            rtos: u64::from(t.stats.rtos),
            spurious_rtos: u64::from(t.stats.spurious_rtos),
            cwnd_unvalidated_acks: t.stats.cwnd_unvalidated_acks,
        })
    }

    /// Connections in TIME-WAIT.
    pub fn time_wait_count(&self) -> usize {
        self.time_wait.len()
    }
}
