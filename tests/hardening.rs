//! Faults and attackers: kill -9 in a loop under streaming load, secrets at debug log level,
//! malformed and hostile requests, and misbehaving upstreams.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::env::Env;
use common::upstream::{Fake, Reply};
use common::{post_json, request};

const BODY: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
const STREAM_BODY: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

/// One request that tolerates the server dying; the raw response, if any.
fn try_request(addr: SocketAddr, key: &str, body: &str) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: {key}\r\n\
         content-type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    (!raw.is_empty()).then_some(raw)
}

/// The request ids of responses a client received whole, until the server goes away.
fn client_loop(addr: SocketAddr, key: String, stream: bool) -> Vec<String> {
    let mut completed = Vec::new();
    let body = if stream { STREAM_BODY } else { BODY };
    while let Some(raw) = try_request(addr, &key, body) {
        if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
            continue;
        }
        let resp = common::parse_response(&raw);
        let whole = if stream {
            resp.body.contains("event: message_stop")
        } else {
            resp.status == 200 && serde_json::from_str::<serde_json::Value>(&resp.body).is_ok()
        };
        if whole {
            completed.push(resp.header("x-aicarpool-request-id").unwrap().to_owned());
        }
    }
    completed
}

#[test]
fn kill_9_at_random_moments_loses_no_row_and_duplicates_none() {
    const ROUNDS: usize = 12;
    let env = Env::new();
    let fake = Fake::start();
    fake.set(Reply::Stream {
        pace: Duration::from_millis(3),
    });
    env.account("main", &fake.url(), "sk-main", &[]);
    let key = env.key("alice");
    let mut completed: Vec<String> = Vec::new();
    for _ in 0..ROUNDS {
        let mut server = env.spawn_serve(&[]);
        let addr = server.addr;
        let clients: Vec<_> = (0..8)
            .map(|i| {
                let key = key.clone();
                std::thread::spawn(move || client_loop(addr, key, i % 4 != 0))
            })
            .collect();
        // A different moment each round: early in a stream, between commits, mid-batch.
        std::thread::sleep(Duration::from_millis(150 + fastrand::u64(0..900)));
        server.child().kill().unwrap();
        server.child().wait().unwrap();
        let got: Vec<String> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        completed.extend(got);
    }
    // Some rounds may end before any response completes (a loaded machine); the run as a
    // whole must have exercised plenty.
    assert!(
        completed.len() >= ROUNDS * 4,
        "only {} completed",
        completed.len()
    );
    // A last start replays whatever the journal still holds.
    let _server = env.serve(&[]);
    let rows = env.rows(completed.len());
    let c = rusqlite::Connection::open(env.data.db()).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let logged: HashSet<&str> = rows
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(logged.len(), rows.len(), "a request is logged twice");
    for id in &completed {
        assert!(
            logged.contains(id.as_str()),
            "{id} was answered whole but has no row"
        );
    }
    // The daily rollup counts exactly the rows, and the account is still healthy.
    let (rolled, tokens): (i64, i64) = c
        .query_row(
            "SELECT sum(requests), sum(input_tokens) FROM usage_daily",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let (logged_n, logged_tokens): (i64, i64) = c
        .query_row(
            "SELECT count(*), sum(input_tokens) FROM api_key_request_log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((rolled, tokens), (logged_n, logged_tokens));
    assert_eq!(env.status(1), "ACTIVE");
    eprintln!(
        "kill -9: {ROUNDS} rounds, {} responses completed, {} rows checked",
        completed.len(),
        rows.len()
    );
}

#[test]
fn no_secret_reaches_the_logs_the_database_the_api_or_metrics() {
    use common::admin::{Admin, PASSWORD, USER, login, make_admin};
    let env = Env::new();
    make_admin(&env.data, USER);
    let fake = Fake::start();
    let secrets = [
        "sk-ant-api03-SECRET-anthropic-0001",
        "sk-console-SECRET-0002",
        "sk-openai-SECRET-0003",
        "AIzaSECRET-gemini-0004",
        "proxy-pass-SECRET-0005",
    ];
    env.account("anthropic", &fake.url(), secrets[0], &[]);
    env.account_on(
        "claude-console",
        "console",
        &fake.url(),
        secrets[1],
        &["--models", "claude-x"],
    );
    env.account_on(
        "openai",
        "openai",
        &format!("{}/v1", fake.url()),
        secrets[2],
        &["--models", "gpt-4o"],
    );
    env.account_on(
        "gemini",
        "gemini",
        &fake.url(),
        secrets[3],
        &["--models", "gemini-2.5-flash"],
    );
    env.data.ok(&["group", "create", "elsewhere"], "");
    env.data.json(
        &[
            "account",
            "create",
            "--name",
            "proxied",
            "--platform",
            "anthropic",
            "--group",
            "elsewhere",
            "--proxy",
            "http://proxyuser@127.0.0.1:9",
            "--proxy-password-stdin",
        ],
        &format!("sk-ant-proxied-SECRET-0006\n{}\n", secrets[4]),
    );
    let key = env.key("alice");
    let revoked = env.key("bob");
    env.data.ok(&["key", "revoke", "2"], "");
    let metrics_token = "metrics-SECRET-0007";
    let hook = Fake::start();
    let hook_url = format!("{}/hook/SECRET-0008", hook.url());
    let server = env.data.serve_env(
        &["--error-threshold", "1"],
        &[
            ("AICARPOOL_LOG", "debug".to_owned()),
            ("AICARPOOL_METRICS_TOKEN", metrics_token.to_owned()),
            ("AICARPOOL_WEBHOOK_URL", hook_url.clone()),
        ],
    );

    // A workload over every protocol, with failures, bad keys and admin traffic.
    let mut responses = Vec::new();
    let mut keep = |r: common::Resp| responses.push(format!("{:?} {}", r.headers, r.body));
    keep(post_json(
        &server,
        "/v1/messages",
        &[("x-api-key", &key)],
        BODY,
    ));
    keep(post_json(
        &server,
        "/v1/messages",
        &[("authorization", &format!("Bearer {key}"))],
        STREAM_BODY,
    ));
    keep(post_json(
        &server,
        "/v1/messages",
        &[("x-api-key", &key)],
        &BODY.replace("claude-sonnet-4-5", "claude-x"),
    ));
    keep(post_json(
        &server,
        "/v1/chat/completions",
        &[("authorization", &format!("Bearer {key}"))],
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
    ));
    keep(post_json(
        &server,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[("x-goog-api-key", &key)],
        r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#,
    ));
    keep(post_json(
        &server,
        "/v1/messages",
        &[("x-api-key", &revoked)],
        BODY,
    ));
    keep(post_json(
        &server,
        "/v1/messages",
        &[("x-api-key", "acp_guessing-SECRET-0009")],
        BODY,
    ));
    fake.set(Reply::Status(
        401,
        vec![],
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#
            .into(),
    ));
    keep(post_json(
        &server,
        "/v1/messages",
        &[("x-api-key", &key)],
        BODY,
    ));
    fake.set(Reply::Auto);
    keep(login(server.addr, USER, "wrong-password-SECRET-0010"));
    let admin = Admin::sign_in(server.addr);
    for path in [
        "/accounts",
        "/accounts/1",
        "/accounts/5",
        "/keys",
        "/groups",
        "/settings",
        "/audit",
        "/requests",
        "/dashboard?range=24h",
        "/usage?by=key",
        "/prices",
    ] {
        keep(admin.send("GET", path, ""));
    }
    keep(admin.send("POST", "/accounts/1/test", "{}"));
    keep(request(
        server.addr,
        "GET",
        "/metrics",
        &[("authorization", &format!("Bearer {metrics_token}"))],
        b"",
    ));
    env.rows(6);
    std::thread::sleep(Duration::from_millis(1500)); // the webhook task's poll
    let cookie_token = admin.cookie.split('=').nth(1).unwrap().to_owned();
    drop(admin);

    let logs = server.logs.lock().unwrap().join("\n");
    assert!(logs.contains("DEBUG"), "the workload ran at debug level");
    let responses = responses.join("\n");
    let stored = common::all_bytes(&env.data.path());
    let mut everywhere: Vec<&str> = secrets.to_vec();
    everywhere.extend([
        "sk-ant-proxied-SECRET-0006",
        metrics_token,
        "SECRET-0008",
        "acp_guessing-SECRET-0009",
        "wrong-password-SECRET-0010",
        PASSWORD,
        key.as_str(),
        revoked.as_str(),
        cookie_token.as_str(),
    ]);
    for secret in &everywhere {
        assert!(!logs.contains(secret), "the log shows {secret}");
        assert!(
            !responses.contains(secret),
            "an API response shows {secret}"
        );
        assert!(
            !common::contains(&stored, secret),
            "the data directory holds {secret} in plaintext"
        );
    }
    eprintln!(
        "secrets: {} checked against {} log lines, {} bytes of responses, {} bytes on disk",
        everywhere.len(),
        logs.lines().count(),
        responses.len(),
        stored.len()
    );
}

/// Writes raw bytes and reads until the server answers or closes; (status, how long).
fn raw_exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let _ = s.write_all(bytes);
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let status = std::str::from_utf8(&raw)
        .ok()
        .and_then(|t| t.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok());
    (status, started.elapsed())
}

#[test]
fn hostile_requests_get_bounded_clear_errors_and_the_server_carries_on() {
    let (_env, _fake, server, key) = Env::one_account(&[
        "--header-read-timeout-secs",
        "1",
        "--max-body-bytes",
        "65536",
    ]);
    let addr = server.addr;
    let mut tried = 0;

    // Slowloris: a request head that never ends is cut off by the header timeout.
    let (status, took) = raw_exchange(
        addr,
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: ",
        Duration::from_secs(10),
    );
    assert!(
        took < Duration::from_secs(5),
        "a slow head held a connection {took:?}"
    );
    assert!(status.is_none() || status == Some(408), "{status:?}");
    tried += 1;

    // A header flood: far past the header size limit.
    let mut flood = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..3000 {
        flood.extend_from_slice(format!("x-filler-{i}: {}\r\n", "a".repeat(40)).as_bytes());
    }
    flood.extend_from_slice(b"\r\n");
    let (status, _) = raw_exchange(addr, &flood, Duration::from_secs(5));
    assert!(status.is_none() || status == Some(431), "{status:?}");
    tried += 1;

    // Absurd and oversized declared lengths: refused before any body is read.
    for (length, want) in [("99999999999999999999999", 400), ("1000000000", 413)] {
        let head = format!(
            "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n\
             content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        );
        let (status, took) = raw_exchange(addr, head.as_bytes(), Duration::from_secs(5));
        assert_eq!(status, Some(want), "content-length {length}");
        assert!(took < Duration::from_secs(2));
        tried += 1;
    }

    // Bodies that are not JSON, not UTF-8, or nested past any sane depth: 400 in Anthropic's
    // shape, never a crash.
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    for body in [
        b"\xff\xfe{\"model\":1}".to_vec(),
        b"{\"model\": \"claude\xc3\x28\"}".to_vec(),
        deep.into_bytes(),
        b"{\"model\":".to_vec(),
        b"null".to_vec(),
    ] {
        let r = request(
            addr,
            "POST",
            "/v1/messages",
            &[("x-api-key", &key), ("content-type", "application/json")],
            &body,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        tried += 1;
    }

    // Two different keys, or a key that is not text: refused, not guessed.
    let (_, other) = _env.key_with("other", &[]);
    for headers in [
        vec![
            ("x-api-key", key.as_str()),
            ("authorization", &format!("Bearer {other}") as &str),
        ],
        vec![("x-api-key", key.as_str()), ("x-api-key", other.as_str())],
    ] {
        let mut all = headers.clone();
        all.push(("content-type", "application/json"));
        let r = request(addr, "POST", "/v1/messages", &all, BODY.as_bytes());
        assert_eq!(r.status, 401);
        assert!(r.body.contains("conflicting API keys"), "{}", r.body);
        tried += 1;
    }
    let mut raw_key =
        format!("POST /v1/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: {key}")
            .into_bytes();
    raw_key.push(0xff);
    raw_key
        .extend_from_slice(format!("\r\ncontent-length: {}\r\n\r\n{BODY}", BODY.len()).as_bytes());
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&raw_key).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let r = common::parse_response(&raw);
    assert!(r.status == 401 || r.status == 400, "{}", r.status);
    tried += 1;

    // After all that, the gateway still serves.
    let ok = post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY);
    assert_eq!(ok.status, 200);
    eprintln!("hostile inputs: {tried} tried, each refused with a bounded, clear error");
}

#[test]
fn misbehaving_upstreams_are_bounded_reported_in_the_clients_shape_and_charged() {
    let (env, fake, server, key) = Env::one_account(&["--upstream-idle-timeout-secs", "1"]);
    let send = |body: &str| post_json(&server, "/v1/messages", &[("x-api-key", &key)], body);

    // Asked for uncompressed answers, since usage is read from their bytes.
    assert_eq!(send(BODY).status, 200);
    assert_eq!(fake.seen()[0].header("accept-encoding"), Some("identity"));

    // A proxy's HTML error page becomes an error in the client's protocol, and counts
    // against the account.
    fake.set(Reply::Status(
        502,
        vec![("content-type", "text/html".to_owned())],
        format!(
            "<html><body><h1>502 Bad Gateway</h1>{}</body></html>",
            "x".repeat(5000)
        ),
    ));
    let r = send(BODY);
    assert_eq!(r.status, 502);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON, not HTML");
    assert_eq!(v["type"], "error");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("502") && !message.contains("<h1>"),
        "{message}"
    );
    assert!(message.len() < 600, "the page is not passed on whole");
    // The page's words are for the operator: in the request log, bounded.
    let logged = env.rows(1).pop().unwrap()["error_message"].to_string();
    assert!(
        logged.contains("502 Bad Gateway") && logged.len() < 600,
        "{logged}"
    );
    assert_eq!(env.account_json(1)["error_count"], 1);

    // A stream that goes silent mid-way is cut off by the idle timeout: the client gets an
    // error event, the usage sent so far is charged, the account takes an error.
    let before = env.account_json(1)["last_error_at"].as_i64().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    fake.set(Reply::Stream {
        pace: Duration::from_secs(4),
    });
    let started = Instant::now();
    let r = send(STREAM_BODY);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(r.body.contains("event: message_start"), "{}", r.body);
    assert!(r.body.contains("event: error"), "{}", r.body);
    let rows = env.rows(3);
    let last = rows.last().unwrap();
    assert_eq!(last["outcome"], "upstream_error");
    assert!(last["input_tokens"].as_i64().unwrap() > 0, "{last}");
    assert!(
        last["error_message"]
            .as_str()
            .unwrap()
            .contains("idle for 1s"),
        "{last}"
    );
    // A 200 head is no success until the answer is whole: both failures count.
    common::eventually(
        "the silent stream was not held against the account",
        Duration::from_secs(5),
        || {
            let a = env.account_json(1);
            (a["error_count"] == 2 && a["last_error_at"].as_i64().unwrap() > before).then_some(())
        },
    );
}

