//! The `aicarpool` binary: parses the command line and hands over to [`aicarpool::cli`].

/// mimalloc rather than glibc's allocator: the request path allocates many small buffers on
/// two threads at once, and mimalloc hands freed memory back to the system after a load peak
/// instead of keeping it in per-thread arenas (measured in the benchmark: CPU per request and
/// resident memory after an overload). Built without transparent huge pages: with them, one
/// touched byte can commit two megabytes, which cost 15 MB of resident memory at idle.
#[global_allocator]
static ALLOC: Mimalloc = Mimalloc;

/// The alignment every mimalloc block has when its size is at least this: blocks of 16 bytes
/// and more start on 16-byte boundaries (`MI_MAX_ALIGN_SIZE` in the bundled mimalloc 3).
const MI_MAX_ALIGN: usize = 16;

/// mimalloc, asked the way the system allocator is asked: `mi_malloc` when the block's own
/// alignment is enough, the aligned entry only above it. The crate's `MiMalloc` sends every
/// allocation through `mi_malloc_aligned`, which takes mimalloc's generic path for every block
/// over 1 KiB (hyper's buffers, a request's body) and over-allocates those whose size is not a
/// power of two; that was 15 allocations and 2.5 % of a relayed request's instructions
/// (`benches/instructions.sh`).
struct Mimalloc;

impl Mimalloc {
    /// Whether a plain block of `size` bytes is aligned to `align` already.
    fn plain(align: usize, size: usize) -> bool {
        align <= MI_MAX_ALIGN && align <= size
    }
}

// SAFETY: each function hands the request to the mimalloc function that meets the layout's
// alignment (`plain` above, else the crate's aligned allocator); every block is freed by
// `mi_free`, which takes blocks from either.
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if Mimalloc::plain(layout.align(), layout.size()) {
            unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast() }
        } else {
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if Mimalloc::plain(layout.align(), layout.size()) {
            unsafe { libmimalloc_sys::mi_zalloc(layout.size()).cast() }
        } else {
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        if Mimalloc::plain(layout.align(), size) {
            unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), size).cast() }
        } else {
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, size) }
        }
    }
}

/// `mi_option_arena_purge_mult` in the bundled mimalloc 3's option enum (`mimalloc.h`; the
/// crate pins the version in Cargo.lock, and its bindings do not name this option).
const ARENA_PURGE_MULT: libmimalloc_sys::mi_option_t = 24;

fn main() -> std::process::ExitCode {
    sqlite_on_mimalloc();
    aicarpool::cli::main(
        aicarpool::memory::Hooks {
            tidy: return_freed_memory,
            eager: return_arena_memory_at_once,
        },
        set_cpu_class,
    )
}

