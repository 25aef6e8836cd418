//! Secrets at rest: the data directory's `secret.key` and AEAD (XChaCha20-Poly1305) sealing of
//! upstream credentials and proxy passwords.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Error, Result};

/// Format byte in front of every sealed value, so the scheme can change later.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// What a sealed value is for; bound into the ciphertext so one field's value cannot be
/// moved into another field.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    Credentials,
    ProxyPassword,
    OauthAccessToken,
    OauthRefreshToken,
    /// A PKCE verifier waiting for its authorization code.
    OauthVerifier,
    KeyCheck,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Purpose::Credentials => b"aicarpool:credentials",
            Purpose::ProxyPassword => b"aicarpool:proxy_password",
            Purpose::OauthAccessToken => b"aicarpool:oauth_access_token",
            Purpose::OauthRefreshToken => b"aicarpool:oauth_refresh_token",
            Purpose::OauthVerifier => b"aicarpool:oauth_verifier",
            Purpose::KeyCheck => b"aicarpool:key_check",
        }
    }
}

/// The key that seals upstream secrets. `Debug` never prints it.
#[derive(Clone)]
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// Loads the key file, creating it (mode 0600, 32 random bytes as hex) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<SecretKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(text.trim())
                .map_err(|m| Error::Secret(format!("{}: {m}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    fn create(path: &Path) -> Result<SecretKey> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let mut bytes = [0u8; KEY_LEN];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Secret(format!("OS random: {e}")))?;
        let hex = hex_encode(&bytes);
        // create_new: two processes racing to create the key must not both win.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match file {
            Ok(mut f) => {
                f.write_all(format!("{hex}\n").as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(e) => Err(Error::io(format!("creating {}", path.display()), e)),
        }
    }

    fn from_hex(text: &str) -> std::result::Result<SecretKey, String> {
        let bytes = hex_decode(text).ok_or("is not 64 hexadecimal characters")?;
        let bytes: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| "is not 64 hexadecimal characters")?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; KEY_LEN]) -> SecretKey {
        SecretKey {
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    /// Encrypts `plaintext`: version byte, random nonce, ciphertext with tag.
    pub fn seal(&self, purpose: Purpose, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|e| Error::Secret(format!("OS random: {e}")))?;
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.aad(),
                },
            )
            .map_err(|_| Error::Secret("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a value made by [`SecretKey::seal`]. A wrong key or a tampered value is an error.
    pub fn open(&self, purpose: Purpose, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(Error::Secret("stored secret has an unknown format".into()));
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.aad(),
                },
            )
            .map_err(|_| {
                Error::Secret(
                    "stored secret does not decrypt with this secret.key (wrong key file?)".into(),
                )
            })
    }

    /// Decrypts a value that must be UTF-8 text (API keys, tokens, passwords).
    pub fn open_string(&self, purpose: Purpose, sealed: &[u8]) -> Result<String> {
        String::from_utf8(self.open(purpose, sealed)?)
            .map_err(|_| Error::Secret("stored secret is not UTF-8".into()))
    }
}

/// A credential or token in memory; its Debug form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// `bytes` random bytes from the OS CSPRNG, as hex (session tokens, CSRF tokens, setup links).
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| Error::Secret(format!("OS random: {e}")))?;
    Ok(hex_encode(&buf))
}

/// The SHA-256 of `text`, as hex: how tokens are stored and looked up.
pub fn sha256_hex(text: &str) -> String {
    sha256_hex_bytes(text.as_bytes())
}

pub fn sha256_hex_bytes(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex_encode(&Sha256::digest(bytes))
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::load_or_create(&dir.path().join("secret.key")).unwrap();
        let sealed = key.seal(Purpose::Credentials, b"sk-ant-secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            key.open_string(Purpose::Credentials, &sealed).unwrap(),
            "sk-ant-secret"
        );
    }

    #[test]
    fn key_file_is_private_and_reloads_the_same_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let key = SecretKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = key.seal(Purpose::Credentials, b"x").unwrap();
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(again.open(Purpose::Credentials, &sealed).unwrap(), b"x");
    }

    #[test]
    fn wrong_key_or_wrong_purpose_or_tampering_fails() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretKey::load_or_create(&dir.path().join("a.key")).unwrap();
        let b = SecretKey::load_or_create(&dir.path().join("b.key")).unwrap();
        let mut sealed = a.seal(Purpose::Credentials, b"token").unwrap();
        assert!(matches!(
            b.open(Purpose::Credentials, &sealed),
            Err(Error::Secret(_))
        ));
        assert!(a.open(Purpose::ProxyPassword, &sealed).is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(a.open(Purpose::Credentials, &sealed).is_err());
    }

    #[test]
    fn malformed_key_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            SecretKey::load_or_create(&path),
            Err(Error::Secret(_))
        ));
    }
}
