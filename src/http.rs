//! The response body type every handler returns and its helpers: a complete body, a JSON
//! answer, a body fed chunk by chunk that drives its own producer, and a request's future
//! that finishes on its own task if its client leaves.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use tokio::sync::mpsc;

/// The body of every response.
pub type Body = BoxBody<Bytes, Infallible>;

pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(full(Bytes::from(value.to_string())))
        .expect("json response is valid")
}

/// A body that is already complete.
pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes).boxed()
}

/// A body fed chunk by chunk through a channel by `producer`, which the body drives itself
/// while the client reads: producer and response share one task, so a chunk passes without
/// waking another thread (measured: a separate task cost a cross-thread wake-up per SSE event).
/// If the client leaves first, the producer is moved to a task of its own and runs to its end
/// (it sees the channel closed); the body ends when the producer drops its sender.
pub fn channel_body(
    rx: mpsc::Receiver<Bytes>,
    producer: impl Future<Output = ()> + Send + 'static,
) -> Body {
    ChannelBody {
        rx,
        producer: std::sync::Mutex::new(Some(Box::pin(producer))),
    }
    .boxed()
}

struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    /// In a mutex only so the body is `Sync` as hyper's boxed body requires; it is reached
    /// through `&mut` alone (`get_mut`), so never locked.
    producer: std::sync::Mutex<Option<Producer>>,
}

type Producer = Pin<Box<dyn Future<Output = ()> + Send>>;

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = |c: Option<Bytes>| Poll::Ready(c.map(|b| Ok(Frame::data(b))));
        loop {
            match self.rx.try_recv() {
                Ok(b) => return chunk(Some(b)),
                Err(mpsc::error::TryRecvError::Disconnected) => return chunk(None),
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            let slot = self.producer.get_mut().expect("producer slot");
            let Some(producer) = slot.as_mut() else {
                return match self.rx.poll_recv(cx) {
                    Poll::Ready(c) => chunk(c),
                    Poll::Pending => Poll::Pending,
                };
            };
            match producer.as_mut().poll(cx) {
                // Finished: its sender is gone; what it sent is still read above.
                Poll::Ready(()) => *slot = None,
                // Waiting on its source (which will wake this task): pass on what it sent.
                Poll::Pending => {
                    return match self.rx.try_recv() {
                        Ok(b) => chunk(Some(b)),
                        Err(mpsc::error::TryRecvError::Disconnected) => chunk(None),
                        Err(mpsc::error::TryRecvError::Empty) => Poll::Pending,
                    };
                }
            }
        }
    }
}

impl Drop for ChannelBody {
    fn drop(&mut self) {
        if let Some(producer) = self.producer.get_mut().ok().and_then(Option::take) {
            finish_elsewhere(producer);
        }
    }
}

/// Work dropped unfinished by the connection that drove it, moved to a task of its own to
/// run to its end. Outside a runtime (it is shutting down) there is nowhere to run it.
fn finish_elsewhere(rest: Producer) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(rest);
    }
}

/// A request's work, run inside the connection's own task (as a bare relay runs it: a task of
/// its own per request cost a spawn, a hand-off and a join on every request), that still runs
/// to its end if the connection drops it: a client that leaves before its answer does not cut
/// short the upstream call it has started, nor the usage row that call is owed.
pub struct RunToEnd<T: Send + 'static> {
    work: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

/// The work panicked (a bug): the caller answers with an error instead of dropping the
/// connection.
pub struct Panicked;

impl<T: Send + 'static> RunToEnd<T> {
    pub fn new(work: impl Future<Output = T> + Send + 'static) -> Self {
        RunToEnd {
            work: Some(Box::pin(work)),
        }
    }
}

impl<T: Send + 'static> Future for RunToEnd<T> {
    type Output = Result<T, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Gone only once it has ended; hyper never polls a finished future again.
        let Some(work) = self.work.as_mut() else {
            return Poll::Ready(Err(Panicked));
        };
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                self.work = None;
                Poll::Ready(Ok(out))
            }
            Err(_) => {
                // A future that panicked is never polled again.
                self.work = None;
                Poll::Ready(Err(Panicked))
            }
        }
    }
}

impl<T: Send + 'static> Drop for RunToEnd<T> {
    fn drop(&mut self) {
        if let Some(work) = self.work.take() {
            finish_elsewhere(Box::pin(async move {
                drop(work.await);
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_dropped_unfinished_runs_to_its_end_and_a_panic_is_an_error() {
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let (done, finished) = tokio::sync::oneshot::channel::<&str>();
        let mut run = Box::pin(RunToEnd::new(async move {
            let _ = wait.await;
            let _ = done.send("finished");
        }));
        // Started, then dropped by its connection while it waits.
        let polled = poll_once(run.as_mut()).await;
        assert!(polled.is_none(), "still waiting");
        drop(run);
        go.send(()).unwrap();
        assert_eq!(finished.await, Ok("finished"));

        let bug = RunToEnd::new(async {
            if std::hint::black_box(true) {
                panic!("a bug");
            }
        });
        assert!(matches!(bug.await, Err(Panicked)));
    }

    /// Polls once; `None` when the future is still pending.
    async fn poll_once<F: Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| match Pin::new(&mut f).poll(cx) {
            Poll::Ready(out) => Poll::Ready(Some(out)),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }
}
