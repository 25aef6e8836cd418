//! The operations an operator performs — create a group, add an account, issue a key — with
//! their validation and audit records. The CLI and the admin API both call these: one place
//! decides, two front doors.

pub mod accounts;
pub mod admins;
pub mod groups;
pub mod keys;
pub mod oauth;
pub mod prices;
pub mod settings;
pub mod usage;

use crate::config::Config;
use crate::crypto::{Purpose, SecretKey, hex_decode, hex_encode};
use crate::error::{Error, Result};
use crate::store::{self, Db, migrate};

/// An open, migrated database and the key for its secrets.
#[derive(Clone)]
pub struct Ctx {
    pub config: Config,
    pub db: Db,
    pub secrets: SecretKey,
}

impl Ctx {
    /// Creates the data directory (0700) if needed, brings the schema up to date (backing the
    /// database up first), loads or creates `secret.key` and checks it matches this database.
    pub async fn open(config: Config) -> Result<(Ctx, migrate::Prepared)> {
        crate::store::create_private_dir(&config.data_dir)?;
        create_private_file(&config.db_path())?;
        let (db_path, backups) = (config.db_path(), config.backups_dir());
        let prepared = tokio::task::spawn_blocking(move || migrate::prepare(&db_path, &backups))
            .await
            .map_err(|e| Error::Internal(format!("migration task failed: {e}")))??;
        let secrets = SecretKey::load_or_create(&config.secret_key_file)?;
        let db = Db::open(&config.db_path())?;
        let check = secrets.clone();
        db.write(move |conn| verify_secret_key(conn, &check))
            .await?;
        Ok((
            Ctx {
                config,
                db,
                secrets,
            },
            prepared,
        ))
    }
}

/// The first key to touch a database seals a known value into it; every later key must open it.
/// This turns a wrong `secret.key` into a clear error at start instead of at the first request.
fn verify_secret_key(conn: &rusqlite::Connection, key: &SecretKey) -> Result<()> {
    const KNOWN: &[u8] = b"aicarpool secret key check";
    match store::settings::get(conn, store::settings::SECRET_KEY_CHECK)? {
        Some(hex) => {
            let sealed = hex_decode(&hex)
                .ok_or_else(|| Error::Secret("stored key check is corrupt".into()))?;
            match key.open(Purpose::KeyCheck, &sealed) {
                Ok(v) if v == KNOWN => Ok(()),
                _ => Err(Error::Secret(
                    "this secret.key is not the key this database's secrets were sealed with; \
                     restore the original key file (or AICARPOOL_SECRET_KEY_FILE)"
                        .into(),
                )),
            }
        }
        None => {
            let sealed = key.seal(Purpose::KeyCheck, KNOWN)?;
            store::settings::set(
                conn,
                store::settings::SECRET_KEY_CHECK,
                &hex_encode(&sealed),
            )
        }
    }
}

/// Creates an empty 0600 file unless one exists, so SQLite (which gives its WAL and shared
/// memory files the database's mode) never makes the database readable by others.
fn create_private_file(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(format!("creating {}", path.display()), e)),
    }
}

/// Checks a short human-given name (group, account, key): non-empty, bounded, printable.
pub(crate) fn check_name(what: &str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid(format!("{what} name must not be empty")));
    }
    if name.chars().count() > 100 {
        return Err(Error::Invalid(format!(
            "{what} name is longer than 100 characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} name must not contain control characters"
        )));
    }
    Ok(name.to_owned())
}
