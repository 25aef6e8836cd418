//! Outbound connections, direct or through an account's proxy: HTTP(S) `CONNECT` tunnels and
//! SOCKS5 with user/password (`socks5h` resolving names at the proxy), by hyper-util's proxy
//! connectors. The TLS to the upstream then runs inside the tunnel, so a proxy sees only
//! ciphertext. Also the one reader of proxy URLs.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use http::{HeaderValue, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::net::TcpStream;

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

    pub fn as_str(self) -> &'static str {
        match self {
            ProxyScheme::Http => "http",
            ProxyScheme::Https => "https",
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            ProxyScheme::Http => 80,
            ProxyScheme::Https => 443,
            ProxyScheme::Socks5 | ProxyScheme::Socks5h => 1080,
        }
    }
}

/// A proxy URL `scheme://[user[:password]@]host[:port]`, its user info percent-decoded.
#[derive(Debug, PartialEq, Eq)]
pub struct ProxyUrl {
    pub scheme: ProxyScheme,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl ProxyUrl {
    /// Reads a proxy URL; the error is a sentence for the operator (never echoing the URL,
    /// which may hold a password).
    pub fn parse(url: &str) -> Result<ProxyUrl, String> {
        let bad = |why: &str| format!("proxy URL {why}");
        let u = url::Url::parse(url.trim()).map_err(|_| bad("is not a URL"))?;
        let scheme = ProxyScheme::parse(&u.scheme().to_ascii_lowercase())
            .ok_or_else(|| bad("must start with http://, https://, socks5:// or socks5h://"))?;
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("has no host"))?;
        if !matches!(u.path(), "" | "/") || u.query().is_some() || u.fragment().is_some() {
            return Err(bad("must not have a path or query"));
        }
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad("user info is not UTF-8"))
        };
        let user = Some(decode(u.username())?).filter(|s| !s.is_empty());
        let password = u.password().map(decode).transpose()?;
        if password.is_some() && user.is_none() {
            return Err(bad("has a password but no user name"));
        }
        Ok(ProxyUrl {
            scheme,
            host: host.trim_matches(['[', ']']).to_owned(),
            port: u.port().unwrap_or(scheme.default_port()),
            user,
            password,
        })
    }
}

/// A connection: plain TCP (direct, or a tunnel through an HTTP or SOCKS proxy), or TLS to an
/// HTTPS proxy with the tunnel inside.
pub type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

/// The connector under the TLS layer: direct through hyper's `HttpConnector`, or through a
/// proxy.
#[derive(Clone)]
pub struct Connector {
    direct: HttpConnector,
    via: Option<Via>,
    timeout: Duration,
}

#[derive(Clone)]
enum Via {
    Tunnel(Tunnel<HttpConnector>, Arc<ProxySettings>),
    /// `CONNECT` inside TLS to the proxy itself.
    TlsTunnel(Tunnel<HttpsConnector<HttpConnector>>, Arc<ProxySettings>),
    Socks(SocksV5<HttpConnector>, Arc<ProxySettings>),
}

