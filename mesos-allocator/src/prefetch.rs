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
    prefetch_slice(std::slice::from_ref(value));
}

/// Hints that every cache line of `values` will be read soon.
#[inline]
pub(crate) fn prefetch_slice<T>(values: &[T]) {
    let start = values.as_ptr().cast::<u8>();
    for offset in offsets_touching_every_line(size_of_val(values)) {
        prefetch_address(start.wrapping_add(offset));
    }
}

/// Offsets into `size` bytes that fall in every cache line the bytes touch, wherever they
/// start: a line apart from the first byte, the last clipped to the last byte (a line may be
/// named twice). The count depends on the size alone: for a value, whose size is known when
/// compiled, [`prefetch`] is a straight run of prefetches with no loop.
fn offsets_touching_every_line(size: usize) -> impl Iterator<Item = usize> {
    let steps = if size == 0 {
        0
    } else {
        size.div_ceil(LINE) + 1
    };
    (0..steps).map(move |step| (step * LINE).min(size - 1))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_of_a_range_are_each_line_it_touches_once() {
        // The lines reached from `start` bytes into line 0 by `size` bytes, each once.
        let lines = |start: usize, size: usize| -> Vec<usize> {
            let reached: std::collections::BTreeSet<usize> = offsets_touching_every_line(size)
                .map(|offset| (start + offset) / LINE)
                .collect();
            reached.into_iter().collect()
        };
        assert_eq!(lines(0, 0), Vec::<usize>::new());
        assert_eq!(lines(5, 0), Vec::<usize>::new());
        assert_eq!(lines(0, 1), vec![0]);
        assert_eq!(lines(0, LINE), vec![0]);
        assert_eq!(lines(0, LINE + 1), vec![0, 1]);
        assert_eq!(lines(LINE - 1, 2), vec![0, 1]);
        assert_eq!(lines(8, 2 * LINE), vec![0, 1, 2]);
        assert_eq!(lines(LINE + 8, 32), vec![1]);
    }

    #[test]
    fn a_values_offsets_reach_every_line_it_touches_wherever_it_starts() {
        for size in 0..=3 * LINE {
            for skew in 0..LINE {
                let reached: std::collections::BTreeSet<usize> = offsets_touching_every_line(size)
                    .map(|offset| (skew + offset) / LINE)
                    .collect();
                let touched: std::collections::BTreeSet<usize> =
                    (skew..skew + size).map(|byte| byte / LINE).collect();
                assert_eq!(reached, touched, "size {size}, starting {skew} into a line");
            }
        }
    }
}
