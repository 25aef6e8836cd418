//! Shared test helpers: a temporary data directory, running the real binary, a running server
//! and a minimal HTTP/1.1 client over a raw socket.
#![allow(dead_code)]

pub mod admin;
pub mod browser;
pub mod env;
pub mod inproc;
pub mod model;
pub mod oauth;
pub mod proxies;
pub mod style;
pub mod upstream;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_aicarpool");

/// A fresh data directory that disappears with the test.
pub struct Data {
    pub dir: tempfile::TempDir,
}

impl Data {
    pub fn new() -> Data {
        Data {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("aicarpool.db")
    }

    /// Runs `aicarpool --data-dir <dir> args...` with `stdin` and returns its output.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_env(args, stdin, &[])
    }

    pub fn run_env(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir").arg(self.path()).args(args);
        cmd.env_remove("AICARPOOL_SECRET_KEY_FILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aicarpool binary starts");
        // A command that refuses its arguments may exit before reading its input: a broken
        // pipe then is its answer, not the test's failure.
        let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        if let Err(e) = written {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
        child.wait_with_output().expect("aicarpool finishes")
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "aicarpool {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a `--json` command that must succeed; returns the parsed output.
    pub fn json(&self, args: &[&str], stdin: &str) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all, stdin);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed non-JSON {out:?}: {e}"))
    }

    /// Runs a command that must fail with `code`; returns stderr.
    pub fn fails(&self, args: &[&str], stdin: &str, code: i32) -> String {
        let out = self.run(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "aicarpool {args:?} should exit {code}; stderr: {stderr}"
        );
        stderr
    }

    /// Starts the server in this process on a free port, through the library's
    /// [`aicarpool::run`] with the command line's `serve` flags.
    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// The same with extra `serve` flags.
    pub fn serve_with(&self, extra: &[&str]) -> Server {
        inproc::start(&self.path(), extra)
    }

    /// Starts `aicarpool serve` as a child process: for tests that kill it, signal it, read
    /// its memory, or set its environment.
    pub fn spawn_serve(&self, extra: &[&str]) -> Server {
        self.serve_env(extra, &[])
    }

    /// Starts `aicarpool serve` as a child process with extra flags and environment variables
    /// (the environment is the process's own, so these servers cannot run in-process).
    pub fn serve_env(&self, extra: &[&str], env: &[(&str, String)]) -> Server {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(self.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("AICARPOOL_LOG", "info")
            .env_remove("AICARPOOL_SECRET_KEY_FILE")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stderr = child.stderr.take().unwrap();
        let logs = Logs::default();
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                kept.push(line);
            }
            kept.close();
        });
        let (addr, setup_url) = logs.listening();
        Server {
            run: Run::Process(child),
            addr,
            setup_url,
            logs: logs.lines,
        }
    }
}

/// The lines a server logs, shared between the server (or the thread reading its stderr) and
/// the test, with a signal for each new one.
#[derive(Clone, Default)]
pub struct Logs {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    news: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl Logs {
    pub fn push(&self, line: String) {
        eprintln!("[serve] {line}");
        self.lines.lock().unwrap().push(line);
        // Under the waiter's lock, so a line cannot land between its look and its wait.
        let _seen = self.news.0.lock().unwrap();
        self.news.1.notify_all();
    }

    /// No more lines will come (the server exited).
    pub fn close(&self) {
        *self.news.0.lock().unwrap() = true;
        self.news.1.notify_all();
    }

    /// Waits for the "listening" line; returns its address and the setup link logged before it.
    fn listening(&self) -> (SocketAddr, Option<String>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut closed = self.news.0.lock().unwrap();
        loop {
            let lines = self.lines.lock().unwrap();
            let field = |line: &String, name: &str| {
                line.split(name)
                    .nth(1)
                    .and_then(|v| v.split_whitespace().next())
                    .map(str::to_owned)
            };
            if let Some(addr) = lines
                .iter()
                .find(|l| l.contains("listening"))
                .and_then(|l| field(l, "addr="))
            {
                let setup = lines.iter().find_map(|l| field(l, "setup_url="));
                return (addr.parse().unwrap(), setup);
            }
            drop(lines);
            assert!(!*closed, "serve exited before listening");
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "serve did not log its address in 30 s");
            closed = self.news.1.wait_timeout(closed, left).unwrap().0;
        }
    }
}

