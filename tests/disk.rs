//! A full disk: the data directory on a small tmpfs the test mounts (needs root), filled up
//! while the gateway serves. New requests must be refused in the client's protocol (nothing
//! unmetered), a stream in flight must finish whole, the admin page must say why, and once
//! space returns everything must resume by itself with every row there exactly once.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use common::admin::{Admin, USER, make_admin};
use common::env::Env;
use common::upstream::{Fake, Reply};
use common::{Data, eventually, http, post_json};

const STREAM_BODY: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_small_tmpfs(dir: &std::path::Path) -> Mount {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs"])
        .arg(dir)
        .output()
        .expect("the mount command");
    assert!(
        out.status.success(),
        "mounting a tmpfs needs root (CAP_SYS_ADMIN): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Mount(dir.to_owned())
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &std::path::Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    // Fill the last partial block too.
    while let Ok(n) = f.write(&chunk[..512]) {
        if n == 0 {
            break;
        }
        written += n as u64;
    }
    written
}

#[test]
#[ignore = "needs root to mount a small tmpfs; .ci/run runs it"]
fn a_full_disk_fails_closed_and_everything_resumes_when_space_returns() {
    let data = Data::new();
    let _mount = mount_small_tmpfs(&data.path());
    let env = Env::on(data);
    let data = &env.data;
    make_admin(data, USER);
    let fake = Fake::start();
    fake.set(Reply::Stream {
        pace: Duration::from_millis(10),
    });
    env.account("main", &fake.url(), "sk-main", &[]);
    let key = env.key("alice");
    let server = data.serve_with(&["--backup-keep", "0"]);
    let admin = Admin::sign_in(server.addr);
    let send = || post_json(&server, "/v1/messages", &[("x-api-key", &key)], STREAM_BODY);
    let mut served = Vec::new();
    let r = send();
    assert_eq!(r.status, 200);
    served.push(r.header("x-aicarpool-request-id").unwrap().to_owned());

    // A stream is in flight when the disk fills up.
    fake.set(Reply::Stream {
        pace: Duration::from_millis(60),
    });
    let addr = server.addr;
    let k = key.clone();
    let in_flight = std::thread::spawn(move || {
        common::request(
            addr,
            "POST",
            "/v1/messages",
            &[("x-api-key", &k), ("content-type", "application/json")],
            STREAM_BODY.as_bytes(),
        )
    });
    std::thread::sleep(Duration::from_millis(100));
    let filler = data.path().join("filler");
    let filled = fill(&filler);
    let stream = in_flight.join().unwrap();
    assert_eq!(stream.status, 200);
    assert!(
        stream.body.contains("event: message_stop"),
        "the stream in flight was cut: {}",
        stream.body
    );
    served.push(stream.header("x-aicarpool-request-id").unwrap().to_owned());
    fake.set(Reply::Stream {
        pace: Duration::from_millis(1),
    });

    // Requests go on until the gateway finds it cannot store their usage; from then on it
    // refuses them, in Anthropic's shape.
    let mut refused = 0;
    for _ in 0..60 {
        let r = send();
        match r.status {
            200 => {
                assert!(r.body.contains("event: message_stop"));
                served.push(r.header("x-aicarpool-request-id").unwrap().to_owned());
            }
            503 => {
                let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                assert_eq!(v["type"], "error");
                assert!(
                    v["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("cannot record usage"),
                    "{}",
                    r.body
                );
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(refused, 3, "the gateway kept serving with a full disk");
    let health = http(server.addr, "GET", "/healthz");
    assert_eq!(health.status, 503);
    assert!(health.body.contains("degraded"));
    let dash = admin.get("/dashboard?range=24h");
    let why = dash["storage_fault"]
        .as_str()
        .expect("the admin page says why");
    assert!(why.contains("usage cannot be stored"), "{why}");

    // Space returns: requests are taken again, by themselves.
    std::fs::remove_file(&filler).unwrap();
    eventually(
        "requests were not accepted again",
        Duration::from_secs(15),
        || {
            let r = send();
            (r.status == 200)
                .then(|| served.push(r.header("x-aicarpool-request-id").unwrap().to_owned()))
        },
    );
    assert!(admin.get("/dashboard?range=24h")["storage_fault"].is_null());

    // Every answered request has its row, once; the database is sound.
    let c = rusqlite::Connection::open(data.db()).unwrap();
    let rows: Vec<String> = eventually("rows are missing", Duration::from_secs(10), || {
        let mut stmt = c
            .prepare("SELECT request_id FROM api_key_request_log")
            .unwrap();
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        served.iter().all(|s| ids.contains(s)).then_some(ids)
    });
    let unique: std::collections::HashSet<&String> = rows.iter().collect();
    assert_eq!(unique.len(), rows.len(), "a row is duplicated");
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    eprintln!(
        "full disk: filled {filled} bytes, {} requests served and logged, {refused} refused",
        served.len()
    );
    drop(admin);
    drop(server);
}
