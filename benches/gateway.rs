//! The gateway benchmark: `cargo bench --bench gateway` (add `-- --smoke` for the seconds-long
//! CI version). Starts a fake upstream (in this process), the real `aicarpool serve` in
//! production configuration (real keys with limits, account selection, usage rows written),
//! and a load generator, all on loopback. Every scenario runs direct against the fake and
//! through the gateway in the same run and reports the difference, plus RSS, usage rows written
//! and rows missing (rows against 2xx answers; must be 0). The main scenarios also run through
//! a bare relay with no features (`support/floor.rs`), in slices alternating with the
//! gateway's, and report the gateway as a ratio to that floor.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/floor.rs"]
mod floor;
#[path = "support/outside.rs"]
mod outside;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Server;
use common::env::Env;
use common::upstream::{Fake, Reply};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Slices each side of a scenario with a floor is run in, alternating.
const SLICES: u32 = 6;

const MESSAGES: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}"#;
const MESSAGES_STREAM: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello"}]}"#;
const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}"#;

/// The wire format a scenario's conversation is written in.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    Anthropic,
    Chat,
    Responses,
}

/// A coding-agent conversation of about 10 kB with three tools and four tool round trips, in
/// each client's form: Anthropic (the untranslated twin), chat and Responses (translated to
/// Anthropic), so the difference in the gateway's own time is translation's.
fn conversation(form: Form, model: &str) -> &'static str {
    use serde_json::json;
    let schema = json!({ "type": "object", "properties": {
        "path": { "type": "string", "description": "An absolute path to the file to read or write." },
        "content": { "type": "string", "description": "What to write, whole." } }, "required": ["path"] });
    let names = ["read_file", "write_file", "run_command"];
    // Line breaks and quotes, as a real conversation's text has: each is an escape to read.
    let filler = "The repository holds a Rust service with a router, a relay and a store;\n         the change touches the relay's \"failover\" loop and its tests. ";
    let mut out = Vec::new();
    let system = filler.repeat(12);
    for turn in 0..4 {
        let id = format!("call_{turn}");
        let args = json!({ "path": format!("/work/src/file_{turn}.rs") });
        let result = filler.repeat(6);
        let ask = format!("step {turn}: {filler}");
        let name = names[turn % 3];
        match form {
            Form::Chat => {
                out.push(json!({ "role": "user", "content": ask }));
                out.push(json!({ "role": "assistant", "content": "Reading it.", "tool_calls": [
                    { "id": id, "type": "function", "function": { "name": name, "arguments": args.to_string() } }] }));
                out.push(json!({ "role": "tool", "tool_call_id": id, "content": result }));
            }
            Form::Anthropic => {
                out.push(json!({ "role": "user", "content": ask }));
                out.push(json!({ "role": "assistant", "content": [{ "type": "text", "text": "Reading it." },
                    { "type": "tool_use", "id": id, "name": name, "input": args }] }));
                out.push(json!({ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": id, "content": result }] }));
            }
            Form::Responses => {
                out.push(json!({ "type": "message", "role": "user", "content": [{ "type": "input_text", "text": ask }] }));
                out.push(json!({ "type": "message", "role": "assistant", "content": [{ "type": "output_text", "text": "Reading it." }] }));
                out.push(json!({ "type": "function_call", "call_id": id, "name": name, "arguments": args.to_string() }));
                out.push(
                    json!({ "type": "function_call_output", "call_id": id, "output": result }),
                );
            }
        }
    }
    let body = match form {
        Form::Chat => {
            let mut messages = vec![json!({ "role": "system", "content": system })];
            messages.extend(out);
            let tools: Vec<_> = names.iter().map(|n| json!({ "type": "function", "function": { "name": n, "description": "A tool.", "parameters": schema } })).collect();
            json!({ "model": model, "messages": messages, "tools": tools, "max_tokens": 1024 })
        }
        Form::Anthropic => {
            let tools: Vec<_> = names
                .iter()
                .map(|n| json!({ "name": n, "description": "A tool.", "input_schema": schema }))
                .collect();
            json!({ "model": model, "system": system, "messages": out, "tools": tools, "max_tokens": 1024 })
        }
        Form::Responses => {
            let tools: Vec<_> = names.iter().map(|n| json!({ "type": "function", "name": n, "description": "A tool.", "parameters": schema })).collect();
            json!({ "model": model, "instructions": system, "input": out, "tools": tools, "max_output_tokens": 1024 })
        }
    };
    Box::leak(body.to_string().into_boxed_str())
}

/// The running gateway and its data directory (the test helpers start both).
struct Gateway {
    server: Server,
    db: std::path::PathBuf,
    key: String,
    /// Extra keys, for the rotation scenario.
    keys: Vec<String>,
    _env: Env,
}

fn start_gateway(fake: &Fake, extra_keys: usize) -> Gateway {
    let env = Env::new();
    env.account_on("anthropic", "claude", &fake.url(), "sk-bench", &[]);
    env.account_on(
        "openai",
        "oai",
        &format!("{}/v1", fake.url()),
        "sk-bench",
        &["--models", "gpt-4o"],
    );
    // Serves chat and Responses clients asking for this name by translation to Anthropic
    // Messages.
    env.account_on(
        "anthropic",
        "claude-for-chat",
        &fake.url(),
        "sk-bench",
        &["--model-map", "gpt-4o-via-claude=claude-sonnet-4-5"],
    );
    // Serves Anthropic clients asking for this name by translation to chat.
    env.account_on(
        "openai",
        "oai-for-claude",
        &format!("{}/v1", fake.url()),
        "sk-bench",
        &[
            "--models",
            "gpt-4o",
            "--model-map",
            "claude-via-chat=gpt-4o",
        ],
    );
    // Under a cost limit a model needs a price (unpriced ones are refused); OpenAI's list price.
    env.data.ok(
        &["price", "set", "gpt-4o", "--input", "2.5", "--output", "10"],
        "",
    );
    // Every limit switched on, set high enough never to refuse: the checks still run.
    let (_, key) = env.key_with(
        "bench",
        &[
            "--requests",
            "100000000",
            "--window-minutes",
            "60",
            "--concurrency",
            "5000",
            "--daily-tokens",
            "100000000000",
            "--daily-cost",
            "1000000",
            "--weekly-cost",
            "1000000",
        ],
    );
    let db = env.data.db();
    let keys = seed_keys(&db, extra_keys);
    Gateway {
        server: env.spawn_serve(&[]),
        db,
        key,
        keys,
        _env: env,
    }
}

/// Inserts `n` member keys straight into the database (a fixture: the CLI would take minutes).
fn seed_keys(db: &std::path::Path, n: usize) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut conn = rusqlite::Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("acp_bench{i:040}");
        let hash: String = Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        tx.execute(
            "INSERT INTO api_keys (group_id, name, key_hash, key_prefix) VALUES (1, ?1, ?2, ?3)",
            rusqlite::params![format!("k{i}"), hash, &key[..12]],
        )
        .unwrap();
        keys.push(key);
    }
    tx.commit().unwrap();
    keys
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) the process has used so far, in microseconds.
fn cpu_micros(pid: u32) -> u64 {
    stat_cpu_micros(std::path::Path::new(&format!("/proc/{pid}/stat")))
}

