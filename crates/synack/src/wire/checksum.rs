//! The Internet checksum (RFC 1071) and the TCP pseudo-headers (RFC 9293 §3.1,
//! RFC 8200 §8.1).
//!
//! RFC 1071 §1: "Adjacent octets to be checksummed are paired to form 16-bit
//! integers, and the 1's complement sum of these 16-bit integers is formed. To
//! generate a checksum, the checksum field itself is cleared, the 16-bit 1's
//! complement sum is computed over the octets concerned, and the 1's complement of
//! this sum is placed in the checksum field. To check a checksum, the 1's complement
//! sum is computed over the same set of octets, including the checksum field. If
//! the result is all 1 bits (-0 in 1's complement arithmetic), the check succeeds."
//!
//! The work is split in two steps so that pieces (pseudo-header, header, payload)
//! can be summed separately:
//!
//! - [`sum`] and the `pseudo_header*` functions return a *partial sum*: the 1's
//!   complement sum so far, already folded to 16 bits (so it is always `<= 0xffff`).
//!   A partial sum is fed to the next [`sum`] as `initial`.
//! - [`fold`] turns a partial sum into the value that goes on the wire: the 1's
//!   complement of the folded sum.
//!
//! Consequently:
//!
//! - **emit**: zero the checksum field, `fold(sum(bytes, pseudo))` is the checksum,
//!   written big-endian;
//! - **verify**: `fold(sum(bytes_with_checksum, pseudo)) == 0` means valid (the sum
//!   is `0xffff`, "all 1 bits").
//!
//! # Examples
//! ```
//! use synack::wire::checksum::{fold, sum};
//! // A classic worked example: an IPv4 header with its checksum field zeroed.
//! let mut hdr = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
//!                0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
//! let c = fold(sum(&hdr, 0));
//! assert_eq!(c, 0xb861);
//! hdr[10..12].copy_from_slice(&c.to_be_bytes());
//! assert_eq!(fold(sum(&hdr, 0)), 0); // valid
//! ```

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Folds a 64-bit accumulator to a 16-bit 1's complement partial sum.
///
/// `2^16 ≡ 1 (mod 0xffff)`, so adding the high bits back in ("end-around carry",
/// RFC 1071 §2(B)) keeps the value congruent.
#[inline]
pub(crate) fn fold64(acc: u64) -> u32 {
    // Two end-around-carry additions, 64 → 32 → 16 bits. Each keeps the value
    // congruent mod 0xffff and a nonzero value nonzero, and cannot overflow: the
    // largest sum of two halves is 2 × (2^k − 1), whose low half is 2^k − 2.
    // The casts keep exactly the halves named.
    let (s, c) = (acc as u32).overflowing_add((acc >> 32) as u32);
    let a = s + u32::from(c);
    let (s, c) = (a as u16).overflowing_add((a >> 16) as u16);
    u32::from(s + u16::from(c))
}

/// The scalar loop, for short inputs (headers) and the vector loop's tail:
/// 64-bit native-endian words, each split into its two 32-bit halves added into
/// one 64-bit accumulator. No carries to track (2^32 halves of at most 2^32 − 1
/// fit), and one fold at the end. Returns the unfolded sum of native 16-bit
/// words (at weights 2^16k ≡ 1).
#[inline]
fn scalar_native(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut rest = data;
    while let Some((w, r)) = rest.split_first_chunk::<8>() {
        let w = u64::from_ne_bytes(*w);
        acc += (w & 0xffff_ffff) + (w >> 32);
        rest = r;
    }
    // The tail (< 8 bytes): a 4- and a 2-byte word and an odd byte, each
    // starting at an even offset. Sizes are tested with `len` bits, not by
    // splitting slices, so the tail costs a few instructions.
    let n = rest.len();
    if n & 4 != 0 {
        acc += u64::from(u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]));
    }
    if n & 2 != 0 {
        let i = n & 4;
        acc += u64::from(u16::from_ne_bytes([rest[i], rest[i + 1]]));
    }
    if n & 1 != 0 {
        // RFC 9293 §3.1: the odd last octet is padded with a zero on its right.
        acc += u64::from(u16::from_ne_bytes([rest[n - 1], 0]));
    }
    acc
}

