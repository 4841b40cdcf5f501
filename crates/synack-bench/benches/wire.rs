//! Wire micro-benchmarks: checksum, parse and emit of a full-sized data segment
//! (synack against smoltcp's equivalents), and out-of-order reassembly.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, TcpSeqNumber,
};
use synack::tcp::reassembly::Reassembly;
use synack::wire::{self, checksum, TcpFlags, TcpHeader, Timestamps};
use synack::SeqNum;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// The earlier candidate for the core, kept for comparison: native-endian 32-bit
/// words into four independent 64-bit accumulators; RFC 1071 §2(B) byte-order
/// independence turns the folded sum back into network order. The core now sums
/// short inputs as 32-bit halves of 64-bit words and long ones in a vector loop
/// (`wire::checksum::sum`).
fn candidate_sum(data: &[u8]) -> u16 {
    let mut acc = [0u64; 4];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for (i, a) in acc.iter_mut().enumerate() {
            let w = [c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]];
            *a += u64::from(u32::from_ne_bytes(w));
        }
    }
    let mut total = acc.iter().fold(0u128, |t, &a| t + u128::from(a));
    let mut tail = chunks.remainder().chunks_exact(2);
    for w in &mut tail {
        total += u128::from(u16::from_ne_bytes([w[0], w[1]]));
    }
    if let [last] = tail.remainder() {
        total += u128::from(u16::from_ne_bytes([*last, 0]));
    }
    while total > 0xffff {
        total = (total & 0xffff) + (total >> 16);
    }
    // Folded to 16 bits above, so the cast is lossless.
    u16::from_be(total as u16)
}

fn checksums(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    for n in [20usize, 1460, 65495] {
        let data = payload(n);
        assert_eq!(
            !candidate_sum(&data),
            checksum::fold(checksum::sum(&data, 0)),
            "the candidate agrees with synack"
        );
        g.bench_with_input(BenchmarkId::new("candidate", n), &data, |b, d| {
            b.iter(|| candidate_sum(black_box(d)));
        });
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_with_input(BenchmarkId::new("synack", n), &data, |b, d| {
            b.iter(|| checksum::fold(checksum::sum(black_box(d), 0)));
        });
        g.bench_with_input(BenchmarkId::new("smoltcp", n), &data, |b, d| {
            b.iter(|| smoltcp::wire::checksum::data(black_box(d)));
        });
        // A payload copied out of a packet and summed: synack's one pass
        // (`copy_and_sum`, as when a segment goes into the receive ring) against
        // a copy and smoltcp's checksum, the two passes it makes.
        let mut dst = vec![0u8; n];
        g.bench_with_input(BenchmarkId::new("synack-copy-and-sum", n), &data, |b, d| {
            b.iter(|| checksum::copy_and_sum(black_box(&mut dst), black_box(d), 0));
        });
        let mut dst = vec![0u8; n];
        g.bench_with_input(BenchmarkId::new("copy-then-smoltcp", n), &data, |b, d| {
            b.iter(|| {
                dst.copy_from_slice(black_box(d));
                smoltcp::wire::checksum::data(black_box(&dst))
            });
        });
    }
    g.finish();
}

fn synack_header() -> TcpHeader {
    let mut h = TcpHeader {
        src_port: 49152,
        dst_port: 5001,
        seq: SeqNum(1_000_000),
        ack: SeqNum(2_000_000),
        flags: TcpFlags::ACK,
        window: 1024,
        ..TcpHeader::default()
    };
    h.options.timestamps = Some(Timestamps { val: 1, ecr: 2 });
    h
}

