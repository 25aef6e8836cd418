//! The command line, declared with clap. Every `AICARPOOL_*` variable is also a flag here, so
//! `--help` documents the whole configuration.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::*;

mod accounts;
pub use accounts::*;

#[derive(Debug, Parser)]
#[command(
    name = "aicarpool",
    version,
    about = "Self-hosted AI API gateway for teams"
)]
pub struct Cli {
    /// Directory holding aicarpool.db, secret.key and backups/.
    #[arg(long, global = true, env = "AICARPOOL_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Key file sealing upstream secrets (default: <data-dir>/secret.key).
    #[arg(long, global = true, env = "AICARPOOL_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub oauth: OauthArgs,
    #[command(flatten)]
    pub codex_oauth: CodexOauthArgs,
    #[command(flatten)]
    pub gemini_oauth: GeminiOauthArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The OAuth server of Claude subscriptions: Claude Code 2.1.328's (change only when the
/// vendor moves it, or to test against another server).
#[derive(Debug, Args)]
#[command(next_help_heading = "Claude subscription sign-in")]
pub struct OauthArgs {
    /// Where claude.ai subscribers sign in.
    #[arg(long, global = true, env = "AICARPOOL_OAUTH_AUTHORIZE_URL", default_value = DEFAULT_OAUTH_AUTHORIZE_URL)]
    pub oauth_authorize_url: String,
    /// Where Console accounts sign in (`account oauth-url --console`).
    #[arg(long, global = true, env = "AICARPOOL_OAUTH_CONSOLE_AUTHORIZE_URL", default_value = DEFAULT_OAUTH_CONSOLE_AUTHORIZE_URL)]
    pub oauth_console_authorize_url: String,
    /// The token endpoint (code exchange and refresh).
    #[arg(long, global = true, env = "AICARPOOL_OAUTH_TOKEN_URL", default_value = DEFAULT_OAUTH_TOKEN_URL)]
    pub oauth_token_url: String,
    #[arg(long, global = true, env = "AICARPOOL_OAUTH_CLIENT_ID", default_value = DEFAULT_OAUTH_CLIENT_ID)]
    pub oauth_client_id: String,
    #[arg(long, global = true, env = "AICARPOOL_OAUTH_REDIRECT_URI", default_value = DEFAULT_OAUTH_REDIRECT_URI)]
    pub oauth_redirect_uri: String,
    /// Scopes asked for (Console sign-ins add org:create_api_key).
    #[arg(long, global = true, env = "AICARPOOL_OAUTH_SCOPES", default_value = DEFAULT_OAUTH_SCOPES)]
    pub oauth_scopes: String,
}

/// The OAuth server of ChatGPT subscriptions: Codex CLI 0.171.0's.
#[derive(Debug, Args)]
#[command(next_help_heading = "ChatGPT (Codex) subscription sign-in")]
pub struct CodexOauthArgs {
    #[arg(long, global = true, env = "AICARPOOL_CODEX_OAUTH_AUTHORIZE_URL", default_value = DEFAULT_CODEX_OAUTH_AUTHORIZE_URL)]
    pub codex_oauth_authorize_url: String,
    /// The token endpoint (code exchange and refresh).
    #[arg(long, global = true, env = "AICARPOOL_CODEX_OAUTH_TOKEN_URL", default_value = DEFAULT_CODEX_OAUTH_TOKEN_URL)]
    pub codex_oauth_token_url: String,
    #[arg(long, global = true, env = "AICARPOOL_CODEX_OAUTH_CLIENT_ID", default_value = DEFAULT_CODEX_OAUTH_CLIENT_ID)]
    pub codex_oauth_client_id: String,
    #[arg(long, global = true, env = "AICARPOOL_CODEX_OAUTH_REDIRECT_URI", default_value = DEFAULT_CODEX_OAUTH_REDIRECT_URI)]
    pub codex_oauth_redirect_uri: String,
    #[arg(long, global = true, env = "AICARPOOL_CODEX_OAUTH_SCOPES", default_value = DEFAULT_CODEX_OAUTH_SCOPES)]
    pub codex_oauth_scopes: String,
}

/// The OAuth server of Google accounts used through Code Assist: Gemini CLI 0.61.0's.
#[derive(Debug, Args)]
#[command(next_help_heading = "Google (Gemini CLI) account sign-in")]
pub struct GeminiOauthArgs {
    #[arg(long, global = true, env = "AICARPOOL_GEMINI_OAUTH_AUTHORIZE_URL", default_value = DEFAULT_GEMINI_OAUTH_AUTHORIZE_URL)]
    pub gemini_oauth_authorize_url: String,
    /// The token endpoint (code exchange and refresh).
    #[arg(long, global = true, env = "AICARPOOL_GEMINI_OAUTH_TOKEN_URL", default_value = DEFAULT_GEMINI_OAUTH_TOKEN_URL)]
    pub gemini_oauth_token_url: String,
    #[arg(long, global = true, env = "AICARPOOL_GEMINI_OAUTH_CLIENT_ID", default_value = DEFAULT_GEMINI_OAUTH_CLIENT_ID)]
    pub gemini_oauth_client_id: String,
    /// The installed-app client's secret, which Google treats as public.
    #[arg(long, global = true, env = "AICARPOOL_GEMINI_OAUTH_CLIENT_SECRET", default_value = DEFAULT_GEMINI_OAUTH_CLIENT_SECRET)]
    pub gemini_oauth_client_secret: String,
    #[arg(long, global = true, env = "AICARPOOL_GEMINI_OAUTH_REDIRECT_URI", default_value = DEFAULT_GEMINI_OAUTH_REDIRECT_URI)]
    pub gemini_oauth_redirect_uri: String,
    #[arg(long, global = true, env = "AICARPOOL_GEMINI_OAUTH_SCOPES", default_value = DEFAULT_GEMINI_OAUTH_SCOPES)]
    pub gemini_oauth_scopes: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations (backup first) and run the gateway and admin page.
    Serve(ServeArgs),
    /// Apply pending migrations, or show their status.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Admin users of the web console.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Teams ("carpool groups") that share accounts.
    Group {
        #[command(subcommand)]
        action: GroupAction,
    },
    /// Upstream AI accounts.
    Account {
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Member API keys.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Model prices (USD per million tokens) that usage is charged at.
    Price {
        #[command(subcommand)]
        action: PriceAction,
    },
    /// Usage totals.
    Usage(UsageArgs),
    /// Consistent online copy of the database (safe while `serve` runs).
    Backup {
        /// Where to write the copy; must not exist.
        file: PathBuf,
    },
}

/// Secrets are read only from the environment, never from flags (which `ps` shows):
/// AICARPOOL_METRICS_TOKEN (bearer token for /metrics) and AICARPOOL_WEBHOOK_URL (where
/// account state changes and budget warnings are POSTed).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AICARPOOL_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// PEM certificate chain; serves HTTPS when given with --tls-key.
    #[arg(long, env = "AICARPOOL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "AICARPOOL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted (bytes); larger gets 413.
    #[arg(long, env = "AICARPOOL_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Largest request head accepted (bytes).
    #[arg(long, env = "AICARPOOL_MAX_HEADER_BYTES", default_value_t = DEFAULT_MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,
    /// Seconds a client has to send its request head (and TLS handshake).
    #[arg(long, env = "AICARPOOL_HEADER_READ_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT_SECS)]
    pub header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may sit with no request before it is closed.
    #[arg(long, env = "AICARPOOL_IDLE_TIMEOUT_SECS", default_value_t = DEFAULT_IDLE_TIMEOUT_SECS)]
    pub idle_timeout_secs: u64,
    /// Seconds a client has to send a request body after its head.
    #[arg(long, env = "AICARPOOL_BODY_READ_TIMEOUT_SECS", default_value_t = DEFAULT_BODY_READ_TIMEOUT_SECS)]
    pub body_read_timeout_secs: u64,
    /// Open client connections at most [default: half the open-file limit, less a reserve].
    #[arg(long, env = "AICARPOOL_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Threads that serve client connections and run their requests [default: one per CPU
    /// core]. Each connection stays on one of them.
    #[arg(long, env = "AICARPOOL_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: Option<u16>,
    /// Seconds in-flight requests may take to finish after SIGTERM.
    #[arg(long, env = "AICARPOOL_SHUTDOWN_DRAIN_SECS", default_value_t = DEFAULT_SHUTDOWN_DRAIN_SECS)]
    pub shutdown_drain_secs: u64,
    /// Server errors within the window that put an account in TEMP_ERROR.
    #[arg(long, env = "AICARPOOL_ERROR_THRESHOLD", default_value_t = DEFAULT_ERROR_THRESHOLD)]
    pub error_threshold: u32,
    /// Length of the sliding error window (seconds).
    #[arg(long, env = "AICARPOOL_ERROR_WINDOW_SECS", default_value_t = DEFAULT_ERROR_WINDOW_SECS)]
    pub error_window_secs: u64,
    /// Seconds after the last error before a TEMP_ERROR account returns.
    #[arg(long, env = "AICARPOOL_TEMP_ERROR_COOLDOWN_SECS", default_value_t = DEFAULT_TEMP_ERROR_COOLDOWN_SECS)]
    pub temp_error_cooldown_secs: u64,
    /// How often the recovery timer runs (seconds).
    #[arg(long, env = "AICARPOOL_RECOVERY_INTERVAL_SECS", default_value_t = DEFAULT_RECOVERY_INTERVAL_SECS)]
    pub recovery_interval_secs: u64,
    /// Seconds to connect to an upstream before trying the next account.
    #[arg(long, env = "AICARPOOL_UPSTREAM_CONNECT_TIMEOUT_SECS", default_value_t = DEFAULT_UPSTREAM_CONNECT_TIMEOUT_SECS)]
    pub upstream_connect_timeout_secs: u64,
    /// Seconds to wait for an upstream's response head.
    #[arg(long, env = "AICARPOOL_UPSTREAM_FIRST_BYTE_TIMEOUT_SECS", default_value_t = DEFAULT_UPSTREAM_FIRST_BYTE_TIMEOUT_SECS)]
    pub upstream_first_byte_timeout_secs: u64,
    /// Longest silence (seconds) inside an upstream response before it is cut off.
    #[arg(long, env = "AICARPOOL_UPSTREAM_IDLE_TIMEOUT_SECS", default_value_t = DEFAULT_UPSTREAM_IDLE_TIMEOUT_SECS)]
    pub upstream_idle_timeout_secs: u64,
    /// Accounts tried for one request, counting the first.
    #[arg(long, env = "AICARPOOL_MAX_ATTEMPTS", default_value_t = DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: u32,
    /// Seconds a conversation stays on the account that served it.
    #[arg(long, env = "AICARPOOL_STICKY_SESSION_TTL_SECS", default_value_t = DEFAULT_STICKY_SESSION_TTL_SECS)]
    pub sticky_session_ttl_secs: u64,
    /// Seconds a 429 without a reset time keeps an account out.
    #[arg(long, env = "AICARPOOL_RATE_LIMIT_SECS", default_value_t = DEFAULT_RATE_LIMIT_SECS)]
    pub rate_limit_secs: u64,
    /// Most seconds a 429's reset time may keep an account out.
    #[arg(long, env = "AICARPOOL_RATE_LIMIT_CAP_SECS", default_value_t = DEFAULT_RATE_LIMIT_CAP_SECS)]
    pub rate_limit_cap_secs: u64,
    /// Seconds a 529 "overloaded" keeps an account aside; it does not count toward TEMP_ERROR.
    #[arg(long, env = "AICARPOOL_OVERLOAD_COOLDOWN_SECS", default_value_t = DEFAULT_OVERLOAD_COOLDOWN_SECS)]
    pub overload_cooldown_secs: u64,
    /// Percent of a subscription's 5-hour or 7-day window at which it takes no new
    /// conversations while another account has headroom.
    #[arg(long, env = "AICARPOOL_WINDOW_RESERVE", default_value_t = DEFAULT_WINDOW_RESERVE_PERCENT, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub window_reserve: u8,
    /// Percent of a group's subscription pool used above which a member past their fair share
    /// of the five-hour window is refused (100 turns fair share off).
    #[arg(long, env = "AICARPOOL_FAIR_SHARE_FROM", default_value_t = DEFAULT_FAIR_SHARE_FROM_PERCENT, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub fair_share_from: u8,
    /// IANA time zone where days, weeks (from Monday) and months of limits and budgets begin.
    #[arg(long, env = "AICARPOOL_TIME_ZONE", default_value = DEFAULT_TIME_ZONE)]
    pub time_zone: String,
    /// Seconds a request may wait in a key's concurrency queue (--queue) before a 429.
    #[arg(long, env = "AICARPOOL_QUEUE_TIMEOUT_SECS", default_value_t = DEFAULT_QUEUE_TIMEOUT_SECS)]
    pub queue_timeout_secs: u64,
    /// PEM file of extra CA certificates trusted for upstream TLS (a relay with a private CA).
    #[arg(long, env = "AICARPOOL_UPSTREAM_CA_FILE")]
    pub upstream_ca_file: Option<PathBuf>,
    /// Days request-log rows are kept (daily rollups stay forever); 0 keeps every row.
    #[arg(long, env = "AICARPOOL_LOG_RETENTION_DAYS", default_value_t = DEFAULT_LOG_RETENTION_DAYS)]
    pub log_retention_days: u64,
    /// Daily backups kept in the data directory's backups/; 0 makes none.
    #[arg(long, env = "AICARPOOL_BACKUP_KEEP", default_value_t = DEFAULT_BACKUP_KEEP)]
    pub backup_keep: u32,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// List every migration as applied, pending, modified or unknown.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an admin or reset its password (password on stdin).
    SetPassword {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupAction {
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        budgets: BudgetArgs,
    },
    List,
    /// Change a group's budgets; only the given ones change (`none` removes one).
    Update {
        name: String,
        #[command(flatten)]
        budgets: BudgetArgs,
    },
    Rename {
        name: String,
        new_name: String,
    },
    /// Delete a group; its request log, rollups and audit entries stay. A group that still has
    /// keys or accounts says what it would affect and needs --force (its keys are deleted and
    /// its accounts unbound with it).
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

/// A group's shared budgets: every key of the group stops when one is used up.
#[derive(Debug, Default, Args)]
pub struct BudgetArgs {
    /// Tokens per day (in AICARPOOL_TIME_ZONE) for the whole group.
    #[arg(long, value_parser = parse_limit)]
    pub daily_tokens: Option<Limit>,
    /// Tokens per calendar month.
    #[arg(long, value_parser = parse_limit)]
    pub monthly_tokens: Option<Limit>,
    /// USD per day.
    #[arg(long, value_parser = parse_cost)]
    pub daily_cost: Option<Limit>,
    /// USD per calendar month.
    #[arg(long, value_parser = parse_cost)]
    pub monthly_cost: Option<Limit>,
    /// Share of a budget (1-100) at which a warning event is recorded (default 80).
    #[arg(long)]
    pub warn_percent: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum PriceAction {
    List,
    /// Add or change a model's price; a dated snapshot (`<model>-20250929`) takes its price.
    Set {
        model: String,
        /// USD per million input tokens.
        #[arg(long)]
        input: String,
        /// USD per million output tokens.
        #[arg(long)]
        output: String,
        /// USD per million tokens written to the 5-minute cache (default 1.25 × input).
        #[arg(long)]
        cache_write: Option<String>,
        /// USD per million tokens written to the 1-hour cache (default 2 × input).
        #[arg(long = "cache-write-1h")]
        cache_write_1h: Option<String>,
        /// USD per million tokens read from the cache (default 0.1 × input).
        #[arg(long)]
        cache_read: Option<String>,
    },
    /// Forget a model's price; its requests are then logged as unpriced.
    Remove {
        model: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Issue a key; it is printed once and never again.
    Create {
        #[arg(long)]
        group: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    List,
    /// Change a key's limits; only the given limits change (`none` removes one).
    Update {
        id: i64,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Stop a key from working, for good.
    Revoke {
        id: i64,
    },
    Rename {
        id: i64,
        new_name: String,
    },
    /// Delete a key: it stops working at once; its request log and rollups stay, under its name.
    Delete {
        id: i64,
    },
}

/// A limit flag's value: a number or `none`.
#[derive(Clone, Debug)]
pub struct Limit(pub Option<i64>);

#[derive(Debug, Default, Args)]
pub struct LimitArgs {
    /// Key stops working at this date (YYYY-MM-DD: after that day, UTC) or RFC 3339 time.
    #[arg(long, value_parser = parse_expiry)]
    pub expires_at: Option<Limit>,
    /// Key stops working N days after its first request.
    #[arg(long, value_parser = parse_limit)]
    pub expires_days_after_first_use: Option<Limit>,
    /// At most N requests per --window-minutes.
    #[arg(long, value_parser = parse_limit)]
    pub requests: Option<Limit>,
    #[arg(long, value_parser = parse_limit)]
    pub window_minutes: Option<Limit>,
    /// At most N requests in flight at once.
    #[arg(long, value_parser = parse_limit)]
    pub concurrency: Option<Limit>,
    /// Requests allowed to wait for a concurrency slot instead of a 429.
    #[arg(long, value_parser = parse_limit)]
    pub queue: Option<Limit>,
    /// Weight in the fair share of the group's subscription windows (default 1).
    #[arg(long, value_parser = parse_limit)]
    pub share: Option<Limit>,
    #[arg(long, value_parser = parse_limit)]
    pub daily_tokens: Option<Limit>,
    #[arg(long, value_parser = parse_limit)]
    pub total_tokens: Option<Limit>,
    /// USD per day.
    #[arg(long, value_parser = parse_cost)]
    pub daily_cost: Option<Limit>,
    /// USD per week.
    #[arg(long, value_parser = parse_cost)]
    pub weekly_cost: Option<Limit>,
    /// USD in total.
    #[arg(long, value_parser = parse_cost)]
    pub total_cost: Option<Limit>,
    /// Allowed models: names or prefixes ending in '*' (comma-separated; '' for any).
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Allowed clients: claude-code, codex, gemini-cli, sdk, other ('' for any).
    #[arg(long, value_delimiter = ',')]
    pub clients: Option<Vec<String>>,
    /// Allowed upstream platforms ('' for any).
    #[arg(long, value_delimiter = ',')]
    pub platforms: Option<Vec<String>>,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only requests in this recent period, e.g. 24h, 7d, 30d (default: all time).
    #[arg(long)]
    pub since: Option<String>,
    /// Break totals down.
    #[arg(long, value_enum)]
    pub by: Option<UsageBy>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum UsageBy {
    Key,
    Account,
    Model,
    Group,
}

fn parse_platform(s: &str) -> Result<crate::domain::Platform, String> {
    s.parse()
}

/// `yes`, `no`, or `auto` (left to the account's host).
#[derive(Clone, Copy, Debug)]
pub struct AutoBool(pub Option<bool>);

fn parse_auto_bool(s: &str) -> Result<AutoBool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(AutoBool(Some(true))),
        "no" | "false" => Ok(AutoBool(Some(false))),
        "auto" => Ok(AutoBool(None)),
        other => Err(format!("expected yes, no or auto, not {other:?}")),
    }
}

fn is_none_word(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "none" | "off" | "unlimited"
    )
}

fn parse_limit(s: &str) -> Result<Limit, String> {
    if is_none_word(s) {
        return Ok(Limit(None));
    }
    match s.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(Limit(Some(n))),
        _ => Err(format!("{s:?} is not a whole number (or `none`)")),
    }
}

fn parse_cost(s: &str) -> Result<Limit, String> {
    if is_none_word(s) {
        return Ok(Limit(None));
    }
    crate::domain::parse_usd(s).map(|n| Limit(Some(n)))
}

fn parse_expiry(s: &str) -> Result<Limit, String> {
    if is_none_word(s) {
        return Ok(Limit(None));
    }
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(Limit(Some(ts.as_millisecond())));
    }
    let date: jiff::civil::Date = s
        .parse()
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD) or RFC 3339 time"))?;
    // A date means the key works through that whole day (UTC).
    let next = date
        .tomorrow()
        .map_err(|e| e.to_string())?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| e.to_string())?;
    Ok(Limit(Some(next.timestamp().as_millisecond())))
}
