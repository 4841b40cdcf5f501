//! Runs the harnesses on stable without libFuzzer: every seed and every saved
//! regression input goes through its target, and the stack target's set-up
//! script reaches its state for every state × variant.
//!
//! `cargo test --manifest-path fuzz/Cargo.toml`

use std::fs;
use std::path::Path;

use synack_fuzz::stack_input::{Harness, Variant, TARGETS};

fn replay_dir(target: &str, run: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for sub in ["seeds", "regressions"] {
        let dir = root.join(sub).join(target);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let bytes = fs::read(&p).unwrap();
            eprintln!("{}", p.display());
            run(&bytes);
            n += 1;
        }
    }
    n
}

#[test]
fn parse_corpus() {
    assert!(replay_dir("parse", synack_fuzz::parse::run) > 0);
}

#[test]
fn stack_input_corpus() {
    assert!(replay_dir("stack_input", synack_fuzz::stack_input::run) > 0);
}

#[test]
fn reassembly_corpus() {
    assert!(replay_dir("reassembly", synack_fuzz::reassembly::run) > 0);
}

#[test]
fn generated_seeds_run() {
    for (_, s) in synack_fuzz::seeds::parse() {
        synack_fuzz::parse::run(&s);
    }
    for (_, s) in synack_fuzz::seeds::stack_input() {
        synack_fuzz::stack_input::run(&s);
    }
    for (_, s) in synack_fuzz::seeds::reassembly() {
        synack_fuzz::reassembly::run(&s);
    }
}

#[test]
fn every_state_is_reached_in_every_variant() {
    for state in TARGETS {
        for v in 0..=255u8 {
            let mut h = Harness::reach(state, Variant(v));
            h.finish();
        }
    }
}
