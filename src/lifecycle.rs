//! The account state machine (DESIGN.md §4) as one pure function: what an event does to an
//! account's status. The relay, `account test`, the recovery timer and every admin or CLI
//! action ask [`next`], and `store::accounts::apply` writes the answer.

use crate::config::AccountPolicy;
use crate::domain::AccountStatus;

/// An operator's status change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusAction {
    Enable,
    Disable,
    Maintenance,
    Recover,
}

impl StatusAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusAction::Enable => "enable",
            StatusAction::Disable => "disable",
            StatusAction::Maintenance => "maintenance",
            StatusAction::Recover => "recover",
        }
    }
}

/// What happened to an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A server error (5xx, 529, connect failure, timeout, broken stream); `errors` is how many
    /// fell inside the sliding window, this one included.
    ServerError { errors: u32, reason: String },
    /// 401/403: the credentials were refused (after one refresh for subscriptions).
    Refused { reason: String },
    /// 429: out until `until` (epoch ms).
    RateLimited { until: i64, reason: String },
    /// A complete, successful answer.
    Succeeded,
    /// The recovery timer looked at the account.
    Tick,
    /// An operator acted.
    Admin(StatusAction),
}

/// The account as the machine needs to see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Current {
    pub status: AccountStatus,
    pub status_until: Option<i64>,
    pub last_error_at: Option<i64>,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The status stays.
    Same,
    /// The status stays; the error window and count start afresh (a success while active).
    Clear,
    /// Still `TEMP_ERROR` (a last-resort try failed): its return moves to `until`.
    Extend { until: i64 },
    /// A new status (or the same one again, by an operator), recorded with its reason.
    /// `clears_errors`: the error window and count start afresh.
    Move {
        to: AccountStatus,
        reason: String,
        until: Option<i64>,
        clears_errors: bool,
    },
    /// An operator action the current status does not allow, and what to do instead.
    Refuse(String),
}

