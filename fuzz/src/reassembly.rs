//! The `reassembly` target: `synack::tcp::reassembly::Reassembly` against a
//! byte-map model.
//!
//! The input picks a base offset (0, random, or just below `u64::MAX` so the
//! end-of-space rule is hit), then a sequence of operations: insert (offset,
//! length, a tag that makes each copy's bytes distinct, so "first copy wins" is
//! checked), pop at the model's next offset or at an arbitrary one, and clear.
//! After every operation the queue's ranges, byte count, range count, highest end
//! and emptiness must match the model, and popped bytes must be the ones the
//! model holds.

use synack::tcp::reassembly::Reassembly;

use crate::input::Input;

/// Offsets used are `base + [0, WINDOW)`.
const WINDOW: usize = 8_192;
/// Longest insert.
const MAX_INSERT: usize = 2_048;

/// Byte at absolute offset `off` of a copy tagged `tag`.
fn byte(off: u64, tag: u8) -> u8 {
    (off as u8).wrapping_mul(31) ^ ((off >> 8) as u8) ^ tag
}

struct Model {
    base: u64,
    /// Held byte at `base + i`.
    held: Vec<Option<u8>>,
    count: usize,
    /// Every held byte lies in `[lo, hi)` (bounds for the scans, not exact).
    lo: usize,
    hi: usize,
}

impl Model {
    fn abs(&self, rel: usize) -> Option<u64> {
        self.base.checked_add(rel as u64)
    }

    /// Applies an insert; returns how many bytes were new.
    fn insert(&mut self, rel: usize, data: &[u8]) -> usize {
        let mut added = 0;
        for (k, &b) in data.iter().enumerate() {
            let i = rel + k;
            // Bytes at offsets that do not fit below u64::MAX are dropped: a range
            // ends at most at u64::MAX (exclusive).
            match self.abs(i) {
                Some(a) if a < u64::MAX => {}
                _ => break,
            }
            debug_assert!(i < self.held.len(), "the model covers every insert");
            self.lo = self.lo.min(i);
            self.hi = self.hi.max(i + 1);
            if self.held[i].is_none() {
                self.held[i] = Some(b);
                self.count += 1;
                added += 1;
            }
        }
        added
    }

    /// Drops everything below `next`, then takes the run starting at `next`.
    fn pop(&mut self, next_rel: usize) -> Option<Vec<u8>> {
        let upto = next_rel.min(self.held.len());
        let from = self.lo.min(upto);
        for h in &mut self.held[from..upto] {
            if h.take().is_some() {
                self.count -= 1;
            }
        }
        let mut out = Vec::new();
        let mut i = next_rel;
        while let Some(Some(b)) = self.held.get(i) {
            out.push(*b);
            i += 1;
        }
        let from = next_rel.min(self.held.len());
        for h in &mut self.held[from..i] {
            *h = None;
        }
        self.count -= out.len();
        self.lo = self.lo.max(i);
        (!out.is_empty()).then_some(out)
    }

    fn clear(&mut self) {
        self.held.iter_mut().for_each(|h| *h = None);
        self.count = 0;
        self.lo = usize::MAX;
        self.hi = 0;
    }

    /// The held runs as absolute `[start, end)` ranges.
    fn runs(&self) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        let mut i = self.lo;
        while i < self.hi {
            if self.held[i].is_some() {
                let j = i + self.held[i..].iter().take_while(|h| h.is_some()).count();
                runs.push((self.base + i as u64, self.base + j as u64));
                i = j;
            } else {
                i += 1;
            }
        }
        runs
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut r = Input::new(data);
    let base = match r.u8() % 4 {
        0 => 0,
        1 => u64::MAX - WINDOW as u64 / 2 + u64::from(r.u16() % 4096),
        2 => u64::from(r.u32()) << 16 | u64::from(r.u16()),
        _ => (1u64 << 32) - 1000 + u64::from(r.u16()),
    };
    let mut q = Reassembly::new();
    let mut m = Model {
        base,
        held: vec![None; WINDOW + MAX_INSERT],
        count: 0,
        lo: usize::MAX,
        hi: 0,
    };
    // The consumer's position (relative), as a TCP receiver would keep it.
    let mut next = 0usize;
    let mut tag = 0u8;
    let mut ops = 0;
    while !r.is_empty() && ops < 128 {
        ops += 1;
        match r.u8() % 8 {
            0..=3 => {
                let rel = usize::from(r.u16()) % WINDOW;
                let len = usize::from(r.u16()) % (MAX_INSERT + 1);
                tag = tag.wrapping_add(0x5b);
                let bytes: Vec<u8> = (0..len as u64)
                    .map(|k| byte(base.wrapping_add(rel as u64 + k), tag))
                    .collect();
                let expect = m.insert(rel, &bytes);
                let offset = base.saturating_add(rel as u64);
                // Offsets past u64::MAX cannot be expressed: then nothing is held.
                if base.checked_add(rel as u64).is_none() {
                    continue;
                }
                let got = q.insert(offset, &bytes);
                assert_eq!(got, expect, "insert({offset}, {len}) new bytes");
            }
            4 | 5 => {
                let want = m.pop(next);
                let at = base.checked_add(next as u64);
                let got = match at {
                    Some(a) => q.pop_ready(a),
                    None => None,
                };
                if at.is_some() {
                    assert_eq!(got, want, "pop_ready at {next}");
                }
                if let Some(v) = want {
                    next += v.len();
                }
            }
            6 => {
                // Pop at an arbitrary offset (possibly behind or far ahead).
                let rel = usize::from(r.u16()) % WINDOW;
                let Some(a) = base.checked_add(rel as u64) else {
                    continue;
                };
                let want = m.pop(rel);
                assert_eq!(q.pop_ready(a), want, "pop_ready at arbitrary {rel}");
                next = rel + want.map_or(0, |v| v.len());
            }
            _ => {
                if r.u8() & 3 == 0 {
                    q.clear();
                    m.clear();
                }
            }
        }
        check(&q, &m);
    }
}

fn check(q: &Reassembly, m: &Model) {
    let runs = m.runs();
    assert_eq!(q.buffered(), m.count, "buffered");
    assert_eq!(q.ranges().collect::<Vec<_>>(), runs, "ranges");
    assert_eq!(q.range_count(), runs.len(), "range_count");
    assert_eq!(q.is_empty(), runs.is_empty(), "is_empty");
    assert_eq!(q.highest_end(), runs.last().map(|r| r.1), "highest_end");
}
