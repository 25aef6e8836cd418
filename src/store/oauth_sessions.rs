//! SQL for `oauth_sessions`: PKCE verifiers waiting for their authorization code.

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::Platform;
use crate::error::Result;

pub fn insert(
    conn: &Connection,
    state: &str,
    platform: Platform,
    verifier: &[u8],
    now: i64,
    expires_at: i64,
) -> Result<()> {
    conn.execute("DELETE FROM oauth_sessions WHERE expires_at < ?1", [now])?;
    conn.execute(
        "INSERT INTO oauth_sessions (state, platform, verifier, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![state, platform.as_str(), verifier, now, expires_at],
    )?;
    Ok(())
}

/// A link waiting for its code.
pub struct Session {
    pub state: String,
    pub platform: Platform,
    /// Sealed.
    pub verifier: Vec<u8>,
}

/// Removes the session of `state` and returns it, if it exists and is live: a link works
/// once. Without a state (a code pasted alone), the one live link of `platform` (or of any
/// platform) is taken, and none when there are several.
pub fn take(
    conn: &Connection,
    state: Option<&str>,
    platform: Option<Platform>,
    now: i64,
) -> Result<Option<Session>> {
    let state = match state {
        Some(s) => s.to_owned(),
        None => {
            let mut stmt = conn.prepare(
                "SELECT state FROM oauth_sessions WHERE expires_at >= ?1
                   AND (?2 IS NULL OR platform = ?2) LIMIT 2",
            )?;
            let live: Vec<String> = stmt
                .query_map(params![now, platform.map(|p| p.as_str())], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            match <[String; 1]>::try_from(live) {
                Ok([one]) => one,
                Err(_) => return Ok(None),
            }
        }
    };
    let found: Option<(String, Vec<u8>, i64)> = conn
        .query_row(
            "DELETE FROM oauth_sessions WHERE state = ?1 RETURNING platform, verifier, expires_at",
            [&state],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((platform, verifier, _)) = found.filter(|f| f.2 >= now) else {
        return Ok(None);
    };
    let platform = platform.parse().map_err(|e: String| {
        crate::error::Error::Internal(format!("a stored sign-in link: {e}"))
    })?;
    Ok(Some(Session {
        state,
        platform,
        verifier,
    }))
}
