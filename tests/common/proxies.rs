//! Local proxies for tests: an HTTP CONNECT proxy and a SOCKS5 proxy, each requiring a user
//! and password and recording the targets they tunnelled to.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub addr: SocketAddr,
    /// `host:port` of every tunnel opened, and refusals as `refused`.
    pub log: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    pub fn tunnels(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// An HTTP proxy answering CONNECT, requiring `Proxy-Authorization: Basic user:pass`.
    pub fn http(user: &'static str, pass: &'static str) -> Proxy {
        Proxy::start(move |s, log| Box::pin(http_conn(s, log, user, pass)))
    }

    /// A SOCKS5 proxy requiring user/password authentication.
    pub fn socks5(user: &'static str, pass: &'static str) -> Proxy {
        Proxy::start(move |s, log| Box::pin(socks_conn(s, log, user, pass)))
    }

    fn start<F>(handler: F) -> Proxy
    where
        F: Fn(
                TcpStream,
                Arc<Mutex<Vec<String>>>,
            )
                -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>
            + Send
            + Sync
            + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (shared, handler) = (log.clone(), Arc::new(handler));
        runtime.spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let (log, handler) = (shared.clone(), handler.clone());
                tokio::spawn(async move {
                    let _ = handler(s, log).await;
                });
            }
        });
        Proxy {
            addr,
            log,
            _runtime: runtime,
        }
    }
}

async fn pipe(client: TcpStream, target: &str) -> std::io::Result<()> {
    let upstream = TcpStream::connect(target).await?;
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    tokio::select! {
        _ = tokio::io::copy(&mut cr, &mut uw) => {},
        _ = tokio::io::copy(&mut ur, &mut cw) => {},
    }
    Ok(())
}

async fn http_conn(
    mut s: TcpStream,
    log: Arc<Mutex<Vec<String>>>,
    user: &str,
    pass: &str,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(s.read_u8().await?);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let target = text.split_whitespace().nth(1).unwrap_or("").to_owned();
    let expected = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    };
    let authorized = text
        .lines()
        .any(|l| l.eq_ignore_ascii_case(&format!("proxy-authorization: Basic {expected}")));
    if !text.starts_with("CONNECT ") || !authorized {
        log.lock().unwrap().push("refused".into());
        s.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    log.lock().unwrap().push(target.clone());
    s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    pipe(s, &target).await
}

async fn socks_conn(
    mut s: TcpStream,
    log: Arc<Mutex<Vec<String>>>,
    user: &str,
    pass: &str,
) -> std::io::Result<()> {
    let (ver, n) = (s.read_u8().await?, s.read_u8().await?);
    let mut methods = vec![0u8; n as usize];
    s.read_exact(&mut methods).await?;
    if ver != 5 || !methods.contains(&2) {
        log.lock().unwrap().push("refused".into());
        return s.write_all(&[5, 0xff]).await;
    }
    s.write_all(&[5, 2]).await?;
    let _v = s.read_u8().await?;
    let ulen = s.read_u8().await? as usize;
    let mut u = vec![0u8; ulen];
    s.read_exact(&mut u).await?;
    let plen = s.read_u8().await? as usize;
    let mut p = vec![0u8; plen];
    s.read_exact(&mut p).await?;
    if u != user.as_bytes() || p != pass.as_bytes() {
        log.lock().unwrap().push("refused".into());
        return s.write_all(&[1, 1]).await;
    }
    s.write_all(&[1, 0]).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    let host = match head[3] {
        1 => {
            let mut a = [0u8; 4];
            s.read_exact(&mut a).await?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let len = s.read_u8().await? as usize;
            let mut name = vec![0u8; len];
            s.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return s.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await,
    };
    let port = s.read_u16().await?;
    let target = format!("{host}:{port}");
    log.lock().unwrap().push(target.clone());
    s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    let target = if host == "localhost" {
        format!("127.0.0.1:{port}")
    } else {
        target
    };
    pipe(s, &target).await
}
