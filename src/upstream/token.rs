//! The token endpoint calls of a Claude subscription: exchanging a sign-in code and refreshing
//! an access token, with the server's refusal told apart from its being unreachable.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use super::client::HttpClient;
use crate::config::OauthSettings;
use crate::store::now_ms;

/// Tokens from the token endpoint.
#[derive(Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub expires_at: Option<i64>,
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

/// POSTs `body` to the token endpoint and reads the tokens.
pub async fn token_call(
    client: &HttpClient,
    settings: &OauthSettings,
    body: Value,
) -> Result<Tokens, TokenError> {
    let req = Request::post(&settings.token_url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
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
        return Err(
            if v.get("error").and_then(Value::as_str) == Some("invalid_grant") {
                TokenError::Rejected(msg)
            } else {
                TokenError::Unavailable(msg)
            },
        );
    }
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::Unavailable("the response has no access_token".into()))?;
    Ok(Tokens {
        access: access.to_owned(),
        refresh: v
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_owned),
        expires_at: v
            .get("expires_in")
            .and_then(Value::as_i64)
            .map(|s| now_ms() + s * 1000),
    })
}
