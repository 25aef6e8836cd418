//! The same comparison with an outside load generator: `wrk` (a C program, its own process)
//! drives the fake upstream directly, the floor and the gateway, in one-second slices that
//! alternate between floor and gateway. This is how the speed targets were first measured; the
//! in-process load generator of the main run costs more CPU per request than `wrk` does, and
//! that CPU comes out of the same two cores.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// One side's totals over its slices. Latencies are the median of the slices' own
/// percentiles (`wrk` reports percentiles, not samples).
#[derive(Default)]
pub struct Side {
    requests: u64,
    micros: u64,
    errors: u64,
    p50: Vec<u64>,
    p90: Vec<u64>,
    p99: Vec<u64>,
    cpu: u64,
}

impl Side {
    pub fn rps(&self) -> f64 {
        self.requests as f64 * 1e6 / self.micros.max(1) as f64
    }

    pub fn cpu_per_request(&self) -> f64 {
        self.cpu as f64 / self.requests.max(1) as f64
    }

    /// p50, p90, p99 in microseconds.
    pub fn percentiles(&self) -> (u64, u64, u64) {
        let median = |v: &Vec<u64>| {
            let mut v = v.clone();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        (median(&self.p50), median(&self.p90), median(&self.p99))
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }
}

/// What `wrk` sends: a POST of `body` to `path` with the member key in both header forms.
pub struct Load<'a> {
    pub path: &'a str,
    pub body: &'a str,
    pub key: &'a str,
    pub connections: usize,
}

/// The `wrk` script for `load`: its request, and a `done` that prints one line of figures
/// (latencies in µs) for [`slice`] to parse.
fn script(load: &Load, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("load.lua");
    std::fs::write(
        &path,
        format!(
            r#"wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["content-type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["x-api-key"] = "{key}"
wrk.headers["authorization"] = "Bearer {key}"
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format("figures %d %d %d %d %d %d\n", s.requests, s.duration,
    e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"#,
            body = load.body,
            key = load.key,
        ),
    )
    .expect("the wrk script is written");
    path
}

/// Runs `wrk` with `script` against `addr` for `secs` whole seconds and adds its figures to
/// `side`; `cpu` reads the CPU time (µs) of whoever serves `addr`.
fn slice(
    side: &mut Side,
    addr: SocketAddr,
    load: &Load,
    script: &std::path::Path,
    secs: u64,
    cpu: &dyn Fn() -> u64,
) {
    let threads = load.connections.min(2);
    let before = cpu();
    let out = Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &load.connections.to_string(),
            "-d",
            &format!("{secs}s"),
            "-s",
        ])
        .arg(script)
        .arg(format!("http://{addr}{}", load.path))
        .output()
        .unwrap_or_else(|e| panic!("running wrk ({e}): apt-get install -y wrk"));
    side.cpu += cpu() - before;
    let text = String::from_utf8_lossy(&out.stdout);
    let figures: Vec<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("figures "))
        .unwrap_or_else(|| {
            let err = String::from_utf8_lossy(&out.stderr);
            panic!("wrk printed no figures ({}): {text}{err}", out.status)
        })
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [requests, micros, errors, p50, p90, p99] = figures[..] else {
        panic!("wrk's figures are six numbers: {text}");
    };
    side.requests += requests;
    side.micros += micros;
    side.errors += errors;
    side.p50.push(p50);
    side.p90.push(p90);
    side.p99.push(p99);
}

/// Direct, floor and gateway for one load: `slices` one-second slices on each of floor and
/// gateway, alternating (floor first, then gateway first, and so on), and as many direct.
pub fn compare(
    load: &Load,
    slices: u32,
    direct: SocketAddr,
    floor: (SocketAddr, &dyn Fn() -> u64),
    gateway: (SocketAddr, &dyn Fn() -> u64),
) -> (Side, Side, Side) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script = script(load, dir.path());
    let none = || 0;
    let (mut d, mut f, mut g) = (Side::default(), Side::default(), Side::default());
    for i in 0..slices {
        slice(&mut d, direct, load, &script, 1, &none);
        let floor_slice = |f: &mut Side| slice(f, floor.0, load, &script, 1, floor.1);
        if i % 2 == 0 {
            floor_slice(&mut f);
        }
        slice(&mut g, gateway.0, load, &script, 1, gateway.1);
        if i % 2 == 1 {
            floor_slice(&mut f);
        }
        // Lets the connections of one slice close before the next opens its own.
        std::thread::sleep(Duration::from_millis(100));
    }
    (d, f, g)
}
