//! The process's allocator: mimalloc v3 instead of glibc's malloc.
//!
//! Request handling allocates many small, short-lived buffers and often frees them on another
//! worker thread than the one that allocated them; glibc serialises such frees on its arena
//! locks. Measured with `bench/waf` and `bench/flags`: glibc spent a fifth of the WAF's CPU in
//! malloc/free plus the futex waits of that contention; mimalloc cut the WAF's CPU per request
//! by 40 %. Two settings keep its footprint at glibc's level: no transparent huge pages (the
//! `no_thp` build feature; with them the WAF's RSS doubled) and freed memory returned to the
//! OS at once rather than after a second (what rule loading frees is otherwise kept).

// The workspace denies unsafe code; this module's two FFI calls are its one exception.
#![allow(unsafe_code)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (the `libmimalloc-sys` constants
/// follow v2's numbering); the workspace pins the crate version this id belongs to.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Applies the settings above; call first thing in `main`.
pub fn configure() {
    // SAFETY: sets a plain integer option; mimalloc reads it when it next purges.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    /// The id is purge_delay's: its v3 default is 1000 ms (v2's option 15 defaults to 1).
    #[test]
    fn purge_delay_option_id_matches_the_bundled_mimalloc() {
        // SAFETY: reads a plain integer option.
        let default = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1000, "option 15 is not purge_delay");
        super::configure();
        // SAFETY: as above.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) },
            0
        );
    }
}
