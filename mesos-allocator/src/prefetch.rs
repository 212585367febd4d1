//! Asking the processor to start loading a value before the code reads it.
//!
//! An allocation cycle visits agents in a shuffled order, so each agent's state is a cache
//! miss that the processor cannot foresee, and the cycle waits for it before it can decide
//! anything about that agent. Naming the state of an agent a few places ahead lets those loads
//! overlap with the work on the current one.

#![allow(unsafe_code)]

/// Cache line size of the processors this runs on (x86-64, and most arm64).
const LINE: usize = 64;

/// Hints that every cache line of `value` will be read soon. No effect on behaviour; a no-op
/// where no prefetch instruction is wired up.
#[inline]
pub(crate) fn prefetch<T>(value: &T) {
    let start = std::ptr::from_ref(value).cast::<u8>();
    let size = size_of::<T>();
    // Every line holding a byte of `value`: one address per line from the start, and the last
    // byte for a value that does not start at a line boundary.
    for offset in (0..size).step_by(LINE).chain((size > 0).then(|| size - 1)) {
        prefetch_address(start.wrapping_add(offset));
    }
}

/// Hints that the cache line holding `address` will be read soon. Any address will do: a
/// prefetch never faults, and one of memory the program does not own only wastes the hint.
#[inline]
pub(crate) fn prefetch_address(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch only hints at the cache: it does not fault, read into the
        // program, or change its behaviour, whatever the address. The intrinsic needs SSE,
        // which every x86_64 target has.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
