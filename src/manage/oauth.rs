//! Onboarding a subscription (Claude, ChatGPT, Google) by OAuth PKCE: make the authorization
//! link (S256 challenge, random state; the verifier and platform wait sealed in the database
//! for ten minutes), then exchange the code the operator pastes back for tokens and create the
//! account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Ctx;
use super::accounts::{NewAccount, create_account};
use crate::crypto::Purpose;
use crate::domain::Platform;
use crate::error::{Error, Result};
use crate::store::{now_ms, oauth_sessions};
use crate::upstream::client::Clients;
use crate::upstream::proxy::{ProxySettings, ProxyUrl};
use crate::upstream::token::{Grant, TokenError, chatgpt_account_id, token_call};

/// How long an authorization link stays usable.
const LINK_TTL_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Serialize)]
pub struct Link {
    pub url: String,
    pub state: String,
    pub expires_at: i64,
    pub platform: Platform,
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

/// Makes an authorization link for a new `platform` subscription account. For Claude,
/// `console` makes a Console account's link (its own page, and the API-key scope).
pub async fn start(ctx: &Ctx, platform: Platform, console: bool) -> Result<Link> {
    let s = ctx.config.oauth.of(platform).ok_or_else(|| {
        Error::Invalid(format!(
            "{platform} accounts have no sign-in; sign-in is for claude-oauth, codex-oauth and gemini-oauth"
        ))
    })?;
    let mut authorize_url = &s.authorize_url;
    let mut scopes = s.scopes.clone();
    if console {
        let Some(url) = &s.console_authorize_url else {
            return Err(Error::Invalid(
                "--console is for claude-oauth sign-ins".into(),
            ));
        };
        authorize_url = url;
        if !s
            .scopes
            .split(' ')
            .any(|x| x == crate::config::OAUTH_CONSOLE_SCOPE)
        {
            scopes = format!("{} {}", crate::config::OAUTH_CONSOLE_SCOPE, s.scopes);
        }
    }
    let verifier = random_b64(32)?;
    let state = random_b64(32)?;
    let query = {
        let mut query = form_urlencoded::Serializer::new(String::new());
        // What each vendor's own client adds: Claude's page shows the code to copy; ChatGPT's
        // names the organization in the ID token and takes Codex's short flow; Google gives a
        // refresh token only for offline access, and again on a later sign-in only with consent.
        match platform {
            Platform::ClaudeOauth => {
                query.append_pair("code", "true");
            }
            Platform::CodexOauth => {
                query
                    .append_pair("id_token_add_organizations", "true")
                    .append_pair("codex_cli_simplified_flow", "true")
                    .append_pair("originator", "codex_cli_rs");
            }
            _ => {
                query
                    .append_pair("access_type", "offline")
                    .append_pair("prompt", "consent");
            }
        }
        query
            .append_pair("client_id", &s.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &s.redirect_uri)
            .append_pair("scope", &scopes)
            .append_pair("code_challenge", &challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .finish()
    };
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
        .write(move |c| oauth_sessions::insert(c, &st, platform, &sealed, now, expires_at))
        .await?;
    Ok(Link {
        url,
        state,
        expires_at,
        platform,
    })
}

/// Reads what the operator pasted: `code#state` (Claude's page), the address the browser was
/// sent to (`...?code=..&state=..`), or a bare code (Google's page shows only the code).
fn code_and_state(input: &str) -> Result<(String, Option<String>)> {
    let input = input.trim();
    if let Some((_, q)) = input.split_once('?') {
        let mut code = None;
        let mut state = None;
        for (k, v) in form_urlencoded::parse(q.split('#').next().unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "code" => code = Some(v.into_owned()),
                "state" => state = Some(v.into_owned()),
                _ => {}
            }
        }
        if let Some(c) = code {
            return Ok((c, state));
        }
    }
    match input.split_once('#') {
        Some((c, s)) if !c.is_empty() && !s.is_empty() => Ok((c.to_owned(), Some(s.to_owned()))),
        None if !input.is_empty()
            && !input.contains(['?', ' ', '#'])
            && !input.contains("://") =>
        {
            Ok((input.to_owned(), None))
        }
        _ => Err(Error::Invalid(
            "paste the code shown after signing in (CODE#STATE for Claude) or the whole address the browser was sent to"
                .into(),
        )),
    }
}

/// Exchanges the pasted code for tokens (through the account's proxy, when it has one) and
/// creates the account, of the platform its link was made for. `new.secret` is ignored: the
/// tokens come from the exchange.
pub async fn exchange(
    ctx: &Ctx,
    actor: &str,
    pasted: &str,
    mut new: NewAccount,
) -> Result<crate::store::accounts::Account> {
    let (code, state) = code_and_state(pasted)?;
    let wanted = new.platform;
    let st = state.clone();
    let now = now_ms();
    let session = ctx
        .db
        .write(move |c| oauth_sessions::take(c, st.as_deref(), wanted, now))
        .await?
        .ok_or_else(|| Error::Invalid(match &state {
            Some(_) => "this authorization link is unknown or expired; make a new sign-in link".into(),
            None => "no single sign-in link is waiting for this code; paste the whole address the browser was sent to, or make a new sign-in link".to_owned(),
        }))?;
    if wanted.is_some_and(|p| p != session.platform) {
        return Err(Error::Invalid(format!(
            "this link was made for a {} account",
            session.platform
        )));
    }
    let platform = session.platform;
    let verifier = ctx
        .secrets
        .open_string(Purpose::OauthVerifier, &session.verifier)?;
    let proxy = match new.proxy.as_deref() {
        Some(url) => Some(std::sync::Arc::new(proxy_settings(
            url,
            new.proxy_password.as_deref(),
        )?)),
        None => None,
    };
    let clients = Clients::new(&ctx.config.upstream)?;
    let s = ctx
        .config
        .oauth
        .of(platform)
        .ok_or_else(|| Error::Internal(format!("{platform} has no sign-in")))?;
    let grant = Grant::Code {
        code: &code,
        state: &session.state,
        verifier: &verifier,
    };
    let tokens = token_call(&clients.get(proxy.as_ref()), s, grant)
        .await
        .map_err(|e| match e {
            TokenError::Rejected(m) => {
                Error::Invalid(format!("the authorization code was refused: {m}"))
            }
            TokenError::Unavailable(m) => {
                Error::Internal(format!("the token server is unavailable: {m}"))
            }
        })?;
    if platform == Platform::CodexOauth {
        let id = tokens
            .id_token
            .as_deref()
            .and_then(chatgpt_account_id)
            .or_else(|| chatgpt_account_id(&tokens.access))
            .ok_or_else(|| {
                Error::Invalid(
                    "the sign-in names no ChatGPT account (is it a ChatGPT Plus, Pro or Team login?)"
                        .into(),
                )
            })?;
        new.workspace = Some(id);
    }
    new.platform = Some(platform);
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
            ("abc".into(), Some("xyz".into()))
        );
        assert_eq!(
            code_and_state("https://console.anthropic.com/oauth/code/callback?code=a%2Bb&state=s1")
                .unwrap(),
            ("a+b".into(), Some("s1".into()))
        );
        // The address Codex's redirect was sent to, which does not load on the operator's
        // machine, and the bare code Google's page shows.
        assert_eq!(
            code_and_state("http://localhost:1455/auth/callback?code=ac_1&scope=openid&state=s2")
                .unwrap(),
            ("ac_1".into(), Some("s2".into()))
        );
        assert_eq!(
            code_and_state(" 4/0Ab-code \n").unwrap(),
            ("4/0Ab-code".into(), None)
        );
        assert!(code_and_state("not a code").is_err());
        assert!(code_and_state("").is_err());
    }
}
