//! The console's second round, in real headless Chromium at a laptop's 1366×900 and a phone's
//! 390×844: every page fits its window (no page or table cut off or scrolling sideways), a
//! member sees their own usage and what is left with their key alone, a key's own page, spend
//! against limits on keys and groups, the fixes of the first trial (a failed load says so,
//! signing out says so, no stray text, one message per error), the dark scheme.
//!
//! Needs Chromium and ChromeDriver (`apt-get install -y chromium chromium-driver`); `.ci/run`
//! installs them and runs these with `--include-ignored`.

mod common;

use common::admin::{PASSWORD, make_admin};
use common::browser::Browser;
use common::env::Env;
use common::post_json;
use common::upstream::{Fake, Reply};

const REQUEST: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

fn browse(journey: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(journey);
}

/// A pool with traffic: two accounts (one out of rotation with a long reason), a group with a
/// budget, keys with limits, requests logged.
fn pool() -> (Env, Fake, common::Server, String, i64) {
    let env = Env::new();
    make_admin(&env.data, "root");
    let fake = Fake::start();
    fake.set(Reply::Message);
    env.account("main-anthropic-account", &fake.url(), "sk-main", &[]);
    let broken = env.account("second-account-with-a-long-name", &fake.url(), "sk-2", &[]);
    env.data.ok(
        &[
            "group",
            "update",
            "team",
            "--daily-tokens",
            "1000000",
            "--monthly-cost",
            "50",
        ],
        "",
    );
    let (id, key) = env.key_with(
        "alice-with-a-longer-member-name",
        &[
            "--daily-tokens",
            "100000",
            "--daily-cost",
            "2",
            "--concurrency",
            "3",
        ],
    );
    env.key_with("bob", &["--requests", "10", "--window-minutes", "60"]);
    let server = env.serve(&[]);
    for _ in 0..3 {
        let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], REQUEST);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    env.rows(3);
    env.data
        .ok(&["account", "disable", &broken.to_string()], "");
    (env, fake, server, key, id)
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn every_page_fits_a_laptop_and_a_phone() {
    let (_env, _fake, server, _key, id) = pool();
    browse(async {
        let b = Browser::start(server.addr).await;
        b.sign_in("root", PASSWORD).await;
        for (w, hgt) in [(1366, 900), (390, 844)] {
            b.client.set_window_size(w, hgt).await.unwrap();
            for (page, ready, text) in [
                ("/#/dashboard", "#dashboard", "Top keys"),
                ("/#/accounts", "#accounts", "main-anthropic-account"),
                ("/#/groups", "#groups", "Members"),
                ("/#/keys", "#keys", "alice"),
                (
                    &*format!("/#/keys/{id}"),
                    "#key-detail",
                    "Limits and what is left",
                ),
                ("/#/requests", "#requests", "claude-sonnet-4-5"),
                ("/#/settings", "#settings", "Model prices"),
                ("/#/audit", "#audit", "key.create"),
            ] {
                b.open(page).await;
                b.wait_text(ready, text).await;
                b.shot(&format!("30-{}-{w}", ready.trim_start_matches('#')))
                    .await;
                let cut = b.clipped().await;
                assert!(cut.is_empty(), "{page} at {w}×{hgt}: {cut:?}");
            }
        }
        b.close().await;
    });
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn a_member_sees_their_usage_and_what_is_left_with_their_key_alone() {
    let (_env, _fake, server, key, _id) = pool();
    browse(async {
        let b = Browser::start(server.addr).await;
        b.open("/").await;
        b.click("#member-link").await;
        b.wait_text("#me-form", "Your usage").await;
        // A wrong key is refused in the form, once.
        b.fill("#me-form [name=key]", "acp_not_a_key").await;
        b.click("#me-form button[type=submit]").await;
        let error = b.wait_text("#me-form .form-error", "invalid").await;
        assert!(error.contains("invalid API key"), "{error}");
        b.fill("#me-form [name=key]", &key).await;
        b.click("#me-form button[type=submit]").await;
        let page = b.wait_text("#me", "Limits and what is left").await;
        assert!(
            page.contains("team/alice-with-a-longer-member-name"),
            "{page}"
        );
        let limits = b.text("#limits").await;
        for words in [
            "Tokens today",
            "Cost today",
            "Requests in flight",
            "Group tokens today",
            "Group cost this month",
        ] {
            assert!(limits.contains(words), "{words}: {limits}");
        }
        let recent = b.text("#recent").await;
        assert!(
            recent.contains("/v1/messages") && recent.contains("claude-sonnet-4-5"),
            "{recent}"
        );
        assert!(
            !page.contains("main-anthropic-account"),
            "no account names: {page}"
        );
        let settings = b.text("#settings").await;
        assert!(
            settings.contains(&key),
            "the member's own settings carry their key"
        );
        // Kept in this tab's session storage, and only there.
        let stored = b
            .js("return [sessionStorage.getItem('aicarpool.member-key'), localStorage.length, document.cookie]")
            .await;
        assert_eq!(stored[0], key.as_str());
        assert_eq!(stored[1], 0);
        assert_eq!(stored[2], "");
        for (w, hgt) in [(1366, 900), (390, 844)] {
            b.client.set_window_size(w, hgt).await.unwrap();
            b.open("/#/me").await;
            b.wait_text("#me", "Limits and what is left").await;
            b.shot(&format!("31-me-{w}")).await;
            let cut = b.clipped().await;
            assert!(cut.is_empty(), "the member page at {w}×{hgt}: {cut:?}");
        }
        b.click("#forget").await;
        b.wait_text("#me-form", "Your usage").await;
        let gone = b
            .js("return sessionStorage.getItem('aicarpool.member-key')")
            .await;
        assert!(gone.is_null());
        b.close().await;
    });
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn the_first_trial_s_faults_are_gone() {
    let (_env, _fake, server, _key, _id) = pool();
    browse(async {
        let b = Browser::start(server.addr).await;
        b.sign_in("root", PASSWORD).await;
        // No stray "null" above the keys' table; spend against limits beside each key.
        b.open("/#/keys").await;
        let keys = b.wait_text("#keys", "alice").await;
        assert!(!keys.contains("null"), "{keys}");
        assert!(
            keys.contains("Tokens today") || keys.contains("Cost today"),
            "{keys}"
        );
        // A page that cannot load says so instead of loading forever.
        b.open("/#/accounts/999").await;
        let error = b.wait_text("#load-error", "could not be loaded").await;
        assert!(error.contains("999"), "{error}");
        // The dashboard keeps its range in the address; groups are counted in good English.
        b.open("/#/dashboard?range=7d").await;
        b.wait_text("#dashboard", "Top keys").await;
        b.client.refresh().await.unwrap();
        b.wait_text("#dashboard", "Top keys").await;
        let pressed = b
            .js("return document.querySelector('#dashboard .segmented [aria-pressed=true]').textContent")
            .await;
        assert_eq!(pressed, "7 days");
        // Tokens broken down by model, then by key, in both ranges' buckets.
        for (range, by, label) in [
            ("7d", "model", "claude-sonnet-4-5"),
            ("24h", "key", "team/alice-with-a-longer-member-name"),
        ] {
            b.open(&format!("/#/dashboard?range={range}&by={by}")).await;
            let legend = b.wait_text("#tokens-chart .legend", label).await;
            assert!(legend.contains(label), "{legend}");
            let parts = b
                .js("return document.querySelectorAll('#tokens-chart rect.part.p0').length")
                .await;
            assert!(
                parts.as_u64().unwrap() >= 2,
                "a bar part and its swatch: {parts}"
            );
        }
        b.open("/#/groups").await;
        let groups = b.wait_text("#groups", "group").await;
        assert!(groups.contains("1 group."), "{groups}");
        assert!(
            groups.contains("Group tokens today"),
            "the budget's use: {groups}"
        );
        // A form error is said once, in the form, not again as a notice.
        b.open("/#/keys").await;
        b.wait_text("#key-form", "New key").await;
        b.fill("#key-form [name=name]", "carol").await;
        b.js("document.querySelector('#key-form details').open = true")
            .await;
        b.fill("#key-form [name=rate_requests]", "5").await;
        b.click("#key-form button[type=submit]").await;
        let said = b.wait_text("#key-form .form-error", "window").await;
        assert!(!said.contains("--"), "no command-line words: {said}");
        let notices = b
            .js("return document.querySelectorAll('#notices .notice').length")
            .await;
        assert_eq!(notices, 0, "said once");
        // The dark scheme, switched and remembered.
        b.click("#theme").await;
        let theme = b.js("return document.documentElement.dataset.theme").await;
        assert_eq!(theme, "dark");
        b.client.refresh().await.unwrap();
        b.wait_text("#keys", "alice").await;
        let theme = b.js("return document.documentElement.dataset.theme").await;
        assert_eq!(theme, "dark");
        let bg = b
            .js("return getComputedStyle(document.body).backgroundColor")
            .await;
        assert_eq!(bg, "rgb(17, 21, 29)");
        b.shot("32-keys-dark").await;
        // Signing out says so.
        b.click("#logout").await;
        let login = b.wait_text("#login-form", "signed out").await;
        assert!(login.contains("You have signed out."), "{login}");
        b.close().await;
    });
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn accounts_groups_and_keys_are_renamed_and_deleted_from_the_page() {
    let (env, fake, server, _key, id) = pool();
    fake.set_models(&["claude-sonnet-4-5", "claude-haiku-4-5"]);
    browse(async {
        let b = Browser::start(server.addr).await;
        b.sign_in("root", PASSWORD).await;
        // Answers the page's confirmation and name questions as an operator would.
        let answer = "window.confirm = () => true; window.prompt = () => 'alice-renamed';";
        // A key: renamed on its page, then deleted.
        b.open(&format!("/#/keys/{id}")).await;
        b.wait_text("#key-detail", "Limits and what is left").await;
        b.js(answer).await;
        b.click("#rename-key").await;
        b.wait_text("#key-detail h1", "alice-renamed").await;
        b.js(answer).await;
        b.click("#delete-key").await;
        let keys = b.wait_text("#keys", "bob").await;
        assert!(!keys.contains("alice"), "{keys}");
        // An account: its model list fetched from the upstream, then deleted.
        let account = env.data.json(&["account", "list"], "")[0]["id"]
            .as_i64()
            .unwrap();
        b.open(&format!("/#/accounts/{account}/edit")).await;
        b.wait_text("#account-form", "Fetch models").await;
        b.click("#fetch-models").await;
        let mut filled = String::new();
        for _ in 0..100 {
            let v = b
                .js("return document.querySelector('#account-form [name=models]').value")
                .await;
            filled = v.as_str().unwrap_or_default().to_owned();
            if filled.contains("claude-haiku-4-5") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(filled.contains("claude-sonnet-4-5"), "{filled}");
        b.open(&format!("/#/accounts/{account}")).await;
        b.wait_text("#account-detail", "Status history").await;
        b.js(answer).await;
        b.click("#delete-account").await;
        b.wait_text("#accounts", "second-account").await;
        // A group still in use: the page says what deleting it affects, then it goes.
        b.open("/#/groups").await;
        b.wait_text("#groups", "Members").await;
        b.js("window.confirm = (m) => { window.asked = (window.asked || []).concat([m]); return true; };").await;
        b.press("#groups .group", "Delete").await;
        b.wait_text("#groups", "No groups yet").await;
        let asked = b.js("return window.asked").await;
        assert!(asked[1].as_str().unwrap().contains("key(s)"), "{asked}");
        b.close().await;
    });
    // Their history stays, under their names.
    let by_key = env.usage(Some("key"));
    assert!(
        by_key.to_string().contains("alice-renamed (deleted #"),
        "{by_key}"
    );
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn the_request_log_finds_one_request_shows_it_whole_and_exports_the_rows() {
    let (env, _fake, server, _key, _id) = pool();
    let rows = env.rows(3);
    let wanted = rows[1]["request_id"].as_str().unwrap().to_owned();
    browse(async {
        let b = Browser::start(server.addr).await;
        b.sign_in("root", PASSWORD).await;
        b.open(&format!("/#/requests?request_id={wanted}")).await;
        b.wait_text("#request-results", "claude-sonnet-4-5").await;
        let shown = b
            .js("return document.querySelectorAll('#request-results tbody tr').length")
            .await;
        assert_eq!(shown, 1, "only the request asked for");
        let row = b.text("#request-results tbody tr").await;
        assert!(row.contains("/v1/messages"), "the endpoint: {row}");
        b.click("#request-results tbody tr").await;
        let detail = b.wait_text("#request-detail", &wanted).await;
        for field in [
            "first byte ms",
            "attempts",
            "cache read input tokens",
            "translated",
        ] {
            assert!(detail.contains(field), "{field}: {detail}");
        }
        let href = b
            .js("return document.querySelector('#export-csv').getAttribute('href')")
            .await;
        assert_eq!(
            href.as_str().unwrap(),
            format!("/api/admin/requests/export?request_id={wanted}")
        );
        b.close().await;
    });
    // The export itself: one header line and a line per row, the filter applied.
    let admin = common::admin::Admin::sign_in_as(server.addr, "root");
    let all = admin.send("GET", "/requests/export", "");
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        all.header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    let lines: Vec<&str> = all.body.lines().collect();
    assert!(
        lines[0].starts_with("request_id,started_at,key,account,endpoint,stream"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 4, "{}", all.body);
    let one = admin.send("GET", &format!("/requests/export?request_id={wanted}"), "");
    assert_eq!(one.body.lines().count(), 2);
    assert!(one.body.contains(&wanted));
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn a_first_run_is_guided_step_by_step() {
    let data = common::Data::new();
    make_admin(&data, "root");
    let server = data.serve();
    browse(async {
        let b = Browser::start(server.addr).await;
        b.sign_in("root", PASSWORD).await;
        let list = b.wait_text("#checklist", "Get started").await;
        assert!(list.contains("○ Create a group"), "{list}");
        assert!(list.contains("curl "), "a first request to paste: {list}");
        // The add-account form checks the only group; an account in no group is flagged.
        data.ok(&["group", "create", "team"], "");
        b.open("/#/accounts/new").await;
        b.wait_text("#account-form", "Groups it serves").await;
        let checked = b
            .js("return document.querySelector('#account-form input[data-group=team]').checked")
            .await;
        assert_eq!(checked, true);
        data.json(
            &[
                "account",
                "create",
                "--name",
                "loose",
                "--platform",
                "anthropic",
            ],
            "sk-loose\n",
        );
        b.open("/#/accounts").await;
        let accounts = b.wait_text("#accounts", "loose").await;
        assert!(accounts.contains("NO GROUP"), "{accounts}");
        b.open("/#/dashboard").await;
        let list = b.wait_text("#checklist", "Get started").await;
        assert!(
            list.contains("✓ Create a group") && list.contains("✓ Add an upstream account"),
            "{list}"
        );
        assert!(list.contains("○ Issue a member key"), "{list}");
        b.close().await;
    });
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver"]
fn the_console_speaks_chinese_when_asked_and_remembers_it() {
    let (_env, _fake, server, key, id) = pool();
    browse(async {
        let b = Browser::start(server.addr).await;
        b.open("/").await;
        b.wait_text("#login-form", "Sign in").await;
        b.click("#page-language").await;
        b.wait_text("#login-form", "登录").await;
        // The server's own messages are shown in Chinese too.
        b.fill("#login-form [name=username]", "root").await;
        b.fill("#login-form [name=password]", "not-the-password")
            .await;
        b.click("#login-form button[type=submit]").await;
        b.wait_text("#login-form", "用户名或密码错误").await;
        b.fill("#login-form [name=password]", PASSWORD).await;
        b.click("#login-form button[type=submit]").await;
        b.wait_text("#dashboard h1", "仪表盘").await;
        let lang = b.js("return document.documentElement.lang").await;
        assert_eq!(lang, "zh-CN");
        for (w, hgt) in [(1366, 900), (390, 844)] {
            b.client.set_window_size(w, hgt).await.unwrap();
            for (page, ready, text, english) in [
                ("/#/dashboard", "#dashboard", "用量最多的密钥", "Top keys"),
                ("/#/accounts", "#accounts", "添加账号", "Add account"),
                ("/#/groups", "#groups", "新建分组", "New group"),
                ("/#/keys", "#keys", "新建密钥", "Create key"),
                (
                    &*format!("/#/keys/{id}"),
                    "#key-detail",
                    "限制与剩余",
                    "Limits and what is left",
                ),
                ("/#/requests", "#requests", "请求日志", "Request log"),
                ("/#/settings", "#settings", "账号健康", "Account health"),
            ] {
                b.open(page).await;
                let body = b.wait_text(ready, text).await;
                assert!(!body.contains(english), "{page} still says {english:?}");
                let nav = b.text("header nav").await;
                assert!(nav.contains("仪表盘") && nav.contains("审计日志"), "{nav}");
                b.shot(&format!("33-zh-{}-{w}", ready.trim_start_matches('#')))
                    .await;
                let cut = b.clipped().await;
                assert!(cut.is_empty(), "{page} in Chinese at {w}×{hgt}: {cut:?}");
            }
        }
        // A message with values in it: the values kept, the sentence Chinese.
        b.client.set_window_size(1366, 900).await.unwrap();
        b.open("/#/groups").await;
        b.wait_text("#group-form", "新建分组").await;
        b.fill("#group-form [name=name]", "team").await;
        b.click("#group-form button[type=submit]").await;
        b.wait_text("#group-form", "已存在名为 \"team\" 的分组")
            .await;
        // Dates in the language's own form.
        b.open("/#/keys").await;
        let keys = b.wait_text("#keys", "最近使用").await;
        assert!(keys.contains("月"), "{keys}");
        // Remembered: the member's page speaks it too.
        b.open("/#/me").await;
        b.wait_text("#me-form", "你的用量").await;
        b.fill("#me-form [name=key]", "acp_not-a-key").await;
        b.click("#me-form button[type=submit]").await;
        b.wait_text("#me-form", "API 密钥无效。").await;
        b.fill("#me-form [name=key]", &key).await;
        b.click("#me-form button[type=submit]").await;
        b.wait_text("#me", "今日 Token").await;
        // And back to English.
        b.click("#page-language").await;
        b.wait_text("#me", "Tokens today").await;
        b.close().await;
    });
}
