//! Why the gateway could not build a request for an account or read its answer. Each keeps what
//! a member may be told ([`UpstreamError::public`]) apart from the whole cause (its `Display`),
//! which goes to the request log and the account's status reason.

use std::fmt;

/// A failure on the way to or from an upstream that is not an HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    /// The account's settings cannot form a request (a credential that is not a header value,
    /// a base URL that is not a URL): an operator must fix the account.
    Misconfigured { account: i64, what: &'static str },
    /// The answer broke off, went silent or outgrew its bound.
    Broken(String),
    /// The answer's encoding cannot be read or is corrupt.
    Undecodable(String),
}

impl UpstreamError {
    /// The sentence a member gets: the kind of failure, nothing of the upstream's own words.
    pub fn public(&self) -> &'static str {
        match self {
            UpstreamError::Misconfigured { .. } => {
                "an upstream account is misconfigured; an operator must fix it"
            }
            UpstreamError::Broken(_) | UpstreamError::Undecodable(_) => {
                "the upstream's answer could not be read"
            }
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Misconfigured { account, what } => {
                write!(f, "account {account} has {what}")
            }
            UpstreamError::Broken(cause) | UpstreamError::Undecodable(cause) => f.write_str(cause),
        }
    }
}

impl std::error::Error for UpstreamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_member_is_told_the_kind_and_the_log_the_cause() {
        let e = UpstreamError::Broken("upstream response idle for 300s".into());
        assert_eq!(e.public(), "the upstream's answer could not be read");
        assert_eq!(e.to_string(), "upstream response idle for 300s");
        let m = UpstreamError::Misconfigured {
            account: 3,
            what: "a credential that is not a valid header value",
        };
        assert!(m.to_string().starts_with("account 3 has"));
        assert!(!m.public().contains('3'));
    }
}
