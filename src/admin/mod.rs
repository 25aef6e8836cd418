//! The admin page's JSON API under `/api/admin`: its route table, and the session, CSRF,
//! content-type and body-size checks that stand in front of every handler.
//!
//! Handlers call the same `manage` functions as the CLI: one place decides, two front doors.

mod api;
mod reports;
pub mod session;
mod signin;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tracing::error;

use crate::error::Error;

/// State the handlers share: the application services, the serving gateway and sign-in.
pub struct AppState {
    pub ctx: crate::manage::Ctx,
    pub gateway: std::sync::Arc<crate::gateway::Gateway>,
    pub auth: Auth,
}
use crate::http::{Body, json_response};
pub use session::{Auth, Session};

/// Where the API lives.
pub const PREFIX: &str = "/api/admin";
/// The largest request body an admin call accepts.
const MAX_BODY: usize = 1024 * 1024;
/// Largest body taken from a caller not signed in (sign-in, setup).
const MAX_PUBLIC_BODY: usize = 16 * 1024;

/// What a route does; [`Op::run`] maps each to its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Session,
    Setup,
    Login,
    Logout,
    SetAdmin,
    Dashboard,
    Accounts,
    CreateAccount,
    Account,
    UpdateAccount,
    AccountStatus,
    TestAccount,
    OauthStart,
    OauthExchange,
    Groups,
    CreateGroup,
    UpdateGroup,
    Keys,
    CreateKey,
    UpdateKey,
    RevokeKey,
    KeyUsage,
    RenameKey,
    DeleteKey,
    RenameGroup,
    DeleteGroup,
    DeleteAccount,
    FetchModels,
    ExportRequests,
    Requests,
    Usage,
    Prices,
    SetPrice,
    RemovePrice,
    Settings,
    SetPolicy,
    Audit,
}

/// One admin endpoint. `{id}` and `{model}` match one path segment each.
#[derive(Clone, Debug)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub op: Op,
    /// Whether it answers without a session (only what signing in needs).
    pub public: bool,
}

const fn r(method: Method, path: &'static str, op: Op) -> Route {
    Route {
        method,
        path,
        op,
        public: false,
    }
}

const fn public(method: Method, path: &'static str, op: Op) -> Route {
    Route {
        method,
        path,
        op,
        public: true,
    }
}

/// Every admin endpoint, relative to [`PREFIX`]. Anything not public needs a live session;
/// anything not GET also needs the session's CSRF token in `x-csrf-token`.
pub const ROUTES: &[Route] = &[
    public(Method::GET, "/session", Op::Session),
    public(Method::POST, "/setup", Op::Setup),
    public(Method::POST, "/login", Op::Login),
    r(Method::POST, "/logout", Op::Logout),
    r(Method::POST, "/admins", Op::SetAdmin),
    r(Method::GET, "/dashboard", Op::Dashboard),
    r(Method::GET, "/accounts", Op::Accounts),
    r(Method::POST, "/accounts", Op::CreateAccount),
    r(Method::GET, "/accounts/{id}", Op::Account),
    r(Method::PATCH, "/accounts/{id}", Op::UpdateAccount),
    r(Method::POST, "/accounts/{id}/status", Op::AccountStatus),
    r(Method::POST, "/accounts/{id}/test", Op::TestAccount),
    r(Method::POST, "/accounts/{id}/models", Op::FetchModels),
    r(Method::DELETE, "/accounts/{id}", Op::DeleteAccount),
    r(Method::POST, "/oauth/start", Op::OauthStart),
    r(Method::POST, "/oauth/exchange", Op::OauthExchange),
    r(Method::GET, "/groups", Op::Groups),
    r(Method::POST, "/groups", Op::CreateGroup),
    r(Method::PATCH, "/groups/{id}", Op::UpdateGroup),
    r(Method::POST, "/groups/{id}/rename", Op::RenameGroup),
    r(Method::DELETE, "/groups/{id}", Op::DeleteGroup),
    r(Method::GET, "/keys", Op::Keys),
    r(Method::POST, "/keys", Op::CreateKey),
    r(Method::PATCH, "/keys/{id}", Op::UpdateKey),
    r(Method::POST, "/keys/{id}/revoke", Op::RevokeKey),
    r(Method::GET, "/keys/{id}/usage", Op::KeyUsage),
    r(Method::POST, "/keys/{id}/rename", Op::RenameKey),
    r(Method::DELETE, "/keys/{id}", Op::DeleteKey),
    r(Method::GET, "/requests", Op::Requests),
    r(Method::GET, "/requests/export", Op::ExportRequests),
    r(Method::GET, "/usage", Op::Usage),
    r(Method::GET, "/prices", Op::Prices),
    r(Method::PUT, "/prices/{model}", Op::SetPrice),
    r(Method::DELETE, "/prices/{model}", Op::RemovePrice),
    r(Method::GET, "/settings", Op::Settings),
    r(Method::PUT, "/settings/account-policy", Op::SetPolicy),
    r(Method::GET, "/audit", Op::Audit),
];

