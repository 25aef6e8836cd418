//! Subscription tokens (`claude-oauth`, `codex-oauth`, `gemini-oauth`) kept fresh — before expiry on a timer, and once
//! when an upstream answers 401 — single-flight per account, persisted atomically. A refresh
//! token the server rejects puts the account in ERROR with the reason. The token endpoint call
//! itself is `upstream::token`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{info, warn};

use super::snapshot::Snapshots;
use crate::config::SignIns;
use crate::crypto::{Purpose, SecretKey};
use crate::lifecycle::{Event, Next};
use crate::store::{self, Db, now_ms};
use crate::tasks::{self, Shutdown};
use crate::upstream::client::Clients;
use crate::upstream::token::{Grant, TokenError, chatgpt_account_id, token_call};

/// Refresh tokens this long before they expire.
const REFRESH_AHEAD: Duration = Duration::from_secs(300);
const TIMER_EVERY: Duration = Duration::from_secs(60);
/// After a refresh that failed for a reason that may pass, the timer waits this long, doubled
/// per further failure up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_secs(60);
const BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);

/// Why a subscription's token could not be refreshed. The texts go to the log and the
/// account's status reason; they never hold a token.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the account no longer exists")]
    Gone,
    #[error("the account has no refresh token")]
    NoRefreshToken,
    #[error("the account is not a subscription")]
    NotSubscription,
    /// Reading or writing the account (or opening its sealed tokens) failed.
    #[error(transparent)]
    Store(#[from] crate::error::Error),
    /// The token server refused the refresh token: the account is now in ERROR.
    #[error("refreshing the subscription token failed: {0}")]
    Rejected(String),
    /// The token server could not be reached; a later refresh may work.
    #[error("{0}")]
    Unavailable(TokenError),
}

pub struct Refresher {
    db: Db,
    secrets: SecretKey,
    settings: SignIns,
    clients: Arc<Clients>,
    /// The serving gateway's snapshot, reloaded after a change (none in the CLI).
    snapshots: Option<Arc<Snapshots>>,
    /// One refresh at a time per account.
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Accounts whose refresh keeps failing: failures so far, and when the timer tries again.
    backoff: Mutex<HashMap<i64, (u32, i64)>>,
}

