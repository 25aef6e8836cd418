//! The server: the `run` seam on port 0, health, the admin page's static files, unknown routes,
//! backups taken while it runs, and a clean exit on SIGTERM.

mod common;

use aicarpool::config::Config;
use common::{Data, http};
use tokio::sync::oneshot;

/// Starts `aicarpool::run` in-process on 127.0.0.1:0; returns its address and a stop switch.
async fn start(
    data: &Data,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    String,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = socket_of(std::os::fd::AsRawFd::as_raw_fd(&listener));
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config::with_data_dir(data.path());
    let task = tokio::spawn(async move {
        aicarpool::run(config, listener, async {
            let _ = stopped.await;
        })
        .await
        .expect("server runs and stops cleanly");
    });
    // The listener is already bound: requests made now wait in its backlog until run accepts.
    (addr, stop, task, socket)
}

async fn get(addr: std::net::SocketAddr, method: &'static str, path: &'static str) -> common::Resp {
    tokio::task::spawn_blocking(move || http(addr, method, path))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn health_page_and_errors_through_the_run_seam() {
    let data = Data::new();
    let (addr, stop, task, listener) = start(&data).await;

    let h = get(addr, "GET", "/healthz").await;
    assert_eq!(h.status, 200);
    let body: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    assert_eq!(body["status"], "ok");

    let page = get(addr, "GET", "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("aicarpool"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let js = get(addr, "GET", "/assets/app.js").await;
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    // Kept by the browser but revalidated: unchanged files cost a 304 and no body.
    assert_eq!(js.header("cache-control"), Some("no-cache"));
    let etag = js.header("etag").unwrap().to_owned();
    let again = tokio::task::spawn_blocking(move || {
        common::request(
            addr,
            "GET",
            "/assets/app.js",
            &[("if-none-match", &etag)],
            b"",
        )
    })
    .await
    .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    let missing = get(addr, "GET", "/nope").await;
    assert_eq!(missing.status, 404);
    assert!(serde_json::from_str::<serde_json::Value>(&missing.body).is_ok());
    assert_eq!(get(addr, "GET", "/assets/missing.js").await.status, 404);
    assert_eq!(get(addr, "POST", "/healthz").await.status, 405);

    assert!(still_open(&listener));
    stop.send(()).unwrap();
    task.await.unwrap();
    // The listening socket is closed after shutdown. (Asked of this process's own sockets, not
    // by connecting: a parallel test may already have been given the same port.)
    assert!(!still_open(&listener));
}

/// The socket behind a file descriptor of this process, as `/proc` names it.
fn socket_of(fd: i32) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Whether this process still has that socket open.
fn still_open(socket: &str) -> bool {
    std::fs::read_dir("/proc/self/fd").unwrap().any(|fd| {
        std::fs::read_link(fd.unwrap().path()).is_ok_and(|t| t.to_string_lossy() == socket)
    })
}

#[test]
fn backup_while_serving_gives_a_database_with_the_data() {
    let data = Data::new();
    data.ok(&["group", "create", "kept-team"], "");
    data.ok(
        &[
            "account",
            "create",
            "--name",
            "a",
            "--platform",
            "anthropic",
            "--group",
            "kept-team",
        ],
        "sk-test\n",
    );
    let server = data.serve();
    assert_eq!(http(server.addr, "GET", "/healthz").status, 200);
    // A write during the serve, then the backup.
    data.ok(&["group", "create", "added-while-serving"], "");
    let file = data.dir.path().join("copy.db");
    data.ok(&["backup", file.to_str().unwrap()], "");
    assert_eq!(
        http(server.addr, "GET", "/healthz").status,
        200,
        "serve keeps serving"
    );

    let c = rusqlite::Connection::open(&file).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let groups: i64 = c
        .query_row(
            "SELECT count(*) FROM groups WHERE name IN ('kept-team', 'added-while-serving')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(groups, 2);
    let accounts: i64 = c
        .query_row("SELECT count(*) FROM ai_service_accounts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(accounts, 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "a backup holds sealed secrets: owner-only");

    let err = data.fails(&["backup", file.to_str().unwrap()], "", 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn sigterm_makes_serve_exit_zero() {
    let data = Data::new();
    let server = data.spawn_serve(&[]);
    assert_eq!(http(server.addr, "GET", "/healthz").status, 200);
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "serve must exit 0 on SIGTERM");
}

#[test]
fn serve_reports_a_bad_listen_address_and_missing_tls_files() {
    let data = Data::new();
    let err = data.fails(&["serve", "--listen", "not-an-address"], "", 2);
    assert!(err.contains("--listen"), "{err}");
    let err = data.fails(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ],
        "",
        2,
    );
    assert!(err.contains("TLS certificate"), "{err}");
}

#[test]
fn the_request_threads_are_the_operator_s_to_set() {
    let data = Data::new();
    let err = data.fails(&["serve", "--worker-threads", "0"], "", 2);
    assert!(err.contains("--worker-threads"), "{err}");
    // Without the flag, one per core.
    let default = std::thread::available_parallelism().unwrap().get();
    // The binary builds its runtime from the flag: a child process, read from its log.
    for (flags, workers) in [(&["--worker-threads", "1"][..], 1), (&[][..], default)] {
        let server = data.spawn_serve(flags);
        let logs = server.logs.lock().unwrap().join("\n");
        let listening = logs.lines().find(|l| l.contains("listening")).unwrap();
        let field = format!("workers={workers}");
        assert!(
            listening.split_whitespace().any(|f| f == field),
            "{listening}"
        );
        assert_eq!(http(server.addr, "GET", "/healthz").status, 200);
    }
}

/// Two connections open at once are served on the two request threads (`src/lanes.rs`: a new
/// connection goes to the lane with the fewest open), not both on one. Each keep-alive request
/// wakes the thread serving its connection from sleep, which the kernel counts among that
/// thread's voluntary context switches.
#[test]
fn connections_open_at_once_are_served_on_different_request_threads() {
    use std::io::Write;
    const REQUESTS: u64 = 40;
    let data = Data::new();
    let server = data.spawn_serve(&["--worker-threads", "2"]);
    let before = lane_wakeups(server.pid());
    assert_eq!(before.len(), 2, "two request threads: {before:?}");
    let mut conns: Vec<_> = (0..2)
        .map(|_| {
            let conn = std::net::TcpStream::connect(server.addr).unwrap();
            conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            conn
        })
        .collect();
    for _ in 0..REQUESTS {
        for conn in &mut conns {
            conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .unwrap();
            assert_eq!(common::read_response(conn).status, 200);
        }
    }
    let after = lane_wakeups(server.pid());
    for (lane, woke) in &after {
        let more = woke - before[lane];
        // Half, for slack: a request that arrives while its thread is still awake adds none.
        assert!(
            more >= REQUESTS / 2,
            "{lane} woke {more} times for {REQUESTS} requests: {before:?} then {after:?}"
        );
    }
}

/// The voluntary context switches of each request thread of `pid`, by thread name.
fn lane_wakeups(pid: u32) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let name = name.trim().to_owned();
            if !name.starts_with("lane-") {
                return None;
            }
            let status = std::fs::read_to_string(task.path().join("status")).ok()?;
            let switches = status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
                .trim()
                .parse()
                .ok()?;
            Some((name, switches))
        })
        .collect()
}

/// The binary gives SQLite its allocator before anything opens the database; were that too
/// late, SQLite would keep glibc's and every command would say so.
#[test]
fn sqlite_takes_the_binary_s_allocator() {
    let data = Data::new();
    for args in [&["group", "create", "team"][..], &["migrate", "status"][..]] {
        let out = data.run(args, "");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(!err.contains("SQLite keeps its own allocator"), "{err}");
    }
    let server = data.spawn_serve(&[]);
    assert_eq!(http(server.addr, "GET", "/healthz").status, 200);
    let logs = server.logs.lock().unwrap().join("\n");
    assert!(!logs.contains("SQLite keeps its own allocator"), "{logs}");
}

#[test]
fn serves_https_with_http2_and_http11_when_given_a_certificate() {
    common::require_tool("curl", "curl");
    let data = Data::new();
    let (cert, key) = common::self_signed_cert(data.dir.path());
    let server = data.serve_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let url = format!("https://localhost:{}/healthz", server.addr.port());
    for version in ["--http2", "--http1.1"] {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", version, "--cacert"])
            .arg(&cert)
            .args([
                "--resolve",
                &format!("localhost:{}:127.0.0.1", server.addr.port()),
            ])
            .args(["-w", "\n%{http_version} %{http_code}", &url])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let expected = if version == "--http2" {
            "2 200"
        } else {
            "1.1 200"
        };
        assert!(
            text.contains("\"status\":\"ok\""),
            "{version}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.trim_end().ends_with(expected), "{version}: {text}");
    }
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    use std::io::{Read, Write};
    let data = Data::new();
    let mut server = data.spawn_serve(&[]);
    let mut conn = std::net::TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // Half a request is in flight when the signal arrives...
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    server.sigterm();
    // The listener closes once the signal is handled (polled: the machine may be busy)...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(server.addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "a draining server must not accept new connections"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // ...while the half-sent request keeps the process alive and is still answered.
    assert!(
        server.child().try_wait().unwrap().is_none(),
        "serve exited with a request in flight"
    );
    conn.write_all(b"\r\n").unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""));
    let status = server.child().wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_drain_time_bounds_a_client_that_never_finishes() {
    use std::io::Write;
    let data = Data::new();
    let mut server = data.spawn_serve(&["--shutdown-drain-secs", "1"]);
    let mut stuck = std::net::TcpStream::connect(server.addr).unwrap();
    stuck.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    server.sigterm();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = server.child().try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve waited past its drain time"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

/// The policy (`SCHED_OTHER` 0, `SCHED_IDLE` 5) of the database writer thread of `pid`, from
/// the kernel's `/proc/<pid>/task/<tid>/stat` (field 41).
fn writer_policy(pid: u32) -> u32 {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "aicarpool-db-wr" {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
            let after_name = stat.rsplit_once(')').unwrap().1;
            return after_name
                .split_whitespace()
                .nth(38)
                .unwrap()
                .parse()
                .unwrap();
        }
    }
    panic!("serve has no database writer thread");
}

/// Whether a process started from this one may take a thread back from the idle CPU class:
/// with `CAP_SYS_NICE`, or an `RLIMIT_NICE` that allows nice 0.
fn may_leave_idle_class() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap();
    let sys_nice = u64::from_str_radix(caps.trim(), 16).unwrap() & (1 << 23) != 0;
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let nice: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max nice priority"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(0);
    sys_nice || nice >= 20
}

