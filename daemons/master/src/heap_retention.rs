//! Keeps the memory the process frees for its own reuse instead of handing it back to the
//! kernel at once.
//!
//! glibc's malloc gives the top of its heap back to the kernel as soon as more than 128 KiB is
//! free there, and serves a block larger than a moving threshold (from 128 KiB) with a mapping
//! of its own that `free` unmaps. Either way the next large block is fresh memory, and the
//! kernel faults it in and zeroes it page by page on first touch. An allocation cycle that
//! offers 10,000 agents writes its ~0.8 MB list of offers into such memory when the heap was
//! just trimmed: ~220 page faults, about a quarter of the cycle on this project's benchmark
//! machine (benches/README.md). With the settings below, blocks up to 32 MiB come from the
//! heap, and up to 256 MiB of free heap top is kept, so a master whose agents, frameworks or
//! offers shrink reuses that memory rather than faulting it in again. (That is the main
//! arena's heap; threads that allocate in arenas of their own, at most 64 MiB each, still
//! lose an arena heap that becomes wholly free.)

/// Heap blocks up to this size are served from the heap rather than from their own mapping
/// (the ceiling glibc's own run-time adjustment of the threshold stops at on 64-bit targets).
pub const MMAP_THRESHOLD_BYTES: i32 = 32 << 20;
/// Free memory at the top of the heap is given back to the kernel only beyond this much.
pub const TRIM_THRESHOLD_BYTES: i32 = 256 << 20;

/// Applies the settings above to the process's malloc; true when it took both (glibc on
/// 64-bit Linux), false elsewhere (logged at debug level). Call it once, early in `main`.
pub fn retain_freed_memory() -> bool {
    let taken = set_thresholds(MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES);
    if !taken {
        tracing::debug!("malloc thresholds not (all) applied: not 64-bit glibc");
    }
    taken
}

/// The process's minor page faults so far (field 10 of `/proc/self/stat`); `None` where
/// there is no such file. What the settings above save shows here.
pub fn minor_page_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(7)?.parse().ok()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds(mmap: i32, trim: i32) -> bool {
    // SAFETY: `mallopt` only changes two tuning parameters of glibc's allocator, which it
    // reads under its own lock; no memory is handed over and no invariant of ours depends on
    // them. It returns 1 on success and 0 for a value out of range; each is set even if the
    // other is refused.
    let (mmap_set, trim_set) = unsafe {
        (
            libc::mallopt(libc::M_MMAP_THRESHOLD, mmap),
            libc::mallopt(libc::M_TRIM_THRESHOLD, trim),
        )
    };
    mmap_set == 1 && trim_set == 1
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds(_mmap: i32, _trim: i32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes every page of a fresh 8 MiB block, drops it, and returns the faults taken.
    fn faults_of_a_touched_block() -> u64 {
        let before = minor_page_faults().expect("procfs");
        let block = std::hint::black_box(vec![1u8; 8 << 20]);
        drop(block);
        minor_page_faults().expect("procfs") - before
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_blocks_are_reused_without_faulting_them_in_again() {
        assert!(retain_freed_memory(), "glibc refused a threshold");
        faults_of_a_touched_block();
        // 8 MiB is 2,048 pages; had the block gone back to the kernel, every one would fault
        // again. The count is the whole process's and other tests run meanwhile, so the
        // fewest of three tries is taken, with some slack.
        let again = (0..3).map(|_| faults_of_a_touched_block()).min();
        assert!(
            again.is_some_and(|f| f < 256),
            "{again:?} page faults for a block just freed"
        );
    }
}