/// 16-bit words per step of the vector loop (64 bytes): one `u32` lane each.
const LANES: usize = 32;
/// Bytes per step of the vector loop.
const STEP: usize = 2 * LANES;
/// Steps per block: a `u32` lane holds 65,536 words of at most `0xffff` without
/// wrapping (65,536 × 65,535 < 2^32), so the lanes are emptied every 4 MiB.
const BLOCK_STEPS: usize = 65_536;
/// From this many bytes the vector loop is used.
const VECTOR_MIN: usize = 128;

/// Adds every 16-bit word of `block` (whole 64-byte steps) into its lane.
#[inline(always)]
fn add_steps(acc: &mut [u32; LANES], block: &[u8]) {
    for c in block.chunks_exact(STEP) {
        for (i, a) in acc.iter_mut().enumerate() {
            *a = a.wrapping_add(u32::from(u16::from_ne_bytes([c[2 * i], c[2 * i + 1]])));
        }
    }
}

/// The vector loop (RFC 1071 §2(C), "Parallel Summation"): every 16-bit word of a
/// 64-byte step goes into its own `u32` lane, the lanes are added up at the end.
/// Plain code that the compiler turns into SIMD (zero-extend and add, 4–16 words
/// per instruction, no carries to track). Sums the whole 64-byte steps of `data`,
/// copying each 2 KiB piece of them into `dst` after summing it when `dst` is
/// given (same length as `data`), and returns the unfolded sum and how many
/// bytes it covered.
///
/// With a destination, each 64-byte step is loaded once, stored, and summed
/// from the registers it was loaded into: no byte is read twice, and nothing
/// is read back from a store still in flight (an earlier version that summed
/// the source and then loaded it again to copy it stalled on stores aliasing
/// the next loads 4 KiB apart; one that summed the destination after the copy
/// stalled on the store buffer; the one before this summed and then `memcpy`d
/// 2 KiB pieces: 41–44 ns for 1,460 bytes where this takes 34–37).
#[inline(always)]
fn lanes_native(data: &[u8], mut dst: Option<&mut [u8]>) -> (u64, usize) {
    let mut total = 0u64;
    let mut done = 0;
    while data.len() - done >= STEP {
        let n = ((data.len() - done) / STEP).min(BLOCK_STEPS) * STEP;
        let mut acc = [0u32; LANES];
        let block = &data[done..done + n];
        match dst.as_deref_mut() {
            Some(d) => {
                // n is a whole number of steps: the remainders are empty.
                let (src, _) = block.as_chunks::<STEP>();
                let (out, _) = d[done..done + n].as_chunks_mut::<STEP>();
                for (c, o) in src.iter().zip(out) {
                    // One load of the step into registers, stored and summed
                    // from there.
                    let w = *c;
                    *o = w;
                    add_steps(&mut acc, &w);
                }
            }
            None => {
                // As above without the store: each step loaded once into
                // registers and summed there (summing the block in place made
                // the compiler spill the lanes and copy them per block).
                let (src, _) = block.as_chunks::<STEP>();
                for c in src {
                    let w = *c;
                    add_steps(&mut acc, &w);
                }
            }
        }
        total += acc.iter().map(|&a| u64::from(a)).sum::<u64>();
        done += n;
    }
    (total, done)
}

