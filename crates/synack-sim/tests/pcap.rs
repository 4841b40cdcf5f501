//! A written capture parsed back by a tiny independent reader.

mod common;

use common::*;
use synack_sim::{Fate, Instant, LinkConfig, Loss, Sim, TimestampResolution};

struct Capture {
    nanos: bool,
    version: (u16, u16),
    snaplen: u32,
    linktype: u32,
    /// (seconds, fraction, incl_len, orig_len, bytes)
    records: Vec<(u32, u32, u32, u32, Vec<u8>)>,
}

fn parse(file: &[u8]) -> Capture {
    let u16_at = |i: usize| u16::from_le_bytes(file[i..i + 2].try_into().unwrap());
    let u32_at = |i: usize| u32::from_le_bytes(file[i..i + 4].try_into().unwrap());
    let nanos = match u32_at(0) {
        0xa1b2_3c4d => true,
        0xa1b2_c3d4 => false,
        other => panic!("bad magic {other:#x}"),
    };
    let mut capture = Capture {
        nanos,
        version: (u16_at(4), u16_at(6)),
        snaplen: u32_at(16),
        linktype: u32_at(20),
        records: Vec::new(),
    };
    assert_eq!(u32_at(8), 0, "thiszone");
    let mut at = 24;
    while at < file.len() {
        let (secs, frac, incl, orig) =
            (u32_at(at), u32_at(at + 4), u32_at(at + 8), u32_at(at + 12));
        let body = file[at + 16..at + 16 + incl as usize].to_vec();
        capture.records.push((secs, frac, incl, orig, body));
        at += 16 + incl as usize;
    }
    assert_eq!(at, file.len(), "trailing bytes");
    capture
}

fn scenario() -> Sim<Toy> {
    let cfg = LinkConfig::default()
        .delay(ms(3))
        .loss(Loss::Bernoulli(0.3))
        .corrupt(0.2)
        .duplicate(0.2);
    let a = Toy::new(A).stream(B, 1, 100, Instant::from_micros(1_999_990), us(7), 50);
    let b = Toy::new(B).stream(A, 2, 60, Instant::from_secs(2), ms(1), 5);
    let (mut sim, _, _) = pair(21, a, b, cfg, LinkConfig::default());
    let mut bad = Toy::new(A);
    bad.send_raw(vec![0xff; 40]); // never reaches a link, so not in the capture
    sim.run_until_idle(10_000).unwrap();
    sim
}

#[test]
fn pcap_round_trip_nanoseconds() {
    let sim = scenario();
    let mut file = Vec::new();
    sim.write_pcap(&mut file).unwrap();
    let cap = parse(&file);
    assert!(cap.nanos);
    assert_eq!(cap.version, (2, 4));
    assert_eq!(cap.snaplen, 65_535);
    assert_eq!(cap.linktype, 101);
    let trace = sim.trace();
    assert_eq!(cap.records.len(), trace.len());
    assert!(
        trace.iter().any(|r| !r.fate.is_delivered()),
        "dropped packets are captured too"
    );
    assert!(trace.iter().any(|r| r.fate == Fate::Corrupted));
    let mut last = (0, 0);
    for ((secs, frac, incl, orig, bytes), r) in cap.records.iter().zip(trace) {
        assert_eq!(
            (*incl as usize, *orig as usize),
            (r.bytes.len(), r.bytes.len())
        );
        assert_eq!(bytes, &r.bytes, "the bytes as sent");
        assert!(intact(bytes), "corrupted packets appear as sent");
        let t = u64::from(*secs) * 1_000_000_000 + u64::from(*frac);
        assert_eq!(t, r.t.micros() * 1000);
        assert!(*frac < 1_000_000_000);
        assert!((*secs, *frac) >= last, "timestamps in order");
        last = (*secs, *frac);
    }
    assert_eq!((cap.records[0].0, cap.records[0].1), (1, 999_990_000));
}

#[test]
fn pcap_round_trip_microseconds() {
    let sim = scenario();
    let mut file = Vec::new();
    sim.write_pcap_with(&mut file, TimestampResolution::Micros)
        .unwrap();
    let cap = parse(&file);
    assert!(!cap.nanos);
    for ((secs, frac, ..), r) in cap.records.iter().zip(sim.trace()) {
        assert_eq!(
            u64::from(*secs) * 1_000_000 + u64::from(*frac),
            r.t.micros()
        );
    }
}

#[test]
fn pcap_to_a_file() {
    let sim = scenario();
    let path = std::env::temp_dir().join(format!("synack-sim-test-{}.pcap", std::process::id()));
    sim.write_pcap(std::io::BufWriter::new(
        std::fs::File::create(&path).unwrap(),
    ))
    .unwrap();
    let file = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(parse(&file).records.len(), sim.trace().len());
}
