//! Configuration as a value: built once from flags, `AICARPOOL_*` variables and the `DEFAULT_*`
//! constants below, then passed to whatever needs it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4000";
/// Claude requests carry base64 images and long histories; 32 MiB covers the API's own limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 30;
/// How long a kept-alive connection may sit with no request before it is closed.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 120;
/// How long a client has to send a request body once its head arrived (32 MiB in a minute
/// needs about 4 Mbit/s).
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_SHUTDOWN_DRAIN_SECS: u64 = 30;
pub const DEFAULT_ERROR_THRESHOLD: u32 = 3;
pub const DEFAULT_ERROR_WINDOW_SECS: u64 = 300;
pub const DEFAULT_TEMP_ERROR_COOLDOWN_SECS: u64 = 300;
pub const DEFAULT_RECOVERY_INTERVAL_SECS: u64 = 60;
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_SECS: u64 = 10;
/// Long prompts with extended thinking can take minutes before the first byte.
pub const DEFAULT_UPSTREAM_FIRST_BYTE_TIMEOUT_SECS: u64 = 600;
pub const DEFAULT_UPSTREAM_IDLE_TIMEOUT_SECS: u64 = 300;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// About the lifetime of a prompt cache entry with the one-hour TTL.
pub const DEFAULT_STICKY_SESSION_TTL_SECS: u64 = 3600;
/// How long a 429 without a reset header keeps an account out.
pub const DEFAULT_RATE_LIMIT_SECS: u64 = 60;
/// The longest a reset header may keep an account out before it is tried again.
pub const DEFAULT_RATE_LIMIT_CAP_SECS: u64 = 3600;
/// How long a 529 "overloaded" keeps an account aside (not an error of the account's).
pub const DEFAULT_OVERLOAD_COOLDOWN_SECS: u64 = 10;
/// A subscription at or above this share of its 5-hour or 7-day window (percent) takes no new
/// conversations while another candidate has headroom.
pub const DEFAULT_WINDOW_RESERVE_PERCENT: u8 = 95;
/// Above this percent of a group's subscription pool used, members past their fair share of
/// the five-hour window are refused.
pub const DEFAULT_FAIR_SHARE_FROM_PERCENT: u8 = 70;
/// How long a request may wait in a key's concurrency queue before it is refused.
pub const DEFAULT_QUEUE_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_TIME_ZONE: &str = "UTC";
/// Request-log rows are kept this many days; monthly budgets need at least a month of them.
pub const DEFAULT_LOG_RETENTION_DAYS: u64 = 90;
pub const MIN_LOG_RETENTION_DAYS: u64 = 32;
pub const DEFAULT_BACKUP_KEEP: u32 = 7;
/// Claude Code's public OAuth client, whose subscriptions `claude-oauth` accounts pool: the
/// values Claude Code 2.1.328 (npm `@anthropic-ai/claude-code`) signs in with, read from its
/// binary. The old `console.anthropic.com` token host answers 404 since mid-2026.
pub const DEFAULT_OAUTH_AUTHORIZE_URL: &str = "https://claude.com/cai/oauth/authorize";
/// Where Console (API billing) accounts sign in instead of claude.ai subscribers.
pub const DEFAULT_OAUTH_CONSOLE_AUTHORIZE_URL: &str = "https://platform.claude.com/oauth/authorize";
pub const DEFAULT_OAUTH_TOKEN_URL: &str = "https://platform.claude.com/v1/oauth/token";
pub const DEFAULT_OAUTH_CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
pub const DEFAULT_OAUTH_REDIRECT_URI: &str = "https://platform.claude.com/oauth/code/callback";
pub const DEFAULT_OAUTH_SCOPES: &str =
    "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload";
/// The scope Console sign-ins add.
pub const OAUTH_CONSOLE_SCOPE: &str = "org:create_api_key";
/// Codex CLI's public OAuth client, whose ChatGPT subscriptions `codex-oauth` accounts pool: the
/// values Codex CLI 0.171.0 (npm `@openai/codex`) signs in with, read from its binary. Its
/// redirect is a listener on the operator's own machine: the page need not load, the operator
/// copies its address.
pub const DEFAULT_CODEX_OAUTH_AUTHORIZE_URL: &str = "https://auth.openai.com/oauth/authorize";
pub const DEFAULT_CODEX_OAUTH_TOKEN_URL: &str = "https://auth.openai.com/oauth/token";
pub const DEFAULT_CODEX_OAUTH_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
pub const DEFAULT_CODEX_OAUTH_REDIRECT_URI: &str = "http://localhost:1455/auth/callback";
pub const DEFAULT_CODEX_OAUTH_SCOPES: &str = "openid profile email offline_access";
/// Gemini CLI's installed-app OAuth client (Gemini CLI 0.61.0, npm `@google/gemini-cli`),
/// whose Google accounts `gemini-oauth` accounts pool through Code Assist. Google publishes
/// installed-app secrets as not secret; the CLI ships this one in its source. The redirect is
/// the page the CLI's no-browser sign-in uses, which shows the code to paste.
pub const DEFAULT_GEMINI_OAUTH_AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const DEFAULT_GEMINI_OAUTH_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_GEMINI_OAUTH_CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
pub const DEFAULT_GEMINI_OAUTH_CLIENT_SECRET: &str = "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";
pub const DEFAULT_GEMINI_OAUTH_REDIRECT_URI: &str = "https://codeassist.google.com/authcode";
pub const DEFAULT_GEMINI_OAUTH_SCOPES: &str = "https://www.googleapis.com/auth/cloud-platform \
    https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile";