fn gzip(data: &[u8]) -> bytes::Bytes {
    use flate2::write::GzEncoder;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    bytes::Bytes::from(e.finish().unwrap())
}

#[test]
fn compressed_and_gigantic_answers_are_decoded_or_refused_and_charged_right() {
    use common::upstream::{message_json, stream_bytes};
    let (env, fake, server, key) = Env::one_account(&[]);
    let send = |body: &str| post_json(&server, "/v1/messages", &[("x-api-key", &key)], body);
    let json = || ("content-type", "application/json".to_owned());
    let sse = || ("content-type", "text/event-stream".to_owned());
    let gz = || ("content-encoding", "gzip".to_owned());

    // A relay that gzips despite `accept-encoding: identity`: the client gets the plain
    // answer, and its usage is charged.
    fake.set(Reply::Raw(
        200,
        vec![json(), gz()],
        gzip(message_json().as_bytes()),
    ));
    let r = send(BODY);
    assert_eq!(r.status, 200);
    assert!(r.header("content-encoding").is_none());
    assert_eq!(r.body, message_json());
    fake.set(Reply::Raw(
        200,
        vec![sse(), gz()],
        gzip(stream_bytes().as_bytes()),
    ));
    let r = send(STREAM_BODY);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, stream_bytes());
    let rows = env.rows(2);
    for row in &rows {
        assert_eq!(row["outcome"], "ok", "{row}");
        assert_eq!(row["input_tokens"], common::upstream::INPUT, "{row}");
        assert_eq!(row["output_tokens"], common::upstream::OUTPUT, "{row}");
    }

    // An encoding the gateway cannot read, a corrupt gzip body, and an answer past the 64 MiB
    // cap: 502 in Anthropic's shape, and the account is held responsible.
    let huge = bytes::Bytes::from(vec![b' '; 65 * 1024 * 1024]);
    for (reply, says) in [
        (
            Reply::Raw(
                200,
                vec![json(), ("content-encoding", "br".to_owned())],
                "x".into(),
            ),
            "content-encoding",
        ),
        (
            Reply::Raw(
                200,
                vec![json(), gz()],
                bytes::Bytes::from_static(b"not gzip"),
            ),
            "corrupt",
        ),
        (Reply::Raw(200, vec![json()], huge), "larger than"),
    ] {
        fake.set(reply);
        let r = send(BODY);
        assert_eq!(r.status, 502, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("could not be read"),
            "{}",
            r.body
        );
        common::eventually(
            "the reason is in the request log",
            Duration::from_secs(10),
            || {
                env.log()
                    .last()
                    .and_then(|row| row["error_message"].as_str().map(str::to_owned))
                    .filter(|m| m.contains(says))
            },
        );
    }
    let rows = env.rows(5);
    assert!(rows[2..].iter().all(|r| r["outcome"] == "upstream_error"));
    assert_eq!(env.status(1), "TEMP_ERROR", "three server errors in a row");
}

