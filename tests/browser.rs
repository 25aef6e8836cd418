//! The admin page in real headless Chromium against a running gateway and a fake upstream:
//! first-run setup, sign-in, adding an account, issuing a key (shown once), seeing relayed
//! traffic, watching an account fail and recovering it, signing out, and throttled sign-in.
//!
//! Needs Chromium and ChromeDriver (`apt-get install -y chromium chromium-driver`); `.ci/run`
//! installs them and runs these with `--include-ignored`.

mod common;

use std::time::Duration;

use common::admin::{PASSWORD, call, make_admin};
use common::browser::Browser;
use common::env::Env;
use common::post_json;
use common::upstream::{self, Fake, Reply};

const REQUEST: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

/// The only group is checked for a new account already.
async fn assert_checked(b: &Browser, css: &str) {
    let checked = b
        .js(&format!("return document.querySelector('{css}').checked"))
        .await;
    assert_eq!(checked, true, "{css}");
}

/// Runs a browser journey on its own runtime (the fake upstream has one of its own, which
/// must not be started from inside another).
fn browse(journey: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(journey);
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn an_operator_runs_the_gateway_from_the_admin_page() {
    let env = Env::new();
    let fake = Fake::start();
    let server = env.serve(&[]);
    let setup_url = server.setup_url.clone().expect("a setup link");
    browse(async {
        let b = Browser::start(server.addr).await;

        // First run: the printed link lets the first admin choose a password.
        b.open(&setup_url).await;
        b.fill("#setup-form [name=username]", "root").await;
        b.fill("#setup-form [name=password]", PASSWORD).await;
        b.fill("#setup-form [name=again]", PASSWORD).await;
        b.shot("01-setup").await;
        b.click("#setup-form button[type=submit]").await;
        b.wait_text("#dashboard h1", "Dashboard").await;
        assert_eq!(b.text("#who").await, "root");

        // Add an Anthropic account bound to the team.
        b.open("/#/accounts/new").await;
        b.fill("#account-form [name=name]", "primary").await;
        b.fill("#account-form [name=base_url]", &fake.url()).await;
        b.fill("#account-form [name=secret]", "sk-ant-browser-secret")
            .await;
        assert_checked(&b, "#account-form input[data-group=team]").await;
        b.shot("02-account-new").await;
        b.click("#account-form button[type=submit]").await;
        b.wait_text("#account-detail h1", "primary").await;
        b.wait_text("#account-detail", "ACTIVE").await;
        let page = b.client.source().await.unwrap();
        assert!(
            !page.contains("sk-ant-browser-secret"),
            "the secret came back"
        );

        // Create a key: shown exactly once, with client settings.
        b.open("/#/keys").await;
        b.fill("#key-form [name=name]", "alice").await;
        b.click("#key-form button[type=submit]").await;
        let key = b.text("#new-key").await;
        assert!(key.starts_with("acp_") && key.len() > 40, "{key}");
        let once = b.text("#key-once").await;
        assert!(once.contains("shown only this once"));
        assert!(once.contains(&format!("ANTHROPIC_AUTH_TOKEN={key}")));
        assert!(once.contains("base_url = \"http://"));
        b.shot("03-key-once").await;
        b.press("#key-once", "Done").await;
        b.wait_text("#keys", "alice").await;
        b.open("/#/keys").await;
        b.wait_text("#keys", "alice").await;
        assert!(
            !b.client.source().await.unwrap().contains(&key),
            "the key is shown a second time"
        );

        // A relayed request with that key shows in the request log and on the dashboard.
        let resp = post_json(&server, "/v1/messages", &[("x-api-key", &key)], REQUEST);
        assert_eq!(resp.status, 200, "{}", resp.body);
        env.rows(1);
        b.open("/#/requests").await;
        let log = b.wait_text("#request-results", "team/alice").await;
        assert!(
            log.contains("primary") && log.contains("claude-sonnet-4-5"),
            "{log}"
        );
        b.shot("04-requests").await;
        b.open("/#/dashboard").await;
        b.wait_text("#dashboard .stats", "Requests\n1").await;
        b.wait_text("#dashboard", "team/alice").await;
        // A model without a price is shown as unpriced, never as $0.00.
        let unpriced = REQUEST.replace("claude-sonnet-4-5", "kimi-k2-nopr");
        fake.set(Reply::Raw(
            200,
            vec![("content-type", "application/json".into())],
            upstream::message_json()
                .replace(upstream::MODEL, "kimi-k2-nopr")
                .into(),
        ));
        let resp = post_json(&server, "/v1/messages", &[("x-api-key", &key)], &unpriced);
        assert_eq!(resp.status, 200, "{}", resp.body);
        env.rows(2);
        // Away and back: the page renders the dashboard afresh.
        b.open("/#/requests").await;
        b.wait_text("#request-results", "kimi-k2-nopr").await;
        b.open("/#/dashboard").await;
        let dash = b.wait_text("#dashboard", "kimi-k2-nopr").await;
        let row = dash
            .lines()
            .find(|l| l.contains("kimi-k2-nopr"))
            .unwrap_or_default()
            .to_owned();
        assert!(row.contains("unpriced") && !row.contains("$0.00"), "{dash}");
        assert!(dash.contains("+ 1 unpriced"), "the total says so: {dash}");
        b.shot("05-dashboard").await;
        // So do the member's own totals.
        b.open("/#/me").await;
        b.fill("#me-form [name=key]", &key).await;
        b.click("#me-form button[type=submit]").await;
        let stats = b.wait_text("#usage-stats", "Today").await;
        assert!(stats.contains("+ 1 unpriced"), "{stats}");
        // The longer cost line still fits a phone.
        b.client.set_window_size(390, 844).await.unwrap();
        b.shot("05-me-unpriced-390").await;
        let cut = b.clipped().await;
        assert!(cut.is_empty(), "member page at 390×844: {cut:?}");
        b.client.set_window_size(1366, 900).await.unwrap();
        b.click("#forget").await;

        // The upstream fails until the account leaves rotation; the page says why and until when.
        fake.set(Reply::Status(
            500,
            vec![],
            r#"{"type":"error","error":{"type":"api_error","message":"upstream exploded"}}"#.into(),
        ));
        for _ in 0..3 {
            post_json(&server, "/v1/messages", &[("x-api-key", &key)], REQUEST);
        }
        let id = env.data.json(&["account", "list"], "")[0]["id"]
            .as_i64()
            .unwrap();
        env.wait_status(id, "TEMP_ERROR", Duration::from_secs(5));
        b.open("/#/accounts").await;
        let list = b.wait_text("#accounts", "TEMP ERROR").await;
        assert!(list.contains("server errors"), "no reason shown: {list}");
        b.open(&format!("/#/accounts/{id}")).await;
        let detail = b.wait_text("#account-detail", "Back at").await;
        assert!(detail.contains("TEMP ERROR"), "{detail}");
        b.wait_text("#account-detail", "upstream exploded").await;
        b.shot("06-account-temp-error").await;
        fake.set(Reply::Auto);
        b.press("#account-detail .actions", "Recover").await;
        b.wait_text("#account-detail .page-head", "ACTIVE").await;
        assert_eq!(env.status(id), "ACTIVE");

        // The other pages render with what happened.
        b.open("/#/groups").await;
        b.wait_text("#groups", "primary").await;
        b.shot("07-groups").await;
        b.open("/#/settings").await;
        b.wait_text("#settings", "claude-sonnet-4-5").await;
        b.fill("#policy-form [name=error_threshold]", "4").await;
        b.click("#policy-form button[type=submit]").await;
        b.wait_text("#policy-form", "changed here").await;
        b.shot("08-settings").await;
        b.open("/#/audit").await;
        let audit = b.wait_text("#audit", "key.create").await;
        assert!(
            audit.contains("admin:root") && audit.contains("account.recover"),
            "{audit}"
        );
        assert!(audit.contains("settings.account_policy"), "{audit}");
        b.shot("09-audit").await;

        // A narrow window: nothing forces sideways scrolling of the page itself.
        b.client.set_window_size(390, 844).await.unwrap();
        b.open("/#/dashboard").await;
        b.wait_text("#dashboard", "Dashboard").await;
        let overflow = b
        .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "page overflows by {overflow}px"
        );
        b.shot("10-dashboard-narrow").await;
        b.client.set_window_size(1280, 900).await.unwrap();

        // Signing out ends the session: its cookie no longer opens the API.
        let cookie = b
            .client
            .get_named_cookie("aicarpool_session")
            .await
            .unwrap();
        let cookie = format!("aicarpool_session={}", cookie.value());
        assert_eq!(
            call(server.addr, "GET", "/accounts", &cookie, "", "").status,
            200
        );
        b.click("#logout").await;
        b.wait_text("#login-form", "Sign in").await;
        assert_eq!(
            call(server.addr, "GET", "/accounts", &cookie, "", "").status,
            401,
            "the cookie from before sign-out still works"
        );

        // A wrong password is refused, and after five the page says to wait.
        for _ in 0..5 {
            b.fill("#login-form [name=username]", "root").await;
            b.fill("#login-form [name=password]", "not the password")
                .await;
            b.click("#login-form button[type=submit]").await;
            b.wait_text("#login-form .form-error", "wrong username or password")
                .await;
            b.js("document.querySelector('#login-form .form-error').textContent = ''")
                .await;
        }
        b.fill("#login-form [name=password]", PASSWORD).await;
        b.click("#login-form button[type=submit]").await;
        b.wait_text("#login-form .form-error", "too many failed sign-ins")
            .await;
        b.shot("11-throttled").await;
        b.close().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
async fn the_page_is_served_with_a_strict_policy_and_works_by_keyboard() {
    let env = Env::new();
    make_admin(&env.data, "kb");
    let server = env.serve(&[]);
    let page = common::http(server.addr, "GET", "/");
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));

    let b = Browser::start(server.addr).await;
    b.open("/").await;
    // The username field has focus; type, Tab to the password, Enter submits.
    b.el("#login-form").await;
    let active = b.js("return document.activeElement.name").await;
    assert_eq!(active, "username");
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&format!("kb\u{E004}{PASSWORD}\u{E007}"))
        .await
        .unwrap();
    b.wait_text("#dashboard h1", "Dashboard").await;
    // No script error and no CSP violation on any page.
    b.js("window.__errors = []; window.addEventListener('error', e => __errors.push(String(e.message))); \
          document.addEventListener('securitypolicyviolation', e => __errors.push('csp ' + e.violatedDirective));")
        .await;
    for (section, id) in [
        ("accounts", "accounts"),
        ("accounts/new", "account-new"),
        ("groups", "groups"),
        ("keys", "keys"),
        ("requests", "requests"),
        ("settings", "settings"),
        ("audit", "audit"),
    ] {
        b.open(&format!("/#/{section}")).await;
        b.el(&format!("main #{id}")).await;
    }
    let errors = b.js("return window.__errors || []").await;
    assert_eq!(errors, serde_json::json!([]), "{errors}");
    b.close().await;
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn a_claude_subscription_is_added_by_signing_in_and_then_edited() {
    let env = Env::new();
    make_admin(&env.data, "root");
    let oauth = common::oauth::FakeOauth::start();
    let server = env.data.serve_env(&[], &oauth.env());
    browse(async {
        let b = Browser::start(server.addr).await;
        b.sign_in("root", PASSWORD).await;

        b.open("/#/accounts/new").await;
        b.el("#account-new select[name=platform]")
            .await
            .select_by_value("claude-oauth")
            .await
            .unwrap();
        b.wait_text("#account-form", "Sign in to the subscription")
            .await;
        assert!(
            b.client
                .find(fantoccini::Locator::Css("#account-form [name=secret]"))
                .await
                .is_err(),
            "a subscription has no key to type in"
        );
        b.fill("#account-form [name=name]", "max-1").await;
        assert_checked(&b, "#account-form input[data-group=team]").await;
        b.press("#account-form", "Get sign-in link").await;
        let link = b
            .el(".oauth-link a")
            .await
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(
            link.starts_with(&format!("http://{}/authorize?", oauth.addr)),
            "{link}"
        );
        let query: std::collections::HashMap<String, String> =
            form_urlencoded::parse(link.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        oauth.expect(&query["code_challenge"], "c0de");
        b.shot("12-subscription-link").await;
        b.fill(
            "#account-form [name=code]",
            &format!("c0de#{}", query["state"]),
        )
        .await;
        b.click("#account-form button[type=submit]").await;
        let detail = b.wait_text("#account-detail h1", "max-1").await;
        assert_eq!(detail, "max-1");
        let facts = b.wait_text("#account-detail .facts", "claude-oauth").await;
        assert!(facts.contains("Token expires"), "{facts}");

        // Edit: the secret field is absent (subscription), the priority changes, the
        // binding stays.
        b.press("#account-detail .actions", "Edit").await;
        b.fill("#account-form [name=priority]", "7").await;
        b.click("#account-form button[type=submit]").await;
        let facts = b.wait_text("#account-detail .facts", "7 / 1").await;
        assert!(facts.contains("team"), "{facts}");
        b.close().await;
    });
    let account = &env.data.json(&["account", "list"], "")[0];
    assert_eq!(account["priority"], 7);
    assert_eq!(account["platform"], "claude-oauth");
}

/// An OpenAI-compatible account's Responses API setting: by host at first (a vendor other
/// than OpenAI: not served), set on the edit form, shown on the account page, and back to
/// the host's rule.
#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn an_openai_accounts_responses_api_is_set_on_the_page() {
    let env = Env::new();
    make_admin(&env.data, "root");
    let fake = Fake::start();
    let id = env.account_on("openai", "kimi", &fake.url(), "sk-kimi", &[]);
    let server = env.serve(&[]);
    let setting = || env.account_json(id)["responses_api"].clone();
    browse(async {
        let b = Browser::start(server.addr).await;
        b.sign_in("root", PASSWORD).await;
        b.open(&format!("/#/accounts/{id}")).await;
        let facts = b.wait_text("#account-detail .facts", "Responses API").await;
        assert!(facts.contains("auto (by host)"), "{facts}");
        for (choice, shown, stored) in [
            ("true", "served", serde_json::json!(true)),
            (
                "false",
                "not served: translated to chat",
                serde_json::json!(false),
            ),
            ("auto", "auto (by host)", serde_json::Value::Null),
        ] {
            b.press("#account-detail .actions", "Edit").await;
            b.el("#account-form select[name=responses_api]")
                .await
                .select_by_value(choice)
                .await
                .unwrap();
            b.click("#account-form button[type=submit]").await;
            let facts = b.wait_text("#account-detail .facts", shown).await;
            assert!(facts.contains(shown), "{facts}");
            assert_eq!(setting(), stored, "after choosing {choice}");
        }
        // The form with the new select, and the page with its row, fit a laptop and a phone.
        for (w, hgt) in [(1366, 900), (390, 844)] {
            b.client.set_window_size(w, hgt).await.unwrap();
            b.open(&format!("/#/accounts/{id}")).await;
            b.wait_text("#account-detail .facts", "Responses API").await;
            b.shot(&format!("22-openai-account-{w}")).await;
            b.press("#account-detail .actions", "Edit").await;
            b.el("#account-form select[name=responses_api]").await;
            b.shot(&format!("22-openai-account-form-{w}")).await;
            let cut = b.clipped().await;
            assert!(cut.is_empty(), "account form at {w}×{hgt}: {cut:?}");
        }
        b.close().await;
    });
}

/// The add-account form offers the ChatGPT and Google sign-ins too: each gets its own link,
/// says what to paste back (the localhost address, the code), and adds its account.
#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn chatgpt_and_google_subscriptions_are_added_by_signing_in() {
    let env = Env::new();
    make_admin(&env.data, "root");
    let oauth = common::oauth::FakeOauth::start();
    let ca = common::upstream::Fake::start();
    ca.code_assist(common::upstream::CodeAssistState {
        project: Some("proj-from-ca".into()),
        ..Default::default()
    });
    let mut vars = oauth.env_for("codex-oauth");
    vars.extend(oauth.env_for("gemini-oauth"));
    let server = env.data.serve_env(&[], &vars);
    let ca_url = ca.url();
    browse(async {
        let b = Browser::start(server.addr).await;
        b.sign_in("root", PASSWORD).await;
        for (platform, name, says) in [
            ("codex-oauth", "chatgpt-1", "localhost address"),
            ("gemini-oauth", "google-1", "authorization code"),
        ] {
            b.open("/#/accounts/new").await;
            b.el("#account-new select[name=platform]")
                .await
                .select_by_value(platform)
                .await
                .unwrap();
            b.wait_text("#account-form", "Sign in to the subscription")
                .await;
            b.fill("#account-form [name=name]", name).await;
            assert_checked(&b, "#account-form input[data-group=team]").await;
            b.press("#account-form", "Get sign-in link").await;
            let link = b
                .el(".oauth-link a")
                .await
                .attr("href")
                .await
                .unwrap()
                .unwrap();
            let query: std::collections::HashMap<String, String> =
                form_urlencoded::parse(link.split_once('?').unwrap().1.as_bytes())
                    .into_owned()
                    .collect();
            let text = b.wait_text(".oauth-link", "2.").await;
            assert!(text.contains(says), "{platform}: {text}");
            b.shot(&format!("13-{platform}-link")).await;
            oauth.expect(&query["code_challenge"], "c0de");
            let pasted = if platform == "codex-oauth" {
                assert_eq!(query["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
                format!(
                    "http://localhost:1455/auth/callback?code=c0de&state={}",
                    query["state"]
                )
            } else {
                assert_eq!(query["access_type"], "offline");
                // Code Assist is the fake; the base URL is not in the form, so it is set below.
                "c0de".to_owned()
            };
            b.fill("#account-form [name=code]", &pasted).await;
            b.click("#account-form button[type=submit]").await;
            b.wait_text("#account-detail h1", name).await;
            let facts = b.wait_text("#account-detail .facts", platform).await;
            if platform == "codex-oauth" {
                assert!(facts.contains(common::oauth::CHATGPT_ACCOUNT), "{facts}");
            }
        }
        b.close().await;
    });
    let accounts = env.data.json(&["account", "list"], "");
    let platforms: Vec<&str> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["codex-oauth", "gemini-oauth"]);
    // The Google account points at the official Code Assist until told otherwise; pointed at
    // the fake, `account test` finds its project.
    let id = accounts[1]["id"].as_i64().unwrap().to_string();
    env.data
        .ok(&["account", "update", &id, "--base-url", &ca_url], "");
    let t = env.data.json(&["account", "test", &id], "");
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(
        env.account_json(accounts[1]["id"].as_i64().unwrap())["workspace"],
        "proj-from-ca"
    );
}

/// A subscription's windows as bars with their reset countdown, on the dashboard, the
/// accounts list and the account page, with requests in flight against the cap.
#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn subscription_windows_are_seen_at_a_glance() {
    let env = Env::new();
    make_admin(&env.data, "root");
    let fake = Fake::start();
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2 * 3600;
    fake.set_headers(&[
        ("anthropic-ratelimit-unified-status", "allowed".to_owned()),
        (
            "anthropic-ratelimit-unified-5h-utilization",
            "0.42".to_owned(),
        ),
        (
            "anthropic-ratelimit-unified-5h-status",
            "allowed".to_owned(),
        ),
        ("anthropic-ratelimit-unified-5h-reset", reset.to_string()),
        (
            "anthropic-ratelimit-unified-7d-utilization",
            "0.97".to_owned(),
        ),
        (
            "anthropic-ratelimit-unified-7d-status",
            "allowed_warning".to_owned(),
        ),
        (
            "anthropic-ratelimit-unified-7d-reset",
            (reset + 86_400).to_string(),
        ),
    ]);
    let id = env.account_on(
        "claude-oauth",
        "max-1",
        &fake.url(),
        "sk-ant-oat01-x",
        &["--max-concurrency", "4"],
    );
    let key = env.key("member");
    let server = env.serve(&[]);
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], REQUEST);
    assert_eq!(r.status, 200, "{}", r.body);
    browse(async {
        let b = Browser::start(server.addr).await;
        b.sign_in("root", PASSWORD).await;
        let card = b.wait_text("#subscriptions", "max-1").await;
        assert!(card.contains("42%") && card.contains("97%"), "{card}");
        assert!(card.contains("0 / 4"), "{card}");
        b.shot("20-subscriptions").await;
        b.open("/#/accounts").await;
        let list = b.wait_text("#accounts", "42%").await;
        assert!(list.contains("in 2 hours"), "{list}");
        b.open(&format!("/#/accounts/{id}")).await;
        let detail = b.wait_text("#account-detail", "Usage windows").await;
        assert!(detail.contains("97%"), "{detail}");
        assert!(
            detail.contains("never: it takes no new traffic"),
            "{detail}"
        );
        let bars = b
            .js("return document.querySelectorAll('#account-detail svg.window-bar').length")
            .await;
        assert_eq!(bars, 2);
        // The group page shows each member's use of the pool against their share.
        b.open("/#/groups").await;
        let group = b.wait_text("#groups", "Fair share").await;
        assert!(group.contains("42%") && group.contains("100%"), "{group}");
        // The new views fit a laptop and a phone without a sideways scroll of the page.
        for (w, hgt) in [(1366, 900), (390, 844)] {
            b.client.set_window_size(w, hgt).await.unwrap();
            for (page, ready) in [
                ("/#/", "#subscriptions"),
                ("/#/accounts", "#accounts"),
                (&*format!("/#/accounts/{id}"), "#account-detail"),
                ("/#/groups", "#groups"),
            ] {
                b.open(page).await;
                b.wait_text(ready, "%").await;
                let name = format!("21-{}-{w}", ready.trim_start_matches('#'));
                b.shot(&name).await;
                assert!(!b.overflows().await, "{page} overflows at {w}×{hgt}");
            }
        }
        b.close().await;
    });
}
