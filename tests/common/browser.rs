//! Headless Chromium driven through chromedriver (WebDriver) for the admin page tests.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

pub const INSTALL: &str = "browser tests need Chromium and ChromeDriver: \
    apt-get install -y chromium chromium-driver";
const WAIT: Duration = Duration::from_secs(15);

/// A chromedriver process and a browser session pointed at one gateway.
pub struct Browser {
    pub client: Client,
    driver: Child,
    base: String,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

fn find(cmd: &str, fallback: &str) -> String {
    std::env::var(cmd)
        .ok()
        .or_else(|| {
            std::path::Path::new(fallback)
                .exists()
                .then(|| fallback.to_owned())
        })
        .unwrap_or_else(|| panic!("{fallback} is missing; {INSTALL}"))
}

impl Browser {
    pub async fn start(gateway: SocketAddr) -> Browser {
        let chromium = find("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = find("CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {chromedriver}: {e}; {INSTALL}"));
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--disable-sync", "--window-size=1280,900",
                    "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
                    "--disable-backgrounding-occluded-windows",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            driver,
            base: format!("http://{gateway}"),
            _profile: profile,
            shots,
        }
    }

    /// Opens a page of the gateway (`/#/keys`) or any URL.
    pub async fn open(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.goto(&url).await.unwrap();
    }

    /// Waits for the element matching `css` to exist.
    pub async fn el(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.el(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.el(css).await.click().await.unwrap();
    }

    /// Clicks the first button or link under `scope` whose text is `label`.
    pub async fn press(&self, scope: &str, label: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            for e in self
                .client
                .find_all(Locator::Css(&format!("{scope} button, {scope} a")))
                .await
                .unwrap()
            {
                if e.text().await.unwrap_or_default().trim() == label {
                    e.click().await.unwrap();
                    return;
                }
            }
            assert!(Instant::now() < deadline, "no button {label:?} in {scope}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.el(css).await.text().await.unwrap()
    }

    /// Waits until the text of `css` contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
                && t.contains(needle)
            {
                return t;
            }
            if Instant::now() > deadline {
                let shown = match self.client.find(Locator::Css(css)).await {
                    Ok(e) => e.text().await.unwrap_or_default(),
                    Err(_) => "(no such element)".into(),
                };
                self.shot("failure").await;
                panic!("{css} never contained {needle:?}; it shows: {shown}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot as `target/tmp/screenshots/<name>.png`; returns its path.
    /// Signs in on the login page as `user` with `password` and waits for the dashboard.
    pub async fn sign_in(&self, user: &str, password: &str) {
        self.open("/").await;
        self.fill("#login-form [name=username]", user).await;
        self.fill("#login-form [name=password]", password).await;
        self.click("#login-form button[type=submit]").await;
        self.wait_text("#dashboard h1", "Dashboard").await;
    }

    /// Whether the page is wider than the window (something forces a horizontal scroll).
    pub async fn overflows(&self) -> bool {
        self.js("return document.documentElement.scrollWidth > window.innerWidth")
            .await
            .as_bool()
            .unwrap_or(true)
    }

    /// What is cut off: the page wider than the window, or a table wider than the box that
    /// holds it (which then scrolls sideways inside it), as "what: by N px" lines.
    pub async fn clipped(&self) -> Vec<String> {
        let v = self
            .js(
                "const out = [];
                 const d = document.documentElement;
                 if (d.scrollWidth > window.innerWidth) out.push(`page: by ${d.scrollWidth - window.innerWidth} px`);
                 for (const w of document.querySelectorAll('.table-wrap')) {
                   if (w.scrollWidth > w.clientWidth + 1) {
                     const head = [...w.querySelectorAll('th')].map((t) => t.textContent).join('|');
                     out.push(`table [${head}]: by ${w.scrollWidth - w.clientWidth} px`);
                   }
                 }
                 return out;",
            )
            .await;
        serde_json::from_value(v).unwrap_or_default()
    }

    pub async fn shot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
