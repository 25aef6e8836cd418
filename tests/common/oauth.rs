//! A fake OAuth token endpoint for subscription accounts: checks the PKCE exchange, hands out
//! numbered tokens on refresh, and can be told to reject refresh tokens. It reads JSON (as
//! Claude's server does) and forms (as OpenAI's and Google's do), and signs in a ChatGPT
//! account by an ID token naming it, as auth.openai.com does.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Default)]
struct State {
    /// The challenge of the link being completed, and the code that completes it.
    challenge: Option<String>,
    code: String,
    refreshes: usize,
    reject_refresh: bool,
    /// Refreshes answer this status with a non-grant error (a moved endpoint, an outage).
    fail_refresh: Option<u16>,
    expires_in: i64,
    /// Every request body received, a form read as an object of strings, with its
    /// content type under `_content_type`.
    requests: Vec<Value>,
    /// Wait this long before answering a refresh (so that concurrent ones overlap).
    delay: std::time::Duration,
}

/// The ChatGPT account the fake's ID tokens name.
pub const CHATGPT_ACCOUNT: &str = "acct-fake-7";

/// An unsigned JWT with these claims (the gateway reads, never verifies, the claims of a token
/// its own TLS connection received).
pub fn jwt(claims: &Value) -> String {
    use base64::Engine;
    let b = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        b(&json!({"alg": "RS256", "typ": "JWT"})),
        b(claims)
    )
}

fn id_token() -> String {
    jwt(&json!({
        "email": "pool@example.com",
        "https://api.openai.com/auth": { "chatgpt_account_id": CHATGPT_ACCOUNT, "chatgpt_plan_type": "pro" }
    }))
}

pub struct FakeOauth {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeOauth {
    pub fn start() -> FakeOauth {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(State {
            expires_in: 3600,
            ..State::default()
        }));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| answer(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeOauth {
            addr,
            state,
            _runtime: runtime,
        }
    }

    /// The environment pointing aicarpool's `platform` sign-in at this server.
    pub fn env_for(&self, platform: &str) -> Vec<(&'static str, String)> {
        let (authorize, token) = match platform {
            "codex-oauth" => (
                "AICARPOOL_CODEX_OAUTH_AUTHORIZE_URL",
                "AICARPOOL_CODEX_OAUTH_TOKEN_URL",
            ),
            "gemini-oauth" => (
                "AICARPOOL_GEMINI_OAUTH_AUTHORIZE_URL",
                "AICARPOOL_GEMINI_OAUTH_TOKEN_URL",
            ),
            _ => return self.env(),
        };
        vec![
            (authorize, format!("http://{}/authorize", self.addr)),
            (token, format!("http://{}/token", self.addr)),
        ]
    }

    /// Refreshes wait this long before they answer.
    pub fn slow_refresh(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// The environment pointing aicarpool at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "AICARPOOL_OAUTH_AUTHORIZE_URL",
                format!("http://{}/authorize", self.addr),
            ),
            (
                "AICARPOOL_OAUTH_TOKEN_URL",
                format!("http://{}/token", self.addr),
            ),
        ]
    }

    /// Expect the exchange of `code` for the link with `challenge`.
    pub fn expect(&self, challenge: &str, code: &str) {
        let mut s = self.state.lock().unwrap();
        s.challenge = Some(challenge.to_owned());
        s.code = code.to_owned();
    }

    /// Refreshes answer `status` (404, 500, ...) until [`FakeOauth::heal`].
    pub fn fail_refresh(&self, status: u16) {
        self.state.lock().unwrap().fail_refresh = Some(status);
    }

    pub fn heal(&self) {
        self.state.lock().unwrap().fail_refresh = None;
    }

    pub fn reject_refresh(&self) {
        self.state.lock().unwrap().reject_refresh = true;
    }

    pub fn expires_in(&self, secs: i64) {
        self.state.lock().unwrap().expires_in = secs;
    }

    pub fn refreshes(&self) -> usize {
        self.state.lock().unwrap().refreshes
    }

    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut v: Value = if content_type.starts_with("application/x-www-form-urlencoded") {
        Value::Object(
            form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))
                .collect(),
        )
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let delay = state.lock().unwrap().delay;
    if v["grant_type"] == "refresh_token" && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut s = state.lock().unwrap();
    let mut logged = v.clone();
    if let Some(m) = logged.as_object_mut() {
        m.insert("_content_type".into(), Value::from(content_type));
    }
    s.requests.push(logged);
    let v = std::mem::take(&mut v);
    let grant = v["grant_type"].as_str().unwrap_or("");
    let expires_in = s.expires_in;
    Ok(match grant {
        "authorization_code" => {
            let verifier = v["code_verifier"].as_str().unwrap_or("");
            let proof = {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(verifier.as_bytes()))
            };
            if s.challenge.as_deref() != Some(proof.as_str()) || v["code"] != s.code.as_str() {
                return Ok(reply(
                    400,
                    json!({"error": "invalid_grant", "error_description": "code or verifier does not match"}),
                ));
            }
            s.challenge = None;
            reply(
                200,
                json!({"token_type": "Bearer", "access_token": "acc-0", "refresh_token": "ref-0", "expires_in": expires_in, "scope": "user:inference", "id_token": id_token()}),
            )
        }
        "refresh_token" => {
            if let Some(status) = s.fail_refresh {
                return Ok(reply(
                    status,
                    json!({"error": {"type": "not_found_error", "message": "Not Found"}}),
                ));
            }
            if s.reject_refresh {
                return Ok(reply(
                    400,
                    json!({"error": "invalid_grant", "error_description": "Refresh token revoked"}),
                ));
            }
            s.refreshes += 1;
            let n = s.refreshes;
            reply(
                200,
                json!({"token_type": "Bearer", "access_token": format!("acc-{n}"), "refresh_token": format!("ref-{n}"), "expires_in": expires_in, "id_token": id_token()}),
            )
        }
        _ => reply(400, json!({"error": "unsupported_grant_type"})),
    })
}
