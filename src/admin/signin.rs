//! Admin API handlers that sign in: the session's state, the one-time setup, login (reserved
//! against the throttle before argon2, a few checks at a time), logout, and setting a password.

use std::sync::LazyLock;

use http::{Response, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use tracing::warn;

use super::session::MAX_USERNAME_BYTES;
use super::{Call, error, ok};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::manage::admins as manage_admins;
use crate::store::admins;

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    #[serde(default)]
    token: String,
}

pub async fn session(c: Call<'_>) -> Result<Response<Body>> {
    let admins = c.state.ctx.db.read(admins::count).await?;
    ok(&match &c.session {
        Some(s) => json!({
            "authenticated": true, "username": s.username, "csrf": s.csrf_token,
            "setup_required": false,
        }),
        None => json!({ "authenticated": false, "setup_required": admins == 0 }),
    })
}

/// Creates the first admin from the one-time setup link, and signs them in.
pub async fn setup(c: Call<'_>) -> Result<Response<Body>> {
    let input: Credentials = c.json()?;
    let ctx = &c.state.ctx;
    let _one_at_a_time = c.state.auth.setup_running.lock().await;
    if ctx.db.read(admins::count).await? > 0 {
        return Err(Error::Conflict(
            "an admin already exists: sign in instead".into(),
        ));
    }
    if !c.state.auth.setup_token_valid(&input.token) {
        return Ok(error(
            StatusCode::FORBIDDEN,
            "this setup link is wrong or has expired; restart the service for a new one, \
             or set a password with the command aicarpool admin set-password",
        ));
    }
    manage_admins::set_password(ctx, "setup-link", &input.username, &input.password).await?;
    c.state.auth.end_setup();
    sign_in(&c, &input.username).await
}

/// A hash to verify against when the username is unknown, so both cases take as long.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    manage_admins::hash_password("no such admin, compared only for timing").unwrap_or_default()
});

pub async fn login(c: Call<'_>) -> Result<Response<Body>> {
    let input: Credentials = c.json()?;
    let auth = &c.state.auth;
    let ip = c.peer.map(|p| p.ip());
    let name = input.username.trim().to_owned();
    // Before the throttle: a name no admin can have is not worth a slot in its map.
    if name.len() > MAX_USERNAME_BYTES {
        return Ok(error(StatusCode::BAD_REQUEST, "wrong username or password"));
    }
    if let Err(wait) = auth.reserve_attempt(ip, &name) {
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "too many failed sign-ins; try again in {}",
                crate::domain::human_duration(wait.as_secs().max(1))
            ),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
        return Ok(resp);
    }
    let lookup = name.clone();
    let found = c
        .state
        .ctx
        .db
        .read(move |conn| admins::find_login(conn, &lookup))
        .await?;
    let password = input.password.clone();
    // A few checks at a time: the rest wait here, holding no argon2 memory.
    let _turn = auth
        .verifications
        .acquire()
        .await
        .map_err(|e| Error::Internal(format!("password check queue closed: {e}")))?;
    let verified = tokio::task::spawn_blocking(move || match found {
        Some((_, hash)) => manage_admins::verify_password(&password, &hash),
        None => {
            manage_admins::verify_password(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .map_err(|e| Error::Internal(format!("password check failed: {e}")))?;
    drop(_turn);
    if !verified {
        warn!(ip = ?ip, "failed admin sign-in");
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "wrong username or password",
        ));
    }
    auth.succeeded(ip, &name);
    sign_in(&c, &name).await
}

/// Starts a fresh session (ending any the request carried: no session fixation).
async fn sign_in(c: &Call<'_>, username: &str) -> Result<Response<Body>> {
    let ctx = &c.state.ctx;
    if let Some(old) = &c.session {
        let h = old.token_hash.clone();
        ctx.db
            .write(move |conn| admins::delete_session(conn, &h))
            .await?;
    }
    let name = username.to_owned();
    let (user_id, _) = ctx
        .db
        .read(move |conn| admins::find_login(conn, &name))
        .await?
        .ok_or_else(|| Error::NotFound("the admin vanished".into()))?;
    let ua = c
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect());
    let (cookie, csrf) = c.state.auth.start_session(ctx, user_id, ua).await?;
    let mut resp = ok(&json!({ "authenticated": true, "username": username, "csrf": csrf }))?;
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie.parse().expect("cookie is a valid header"),
    );
    Ok(resp)
}

pub async fn logout(c: Call<'_>) -> Result<Response<Body>> {
    let h = c.session().token_hash.clone();
    c.state
        .ctx
        .db
        .write(move |conn| admins::delete_session(conn, &h))
        .await?;
    let mut resp = ok(&json!({ "authenticated": false }))?;
    resp.headers_mut().insert(
        header::SET_COOKIE,
        c.state
            .auth
            .cookie("", 0)
            .parse()
            .expect("cookie is a valid header"),
    );
    Ok(resp)
}

/// Creates an admin or sets a new password for one (which ends that admin's sessions).
pub async fn set_admin(c: Call<'_>) -> Result<Response<Body>> {
    let input: Credentials = c.json()?;
    let created =
        manage_admins::set_password(&c.state.ctx, &c.actor(), &input.username, &input.password)
            .await?;
    ok(&json!({ "username": input.username.trim(), "created": created }))
}
