//! A data directory set up for gateway tests: a group, accounts pointing at fake upstreams,
//! member keys, and readers for account states and the request log.

use std::time::Duration;

use serde_json::Value;

use super::{Data, Server};

/// A data directory with one group, `team`, and helpers to add accounts and keys to it and to
/// read what the gateway recorded.
pub struct Env {
    pub data: Data,
}

impl Env {
    pub fn new() -> Env {
        Env::on(Data::new())
    }

    /// The same, in a data directory the test has prepared (e.g. mounted).
    pub fn on(data: Data) -> Env {
        data.ok(&["group", "create", "team"], "");
        Env { data }
    }

    /// Adds an anthropic account bound to the team; returns its id.
    pub fn account(&self, name: &str, url: &str, secret: &str, extra: &[&str]) -> i64 {
        self.account_on("anthropic", name, url, secret, extra)
    }

    /// Adds an account of `platform` bound to the team; returns its id.
    pub fn account_on(
        &self,
        platform: &str,
        name: &str,
        url: &str,
        secret: &str,
        extra: &[&str],
    ) -> i64 {
        let mut args = vec![
            "account",
            "create",
            "--name",
            name,
            "--platform",
            platform,
            "--base-url",
            url,
            "--group",
            "team",
        ];
        args.extend_from_slice(extra);
        self.data.json(&args, &format!("{secret}\n"))["id"]
            .as_i64()
            .unwrap()
    }

    /// The common start of a test: one anthropic account (`main`) on a fresh fake upstream, a
    /// key (`alice`), and the server started with `serve` flags.
    pub fn one_account(serve: &[&str]) -> (Env, super::upstream::Fake, Server, String) {
        let env = Env::new();
        let fake = super::upstream::Fake::start();
        env.account("main", &fake.url(), "sk-main", &[]);
        let key = env.key("alice");
        let server = env.serve(serve);
        (env, fake, server, key)
    }

    pub fn key(&self, name: &str) -> String {
        let k = self
            .data
            .json(&["key", "create", "--group", "team", "--name", name], "");
        k["key"].as_str().unwrap().to_owned()
    }

    /// A key with limit flags; returns (id, plaintext).
    pub fn key_with(&self, name: &str, limits: &[&str]) -> (i64, String) {
        let mut args = vec!["key", "create", "--group", "team", "--name", name];
        args.extend_from_slice(limits);
        let k = self.data.json(&args, "");
        (
            k["id"].as_i64().unwrap(),
            k["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Writes a request-log row as if the gateway had served `key` at `started_at`.
    pub fn seed(&self, key_id: i64, started_at: i64, input_tokens: i64, cost_nanos: i64) {
        let conn = rusqlite::Connection::open(self.data.db()).unwrap();
        conn.execute(
            "INSERT INTO api_key_request_log (request_id, api_key_id, group_id, protocol, endpoint,
                model, status_code, outcome, input_tokens, cost_nanos, started_at)
             SELECT ?1, id, group_id, 'anthropic', '/v1/messages', 'claude-sonnet-4-5', 200, 'ok',
                ?2, ?3, ?4 FROM api_keys WHERE id = ?5",
            rusqlite::params![
                format!("seed-{key_id}-{started_at}"),
                input_tokens,
                cost_nanos,
                started_at,
                key_id
            ],
        )
        .unwrap();
    }

    pub fn serve(&self, extra: &[&str]) -> Server {
        self.data.serve_with(extra)
    }

    /// `aicarpool serve` as a child process: see [`super::Data::spawn_serve`].
    pub fn spawn_serve(&self, extra: &[&str]) -> Server {
        self.data.spawn_serve(extra)
    }

    pub fn account_json(&self, id: i64) -> Value {
        let list = self.data.json(&["account", "list"], "");
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
            .expect("account listed")
    }

    pub fn status(&self, id: i64) -> String {
        self.account_json(id)["status"].as_str().unwrap().to_owned()
    }

    pub fn usage(&self, by: Option<&str>) -> Value {
        let mut args = vec!["usage", "--since", "1d"];
        if let Some(b) = by {
            args.extend(["--by", b]);
        }
        self.data.json(&args, "")
    }

    /// Waits (bounded) until `account`'s status is `want`.
    pub fn wait_status(&self, id: i64, want: &str, within: Duration) {
        super::eventually(&format!("account {id} never became {want}"), within, || {
            (self.status(id) == want).then_some(())
        });
    }

    /// The request log once it holds `n` rows (records reach the database a moment after the
    /// response, through the journal), newest last.
    pub fn rows(&self, n: usize) -> Vec<Value> {
        super::eventually(
            &format!("fewer than {n} rows were logged"),
            Duration::from_secs(10),
            || Some(self.log()).filter(|rows| rows.len() >= n),
        )
    }

    /// Rows of the request log now, newest last, as JSON objects.
    pub fn log(&self) -> Vec<Value> {
        let conn = rusqlite::Connection::open(self.data.db()).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT request_id, account_id, model, stream, status_code, outcome, input_tokens,
                    output_tokens, cache_creation_input_tokens, cache_read_input_tokens,
                    cost_nanos, attempts, unpriced, error_message, client, upstream_model,
                    translated, endpoint
                 FROM api_key_request_log ORDER BY id",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok(serde_json::json!({
                "request_id": r.get::<_, String>(0)?,
                "account_id": r.get::<_, Option<i64>>(1)?,
                "model": r.get::<_, Option<String>>(2)?,
                "stream": r.get::<_, bool>(3)?,
                "status_code": r.get::<_, i64>(4)?,
                "outcome": r.get::<_, String>(5)?,
                "input_tokens": r.get::<_, i64>(6)?,
                "output_tokens": r.get::<_, i64>(7)?,
                "cache_creation_input_tokens": r.get::<_, i64>(8)?,
                "cache_read_input_tokens": r.get::<_, i64>(9)?,
                "cost_nanos": r.get::<_, i64>(10)?,
                "attempts": r.get::<_, i64>(11)?,
                "unpriced": r.get::<_, bool>(12)?,
                "error_message": r.get::<_, Option<String>>(13)?,
                "client": r.get::<_, Option<String>>(14)?,
                "upstream_model": r.get::<_, Option<String>>(15)?,
                "translated": r.get::<_, bool>(16)?,
                "endpoint": r.get::<_, String>(17)?,
            }))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }
}