/// CPU time (user + system) from a process's or thread's `stat` file, in microseconds.
fn stat_cpu_micros(path: &std::path::Path) -> u64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state; utime and stime
    // are the 12th and 13th after it, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<u64>() * 10_000
}

fn ok_rows(db: &std::path::Path) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM api_key_request_log WHERE status_code BETWEEN 200 AND 299",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

/// Waits (bounded) for the usage rows of `expected` 2xx answers; returns how many are missing.
/// Every answered request is already in the journal; after an overload the committer may need
/// a while to catch up, which is lag, not loss — hence the long wait.
fn missing_rows(db: &std::path::Path, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = ok_rows(db);
        if rows >= expected || Instant::now() > deadline {
            return expected.saturating_sub(rows);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Default)]
struct Stats {
    /// Latency (or time to first byte for streams) of each request, in microseconds.
    lat: Vec<u32>,
    ok: u64,
    errors: u64,
    /// Time inside the gateway by its `Server-Timing` header, in microseconds.
    inside: Vec<u32>,
    /// Streams: gaps between frames longer than the pace plus 100 ms.
    stalls: u64,
    elapsed: Duration,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.lat.extend(o.lat);
        self.inside.extend(o.inside);
        self.ok += o.ok;
        self.errors += o.errors;
        self.stalls += o.stalls;
        self.elapsed += o.elapsed;
    }

    fn pct(&mut self, p: f64) -> u32 {
        percentile(&mut self.lat, p)
    }

    fn rps(&self) -> f64 {
        (self.ok + self.errors) as f64 / self.elapsed.as_secs_f64()
    }
}

