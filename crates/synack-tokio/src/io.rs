//! Packet I/O on the TUN device, in batches and without allocating per packet.
//!
//! Two modes:
//! - **plain**: one `read`/`write` per IP packet;
//! - **offload** (`IFF_VNET_HDR`, TSO/GSO/checksum offload negotiated by tun-rs):
//!   the kernel hands us up to 64 KiB TCP super-packets, which tun-rs splits into
//!   MTU-sized segments for the stack, and on the way out consecutive segments of a
//!   flow are coalesced (GRO-style) into super-packets the kernel takes in one write.

use std::io;
use std::sync::Arc;

use crate::impair::ImpairDir;

use synack::Instant;
use tun_rs::{AsyncDevice, DeviceImpl, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

/// Packets read per driver round in plain mode.
const PLAIN_RX_BATCH: usize = 64;
/// Packet buffers for offload receive: one read of a 64 KiB super-packet yields up
/// to 65535 / MSS segments, so a read is only attempted with this many free.
const OFFLOAD_RX_PER_READ: usize = IDEAL_BATCH_SIZE;
/// Buffers for offload receive (two reads' worth).
const OFFLOAD_RX_BUFS: usize = 2 * OFFLOAD_RX_PER_READ;
/// Largest TUN read with offload: the virtio header and a 64 KiB IP packet.
const OFFLOAD_READ_LEN: usize = VIRTIO_NET_HDR_LEN + 65535;

/// Capacity of a transmit buffer with offload: room for a coalesced 64 KiB packet
/// and twice the virtio header (tun-rs's condition for coalescing into it).
const SUPER_PACKET_CAP: usize = 2 * VIRTIO_NET_HDR_LEN + 65535;

/// Buffer size for one packet of an MTU, with some slack.
fn packet_buf_len(mtu: u16) -> usize {
    usize::from(mtu).max(1500) + 64
}

/// What a [`Rx::read_batch`] found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadReport {
    /// Failed reads (other than "nothing to read").
    pub(crate) errors: u64,
    /// The device had nothing more to read (or failed).
    pub(crate) drained: bool,
    /// Packets read.
    pub(crate) packets: usize,
}

/// The receive side, owned by the driver task (no lock held while reading).
pub(crate) struct Rx {
    dev: Arc<AsyncDevice>,
    offload: bool,
    bufs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    /// Offload only: the raw read (virtio header + super-packet).
    raw: Vec<u8>,
    count: usize,
    /// Where each read of the batch ended (an index into the packets): one packet
    /// per read without offload, one split super-packet per read with it.
    ends: Vec<usize>,
}

impl std::fmt::Debug for Rx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rx")
            .field("offload", &self.offload)
            .finish_non_exhaustive()
    }
}

impl Rx {
    pub(crate) fn new(dev: Arc<AsyncDevice>, mtu: u16, offload: bool) -> Self {
        let n = if offload {
            OFFLOAD_RX_BUFS
        } else {
            PLAIN_RX_BATCH
        };
        Self {
            dev,
            offload,
            bufs: vec![vec![0u8; packet_buf_len(mtu)]; n],
            sizes: vec![0; n],
            raw: if offload {
                vec![0u8; OFFLOAD_READ_LEN]
            } else {
                Vec::new()
            },
            count: 0,
            ends: Vec::with_capacity(n),
        }
    }

    /// Where each read of the last batch ended, ascending (see [`Rx::packets`]).
    pub(crate) fn read_ends(&self) -> &[usize] {
        &self.ends
    }

    pub(crate) fn device(&self) -> &AsyncDevice {
        &self.dev
    }

    /// Reads what is ready, up to a batch; the packets are in [`Rx::packets`].
    ///
    /// This asks tokio's readiness first, which clears it on "nothing to read".
    /// That readiness lags the device: it is set only once the reactor has
    /// polled epoll, so a packet the kernel queued a moment ago can be there
    /// unreported.
    pub(crate) fn read_batch(&mut self) -> ReadReport {
        self.read(false)
    }

    /// Reads up to a batch straight from the device, whatever tokio believes
    /// (see [`Rx::read_batch`]); for the moment before a timer fires, when a
    /// queued ACK would make the timer moot. Costs one system call when empty.
    pub(crate) fn read_batch_direct(&mut self) -> ReadReport {
        self.read(true)
    }

