//! The floor every gateway figure is compared with: a bare relay with no features — no keys,
//! no routing, no metering, no limits — that passes each request to the fake upstream over a
//! pooled hyper client and streams the answer back. Runs on two threads, as the gateway's own
//! process does, and by default in a process of its own, as the gateway does.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

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
    runs: Runs,
}

enum Runs {
    /// On a runtime of this process.
    Here { _runtime: tokio::runtime::Runtime },
    /// In a child process: this benchmark binary with `--floor-for`.
    Apart(Child),
}

type Body = BoxBody<Bytes, hyper::Error>;

/// The floor's threads' name, by which the benchmark finds their CPU time in its own process.
pub const THREAD_NAME: &str = "floor-relay";

/// The flag that makes a `--floor-for` process end when its standard input closes: the
/// benchmark holds that pipe, so the floor cannot outlive it, however the benchmark ends.
pub const WHILE_STDIN_OPEN: &str = "--while-stdin-open";

impl Floor {
    /// CPU time (user + system) the floor has used so far, in microseconds.
    pub fn cpu_micros(&self) -> u64 {
        match &self.runs {
            Runs::Apart(child) => super::cpu_micros(child.id()),
            Runs::Here { .. } => {
                let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
                    return 0;
                };
                tasks
                    .flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .is_ok_and(|c| c.trim() == THREAD_NAME)
                    })
                    .map(|t| super::stat_cpu_micros(&t.path().join("stat")))
                    .sum()
            }
        }
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        if let Runs::Apart(child) = &mut self.runs {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the bare relay in front of `upstream` as a process of its own. A relay in the
/// benchmark's own process would share its address space, and with it the code and caches of
/// the load generator's and the fake's hyper: switching between its threads and theirs costs
/// less than switching between processes, which at one request at a time took about a third
/// off the floor's added p50 (see README → Performance).
pub fn spawn(upstream: SocketAddr) -> Floor {
    let mut child = Command::new(std::env::current_exe().expect("the benchmark's own path"))
        .args(["--floor-for", &upstream.to_string(), WHILE_STDIN_OPEN])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the floor's process");
    let mut port = String::new();
    BufReader::new(child.stdout.take().expect("the floor's stdout"))
        .read_line(&mut port)
        .expect("the floor prints its port");
    let port: u16 = port.trim().parse().expect("the floor's port");
    Floor {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        runs: Runs::Apart(child),
    }
}

/// In a `--floor-for` process started with [`WHILE_STDIN_OPEN`]: returns once standard input
/// closes (the benchmark ended).
pub fn wait_for_stdin_to_close() {
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// Starts the bare relay in front of `upstream` in this process.
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
        runs: Runs::Here { _runtime: runtime },
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