fn percentile(v: &mut [u32], p: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// The gateway's own time from `Server-Timing: gateway;dur=<ms>, ...`, in microseconds.
fn inside_micros(headers: &http::HeaderMap) -> Option<u32> {
    let v = headers.get("server-timing")?.to_str().ok()?;
    let ms: f64 = v
        .split(',')
        .find_map(|m| m.trim().strip_prefix("gateway;dur="))?
        .parse()
        .ok()?;
    Some((ms * 1000.0) as u32)
}

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    path: &'static str,
    body: &'static str,
    key: String,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Option<Sender> {
    let tcp = TcpStream::connect(addr).await.ok()?;
    tcp.set_nodelay(true).ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

fn request(t: &Target, key: &str) -> Request<Full<Bytes>> {
    Request::post(t.path)
        .header("host", "bench")
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", key)
        .header("authorization", format!("Bearer {key}"))
        .body(Full::new(Bytes::from_static(t.body.as_bytes())))
        .unwrap()
}

/// One connection sending requests back to back until `until`. For streams, the latency is the
/// time to the first body frame, and slow gaps between frames are counted.
async fn worker(
    t: Target,
    keys: Arc<Vec<String>>,
    until: Instant,
    pace: Option<Duration>,
    offset: usize,
) -> Stats {
    let mut s = Stats::default();
    let Some(mut sender) = connect(t.addr).await else {
        s.errors += 1;
        return s;
    };
    let mut n = offset;
    while Instant::now() < until {
        let key = if keys.is_empty() {
            &t.key
        } else {
            &keys[n % keys.len()]
        };
        n += 1;
        let start = Instant::now();
        if sender.ready().await.is_err() {
            match connect(t.addr).await {
                Some(c) => sender = c,
                None => {
                    s.errors += 1;
                    continue;
                }
            }
        }
        let resp = match sender.send_request(request(&t, key)).await {
            Ok(r) => r,
            Err(_) => {
                s.errors += 1;
                continue;
            }
        };
        let ok = resp.status().is_success();
        s.inside.extend(inside_micros(resp.headers()));
        let mut body = resp.into_body();
        let mut first = None;
        let mut last = Instant::now();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if frame.is_data() {
                let now = Instant::now();
                if first.is_none() {
                    first = Some(now);
                } else if let Some(p) = pace
                    && now - last > p + Duration::from_millis(100)
                {
                    s.stalls += 1;
                }
                last = now;
            }
        }
        let end = if pace.is_some() {
            first.unwrap_or(last)
        } else {
            Instant::now()
        };
        s.lat
            .push((end - start).as_micros().min(u32::MAX as u128) as u32);
        if ok {
            s.ok += 1;
        } else {
            s.errors += 1;
        }
    }
    s
}

async fn closed_loop(
    t: &Target,
    keys: Arc<Vec<String>>,
    conc: usize,
    dur: Duration,
    pace: Option<Duration>,
) -> Stats {
    let until = Instant::now() + dur;
    let started = Instant::now();
    let tasks: Vec<_> = (0..conc)
        .map(|i| tokio::spawn(worker(t.clone(), keys.clone(), until, pace, i * 7919)))
        .collect();
    let mut all = Stats::default();
    for task in tasks {
        all.merge(task.await.unwrap());
    }
    all.elapsed = started.elapsed();
    all
}

/// Requests at a fixed rate, each timed from when it was due (no coordinated omission).
async fn open_loop(t: &Target, rate: u64, dur: Duration) -> Stats {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u32, Option<u32>, bool)>();
    let pool: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(4096)
            .build({
                let mut c = hyper_util::client::legacy::connect::HttpConnector::new();
                c.set_nodelay(true);
                c
            });
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let total = (rate as f64 * dur.as_secs_f64()) as u64;
    for _ in 0..total {
        let due = tick.tick().await;
        let (pool, tx, t) = (pool.clone(), tx.clone(), t.clone());
        tokio::spawn(async move {
            let mut req = request(&t, &t.key);
            *req.uri_mut() = format!("http://{}{}", t.addr, t.path).parse().unwrap();
            let (ok, inside) = match pool.request(req).await {
                Ok(r) => {
                    let ok = r.status().is_success();
                    let inside = inside_micros(r.headers());
                    (ok && r.into_body().collect().await.is_ok(), inside)
                }
                Err(_) => (false, None),
            };
            let _ = tx.send((
                due.elapsed().as_micros().min(u32::MAX as u128) as u32,
                inside,
                ok,
            ));
        });
    }
    drop(tx);
    let mut s = Stats::default();
    while let Some((lat, inside, ok)) = rx.recv().await {
        s.lat.push(lat);
        s.inside.extend(inside);
        if ok {
            s.ok += 1;
        } else {
            s.errors += 1;
        }
    }
    s.elapsed = started.elapsed();
    s
}