/// Puts thread `tid` at Linux's idle CPU class (`SCHED_IDLE`) or back to normal: the database
/// writer's, while it only commits usage rows (`aicarpool::store::class`).
fn set_cpu_class(tid: i32, idle: bool) -> bool {
    let policy = if idle {
        libc::SCHED_IDLE
    } else {
        libc::SCHED_OTHER
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: the kernel reads `param` during the call only; an id that names no thread of
    // ours fails (ESRCH) and changes nothing.
    unsafe { libc::sched_setscheduler(tid, policy, &param) == 0 }
}

/// Memory a thread gives back to the shared arena goes back to the system at once (`true`),
/// or a second later, counted from the free (`false`, mimalloc's default): see
/// `aicarpool::memory::Eager`. `MIMALLOC_ARENA_PURGE_MULT` in the environment overrides both.
fn return_arena_memory_at_once(eager: bool) {
    if std::env::var_os("MIMALLOC_ARENA_PURGE_MULT").is_none() {
        // SAFETY: sets one of the allocator's global options, which takes any value of its
        // type at any time (it is read at each purge decision).
        unsafe { libmimalloc_sys::mi_option_set(ARENA_PURGE_MULT, if eager { 0 } else { 1 }) };
    }
}

/// mimalloc hands a thread's freed memory back to the system lazily, from inside that
/// thread's later allocations, so a gateway gone quiet after a burst would keep its peak.
/// Called on each async thread as it goes idle and on a blocking thread after a database read
/// (each every few seconds at most: `aicarpool::memory`); measured: RSS 12 s after a 2 000-stream burst
/// went from 121 to 48 MB.
fn return_freed_memory() {
    // SAFETY: `mi_collect` walks only the allocator's own bookkeeping for the calling thread
    // and has no preconditions.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// SQLite allocates through mimalloc too, and keeps no allocation statistics (which take a
/// global lock around every allocation; nothing reads them). Otherwise its page caches live in
/// glibc's per-thread arenas, which hand nothing back to the system when a thread goes quiet:
/// 1.9 MB of an idle gateway's 21 MB (measured). Must run before SQLite is first used; if it
/// were too late, SQLite keeps its defaults and says so.
fn sqlite_on_mimalloc() {
    use rusqlite::ffi;
    use std::ffi::{c_int, c_void};
    // SAFETY (all four): SQLite passes sizes it wants (positive, below 2^31) and pointers
    // these same functions returned, which is what mimalloc's functions require.
    unsafe extern "C" fn malloc(n: c_int) -> *mut c_void {
        unsafe { libmimalloc_sys::mi_malloc(n as usize) }
    }
    unsafe extern "C" fn free(p: *mut c_void) {
        unsafe { libmimalloc_sys::mi_free(p) }
    }
    unsafe extern "C" fn realloc(p: *mut c_void, n: c_int) -> *mut c_void {
        unsafe { libmimalloc_sys::mi_realloc(p, n as usize) }
    }
    unsafe extern "C" fn size(p: *mut c_void) -> c_int {
        unsafe { libmimalloc_sys::mi_usable_size(p) as c_int }
    }
    extern "C" fn roundup(n: c_int) -> c_int {
        // SAFETY: a pure function of the size.
        let good = unsafe { libmimalloc_sys::mi_good_size(n.max(0) as usize) };
        good.min(c_int::MAX as usize) as c_int
    }
    extern "C" fn init(_: *mut c_void) -> c_int {
        ffi::SQLITE_OK
    }
    extern "C" fn shutdown(_: *mut c_void) {}
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: nothing has used SQLite yet (this is the first thing `main` does), and SQLite
    // copies the methods before this returns.
    let (malloc, memstatus) = unsafe {
        (
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods),
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
        )
    };
    if (malloc, memstatus) != (ffi::SQLITE_OK, ffi::SQLITE_OK) {
        // Both fail together (SQLITE_MISUSE, 21): SQLite was already in use.
        eprintln!(
            "warning: SQLite keeps its own allocator (sqlite3_config answered {malloc} and {memstatus})"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout};

    /// Every size from 1 byte to 5 KiB at every alignment up to 256, many of each (so that
    /// blocks come from all over their pages): each starts where its alignment asks, keeps
    /// what was written through a growing and a shrinking `realloc`, and is zeroed when asked.
    #[test]
    fn blocks_are_aligned_as_asked_and_keep_their_bytes() {
        let sizes = (1..=64).chain((65..=5120).step_by(37));
        for size in sizes {
            for align in [1, 2, 4, 8, 16, 32, 64, 128, 256] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let blocks: Vec<*mut u8> = (0..24)
                    .map(|i| {
                        // SAFETY: a valid layout of non-zero size; the block is freed below.
                        let p = unsafe {
                            if i % 2 == 0 {
                                ALLOC.alloc(layout)
                            } else {
                                ALLOC.alloc_zeroed(layout)
                            }
                        };
                        assert!(!p.is_null());
                        assert_eq!(p as usize % align, 0, "size {size}, alignment {align}");
                        if i % 2 == 1 {
                            // SAFETY: `size` bytes were just allocated at `p`.
                            let bytes = unsafe { std::slice::from_raw_parts(p, size) };
                            assert!(bytes.iter().all(|&b| b == 0), "zeroed, size {size}");
                        }
                        // SAFETY: as above.
                        unsafe { p.write_bytes(0xa5, size) };
                        p
                    })
                    .collect();
                for (i, p) in blocks.into_iter().enumerate() {
                    let new = if i % 2 == 0 {
                        size * 3 + 1
                    } else {
                        size.div_ceil(2)
                    };
                    // SAFETY: `p` came from `ALLOC` with `layout` and the new size is not
                    // zero; `p` is not used after.
                    let q = unsafe { ALLOC.realloc(p, layout, new) };
                    assert!(!q.is_null());
                    assert_eq!(
                        q as usize % align,
                        0,
                        "realloc {size} to {new}, alignment {align}"
                    );
                    let kept = size.min(new);
                    // SAFETY: `q` holds at least `kept` bytes carried over from `p`.
                    let bytes = unsafe { std::slice::from_raw_parts(q, kept) };
                    assert!(bytes.iter().all(|&b| b == 0xa5), "realloc kept the bytes");
                    // SAFETY: `q` came from `ALLOC` with `new` bytes at `align`.
                    unsafe { ALLOC.dealloc(q, Layout::from_size_align(new, align).unwrap()) };
                }
            }
        }
    }
}
