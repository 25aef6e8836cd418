//! Shared test helpers: a temporary data directory, running the real binary, a running server
//! and a minimal HTTP/1.1 client over a raw socket.
#![allow(dead_code)]

pub mod admin;
pub mod browser;
pub mod env;
pub mod model;
pub mod oauth;
pub mod proxies;
pub mod style;
pub mod upstream;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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

    /// Starts `aicarpool serve` on a free port; returns the child and its address.
    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// Starts `aicarpool serve` with extra flags.
    pub fn serve_with(&self, extra: &[&str]) -> Server {
        self.serve_env(extra, &[])
    }

    /// Starts `aicarpool serve` with extra flags and environment variables.
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
        let (tx, rx) = std::sync::mpsc::channel();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = logs.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            let mut setup_url = None;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                kept.lock().unwrap().push(line.clone());
                if let Some(url) = line.split("setup_url=").nth(1) {
                    setup_url = url.split_whitespace().next().map(str::to_owned);
                }
                if !sent && let Some(addr) = line.split("addr=").nth(1) {
                    let addr = addr.split_whitespace().next().unwrap().to_owned();
                    let _ = tx.send(Ok((addr, setup_url.take())));
                    sent = true;
                }
                eprintln!("[serve] {line}");
            }
            if !sent {
                let _ = tx.send(Err(()));
            }
        });
        let (addr, setup_url) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve printed its address")
            .expect("serve exited before listening");
        Server {
            child,
            addr: addr.parse().unwrap(),
            setup_url,
            logs,
        }
    }
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The one-time setup link `serve` printed, when no admin existed.
    pub setup_url: Option<String>,
    /// Every line `serve` has logged so far.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.sigterm();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Server {
    /// Sends SIGTERM without waiting for the exit.
    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid} failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
