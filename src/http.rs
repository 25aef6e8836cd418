//! The response body type every handler returns and its helpers: a complete body, a JSON
//! answer, and a body fed chunk by chunk that drives its own producer.

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
        if let Some(producer) = self.producer.get_mut().ok().and_then(Option::take)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(producer);
        }
    }
}
