//! The client's address behind trusted proxies: one rule for every listener.
//!
//! [`TrustedProxies`] is the set of proxies (`trusted_proxies = [...]` in a capability's
//! section) whose `X-Forwarded-For` is believed, and [`TrustedProxies::client_ip`] is THE
//! rule, the one nginx applies with `set_real_ip_from`, `real_ip_header X-Forwarded-For` and
//! `real_ip_recursive on`:
//!
//! 1. If the peer (the TCP connection's address) is not a trusted proxy, the peer is the
//!    client and `X-Forwarded-For` is ignored: anyone can send one.
//! 2. Otherwise the `X-Forwarded-For` entries (every such header, joined in the order they
//!    came, as nginx ≥ 1.23 does) are walked from the right, skipping trusted hops; the first
//!    entry that is not a trusted proxy is the client.
//! 3. An entry that is not an address stops the walk: the client is then the last address
//!    the walk reached (the trusted hop just right of it, or the peer when the right-most
//!    entry is already malformed). Nothing left of garbage is believed.
//! 4. If every entry is a trusted proxy, the client is the left-most entry (the peer when
//!    there are none).
//!
//! Entries are separated by commas and/or whitespace; an entry may carry a port
//! (`192.0.2.1:4711`, `[2001:db8::1]:4711`, RFC 7239 style) which is dropped. IPv4-mapped
//! IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4 peer)
//! are compared and returned as IPv4, in the peer, the header and the configuration alike.
//!
//! [`ClientIp`] is the axum extractor: it reads the peer from `ConnectInfo<SocketAddr>` and
//! the rule set from the request extensions, where a listener installs it with
//! `router.layer(axum::Extension(trusted))` ([`TrustedProxies::layer`]).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ipnet::{IpNet, Ipv4Net};

use crate::config::ConfigError;

/// The `X-Forwarded-For` header name.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Proxies whose `X-Forwarded-For` is believed. Cheap to clone (one `Arc`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Arc<[IpNet]>,
}

/// What a peer address can be given as: an `IpAddr` or a `SocketAddr` (its port is ignored).
pub trait PeerAddr {
    /// The peer's IP address.
    fn peer_ip(self) -> IpAddr;
}

impl PeerAddr for IpAddr {
    fn peer_ip(self) -> IpAddr {
        self
    }
}

impl PeerAddr for SocketAddr {
    fn peer_ip(self) -> IpAddr {
        self.ip()
    }
}

impl TrustedProxies {
    /// No trusted proxy: every peer is the client.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses the configured list: IP addresses and CIDRs, IPv4 and IPv6 (`10.0.0.0/8`,
    /// `192.0.2.7`, `2001:db8::/32`, `::ffff:10.0.0.0/104` = `10.0.0.0/8`).
    ///
    /// # Errors
    /// The first entry that is neither, as `trusted_proxies[i]` (relative to the section).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ConfigError> {
        let mut nets = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let Some(net) = parse_net(entry.as_ref()) else {
                return Err(ConfigError::new(
                    format!("trusted_proxies[{i}]"),
                    "an IP address or CIDR like 10.0.0.0/8 or 2001:db8::/32",
                ));
            };
            nets.push(net);
        }
        Ok(Self { nets: nets.into() })
    }

    /// No proxy is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The networks, normalised (host bits cleared, IPv4-mapped ones as IPv4).
    #[must_use]
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// Is `ip` a trusted proxy? (IPv4-mapped IPv6 counts as its IPv4 address.)
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request from `peer` carrying `headers`, by the rule in the
    /// [module documentation](self): if the peer is not trusted, the peer; else walk every
    /// `X-Forwarded-For` from the right, skipping trusted hops, and the first untrusted
    /// entry is the client; a malformed entry stops the walk at the last address reached;
    /// all hops trusted gives the left-most one. Always canonical (mapped IPv4 as IPv4).
    #[must_use]
    pub fn client_ip(&self, peer: impl PeerAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.peer_ip().to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let mut reached = peer;
        for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
            let Ok(list) = value.to_str() else {
                return reached; // obs-text: not an address list
            };
            for entry in list.rsplit([',', ' ', '\t']) {
                if entry.is_empty() {
                    continue;
                }
                let Some(ip) = parse_entry(entry) else {
                    return reached;
                };
                reached = ip;
                if !self.contains(ip) {
                    return ip;
                }
            }
        }
        reached
    }

    /// The layer that makes this rule set the one [`ClientIp`] uses on a router.
    pub fn layer(&self) -> axum::Extension<Self> {
        axum::Extension(self.clone())
    }
}