impl Refresher {
    pub fn new(
        db: Db,
        secrets: SecretKey,
        settings: SignIns,
        clients: Arc<Clients>,
        snapshots: Option<Arc<Snapshots>>,
    ) -> Refresher {
        Refresher {
            db,
            secrets,
            settings,
            clients,
            snapshots,
            locks: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh access token for account `id`. With `stale` (the token an upstream just
    /// refused), a refresh another request already made is reused instead of repeated.
    pub async fn refresh(&self, id: i64, stale: Option<&str>) -> Result<String, RefreshError> {
        let lock = self
            .locks
            .lock()
            .expect("refresh locks")
            .entry(id)
            .or_default()
            .clone();
        let _one_at_a_time = lock.lock().await;
        let account = self
            .db
            .read(move |c| store::accounts::find_by_id(c, id))
            .await?
            .ok_or(RefreshError::Gone)?;
        let open = |sealed: &Option<Vec<u8>>, purpose| {
            sealed
                .as_ref()
                .map(|s| self.secrets.open_string(purpose, s))
                .transpose()
        };
        let current = open(&account.oauth_access, Purpose::OauthAccessToken)?;
        if let (Some(stale), Some(current)) = (stale, &current)
            && stale != current
        {
            return Ok(current.clone());
        }
        let Some(refresh) = open(&account.oauth_refresh, Purpose::OauthRefreshToken)? else {
            return Err(RefreshError::NoRefreshToken);
        };
        let settings = self
            .settings
            .of(account.platform)
            .ok_or(RefreshError::NotSubscription)?;
        let proxy = super::snapshot::upstream(&account, &self.secrets).and_then(|u| u.proxy);
        let client = self.clients.get(proxy.as_ref());
        match token_call(&client, settings, Grant::Refresh(&refresh)).await {
            Ok(t) => {
                // A ChatGPT sign-in names its account in the tokens; keep up if it moved.
                let workspace = (account.platform == crate::domain::Platform::CodexOauth)
                    .then(|| {
                        t.id_token
                            .as_deref()
                            .and_then(chatgpt_account_id)
                            .or_else(|| chatgpt_account_id(&t.access))
                    })
                    .flatten()
                    .filter(|w| account.workspace.as_ref() != Some(w));
                let access = self
                    .secrets
                    .seal(Purpose::OauthAccessToken, t.access.as_bytes())?;
                let refresh = t
                    .refresh
                    .as_deref()
                    .map(|r| self.secrets.seal(Purpose::OauthRefreshToken, r.as_bytes()))
                    .transpose()?;
                let expires = t.expires_at;
                self.db
                    .write(move |c| {
                        store::accounts::set_oauth_tokens(
                            c,
                            id,
                            &access,
                            refresh.as_deref(),
                            expires,
                        )?;
                        match &workspace {
                            Some(w) => store::accounts::set_workspace(c, id, w),
                            None => Ok(()),
                        }
                    })
                    .await?;
                self.backoff.lock().expect("backoff").remove(&id);
                if let Err(e) = self
                    .db
                    .write(move |c| store::runtime::refresh_ok(c, id))
                    .await
                {
                    warn!(account = id, error = %e, "could not clear the refresh failure");
                }
                self.reload().await;
                // Said once the new token is what requests use.
                info!(account = id, "refreshed the subscription's access token");
                Ok(t.access)
            }
            Err(TokenError::Rejected(why)) => {
                let refused = RefreshError::Rejected(why);
                let event = Event::Refused {
                    reason: refused.to_string(),
                };
                // A refusal puts the account in ERROR whatever the error policy says.
                let policy = crate::config::AccountPolicy::default();
                let mark = store::accounts::ErrorMark {
                    count: None,
                    at: now_ms(),
                };
                let moved = self
                    .db
                    .write(move |c| {
                        let d =
                            store::accounts::advance(c, id, &event, &policy, Some(mark), "system")?;
                        Ok(matches!(d, Some((_, Next::Move { .. }))))
                    })
                    .await;
                if matches!(moved, Ok(true)) {
                    warn!(account = id, reason = %refused, "account out of rotation");
                    self.reload().await;
                }
                Err(refused)
            }
            Err(e @ TokenError::Unavailable(_)) => {
                let now = now_ms();
                let failures = {
                    let mut b = self.backoff.lock().expect("backoff");
                    let entry = b.entry(id).or_insert((0, now));
                    entry.0 += 1;
                    let wait = BACKOFF_FIRST
                        .saturating_mul(1 << (entry.0 - 1).min(10))
                        .min(BACKOFF_MAX);
                    entry.1 = now + wait.as_millis() as i64;
                    entry.0
                };
                let error = e.to_string();
                warn!(account = id, failures, %error, "token refresh failed; trying again later");
                if let Err(e) = self
                    .db
                    .write(move |c| store::runtime::refresh_failed(c, id, now, &error))
                    .await
                {
                    warn!(account = id, error = %e, "could not record the refresh failure");
                }
                Err(RefreshError::Unavailable(e))
            }
        }
    }

    async fn reload(&self) {
        if let Some(s) = &self.snapshots
            && let Err(e) = s.refresh().await
        {
            warn!(error = %e, "reloading the snapshot failed");
        }
    }

    /// Starts the loop that refreshes tokens about to expire, every minute.
    pub fn start_timer(self: &Arc<Self>, shutdown: Shutdown) {
        let me = self.clone();
        tasks::every(
            "token refresh",
            || TIMER_EVERY,
            shutdown,
            move || {
                let me = me.clone();
                async move {
                    me.refresh_due()
                        .await
                        .map_err(|e| format!("could not look for tokens to refresh: {e}"))
                }
            },
        );
    }

    /// One pass: every subscription whose token expires within [`REFRESH_AHEAD`].
    async fn refresh_due(&self) -> crate::error::Result<()> {
        let before = now_ms() + REFRESH_AHEAD.as_millis() as i64;
        let due = self
            .db
            .read(move |c| store::accounts::oauth_due(c, before))
            .await?;
        let now = now_ms();
        let waiting: Vec<i64> = {
            let b = self.backoff.lock().expect("backoff");
            b.iter()
                .filter(|(_, (_, at))| *at > now)
                .map(|(id, _)| *id)
                .collect()
        };
        for id in due.into_iter().filter(|id| !waiting.contains(id)) {
            if let Err(e) = self.refresh(id, None).await {
                warn!(account = id, error = %e, "token refresh failed");
            }
        }
        Ok(())
    }
}