/// The vector loop built for the widest vectors the CPU has: AVX-512BW (64
/// bytes per instruction: one step of the loop is two zero-extensions and two
/// additions), else AVX2 (32 bytes), else the baseline build (SSE2, 16 bytes).
/// The only `unsafe` in the crate: calling a function compiled for a CPU
/// feature, right after checking the CPU has it.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod simd {
    use super::{BLOCK_STEPS, STEP};
    use core::arch::x86_64::{
        __m256i, __m512i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_setzero_si256,
        _mm256_unpackhi_epi16, _mm256_unpacklo_epi16, _mm512_add_epi32, _mm512_loadu_si512,
        _mm512_setzero_si512, _mm512_unpackhi_epi16, _mm512_unpacklo_epi16,
    };

    // The two builds below are written with the vector instructions
    // themselves rather than left to the compiler's vectorizer: from the same
    // plain loop, the compiler once kept each step in registers (load, store,
    // sum) and, after an unrelated change elsewhere in the crate, turned the
    // stores into one `memcpy` of the whole block followed by a second pass
    // to sum — two passes over the data, which `copy_and_sum` exists to
    // avoid. Each 64-byte step is loaded once, stored if copying, and its 32
    // words zero-extended into `u32` lanes; the lanes are emptied once per
    // block (at most 65,536 steps: no lane wraps) into a `u64`.

    /// Adds the `u32` lanes of `v` into a `u64`.
    #[inline(always)]
    fn lanes_total<T: Copy, const N: usize>(v: T) -> u64 {
        debug_assert_eq!(core::mem::size_of::<T>(), 4 * N);
        let mut words = [0u32; N];
        // SAFETY: `T` is a vector of exactly `N` `u32` lanes (checked above in
        // debug builds; the two callers pass 8 lanes of a `__m256i` and 16 of
        // a `__m512i`); `words` is writable for that many bytes.
        unsafe {
            core::ptr::copy_nonoverlapping((&raw const v).cast::<u32>(), words.as_mut_ptr(), N);
        }
        words.iter().map(|&w| u64::from(w)).sum()
    }

    /// Steps per block of the builds below: their lanes are added together at
    /// the end of a block (four into one for AVX2) before the one horizontal
    /// sum, so a lane may reach only a quarter of `u32` (16,384 × 4 × 65,535
    /// < 2^32).
    const VEC_BLOCK: usize = BLOCK_STEPS / 4;

    #[target_feature(enable = "avx512bw")]
    fn lanes_avx512(data: &[u8], dst: Option<&mut [u8]>) -> (u64, usize) {
        let (src, _) = data.as_chunks::<STEP>();
        let mut total = 0u64;
        match dst {
            Some(d) => {
                let (out, _) = d.as_chunks_mut::<STEP>();
                for (s, o) in src.chunks(VEC_BLOCK).zip(out.chunks_mut(VEC_BLOCK)) {
                    let mut acc = [_mm512_setzero_si512(); 2];
                    for (c, o) in s.iter().zip(o) {
                        // SAFETY: `c` is 64 readable bytes, `o` 64 writable
                        // ones; neither needs alignment.
                        let v: __m512i = unsafe { _mm512_loadu_si512(c.as_ptr().cast()) };
                        unsafe { store512(o, v) };
                        add512(&mut acc, v);
                    }
                    total += lanes_total::<__m512i, 16>(_mm512_add_epi32(acc[0], acc[1]));
                }
            }
            None => {
                for s in src.chunks(VEC_BLOCK) {
                    let mut acc = [_mm512_setzero_si512(); 2];
                    for c in s {
                        // SAFETY: `c` is 64 readable bytes; no alignment needed.
                        add512(&mut acc, unsafe { _mm512_loadu_si512(c.as_ptr().cast()) });
                    }
                    total += lanes_total::<__m512i, 16>(_mm512_add_epi32(acc[0], acc[1]));
                }
            }
        }
        (total, src.len() * STEP)
    }

    /// Stores a step. Written as an instruction the compiler cannot see
    /// through: a plain store of a loaded vector makes the loop a copy in the
    /// compiler's eyes, and it splits the loop into a `memcpy` of the block
    /// and a second pass that sums — twice over the data (it did, with both
    /// intrinsics and the plain loop this replaced, depending on code
    /// elsewhere in the crate; 64 KiB: 2.1–2.3 µs fused, 3.1–3.3 µs split).
    ///
    /// # Safety
    /// AVX-512F must be available (the caller's target feature).
    #[target_feature(enable = "avx512bw")]
    #[inline]
    unsafe fn store512(out: &mut [u8; STEP], v: __m512i) {
        // SAFETY: `out` is 64 writable bytes (no alignment needed); the
        // instruction writes exactly those and touches nothing else.
        unsafe {
            core::arch::asm!(
                "vmovdqu64 zmmword ptr [{p}], {v}",
                p = in(reg) out.as_mut_ptr(),
                v = in(zmm_reg) v,
                options(nostack, preserves_flags),
            );
        }
    }

    /// [`store512`] as two 32-byte halves.
    ///
    /// # Safety
    /// AVX must be available (the caller's target feature).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store256(out: &mut [u8; STEP], v: [__m256i; 2]) {
        // SAFETY: `out` is 64 writable bytes (no alignment needed); the two
        // instructions write exactly those and touch nothing else.
        unsafe {
            core::arch::asm!(
                "vmovdqu ymmword ptr [{p}], {a}",
                "vmovdqu ymmword ptr [{p} + 32], {b}",
                p = in(reg) out.as_mut_ptr(),
                a = in(ymm_reg) v[0],
                b = in(ymm_reg) v[1],
                options(nostack, preserves_flags),
            );
        }
    }

    /// One step's 32 words zero-extended into the two accumulators, from the
    /// register the step was loaded into (interleaving the words with zeros:
    /// the lanes' order does not matter to a sum). A zero-extension from
    /// memory would be folded into loads of its own — three loads of each
    /// step where one is needed, and in `copy_and_sum` loads that stall
    /// behind the stores of the previous steps (1,460 bytes: 69 → 88 ns).
    #[target_feature(enable = "avx512bw")]
    #[inline]
    fn add512(acc: &mut [__m512i; 2], v: __m512i) {
        let zero = _mm512_setzero_si512();
        acc[0] = _mm512_add_epi32(acc[0], _mm512_unpacklo_epi16(v, zero));
        acc[1] = _mm512_add_epi32(acc[1], _mm512_unpackhi_epi16(v, zero));
    }

    #[target_feature(enable = "avx2")]
    fn lanes_avx2(data: &[u8], dst: Option<&mut [u8]>) -> (u64, usize) {
        let (src, _) = data.as_chunks::<STEP>();
        let mut total = 0u64;
        match dst {
            Some(d) => {
                let (out, _) = d.as_chunks_mut::<STEP>();
                for (s, o) in src.chunks(VEC_BLOCK).zip(out.chunks_mut(VEC_BLOCK)) {
                    let mut acc = [_mm256_setzero_si256(); 4];
                    for (c, o) in s.iter().zip(o) {
                        // SAFETY: `c` is 64 readable bytes, `o` 64 writable
                        // ones, each as two 32-byte halves; no alignment needed.
                        let v: [__m256i; 2] = unsafe {
                            [
                                _mm256_loadu_si256(c.as_ptr().cast()),
                                _mm256_loadu_si256(c[32..].as_ptr().cast()),
                            ]
                        };
                        unsafe { store256(o, v) };
                        add256(&mut acc, v);
                    }
                    total += total256(acc);
                }
            }
            None => {
                for s in src.chunks(VEC_BLOCK) {
                    let mut acc = [_mm256_setzero_si256(); 4];
                    for c in s {
                        // SAFETY: `c` is 64 readable bytes, two 32-byte
                        // halves; no alignment needed.
                        let v = unsafe {
                            [
                                _mm256_loadu_si256(c.as_ptr().cast()),
                                _mm256_loadu_si256(c[32..].as_ptr().cast()),
                            ]
                        };
                        add256(&mut acc, v);
                    }
                    total += total256(acc);
                }
            }
        }
        (total, src.len() * STEP)
    }

    /// One step's 32 words (two halves) zero-extended into four accumulators,
    /// from registers (as [`add512`]).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn add256(acc: &mut [__m256i; 4], v: [__m256i; 2]) {
        let zero = _mm256_setzero_si256();
        for (k, half) in v.into_iter().enumerate() {
            acc[2 * k] = _mm256_add_epi32(acc[2 * k], _mm256_unpacklo_epi16(half, zero));
            acc[2 * k + 1] = _mm256_add_epi32(acc[2 * k + 1], _mm256_unpackhi_epi16(half, zero));
        }
    }

    /// The four accumulators of a block added up.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn total256(acc: [__m256i; 4]) -> u64 {
        let a = _mm256_add_epi32(
            _mm256_add_epi32(acc[0], acc[1]),
            _mm256_add_epi32(acc[2], acc[3]),
        );
        lanes_total::<__m256i, 8>(a)
    }

    /// [`super::lanes_native`], in the widest build the CPU runs.
    pub(super) fn lanes(data: &[u8], dst: Option<&mut [u8]>) -> (u64, usize) {
        if std::is_x86_feature_detected!("avx512bw") {
            // SAFETY: `lanes_avx512` only needs AVX-512BW (and the AVX-512F it
            // implies), which the CPU was just found to have.
            unsafe { lanes_avx512(data, dst) }
        } else if std::is_x86_feature_detected!("avx2") {
            // SAFETY: `lanes_avx2` only needs AVX2, which the CPU was just found
            // to have.
            unsafe { lanes_avx2(data, dst) }
        } else {
            super::lanes_native(data, dst)
        }
    }

    /// Every build this CPU can run, by name, for the tests to compare.
    #[cfg(test)]
    pub(super) fn builds() -> alloc::vec::Vec<(&'static str, super::LanesFn)> {
        let mut v: alloc::vec::Vec<(&'static str, super::LanesFn)> =
            alloc::vec![("baseline", super::lanes_native)];
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: as in `lanes`: called only on a CPU with AVX2.
            v.push(("avx2", |d, o| unsafe { lanes_avx2(d, o) }));
        }
        if std::is_x86_feature_detected!("avx512bw") {
            // SAFETY: as in `lanes`: called only on a CPU with AVX-512BW.
            v.push(("avx512bw", |d, o| unsafe { lanes_avx512(d, o) }));
        }
        v
    }
}

