//! The command-line front door: turns parsed arguments into calls to [`crate::manage`] and
//! prints the results as text or, with `--json`, as JSON on stdout. Errors go to stderr with a
//! non-zero exit code (2 for bad input, 1 otherwise).

mod args;
mod input;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

pub use args::Cli;
use args::*;
use input::*;
use output::Out;

use crate::config::{Config, MIN_LOG_RETENTION_DAYS, TlsFiles};
use crate::domain::Platform;
use crate::error::{Error, Result};
use crate::manage::accounts::{AccountChanges, NewAccount, StatusAction};
use crate::manage::{self, Ctx};
use crate::store::{self, migrate, usage::By};

/// Who the audit log names for changes made from the command line.
const ACTOR: &str = "cli";

/// Runs the command line. `memory` hands freed memory back to the system (the allocator can
/// only do that for the calling thread's own heap): see [`crate::memory`]. `cpu_class` sets a
/// thread's CPU class: see [`crate::store::class`].
pub fn main(memory: crate::memory::Hooks, cpu_class: store::class::Hook) -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Serve(_)));
    crate::memory::install(memory);
    store::class::install(cpu_class);
    let mut runtime = if matches!(cli.command, Command::Serve(_)) {
        // Requests run on the server's lanes (`crate::lanes`); this thread only accepts and
        // runs the background tasks.
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match runtime
        .enable_all()
        .on_thread_park(crate::memory::idle)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = Out { json: cli.json };
    match runtime.block_on(dispatch(cli, &out)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AICARPOOL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn base_config(cli: &Cli) -> Config {
    let mut config = Config::with_data_dir(&cli.data_dir);
    let (o, c, g) = (&cli.oauth, &cli.codex_oauth, &cli.gemini_oauth);
    let s = &mut config.oauth;
    s.claude.authorize_url = o.oauth_authorize_url.clone();
    s.claude.console_authorize_url = Some(o.oauth_console_authorize_url.clone());
    s.claude.token_url = o.oauth_token_url.clone();
    s.claude.client_id = o.oauth_client_id.clone();
    s.claude.redirect_uri = o.oauth_redirect_uri.clone();
    s.claude.scopes = o.oauth_scopes.clone();
    s.codex.authorize_url = c.codex_oauth_authorize_url.clone();
    s.codex.token_url = c.codex_oauth_token_url.clone();
    s.codex.client_id = c.codex_oauth_client_id.clone();
    s.codex.redirect_uri = c.codex_oauth_redirect_uri.clone();
    s.codex.scopes = c.codex_oauth_scopes.clone();
    s.gemini.authorize_url = g.gemini_oauth_authorize_url.clone();
    s.gemini.token_url = g.gemini_oauth_token_url.clone();
    s.gemini.client_id = g.gemini_oauth_client_id.clone();
    s.gemini.client_secret = Some(g.gemini_oauth_client_secret.clone());
    s.gemini.redirect_uri = g.gemini_oauth_redirect_uri.clone();
    s.gemini.scopes = g.gemini_oauth_scopes.clone();
    if let Some(f) = &cli.secret_key_file {
        config.secret_key_file = f.clone();
    }
    config
}

async fn dispatch(cli: Cli, out: &Out) -> Result<ExitCode> {
    let config = base_config(&cli);
    match cli.command {
        Command::Serve(args) => serve(config, args).await.map(|_| ExitCode::SUCCESS),
        Command::Migrate { action } => migrate_cmd(&config, action, out).await,
        Command::Backup { file } => backup(&config, &file, out).await.map(|_| ExitCode::SUCCESS),
        command => {
            let (ctx, _) = Ctx::open(config).await?;
            manage_cmd(&ctx, command, out).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The configuration `aicarpool <args>` would serve with, without serving: what the tests use
/// to run the server in-process through [`crate::run`] with the command line's own flags.
/// `args` start with the program name, like `std::env::args`.
pub fn serve_config<I, T>(args: I) -> Result<Config>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(|e| Error::Invalid(e.to_string()))?;
    let config = base_config(&cli);
    match cli.command {
        Command::Serve(a) => serving(config, a),
        _ => Err(Error::Invalid("the command is not `serve`".into())),
    }
}

async fn serve(config: Config, a: ServeArgs) -> Result<()> {
    let config = serving(config, a)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::io(format!("listening on {}", config.listen), e))?;
    crate::run(config, listener, shutdown_signal()).await
}

/// `serve`'s flags and environment applied to the base configuration.
fn serving(mut config: Config, a: ServeArgs) -> Result<Config> {
    config.listen = a.listen.parse().map_err(|_| {
        Error::Invalid(format!(
            "--listen {:?} is not an address like 127.0.0.1:4000",
            a.listen
        ))
    })?;
    config.tls = match (a.tls_cert, a.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    config.http.max_body_bytes = a.max_body_bytes;
    config.http.max_header_bytes = a.max_header_bytes;
    config.http.header_read_timeout = Duration::from_secs(a.header_read_timeout_secs.max(1));
    config.http.idle_timeout = Duration::from_secs(a.idle_timeout_secs.max(1));
    config.http.body_read_timeout = Duration::from_secs(a.body_read_timeout_secs.max(1));
    config.http.max_connections = a.max_connections.map(|n| n.max(1));
    if let Some(n) = a.worker_threads {
        config.lanes = n.into();
    }
    config.shutdown_drain = Duration::from_secs(a.shutdown_drain_secs);
    config.accounts.error_threshold = a.error_threshold.max(1);
    config.accounts.error_window = Duration::from_secs(a.error_window_secs.max(1));
    config.accounts.temp_error_cooldown = Duration::from_secs(a.temp_error_cooldown_secs);
    config.accounts.recovery_interval = Duration::from_secs(a.recovery_interval_secs.max(1));
    let up = &mut config.upstream;
    up.connect_timeout = Duration::from_secs(a.upstream_connect_timeout_secs.max(1));
    up.first_byte_timeout = Duration::from_secs(a.upstream_first_byte_timeout_secs.max(1));
    up.idle_timeout = Duration::from_secs(a.upstream_idle_timeout_secs.max(1));
    up.max_attempts = a.max_attempts.max(1);
    up.sticky_ttl = Duration::from_secs(a.sticky_session_ttl_secs);
    up.rate_limit_default = Duration::from_secs(a.rate_limit_secs.max(1));
    up.rate_limit_cap = Duration::from_secs(a.rate_limit_cap_secs.max(1));
    up.overload_cooldown = Duration::from_secs(a.overload_cooldown_secs);
    up.window_reserve = f64::from(a.window_reserve) / 100.0;
    up.fair_share_from = f64::from(a.fair_share_from) / 100.0;
    up.extra_roots = a.upstream_ca_file;
    config.time_zone = jiff::tz::TimeZone::get(&a.time_zone).map_err(|_| {
        Error::Invalid(format!(
            "--time-zone {:?} is not an IANA time zone like UTC or Europe/Berlin",
            a.time_zone
        ))
    })?;
    config.queue_timeout = Duration::from_secs(a.queue_timeout_secs);
    config.upkeep.log_retention = match a.log_retention_days {
        0 => None,
        d if d < MIN_LOG_RETENTION_DAYS => {
            return Err(Error::Invalid(format!(
                "--log-retention-days {d} is too short: monthly budgets need at least \
                 {MIN_LOG_RETENTION_DAYS} days of request log (or 0 to keep everything)"
            )));
        }
        d => Some(Duration::from_secs(d * 86_400)),
    };
    config.upkeep.backup_keep = a.backup_keep;
    let from_env = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| crate::crypto::Secret(v.trim().to_owned()))
    };
    config.upkeep.metrics_token = from_env("AICARPOOL_METRICS_TOKEN");
    config.upkeep.webhook_url = from_env("AICARPOOL_WEBHOOK_URL");
    Ok(config)
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

async fn migrate_cmd(
    config: &Config,
    action: Option<MigrateAction>,
    out: &Out,
) -> Result<ExitCode> {
    let db = config.db_path();
    match action {
        Some(MigrateAction::Status) => {
            let statuses = blocking(move || {
                if !db.exists() {
                    // Report on a database that does not exist yet without creating it.
                    let empty = rusqlite::Connection::open_in_memory()?;
                    return migrate::status(&empty);
                }
                migrate::status(&store::open_connection(&db)?)
            })
            .await?;
            out.migrations(&statuses);
            let consistent = migrate::ensure_consistent(&statuses);
            if let Err(e) = consistent {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let (ctx, prepared) = Ctx::open(config.clone()).await?;
            drop(ctx);
            out.migrated(&prepared);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn backup(config: &Config, file: &std::path::Path, out: &Out) -> Result<()> {
    let db = config.db_path();
    if !db.exists() {
        return Err(Error::NotFound(format!("no database at {}", db.display())));
    }
    let target = file.to_owned();
    blocking(move || migrate::backup_to(&store::open_connection(&db)?, &target)).await?;
    out.message(
        &format!("backup written to {}", file.display()),
        &serde_json::json!({ "file": file }),
    );
    Ok(())
}

async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("task failed: {e}")))?
}

async fn manage_cmd(ctx: &Ctx, command: Command, out: &Out) -> Result<()> {
    match command {
        Command::Admin {
            action: AdminAction::SetPassword { username },
        } => {
            let password = read_stdin_lines("admin password", 1)?.remove(0);
            let created = manage::admins::set_password(ctx, ACTOR, &username, &password).await?;
            let text = if created {
                "created admin"
            } else {
                "password changed for admin"
            };
            out.message(
                &format!("{text} {username}"),
                &serde_json::json!({ "username": username, "created": created }),
            );
        }
        Command::Group { action } => match action {
            GroupAction::Create {
                name,
                description,
                budgets,
            } => out.group(
                &manage::groups::create_group(
                    ctx,
                    ACTOR,
                    &name,
                    description,
                    budget_changes(budgets),
                )
                .await?,
            ),
            GroupAction::List => out.groups(&manage::groups::list_groups(ctx).await?),
            GroupAction::Update { name, budgets } => out.group(
                &manage::groups::update_group(ctx, ACTOR, &name, budget_changes(budgets)).await?,
            ),
            GroupAction::Rename { name, new_name } => {
                out.group(&manage::groups::rename_group(ctx, ACTOR, &name, &new_name).await?)
            }
            GroupAction::Delete { name, force } => {
                manage::groups::delete_group(ctx, ACTOR, &name, force).await?;
                out.message(
                    &format!("deleted group {name}; its history stays"),
                    &serde_json::json!({ "deleted": name }),
                );
            }
        },
        Command::Account { action } => account_cmd(ctx, action, out).await?,
        Command::Key { action } => match action {
            KeyAction::Create {
                group,
                name,
                limits,
            } => {
                let (key, plaintext) =
                    manage::keys::create_key(ctx, ACTOR, &group, &name, limit_changes(limits))
                        .await?;
                out.new_key(&key, &plaintext);
            }
            KeyAction::List => out.keys(&manage::keys::list_keys(ctx).await?),
            KeyAction::Update { id, limits } => {
                out.key(&manage::keys::update_key(ctx, ACTOR, id, limit_changes(limits)).await?)
            }
            KeyAction::Revoke { id } => out.key(&manage::keys::revoke_key(ctx, ACTOR, id).await?),
            KeyAction::Rename { id, new_name } => {
                out.key(&manage::keys::rename_key(ctx, ACTOR, id, &new_name).await?)
            }
            KeyAction::Delete { id } => {
                manage::keys::delete_key(ctx, ACTOR, id).await?;
                out.message(
                    &format!("deleted key {id}; its history stays"),
                    &serde_json::json!({ "deleted": id }),
                );
            }
        },
        Command::Price { action } => match action {
            PriceAction::List => out.prices(&manage::prices::list_prices(ctx).await?),
            PriceAction::Set {
                model,
                input,
                output,
                cache_write,
                cache_write_1h,
                cache_read,
            } => {
                let input = manage::prices::PriceInput {
                    input,
                    output,
                    cache_write,
                    cache_write_1h,
                    cache_read,
                };
                let row = manage::prices::set_price(ctx, ACTOR, &model, input).await?;
                out.prices(std::slice::from_ref(&row));
            }
            PriceAction::Remove { model } => {
                manage::prices::remove_price(ctx, ACTOR, &model).await?;
                out.message(
                    &format!("removed the price of {model}"),
                    &serde_json::json!({ "removed": model }),
                );
            }
        },
        Command::Usage(args) => {
            let since = match &args.since {
                Some(s) => since_ms(s)?,
                None => 0,
            };
            let by = args.by.map(|b| match b {
                UsageBy::Key => By::Key,
                UsageBy::Account => By::Account,
                UsageBy::Model => By::Model,
                UsageBy::Group => By::Group,
            });
            out.usage(&manage::usage::report(ctx, since, by).await?);
        }
        Command::Serve(_) | Command::Migrate { .. } | Command::Backup { .. } => {
            unreachable!("handled in dispatch")
        }
    }
    Ok(())
}

async fn account_cmd(ctx: &Ctx, action: AccountAction, out: &Out) -> Result<()> {
    use manage::accounts as acc;
    let status = |id, action| async move { acc::change_status(ctx, ACTOR, id, action).await };
    let account = match action {
        AccountAction::Create(a) => {
            let refresh = a.refresh_token_stdin;
            let (mut new, mut lines) = new_account(a.account, "account secret", refresh)?;
            new.platform = Some(a.platform);
            new.refresh_token = if refresh { lines.next() } else { None };
            new.proxy_password = lines.next();
            new.model_map = a.model_map;
            new.user_agent = a.user_agent;
            new.responses_api = a.responses_api.and_then(|r| r.0);
            new.workspace = a.project;
            acc::create_account(ctx, ACTOR, new).await?
        }
        AccountAction::Test { id } => {
            let r = crate::gateway::probe::test_account(ctx, id).await?;
            let text = if r.ok {
                let listed = match (&r.upstream_models, &r.upstream_models_error) {
                    (Some(n), _) => format!("; its upstream lists {n} model(s)"),
                    (None, Some(e)) => format!("; its model list could not be read ({e})"),
                    (None, None) => String::new(),
                };
                format!(
                    "account {id}: ok in {} ms ({}); status {}{listed}",
                    r.latency_ms, r.model, r.account_status
                )
            } else {
                let answer = r
                    .status
                    .map(|s| format!("upstream answered {s}: "))
                    .unwrap_or_default();
                format!(
                    "account {id}: failed after {} ms: {answer}{}; status now {}",
                    r.latency_ms, r.message, r.account_status
                )
            };
            out.message(&text, &serde_json::to_value(&r).expect("result serializes"));
            if !r.ok {
                return Err(Error::Upstream(format!("account {id} failed its test")));
            }
            return Ok(());
        }
        AccountAction::OauthUrl { platform, console } => {
            let link = manage::oauth::start(ctx, platform, console).await?;
            let (who, what) = match platform {
                Platform::CodexOauth => (
                    "the ChatGPT account",
                    "the address the browser is sent to (http://localhost:1455/..., which need not load)",
                ),
                Platform::GeminiOauth => ("the Google account", "the code it shows"),
                _ => ("the Claude account", "the code it shows"),
            };
            out.message(
                &format!(
                    "Open this link, sign in with {who} to pool, and paste {what} into\n  aicarpool account oauth-exchange --name NAME --group GROUP\n(valid for 10 minutes):\n\n{}",
                    link.url
                ),
                &serde_json::to_value(&link).expect("link serializes"),
            );
            return Ok(());
        }
        AccountAction::OauthExchange(x) => {
            let (new, mut lines) = new_account(x.account, "authorization code", false)?;
            let pasted = new.secret.clone();
            let new = NewAccount {
                proxy_password: lines.next(),
                platform: x.platform,
                workspace: x.project,
                ..new
            };
            manage::oauth::exchange(ctx, ACTOR, &pasted, new).await?
        }
        AccountAction::List => {
            out.accounts(&acc::list_accounts(ctx).await?);
            return Ok(());
        }
        AccountAction::Show { id } => {
            let account = acc::get_account(ctx, id).await?;
            let history = ctx
                .db
                .read(move |c| store::accounts::history(c, id, 20))
                .await?;
            out.account_detail(&account, &history);
            return Ok(());
        }
        AccountAction::Update(u) => {
            refuse_password_in_argv(u.proxy.as_deref())?;
            let wanted = usize::from(u.secret_stdin) + usize::from(u.proxy_password_stdin);
            let mut lines = if wanted > 0 {
                read_stdin_lines("account secret", wanted)?.into_iter()
            } else {
                Vec::new().into_iter()
            };
            let changes = AccountChanges {
                name: u.name,
                description: u.description.map(|d| Some(d).filter(|d| !d.is_empty())),
                base_url: u
                    .base_url
                    .map(|b| Some(b).filter(|b| !b.eq_ignore_ascii_case("default"))),
                secret: if u.secret_stdin { lines.next() } else { None },
                priority: u.priority,
                weight: u.weight,
                allow_overage: u.allow_overage,
                max_concurrency: u.max_concurrency.map(|m| Some(m).filter(|m| *m != 0)),
                responses_api: u.responses_api.map(|r| r.0),
                groups: if u.no_groups {
                    Some(Vec::new())
                } else {
                    u.groups.map(|g| g.into_iter().map(Into::into).collect())
                },
                proxy: u
                    .proxy
                    .map(|p| Some(p).filter(|p| !p.eq_ignore_ascii_case("none"))),
                proxy_password: if u.proxy_password_stdin {
                    lines.next()
                } else {
                    None
                },
                models: u.models,
                model_map: u.model_map,
                user_agent: u.user_agent.map(Some),
            };
            acc::update_account(ctx, ACTOR, u.id, changes).await?
        }
        AccountAction::Enable { id } => status(id, StatusAction::Enable).await?,
        AccountAction::Disable { id } => status(id, StatusAction::Disable).await?,
        AccountAction::Maintenance { id } => status(id, StatusAction::Maintenance).await?,
        AccountAction::Recover { id } => status(id, StatusAction::Recover).await?,
        AccountAction::Delete { id } => {
            acc::delete_account(ctx, ACTOR, id).await?;
            out.message(
                &format!("deleted account {id}; its history stays"),
                &serde_json::json!({ "deleted": id }),
            );
            return Ok(());
        }
    };
    // A new Google account's Code Assist project, found now so its first request names it.
    let account = if account.platform == Platform::GeminiOauth && account.workspace.is_none() {
        if let Some(e) = crate::gateway::probe::set_up(ctx, account.id).await? {
            eprintln!("warning: {e}; `account test {}` tries again", account.id);
        }
        acc::get_account(ctx, account.id).await?
    } else {
        account
    };
    out.account(&account);
    Ok(())
}
