//! Admin accounts: argon2id password hashes, set from the CLI (and later the setup link).

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use serde_json::json;

use super::Ctx;
use crate::error::{Error, Result};
use crate::store::{admins, audit};

pub const MIN_PASSWORD_CHARS: usize = 10;
const MAX_PASSWORD_BYTES: usize = 1024;

/// Creates the admin `username` or resets its password (ending its sessions). Returns whether
/// the admin was new.
pub async fn set_password(ctx: &Ctx, actor: &str, username: &str, password: &str) -> Result<bool> {
    let username = check_username(username)?;
    check_password(password)?;
    let password = password.to_owned();
    // argon2 is deliberately slow: keep it off the async threads.
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| Error::Secret(format!("hashing task failed: {e}")))??;
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            let (id, created) = admins::upsert_password(conn, &username, &hash)?;
            audit::insert(
                conn,
                &actor,
                if created {
                    "admin.create"
                } else {
                    "admin.set_password"
                },
                Some(("user", id)),
                Some(&json!({ "username": username })),
            )?;
            Ok(created)
        })
        .await
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Secret(format!("password hashing failed: {e}")))
}

/// Checks `password` against a stored PHC string in constant time.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn check_username(username: &str) -> Result<String> {
    let u = username.trim();
    let ok = !u.is_empty()
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(u.to_owned())
    } else {
        Err(Error::Invalid(
            "username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'".into(),
        ))
    }
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::Invalid("the password is too long".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hash_verifies_only_the_right_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn short_passwords_and_odd_usernames_are_refused() {
        assert!(check_password("short").is_err());
        assert!(check_username("bad name").is_err());
        assert!(check_username("ops.admin@team").is_ok());
    }
}
