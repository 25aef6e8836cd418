//! Admin sign-in: the one-time setup link, login throttling, and server-side sessions behind an
//! HttpOnly, SameSite=Strict cookie with the CSRF token every state-changing call must echo.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderMap;

use crate::crypto::{ct_eq, random_hex, sha256_hex};
use crate::error::Result;
use crate::manage::Ctx;
use crate::store::{admins, now_ms};

/// The session cookie's name.
pub const COOKIE: &str = "aicarpool_session";
/// The header a state-changing call must carry, holding the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused this long ends.
pub const IDLE_MS: i64 = 60 * 60 * 1000;
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;
/// `last_seen_at` is written at most this often per session, not on every call.
const TOUCH_EVERY_MS: i64 = 60 * 1000;
/// How long the setup link printed at start stays usable.
pub const SETUP_TTL: Duration = Duration::from_secs(60 * 60);
/// Failed sign-ins allowed per (address, username) and per address within [`FAILURE_WINDOW`].
const MAX_FAILURES_PER_USER: usize = 5;
const MAX_FAILURES_PER_ADDRESS: usize = 20;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Aged-out throttle entries are dropped this often, and the map never holds more than this.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const MAX_THROTTLE_ENTRIES: usize = 10_000;
/// Password verifications run at once (see [`Auth::verifications`]).
const MAX_VERIFICATIONS: usize = 2;
/// The longest username a sign-in may name (as `admin set-password` allows).
pub const MAX_USERNAME_BYTES: usize = 64;

/// A signed-in admin, as a request carries it.
#[derive(Clone, Debug)]
pub struct Session {
    pub token_hash: String,
    pub user_id: i64,
    pub username: String,
    pub csrf_token: String,
}

impl Session {
    /// The actor name audit records carry for this admin's changes.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.username)
    }
}

/// Sign-in state that lives only in memory: the setup link and recent failures.
pub struct Auth {
    setup: Mutex<Option<(String, Instant)>>,
    /// Held while the first admin is made, so two setup calls cannot both make one.
    pub setup_running: tokio::sync::Mutex<()>,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    last_prune: Mutex<Instant>,
    /// Password checks running at once: each argon2 verification takes ~19 MiB, so a burst of
    /// sign-ins waits here instead of taking gigabytes.
    pub verifications: tokio::sync::Semaphore,
    /// Cookies get `Secure` when the server speaks TLS.
    secure: bool,
}

impl Auth {
    pub fn new(secure: bool) -> Auth {
        Auth {
            setup: Mutex::new(None),
            setup_running: tokio::sync::Mutex::new(()),
            failures: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(Instant::now()),
            verifications: tokio::sync::Semaphore::new(MAX_VERIFICATIONS),
            secure,
        }
    }

    /// Makes a new setup link token (replacing any earlier one) and returns it; only its hash
    /// is kept.
    pub fn issue_setup_token(&self) -> Result<String> {
        let token = random_hex(24)?;
        *self.setup.lock().expect("setup lock") =
            Some((sha256_hex(&token), Instant::now() + SETUP_TTL));
        Ok(token)
    }

    /// Whether `token` is the live setup token.
    pub fn setup_token_valid(&self, token: &str) -> bool {
        let setup = self.setup.lock().expect("setup lock");
        match &*setup {
            Some((hash, until)) => {
                Instant::now() < *until && ct_eq(hash.as_bytes(), sha256_hex(token).as_bytes())
            }
            None => false,
        }
    }

    /// Ends the setup link once the first admin exists.
    pub fn end_setup(&self) {
        *self.setup.lock().expect("setup lock") = None;
    }

    /// The throttle keys a sign-in attempt counts against: the name as the lookup uses it
    /// (trimmed, any case).
    fn keys(peer: Option<IpAddr>, username: &str) -> [String; 2] {
        let ip = peer.map(|p| p.to_string()).unwrap_or_default();
        [
            format!("{ip}|{}", username.trim().to_lowercase()),
            format!("{ip}|*"),
        ]
    }

