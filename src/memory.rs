//! Giving the system back the memory glibc keeps after a large pass (`malloc_trim`).
//!
//! glibc returns freed memory to the kernel only from the top of its heap; the pages a cold
//! pass freed below live allocations stay resident. After a pass the engines call
//! [`release_freed`], which asks glibc to hand back every free page. Elsewhere (the musl
//! image, other systems) it does nothing: their allocators have no such call.
#![allow(unsafe_code)]

/// Asks the allocator to return its free pages to the system; true if glibc released any.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_freed() -> bool {
    // SAFETY: malloc_trim takes no pointers and locks glibc's arenas itself; any thread may
    // call it at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Asks the allocator to return its free pages to the system; false here (no such call).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn pages_freed_below_a_live_block_are_released() {
        // 4 MiB in 64 KiB blocks (under glibc's mmap threshold, so on the heap), then a live
        // block above them: the heap's top cannot shrink, only a trim gives the pages back.
        let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
        let live = vec![7u8; 64 * 1024];
        drop(blocks);
        assert!(release_freed(), "glibc released nothing");
        assert!(live.iter().all(|b| *b == 7));
    }
}
