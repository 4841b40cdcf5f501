//! The seed corpus: real packets built with `wire::emit` (SYN with every
//! option, SYN-ACK, data, FIN, RST, SACK, IPv4 and IPv6), the packets of a
//! whole exchange between two stacks, and operation scripts for the stack and
//! reassembly targets. `examples/gen_seeds.rs` writes them to `fuzz/seeds/`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use synack::wire::{self, SackBlock, TcpFlags, TcpHeader, TcpOptions, Timestamps};
use synack::{Instant, SeqNum, Stack, StackConfig};

use crate::stack_input::TARGETS;

/// A named seed.
pub type Seed = (String, Vec<u8>);

const A: TcpFlags = TcpFlags::ACK;
const S: TcpFlags = TcpFlags::SYN;
const F: TcpFlags = TcpFlags::FIN;
const R: TcpFlags = TcpFlags::RST;
const P: TcpFlags = TcpFlags::PSH;

fn all_options(ts: u32) -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some(Timestamps { val: ts, ecr: 0 }),
        ..TcpOptions::default()
    }
}

fn hdr(flags: TcpFlags, seq: u32, ack: u32, options: TcpOptions) -> TcpHeader {
    TcpHeader {
        src_port: 40_000,
        dst_port: 80,
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        flags,
        window: 502,
        urgent: 0,
        options,
    }
}

fn emit(src: IpAddr, dst: IpAddr, h: &TcpHeader, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 70_000];
    let n = wire::emit(src, dst, 64, h, payload, &mut buf).expect("seed packet emits");
    buf.truncate(n);
    buf
}

/// Hand-built packets, each in IPv4 and IPv6.
fn packets() -> Vec<Seed> {
    let ts = |val, ecr| TcpOptions {
        timestamps: Some(Timestamps { val, ecr }),
        ..TcpOptions::default()
    };
    let mut sack3 = ts(200, 100);
    for (l, r) in [(3000, 4000), (5000, 6000), (7000, 7500)] {
        sack3.push_sack(SackBlock {
            left: SeqNum(l),
            right: SeqNum(r),
        });
    }
    let mut sack4 = TcpOptions::default();
    for k in 0..4u32 {
        sack4.push_sack(SackBlock {
            left: SeqNum(10_000 + k * 2000),
            right: SeqNum(11_000 + k * 2000),
        });
    }
    let mut syn_ack_opts = all_options(100);
    if let Some(t) = syn_ack_opts.timestamps.as_mut() {
        t.ecr = 50;
    }
    let payload: Vec<u8> = (0..1448u32).map(|k| k as u8).collect();
    let cases: Vec<(&str, TcpHeader, Vec<u8>)> = vec![
        ("syn_all_options", hdr(S, 1000, 0, all_options(50)), vec![]),
        ("syn_ack", hdr(S | A, 5000, 1001, syn_ack_opts), vec![]),
        ("syn_plain", hdr(S, 1000, 0, TcpOptions::default()), vec![]),
        ("ack", hdr(A, 1001, 5001, ts(51, 100)), vec![]),
        ("data", hdr(A | P, 1001, 5001, ts(52, 100)), payload.clone()),
        (
            "data_plain",
            hdr(A, 1001, 5001, TcpOptions::default()),
            payload[..100].to_vec(),
        ),
        ("fin", hdr(F | A, 2449, 5001, ts(53, 100)), vec![]),
        ("rst", hdr(R, 2449, 0, TcpOptions::default()), vec![]),
        (
            "rst_ack",
            hdr(R | A, 0, 2450, TcpOptions::default()),
            vec![],
        ),
        ("sack_ts", hdr(A, 1001, 2000, sack3), vec![]),
        ("sack4", hdr(A, 1001, 9000, sack4), vec![]),
        (
            "zero_window",
            {
                let mut h = hdr(A, 1001, 5001, ts(54, 100));
                h.window = 0;
                h
            },
            vec![],
        ),
    ];
    let v4 = (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
    );
    let v6 = (
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
    );
    let mut out = Vec::new();
    for (name, h, p) in &cases {
        out.push((format!("v4_{name}"), emit(v4.0, v4.1, h, p)));
        out.push((format!("v6_{name}"), emit(v6.0, v6.1, h, p)));
    }
    out
}

