//! The product's vocabulary: platforms, account states, key states and the client tools a key
//! may be limited to. Pure values; no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod counts;
pub use counts::{Counts, Nested, Tokens};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "unknown {} {s:?} (expected one of: {})",
                        $what,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(
    /// The kind of upstream an account is, which decides its protocol and credentials.
    Platform, "platform" {
        Anthropic = "anthropic",
        ClaudeConsole = "claude-console",
        ClaudeOauth = "claude-oauth",
        Openai = "openai",
        Gemini = "gemini",
        CodexOauth = "codex-oauth",
        GeminiOauth = "gemini-oauth",
    }
);

impl Platform {
    /// The official endpoint used when an account gives no base URL. A Claude Console relay
    /// has no official endpoint: its URL is required.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Platform::Anthropic | Platform::ClaudeOauth => Some("https://api.anthropic.com"),
            Platform::ClaudeConsole => None,
            Platform::Openai => Some("https://api.openai.com/v1"),
            Platform::Gemini => Some("https://generativelanguage.googleapis.com"),
            Platform::CodexOauth => Some("https://chatgpt.com/backend-api/codex"),
            Platform::GeminiOauth => Some("https://cloudcode-pa.googleapis.com"),
        }
    }

    /// A subscription signed in by OAuth: its access token expires and is refreshed, and it
    /// reports usage windows that routing reads.
    pub fn is_subscription(self) -> bool {
        matches!(
            self,
            Platform::ClaudeOauth | Platform::CodexOauth | Platform::GeminiOauth
        )
    }
}

/// The host of a base URL (`https://api.openai.com/v1` → `api.openai.com`).
pub fn host_of(base_url: &str) -> &str {
    base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("")
}

/// Whether an OpenAI-compatible account serves the Responses API as well as chat completions,
/// when its setting leaves it to the host: OpenAI's own API and Azure OpenAI do; the other
/// vendors such accounts reach (DeepSeek, GLM, Kimi, Qwen, …) document chat completions only,
/// so a Responses client is translated to chat for them.
pub fn speaks_responses(base_url: &str) -> bool {
    let host = host_of(base_url);
    host == "api.openai.com" || host.ends_with(".openai.azure.com")
}

string_enum!(
    /// Upstream account states (DESIGN.md §4).
    AccountStatus, "account status" {
        Active = "ACTIVE",
        Disabled = "DISABLED",
        Maintenance = "MAINTENANCE",
        Error = "ERROR",
        TempError = "TEMP_ERROR",
        RateLimited = "RATE_LIMITED",
    }
);

string_enum!(
    KeyStatus, "key status" {
        Active = "active",
        Revoked = "revoked",
    }
);

string_enum!(
    /// Client tools a key can be restricted to, recognised from request headers.
    ClientKind, "client" {
        ClaudeCode = "claude-code",
        Codex = "codex",
        GeminiCli = "gemini-cli",
        Sdk = "sdk",
        Other = "other",
    }
);

string_enum!(
    /// How a request ended, as the request log records it: `ok` (2xx delivered),
    /// `upstream_error` (every attempt failed, or the stream broke), `client_error` (the
    /// upstream refused the request itself: 400, 404, 413, 422...), `refused` (by the gateway's
    /// limits, never sent upstream), `aborted` (the client left before the end).
    Outcome, "outcome" {
        Ok = "ok",
        UpstreamError = "upstream_error",
        ClientError = "client_error",
        Refused = "refused",
        Aborted = "aborted",
    }
);

impl ClientKind {
    /// Recognises the tool from its user agent (`claude-cli/2.0.1 (external, cli)`,
    /// `codex_cli_rs/0.46.0`, `GeminiCLI/0.9.0`, `Anthropic/Python 0.69.0`, `OpenAI/JS 5.0`).
    pub fn from_user_agent(ua: Option<&str>) -> ClientKind {
        let Some(ua) = ua.map(str::to_ascii_lowercase) else {
            return ClientKind::Other;
        };
        if ua.starts_with("claude-cli") || ua.contains("claude-code") {
            ClientKind::ClaudeCode
        } else if ua.starts_with("codex") {
            ClientKind::Codex
        } else if ua.starts_with("geminicli") || ua.contains("gemini-cli") {
            ClientKind::GeminiCli
        } else if ["anthropic", "openai", "google-genai", "google-api"]
            .iter()
            .any(|s| ua.starts_with(s))
        {
            ClientKind::Sdk
        } else {
            ClientKind::Other
        }
    }
}