    /// Counts a sign-in attempt as failed before its password is checked, so parallel
    /// attempts cannot all pass the throttle; [`Auth::succeeded`] takes it back. Refused, with
    /// the wait, when the address or the name has failed too often.
    pub fn reserve_attempt(&self, peer: Option<IpAddr>, username: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("throttle lock");
        self.prune(&mut failures, now);
        let keys = Self::keys(peer, username);
        let limits = [MAX_FAILURES_PER_USER, MAX_FAILURES_PER_ADDRESS];
        let mut wait = None;
        for (key, max) in keys.iter().zip(limits) {
            if let Some(times) = failures.get_mut(key) {
                while times.front().is_some_and(|t| now - *t > FAILURE_WINDOW) {
                    times.pop_front();
                }
                if times.len() >= max {
                    let until = times[times.len() - max] + FAILURE_WINDOW;
                    wait = wait.max(Some(until.saturating_duration_since(now)));
                }
            }
        }
        if let Some(wait) = wait {
            return Err(wait.max(Duration::from_secs(1)));
        }
        for key in keys {
            let times = failures.entry(key).or_default();
            times.push_back(now);
            if times.len() > MAX_FAILURES_PER_ADDRESS {
                times.pop_front();
            }
        }
        Ok(())
    }

    /// A reserved attempt succeeded: the name's failures are forgotten and the address's
    /// reservation given back.
    pub fn succeeded(&self, peer: Option<IpAddr>, username: &str) {
        let [user_key, address_key] = Self::keys(peer, username);
        let mut failures = self.failures.lock().expect("throttle lock");
        failures.remove(&user_key);
        if let Some(times) = failures.get_mut(&address_key) {
            times.pop_back();
        }
    }

    /// Drops entries whose failures have all aged out (at most once a minute), and bounds the
    /// map whatever the traffic: beyond its cap the entries failing longest ago go first.
    fn prune(&self, failures: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
        let mut last = self.last_prune.lock().expect("prune lock");
        if failures.len() < MAX_THROTTLE_ENTRIES && now.duration_since(*last) < PRUNE_EVERY {
            return;
        }
        *last = now;
        failures.retain(|_, t| t.back().is_some_and(|t| now - *t < FAILURE_WINDOW));
        if failures.len() >= MAX_THROTTLE_ENTRIES {
            let mut ages: Vec<Instant> = failures
                .values()
                .filter_map(|t| t.back().copied())
                .collect();
            let cut = ages.len() - MAX_THROTTLE_ENTRIES / 2;
            let (_, nth, _) = ages.select_nth_unstable(cut);
            let nth = *nth;
            failures.retain(|_, t| t.back().is_some_and(|t| *t > nth));
        }
    }

    /// The number of (address, name) entries the throttle holds.
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.failures.lock().expect("throttle lock").len()
    }

    /// Starts a session for `user_id`; returns the cookie value to set and the CSRF token.
    pub async fn start_session(
        &self,
        ctx: &Ctx,
        user_id: i64,
        user_agent: Option<String>,
    ) -> Result<(String, String)> {
        let token = random_hex(32)?;
        let csrf = random_hex(24)?;
        let (hash, c) = (sha256_hex(&token), csrf.clone());
        ctx.db
            .write(move |conn| {
                admins::insert_session(
                    conn,
                    &hash,
                    user_id,
                    &c,
                    now_ms() + ABSOLUTE_MS,
                    user_agent.as_deref(),
                )
            })
            .await?;
        Ok((self.cookie(&token, ABSOLUTE_MS / 1000), csrf))
    }

    /// The `Set-Cookie` value for a session token (`max_age` 0 clears it).
    pub fn cookie(&self, token: &str, max_age: i64) -> String {
        format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
            if self.secure { "; Secure" } else { "" }
        )
    }
}