/// Every packet of a short exchange between two synack stacks (handshake with
/// options, data both ways, close from both ends).
pub fn exchange() -> Vec<Vec<u8>> {
    let a_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let b_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut a = Stack::new(StackConfig::from_seed(1), &[a_ip]).expect("stack");
    let mut b = Stack::new(StackConfig::from_seed(2), &[b_ip]).expect("stack");
    let l = b.listen(SocketAddr::new(b_ip, 80), 4).expect("listen");
    let c = a.connect(SocketAddr::new(b_ip, 80), None).expect("connect");
    let mut packets = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut now = Instant::ZERO;
    let mut s = None;
    let mut rbuf = vec![0u8; 65_536];
    for round in 0..40 {
        now = Instant::from_millis(round * 50);
        let mut moved = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            packets.push(buf[..n].to_vec());
            b.handle_packet(now, &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            packets.push(buf[..n].to_vec());
            a.handle_packet(now, &buf[..n]);
            moved = true;
        }
        if s.is_none() {
            s = b.accept(l).ok();
            if let Some(s) = s {
                let _ = a.send(c, &[7u8; 3000]);
                let _ = b.send(s, b"hello");
            }
        }
        if let Some(s) = s {
            while b.recv(s, &mut rbuf).is_ok_and(|n| n > 0) {}
            while a.recv(c, &mut rbuf).is_ok_and(|n| n > 0) {}
            if round == 10 {
                let _ = a.close(c);
                let _ = b.close(s);
            }
        }
        if !moved {
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
    }
    let _ = now;
    packets
}

/// Seeds for the `parse` target.
pub fn parse() -> Vec<Seed> {
    let mut out = packets();
    for (k, p) in exchange().into_iter().enumerate() {
        out.push((format!("exchange_{k:02}"), p));
    }
    out
}

/// Encodes `op_segment` of the stack target: a segment on the main tuple at
/// exactly the expected sequence number (`seq_delta` from it), acknowledging
/// everything (`ack_delta` from it), `len` payload bytes (a multiple of 8),
/// with `blocks` SACK blocks `(from acked, length)`.
fn seg(
    flags: TcpFlags,
    seq_delta: i8,
    ack_delta: i8,
    window0: bool,
    len: usize,
    sack: &[(u16, u16)],
) -> Vec<u8> {
    let mut v = vec![0u8]; // op 0: segment
    v.push(0); // main tuple
    v.push(flags.0);
    // mode: seq = base + i8; ack = acked + i8; window 65535 or 0; advance.
    let mode = 0x40 | (1 << 2) | if window0 { 1 << 4 } else { 0 };
    v.push(mode);
    v.push(seq_delta as u8);
    v.push(ack_delta as u8);
    let o = ((sack.len() as u8) % 5) << 4;
    v.push(o);
    for &(l, n) in sack {
        v.extend_from_slice(&l.to_be_bytes());
        v.extend_from_slice(&n.to_be_bytes());
    }
    v.push((len / 8) as u8);
    v
}

fn advance_ms(ms: u16) -> Vec<u8> {
    let mut v = vec![8u8];
    v.extend_from_slice(&ms.to_be_bytes());
    v
}

fn recv(n: u16) -> Vec<u8> {
    let mut v = vec![11u8, 0];
    v.extend_from_slice(&n.to_be_bytes());
    v
}

fn send(n: u16) -> Vec<u8> {
    let mut v = vec![12u8, 0];
    v.extend_from_slice(&n.to_be_bytes());
    v
}

/// `op_raw_tcp` carrying a hand-built SYN with every option on the main tuple.
fn raw_syn() -> Vec<u8> {
    let full = emit(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        &hdr(S, 77_777, 0, all_options(9)),
        &[],
    );
    let tcp = &full[20..];
    let mut v = vec![6u8, 1];
    v.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    v.extend_from_slice(tcp);
    v
}

/// Seeds for the `stack_input` target: each state × a few variants × a few
/// scripts of real segments.
pub fn stack_input() -> Vec<Seed> {
    let scripts: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("setup_only", vec![]),
        (
            "data_then_read",
            vec![
                seg(A | P, 0, 0, false, 512, &[]),
                recv(4096),
                advance_ms(200),
            ],
        ),
        (
            "ooo_data_sack",
            vec![
                seg(A, 64, 0, false, 256, &[]),
                seg(A, -64, 0, false, 64, &[]),
                recv(4096),
                advance_ms(50),
            ],
        ),
        (
            "fin",
            vec![seg(F | A, 0, 0, false, 0, &[]), recv(100), advance_ms(1000)],
        ),
        ("rst_exact", vec![seg(R, 0, 0, false, 0, &[])]),
        ("rst_in_window", vec![seg(R, 10, 0, false, 0, &[])]),
        ("syn_in_window", vec![seg(S, 5, 0, false, 0, &[])]),
        (
            "sack_then_timeout",
            vec![
                send(6000),
                seg(A, 0, -100, false, 0, &[(1000, 500), (3000, 1000)]),
                seg(A, 0, -100, false, 0, &[(1000, 1500), (3000, 1000)]),
                seg(A, 0, -100, false, 0, &[(1000, 2500)]),
                vec![10],
                advance_ms(3000),
            ],
        ),
        (
            "zero_window_probe",
            vec![
                send(3000),
                seg(A, 0, 0, true, 0, &[]),
                advance_ms(5000),
                advance_ms(20000),
            ],
        ),
        ("raw_syn", vec![raw_syn(), advance_ms(1000)]),
        (
            "send_close_timers",
            vec![
                send(2000),
                vec![13, 3, 0],
                vec![10],
                vec![10],
                advance_ms(60000),
            ],
        ),
    ];
    let variants = [0u8, 1, 3, 7, 11, 19, 0x83];
    let mut out = Vec::new();
    for (si, state) in TARGETS.iter().enumerate() {
        for &v in &variants {
            for (name, ops) in &scripts {
                // A few combinations per state keep the corpus small.
                if *name != "setup_only" && v != 1 && v != 3 {
                    continue;
                }
                let mut data = vec![si as u8, v];
                for op in ops {
                    data.extend_from_slice(op);
                }
                let label = state.to_string().to_lowercase().replace('-', "_");
                out.push((format!("{label}_v{v}_{name}"), data));
            }
        }
    }
    out
}

