//! The writer thread's CPU class: idle while it only commits usage rows, normal whenever
//! anything else waits for it.
//!
//! Under load the writer commits a batch of usage rows every 20 ms, about half a millisecond
//! of CPU, and the scheduler tends to run it on the core where a request's thread was about
//! to wake: at one request at a time that was most of the gateway's p99 above the bare relay's
//! (measured in `cargo bench --bench gateway`; see docs/performance-log.md). At Linux's idle
//! class (`SCHED_IDLE`) it runs only where a core has nothing else to do. The rows are in the
//! journal already, so a late commit costs no durability. Anything else that waits for the
//! writer (an admin change, an account's state, a backlog of rows) puts it back to normal at
//! once, and so does a usage batch not done [`RAISE_AFTER`] after it was sent (and every period
//! after that), so a machine kept busy cannot starve it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

/// Sets a thread's CPU class, idle (`true`) or normal (`false`), and says whether the kernel
/// allowed it. The binary installs it: the library has no `unsafe`.
pub type Hook = fn(tid: i32, idle: bool) -> bool;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// How long after a usage batch is sent the writer is put back to normal if the batch is not
/// done, and again every such period until it is.
pub(super) const RAISE_AFTER: Duration = Duration::from_millis(100);

/// Installs the hook (once; later calls are ignored). Without it the writer stays normal.
pub fn install(hook: Hook) {
    let _ = HOOK.set(hook);
}

/// The calling thread's id as the kernel knows it, read without `unsafe`.
fn thread_id() -> Option<i32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Whether a thread of this process may enter the idle class and leave it again. An
/// unprivileged thread may leave it only when `RLIMIT_NICE` allows nice 0 (the systemd unit
/// sets `LimitNICE=+0`); tried on a thread of its own, since a writer that could enter and not
/// leave would be at the mercy of every other thread on the machine.
fn allowed(hook: Hook) -> bool {
    std::thread::spawn(move || thread_id().is_some_and(|t| hook(t, true) && hook(t, false)))
        .join()
        .unwrap_or(false)
}

pub(super) struct Class {
    /// `None` when the writer stays normal: no hook, or the kernel would not let it back.
    hook: Option<Hook>,
    /// The writer thread's id, once it runs.
    tid: AtomicI32,
    /// Whether the writer is at idle class (set only after the kernel agreed).
    idle: AtomicBool,
    /// Jobs other than usage batches queued and not yet taken by the writer.
    waiting: AtomicUsize,
    /// The kernel once refused to take the writer back from idle: it is not tried again.
    stuck: AtomicBool,
}

impl Class {
    pub(super) fn new() -> Class {
        let installed = HOOK.get().copied();
        let hook = installed.filter(|h| allowed(*h));
        if hook.is_some() {
            tracing::info!("usage rows are committed at the idle CPU class");
        } else if installed.is_some() {
            tracing::info!(
                "usage rows are committed at the normal CPU class: this process may not take a \
                 thread back from the idle class (allow nice 0, as the systemd unit's \
                 LimitNICE=+0 does)"
            );
        }
        Class {
            hook,
            tid: AtomicI32::new(0),
            idle: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            stuck: AtomicBool::new(false),
        }
    }

    /// Whether the writer may ever run at idle class.
    pub(super) fn enabled(&self) -> bool {
        self.hook.is_some()
    }

    /// Called first thing on the writer thread.
    pub(super) fn started(&self) {
        self.tid.store(thread_id().unwrap_or(0), SeqCst);
    }

    /// Counts a job that is not a usage batch until the writer takes it; the count goes back
    /// down if it is never sent (its caller went away).
    pub(super) fn waiting(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, SeqCst);
        Waiting {
            class: self,
            sent: false,
        }
    }

    /// The writer took `n` jobs counted by [`Class::waiting`].
    pub(super) fn taken(&self, n: usize) {
        if n > 0 {
            self.waiting.fetch_sub(n, SeqCst);
        }
    }

    /// Puts the writer back to normal if it is at idle class.
    pub(super) fn raise(&self) {
        if self.idle.swap(false, SeqCst)
            && let Some(hook) = self.hook
            && !hook(self.tid.load(SeqCst), false)
            && !self.stuck.swap(true, SeqCst)
        {
            // Only if the process's limits changed since the start-up check.
            tracing::warn!(
                "the database writer could not leave the idle CPU class; usage rows may be \
                 committed late while the machine is busy"
            );
        }
    }

    /// On the writer thread, before each batch: idle class when the batch is only usage rows
    /// and nothing else waits, normal otherwise.
    pub(super) fn enter(&self, background: bool) {
        let Some(hook) = self.hook else { return };
        if !background {
            return self.raise();
        }
        let tid = self.tid.load(SeqCst);
        if self.idle.load(SeqCst)
            || self.waiting.load(SeqCst) > 0
            || tid == 0
            || self.stuck.load(SeqCst)
        {
            return;
        }
        if hook(tid, true) {
            self.idle.store(true, SeqCst);
            // A job sent between the look above and the store found the writer normal and
            // did not raise it; its count is visible now. One sent after the store raises.
            if self.waiting.load(SeqCst) > 0 {
                self.raise();
            }
        }
    }
}

