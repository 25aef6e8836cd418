//! The checks an account's fields pass before they are stored: secrets, ranges, model names
//! and maps, base and proxy URLs.

use http::Uri;

use crate::crypto::Purpose;
use crate::error::{Error, Result};
use crate::manage::Ctx;
use crate::store::accounts::Proxy;
use crate::upstream::proxy::ProxyUrl;

pub(super) fn check_secret(secret: &str) -> Result<String> {
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(Error::Invalid("the account's secret is empty".into()));
    }
    if secret.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::Invalid(
            "the account secret contains spaces or control characters".into(),
        ));
    }
    Ok(secret.to_owned())
}

pub(super) fn check_priority(p: i64) -> Result<i64> {
    if (0..=1_000_000).contains(&p) {
        Ok(p)
    } else {
        Err(Error::Invalid(format!(
            "priority {p} is out of range (0 to 1000000, lower goes first)"
        )))
    }
}

pub(super) fn check_weight(w: i64) -> Result<i64> {
    if (1..=1_000_000).contains(&w) {
        Ok(w)
    } else {
        Err(Error::Invalid(format!(
            "weight {w} is out of range (1 to 1000000)"
        )))
    }
}

pub(super) fn check_models(models: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for m in models {
        let m = m.trim();
        if m.is_empty() {
            continue;
        }
        if m.len() > 200 || m.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::Invalid(format!("{m:?} is not a model name")));
        }
        if !out.iter().any(|x| x == m) {
            out.push(m.to_owned());
        }
    }
    Ok(out)
}

/// An upstream base URL: absolute http(s), a host, no credentials, no query; trailing `/` dropped.
pub(crate) fn check_base_url(url: &str) -> Result<String> {
    let bad = |why: &str| Error::Invalid(format!("base URL {url:?} {why}"));
    let uri: Uri = url.trim().parse().map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "must not contain credentials (the secret is given apart from it)",
        ));
    }
    if authority.host().is_empty() {
        return Err(bad("has no host"));
    }
    if uri.query().is_some() {
        return Err(bad("must not have a query string"));
    }
    Ok(url.trim().trim_end_matches('/').to_owned())
}

/// A per-account concurrency cap: 1 to 10 000.
pub(super) fn check_concurrency(n: i64) -> Result<i64> {
    if (1..=10_000).contains(&n) {
        Ok(n)
    } else {
        Err(Error::Invalid(format!(
            "max concurrency must be 1 to 10000 (got {n})"
        )))
    }
}

/// Parses `FROM=TO` pairs into the stored mapping object.
pub(super) fn check_model_map(
    pairs: &[String],
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut map = serde_json::Map::new();
    for pair in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (from, to) = pair
            .split_once('=')
            .map(|(f, t)| (f.trim(), t.trim()))
            .filter(|(f, t)| !f.is_empty() && !t.is_empty())
            .ok_or_else(|| Error::Invalid(format!("--model-map {pair:?} is not FROM=TO")))?;
        if from
            .chars()
            .chain(to.chars())
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::Invalid(format!(
                "--model-map {pair:?} has a space in a model name"
            )));
        }
        map.insert(from.to_owned(), serde_json::Value::String(to.to_owned()));
    }
    Ok(map)
}

/// Reads a proxy URL (and a password given apart) into a proxy with a sealed password.
pub(super) fn parse_proxy(ctx: &Ctx, url: &str, password: Option<&str>) -> Result<Proxy> {
    let u = ProxyUrl::parse(url).map_err(Error::Invalid)?;
    if u.password.is_some() && password.is_some() {
        return Err(Error::Invalid(
            "proxy URL has a password and a separate password was given too".into(),
        ));
    }
    let password = u.password.or(password.map(str::to_owned));
    if password.is_some() && u.user.is_none() {
        return Err(Error::Invalid(
            "proxy URL has a password but no user name".into(),
        ));
    }
    Ok(Proxy {
        scheme: u.scheme.as_str().to_owned(),
        host: u.host,
        port: u.port,
        username: u.user,
        password: password
            .map(|p| ctx.secrets.seal(Purpose::ProxyPassword, p.as_bytes()))
            .transpose()?,
    })
}

/// Whether a proxy URL carries a password (the CLI refuses those: argv is visible to others).
pub fn proxy_url_has_password(url: &str) -> bool {
    ProxyUrl::parse(url).is_ok_and(|u| u.password.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            check_base_url("https://relay.example.com/api/").unwrap(),
            "https://relay.example.com/api"
        );
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        for bad in [
            "relay.example.com",
            "ftp://x.example",
            "https://user:pw@x.example",
            "https://x.example/?a=1",
            "not a url",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxy_password_detection() {
        assert!(proxy_url_has_password("socks5://u:p@127.0.0.1:1080"));
        assert!(!proxy_url_has_password("socks5://u@127.0.0.1:1080"));
        assert!(!proxy_url_has_password("http://127.0.0.1:3128"));
    }
}
