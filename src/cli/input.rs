//! What the commands read besides their flags: secrets from stdin, and flags turned into the
//! manage layer's values.

use std::io::{IsTerminal, Read, Write};

use super::args::*;
use crate::error::{Error, Result};
use crate::manage;
use crate::manage::accounts::NewAccount;
use crate::manage::keys::LimitChanges;

pub(super) fn refuse_password_in_argv(proxy: Option<&str>) -> Result<()> {
    if proxy.is_some_and(manage::accounts::proxy_url_has_password) {
        return Err(Error::Invalid(
            "the proxy URL contains a password, which would be visible to other users in the \
             process list; give the URL without it and pass --proxy-password-stdin"
                .into(),
        ));
    }
    Ok(())
}

/// Reads `n` lines from stdin (secrets never come from argv). Prompts when stdin is a terminal.
pub(super) fn read_stdin_lines(what: &str, n: usize) -> Result<Vec<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what}: ");
        let _ = std::io::stderr().flush();
    }
    let mut text = String::new();
    stdin
        .lock()
        .take(1 << 20)
        .read_to_string(&mut text)
        .map_err(|e| Error::io("reading stdin", e))?;
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .take(n)
        .collect();
    if lines.len() < n || lines.iter().any(|l| l.trim().is_empty()) {
        return Err(Error::Invalid(format!(
            "expected {n} non-empty line(s) on stdin ({what}{}), got none or an empty one",
            if n > 1 {
                ", then the proxy password"
            } else {
                ""
            }
        )));
    }
    Ok(lines)
}

pub(super) fn limit_changes(a: LimitArgs) -> LimitChanges {
    let v = |l: Option<Limit>| l.map(|l| l.0);
    LimitChanges {
        expires_at: v(a.expires_at),
        expires_days_after_first_use: v(a.expires_days_after_first_use),
        rate_requests: v(a.requests),
        rate_window_minutes: v(a.window_minutes),
        concurrency: v(a.concurrency),
        queue: v(a.queue),
        share: v(a.share),
        daily_tokens: v(a.daily_tokens),
        total_tokens: v(a.total_tokens),
        daily_cost_nanos: v(a.daily_cost),
        weekly_cost_nanos: v(a.weekly_cost),
        total_cost_nanos: v(a.total_cost),
        models: a.models,
        clients: a.clients,
        platforms: a.platforms,
    }
}

/// A new account from its common flags, with the first stdin line as `secret`; the rest of the
/// lines the flags ask for (refresh token, proxy password) are left for the caller, in order.
pub(super) fn new_account(
    a: NewAccountArgs,
    what: &str,
    refresh_token_line: bool,
) -> Result<(NewAccount, std::vec::IntoIter<String>)> {
    refuse_password_in_argv(a.proxy.as_deref())?;
    let wanted = 1 + usize::from(refresh_token_line) + usize::from(a.proxy_password_stdin);
    let mut lines = read_stdin_lines(what, wanted)?.into_iter();
    let new = NewAccount {
        name: a.name,
        platform: None,
        description: a.description,
        base_url: a.base_url,
        secret: lines.next().unwrap_or_default(),
        priority: a.priority,
        weight: a.weight,
        groups: a.groups.into_iter().map(Into::into).collect(),
        proxy: a.proxy,
        proxy_password: None,
        models: a.models,
        model_map: Vec::new(),
        user_agent: None,
        refresh_token: None,
        expires_at: None,
        allow_overage: a.allow_overage,
        max_concurrency: a.max_concurrency,
        workspace: None,
        responses_api: None,
    };
    Ok((new, lines))
}

pub(super) fn budget_changes(a: BudgetArgs) -> manage::groups::BudgetChanges {
    let v = |l: Option<Limit>| l.map(|l| l.0);
    manage::groups::BudgetChanges {
        daily_tokens: v(a.daily_tokens),
        monthly_tokens: v(a.monthly_tokens),
        daily_cost_nanos: v(a.daily_cost),
        monthly_cost_nanos: v(a.monthly_cost),
        warning_percent: a.warn_percent,
    }
}

/// `--since 24h` → epoch ms of 24 hours ago.
pub(super) fn since_ms(text: &str) -> Result<i64> {
    let span: jiff::Span = text.trim().parse().map_err(|_| {
        Error::Invalid(format!(
            "--since {text:?} is not a duration like 24h, 7d or 30d"
        ))
    })?;
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let then = now
        .checked_sub(span.abs())
        .map_err(|e| Error::Invalid(format!("--since {text:?}: {e}")))?;
    Ok(then.timestamp().as_millisecond())
}