pub const DB_FILE: &str = "aicarpool.db";
pub const SECRET_KEY_FILE: &str = "secret.key";
pub const BACKUPS_DIR: &str = "backups";
pub const JOURNAL_DIR: &str = "journal";

/// Everything the process needs to know, resolved.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Where the key sealing upstream secrets lives (default `<data_dir>/secret.key`).
    pub secret_key_file: PathBuf,
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub http: HttpLimits,
    /// Threads that serve client connections, each a runtime of its own (`crate::lanes`).
    pub lanes: usize,
    pub accounts: AccountPolicy,
    pub upstream: UpstreamPolicy,
    /// Where days, weeks and months of limits and budgets begin.
    pub time_zone: jiff::tz::TimeZone,
    pub oauth: SignIns,
    pub queue_timeout: Duration,
    /// How long a stopping server waits for in-flight requests before it exits anyway.
    pub shutdown_drain: Duration,
    pub upkeep: Upkeep,
}

/// Housekeeping and alerting the server does by itself.
#[derive(Clone, Debug)]
pub struct Upkeep {
    /// Request-log rows older than this are deleted (daily rollups stay); `None` keeps all.
    pub log_retention: Option<Duration>,
    /// Scheduled daily backups kept in `backups/`; 0 turns them off.
    pub backup_keep: u32,
    /// Bearer token that opens `/metrics` without an admin session.
    pub metrics_token: Option<crate::crypto::Secret>,
    /// Where account state changes and budget warnings are POSTed as JSON.
    pub webhook_url: Option<crate::crypto::Secret>,
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Limits that keep one client from holding the server's memory or connections.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    /// From accept to the first request's complete head (TLS handshake included), and on a
    /// kept-alive HTTP/1 connection from the end of one answer to the next complete head.
    pub header_read_timeout: Duration,
    /// A kept-alive connection with nothing in flight for this long is closed (an HTTP/1 one
    /// sooner, when `header_read_timeout` is shorter).
    pub idle_timeout: Duration,
    /// From a request's head to the end of its body.
    pub body_read_timeout: Duration,
    /// Open client connections at most; `None` derives it from the descriptor limit.
    pub max_connections: Option<usize>,
}

/// When upstream accounts leave and rejoin the rotation (DESIGN.md §4).
#[derive(Clone, Debug)]
pub struct AccountPolicy {
    pub error_threshold: u32,
    pub error_window: Duration,
    pub temp_error_cooldown: Duration,
    pub recovery_interval: Duration,
}

impl Default for AccountPolicy {
    fn default() -> AccountPolicy {
        AccountPolicy {
            error_threshold: DEFAULT_ERROR_THRESHOLD,
            error_window: Duration::from_secs(DEFAULT_ERROR_WINDOW_SECS),
            temp_error_cooldown: Duration::from_secs(DEFAULT_TEMP_ERROR_COOLDOWN_SECS),
            recovery_interval: Duration::from_secs(DEFAULT_RECOVERY_INTERVAL_SECS),
        }
    }
}

/// How the gateway talks to upstream accounts.
#[derive(Clone, Debug)]
pub struct UpstreamPolicy {
    pub connect_timeout: Duration,
    /// Until the response head arrives.
    pub first_byte_timeout: Duration,
    /// Longest silence inside a response body.
    pub idle_timeout: Duration,
    /// Accounts tried for one request (first try plus failovers).
    pub max_attempts: u32,
    pub sticky_ttl: Duration,
    pub rate_limit_default: Duration,
    pub rate_limit_cap: Duration,
    pub overload_cooldown: Duration,
    /// Share of a subscription window (0–1) at which the account takes no new conversations.
    pub window_reserve: f64,
    /// Pool utilization (0–1) above which the fair share is enforced.
    pub fair_share_from: f64,
    /// PEM certificates trusted for upstream TLS besides the built-in Mozilla roots (a
    /// relay or proxy with a private CA).
    pub extra_roots: Option<PathBuf>,
}

/// Where one subscription platform's tokens come from (settings so tests can use a fake
/// server).
#[derive(Clone, Debug)]
pub struct OauthSettings {
    pub authorize_url: String,
    /// Claude only: where Console (API billing) accounts sign in.
    pub console_authorize_url: Option<String>,
    pub token_url: String,
    pub client_id: String,
    /// Google's installed-app client sends its (published) secret with every token call.
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    pub scopes: String,
    /// How the token endpoint reads its request.
    pub token_body: TokenBody,
}

/// The body of a token endpoint call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenBody {
    /// JSON, as Claude Code sends it.
    Json,
    /// `application/x-www-form-urlencoded`, as OAuth 2.0 defines (OpenAI, Google).
    Form,
}