/// The writer commits usage rows at the idle CPU class, so its bursts do not delay requests'
/// threads, and anything else it writes (here an admin's sign-in) at normal class. Where the
/// kernel would not let it back, it stays normal throughout.
#[test]
fn the_writer_commits_usage_at_idle_cpu_class_and_the_rest_at_normal() {
    use common::admin::{Admin, make_admin};
    use common::env::Env;
    let env = Env::new();
    let fake = common::upstream::Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let key = env.key("alice");
    make_admin(&env.data, common::admin::USER);
    let server = env.spawn_serve(&[]);
    let (idle, normal) = if may_leave_idle_class() {
        (5, 0)
    } else {
        eprintln!("no CAP_SYS_NICE and RLIMIT_NICE below nice 0: the writer stays normal");
        (0, 0)
    };
    let said = if idle == 5 { "idle" } else { "normal" };
    let logs = server.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains(&format!("usage rows are committed at the {said} CPU class")),
        "{logs}"
    );
    let headers = [
        ("x-api-key", key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    for _ in 0..2 {
        // Another request while it is not idle yet: the gateway's own start-up writes (the
        // account's model list) may come after the first usage batch.
        common::eventually(
            "the writer never took the idle class for usage rows",
            std::time::Duration::from_secs(10),
            || {
                let resp = common::post_json(&server, "/v1/messages", &headers, body);
                assert_eq!(resp.status, 200, "{}", resp.body);
                std::thread::sleep(std::time::Duration::from_millis(100));
                (writer_policy(server.pid()) == idle).then_some(())
            },
        );
        Admin::sign_in(server.addr);
        assert_eq!(
            writer_policy(server.pid()),
            normal,
            "an admin's sign-in is written at normal class"
        );
    }
}