/// How a test's server runs.
pub enum Run {
    /// `aicarpool serve`, a child process.
    Process(Child),
    /// [`aicarpool::run`] on its own runtime, on a thread of the test.
    InProcess(inproc::Handle),
}

pub struct Server {
    pub run: Run,
    pub addr: SocketAddr,
    /// The one-time setup link `serve` printed, when no admin existed.
    pub setup_url: Option<String>,
    /// Every line `serve` has logged so far.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// The child process of a server started with [`Data::spawn_serve`] or
    /// [`Data::serve_env`].
    pub fn child(&mut self) -> &mut Child {
        match &mut self.run {
            Run::Process(child) => child,
            Run::InProcess(_) => panic!("this server runs in-process: start it with spawn_serve"),
        }
    }

    /// The process id of a server started as a child process.
    pub fn pid(&self) -> u32 {
        match &self.run {
            Run::Process(child) => child.id(),
            Run::InProcess(_) => panic!("this server runs in-process: start it with spawn_serve"),
        }
    }

    /// Stops the server the way SIGTERM does (in-process: its shutdown signal) and waits
    /// (bounded) for the exit status; an in-process run that returns an error exits 1.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        if let Run::InProcess(handle) = &mut self.run {
            return ExitStatus::from_raw(if handle.stop() { 0 } else { 1 << 8 });
        }
        self.sigterm();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child().try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM to a child process without waiting for the exit.
    pub fn sigterm(&mut self) {
        let pid = self.child().id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid} failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match &mut self.run {
            Run::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Run::InProcess(handle) => handle.abort(),
        }
    }
}

/// Polls `check` until it gives a value, for at most `within`; panics naming `what` if it
/// never does. For effects that land a moment after the response (usage rows, reloads).
pub fn eventually<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A response read off the wire.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the whole response.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> Resp {
    request(addr, method, path, &[], b"")
}

/// Writes a request with `headers` and `body` and returns the open connection.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s
}

/// POSTs a JSON `body` to `path` on the server with extra `headers`; the whole response.
pub fn post_json(server: &Server, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    request(server.addr, "POST", path, &all, body.as_bytes())
}

/// Sends one request and reads the whole response, undoing chunked transfer encoding.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = send(addr, method, path, headers, body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

/// Reads one whole response off a kept-alive connection: to its length, or its last chunk.
pub fn read_response(s: &mut TcpStream) -> Resp {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "answered before closing");
        raw.extend_from_slice(&buf[..n]);
        let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let resp = parse_response(&raw);
        let whole = match resp.header("content-length") {
            Some(len) => raw.len() - split - 4 >= len.parse::<usize>().unwrap(),
            None => raw.ends_with(b"0\r\n\r\n"),
        };
        if whole {
            return resp;
        }
    }
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a full response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = &raw[split + 4..];
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Decodes a chunked body (as much of it as arrived).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
        else {
            break;
        };
        if size == 0 || raw.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[(eol + 4 + size).min(raw.len())..];
    }
    out
}

/// Every byte of every file in `dir` (the database, its WAL, backups).
pub fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            out.extend(std::fs::read(&path).unwrap());
        } else if path.is_dir() {
            out.extend(all_bytes(&path));
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Fails with an install hint when a tool the test drives is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}`: apt-get install -y {package}"
    );
}

/// A self-signed certificate for `localhost` (and its key) in `dir`, made with openssl.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    require_tool("openssl", "openssl");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// A test CA and a `localhost` certificate it signed, in `dir`: (CA cert, cert, key). rustls
/// (rightly) refuses a self-signed CA certificate as a server's own.
pub fn ca_signed_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    require_tool("openssl", "openssl");
    let p = |name: &str| dir.join(name);
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"],
        &ec[..],
        &[
            "-days",
            "2",
            "-subj",
            "/CN=aicarpool test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    ]
    .concat());
    run(&[
        &["req"],
        &ec[..],
        &[
            "-subj",
            "/CN=localhost",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
        ],
    ]
    .concat());
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}