    fn read(&mut self, direct: bool) -> ReadReport {
        self.count = 0;
        self.ends.clear();
        let mut errors = 0;
        let mut drained = false;
        loop {
            let r = if self.offload {
                if self.bufs.len() - self.count < OFFLOAD_RX_PER_READ {
                    break;
                }
                let (bufs, sizes) = (&mut self.bufs[self.count..], &mut self.sizes[self.count..]);
                if direct {
                    let dev: &DeviceImpl = &self.dev;
                    dev.recv_multiple(&mut self.raw, bufs, sizes, 0)
                } else {
                    self.dev.try_recv_multiple(&mut self.raw, bufs, sizes, 0)
                }
            } else {
                if self.count == self.bufs.len() {
                    break;
                }
                let i = self.count;
                if direct {
                    // Without IFF_VNET_HDR this is one plain read into bufs[i].
                    let dev: &DeviceImpl = &self.dev;
                    dev.recv_multiple(
                        &mut self.raw,
                        &mut self.bufs[i..=i],
                        &mut self.sizes[i..=i],
                        0,
                    )
                } else {
                    self.dev.try_recv(&mut self.bufs[i]).map(|n| {
                        self.sizes[i] = n;
                        1
                    })
                }
            };
            match r {
                Ok(n) => {
                    self.count += n;
                    self.ends.push(self.count);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // A malformed super-packet or a device error: counted, and the
                    // round goes on with what was read.
                    errors += 1;
                    drained = true;
                    break;
                }
            }
        }
        ReadReport {
            errors,
            drained,
            packets: self.count,
        }
    }

    /// The packets of the last [`Rx::read_batch`].
    pub(crate) fn packets(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.count).filter_map(|i| self.packet(i))
    }

    /// How many packets the last [`Rx::read_batch`] read.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The `i`th packet of the last [`Rx::read_batch`].
    pub(crate) fn packet(&self, i: usize) -> Option<&[u8]> {
        let (b, &n) = (self.bufs[..self.count].get(i)?, self.sizes.get(i)?);
        Some(&b[..n.min(b.len())])
    }
}

/// What a flush did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TxReport {
    /// IP packets handed over (before coalescing).
    pub(crate) packets: u64,
    /// Bytes of those packets.
    pub(crate) bytes: u64,
    /// Batches handed to the device (plain mode: one per packet).
    pub(crate) batches: u64,
    /// Packets lost to a failed write.
    pub(crate) dropped: u64,
}

/// The transmit side, behind the stack's lock.
pub(crate) struct Tx {
    dev: Option<Arc<AsyncDevice>>,
    offload: bool,
    mtu_buf: usize,
    /// Offload: packets waiting for [`Tx::flush`], each after a virtio-header headroom.
    bufs: Vec<Vec<u8>>,
    queued: usize,
    gro: GROTable,
    /// Plain: the one packet buffer.
    buf: Vec<u8>,
    report: TxReport,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("offload", &self.offload)
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

impl Tx {
    pub(crate) fn new(dev: Arc<AsyncDevice>, mtu: u16, offload: bool) -> Self {
        let mtu_buf = packet_buf_len(mtu);
        Self {
            dev: Some(dev),
            offload,
            mtu_buf,
            // tun-rs coalesces into the first packet's buffer only if its capacity
            // holds a whole super-packet (it never reallocates). Pages are touched
            // only as far as packets fill them.
            bufs: if offload {
                (0..IDEAL_BATCH_SIZE)
                    .map(|_| Vec::with_capacity(SUPER_PACKET_CAP))
                    .collect()
            } else {
                Vec::new()
            },
            queued: 0,
            gro: GROTable::new(),
            buf: vec![0u8; mtu_buf],
            report: TxReport::default(),
        }
    }

    /// Stops transmitting and releases the device.
    pub(crate) fn close(&mut self) {
        self.dev = None;
    }

    /// Sends one packet that `fill` writes into the buffer it is given (returning
    /// its length, or `None` for no packet). Returns whether a packet was produced.
    pub(crate) fn send_with(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        if !self.offload {
            let Some(n) = fill(&mut self.buf) else {
                return false;
            };
            self.report.packets += 1;
            self.report.bytes += n as u64;
            self.report.batches += 1;
            if let Some(dev) = &self.dev {
                if dev.try_send(&self.buf[..n]).is_err() {
                    // A TUN write refused is like a full NIC queue: TCP recovers.
                    self.report.dropped += 1;
                }
            }
            return true;
        }
        let b = &mut self.bufs[self.queued];
        b.clear();
        b.resize(VIRTIO_NET_HDR_LEN + self.mtu_buf, 0);
        let Some(n) = fill(&mut b[VIRTIO_NET_HDR_LEN..]) else {
            return false;
        };
        b.truncate(VIRTIO_NET_HDR_LEN + n);
        self.report.packets += 1;
        self.report.bytes += n as u64;
        self.queued += 1;
        if self.queued == self.bufs.len() {
            self.flush();
        }
        true
    }

