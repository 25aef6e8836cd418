//! A signed-in admin API client for tests: keeps the session cookie and CSRF token.
#![allow(dead_code)]

use std::net::SocketAddr;

use serde_json::Value;

use super::{Resp, request};

pub const USER: &str = "ops";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Admin {
    pub addr: SocketAddr,
    pub cookie: String,
    pub csrf: String,
}

/// Creates the admin `user` with [`PASSWORD`] through the CLI.
pub fn make_admin(data: &super::Data, user: &str) {
    data.ok(
        &["admin", "set-password", "--username", user],
        &format!("{PASSWORD}\n"),
    );
}

/// The `name=value` part of a response's `Set-Cookie`.
pub fn session_cookie(resp: &Resp) -> String {
    resp.header("set-cookie")
        .expect("a Set-Cookie header")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// POSTs JSON to an admin endpoint with the given cookie and CSRF token (either may be empty).
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    csrf: &str,
    body: &str,
) -> Resp {
    let mut headers = vec![("content-type", "application/json")];
    if !cookie.is_empty() {
        headers.push(("cookie", cookie));
    }
    if !csrf.is_empty() {
        headers.push(("x-csrf-token", csrf));
    }
    request(
        addr,
        method,
        &format!("/api/admin{path}"),
        &headers,
        body.as_bytes(),
    )
}

pub fn login(addr: SocketAddr, user: &str, password: &str) -> Resp {
    let body = serde_json::json!({ "username": user, "password": password }).to_string();
    call(addr, "POST", "/login", "", "", &body)
}

impl Admin {
    /// Signs in as [`USER`] (who must exist).
    pub fn sign_in(addr: SocketAddr) -> Admin {
        Admin::sign_in_as(addr, USER)
    }

    /// Signs in as `user` (who must exist, with [`PASSWORD`]).
    pub fn sign_in_as(addr: SocketAddr, user: &str) -> Admin {
        let resp = login(addr, user, PASSWORD);
        assert_eq!(resp.status, 200, "sign-in failed: {}", resp.body);
        let body: Value = serde_json::from_str(&resp.body).unwrap();
        Admin {
            addr,
            cookie: session_cookie(&resp),
            csrf: body["csrf"].as_str().unwrap().to_owned(),
        }
    }

    pub fn send(&self, method: &str, path: &str, body: &str) -> Resp {
        call(self.addr, method, path, &self.cookie, &self.csrf, body)
    }

    /// A call that must succeed; its JSON.
    pub fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let resp = self.send(method, path, &body.to_string());
        assert_eq!(resp.status, 200, "{method} {path} failed: {}", resp.body);
        serde_json::from_str(&resp.body).unwrap()
    }

    pub fn get(&self, path: &str) -> Value {
        let resp = self.send("GET", path, "");
        assert_eq!(resp.status, 200, "GET {path} failed: {}", resp.body);
        serde_json::from_str(&resp.body).unwrap()
    }
}
