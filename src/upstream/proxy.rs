//! Outbound connections, direct or through an account's proxy: HTTP(S) `CONNECT` tunnels and
//! SOCKS5 (RFC 1928, with RFC 1929 user/password), `socks5h` resolving names at the proxy.
//! The TLS to the upstream then runs inside the tunnel, so a proxy sees only ciphertext.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How an account reaches its upstream.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxySettings {
    pub scheme: ProxyScheme,
    pub host: String,
    pub port: u16,
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "{:?}://{}:{}", self.scheme, self.host, self.port)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    Http,
    Https,
    Socks5,
    Socks5h,
}

impl ProxyScheme {
    pub fn parse(s: &str) -> Option<ProxyScheme> {
        match s {
            "http" => Some(ProxyScheme::Http),
            "https" => Some(ProxyScheme::Https),
            "socks5" => Some(ProxyScheme::Socks5),
            "socks5h" => Some(ProxyScheme::Socks5h),
            _ => None,
        }
    }
}

/// A connection: plain TCP, or TLS to an HTTPS proxy with the tunnel inside.
pub enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// The connector under the TLS layer: direct through hyper's `HttpConnector`, or through a
/// proxy.
#[derive(Clone)]
pub struct Connector {
    direct: HttpConnector,
    proxy: Option<Arc<ProxySettings>>,
    /// For HTTPS proxies (TLS to the proxy itself).
    tls: TlsConnector,
    timeout: Duration,
}

impl Connector {
    pub fn new(
        direct: HttpConnector,
        proxy: Option<Arc<ProxySettings>>,
        tls: Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Connector {
        Connector {
            direct,
            proxy,
            tls: TlsConnector::from(tls),
            timeout,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = BoxFuture<io::Result<TokioIo<Stream>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<Uri>::poll_ready(&mut self.direct, cx).map_err(io::Error::other)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Some(proxy) = self.proxy.clone() else {
            let connecting = tower_service::Service::<Uri>::call(&mut self.direct, uri);
            return Box::pin(async move {
                let tcp = connecting.await.map_err(io::Error::other)?;
                Ok(TokioIo::new(Stream::Tcp(tcp.into_inner())))
            });
        };
        let (tls, timeout) = (self.tls.clone(), self.timeout);
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::other("URL without a host"))?;
            let host = host.trim_matches(['[', ']']).to_owned();
            let port = uri
                .port_u16()
                .unwrap_or(if uri.scheme_str() == Some("https") {
                    443
                } else {
                    80
                });
            let work = tunnel(&proxy, &tls, &host, port);
            match tokio::time::timeout(timeout, work).await {
                Ok(Ok(stream)) => Ok(TokioIo::new(stream)),
                Ok(Err(e)) => Err(io::Error::new(
                    e.kind(),
                    format!("proxy {}:{}: {e}", proxy.host, proxy.port),
                )),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("proxy {}:{} timed out", proxy.host, proxy.port),
                )),
            }
        })
    }
}

/// Opens a tunnel to `host:port` through `proxy`.
async fn tunnel(
    proxy: &ProxySettings,
    tls: &TlsConnector,
    host: &str,
    port: u16,
) -> io::Result<Stream> {
    let tcp = TcpStream::connect((proxy.host.as_str(), proxy.port)).await?;
    tcp.set_nodelay(true)?;
    match proxy.scheme {
        ProxyScheme::Http => {
            let mut s = Stream::Tcp(tcp);
            http_connect(&mut s, proxy, host, port).await?;
            Ok(s)
        }
        ProxyScheme::Https => {
            let name = ServerName::try_from(proxy.host.clone()).map_err(io::Error::other)?;
            let mut s = Stream::Tls(Box::new(tls.connect(name, tcp).await?));
            http_connect(&mut s, proxy, host, port).await?;
            Ok(s)
        }
        ProxyScheme::Socks5 | ProxyScheme::Socks5h => {
            let mut s = Stream::Tcp(tcp);
            socks5_connect(&mut s, proxy, host, port).await?;
            Ok(s)
        }
    }
}

