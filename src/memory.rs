//! Handing freed memory back to the system: the allocator's hook, which the binary installs
//! and the library calls where a thread runs out of work.
//!
//! The allocator returns a thread's freed pages lazily, from inside that thread's later
//! allocations, so a thread that goes quiet keeps what it last held: the async threads after
//! a burst, and the blocking threads that read the database (the snapshot of 10 000 keys is
//! built on one, and its predecessor freed into it): 6 MB of a 27 MB idle gateway (measured).

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The binary's hooks: hand this thread's freed memory back; return memory the threads give
/// back to the shared arena at once (`true`) or after the allocator's delay (`false`).
#[derive(Clone, Copy)]
pub struct Hooks {
    pub tidy: fn(),
    pub eager: fn(bool),
}

static HOOK: OnceLock<Hooks> = OnceLock::new();
/// How many [`Eager`] regions are open; the lock keeps the switch in step with the count.
static EAGER: Mutex<usize> = Mutex::new(0);

/// How often an async thread that goes idle calls the hook, at most.
const EVERY: Duration = Duration::from_secs(5);

/// Installs the hooks (once; later calls are ignored). Without them, nothing is handed back.
pub fn install(hooks: Hooks) {
    let _ = HOOK.set(hooks);
}

/// A thread ran out of work (an async one parks, a blocking one finished a database read):
/// hands its freed memory back, at most every few seconds (both happen often under load,
/// and the walk is not free).
pub fn idle() {
    thread_local! {
        static LAST: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = Instant::now();
    if LAST.get().is_none_or(|t| now - t >= EVERY) {
        LAST.set(Some(now));
        tidy();
    }
}

/// Hands this thread's freed memory back now (the thread that started the gateway, which
/// only accepts from then on).
pub fn tidy() {
    if let Some(hooks) = HOOK.get() {
        (hooks.tidy)();
    }
}

/// While one is held, memory given back to the shared arena returns to the system at once.
/// Held where large structures are built and their scaffolding freed with nothing to come back
/// for it later (start-up, a snapshot reload): with the allocator's delay, nothing revisits the
/// arena once the gateway is idle, and 10 000 keys' worth stayed resident (25 instead of
/// 20 MB idle). Not held under load: returning every page at once cost about a tenth more
/// CPU per request (measured alternating in the benchmark).
pub struct Eager(());

impl Eager {
    pub fn hold() -> Eager {
        let mut open = EAGER.lock().expect("eager regions");
        *open += 1;
        if *open == 1
            && let Some(hooks) = HOOK.get()
        {
            (hooks.eager)(true);
        }
        Eager(())
    }
}

impl Drop for Eager {
    fn drop(&mut self) {
        let mut open = EAGER.lock().expect("eager regions");
        *open -= 1;
        if *open == 0
            && let Some(hooks) = HOOK.get()
        {
            (hooks.eager)(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    static SWITCHES: AtomicUsize = AtomicUsize::new(0);
    static STATE: AtomicI64 = AtomicI64::new(0);

    fn eager(on: bool) {
        SWITCHES.fetch_add(1, Ordering::SeqCst);
        STATE.store(on as i64, Ordering::SeqCst);
    }

    /// The only library test that opens eager regions (the switch is process-wide); the
    /// gateway's own regions run in the integration tests' separate processes.
    #[test]
    fn overlapping_eager_regions_switch_once_on_and_once_off() {
        install(Hooks { tidy: || {}, eager });
        let a = Eager::hold();
        assert_eq!(STATE.load(Ordering::SeqCst), 1);
        let b = Eager::hold();
        drop(a);
        assert_eq!(STATE.load(Ordering::SeqCst), 1, "still held by the second");
        drop(b);
        assert_eq!(STATE.load(Ordering::SeqCst), 0);
        assert_eq!(SWITCHES.load(Ordering::SeqCst), 2);
    }
}