/// The sign-in of each subscription platform.
#[derive(Clone, Debug)]
pub struct SignIns {
    pub claude: OauthSettings,
    pub codex: OauthSettings,
    pub gemini: OauthSettings,
}

impl SignIns {
    /// The sign-in of `platform`, when it is a subscription.
    pub fn of(&self, platform: crate::domain::Platform) -> Option<&OauthSettings> {
        use crate::domain::Platform;
        match platform {
            Platform::ClaudeOauth => Some(&self.claude),
            Platform::CodexOauth => Some(&self.codex),
            Platform::GeminiOauth => Some(&self.gemini),
            _ => None,
        }
    }
}

impl Default for SignIns {
    fn default() -> SignIns {
        SignIns {
            claude: OauthSettings {
                authorize_url: DEFAULT_OAUTH_AUTHORIZE_URL.into(),
                console_authorize_url: Some(DEFAULT_OAUTH_CONSOLE_AUTHORIZE_URL.into()),
                token_url: DEFAULT_OAUTH_TOKEN_URL.into(),
                client_id: DEFAULT_OAUTH_CLIENT_ID.into(),
                client_secret: None,
                redirect_uri: DEFAULT_OAUTH_REDIRECT_URI.into(),
                scopes: DEFAULT_OAUTH_SCOPES.into(),
                token_body: TokenBody::Json,
            },
            codex: OauthSettings {
                authorize_url: DEFAULT_CODEX_OAUTH_AUTHORIZE_URL.into(),
                console_authorize_url: None,
                token_url: DEFAULT_CODEX_OAUTH_TOKEN_URL.into(),
                client_id: DEFAULT_CODEX_OAUTH_CLIENT_ID.into(),
                client_secret: None,
                redirect_uri: DEFAULT_CODEX_OAUTH_REDIRECT_URI.into(),
                scopes: DEFAULT_CODEX_OAUTH_SCOPES.into(),
                token_body: TokenBody::Form,
            },
            gemini: OauthSettings {
                authorize_url: DEFAULT_GEMINI_OAUTH_AUTHORIZE_URL.into(),
                console_authorize_url: None,
                token_url: DEFAULT_GEMINI_OAUTH_TOKEN_URL.into(),
                client_id: DEFAULT_GEMINI_OAUTH_CLIENT_ID.into(),
                client_secret: Some(DEFAULT_GEMINI_OAUTH_CLIENT_SECRET.into()),
                redirect_uri: DEFAULT_GEMINI_OAUTH_REDIRECT_URI.into(),
                scopes: DEFAULT_GEMINI_OAUTH_SCOPES.into(),
                token_body: TokenBody::Form,
            },
        }
    }
}

impl Config {
    /// A configuration with every default, rooted at `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config {
            secret_key_file: data_dir.join(SECRET_KEY_FILE),
            data_dir,
            listen: DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
            tls: None,
            http: HttpLimits {
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
                header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
                idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
                body_read_timeout: Duration::from_secs(DEFAULT_BODY_READ_TIMEOUT_SECS),
                max_connections: None,
            },
            lanes: std::thread::available_parallelism().map_or(1, |n| n.get()),
            accounts: AccountPolicy::default(),
            upstream: UpstreamPolicy {
                connect_timeout: Duration::from_secs(DEFAULT_UPSTREAM_CONNECT_TIMEOUT_SECS),
                first_byte_timeout: Duration::from_secs(DEFAULT_UPSTREAM_FIRST_BYTE_TIMEOUT_SECS),
                idle_timeout: Duration::from_secs(DEFAULT_UPSTREAM_IDLE_TIMEOUT_SECS),
                max_attempts: DEFAULT_MAX_ATTEMPTS,
                sticky_ttl: Duration::from_secs(DEFAULT_STICKY_SESSION_TTL_SECS),
                rate_limit_default: Duration::from_secs(DEFAULT_RATE_LIMIT_SECS),
                rate_limit_cap: Duration::from_secs(DEFAULT_RATE_LIMIT_CAP_SECS),
                overload_cooldown: Duration::from_secs(DEFAULT_OVERLOAD_COOLDOWN_SECS),
                window_reserve: f64::from(DEFAULT_WINDOW_RESERVE_PERCENT) / 100.0,
                fair_share_from: f64::from(DEFAULT_FAIR_SHARE_FROM_PERCENT) / 100.0,
                extra_roots: None,
            },
            time_zone: jiff::tz::TimeZone::UTC,
            oauth: SignIns::default(),
            queue_timeout: Duration::from_secs(DEFAULT_QUEUE_TIMEOUT_SECS),
            shutdown_drain: Duration::from_secs(DEFAULT_SHUTDOWN_DRAIN_SECS),
            upkeep: Upkeep {
                log_retention: Some(Duration::from_secs(DEFAULT_LOG_RETENTION_DAYS * 86_400)),
                backup_keep: DEFAULT_BACKUP_KEEP,
                metrics_token: None,
                webhook_url: None,
            },
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.data_dir.join(BACKUPS_DIR)
    }

    /// Request records not yet committed to the database (see `store::journal`).
    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join(JOURNAL_DIR)
    }
}