/// Money as integer nano-dollars, so sums are exact.
pub const NANOS_PER_USD: i64 = 1_000_000_000;

/// Parses a non-negative USD amount with up to nine decimals ("12", "0.5", "1.25") exactly.
pub fn parse_usd(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an amount in USD (e.g. 5 or 12.50)");
    let text = text.trim().trim_start_matches('$');
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 9
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac_nanos: i64 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(NANOS_PER_USD)
        .and_then(|w| w.checked_add(frac_nanos))
        .ok_or_else(bad)
}

/// Formats nano-dollars as USD with as many decimals as needed (at least two).
pub fn format_usd(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let whole = n / NANOS_PER_USD as u64;
    let frac = format!("{:09}", n % NANOS_PER_USD as u64);
    let trimmed = frac.trim_end_matches('0');
    let frac = if trimmed.len() < 2 {
        &frac[..2]
    } else {
        trimmed
    };
    format!("{sign}{whole}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_openai_and_azure_hosts_serve_responses_unless_told() {
        assert!(speaks_responses("https://api.openai.com/v1"));
        assert!(speaks_responses("https://team.openai.azure.com/openai/v1"));
        assert!(!speaks_responses("https://api.deepseek.com"));
        assert!(!speaks_responses("https://api.openai.com.example.net/v1"));
        assert!(!speaks_responses("http://127.0.0.1:8080/v1"));
        assert_eq!(host_of("https://api.openai.com:443/v1"), "api.openai.com");
    }

    #[test]
    fn client_tools_are_recognised_by_user_agent() {
        let k = |ua| ClientKind::from_user_agent(Some(ua));
        assert_eq!(
            k("claude-cli/2.0.14 (external, cli)"),
            ClientKind::ClaudeCode
        );
        assert_eq!(k("codex_cli_rs/0.46.0 (Debian; x86_64)"), ClientKind::Codex);
        assert_eq!(k("GeminiCLI/0.9.0 (linux; x64)"), ClientKind::GeminiCli);
        assert_eq!(k("Anthropic/Python 0.69.0"), ClientKind::Sdk);
        assert_eq!(k("curl/8.5.0"), ClientKind::Other);
        assert_eq!(ClientKind::from_user_agent(None), ClientKind::Other);
    }

    #[test]
    fn platforms_round_trip_and_reject_unknown() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>().unwrap(), *p);
        }
        let err = "azure".parse::<Platform>().unwrap_err();
        assert!(err.contains("anthropic"), "{err}");
    }

    #[test]
    fn usd_parses_exactly() {
        assert_eq!(parse_usd("12").unwrap(), 12 * NANOS_PER_USD);
        assert_eq!(parse_usd("0.5").unwrap(), NANOS_PER_USD / 2);
        assert_eq!(parse_usd("$1.000000001").unwrap(), NANOS_PER_USD + 1);
        assert_eq!(parse_usd(".25").unwrap(), NANOS_PER_USD / 4);
        for bad in [
            "",
            ".",
            "-1",
            "1.0000000001",
            "abc",
            "1e3",
            "99999999999999999",
        ] {
            assert!(parse_usd(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usd_formats_readably() {
        assert_eq!(format_usd(0), "0.00");
        assert_eq!(format_usd(12 * NANOS_PER_USD), "12.00");
        assert_eq!(format_usd(NANOS_PER_USD / 2), "0.50");
        assert_eq!(format_usd(3_000), "0.000003");
    }
}

/// A wait for people to read: "45 s", "14 min", "2 h 5 min".
pub fn human_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => match (secs / 3600, (secs % 3600) / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
    }
}

/// The largest value each key limit and group budget takes: far above any real use, low
/// enough that no counter, semaphore or sum built from it can overflow.
pub mod limits_max {
    pub const MAX_DAYS: i64 = 36_500;
    pub const MAX_REQUESTS: i64 = 1_000_000_000;
    /// A leap year of minutes.
    pub const MAX_WINDOW_MINUTES: i64 = 527_040;
    pub const MAX_CONCURRENCY: i64 = 10_000;
    pub const MAX_QUEUE: i64 = 100_000;
    /// A member's weight in the fair share of subscription windows.
    pub const MAX_SHARE: i64 = 1_000;
    pub const MAX_LIMIT_TOKENS: i64 = 1_000_000_000_000_000;
    /// $10 000 000 in nano-dollars.
    pub const MAX_LIMIT_NANOS: i64 = 10_000_000 * 1_000_000_000;
}

/// Tokens one request used, as the upstream reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Every cache-write token; `cache_creation_1h_tokens` of them were written with the
    /// one-hour TTL and are billed at its rate.
    pub cache_creation_input_tokens: i64,
    pub cache_creation_1h_tokens: i64,
    pub cache_read_input_tokens: i64,
}

/// The most tokens one count of one request may claim. Upstream numbers are untrusted input:
/// a real request stays far below this (the largest context windows are a few million
/// tokens), and a claim above it is taken as this, so no sum or cost can overflow.
pub const MAX_TOKENS: i64 = 1_000_000_000;

impl Usage {
    pub fn total(&self) -> i64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.cache_read_input_tokens)
    }

    /// Reads an OpenAI `usage` object (chat: `prompt_tokens`/`completion_tokens`; Responses:
    /// `input_tokens`/`output_tokens`). Cached prompt tokens are counted as cache reads, the
    /// rest as input, so the two add up to the prompt.
    pub fn from_openai(usage: &Counts) -> Usage {
        let n = |t: Option<Tokens>| Tokens::of(t).unwrap_or(0);
        let prompt = n(usage.prompt_tokens.or(usage.input_tokens));
        let output = n(usage.completion_tokens.or(usage.output_tokens));
        let cached = n(usage
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .or_else(|| usage.input_tokens_details.and_then(|d| d.cached_tokens))
            // DeepSeek reports its cache hits on their own.
            .or(usage.prompt_cache_hit_tokens))
        .min(prompt);
        Usage {
            input_tokens: prompt - cached,
            output_tokens: output,
            cache_read_input_tokens: cached,
            ..Usage::default()
        }
    }

    /// Reads a Gemini `usageMetadata` object; thinking tokens are billed as output.
    pub fn from_gemini(meta: &Counts) -> Usage {
        let n = |t: Option<Tokens>| Tokens::of(t).unwrap_or(0);
        let prompt =
            (n(meta.prompt_token_count) + n(meta.tool_use_prompt_token_count)).min(MAX_TOKENS);
        let cached = n(meta.cached_content_token_count).min(prompt);
        Usage {
            input_tokens: prompt - cached,
            output_tokens: (n(meta.candidates_token_count) + n(meta.thoughts_token_count))
                .min(MAX_TOKENS),
            cache_read_input_tokens: cached,
            ..Usage::default()
        }
    }

    /// Folds in an Anthropic `usage` object. Later objects of one response (a stream's
    /// `message_delta`) carry cumulative counts, so a present field replaces the earlier one.
    pub fn merge_anthropic(&mut self, usage: &Counts) {
        if let Some(n) = Tokens::of(usage.input_tokens) {
            self.input_tokens = n;
        }
        if let Some(n) = Tokens::of(usage.output_tokens) {
            self.output_tokens = n;
        }
        if let Some(n) = Tokens::of(usage.cache_creation_input_tokens) {
            self.cache_creation_input_tokens = n;
        }
        if let Some(n) = Tokens::of(usage.cache_read_input_tokens) {
            self.cache_read_input_tokens = n;
        }
        if let Some(n) = Tokens::of(
            usage
                .cache_creation
                .and_then(|c| c.ephemeral_1h_input_tokens),
        ) {
            self.cache_creation_1h_tokens = n;
        }
        self.cache_creation_1h_tokens = self
            .cache_creation_1h_tokens
            .min(self.cache_creation_input_tokens);
    }
}

/// List price of one model in nano-dollars per token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Price {
    pub input: i64,
    pub output: i64,
    pub cache_write: i64,
    pub cache_write_1h: i64,
    pub cache_read: i64,
}

impl Price {
    /// Exact cost in nano-dollars.
    pub fn cost(&self, u: &Usage) -> i64 {
        // Saturating: neither the counts nor the prices can make a cost wrap negative.
        let write_5m = (u.cache_creation_input_tokens - u.cache_creation_1h_tokens).max(0);
        [
            (u.input_tokens, self.input),
            (u.output_tokens, self.output),
            (write_5m, self.cache_write),
            (u.cache_creation_1h_tokens, self.cache_write_1h),
            (u.cache_read_input_tokens, self.cache_read),
        ]
        .iter()
        .fold(0i64, |sum, (n, price)| {
            sum.saturating_add(n.max(&0).saturating_mul(*price.max(&0)))
        })
    }
}
