//! A fake Anthropic API on loopback for trying clients against the gateway by hand:
//! `cargo run --example fake_upstream [PORT]`. It answers `/v1/messages` with a JSON message,
//! or an SSE stream when the request asks for one, and `count_tokens` likewise.

#[path = "../tests/common/model.rs"]
#[allow(dead_code)]
mod model;
#[path = "../tests/common/style.rs"]
mod style;
#[path = "../tests/common/upstream.rs"]
#[allow(dead_code)]
mod upstream;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let fake = upstream::Fake::start_on(port);
    fake.set(upstream::Reply::Auto);
    println!("fake upstream listening on {}", fake.url());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