/// A build of the vector loop (for the tests).
#[cfg(test)]
type LanesFn = fn(&[u8], Option<&mut [u8]>) -> (u64, usize);

/// The vector loop, in the best build the CPU runs.
#[inline]
fn vector_native(data: &[u8], dst: Option<&mut [u8]>) -> (u64, usize) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    return simd::lanes(data, dst);
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    return lanes_native(data, dst);
}

/// Folds the vector loop's unfolded `head`, the sum of the `tail` that follows it
/// (at an even offset) and a network-order partial sum `initial` into a
/// network-order partial sum. `initial` is byte-swapped into the native
/// accumulator (RFC 1071 §2(B)), so everything is folded once.
#[inline(always)]
fn finish(head: u64, tail: &[u8], initial: u32) -> u32 {
    // An `initial` above 0xffff (several partial sums added) is folded first.
    let initial = if initial > 0xffff {
        fold64(u64::from(initial))
    } else {
        initial
    };
    // The head is folded first (it may be near 2^64 for huge inputs); the tail
    // is below 2^36; `initial` is now at most 0xffff, so the cast is lossless.
    let acc =
        u64::from(fold64(head)) + scalar_native(tail) + u64::from(u16::from_be(initial as u16));
    // fold64 returns a value <= 0xffff, so the cast is lossless.
    u32::from(u16::from_be(fold64(acc) as u16))
}