    /// Writes out what is queued (offload mode; plain mode sends at once).
    pub(crate) fn flush(&mut self) {
        if self.queued == 0 {
            return;
        }
        let n = std::mem::take(&mut self.queued);
        self.report.batches += 1;
        let Some(dev) = &self.dev else { return };
        // Coalesced super-packets are written one by one; tun-rs stops at the first
        // failing write, and what it did not write is lost (TCP recovers).
        // The synchronous write of the device (the fd is non-blocking; a TUN write
        // does not wait for anything).
        let sync: &DeviceImpl = dev;
        if sync
            .send_multiple(&mut self.gro, &mut self.bufs[..n], VIRTIO_NET_HDR_LEN)
            .is_err()
        {
            self.report.dropped += 1;
        }
    }

    /// Takes the counters accumulated since the last call.
    pub(crate) fn take_report(&mut self) -> TxReport {
        std::mem::take(&mut self.report)
    }
}

/// The way out: the outbound impairment (if any), then [`Tx`].
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) tx: Tx,
    pub(crate) impair: Option<ImpairDir>,
    scratch: Vec<u8>,
}

impl Out {
    pub(crate) fn new(tx: Tx, impair: Option<ImpairDir>) -> Self {
        let scratch = vec![0u8; tx.mtu_buf];
        Self {
            tx,
            impair,
            scratch,
        }
    }

    /// Sends the packet `fill` writes (see [`Tx::send_with`]) through the
    /// impairment. Returns whether a packet was produced.
    pub(crate) fn send_with(
        &mut self,
        now: Instant,
        fill: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        let Some(d) = &mut self.impair else {
            return self.tx.send_with(fill);
        };
        let Some(n) = fill(&mut self.scratch) else {
            return false;
        };
        let tx = &mut self.tx;
        d.push(now, &self.scratch[..n], |p| copy_out(tx, p));
        true
    }

    /// Sends the impaired packets that are due.
    pub(crate) fn release(&mut self, now: Instant) {
        if let Some(d) = &mut self.impair {
            let tx = &mut self.tx;
            d.release(now, |p| copy_out(tx, p));
        }
    }

    /// When the next impaired packet is due.
    pub(crate) fn next_release(&self) -> Option<Instant> {
        self.impair.as_ref().and_then(ImpairDir::next_release)
    }
}

fn copy_out(tx: &mut Tx, p: &[u8]) {
    tx.send_with(|b| {
        let dst = b.get_mut(..p.len())?;
        dst.copy_from_slice(p);
        Some(p.len())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use synack::{Instant, Stack, StackConfig};

    #[test]
    fn gro_coalesces_consecutive_segments_of_the_stack() {
        let a_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let mut a = Stack::new(StackConfig::from_seed(1), &[a_ip]).unwrap();
        let mut b = Stack::new(StackConfig::from_seed(2), &[b_ip]).unwrap();
        let l = b.listen(SocketAddr::new(b_ip, 80), 16).unwrap();
        let c = a.connect(SocketAddr::new(b_ip, 80), None).unwrap();
        let mut buf = [0u8; 1600];
        let now = Instant::from_millis(1);
        loop {
            let mut moved = false;
            while let Some(n) = a.poll_transmit(now, &mut buf) {
                b.handle_packet(now, &buf[..n]);
                moved = true;
            }
            while let Some(n) = b.poll_transmit(now, &mut buf) {
                a.handle_packet(now, &buf[..n]);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        let _s = b.accept(l).unwrap();
        a.send(c, &[7u8; 4 * 1448]).unwrap();
        let mut bufs = Vec::new();
        loop {
            let mut v = Vec::with_capacity(SUPER_PACKET_CAP);
            v.resize(VIRTIO_NET_HDR_LEN + 1600, 0);
            let Some(n) = a.poll_transmit(now, &mut v[VIRTIO_NET_HDR_LEN..]) else {
                break;
            };
            v.truncate(VIRTIO_NET_HDR_LEN + n);
            bufs.push(v);
        }
        assert_eq!(bufs.len(), 4, "MSS-sized segments, the last with PSH");
        let mut gro = GROTable::new();
        gro.apply_gro(&mut bufs, VIRTIO_NET_HDR_LEN, false).unwrap();
        // All six went into the first buffer: one super-packet with every byte.
        let ip = &bufs[0][VIRTIO_NET_HDR_LEN..];
        assert_eq!(
            ip.len(),
            20 + 32 + 4 * 1448,
            "IPv4 + TCP with timestamps + data"
        );
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
    }
}
