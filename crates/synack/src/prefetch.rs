//! Cache prefetch hints: x86-64's `PREFETCHT0`, nothing on other targets.

/// Starts bringing the line holding `p` into the cache. A hint: it never
/// faults and changes nothing a program can observe but time.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn read<T>(p: *const T) {
    // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 processor has (it
    // is in the target's baseline), and a prefetch reads nothing a program can
    // see: it never faults, whatever the address.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Starts bringing every line of `*r` into the cache (a hint).
#[inline(always)]
pub(crate) fn object<T>(r: &T) {
    let p: *const u8 = (r as *const T).cast();
    let size = core::mem::size_of::<T>();
    // A step of a line from the first byte meets every line the object spans
    // but perhaps the last, which its last byte is in.
    for off in (0..size).step_by(64) {
        read(p.wrapping_add(off));
    }
    if size > 0 {
        read(p.wrapping_add(size - 1));
    }
}
