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
