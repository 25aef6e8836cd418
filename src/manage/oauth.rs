//! Onboarding a Claude subscription by OAuth PKCE: make the authorization link (S256 challenge,
//! random state; the verifier waits sealed in the database for ten minutes), then exchange the
//! code the operator pastes back for tokens and create the `claude-oauth` account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Ctx;
use super::accounts::{NewAccount, create_account};
use crate::crypto::Purpose;
use crate::domain::Platform;
use crate::error::{Error, Result};
use crate::store::{now_ms, oauth_sessions};
use crate::upstream::client::Clients;
use crate::upstream::proxy::{ProxySettings, ProxyUrl};
use crate::upstream::token::{TokenError, token_call};

/// How long an authorization link stays usable.
const LINK_TTL_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Serialize)]
pub struct Link {
    pub url: String,
    pub state: String,
    pub expires_at: i64,
}

fn random_b64(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| Error::Internal(format!("OS randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The S256 challenge of a PKCE verifier (RFC 7636).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Makes an authorization link for a new subscription account: a claude.ai subscriber's, or
/// with `console` a Console account's (its own page, and the API-key scope).
pub async fn start(ctx: &Ctx, console: bool) -> Result<Link> {
    let verifier = random_b64(32)?;
    let state = random_b64(32)?;
    let s = &ctx.config.oauth;
    let (authorize_url, scopes) = if console {
        let scopes = if s
            .scopes
            .split(' ')
            .any(|x| x == crate::config::OAUTH_CONSOLE_SCOPE)
        {
            s.scopes.clone()
        } else {
            format!("{} {}", crate::config::OAUTH_CONSOLE_SCOPE, s.scopes)
        };
        (&s.console_authorize_url, scopes)
    } else {
        (&s.authorize_url, s.scopes.clone())
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", "true")
        .append_pair("client_id", &s.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &s.redirect_uri)
        .append_pair("scope", &scopes)
        .append_pair("code_challenge", &challenge(&verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .finish();
    let sep = if authorize_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!("{authorize_url}{sep}{query}");
    let sealed = ctx
        .secrets
        .seal(Purpose::OauthVerifier, verifier.as_bytes())?;
    let now = now_ms();
    let expires_at = now + LINK_TTL_MS;
    let st = state.clone();
    ctx.db
        .write(move |c| oauth_sessions::insert(c, &st, &sealed, now, expires_at))
        .await?;
    Ok(Link {
        url,
        state,
        expires_at,
    })
}

/// Reads what the operator pasted: `code#state`, or the whole callback URL.
fn code_and_state(input: &str) -> Result<(String, String)> {
    let input = input.trim();
    let query = input.split_once('?').map(|(_, q)| q);
    if let Some(q) = query {
        let mut code = None;
        let mut state = None;
        for (k, v) in form_urlencoded::parse(q.split('#').next().unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "code" => code = Some(v.into_owned()),
                "state" => state = Some(v.into_owned()),
                _ => {}
            }
        }
        if let (Some(c), Some(s)) = (code, state) {
            return Ok((c, s));
        }
    }
    match input.split_once('#') {
        Some((c, s)) if !c.is_empty() && !s.is_empty() => Ok((c.to_owned(), s.to_owned())),
        _ => Err(Error::Invalid(
            "paste the code as shown after signing in (CODE#STATE) or the whole callback URL"
                .into(),
        )),
    }
}

/// Exchanges the pasted code for tokens (through the account's proxy, when it has one) and
/// creates the account. `new.secret` is ignored: the tokens come from the exchange.
pub async fn exchange(
    ctx: &Ctx,
    actor: &str,
    pasted: &str,
    mut new: NewAccount,
) -> Result<crate::store::accounts::Account> {
    let (code, state) = code_and_state(pasted)?;
    let st = state.clone();
    let session = ctx
        .db
        .write(move |c| oauth_sessions::take(c, &st, now_ms()))
        .await?
        .ok_or_else(|| Error::Invalid("this authorization link is unknown or expired; make a new one with `account oauth-url`".into()))?;
    let verifier = ctx.secrets.open_string(Purpose::OauthVerifier, &session)?;
    let proxy = match new.proxy.as_deref() {
        Some(url) => Some(std::sync::Arc::new(proxy_settings(
            url,
            new.proxy_password.as_deref(),
        )?)),
        None => None,
    };
    let clients = Clients::new(&ctx.config.upstream)?;
    let s = &ctx.config.oauth;
    let body = json!({
        "grant_type": "authorization_code",
        "code": code,
        "state": state,
        "client_id": s.client_id,
        "redirect_uri": s.redirect_uri,
        "code_verifier": verifier,
    });
    let tokens = token_call(&clients.get(proxy.as_ref()), s, body)
        .await
        .map_err(|e| match e {
            TokenError::Rejected(m) => {
                Error::Invalid(format!("the authorization code was refused: {m}"))
            }
            TokenError::Unavailable(m) => {
                Error::Internal(format!("the token server is unavailable: {m}"))
            }
        })?;
    new.platform = Some(Platform::ClaudeOauth);
    new.secret = tokens.access;
    new.refresh_token = tokens.refresh;
    new.expires_at = tokens.expires_at;
    create_account(ctx, actor, new).await
}

/// A proxy URL (and password) as connection settings, for calls made before the account exists.
fn proxy_settings(url: &str, password: Option<&str>) -> Result<ProxySettings> {
    let u = ProxyUrl::parse(url).map_err(Error::Invalid)?;
    let password = u.password.or(password.map(str::to_owned));
    Ok(ProxySettings {
        scheme: u.scheme,
        host: u.host,
        port: u.port,
        auth: u.user.map(|user| (user, password.unwrap_or_default())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636_s256() {
        // The example of RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pasted_codes_are_read_in_both_shapes() {
        assert_eq!(
            code_and_state("abc#xyz").unwrap(),
            ("abc".into(), "xyz".into())
        );
        assert_eq!(
            code_and_state("https://console.anthropic.com/oauth/code/callback?code=a%2Bb&state=s1")
                .unwrap(),
            ("a+b".into(), "s1".into())
        );
        assert!(code_and_state("just-a-code").is_err());
    }
}