/// What a handler gets: the shared state, who is asking, and the parsed request.
pub struct Call<'a> {
    pub state: &'a AppState,
    pub session: Option<Session>,
    /// The values of the route's `{…}` segments, in order.
    pub params: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
    pub headers: http::HeaderMap,
    pub peer: Option<SocketAddr>,
}

impl Call<'_> {
    /// The signed-in admin; every non-public route has one.
    pub fn session(&self) -> &Session {
        self.session.as_ref().expect("route requires a session")
    }

    pub fn actor(&self) -> String {
        self.session().actor()
    }

    /// The route's `{id}` segment as a number.
    pub fn id(&self) -> Result<i64, Error> {
        self.params
            .first()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| Error::NotFound("no such id".into()))
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body as `T`; a malformed one is a 400 naming what is wrong.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let body: &[u8] = if self.body.is_empty() {
            b"{}"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| Error::Invalid(format!("request body: {e}")))
    }
}

/// Answers one `/api/admin/*` request.
pub async fn handle(state: &AppState, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path()[PREFIX.len()..].to_owned();
    let method = req.method().clone();
    let mut path_known = false;
    let mut found = None;
    for route in ROUTES {
        if let Some(params) = match_path(route.path, &path) {
            path_known = true;
            if route.method == method {
                found = Some((route, params));
                break;
            }
        }
    }
    let Some((route, params)) = found else {
        return if path_known {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        } else {
            error(StatusCode::NOT_FOUND, "no such admin endpoint")
        };
    };
    let session = match session::current(&state.ctx, req.headers()).await {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    if !route.public {
        let Some(s) = &session else {
            return error(StatusCode::UNAUTHORIZED, "sign in first");
        };
        if method != Method::GET && !session::csrf_ok(s, req.headers()) {
            return error(StatusCode::FORBIDDEN, "missing or wrong CSRF token");
        }
    }
    if method != Method::GET {
        // A JSON content type cannot be sent cross-site without a CORS preflight, which this
        // server never grants: a second line of defence behind SameSite and the CSRF token.
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as application/json",
            );
        }
    }
    let peer = req.extensions().get::<SocketAddr>().copied();
    let query = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    // Before sign-in only small bodies (a name and a password) are taken, and any body must
    // arrive in time: unfinished bodies cannot pile up in memory.
    let max = if session.is_some() {
        MAX_BODY
    } else {
        MAX_PUBLIC_BODY
    };
    let deadline = state.ctx.config.http.body_read_timeout;
    let body = match tokio::time::timeout(deadline, Limited::new(body, max).collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
            );
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            );
        }
    };
    let call = Call {
        state,
        session,
        params,
        query,
        body,
        headers: parts.headers,
        peer,
    };
    match route.op.run(call).await {
        Ok(resp) => resp,
        Err(e) => failure(e),
    }
}