fn smol_reprs(len: usize) -> (Ipv4Repr, TcpRepr<'static>) {
    let tcp = TcpRepr {
        src_port: 49152,
        dst_port: 5001,
        control: smoltcp::wire::TcpControl::None,
        seq_number: TcpSeqNumber(1_000_000),
        ack_number: Some(TcpSeqNumber(2_000_000)),
        window_len: 1024,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None, None, None],
        timestamp: None,
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: Ipv4Address::from_octets(SRC.octets()),
        dst_addr: Ipv4Address::from_octets(DST.octets()),
        next_header: IpProtocol::Tcp,
        payload_len: tcp.header_len() + len,
        hop_limit: 64,
    };
    (ip, tcp)
}

fn smol_emit(data: &[u8], buf: &mut [u8]) -> usize {
    let (ip, mut tcp) = smol_reprs(data.len());
    tcp.payload = data;
    let caps = ChecksumCapabilities::default();
    let mut p = Ipv4Packet::new_unchecked(&mut *buf);
    ip.emit(&mut p, &caps);
    let mut t = TcpPacket::new_unchecked(p.payload_mut());
    let (s, d) = (IpAddress::Ipv4(ip.src_addr), IpAddress::Ipv4(ip.dst_addr));
    tcp.emit(&mut t, &s, &d, &caps);
    ip.buffer_len() + ip.payload_len
}

fn smol_parse(pkt: &[u8]) -> usize {
    let caps = ChecksumCapabilities::default();
    let p = Ipv4Packet::new_checked(pkt).expect("valid");
    let ip = Ipv4Repr::parse(&p, &caps).expect("valid");
    let t = TcpPacket::new_checked(p.payload()).expect("valid");
    let (s, d) = (IpAddress::Ipv4(ip.src_addr), IpAddress::Ipv4(ip.dst_addr));
    TcpRepr::parse(&t, &s, &d, &caps)
        .expect("valid")
        .payload
        .len()
}

fn parse_emit(c: &mut Criterion) {
    let data = payload(1448);
    let (src, dst) = (IpAddr::V4(SRC), IpAddr::V4(DST));
    let hdr = synack_header();
    let mut g = c.benchmark_group("segment1448");
    g.throughput(Throughput::Bytes(data.len() as u64));
    let mut buf = vec![0u8; 1500];
    g.bench_function("emit/synack", |b| {
        b.iter(|| wire::emit(src, dst, 64, black_box(&hdr), black_box(&data), &mut buf));
    });
    g.bench_function("emit/smoltcp", |b| {
        b.iter(|| smol_emit(black_box(&data), &mut buf));
    });
    let n = wire::emit(src, dst, 64, &hdr, &data, &mut buf).expect("fits");
    let pkt = buf[..n].to_vec();
    g.bench_function("parse/synack", |b| {
        b.iter(|| wire::parse(black_box(&pkt)).map(|s| s.payload.len()));
    });
    let n = smol_emit(&data, &mut buf);
    let pkt = buf[..n].to_vec();
    g.bench_function("parse/smoltcp", |b| {
        b.iter(|| smol_parse(black_box(&pkt)));
    });
    g.finish();
}

fn reassembly(c: &mut Criterion) {
    // 32 segments of 1448 bytes arriving in reverse order, then delivered at once.
    // The queue records the ranges; the bytes go straight to their place in a
    // store (as a connection's receive ring), so delivering copies nothing.
    let seg = payload(1448);
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Bytes(32 * 1448));
    let mut store = vec![0u8; 32 * 1448];
    let mut q = Reassembly::new();
    g.bench_function("reverse32/synack", |b| {
        b.iter(|| {
            let mut put = |at: u64, bytes: &[u8]| {
                let at = at as usize;
                store[at..at + bytes.len()].copy_from_slice(bytes);
            };
            for i in (1..32u64).rev() {
                q.insert(i * 1448, black_box(&seg), &mut put).unwrap();
            }
            q.insert(0, &seg, &mut put).unwrap();
            let end = q.pop_ready(0);
            black_box(&store);
            end
        });
    });
    g.finish();
}

criterion_group!(benches, checksums, parse_emit, reassembly);
criterion_main!(benches);
