//! The floor every gateway figure is compared with: a bare relay with no features — no keys,
//! no routing, no metering, no limits — that passes each request to the fake upstream over a
//! pooled hyper client and streams the answer back. Runs on its own two threads, as the
//! gateway's own process does.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

pub struct Floor {
    pub addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

type Body = BoxBody<Bytes, hyper::Error>;

/// The floor's threads' name, by which the benchmark finds their CPU time.
pub const THREAD_NAME: &str = "floor-relay";

/// CPU time (user + system) the floor's threads have used so far, in microseconds.
pub fn cpu_micros() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == THREAD_NAME)
        })
        .map(|t| super::stat_cpu_micros(&t.path().join("stat")))
        .sum()
}

/// Starts the bare relay in front of `upstream`.
pub fn start(upstream: SocketAddr) -> Floor {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(THREAD_NAME)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(connector);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let client = client.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let client = client.clone();
                    async move { Ok::<_, Infallible>(relay(&client, upstream, req).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Floor {
        addr,
        _runtime: runtime,
    }
}

/// The request as it came (head and body), to the upstream; its answer streamed back.
async fn relay(
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("http://{upstream}{path}").parse::<Uri>().unwrap();
    parts.headers.remove(http::header::HOST);
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(),
    };
    match client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(_) => error(),
    }
}

fn error() -> Response<Body> {
    let body = Full::new(Bytes::from_static(b"relay failed"))
        .map_err(|never| match never {})
        .boxed();
    let mut resp = Response::new(body);
    *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
    resp
}