impl Op {
    async fn run(self, c: Call<'_>) -> Result<Response<Body>, Error> {
        use Op::*;
        match self {
            Session => signin::session(c).await,
            Setup => signin::setup(c).await,
            Login => signin::login(c).await,
            Logout => signin::logout(c).await,
            SetAdmin => signin::set_admin(c).await,
            Accounts => api::accounts(c).await,
            CreateAccount => api::create_account(c).await,
            Account => api::account(c).await,
            UpdateAccount => api::update_account(c).await,
            AccountStatus => api::account_status(c).await,
            TestAccount => api::test_account(c).await,
            OauthStart => api::oauth_start(c).await,
            OauthExchange => api::oauth_exchange(c).await,
            Groups => api::groups(c).await,
            CreateGroup => api::create_group(c).await,
            UpdateGroup => api::update_group(c).await,
            Keys => api::keys(c).await,
            CreateKey => api::create_key(c).await,
            UpdateKey => api::update_key(c).await,
            RevokeKey => api::revoke_key(c).await,
            KeyUsage => reports::key_usage(c).await,
            RenameKey => api::rename_key(c).await,
            DeleteKey => api::delete_key(c).await,
            RenameGroup => api::rename_group(c).await,
            DeleteGroup => api::delete_group(c).await,
            DeleteAccount => api::delete_account(c).await,
            FetchModels => api::fetch_models(c).await,
            Prices => api::prices(c).await,
            SetPrice => api::set_price(c).await,
            RemovePrice => api::remove_price(c).await,
            Dashboard => reports::dashboard(c).await,
            Requests => reports::requests(c).await,
            ExportRequests => reports::export_requests(c).await,
            Usage => reports::usage(c).await,
            Settings => reports::settings(c).await,
            SetPolicy => api::set_policy(c).await,
            Audit => reports::audit(c).await,
        }
    }
}

/// The `{…}` values if `path` fits `pattern`.
fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut segs = path.split('/');
    for want in pattern.split('/') {
        let got = segs.next()?;
        if want.starts_with('{') {
            if got.is_empty() {
                return None;
            }
            let decoded = percent_decode(got)?;
            params.push(decoded);
        } else if want != got {
            return None;
        }
    }
    segs.next().is_none().then_some(params)
}

fn percent_decode(s: &str) -> Option<String> {
    // A `%` not followed by two hex digits makes the path wrong, not literal text.
    let b = s.as_bytes();
    let well_formed = (0..b.len()).filter(|&i| b[i] == b'%').all(|i| {
        b.get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
    Some(decoded.into_owned())
}

/// A JSON success.
pub fn ok(value: &Value) -> Result<Response<Body>, Error> {
    Ok(json_response(StatusCode::OK, value))
}

/// A JSON error body `{"error": {"message": ..}}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": { "message": message } }))
}

/// The one mapping from a domain error to an admin API answer. Internal failures are logged
/// and described only generally.
fn failure(e: Error) -> Response<Body> {
    let status = e.status();
    // An internal failure (SQL, I/O) is logged with its cause; the browser gets a clear
    // sentence and a reference to find the log line, never the cause's own text.
    if status.is_server_error() && !matches!(e, Error::Upstream(_)) {
        let reference = crate::crypto::random_hex(4).unwrap_or_default();
        error!(error = %e, reference, "admin request failed");
        return error(
            status,
            &format!(
                "the server could not complete this request (reference {reference} in its log)"
            ),
        );
    }
    error(status, &e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_failures_reach_the_browser_as_a_sentence_not_their_cause() {
        use http_body_util::BodyExt;
        let cause = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_CHECK),
            Some("CHECK constraint failed: cost_nanos >= 0".into()),
        );
        let resp = failure(Error::Database(cause));
        assert!(resp.status().is_server_error());
        let body = block_on(resp.into_body().collect()).unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("CHECK") && !text.contains("cost_nanos"),
            "{text}"
        );
        assert!(text.contains("reference"), "{text}");
        // A request's own mistake is still explained.
        let resp = failure(Error::Invalid("--queue needs --concurrency".into()));
        let body = block_on(resp.into_body().collect()).unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("--queue needs"));
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn paths_match_whole_segments_and_decode_params() {
        assert_eq!(match_path("/accounts", "/accounts"), Some(vec![]));
        assert_eq!(match_path("/accounts", "/accounts/"), None);
        assert_eq!(
            match_path("/accounts/{id}/test", "/accounts/7/test"),
            Some(vec!["7".into()])
        );
        assert_eq!(match_path("/accounts/{id}", "/accounts/7/test"), None);
        assert_eq!(
            match_path("/prices/{model}", "/prices/claude%2Dx.1"),
            Some(vec!["claude-x.1".into()])
        );
        assert_eq!(match_path("/prices/{model}", "/prices/%zz"), None);
    }

    #[test]
    fn every_route_is_unique_and_only_sign_in_is_public() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
        let public: Vec<_> = ROUTES.iter().filter(|r| r.public).map(|r| r.op).collect();
        assert_eq!(public, [Op::Session, Op::Setup, Op::Login]);
    }
}