/// The session a request's cookie names, if it is live. An idle or expired one is deleted.
pub async fn current(ctx: &Ctx, headers: &HeaderMap) -> Result<Option<Session>> {
    let Some(token) = cookie_value(headers) else {
        return Ok(None);
    };
    let hash = sha256_hex(&token);
    let h = hash.clone();
    let Some(row) = ctx.db.read(move |c| admins::find_session(c, &h)).await? else {
        return Ok(None);
    };
    let now = now_ms();
    if now >= row.expires_at || now - row.last_seen_at >= IDLE_MS {
        let h = hash.clone();
        ctx.db.write(move |c| admins::delete_session(c, &h)).await?;
        return Ok(None);
    }
    if now - row.last_seen_at >= TOUCH_EVERY_MS {
        let h = hash.clone();
        ctx.db
            .write(move |c| admins::touch_session(c, &h, now))
            .await?;
    }
    Ok(Some(Session {
        token_hash: hash,
        user_id: row.user_id,
        username: row.username,
        csrf_token: row.csrf_token,
    }))
}

/// Whether the request carries the session's CSRF token.
pub fn csrf_ok(session: &Session, headers: &HeaderMap) -> bool {
    headers
        .get(CSRF_HEADER)
        .is_some_and(|v| ct_eq(v.as_bytes(), session.csrf_token.as_bytes()))
}

/// The session token from the `Cookie` header(s), if any.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_per_user_and_address_and_expires() {
        let auth = Auth::new(false);
        let ip = Some("10.0.0.1".parse().unwrap());
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(auth.reserve_attempt(ip, "root").is_ok());
        }
        // Reserved before checking: the sixth attempt is refused even if none has finished.
        let wait = auth
            .reserve_attempt(ip, " ROOT ")
            .expect_err("throttled after 5 attempts, by the name the lookup uses");
        assert!(wait <= FAILURE_WINDOW && wait > FAILURE_WINDOW - Duration::from_secs(5));
        // Another address is not affected; another username from this address is, once the
        // address itself has failed too often.
        assert!(
            auth.reserve_attempt(Some("10.0.0.2".parse().unwrap()), "root")
                .is_ok()
        );
        assert!(auth.reserve_attempt(ip, "other").is_ok());
        auth.succeeded(ip, "other");
        for i in 0..MAX_FAILURES_PER_ADDRESS - MAX_FAILURES_PER_USER {
            assert!(auth.reserve_attempt(ip, &format!("user{i}")).is_ok());
        }
        assert!(auth.reserve_attempt(ip, "other").is_err());
    }

    #[test]
    fn the_throttle_map_stays_bounded() {
        let auth = Auth::new(false);
        for i in 0..3 * MAX_THROTTLE_ENTRIES {
            let ip = std::net::IpAddr::from(std::net::Ipv6Addr::from(i as u128));
            let _ = auth.reserve_attempt(Some(ip), "root");
        }
        assert!(
            auth.entries() <= MAX_THROTTLE_ENTRIES + 2,
            "{}",
            auth.entries()
        );
    }

    #[test]
    fn setup_token_is_single_and_checked_by_hash() {
        let auth = Auth::new(true);
        assert!(!auth.setup_token_valid("anything"));
        let t = auth.issue_setup_token().unwrap();
        assert!(auth.setup_token_valid(&t));
        assert!(!auth.setup_token_valid(&t[1..]));
        auth.end_setup();
        assert!(!auth.setup_token_valid(&t));
        assert!(auth.cookie("x", 1).ends_with("; Secure"));
    }

    #[test]
    fn cookie_parsing_takes_only_a_well_formed_session_token() {
        let mut h = HeaderMap::new();
        let token = "a".repeat(64);
        h.insert(
            http::header::COOKIE,
            format!("theme=dark; {COOKIE}={token}").parse().unwrap(),
        );
        assert_eq!(cookie_value(&h), Some(token));
        h.insert(
            http::header::COOKIE,
            format!("{COOKIE}=../x").parse().unwrap(),
        );
        assert_eq!(cookie_value(&h), None);
    }
}
