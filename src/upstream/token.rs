//! The token endpoint calls of a subscription (Claude, ChatGPT, Google): exchanging a sign-in
//! code and refreshing an access token, with the server's refusal told apart from its being
//! unreachable.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use super::client::HttpClient;
use crate::config::{OauthSettings, TokenBody};
use crate::store::now_ms;

/// Tokens from the token endpoint.
#[derive(Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub expires_at: Option<i64>,
    /// The OpenID Connect ID token, when the server sends one (ChatGPT's names the account).
    pub id_token: Option<String>,
}

/// What is traded for tokens.
pub enum Grant<'a> {
    /// The code a sign-in ended with, its link's state and PKCE verifier.
    Code {
        code: &'a str,
        state: &'a str,
        verifier: &'a str,
    },
    Refresh(&'a str),
}

/// Refusal codes that mean the refresh token is gone for good: OAuth's own, and those the
/// ChatGPT token server gives a refresh token that expired, was used twice or was revoked.
const FINAL_REFUSALS: &[&str] = &[
    "invalid_grant",
    "refresh_token_expired",
    "refresh_token_reused",
    "refresh_token_invalidated",
];

/// The request body of `grant` for `s`'s token endpoint, and its content type.
fn body(s: &OauthSettings, grant: &Grant) -> (String, &'static str) {
    let mut fields: Vec<(&str, &str)> = match grant {
        Grant::Code {
            code,
            state,
            verifier,
        } => {
            let mut f = vec![
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", s.redirect_uri.as_str()),
                ("client_id", s.client_id.as_str()),
                ("code_verifier", verifier),
            ];
            // Claude's server wants the state back; the others take the code alone.
            if s.token_body == TokenBody::Json {
                f.push(("state", state));
            }
            f
        }
        Grant::Refresh(token) => vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", s.client_id.as_str()),
        ],
    };
    if let Some(secret) = &s.client_secret {
        fields.push(("client_secret", secret));
    }
    match s.token_body {
        TokenBody::Json => {
            let map: serde_json::Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::from(v)))
                .collect();
            (Value::Object(map).to_string(), "application/json")
        }
        TokenBody::Form => (
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish(),
            "application/x-www-form-urlencoded",
        ),
    }
}

/// The claims of a JWT (its middle part), unverified: read only for what the server that
/// issued it says about the account (expiry, ChatGPT account id).
pub fn jwt_claims(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The ChatGPT account id in a token's claims (ID and access tokens both carry it).
pub fn chatgpt_account_id(token: &str) -> Option<String> {
    jwt_claims(token)?
        .pointer("/https:~1~1api.openai.com~1auth/chatgpt_account_id")?
        .as_str()
        .map(str::to_owned)
}

/// Why a token call failed.
#[derive(Debug)]
pub enum TokenError {
    /// The server refused the grant (`invalid_grant`: a revoked or unknown refresh token, a
    /// bad code).
    Rejected(String),
    /// The server could not be reached or failed; trying later may work.
    Unavailable(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Rejected(m) => write!(f, "the token server refused: {m}"),
            TokenError::Unavailable(m) => write!(f, "the token server is unavailable: {m}"),
        }
    }
}

/// Largest token response read.
const MAX_TOKEN_RESPONSE: usize = 256 * 1024;
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Trades `grant` at the token endpoint of `settings` and reads the tokens.
pub async fn token_call(
    client: &HttpClient,
    settings: &OauthSettings,
    grant: Grant<'_>,
) -> Result<Tokens, TokenError> {
    let (body, content_type) = body(settings, &grant);
    let req = Request::post(&settings.token_url)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| TokenError::Unavailable(format!("bad token URL: {e}")))?;
    let resp = match tokio::time::timeout(TOKEN_TIMEOUT, client.request(req)).await {
        Err(_) => return Err(TokenError::Unavailable("timed out".into())),
        Ok(Err(e)) => return Err(TokenError::Unavailable(e.to_string())),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    let bytes = match tokio::time::timeout(
        TOKEN_TIMEOUT,
        Limited::new(resp.into_body(), MAX_TOKEN_RESPONSE).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        _ => {
            return Err(TokenError::Unavailable(
                "could not read the response".into(),
            ));
        }
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let why = v
            .get("error_description")
            .or_else(|| v.pointer("/error/message"))
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        let msg = format!("{status}: {}", why.chars().take(200).collect::<String>());
        // Only the grant itself being refused is final. A 404 (a moved endpoint), a 5xx or a
        // rate limit may pass: the account keeps its tokens and is tried again.
        let code = v
            .get("error")
            .and_then(Value::as_str)
            .or_else(|| v.pointer("/error/code").and_then(Value::as_str));
        return Err(if code.is_some_and(|c| FINAL_REFUSALS.contains(&c)) {
            TokenError::Rejected(msg)
        } else {
            TokenError::Unavailable(msg)
        });
    }
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::Unavailable("the response has no access_token".into()))?;
    // Without `expires_in`, a JWT access token says when it expires.
    let expires_at = v
        .get("expires_in")
        .and_then(Value::as_i64)
        .map(|s| now_ms() + s * 1000)
        .or_else(|| {
            jwt_claims(access)?
                .get("exp")?
                .as_i64()
                .map(|s| s.saturating_mul(1000))
        });
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Tokens {
        access: access.to_owned(),
        refresh: text("refresh_token"),
        expires_at,
        id_token: text("id_token"),
    })
}