/// The next status of `cur` after `event` under `policy`, at `now` (epoch ms).
pub fn next(cur: Current, event: &Event, policy: &AccountPolicy, now: i64) -> Next {
    use AccountStatus::*;
    let cooldown = policy.temp_error_cooldown.as_millis() as i64;
    let serving = matches!(cur.status, Active | RateLimited | TempError);
    let to = |to, reason: &str, until, clears_errors| Next::Move {
        to,
        reason: reason.to_owned(),
        until,
        clears_errors,
    };
    match event {
        Event::ServerError { errors, reason } => match cur.status {
            Active | RateLimited if *errors >= policy.error_threshold => {
                let reason = format!(
                    "{errors} server errors within {}s; last: {reason}",
                    policy.error_window.as_secs()
                );
                to(TempError, &reason, Some(now + cooldown), false)
            }
            TempError => Next::Extend {
                until: now + cooldown,
            },
            _ => Next::Same,
        },
        Event::Refused { reason } if serving => to(Error, reason, None, false),
        Event::RateLimited { until, reason } if serving => {
            to(RateLimited, reason, Some(*until), false)
        }
        Event::Refused { .. } | Event::RateLimited { .. } => Next::Same,
        Event::Succeeded => match cur.status {
            TempError | RateLimited => to(Active, "answered successfully", None, true),
            Active => Next::Clear,
            _ => Next::Same,
        },
        Event::Tick => match cur.status {
            TempError if cur.last_error_at.unwrap_or(0) <= now - cooldown => to(
                Active,
                "recovered: no error during the cooldown",
                None,
                true,
            ),
            RateLimited if cur.status_until.unwrap_or(0) <= now => {
                to(Active, "recovered: rate limit reset", None, true)
            }
            _ => Next::Same,
        },
        Event::Admin(action) => match (action, cur.status) {
            (StatusAction::Enable, Active) => Next::Same,
            (StatusAction::Enable, Disabled | Maintenance) => {
                to(Active, "enabled by admin", None, true)
            }
            (StatusAction::Enable, _) => Next::Refuse(format!(
                "the account is {}; use `account recover` for an account in a fault state",
                cur.status
            )),
            (StatusAction::Disable, Disabled) | (StatusAction::Maintenance, Maintenance) => {
                Next::Same
            }
            (StatusAction::Disable, _) => to(Disabled, "disabled by admin", None, false),
            (StatusAction::Maintenance, _) => to(Maintenance, "maintenance", None, false),
            // Recovering an active account still starts its error window afresh.
            (StatusAction::Recover, Active | Error | TempError | RateLimited) => {
                to(Active, "recovered by admin", None, true)
            }
            (StatusAction::Recover, _) => Next::Refuse(format!(
                "the account is {}; use `account enable` for a disabled or maintenance account",
                cur.status
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccountStatus::*;
    use std::time::Duration;

    const NOW: i64 = 1_800_000_000_000;

    fn policy() -> AccountPolicy {
        AccountPolicy {
            error_threshold: 3,
            error_window: Duration::from_secs(300),
            temp_error_cooldown: Duration::from_secs(300),
            recovery_interval: Duration::from_secs(60),
        }
    }

    fn at(status: AccountStatus) -> Current {
        Current {
            status,
            status_until: None,
            last_error_at: None,
        }
    }

    /// The status after `event`: `-` when it stays, `0` when only its errors are cleared, `!`
    /// when refused, `+` when a TEMP_ERROR's return is pushed back.
    fn outcome(cur: Current, event: &Event) -> String {
        match next(cur, event, &policy(), NOW) {
            Next::Same => "-".into(),
            Next::Clear => "0".into(),
            Next::Extend { until } => {
                assert_eq!(until, NOW + 300_000);
                "+".into()
            }
            Next::Refuse(_) => "!".into(),
            Next::Move {
                to, clears_errors, ..
            } => format!("{to}{}", if clears_errors { "*" } else { "" }),
        }
    }

    #[test]
    fn every_state_and_event() {
        let server = |errors| Event::ServerError {
            errors,
            reason: "upstream answered 500".into(),
        };
        let events = [
            ("2 server errors", server(2)),
            ("3 server errors", server(3)),
            (
                "refused",
                Event::Refused {
                    reason: "401".into(),
                },
            ),
            (
                "429",
                Event::RateLimited {
                    until: NOW + 60_000,
                    reason: "429".into(),
                },
            ),
            ("success", Event::Succeeded),
            ("tick", Event::Tick),
            ("enable", Event::Admin(StatusAction::Enable)),
            ("disable", Event::Admin(StatusAction::Disable)),
            ("maintenance", Event::Admin(StatusAction::Maintenance)),
            ("recover", Event::Admin(StatusAction::Recover)),
        ];
        // One row per status, one column per event above (`*`: the error window is cleared).
        let table: [(AccountStatus, [&str; 10]); 6] = [
            (
                Active,
                [
                    "-",
                    "TEMP_ERROR",
                    "ERROR",
                    "RATE_LIMITED",
                    "0",
                    "-",
                    "-",
                    "DISABLED",
                    "MAINTENANCE",
                    "ACTIVE*",
                ],
            ),
            (
                TempError,
                [
                    "+",
                    "+",
                    "ERROR",
                    "RATE_LIMITED",
                    "ACTIVE*",
                    "-",
                    "!",
                    "DISABLED",
                    "MAINTENANCE",
                    "ACTIVE*",
                ],
            ),
            (
                RateLimited,
                [
                    "-",
                    "TEMP_ERROR",
                    "ERROR",
                    "RATE_LIMITED",
                    "ACTIVE*",
                    "-",
                    "!",
                    "DISABLED",
                    "MAINTENANCE",
                    "ACTIVE*",
                ],
            ),
            (
                Error,
                [
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "!",
                    "DISABLED",
                    "MAINTENANCE",
                    "ACTIVE*",
                ],
            ),
            (
                Disabled,
                [
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "ACTIVE*",
                    "-",
                    "MAINTENANCE",
                    "!",
                ],
            ),
            (
                Maintenance,
                [
                    "-", "-", "-", "-", "-", "-", "ACTIVE*", "DISABLED", "-", "!",
                ],
            ),
        ];
        for (status, row) in table {
            // Recent error and a future reset: the timer leaves every account alone.
            let cur = Current {
                status,
                status_until: Some(NOW + 1),
                last_error_at: Some(NOW - 1),
            };
            for ((name, event), want) in events.iter().zip(row) {
                assert_eq!(outcome(cur, event), want, "{status} + {name}");
            }
        }
    }

    #[test]
    fn the_timer_brings_accounts_back_once_their_time_has_passed() {
        let cooled = Current {
            status: TempError,
            status_until: None,
            last_error_at: Some(NOW - 300_000),
        };
        assert_eq!(outcome(cooled, &Event::Tick), "ACTIVE*");
        let reset = Current {
            status: RateLimited,
            status_until: Some(NOW),
            last_error_at: None,
        };
        assert_eq!(outcome(reset, &Event::Tick), "ACTIVE*");
        assert_eq!(
            outcome(at(Error), &Event::Tick),
            "-",
            "ERROR needs an operator"
        );
    }

    #[test]
    fn the_policy_decides_the_threshold_and_the_cooldown() {
        let strict = AccountPolicy {
            error_threshold: 1,
            temp_error_cooldown: Duration::from_secs(10),
            ..policy()
        };
        let event = Event::ServerError {
            errors: 1,
            reason: "timeout".into(),
        };
        match next(at(Active), &event, &strict, NOW) {
            Next::Move {
                to, until, reason, ..
            } => {
                assert_eq!((to, until), (TempError, Some(NOW + 10_000)));
                assert!(reason.starts_with("1 server errors within 300s; last: timeout"));
            }
            other => panic!("{other:?}"),
        }
    }
}
