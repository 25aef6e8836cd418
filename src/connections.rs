//! Client connections: how many may be open, when a silent or idle one is cut, and which one
//! gives way when the cap is reached (the idle one that has waited longest).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Response;
use hyper::body::{Frame, SizeHint};
use tokio::sync::Notify;

use crate::http::Body;

/// Descriptors kept free of client connections: the database, the journal, log files and
/// the upstream connections the gateway itself opens.
const RESERVED_FDS: usize = 64;

/// The cap on open client connections when none is configured: half of what the process may
/// open (each relayed request may hold an upstream connection too), less a reserve.
pub fn default_max_connections() -> usize {
    let soft = open_file_limit().unwrap_or(1024);
    (soft / 2)
        .saturating_sub(RESERVED_FDS / 2)
        .clamp(16, 1_000_000)
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    soft.parse().ok()
}

/// What one connection is doing, as its requests and responses see it.
pub struct Activity {
    id: u64,
    opened: Instant,
    /// Requests whose response body has not been dropped yet.
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when a request last began or a response last ended;
    /// `u64::MAX` until the first request.
    last_ms: AtomicU64,
    /// Whether the connection speaks HTTP/2 (known from its first request).
    multiplexed: AtomicBool,
    /// Told when the connection must give way to a new one.
    pub evict: Notify,
}

impl Activity {
    fn mark(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Release);
    }

    /// A request on this connection begins: the returned guard ends it when dropped.
    pub fn begin(self: &Arc<Self>, http2: bool) -> InFlight {
        if http2 {
            self.multiplexed.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.mark();
        InFlight(self.clone())
    }

    /// Whether a request is in flight here now.
    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Whether a request has ever begun here.
    pub fn served(&self) -> bool {
        self.last_ms.load(Ordering::Acquire) != u64::MAX
    }

    /// How long the connection has had nothing in flight, if it has nothing in flight now.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = match self.last_ms.load(Ordering::Acquire) {
            u64::MAX => 0,
            ms => ms,
        };
        Some(
            self.opened
                .elapsed()
                .saturating_sub(Duration::from_millis(last)),
        )
    }

    /// When the connection should be cut if nothing happens before: `head` after opening
    /// for the first request (its head, and any TLS handshake, must arrive by then); after the
    /// last response, `idle` for an HTTP/2 connection, and the shorter of the two for an
    /// HTTP/1 one, whose next head is due as the first was (a head still arriving is nothing
    /// in flight yet). `None` while a request is in flight.
    pub fn deadline(&self, head: Duration, idle: Duration) -> Option<Instant> {
        let idle_for = self.idle_for()?;
        let allowed = if !self.served() {
            head
        } else if self.multiplexed.load(Ordering::Relaxed) {
            idle
        } else {
            idle.min(head)
        };
        Some(Instant::now() + allowed.saturating_sub(idle_for))
    }
}

/// A request in flight on a connection; dropped with its response body.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.mark();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open client connections, bounded.
pub struct Connections {
    max: usize,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl Connections {
    pub fn new(max: usize) -> Connections {
        Connections {
            max: max.max(1),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a connection just accepted. At the cap the idle connection that has waited
    /// longest is told to close, so a silent crowd cannot lock out real clients; with none idle
    /// the new one is refused (`None`).
    pub fn open(self: &Arc<Self>) -> Option<Registered> {
        let mut open = self.open.lock().expect("connections");
        if open.len() >= self.max {
            let victim = open
                .values()
                .filter_map(|a| a.idle_for().map(|d| (d, a)))
                .max_by_key(|(d, _)| *d)
                .map(|(_, a)| a.clone())?;
            open.remove(&victim.id);
            victim.evict.notify_one();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            id,
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(u64::MAX),
            multiplexed: AtomicBool::new(false),
            evict: Notify::new(),
        });
        open.insert(id, activity.clone());
        Some(Registered {
            connections: self.clone(),
            activity,
        })
    }

    pub fn count(&self) -> usize {
        self.open.lock().expect("connections").len()
    }
}

/// A connection's place among the open ones, given up when dropped.
pub struct Registered {
    connections: Arc<Connections>,
    pub activity: Arc<Activity>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections
            .open
            .lock()
            .expect("connections")
            .remove(&self.activity.id);
    }
}

/// Gives `resp` a body that keeps its request counted as in flight until it is sent whole
/// (or the client leaves), so a long stream is never cut as idle.
pub fn tracked(resp: Response<Body>, guard: InFlight) -> Response<Body> {
    use http_body_util::BodyExt;
    resp.map(|inner| {
        Tracked {
            inner,
            _guard: guard,
        }
        .boxed()
    })
}

struct Tracked {
    inner: Body,
    _guard: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_longest_idle_connection_gives_way_and_busy_ones_never_do() {
        let c = Arc::new(Connections::new(2));
        let a = c.open().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let b = c.open().unwrap();
        let busy = b.activity.begin(false);
        let third = c.open().expect("the idle one gives way");
        assert_eq!(c.count(), 2);
        drop(a);
        let _in_flight = third.activity.begin(false);
        assert!(
            c.open().is_none(),
            "every connection is busy: the new one is refused"
        );
        drop(busy);
        let fourth = c.open();
        assert!(fourth.is_some());
        assert_eq!(c.count(), 2);
    }

    #[test]
    fn deadlines_run_from_opening_then_from_the_last_response() {
        let c = Arc::new(Connections::new(8));
        let r = c.open().unwrap();
        let (head, idle) = (Duration::from_secs(30), Duration::from_secs(120));
        let d = r.activity.deadline(head, idle).unwrap();
        assert!(d <= Instant::now() + head);
        let g = r.activity.begin(false);
        assert!(
            r.activity.deadline(head, idle).is_none(),
            "never while in flight"
        );
        drop(g);
        let d = r.activity.deadline(head, idle).unwrap();
        assert!(
            d <= Instant::now() + head,
            "an HTTP/1 connection's next head is due as the first was"
        );
        let short_idle = Duration::from_secs(10);
        let d = r.activity.deadline(head, short_idle).unwrap();
        assert!(
            d <= Instant::now() + short_idle,
            "or sooner, when idle is shorter"
        );
        let h2 = c.open().unwrap();
        drop(h2.activity.begin(true));
        let d = h2.activity.deadline(head, idle).unwrap();
        assert!(
            d > Instant::now() + head,
            "kept-alive HTTP/2 connections get the idle time"
        );
        assert!(default_max_connections() >= 16);
    }
}