impl FromIterator<IpNet> for TrustedProxies {
    fn from_iter<I: IntoIterator<Item = IpNet>>(iter: I) -> Self {
        Self {
            nets: iter.into_iter().map(normalise_net).collect(),
        }
    }
}

/// One configured entry: a CIDR or a bare address.
fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => IpNet::from(s.parse::<IpAddr>().ok()?),
    };
    Some(normalise_net(net))
}

/// Host bits cleared; `::ffff:a.b.c.d/96+n` as `a.b.c.d/n`.
fn normalise_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && let Some(len) = v6.prefix_len().checked_sub(96)
        && let Ok(n) = Ipv4Net::new(v4, len)
    {
        return IpNet::V4(n.trunc());
    }
    net.trunc()
}

/// One `X-Forwarded-For` entry: an address, `v4:port`, `[v6]` or `[v6]:port` (what nginx's
/// `ngx_parse_addr_port` accepts). Canonical.
fn parse_entry(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .ok()
            .map(|v6| IpAddr::V6(v6).to_canonical());
    }
    let sa = s.parse::<SocketAddr>().ok()?;
    (sa.port() != 0).then(|| sa.ip().to_canonical())
}

/// The client address of the request, by [`TrustedProxies::client_ip`]. Needs the server's
/// `ConnectInfo<SocketAddr>` (opshelf's `http::serve` provides it); the rule set comes from
/// the request extensions (no `TrustedProxies` there: nobody is trusted, the peer is the
/// client). As `Option<ClientIp>` it is `None` without `ConnectInfo` (router tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// From the parts of a request: `None` without a peer address.
    #[must_use]
    pub fn from_parts(parts: &Parts) -> Option<Self> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0;
        let ip = match parts.extensions.get::<TrustedProxies>() {
            Some(trusted) => trusted.client_ip(peer, &parts.headers),
            None => peer.ip().to_canonical(),
        };
        Some(Self(ip))
    }
}

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The server did not record the peer address (`ConnectInfo<SocketAddr>` missing): a wiring
/// mistake, answered with 500.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the server did not record the peer address (ConnectInfo<SocketAddr>)")]
pub struct MissingPeer;