/// A job being sent to the writer, counted in [`Class`] so the writer does not turn idle
/// while it waits.
pub(super) struct Waiting<'a> {
    class: &'a Class,
    sent: bool,
}

impl Waiting<'_> {
    /// The job is in the writer's queue: the writer now owns its count, and is raised if it
    /// was idle.
    pub(super) fn sent(mut self) {
        self.sent = true;
        self.class.raise();
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.sent {
            self.class.waiting.fetch_sub(1, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// What the fake hook was asked, in order.
    static CALLS: Mutex<Vec<(i32, bool)>> = Mutex::new(Vec::new());

    fn record(tid: i32, idle: bool) -> bool {
        CALLS.lock().unwrap().push((tid, idle));
        true
    }

    /// A kernel that lets the thread go idle and not back.
    fn refuse_normal(tid: i32, idle: bool) -> bool {
        record(tid, idle);
        idle
    }

    fn class_with(hook: Hook) -> Class {
        CALLS.lock().unwrap().clear();
        Class {
            hook: Some(hook),
            tid: AtomicI32::new(7),
            idle: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            stuck: AtomicBool::new(false),
        }
    }

    fn class() -> Class {
        class_with(record)
    }

    /// The class under the racing hook below.
    static RACED: OnceLock<Class> = OnceLock::new();

    /// A kernel call during which another thread sends a job: it finds the writer not yet
    /// marked idle, so its own raise asks nothing.
    fn send_meanwhile(tid: i32, idle: bool) -> bool {
        record(tid, idle);
        if idle {
            RACED.get().unwrap().waiting().sent();
        }
        true
    }

    fn calls() -> Vec<(i32, bool)> {
        std::mem::take(&mut CALLS.lock().unwrap())
    }

    // One test, since the fake hook's record is shared.
    #[test]
    fn the_writer_is_idle_only_while_nothing_but_usage_rows_wait_for_it() {
        let c = class();
        c.enter(true);
        c.enter(true);
        assert_eq!(calls(), [(7, true)], "a usage batch turns it idle, once");

        c.enter(false);
        assert_eq!(calls(), [(7, false)], "any other batch turns it normal");

        let w = c.waiting();
        c.enter(true);
        assert_eq!(calls(), [], "not idle while another job is on its way");
        w.sent();
        c.taken(1);
        c.enter(true);
        assert_eq!(calls(), [(7, true)]);

        let w = c.waiting();
        w.sent();
        assert_eq!(
            calls(),
            [(7, false)],
            "a job sent to an idle writer raises it"
        );
        c.taken(1);

        c.enter(true);
        drop(c.waiting());
        c.raise();
        c.raise();
        assert_eq!(
            calls(),
            [(7, true), (7, false)],
            "a job never sent leaves no count behind; raising twice asks once"
        );
        c.enter(true);
        assert_eq!(calls(), [(7, true)]);

        let c = RACED.get_or_init(|| class_with(send_meanwhile));
        c.enter(true);
        assert_eq!(
            calls(),
            [(7, true), (7, false)],
            "a job sent while the writer turned idle raises it at once"
        );

        let c = class_with(refuse_normal);
        c.enter(true);
        c.raise();
        c.enter(true);
        c.raise();
        assert_eq!(
            calls(),
            [(7, true), (7, false)],
            "once refused, not tried again"
        );
    }

    #[test]
    fn without_a_hook_nothing_changes() {
        let c = Class::new();
        assert!(!c.enabled(), "the library's tests install no hook");
        c.started();
        c.enter(true);
        assert!(!c.idle.load(SeqCst));
    }
}