/// The 1's complement sum of `data` taken as big-endian 16-bit words, added to the
/// partial sum `initial`. Returns a partial sum folded to 16 bits (`<= 0xffff`).
///
/// An odd trailing byte is padded with a zero byte on the right, as RFC 9293 §3.1
/// says for the TCP checksum ("If a segment contains an odd number of header and
/// text octets, alignment can be achieved by padding the last octet with zeros on
/// its right to form a 16-bit word for checksum purposes"). Therefore, when summing
/// a message in pieces, every piece but the last must have even length.
///
/// Short inputs (headers) take a scalar loop over 32-bit words; from 128 bytes a
/// loop the compiler vectorizes (with AVX-512BW or AVX2 where the CPU has it, chosen at run
/// time when the `std` feature is on).
///
/// RFC 1071 §2(B), "Byte Order Independence": the sum of byte-swapped words is
/// the byte-swapped sum, so the words are read in the machine's order and the
/// folded result swapped once at the end. §2(C), "Parallel Summation": the words
/// can be summed in wider units and folded at the end, since 2^16 ≡ 1
/// (mod 2^16 − 1).
#[inline]
pub fn sum(data: &[u8], initial: u32) -> u32 {
    if data.len() >= VECTOR_MIN {
        let (head, done) = vector_native(data, None);
        finish(head, &data[done..], initial)
    } else {
        finish(0, data, initial)
    }
}

/// Copies `src` into `dst` and returns `sum(src, initial)`, reading each byte once:
/// the copy of a payload into a packet (or out of a packet into a receive ring)
/// and its checksum in one pass.
///
/// # Panics
/// If `dst.len() != src.len()`, like `copy_from_slice` (a caller bug, not input).
pub fn copy_and_sum(dst: &mut [u8], src: &[u8], initial: u32) -> u32 {
    assert_eq!(dst.len(), src.len(), "copy_and_sum: lengths differ");
    if src.is_empty() {
        // Most control segments: nothing to copy or add.
        return fold64(u64::from(initial));
    }
    if src.len() < VECTOR_MIN {
        dst.copy_from_slice(src);
        return finish(0, src, initial);
    }
    let (head, done) = vector_native(src, Some(&mut *dst));
    dst[done..].copy_from_slice(&src[done..]);
    finish(head, &src[done..], initial)
}