impl IntoResponse for MissingPeer {
    fn into_response(self) -> Response {
        tracing::error!("ClientIp used on a listener served without ConnectInfo<SocketAddr>");
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = MissingPeer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_parts(parts).ok_or(MissingPeer)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_table() {
        let trusted =
            TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.1", "2001:db8:ffff::/48"]).unwrap();
        // (case, peer, X-Forwarded-For headers in order, expected client)
        let table: &[(&str, &str, &[&str], &str)] = &[
            (
                "untrusted peer, spoofed XFF",
                "203.0.113.5",
                &["1.2.3.4"],
                "203.0.113.5",
            ),
            (
                "untrusted peer, spoofed trusted XFF",
                "203.0.113.5",
                &["10.0.0.1"],
                "203.0.113.5",
            ),
            (
                "one trusted hop",
                "10.0.0.2",
                &["198.51.100.7"],
                "198.51.100.7",
            ),
            (
                "chained trusted hops",
                "10.0.0.2",
                &["1.2.3.4, 198.51.100.7, 10.0.0.9, 192.168.1.1"],
                "198.51.100.7",
            ),
            (
                "client-chosen left part is not believed",
                "10.0.0.2",
                &["6.6.6.6, 198.51.100.7"],
                "198.51.100.7",
            ),
            (
                "all hops trusted: the left-most",
                "10.0.0.2",
                &["10.1.1.1, 10.2.2.2"],
                "10.1.1.1",
            ),
            ("trusted peer, no XFF", "10.0.0.2", &[], "10.0.0.2"),
            ("empty header", "10.0.0.2", &[""], "10.0.0.2"),
            ("only separators", "10.0.0.2", &[" , ,"], "10.0.0.2"),
            (
                "v6 peer and client",
                "2001:db8:ffff::1",
                &["2001:db8:1::5"],
                "2001:db8:1::5",
            ),
            (
                "v6 hop chain",
                "2001:db8:ffff::1",
                &["2001:db8:1::5, 2001:db8:ffff::2"],
                "2001:db8:1::5",
            ),
            (
                "v6 with port",
                "10.0.0.2",
                &["[2001:db8:1::5]:4711"],
                "2001:db8:1::5",
            ),
            (
                "v6 bracketed",
                "10.0.0.2",
                &["[2001:db8:1::5]"],
                "2001:db8:1::5",
            ),
            (
                "v4 with port",
                "10.0.0.2",
                &["198.51.100.7:4711"],
                "198.51.100.7",
            ),
            (
                "mapped v4 peer is trusted",
                "::ffff:10.0.0.2",
                &["198.51.100.7"],
                "198.51.100.7",
            ),
            (
                "mapped v4 untrusted peer is returned as v4",
                "::ffff:203.0.113.5",
                &["1.2.3.4"],
                "203.0.113.5",
            ),
            (
                "mapped v4 hop is trusted",
                "10.0.0.2",
                &["198.51.100.7, ::ffff:10.3.3.3"],
                "198.51.100.7",
            ),
            (
                "mapped v4 client is returned as v4",
                "10.0.0.2",
                &["::ffff:198.51.100.7"],
                "198.51.100.7",
            ),
            (
                "garbage right-most: the peer",
                "10.0.0.2",
                &["198.51.100.7, garbage"],
                "10.0.0.2",
            ),
            (
                "garbage behind a trusted hop: that hop",
                "10.0.0.2",
                &["198.51.100.7, unknown, 10.4.4.4"],
                "10.4.4.4",
            ),
            (
                "garbage left of the client is never reached",
                "10.0.0.2",
                &["garbage, 198.51.100.7"],
                "198.51.100.7",
            ),
            (
                "port 0 is malformed",
                "10.0.0.2",
                &["198.51.100.7:0"],
                "10.0.0.2",
            ),
            (
                "v4 CIDR in an entry is malformed",
                "10.0.0.2",
                &["198.51.100.0/24"],
                "10.0.0.2",
            ),
            (
                "zone id is malformed",
                "10.0.0.2",
                &["fe80::1%eth0"],
                "10.0.0.2",
            ),
            (
                "multiple headers, joined in order",
                "10.0.0.2",
                &["198.51.100.7", "10.5.5.5"],
                "198.51.100.7",
            ),
            (
                "multiple headers, last one decides",
                "10.0.0.2",
                &["6.6.6.6", "198.51.100.8, 10.5.5.5"],
                "198.51.100.8",
            ),
            (
                "multiple headers, empty last",
                "10.0.0.2",
                &["198.51.100.7", ""],
                "198.51.100.7",
            ),
            (
                "multiple headers, all trusted",
                "10.0.0.2",
                &["10.6.6.6", "10.5.5.5"],
                "10.6.6.6",
            ),
            (
                "spaces and no spaces",
                "10.0.0.2",
                &["  198.51.100.7 ,10.0.0.3,  10.0.0.4  "],
                "198.51.100.7",
            ),
            (
                "space-separated",
                "10.0.0.2",
                &["198.51.100.7 10.0.0.3"],
                "198.51.100.7",
            ),
            (
                "tabs",
                "10.0.0.2",
                &["198.51.100.7,\t10.0.0.3"],
                "198.51.100.7",
            ),
        ];
        for (case, peer, xff, want) in table {
            let mut h = HeaderMap::new();
            for v in *xff {
                h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
            }
            assert_eq!(trusted.client_ip(ip(peer), &h), ip(want), "{case}");
            let sa = SocketAddr::new(ip(peer), 5000);
            assert_eq!(trusted.client_ip(sa, &h), ip(want), "{case} (SocketAddr)");
        }
        // Nobody trusted: always the peer.
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.7"));
        assert_eq!(
            TrustedProxies::none().client_ip(ip("10.0.0.2"), &h),
            ip("10.0.0.2")
        );
        // Bytes that are not visible ASCII stop the walk like garbage.
        let mut h = HeaderMap::new();
        h.append(X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.7"));
        h.append(X_FORWARDED_FOR, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(trusted.client_ip(ip("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn config_entries_parse_normalise_and_errors_name_the_index() {
        let t = TrustedProxies::parse(&[
            "10.1.2.3/8",
            " 192.0.2.7 ",
            "2001:db8::/32",
            "::ffff:172.16.0.0/108",
            "::ffff:198.51.100.1",
            "::1",
        ])
        .unwrap();
        let nets: Vec<String> = t.nets().iter().map(ToString::to_string).collect();
        assert_eq!(
            nets,
            [
                "10.0.0.0/8",
                "192.0.2.7/32",
                "2001:db8::/32",
                "172.16.0.0/12",
                "198.51.100.1/32",
                "::1/128"
            ]
        );
        assert!(t.contains(ip("::ffff:10.9.9.9")));
        assert!(t.contains(ip("172.31.0.1")));
        assert!(!t.contains(ip("172.32.0.1")));
        for (entries, key) in [
            (&["10.0.0.0/8", "x"][..], "trusted_proxies[1]"),
            (
                &["10.0.0.0/8", "192.0.2.1", "10.0.0.0/33"][..],
                "trusted_proxies[2]",
            ),
            (&[""][..], "trusted_proxies[0]"),
            (&["unix:"][..], "trusted_proxies[0]"),
            (&["example.com"][..], "trusted_proxies[0]"),
        ] {
            assert_eq!(TrustedProxies::parse(entries).unwrap_err().key, key);
        }
        assert!(TrustedProxies::parse::<&str>(&[]).unwrap().is_empty());
        let from_iter: TrustedProxies = ["10.1.0.0/8".parse::<IpNet>().unwrap()]
            .into_iter()
            .collect();
        assert_eq!(from_iter.nets()[0].to_string(), "10.0.0.0/8");
    }

    #[tokio::test]
    async fn extractor_reads_connect_info_and_the_installed_rule_set() {
        use axum::Router;
        use axum::body::Body;
        use axum::http::Request;
        use axum::routing::get;
        use tower::ServiceExt as _;

        async fn show(ip: ClientIp) -> String {
            ip.to_string()
        }
        async fn show_opt(ip: Option<ClientIp>) -> String {
            ip.map_or_else(|| "none".to_owned(), |ip| ip.to_string())
        }
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let base = Router::new()
            .route("/", get(show))
            .route("/opt", get(show_opt));
        let with_rule = base.clone().layer(trusted.layer());
        let call = |app: Router, uri: &'static str, peer: Option<&'static str>| async move {
            let mut req = Request::builder()
                .uri(uri)
                .header(X_FORWARDED_FOR, "198.51.100.7")
                .body(Body::empty())
                .unwrap();
            if let Some(p) = peer {
                req.extensions_mut()
                    .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
            }
            let res = app.oneshot(req).await.unwrap();
            let status = res.status().as_u16();
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        };
        assert_eq!(
            call(with_rule.clone(), "/", Some("10.0.0.1:1")).await,
            (200, "198.51.100.7".to_owned())
        );
        assert_eq!(
            call(base.clone(), "/", Some("10.0.0.1:1")).await,
            (200, "10.0.0.1".to_owned()),
            "without the layer nobody is trusted"
        );
        assert_eq!(call(with_rule.clone(), "/", None).await.0, 500);
        assert_eq!(
            call(with_rule.clone(), "/opt", None).await,
            (200, "none".to_owned())
        );
        assert_eq!(
            call(with_rule, "/opt", Some("[::ffff:10.0.0.1]:1")).await,
            (200, "198.51.100.7".to_owned())
        );
    }
}
