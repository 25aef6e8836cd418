//! The `account` subcommands' arguments.

use clap::{Args, Subcommand};

use super::*;

#[derive(Debug, Subcommand)]
pub enum AccountAction {
    /// Add an upstream account; its secret (API key or token) is read from stdin.
    Create(AccountCreate),
    List,
    /// One account with its status history.
    Show {
        id: i64,
    },
    /// Change an account; only the given fields change.
    Update(AccountUpdate),
    /// Back into rotation from DISABLED or MAINTENANCE.
    Enable {
        id: i64,
    },
    /// Out of rotation until enabled.
    Disable {
        id: i64,
    },
    /// Out of rotation for maintenance until enabled.
    Maintenance {
        id: i64,
    },
    /// Back into rotation from ERROR, TEMP_ERROR or RATE_LIMITED.
    Recover {
        id: i64,
    },
    /// Delete an account: out of rotation and every group at once; its request log, status
    /// history and audit entries stay, under its name.
    Delete {
        id: i64,
    },
    /// Send one minimal real request through the account (and its proxy); the answer moves
    /// its status as real traffic would. Exits 1 when the test fails.
    Test {
        id: i64,
    },
    /// Subscription, step 1: print a sign-in link (valid 10 minutes).
    OauthUrl {
        /// claude-oauth (default), codex-oauth or gemini-oauth.
        #[arg(long, value_parser = parse_platform, default_value = "claude-oauth")]
        platform: crate::domain::Platform,
        /// A Console (API billing) account's link instead of a claude.ai subscriber's.
        #[arg(long)]
        console: bool,
    },
    /// Subscription, step 2: read what sign-in ended with from stdin (the code shown, or the
    /// address the browser was sent to), exchange it for tokens and add the account.
    OauthExchange(OauthExchange),
}

/// What every new account takes, however its credentials arrive.
#[derive(Debug, Args)]
pub struct NewAccountArgs {
    #[arg(long)]
    pub name: String,
    /// Upstream base URL (default: the platform's official endpoint).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Lower goes first.
    #[arg(long)]
    pub priority: Option<i64>,
    /// Share of traffic among accounts of equal priority.
    #[arg(long)]
    pub weight: Option<i64>,
    /// Group that may use this account (repeatable).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Outbound proxy, e.g. socks5://user@127.0.0.1:1080 (no password here: see below).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Read the proxy password from the last line of stdin.
    #[arg(long)]
    pub proxy_password_stdin: bool,
    /// Models this account serves (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// A subscription may draw on paid extra usage (otherwise it takes no new traffic while
    /// it reports overage, until its window resets).
    #[arg(long)]
    pub allow_overage: bool,
    /// At most this many requests in flight on the account at once.
    #[arg(long)]
    pub max_concurrency: Option<i64>,
}

#[derive(Debug, Args)]
pub struct OauthExchange {
    /// The platform the link was made for (default: the link's own).
    #[arg(long, value_parser = parse_platform)]
    pub platform: Option<crate::domain::Platform>,
    #[command(flatten)]
    pub account: NewAccountArgs,
    /// gemini-oauth: the Google Cloud project its requests are billed to (default: the one
    /// Code Assist assigns).
    #[arg(long)]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct AccountCreate {
    #[arg(long, value_parser = parse_platform)]
    pub platform: crate::domain::Platform,
    #[command(flatten)]
    pub account: NewAccountArgs,
    /// Subscriptions: read a refresh token from the line after the access token.
    #[arg(long)]
    pub refresh_token_stdin: bool,
    /// gemini-oauth: the Google Cloud project its requests are billed to (default: the one
    /// Code Assist assigns).
    #[arg(long)]
    pub project: Option<String>,
    /// Rename requested models for this upstream: FROM=TO,... (e.g. claude-sonnet-4-5=glm-4.6).
    #[arg(long, value_delimiter = ',')]
    pub model_map: Vec<String>,
    /// User agent sent upstream (Claude Console relays).
    #[arg(long)]
    pub user_agent: Option<String>,
    /// openai: whether the account serves the Responses API too (yes, no, or auto: only
    /// OpenAI's own API and Azure OpenAI do). A Responses client is translated to chat
    /// completions for an account that does not.
    #[arg(long, value_parser = parse_auto_bool)]
    pub responses_api: Option<AutoBool>,
}

#[derive(Debug, Args)]
pub struct AccountUpdate {
    pub id: i64,
    #[arg(long)]
    pub name: Option<String>,
    /// New base URL; `default` returns to the platform's official endpoint.
    #[arg(long)]
    pub base_url: Option<String>,
    #[arg(long)]
    pub priority: Option<i64>,
    #[arg(long)]
    pub weight: Option<i64>,
    /// Replace the account's groups (repeatable).
    #[arg(long = "group")]
    pub groups: Option<Vec<String>>,
    /// Remove the account from every group.
    #[arg(long, conflicts_with = "groups")]
    pub no_groups: bool,
    /// Whether a subscription may draw on paid extra usage.
    #[arg(long)]
    pub allow_overage: Option<bool>,
    /// At most this many requests in flight at once; 0 removes the cap.
    #[arg(long)]
    pub max_concurrency: Option<i64>,
    /// openai: whether the account serves the Responses API too (yes, no, or auto).
    #[arg(long, value_parser = parse_auto_bool)]
    pub responses_api: Option<AutoBool>,
    /// New proxy URL; `none` removes the proxy.
    #[arg(long)]
    pub proxy: Option<String>,
    /// Read a new proxy password from stdin (after the secret, when --secret-stdin is given too).
    #[arg(long)]
    pub proxy_password_stdin: bool,
    /// Replace the model list (comma-separated; '' for all models).
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Replace the model mapping: FROM=TO,... ('' for none).
    #[arg(long, value_delimiter = ',')]
    pub model_map: Option<Vec<String>>,
    /// New user agent; '' removes it.
    #[arg(long)]
    pub user_agent: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Read a new secret from stdin.
    #[arg(long)]
    pub secret_stdin: bool,
}