/// [`copy_and_sum`] of a payload held in two pieces (`a` then `b`, as a ring
/// buffer holds it) into `dst` (`a.len() + b.len()` bytes). `a` may have odd
/// length: RFC 1071 §2(B) byte-order independence makes the sum of `b` starting
/// at an odd offset the byte-swapped sum of `b` alone.
///
/// # Panics
/// If `dst.len() != a.len() + b.len()` (a caller bug, not input).
#[inline]
pub fn copy_and_sum_parts(dst: &mut [u8], a: &[u8], b: &[u8], initial: u32) -> u32 {
    let (da, db) = dst.split_at_mut(a.len());
    let sa = copy_and_sum(da, a, initial);
    if b.is_empty() {
        return sa;
    }
    let sb = copy_and_sum(db, b, 0);
    // Partial sums are folded to 16 bits, so the cast is lossless.
    let sb = if a.len() % 2 == 1 {
        (sb as u16).swap_bytes()
    } else {
        sb as u16
    };
    fold64(u64::from(sa) + u64::from(sb))
}

/// Folds a partial sum (any `u32`, e.g. several partial sums added together) to 16
/// bits and returns its 1's complement: the checksum value, host order.
///
/// Over data whose checksum field is zero, this is the checksum to write. Over data
/// that includes a correct checksum it is `0`, since the data then sums to `0xffff`
/// ("-0"); any other value means the data is corrupt.
pub fn fold(sum: u32) -> u16 {
    // fold64 returns a value <= 0xffff, so the cast is lossless.
    !(fold64(u64::from(sum)) as u16)
}

/// Partial sum of the IPv4 TCP/UDP pseudo-header (RFC 9293 §3.1): source address,
/// destination address, a zero byte, the protocol, and the segment length `len`
/// (header plus data, not counting the pseudo-header; 16 bits on the wire).
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u32) -> u32 {
    let mut acc = u64::from(u32::from(src));
    acc += u64::from(u32::from(dst));
    acc += u64::from(proto);
    acc += u64::from(len);
    fold64(acc)
}

/// Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1): source address,
/// destination address (the final destination, if a Routing header is present),
/// the 32-bit upper-layer packet length `len`, three zero bytes and the next header
/// value `proto`.
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, proto: u8, len: u32) -> u32 {
    let mut acc = u64::from(sum(&src.octets(), 0));
    acc += u64::from(sum(&dst.octets(), 0));
    acc += u64::from(proto);
    acc += u64::from(len);
    fold64(acc)
}

/// The pseudo-header partial sum for either family. Callers pass two addresses of
/// the same family; on a mismatch the bytes of both addresses are summed anyway
/// (the result is then meaningless but nothing panics).
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, proto: u8, len: u32) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_header_v4(*s, *d, proto, len),
        (IpAddr::V6(s), IpAddr::V6(d)) => pseudo_header_v6(s, d, proto, len),
        _ => {
            let a = sum_addr(src);
            let b = sum_addr(dst);
            fold64(u64::from(a) + u64::from(b) + u64::from(proto) + u64::from(len))
        }
    }
}

