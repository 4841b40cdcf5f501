//! The `reassembly` target: `synack::tcp::reassembly::Reassembly` and the byte
//! store it fills, against a byte-map model.
//!
//! The input picks a base offset (0, random, or just below `u64::MAX` so the
//! end-of-space rule is hit) and a cap on ranges (the default, or 1 to 7 so the
//! cap bites), then a sequence of operations: insert (offset, length, a tag that
//! makes each copy's bytes distinct, so "first copy wins" is checked), pop at the
//! model's next offset or at an arbitrary one, and clear. The queue's bytes go to
//! a store (as a connection's go to its receive ring), which must only ever be
//! handed bytes the model does not hold. After every operation the queue's
//! ranges, byte count, range count, lowest start, highest end and emptiness must
//! match the model, and a pop must return the end of the run the model holds,
//! whose bytes the store must have.

use synack::tcp::reassembly::{Full, Reassembly, MAX_RANGES};

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

    /// How many bytes of an insert of `len` at `rel` can be held: those at
    /// offsets below u64::MAX (a range ends at most at u64::MAX, exclusive).
    fn fitting(&self, rel: usize, len: usize) -> usize {
        (0..len)
            .take_while(|&k| self.abs(rel + k).is_some_and(|a| a < u64::MAX))
            .count()
    }

    /// Whether `[rel, rel + len)` overlaps or touches a held byte.
    fn touches(&self, rel: usize, len: usize) -> bool {
        let from = rel.saturating_sub(1);
        let to = (rel + len + 1).min(self.held.len());
        self.held[from..to].iter().any(Option::is_some)
    }

    /// Applies an insert of bytes that fit; returns how many were new.
    fn insert(&mut self, rel: usize, data: &[u8]) -> usize {
        let mut added = 0;
        for (k, &b) in data.iter().enumerate() {
            let i = rel + k;
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

/// The caller's byte store, relative to the base: what the queue handed it.
struct Store(Vec<Option<u8>>);

impl Store {
    /// Forgets `[from, to)` (clipped).
    fn forget(&mut self, from: usize, to: usize) {
        let to = to.min(self.0.len());
        let from = from.min(to);
        self.0[from..to].iter_mut().for_each(|b| *b = None);
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut r = Input::new(data);
    let mode = r.u8();
    let base = match mode % 4 {
        0 => 0,
        1 => u64::MAX - WINDOW as u64 / 2 + u64::from(r.u16() % 4096),
        2 => u64::from(r.u32()) << 16 | u64::from(r.u16()),
        _ => (1u64 << 32) - 1000 + u64::from(r.u16()),
    };
    let cap = match (mode >> 2) % 8 {
        0 => MAX_RANGES,
        c => usize::from(c),
    };
    let mut q = if cap == MAX_RANGES {
        Reassembly::new()
    } else {
        Reassembly::with_max_ranges(cap)
    };
    let mut m = Model {
        base,
        held: vec![None; WINDOW + MAX_INSERT],
        count: 0,
        lo: usize::MAX,
        hi: 0,
    };
    let mut store = Store(vec![None; WINDOW + MAX_INSERT]);
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
                // Offsets past u64::MAX cannot be expressed: nothing to insert.
                let Some(offset) = base.checked_add(rel as u64) else {
                    continue;
                };
                let bytes: Vec<u8> = (0..len as u64)
                    .map(|k| byte(offset.wrapping_add(k), tag))
                    .collect();
                let fit = m.fitting(rel, len);
                let full = fit > 0 && !m.touches(rel, fit) && m.runs().len() >= cap;
                let got = q.insert(offset, &bytes, |at, piece| {
                    let i = usize::try_from(at - base).expect("inside the window");
                    assert!(
                        at >= offset && i + piece.len() <= rel + fit,
                        "piece outside the insert"
                    );
                    assert_eq!(piece, &bytes[i - rel..i - rel + piece.len()], "piece bytes");
                    for (k, &b) in piece.iter().enumerate() {
                        assert!(
                            m.held[i + k].is_none(),
                            "held byte {} handed to the store",
                            i + k
                        );
                        store.0[i + k] = Some(b);
                    }
                });
                if full {
                    assert_eq!(
                        got,
                        Err(Full),
                        "insert({offset}, {len}) past the cap of {cap}"
                    );
                } else {
                    let expect = m.insert(rel, &bytes[..fit]);
                    assert_eq!(got, Ok(expect), "insert({offset}, {len}) new bytes");
                }
            }
            4 | 5 => {
                let Some(at) = base.checked_add(next as u64) else {
                    continue;
                };
                let want = m.pop(next);
                let got = q.pop_ready(at);
                check_pop(got, want.as_deref(), next, &mut store, base);
                next += want.map_or(0, |v| v.len());
            }
            6 => {
                // Pop at an arbitrary offset (possibly behind or far ahead).
                let rel = usize::from(r.u16()) % WINDOW;
                let Some(at) = base.checked_add(rel as u64) else {
                    continue;
                };
                let want = m.pop(rel);
                let got = q.pop_ready(at);
                check_pop(got, want.as_deref(), rel, &mut store, base);
                next = rel + want.map_or(0, |v| v.len());
            }
            _ => {
                if r.u8() & 3 == 0 {
                    q.clear();
                    m.clear();
                    store.forget(0, usize::MAX);
                }
            }
        }
        check(&q, &m);
    }
}

/// A pop at `rel` returned `got`; the model's run there is `want`. The run's
/// bytes must be in the store; afterwards the store forgets everything below
/// the run's end (as a receive ring's tail moves over it).
fn check_pop(got: Option<u64>, want: Option<&[u8]>, rel: usize, store: &mut Store, base: u64) {
    match want {
        None => assert_eq!(got, None, "pop_ready at {rel}"),
        Some(v) => {
            assert_eq!(
                got,
                Some(base + (rel + v.len()) as u64),
                "pop_ready at {rel}"
            );
            let have: Vec<Option<u8>> = store.0[rel..rel + v.len()].to_vec();
            let want: Vec<Option<u8>> = v.iter().copied().map(Some).collect();
            assert_eq!(have, want, "stored bytes of the run at {rel}");
        }
    }
    store.forget(0, rel + want.map_or(0, <[u8]>::len));
}

fn check(q: &Reassembly, m: &Model) {
    let runs = m.runs();
    assert_eq!(q.buffered(), m.count, "buffered");
    assert_eq!(q.ranges().collect::<Vec<_>>(), runs, "ranges");
    assert_eq!(q.range_count(), runs.len(), "range_count");
    assert_eq!(q.is_empty(), runs.is_empty(), "is_empty");
    assert_eq!(q.first_start(), runs.first().map(|r| r.0), "first_start");
    assert_eq!(q.highest_end(), runs.last().map(|r| r.1), "highest_end");
}