#[test]
fn an_http2_stream_flood_on_one_connection_is_bounded_and_served() {
    let (_env, _fake, server, _key) = Env::one_account(&[]);
    let url = format!("http://{}/healthz", server.addr);
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "--http2-prior-knowledge",
        "--parallel",
        "--parallel-immediate",
        "--parallel-max",
        "300",
        "-s",
        "-w",
        "%{http_code} %{http_version}\\n",
    ]);
    for _ in 0..1000 {
        cmd.args(["-o", "/dev/null", &url]);
    }
    let out = cmd
        .output()
        .expect("curl is needed: apt-get install -y curl");
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<&str> = text.lines().collect();
    assert_eq!(
        answers.len(),
        1000,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server lets 256 streams run at once; a client that keeps opening more past that
    // limit has its connection cut (curl reports an HTTP/2 framing error for the rest), rather
    // than the server queueing them in memory. The streams it took are all answered.
    let served = answers.iter().filter(|a| **a == "200 2").count();
    let refused = answers.iter().filter(|a| **a == "000 0").count();
    assert_eq!(served + refused, 1000, "{:?}", &answers[..5]);
    assert!(served >= 256, "only {served} streams served");
    eprintln!("h2 flood: 1000 streams on one connection, {served} served, {refused} cut off");
    assert_eq!(common::http(server.addr, "GET", "/healthz").status, 200);
}