/// Seeds for the `reassembly` target.
pub fn reassembly() -> Vec<Seed> {
    let ins = |rel: u16, len: u16| {
        let mut v = vec![0u8];
        v.extend_from_slice(&rel.to_be_bytes());
        v.extend_from_slice(&len.to_be_bytes());
        v
    };
    let pop = || vec![4u8];
    let mut out = Vec::new();
    for (base_mode, base_name) in [(0u8, "zero"), (1, "near_max"), (2, "random"), (3, "wrap32")] {
        let mut head = vec![base_mode];
        // The bytes each base mode reads.
        let base_bytes: &[u8] = match base_mode {
            0 => &[],
            2 => &[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc],
            _ => &[0x01, 0x00],
        };
        head.extend_from_slice(base_bytes);
        let scripts: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "in_order",
                vec![ins(0, 1000), pop(), ins(1000, 1000), pop()],
            ),
            (
                "reverse",
                vec![
                    ins(3000, 1000),
                    ins(2000, 1000),
                    ins(1000, 1000),
                    ins(0, 1000),
                    pop(),
                ],
            ),
            (
                "overlaps",
                vec![
                    ins(100, 500),
                    ins(50, 100),
                    ins(550, 100),
                    ins(0, 2000),
                    pop(),
                ],
            ),
            (
                "holes",
                vec![ins(10, 10), ins(30, 10), ins(50, 10), ins(0, 60), pop()],
            ),
            (
                "arbitrary_pop",
                vec![ins(500, 800), vec![6, 0x02, 0x00], ins(0, 2000), pop()],
            ),
        ];
        for (name, ops) in scripts {
            let mut data = head.clone();
            for op in &ops {
                data.extend_from_slice(op);
            }
            out.push((format!("{base_name}_{name}"), data));
            if name == "holes" {
                // The same with a cap of 2 ranges (the mode byte's bits 2..5):
                // the third hole is refused, the bridge taken.
                let mut data = head.clone();
                data[0] |= 2 << 2;
                for op in &ops {
                    data.extend_from_slice(op);
                }
                out.push((format!("{base_name}_{name}_cap2"), data));
            }
        }
    }
    out
}