/// Longest proxy reply head read.
const MAX_REPLY: usize = 16 * 1024;

async fn http_connect(
    s: &mut Stream,
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> io::Result<()> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, pass)) = &proxy.auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        head.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await?;
    // Read byte by byte up to the blank line, so nothing of the tunnel is consumed.
    let mut reply = Vec::with_capacity(256);
    while !reply.ends_with(b"\r\n\r\n") {
        if reply.len() >= MAX_REPLY {
            return Err(io::Error::other("proxy reply head too long"));
        }
        let b = s.read_u8().await?;
        reply.push(b);
    }
    let status_line = String::from_utf8_lossy(&reply);
    let status_line = status_line.lines().next().unwrap_or("");
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "CONNECT refused: {}",
                status_line.chars().take(100).collect::<String>()
            ),
        ));
    }
    Ok(())
}

async fn socks5_connect(
    s: &mut Stream,
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> io::Result<()> {
    let methods: &[u8] = if proxy.auth.is_some() {
        &[0x00, 0x02]
    } else {
        &[0x00]
    };
    let mut hello = vec![0x05, methods.len() as u8];
    hello.extend_from_slice(methods);
    s.write_all(&hello).await?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await?;
    if choice[0] != 0x05 {
        return Err(io::Error::other("not a SOCKS5 proxy"));
    }
    match (choice[1], &proxy.auth) {
        (0x00, _) => {}
        (0x02, Some((user, pass))) => {
            if user.len() > 255 || pass.len() > 255 {
                return Err(io::Error::other(
                    "SOCKS5 user or password longer than 255 bytes",
                ));
            }
            let mut auth = vec![0x01, user.len() as u8];
            auth.extend_from_slice(user.as_bytes());
            auth.push(pass.len() as u8);
            auth.extend_from_slice(pass.as_bytes());
            s.write_all(&auth).await?;
            let mut status = [0u8; 2];
            s.read_exact(&mut status).await?;
            if status[1] != 0x00 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "SOCKS5 proxy refused the user name or password",
                ));
            }
        }
        _ => {
            return Err(io::Error::other(
                "SOCKS5 proxy accepts none of our authentication methods",
            ));
        }
    }
    let mut req = vec![0x05, 0x01, 0x00];
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        // socks5h leaves names to the proxy; socks5 resolves them here.
        Err(_) if proxy.scheme == ProxyScheme::Socks5 => Some(
            tokio::net::lookup_host((host, port))
                .await?
                .next()
                .ok_or_else(|| io::Error::other(format!("{host} did not resolve")))?
                .ip(),
        ),
        Err(_) => None,
    };
    match ip {
        Some(IpAddr::V4(v4)) => {
            req.push(0x01);
            req.extend_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            req.push(0x04);
            req.extend_from_slice(&v6.octets());
        }
        None => {
            if host.len() > 255 {
                return Err(io::Error::other("host name too long for SOCKS5"));
            }
            req.push(0x03);
            req.push(host.len() as u8);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    if head[1] != 0x00 {
        let why = match head[1] {
            0x01 => "general failure",
            0x02 => "not allowed by ruleset",
            0x03 => "network unreachable",
            0x04 => "host unreachable",
            0x05 => "connection refused",
            0x06 => "TTL expired",
            0x07 => "command not supported",
            0x08 => "address type not supported",
            _ => "unknown error",
        };
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("SOCKS5 connect failed: {why}"),
        ));
    }
    let skip = match head[3] {
        0x01 => 4,
        0x04 => 16,
        0x03 => s.read_u8().await? as usize,
        _ => return Err(io::Error::other("bad SOCKS5 reply")),
    };
    let mut rest = vec![0u8; skip + 2];
    s.read_exact(&mut rest).await?;
    Ok(())
}