/// The usage pipeline alone, as the gateway runs it: `n` request records from 64 tasks at
/// once, each journaled before `record` returns, committed to SQLite in batches behind. Returns
/// rows per second (until every row is committed) and how many rows are missing.
fn usage_pipeline(n: usize) -> (f64, u64) {
    use aicarpool::domain::Outcome;
    use aicarpool::gateway::meter::Meter;
    use aicarpool::store::{Db, migrate, usage};
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("usage.db");
    migrate::prepare(&db_path, &dir.path().join("backups")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = Db::open(&db_path).unwrap();
        db.write(|c| {
            c.execute_batch(
                "INSERT INTO groups (id, name) VALUES (1, 'bench');
                 INSERT INTO api_keys (id, group_id, name, key_hash, key_prefix)
                 VALUES (1, 1, 'bench', printf('%064d', 0), 'acp_');",
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let meter = Arc::new(
            Meter::open(
                db.clone(),
                &dir.path().join("journal"),
                Default::default(),
                aicarpool::tasks::Shutdown::never(),
            )
            .await
            .unwrap(),
        );
        let started = Instant::now();
        let per_task = n / 64;
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let meter = meter.clone();
                tokio::spawn(async move {
                    for i in 0..per_task {
                        let now = aicarpool::store::now_ms();
                        meter
                            .record(usage::Record {
                                request_id: format!("{now:012x}{t:08x}{i:012x}"),
                                api_key_id: 1,
                                group_id: 1,
                                account_id: None,
                                protocol: "anthropic".into(),
                                endpoint: "/v1/messages".into(),
                                model: Some("claude-sonnet-4-5".into()),
                                upstream_model: None,
                                stream: false,
                                status_code: 200,
                                outcome: Outcome::Ok,
                                error_message: None,
                                input_tokens: 11,
                                output_tokens: 22,
                                cache_creation_input_tokens: 5,
                                cache_read_input_tokens: 3,
                                cost_nanos: Some(382_650),
                                attempts: 1,
                                client: "sdk".into(),
                                user_agent: Some("bench".into()),
                                started_at: now,
                                duration_ms: 1,
                                first_byte_ms: Some(1),
                                day: "2026-11-23".into(),
                                translated: false,
                                tried: Vec::new(),
                            })
                            .await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        meter.flush().await;
        let secs = started.elapsed().as_secs_f64();
        let rows: i64 = db
            .read(
                |c| Ok(c.query_row("SELECT count(*) FROM api_key_request_log", [], |r| r.get(0))?),
            )
            .await
            .unwrap();
        let sent = (per_task * 64) as u64;
        (sent as f64 / secs, sent.saturating_sub(rows as u64))
    })
}

struct Row {
    name: String,
    direct: Option<(f64, u32, u32, u32)>,
    /// The same load through the bare relay, and its CPU time per request (µs).
    floor: Option<((f64, u32, u32, u32), f64)>,
    gateway: (f64, u32, u32, u32),
    errors: u64,
    stalls: u64,
    missing: Option<u64>,
    rss_mb: f64,
    /// Gateway CPU time (all threads, user + system) per request, in microseconds.
    cpu_per_req: f64,
    /// p50 and p99 of the gateway's own time (`Server-Timing`), in microseconds.
    inside: (u32, u32),
    /// p50 of the gateway's own time for the untranslated twin, run in turns with this one.
    twin_inside: Option<u32>,
}

/// Whether `--only TEXT` picks the scenario `name`: TEXT is in it, or ends it when TEXT ends
/// in `$`; every scenario without `--only`.
fn picked(only: Option<&str>, name: &str) -> bool {
    match only {
        None => true,
        Some(o) => match o.strip_suffix('$') {
            Some(end) => name.ends_with(end),
            None => name.contains(o),
        },
    }
}

fn summary(s: &mut Stats) -> (f64, u32, u32, u32) {
    (s.rps(), s.pct(0.5), s.pct(0.9), s.pct(0.99))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `--floor-for ADDR`: only the floor, in front of the upstream at ADDR, until killed (or,
    // for the benchmark's own floor process, until its standard input closes); it prints its
    // port (also for `benches/instructions.sh --floor`, which counts its instructions).
    if let Some(i) = args.iter().position(|a| a == "--floor-for") {
        let upstream = args[i + 1].parse().expect("--floor-for takes an address");
        let bare = floor::start(upstream);
        println!("{}", bare.addr.port());
        if args.iter().any(|a| a == floor::WHILE_STDIN_OPEN) {
            floor::wait_for_stdin_to_close();
            return;
        }
        loop {
            std::thread::park();
        }
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    // `--only TEXT`: run just the scenarios whose name contains TEXT (for profiling one); a
    // TEXT ending in `$` must end the name (`--only "anthropic non-stream, c=1$"` is not c=16).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    // `--secs N`: seconds per scenario and side (default 3; 1 for the smoke run).
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if smoke { 1.0 } else { 3.0 });
    let dur = Duration::from_secs_f64(secs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = Fake::start();
    fake.quiet();
    // `--floor-in-process`: the floor on a runtime of this process, as it ran until
    // 2026-12-07, instead of a process of its own (see `floor::spawn`).
    let bare = if args.iter().any(|a| a == "--floor-in-process") {
        floor::start(fake.addr)
    } else {
        floor::spawn(fake.addr)
    };
    let gw = start_gateway(&fake, if smoke { 0 } else { 10_000 });
    let pid = gw.server.pid();
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = rss_kb(pid) as f64 / 1024.0;
    let direct = |path, body| Target {
        addr: fake.addr,
        path,
        body,
        key: "direct".into(),
    };
    let through = |path, body| Target {
        addr: gw.server.addr,
        path,
        body,
        key: gw.key.clone(),
    };
    let floored = |path, body| Target {
        addr: bare.addr,
        path,
        body,
        key: "floor".into(),
    };
    if args.iter().any(|a| a == "--wrk") {
        with_wrk(&fake, &bare, &gw, only.as_deref(), secs.max(1.0) as u32);
        return;
    }
    let none = Arc::new(Vec::new());
    let mut rows: Vec<Row> = Vec::new();
    let mut expected_ok = ok_rows(&gw.db);

    let mut compare = |name: String,
                       d: Option<Target>,
                       g: Target,
                       keys: Arc<Vec<String>>,
                       conc: usize,
                       pace: Option<Duration>,
                       open_rate: Option<u64>,
                       twin: Option<Target>| {
        if !picked(only.as_deref(), &name) {
            return;
        }
        let run = |t: &Target, keys: Arc<Vec<String>>, dur: Duration| {
            rt.block_on(async {
                match open_rate {
                    Some(rate) => open_loop(t, rate, dur).await,
                    None => closed_loop(t, keys, conc, dur, pace).await,
                }
            })
        };
        // The floor for the plain request scenarios: the same path, through the bare relay.
        // The fake alone, the floor and the gateway take turns in short slices (in that
        // order, then the reverse, and so on), so that a machine slowing down or speeding up
        // mid-run weighs on all three alike: an "added" time is a side's latency minus the
        // fake's alone, and with the fake measured once before the others, a drift of 40 µs
        // between the two moved the c=1 ratio of added p50s from 1.3× to 2.3× and back. Not
        // at 256 connections: opening that many again for every slice cost each side about
        // 40 % of its throughput there.
        let floored_too = d.is_some() && open_rate.is_none() && pace.is_none();
        // A translated scenario takes turns the same way with its untranslated twin, so that
        // the difference in the gateway's own time is translation's, not the machine's drift.
        let paired = floored_too || twin.is_some();
        let slices = if paired && conc <= 64 { SLICES } else { 1 };
        // Without a floor, the fake alone runs once, before the gateway.
        let mut ds = match &d {
            Some(d) if !floored_too => Some(run(d, none.clone(), dur)),
            _ => None,
        };
        let (mut fs, mut fcpu) = (Stats::default(), 0);
        let (mut gs, mut cpu) = (Stats::default(), 0);
        let mut ts = Stats::default();
        // The fake alone and the floor, or the twin; `first` says whether this turn opens
        // the round (fake, floor) or closes it (floor, fake).
        let mut partner_slice = |first: bool| {
            if let Some(t) = &twin {
                ts.merge(run(t, keys.clone(), dur / slices));
                return;
            }
            let mut direct_slice = || {
                if let Some(d) = d.as_ref() {
                    ds.get_or_insert_default()
                        .merge(run(d, none.clone(), dur / slices));
                }
            };
            if first {
                direct_slice();
            }
            let before = bare.cpu_micros();
            fs.merge(run(&floored(g.path, g.body), none.clone(), dur / slices));
            fcpu += bare.cpu_micros() - before;
            if !first {
                direct_slice();
            }
        };
        let mut gateway_slice = || {
            let before = cpu_micros(pid);
            gs.merge(run(&g, keys.clone(), dur / slices));
            cpu += cpu_micros(pid) - before;
        };
        for i in 0..slices {
            if paired && i % 2 == 0 {
                partner_slice(true);
            }
            gateway_slice();
            if paired && i % 2 == 1 {
                partner_slice(false);
            }
        }
        let direct = ds.as_mut().map(summary);
        let floor = floored_too.then(|| {
            let per_req = fcpu as f64 / (fs.ok + fs.errors).max(1) as f64;
            (summary(&mut fs), per_req)
        });
        let rss = rss_kb(pid) as f64 / 1024.0;
        let counts_rows = g.path != "/v1/none";
        expected_ok += if counts_rows { gs.ok + ts.ok } else { 0 };
        let missing = counts_rows.then(|| missing_rows(&gw.db, expected_ok));
        if let Some(m) = missing {
            expected_ok -= m;
        }
        rows.push(Row {
            name,
            direct,
            floor,
            gateway: summary(&mut gs),
            errors: gs.errors,
            stalls: gs.stalls,
            missing,
            rss_mb: rss,
            cpu_per_req: cpu as f64 / (gs.ok + gs.errors).max(1) as f64,
            inside: (
                percentile(&mut gs.inside, 0.5),
                percentile(&mut gs.inside, 0.99),
            ),
            twin_inside: (!ts.inside.is_empty()).then(|| percentile(&mut ts.inside, 0.5)),
        });
    };

    if smoke {
        compare(
            "anthropic non-stream, c=1".into(),
            Some(direct("/v1/messages", MESSAGES)),
            through("/v1/messages", MESSAGES),
            none.clone(),
            1,
            None,
            None,
            None,
        );
    } else {
        for c in [1, 16, 64, 256] {
            compare(
                format!("anthropic non-stream, c={c}"),
                Some(direct("/v1/messages", MESSAGES)),
                through("/v1/messages", MESSAGES),
                none.clone(),
                c,
                None,
                None,
                None,
            );
        }
        for c in [1, 64] {
            compare(
                format!("openai chat non-stream, c={c}"),
                Some(direct("/v1/chat/completions", CHAT)),
                through("/v1/chat/completions", CHAT),
                none.clone(),
                c,
                None,
                None,
                None,
            );
        }
        // Translation's own cost: the same 10 kB conversation with tools, as Anthropic
        // Messages to the Anthropic account, as chat and Responses translated to it, and as
        // Anthropic Messages translated to chat.
        let anthropic_10k = conversation(Form::Anthropic, "claude-sonnet-4-5");
        let chat_10k = conversation(Form::Chat, "gpt-4o-via-claude");
        let responses_10k = conversation(Form::Responses, "gpt-4o-via-claude");
        let to_chat_10k = conversation(Form::Anthropic, "claude-via-chat");
        for c in [1, 64] {
            compare(
                format!("10 kB with tools, untranslated, c={c}"),
                Some(direct("/v1/messages", anthropic_10k)),
                through("/v1/messages", anthropic_10k),
                none.clone(),
                c,
                None,
                None,
                None,
            );
            for (name, path, body) in [
                ("chat → Anthropic", "/v1/chat/completions", chat_10k),
                ("Responses → Anthropic", "/v1/responses", responses_10k),
                ("Anthropic → chat", "/v1/messages", to_chat_10k),
            ] {
                compare(
                    format!("10 kB with tools, {name}, c={c}"),
                    None,
                    through(path, body),
                    none.clone(),
                    c,
                    None,
                    None,
                    Some(through("/v1/messages", anthropic_10k)),
                );
            }
        }
        let mut bad = through("/v1/messages", MESSAGES);
        bad.key = "acp_not_a_key".into();
        compare(
            "bad-key rejections, c=64".into(),
            None,
            Target {
                path: "/v1/none",
                ..bad
            },
            none.clone(),
            64,
            None,
            None,
            None,
        );
        let keys = Arc::new(gw.keys.clone());
        compare(
            "10 000 keys rotated, c=64".into(),
            None,
            through("/v1/messages", MESSAGES),
            keys,
            64,
            None,
            None,
            None,
        );
        for rate in [1_000, 5_000, 10_000] {
            compare(
                format!("open loop {rate}/s"),
                Some(direct("/v1/messages", MESSAGES)),
                through("/v1/messages", MESSAGES),
                none.clone(),
                0,
                None,
                Some(rate),
                None,
            );
        }
        fake.set(Reply::Stream {
            pace: Duration::ZERO,
        });
        compare(
            "SSE unpaced, c=16 (TTFB)".into(),
            Some(direct("/v1/messages", MESSAGES_STREAM)),
            through("/v1/messages", MESSAGES_STREAM),
            none.clone(),
            16,
            Some(Duration::ZERO),
            None,
            None,
        );
        let pace = Duration::from_millis(20);
        fake.set(Reply::Stream { pace });
        for c in [100, 1000, 2000] {
            compare(
                format!("SSE 11 events at 20 ms, {c} streams (TTFB)"),
                Some(direct("/v1/messages", MESSAGES_STREAM)),
                through("/v1/messages", MESSAGES_STREAM),
                none.clone(),
                c,
                Some(pace),
                None,
                None,
            );
        }
        fake.set(Reply::Message);
        fake.set_delay(Duration::from_millis(60));
        compare(
            "60 ms upstream, 1000 in flight".into(),
            Some(direct("/v1/messages", MESSAGES)),
            through("/v1/messages", MESSAGES),
            none.clone(),
            1000,
            None,
            None,
            None,
        );
        fake.set_delay(Duration::ZERO);
    }
    let pipeline = if only.is_none() {
        Some(usage_pipeline(if smoke { 20_000 } else { 300_000 }))
    } else {
        None
    };
    // `--after N`: seconds to wait before the last memory reading (default 30; 1 for the
    // smoke run and for `--only`).
    let after = args
        .iter()
        .position(|a| a == "--after")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if smoke || only.is_some() { 1 } else { 30 });
    std::thread::sleep(Duration::from_secs(after));
    let rss_after = rss_kb(pid) as f64 / 1024.0;

    println!(
        "\n| scenario | req/s direct | req/s gateway | p50 / p90 / p99 gateway (µs) | added p50 / p99 (µs) | inside gateway p50 / p99 (µs) | gateway CPU per request (µs) | errors | stalls | rows missing | gateway RSS (MB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut gross = Vec::new();
    for r in &rows {
        let (grps, g50, g90, g99) = r.gateway;
        let (drps, added) = match r.direct {
            Some((drps, d50, _, d99)) => (
                format!("{drps:.0}"),
                format!("{} / {}", g50 as i64 - d50 as i64, g99 as i64 - d99 as i64),
            ),
            None => ("-".into(), "-".into()),
        };
        let missing = r.missing.map_or("-".into(), |m| m.to_string());
        println!(
            "| {} | {drps} | {grps:.0} | {g50} / {g90} / {g99} | {added} | {} / {} | {:.0} | {} | {} | {missing} | {:.1} |",
            r.name, r.inside.0, r.inside.1, r.cpu_per_req, r.errors, r.stalls, r.rss_mb
        );
        if r.missing.is_some_and(|m| m > 0) {
            gross.push(format!("{}: {missing} usage rows missing", r.name));
        }
        if let Some((_, d50, _, _)) = r.direct
            && r.name.ends_with("c=1")
            && g50 as i64 - d50 as i64 > 1_000
        {
            gross.push(format!(
                "{}: added p50 {} µs (Nagle or delayed ACK?)",
                r.name,
                g50 as i64 - d50 as i64
            ));
        }
    }
    println!(
        "\n| scenario | req/s floor / gateway (ratio) | added p50 floor / gateway (µs, ratio) | p99 floor / gateway (µs, ratio) | CPU per request floor / gateway (µs, ratio) |"
    );
    println!("|---|---|---|---|---|");
    for r in &rows {
        let (Some(((frps, f50, _, f99), fcpu)), Some((_, d50, _, _))) = (r.floor, r.direct) else {
            continue;
        };
        let (grps, g50, _, g99) = r.gateway;
        let (fa, ga) = (f50 as i64 - d50 as i64, g50 as i64 - d50 as i64);
        println!(
            "| {} | {frps:.0} / {grps:.0} ({:.0} %) | {fa} / {ga} ({:.2}×) | {f99} / {g99} ({:.2}×) | {fcpu:.0} / {:.0} ({:.2}×) |",
            r.name,
            100.0 * grps / frps.max(1.0),
            ga as f64 / fa.max(1) as f64,
            g99 as f64 / f99.max(1) as f64,
            r.cpu_per_req,
            r.cpu_per_req / fcpu.max(1.0),
        );
    }
    println!(
        "\n| scenario | inside gateway p50, untranslated twin / translated (µs) | added by translation (µs) |"
    );
    println!("|---|---|---|");
    for r in &rows {
        if let Some(t50) = r.twin_inside {
            let g50 = r.inside.0;
            println!(
                "| {} | {t50} / {g50} | {} |",
                r.name,
                g50 as i64 - t50 as i64
            );
        }
    }
    println!(
        "\ngateway RSS: idle {rss_idle:.1} MB, {after} s after the load {rss_after:.1} MB; {} usage rows written",
        ok_rows(&gw.db)
    );
    if let Some((rate, missing)) = pipeline {
        println!(
            "usage pipeline alone (journal, then batched commits; 64 tasks): {rate:.0} rows/s, {missing} rows missing"
        );
        if missing > 0 {
            gross.push(format!("usage pipeline: {missing} rows missing"));
        }
    }
    if !gross.is_empty() {
        eprintln!("gross regression:\n  {}", gross.join("\n  "));
        std::process::exit(1);
    }
}

/// `--wrk`: the plain request scenarios driven by `wrk` instead of this process's own load
/// generator (see `support/outside.rs`); `--secs N` one-second slices a side.
fn with_wrk(fake: &Fake, bare: &floor::Floor, gw: &Gateway, only: Option<&str>, slices: u32) {
    let pid = gw.server.pid();
    let gateway_cpu = || cpu_micros(pid);
    println!(
        "\n| scenario (wrk) | req/s floor / gateway (ratio) | added p50 floor / gateway (µs, ratio) | p99 floor / gateway (µs, ratio) | p50 / p90 / p99 direct, floor, gateway (µs) | CPU per request floor / gateway (µs, ratio) | errors |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (protocol, path, body) in [
        ("anthropic", "/v1/messages", MESSAGES),
        ("openai chat", "/v1/chat/completions", CHAT),
    ] {
        for c in [1, 64] {
            let name = format!("{protocol} non-stream, c={c}");
            if !picked(only, &name) {
                continue;
            }
            let load = outside::Load {
                path,
                body,
                key: &gw.key,
                connections: c,
            };
            let (d, f, g) = outside::compare(
                &load,
                slices,
                fake.addr,
                (bare.addr, &|| bare.cpu_micros()),
                (gw.server.addr, &gateway_cpu),
            );
            let ((d50, d90, d99), (f50, f90, f99), (g50, g90, g99)) =
                (d.percentiles(), f.percentiles(), g.percentiles());
            let (fa, ga) = (f50 as i64 - d50 as i64, g50 as i64 - d50 as i64);
            println!(
                "| {name} | {:.0} / {:.0} ({:.0} %) | {fa} / {ga} ({:.2}×) | {f99} / {g99} ({:.2}×) | {d50} / {d90} / {d99}, {f50} / {f90} / {f99}, {g50} / {g90} / {g99} | {:.0} / {:.0} ({:.2}×) | {} |",
                f.rps(),
                g.rps(),
                100.0 * g.rps() / f.rps().max(1.0),
                ga as f64 / fa.max(1) as f64,
                g99 as f64 / f99.max(1) as f64,
                f.cpu_per_request(),
                g.cpu_per_request(),
                g.cpu_per_request() / f.cpu_per_request().max(1.0),
                d.errors() + f.errors() + g.errors(),
            );
        }
    }
}