fn sum_addr(addr: &IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => sum(&a.octets(), 0),
        IpAddr::V6(a) => sum(&a.octets(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    /// Textbook RFC 1071 reference: 16-bit words, plain integer sum, fold at the end.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u64 = 0;
        for pair in data.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u64::from(b));
            s += hi | lo;
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (with carries folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data, 0), 0xddf2);
        assert_eq!(fold(sum(&data, 0)), !0xddf2);
        // Byte-order independence (RFC 1071 §2(B)): swapped input gives the swapped sum.
        let swapped = [0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6];
        assert_eq!(sum(&swapped, 0), 0xf2dd);
    }

    #[test]
    fn known_ipv4_header() {
        // The classic worked example (192.168.0.1 -> 192.168.0.199, UDP): checksum b861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(fold(sum(&hdr, 0)), 0xb861);
        hdr[10] = 0xb8;
        hdr[11] = 0x61;
        assert_eq!(fold(sum(&hdr, 0)), 0);
    }

    #[test]
    fn odd_lengths() {
        assert_eq!(sum(&[], 0), 0);
        assert_eq!(sum(&[0xab], 0), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0x56], 0), 0x1234 + 0x5600);
        // 15 bytes exercises the 8-, 4-, 2- and 1-byte steps together.
        let data: Vec<u8> = (0u8..15).map(|i| i.wrapping_mul(37)).collect();
        assert_eq!(fold(sum(&data, 0)), naive(&data));
    }

    #[test]
    fn fold64_edges() {
        let reference = |mut a: u64| {
            while a > 0xffff {
                a = (a & 0xffff) + (a >> 16);
            }
            a as u32
        };
        for v in [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff_ffff,
            0x1_0000_0000,
            0xffff_fffe_0001,
            u64::MAX,
            u64::MAX - 1,
            0x8000_0000_0000_0000,
            0xffff_0000_ffff_0000,
        ] {
            assert_eq!(fold64(v), reference(v), "{v:#x}");
        }
    }

    #[test]
    fn long_inputs_and_every_tail() {
        // 64 KiB of 0xff: every accumulator lane saturates towards its fold.
        let ff = alloc::vec![0xffu8; 65_536];
        assert_eq!(fold(sum(&ff, 0)), naive(&ff));
        // Every length 0..64 over a non-trivial pattern (all 16-byte remainders,
        // odd and even tails).
        let data: Vec<u8> = (0u32..64).map(|i| (i * 97 + 13) as u8).collect();
        for n in 0..=data.len() {
            assert_eq!(fold(sum(&data[..n], 0)), naive(&data[..n]), "len {n}");
        }
    }

    /// The scalar loop, the portable vector loop and the one the CPU runs agree,
    /// at every length around the vector threshold and the 64-byte step, and
    /// across the 4 MiB point where the vector lanes are emptied.
    #[test]
    fn every_loop_agrees() {
        let data: Vec<u8> = (0u32..70_000).map(|i| (i * 131 + 7) as u8).collect();
        let lens = (0..400).chain([1_448, 1_460, 9_000, 65_495, 65_535, 70_000]);
        for n in lens {
            let d = &data[..n];
            let want = fold64(scalar_native(d));
            let (v, done) = lanes_native(d, None);
            assert_eq!(done, n / STEP * STEP);
            assert_eq!(
                fold64(u64::from(fold64(v)) + scalar_native(&d[done..])),
                want,
                "len {n}"
            );
            let (v, done2) = vector_native(d, None);
            assert_eq!(
                (fold64(v), done2),
                (fold64(lanes_native(d, None).0), done),
                "len {n}"
            );
            assert_eq!(fold(sum(d, 0)), naive(d), "len {n}");
        }
        let ff = alloc::vec![0xffu8; STEP * BLOCK_STEPS + 3 * STEP + 5];
        assert_eq!(fold(sum(&ff, 0)), naive(&ff));
        let mut dst = alloc::vec![0u8; ff.len()];
        assert_eq!(fold(copy_and_sum(&mut dst, &ff, 0)), naive(&ff));
        assert_eq!(dst, ff);
    }

    /// Each build of the vector loop this CPU runs (baseline, AVX2, AVX-512BW)
    /// against the baseline: the same sum, the same bytes covered and copied,
    /// at lengths around a step and a piece, and across the 4 MiB lane flush.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[test]
    fn every_build_of_the_vector_loop_agrees() {
        let data: Vec<u8> = (0u32..(STEP * BLOCK_STEPS + 3 * STEP + 5) as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let ff = alloc::vec![0xffu8; data.len()];
        let lens = (0..300).chain([1_448, 1_460, 2_047, 2_048 + STEP, 65_495, data.len()]);
        for (name, build) in simd::builds() {
            for n in lens.clone() {
                for src in [&data[..n], &ff[..n]] {
                    let want = lanes_native(src, None);
                    assert_eq!(build(src, None), want, "{name} len {n}");
                    let mut dst = alloc::vec![0u8; n];
                    assert_eq!(build(src, Some(&mut dst)), want, "{name} copy len {n}");
                    assert_eq!(dst[..want.1], src[..want.1], "{name} copied len {n}");
                }
            }
        }
    }

    #[test]
    fn all_ones_and_zeros() {
        assert_eq!(fold(sum(&[0; 64], 0)), 0xffff);
        assert_eq!(fold(sum(&[0xff; 64], 0)), 0);
        // A sum that lands exactly on 0xffff gives checksum 0 (not 0xffff).
        assert_eq!(fold(sum(&[0xff, 0xfe, 0x00, 0x01], 0)), 0);
    }

    #[test]
    fn linux_pseudo_header_partial_sums() {
        // Linux with checksum offload leaves the folded, uncomplemented pseudo-header
        // sum in the TCP checksum field; these values were captured on loopback.
        let lo = Ipv4Addr::LOCALHOST;
        assert_eq!(pseudo_header_v4(lo, lo, 6, 40), 0xfe30);
        assert_eq!(pseudo_header_v4(lo, lo, 6, 20), 0xfe1c);
        let lo6 = Ipv6Addr::LOCALHOST;
        assert_eq!(pseudo_header_v6(&lo6, &lo6, 6, 40), 0x0030);
        let (a, b) = (IpAddr::V6(lo6), IpAddr::V6(lo6));
        assert_eq!(pseudo_header(&a, &b, 6, 0x28), 0x0030);
        // Mismatched families: defined, does not panic.
        let _ = pseudo_header(&IpAddr::V4(lo), &b, 6, 40);
    }

    proptest! {
        #[test]
        fn matches_naive(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(fold(sum(&data, 0)), naive(&data));
        }

        #[test]
        fn pieces_of_even_length_chain(data in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..150) {
            let cut = (cut * 2).min(data.len() & !1);
            let (a, b) = data.split_at(cut);
            prop_assert_eq!(fold(sum(b, sum(a, 0))), naive(&data));
        }

        /// Random lengths (every remainder mod 16), random start offsets (every
        /// alignment), random initial partial sums, against the textbook reference.
        #[test]
        fn matches_naive_any_alignment(
            data in proptest::collection::vec(any::<u8>(), 0..2100),
            start in 0usize..16,
            initial in 0u32..=0xffff,
        ) {
            let start = start.min(data.len());
            let slice = &data[start..];
            let mut reference = Vec::with_capacity(slice.len() + 2);
            reference.extend_from_slice(&initial.to_be_bytes()[2..]);
            reference.extend_from_slice(slice);
            prop_assert_eq!(fold(sum(slice, initial)), naive(&reference));
        }

        #[test]
        fn fold64_matches_the_loop(v in any::<u64>()) {
            let mut a = v;
            while a > 0xffff {
                a = (a & 0xffff) + (a >> 16);
            }
            prop_assert_eq!(fold64(v), a as u32);
        }

        /// The fused copy sums like `sum` and copies exactly.
        #[test]
        fn copy_and_sum_matches_sum(
            data in proptest::collection::vec(any::<u8>(), 0..2100),
            start in 0usize..16,
            initial in 0u32..=0xffff,
        ) {
            let start = start.min(data.len());
            let src = &data[start..];
            let mut dst = alloc::vec![0xa5u8; src.len()];
            prop_assert_eq!(copy_and_sum(&mut dst, src, initial), sum(src, initial));
            prop_assert_eq!(&dst[..], src);
        }

        /// Two pieces at any split (odd ones included) sum and copy like one.
        #[test]
        fn copy_and_sum_parts_matches_sum(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cut in 0usize..600,
            initial in 0u32..=0xffff,
        ) {
            let cut = cut.min(data.len());
            let (a, b) = data.split_at(cut);
            let mut dst = alloc::vec![0u8; data.len()];
            prop_assert_eq!(copy_and_sum_parts(&mut dst, a, b, initial), sum(&data, initial));
            prop_assert_eq!(dst, data);
        }

        #[test]
        fn checksum_then_verify(mut data in proptest::collection::vec(any::<u8>(), 2..300)) {
            data[0] = 0;
            data[1] = 0;
            let c = fold(sum(&data, 0));
            data[..2].copy_from_slice(&c.to_be_bytes());
            prop_assert_eq!(fold(sum(&data, 0)), 0);
        }
    }
}