impl Connector {
    pub fn new(
        direct: HttpConnector,
        proxy: Option<Arc<ProxySettings>>,
        tls: Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Connector {
        let via = proxy.map(|p| {
            let host = if p.host.contains(':') {
                format!("[{}]", p.host)
            } else {
                p.host.clone()
            };
            let uri: Uri = format!("{}://{host}:{}", p.scheme.as_str(), p.port)
                .parse()
                .unwrap_or_else(|_| Uri::from_static("http://invalid.invalid"));
            match p.scheme {
                ProxyScheme::Http | ProxyScheme::Https => {
                    if p.scheme == ProxyScheme::Http {
                        Via::Tunnel(authorized(Tunnel::new(uri, direct.clone()), &p), p)
                    } else {
                        let to_proxy = HttpsConnectorBuilder::new()
                            .with_tls_config((*tls).clone())
                            .https_only()
                            .enable_http1()
                            .wrap_connector(direct.clone());
                        Via::TlsTunnel(authorized(Tunnel::new(uri, to_proxy), &p), p)
                    }
                }
                ProxyScheme::Socks5 | ProxyScheme::Socks5h => {
                    let mut socks = SocksV5::new(uri, direct.clone())
                        .local_dns(p.scheme == ProxyScheme::Socks5);
                    if let Some((user, pass)) = &p.auth {
                        socks = socks.with_auth(user.clone(), pass.clone());
                    }
                    Via::Socks(socks, p)
                }
            }
        });
        Connector {
            direct,
            via,
            timeout,
        }
    }
}

/// The tunnel with `Proxy-Authorization: Basic …` when the proxy has a user.
fn authorized<C>(tunnel: Tunnel<C>, p: &ProxySettings) -> Tunnel<C> {
    let Some((user, pass)) = p.auth.as_ref() else {
        return tunnel;
    };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    match HeaderValue::from_str(&format!("Basic {token}")) {
        // Marked sensitive by the tunnel.
        Ok(v) => tunnel.with_auth(v),
        Err(_) => tunnel,
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = io::Error;
    type Future = BoxFuture<io::Result<Stream>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<Uri>::poll_ready(&mut self.direct, cx).map_err(io::Error::other)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Some(via) = self.via.clone() else {
            let connecting = self.direct.call(uri);
            return Box::pin(async move {
                Ok(MaybeHttpsStream::Http(
                    connecting.await.map_err(io::Error::other)?,
                ))
            });
        };
        // The proxy connectors take a missing port as 443: give it the scheme's own.
        let uri = with_port(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            let (work, proxy): (BoxFuture<Result<Stream, String>>, _) = match via {
                Via::Tunnel(mut t, p) => (
                    Box::pin(async move {
                        t.call(uri)
                            .await
                            .map(MaybeHttpsStream::Http)
                            .map_err(|e| chain(&e))
                    }),
                    p,
                ),
                Via::TlsTunnel(mut t, p) => (
                    Box::pin(async move { t.call(uri).await.map_err(|e| chain(&e)) }),
                    p,
                ),
                Via::Socks(mut s, p) => (
                    Box::pin(async move {
                        s.call(uri)
                            .await
                            .map(MaybeHttpsStream::Http)
                            .map_err(|e| e.to_string())
                    }),
                    p,
                ),
            };
            match tokio::time::timeout(timeout, work).await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => Err(io::Error::other(format!(
                    "proxy {}:{}: {e}",
                    proxy.host, proxy.port
                ))),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("proxy {}:{} timed out", proxy.host, proxy.port),
                )),
            }
        })
    }
}

/// `uri` with its port written out (80 for http, 443 for https).
fn with_port(uri: Uri) -> Uri {
    if uri.port().is_some() {
        return uri;
    }
    let port = if uri.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let Some(host) = uri.host() else { return uri };
    let authority = format!("{host}:{port}");
    let mut parts = uri.clone().into_parts();
    match authority.parse() {
        Ok(a) => {
            parts.authority = Some(a);
            Uri::from_parts(parts).unwrap_or(uri)
        }
        Err(_) => uri,
    }
}

/// An error and its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_are_read_with_their_user_info_decoded() {
        let p = ProxyUrl::parse("socks5://us%40er:p%3Ass@127.0.0.1").unwrap();
        assert_eq!(
            p,
            ProxyUrl {
                scheme: ProxyScheme::Socks5,
                host: "127.0.0.1".into(),
                port: 1080,
                user: Some("us@er".into()),
                password: Some("p:ss".into()),
            }
        );
        let p = ProxyUrl::parse("HTTP://[::1]:3128/").unwrap();
        assert_eq!(
            (p.scheme, p.host.as_str(), p.port),
            (ProxyScheme::Http, "::1", 3128)
        );
        assert_eq!(ProxyUrl::parse("https://proxy.example").unwrap().port, 443);
        for bad in [
            "ftp://x",
            "socks5://:pw@x",
            "http://x/path",
            "http://x?q=1",
            "not a url",
            "socks5://u:%ff@x",
        ] {
            let e = ProxyUrl::parse(bad).unwrap_err();
            assert!(!e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn tunnels_get_the_scheme_s_own_port() {
        let p = |s: &str| with_port(s.parse().unwrap()).to_string();
        assert_eq!(p("http://up.example/v1"), "http://up.example:80/v1");
        assert_eq!(p("https://up.example/v1"), "https://up.example:443/v1");
        assert_eq!(p("http://127.0.0.1:9/v1"), "http://127.0.0.1:9/v1");
    }
}
