//! The reverse proxy: rate limit, WAF phases 1-4 around one upstream, audit log, metrics,
//! rule reload (and audit log reopen) on SIGHUP.
//!
//! The client address is core's one rule (`opshelf_core::client_ip`): the peer, or behind
//! `trusted_proxies` the right-most untrusted `X-Forwarded-For` hop. The audit log is core's
//! JSON-lines writer: its own thread does the file I/O, so a flagged request never blocks a
//! runtime thread on the disk.
//!
//! hyper 1 + hyper-util's pooled client (keep-alive) rather than pingora: the binary already
//! serves axum on hyper, so the proxy adds no runtime and little compile time.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opshelf_core::client_ip::{TrustedProxies, X_FORWARDED_FOR};
use opshelf_core::jsonl::{self, JsonlWriter};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::engine::{Interruption, Request as WafRequest, Response as WafResponse, Transaction};
use crate::records::{audit_record, blocked_event};
use crate::rule::{Disruptive, EngineMode};
use crate::ruleset::RuleSet;
use crate::{Config, Error, load_crs};

/// The crs-setup opshelf generates from `[waf]` when the user has none.
pub fn generated_setup(config: &Config) -> String {
    format!(
        "SecDefaultAction \"phase:1,log,auditlog,pass\"\n\
         SecDefaultAction \"phase:2,log,auditlog,pass\"\n\
         SecAction \"id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level={pl}\"\n\
         SecAction \"id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold={inb},setvar:tx.outbound_anomaly_score_threshold={outb}\"\n\
         SecAction \"id:900990,phase:1,pass,t:none,nolog,setvar:tx.crs_setup_version=4290\"\n",
        pl = config.paranoia_level,
        inb = config.inbound_anomaly_score_threshold,
        outb = config.outbound_anomaly_score_threshold,
    )
}

/// Loads the rules the proxy runs: recommended config, crs-setup, CRS, the user's exclusions.
///
/// # Errors
/// The first rule-file error, or an unreadable crs-setup.
pub fn load_rules(config: &Config) -> Result<RuleSet, Error> {
    let Some(dir) = &config.rules_dir else {
        return Err(Error::Config("waf.rules_dir is not set".to_owned()));
    };
    let setup = match &config.crs_setup {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?,
        None => generated_setup(config),
    };
    let mut rs = load_crs(dir, Some(&setup), "", &config.exclusion_files)?;
    rs.settings.engine = EngineMode::parse(&config.mode).unwrap_or(EngineMode::On);
    Ok(rs)
}

/// Requests per minute per client IP, counted over a sliding minute: the previous minute's
/// count weighted by how much of it still overlaps, plus the current minute's (the
/// sliding-window counter Cloudflare describes for its limiter). A fixed window would let a
/// client send twice the limit across a window edge; `governor`'s GCRA would refill one
/// request every 60/N s, so the 101st request in a minute would pass after 0.6 s.
pub struct RateLimiter {
    per_minute: u32,
    /// Per IP: start of the current minute, the previous minute's count, the current count.
    windows: Mutex<HashMap<IpAddr, (Instant, u32, u32)>>,
    /// Per IP refused: how many times, and the last time (for the status: who is limited).
    refused: Mutex<HashMap<IpAddr, (u64, Instant)>>,
}

/// How long a refused address stays in [`RateLimiter::recently_refused`].
pub const REFUSED_SHOWN_FOR: Duration = Duration::from_secs(600);

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
        }
    }

    /// The limit (0: none).
    #[must_use]
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    fn note_refused(&self, ip: IpAddr, now: Instant) {
        let mut m = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if m.len() >= 10_000 {
            m.retain(|_, (_, last)| now.duration_since(*last) < REFUSED_SHOWN_FOR);
        }
        let e = m.entry(ip).or_insert((0, now));
        e.0 += 1;
        e.1 = now;
    }

    /// Addresses refused within [`REFUSED_SHOWN_FOR`]: (address, refusals, since the last
    /// one), most refused first, at most `max`.
    #[must_use]
    pub fn recently_refused(&self, now: Instant, max: usize) -> Vec<(IpAddr, u64, Duration)> {
        let m = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<(IpAddr, u64, Duration)> = m
            .iter()
            .map(|(ip, (n, last))| (*ip, *n, now.saturating_duration_since(*last)))
            .filter(|(_, _, ago)| *ago < REFUSED_SHOWN_FOR)
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        out.truncate(max);
        out
    }

    /// `None` when allowed (and counted), else the seconds to wait.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        if self.per_minute == 0 {
            return None;
        }
        let window = Duration::from_secs(60);
        let mut map = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() > 100_000 {
            map.retain(|_, (start, _, _)| now.duration_since(*start) < window * 2);
        }
        let (start, prev, curr) = map.entry(ip).or_insert((now, 0, 0));
        let mut elapsed = now.duration_since(*start);
        if elapsed >= window * 2 {
            (*start, *prev, *curr) = (now, 0, 0);
            elapsed = Duration::ZERO;
        } else if elapsed >= window {
            *start += window;
            (*prev, *curr) = (*curr, 0);
            elapsed -= window;
        }
        let overlap = 1.0 - elapsed.as_secs_f64() / window.as_secs_f64();
        let estimate = f64::from(*prev) * overlap + f64::from(*curr);
        if estimate + 1.0 > f64::from(self.per_minute) {
            // Enough of the previous minute slides out by then (or the current one ends).
            let wait = if *curr < self.per_minute && *prev > 0 {
                let excess = estimate + 1.0 - f64::from(self.per_minute);
                excess / f64::from(*prev) * window.as_secs_f64()
            } else {
                // After this minute, its count becomes the weighted previous one.
                let w = window.as_secs_f64();
                let later = w * (1.0 - f64::from(self.per_minute - 1) / f64::from((*curr).max(1)));
                (window - elapsed).as_secs_f64() + later.max(0.0)
            };
            drop(map);
            self.note_refused(ip, now);
            return Some((wait.ceil() as u64).max(1));
        }
        *curr += 1;
        None
    }
}

/// The proxy's metrics.
#[derive(Clone, Default)]
struct WafMetrics {
    requests: Counter,
    /// Requests blocked in all (the rule families are for scrapes).
    blocked: Counter,
    blocked_by_rule: Family<Vec<(String, String)>, Counter>,
    blocked_by_tag: Family<Vec<(String, String)>, Counter>,
    /// Requests a rule would have blocked, let through because their route runs
    /// DetectionOnly.
    detected_only: Counter,
    rate_limited: Counter,
    upstream_errors: Counter,
    cpu: Option<Histogram>,
}

/// The audit log rotates at 64 MiB (`audit_log` → `audit_log.1`, one old file kept).
const AUDIT_ROTATE_BYTES: u64 = 64 << 20;

/// A route at run time.
pub struct RouteRt {
    host: Option<String>,
    prefix: String,
    upstream: Uri,
    mode: EngineMode,
    limiter: RateLimiter,
}

fn parse_upstream(key: &str, url: &str) -> Result<Uri, Error> {
    let u: Uri = url
        .parse()
        .map_err(|e| Error::Config(format!("{key}: {e}")))?;
    if u.scheme_str() != Some("http") || u.authority().is_none() {
        return Err(Error::Config(format!(
            "{key}: only http://host:port upstreams are supported so far"
        )));
    }
    Ok(u)
}

/// The first route for `host` (port ignored, case-insensitive) and `path`.
pub fn pick_route<'r>(
    routes: &'r [RouteRt],
    host: Option<&str>,
    path: &str,
) -> Option<&'r RouteRt> {
    let host = host.map(|h| {
        h.rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(h, |(h, _)| h)
    });
    routes.iter().find(|r| {
        let host_ok = match (&r.host, host) {
            (None, _) => true,
            (Some(want), Some(h)) => want.eq_ignore_ascii_case(h),
            (Some(_), None) => false,
        };
        host_ok && path.starts_with(r.prefix.as_str())
    })
}

/// Shared proxy state.
pub struct Proxy {
    rules: RwLock<Arc<RuleSet>>,
    trusted: TrustedProxies,
    config: Config,
    upstream: Uri,
    client: Client<HttpConnector, Body>,
    /// The configured routes, then the default one (host None, prefix "/").
    routes: Vec<RouteRt>,
    /// ModSecurity-style JSON audit records of relevant transactions.
    audit: Option<JsonlWriter>,
    /// Blocked requests as log events (`{job="opshelf", capability="waf"}`) for the logs
    /// capability; set at start.
    events: std::sync::OnceLock<opshelf_core::LogForwarder>,
    metrics: WafMetrics,
    counter: AtomicU64,
    /// The last reload's error (`None` after a good one).
    last_reload_error: Mutex<Option<String>>,
    /// When the rules in use were loaded, and when a reload was last tried (RFC 3339).
    rules_loaded_at: Mutex<String>,
    last_reload_at: Mutex<Option<String>>,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A route as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteStatus {
    pub host: Option<String>,
    pub path_prefix: String,
    pub upstream: String,
    /// `On` (blocking), `DetectionOnly` or `Off`.
    pub mode: String,
    pub rate_limit_per_minute: u32,
}

/// An address the rate limit refused lately.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LimitedAddress {
    pub address: String,
    /// The route's path prefix (and host, if it has one).
    pub route: String,
    pub refused: u64,
    pub last_refused_seconds_ago: u64,
}

/// What the proxy reports to `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyStatus {
    pub rules: usize,
    pub mode: String,
    pub upstream: String,
    pub requests: u64,
    pub blocked: u64,
    /// Requests a rule would have blocked on a DetectionOnly route (let through).
    pub detected_only: u64,
    pub last_reload_error: Option<String>,
    pub rules_loaded_at: String,
    pub last_reload_at: Option<String>,
    /// The configured routes, then the default one, in matching order.
    pub routes: Vec<RouteStatus>,
    /// Addresses the rate limit refused in the last ten minutes, most refused first.
    pub rate_limited: Vec<LimitedAddress>,
}

impl Proxy {
    /// # Errors
    /// Rules that do not load, or a bad upstream URL.
    pub fn new(config: &Config, metrics: &opshelf_core::Metrics) -> Result<Arc<Self>, Error> {
        let rules = load_rules(config)?;
        let default_mode = EngineMode::parse(&config.mode).unwrap_or(EngineMode::On);
        let upstream = parse_upstream("waf.upstream", config.upstream.as_deref().unwrap_or(""))?;
        let mut routes = Vec::new();
        for (i, r) in config.routes.iter().enumerate() {
            routes.push(RouteRt {
                host: r.host.clone(),
                prefix: r.path_prefix.clone(),
                upstream: parse_upstream(&format!("waf.routes[{i}].upstream"), &r.upstream)?,
                mode: r
                    .mode
                    .as_deref()
                    .and_then(EngineMode::parse)
                    .unwrap_or(default_mode),
                limiter: RateLimiter::new(
                    r.rate_limit_per_minute
                        .unwrap_or(config.rate_limit_per_minute),
                ),
            });
        }
        routes.push(RouteRt {
            host: None,
            prefix: "/".to_owned(),
            upstream: upstream.clone(),
            mode: default_mode,
            limiter: RateLimiter::new(config.rate_limit_per_minute),
        });
        let mut wm = WafMetrics {
            cpu: Some(Histogram::new(exponential_buckets(0.000_05, 2.0, 14))),
            ..Default::default()
        };
        metrics.register(
            "requests",
            "Requests seen by the WAF proxy",
            wm.requests.clone(),
        );
        metrics.register(
            "blocked_by_rule",
            "Requests blocked, by the rule that blocked them",
            wm.blocked_by_rule.clone(),
        );
        metrics.register(
            "blocked_by_tag",
            "Requests blocked, by the tags of the rules that matched",
            wm.blocked_by_tag.clone(),
        );
        metrics.register(
            "detected_only",
            "Requests a rule would have blocked, let through because their route runs DetectionOnly",
            wm.detected_only.clone(),
        );
        metrics.register(
            "rate_limited",
            "Requests refused by the per-IP rate limit",
            wm.rate_limited.clone(),
        );
        metrics.register(
            "upstream_errors",
            "Requests the upstream did not answer",
            wm.upstream_errors.clone(),
        );
        if let Some(h) = wm.cpu.take() {
            metrics.register(
                "cpu_seconds",
                "WAF rule-evaluation time per request",
                h.clone(),
            );
            wm.cpu = Some(h);
        }
        let audit = match &config.audit_log {
            None => None,
            Some(path) => Some(
                JsonlWriter::open(
                    path,
                    jsonl::Options {
                        max_bytes: Some(AUDIT_ROTATE_BYTES),
                        keep: 1,
                        ..jsonl::Options::default()
                    },
                )
                .map_err(|e| Error::Config(format!("waf.audit_log: {e}")))?,
            ),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build_http();
        let trusted = TrustedProxies::parse(&config.trusted_proxies)
            .map_err(|e| Error::Config(e.in_section("waf").to_string()))?;
        Ok(Arc::new(Self {
            rules: RwLock::new(Arc::new(rules)),
            trusted,
            config: config.clone(),
            upstream,
            client,
            routes,
            audit,
            events: std::sync::OnceLock::new(),
            metrics: wm,
            counter: AtomicU64::new(0),
            last_reload_error: Mutex::new(None),
            rules_loaded_at: Mutex::new(now_rfc3339()),
            last_reload_at: Mutex::new(None),
        }))
    }

    /// Reloads the rules; on error the old rules stay, and the error is logged and reported.
    pub fn reload(&self) {
        let outcome = match load_rules(&self.config) {
            Ok(rs) => {
                let n = rs.rule_count;
                *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rs);
                *self
                    .rules_loaded_at
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = now_rfc3339();
                tracing::info!(rules = n, "waf rules reloaded");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "waf rules reload failed; keeping the old rules");
                Some(e.to_string())
            }
        };
        *self
            .last_reload_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = outcome;
        *self
            .last_reload_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now_rfc3339());
    }

    /// Rules loaded, mode, upstream, counts, the last reload's error.
    #[must_use]
    pub fn status(&self) -> ProxyStatus {
        let now = Instant::now();
        let mut rate_limited = Vec::new();
        for r in &self.routes {
            let route = match &r.host {
                Some(h) => format!("{h}{}", r.prefix),
                None => r.prefix.clone(),
            };
            for (ip, n, ago) in r.limiter.recently_refused(now, 20) {
                rate_limited.push(LimitedAddress {
                    address: ip.to_string(),
                    route: route.clone(),
                    refused: n,
                    last_refused_seconds_ago: ago.as_secs(),
                });
            }
        }
        rate_limited.sort_by_key(|l| std::cmp::Reverse(l.refused));
        rate_limited.truncate(20);
        ProxyStatus {
            rules_loaded_at: self
                .rules_loaded_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            last_reload_at: self
                .last_reload_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            routes: self
                .routes
                .iter()
                .map(|r| RouteStatus {
                    host: r.host.clone(),
                    path_prefix: r.prefix.clone(),
                    upstream: r.upstream.to_string(),
                    mode: format!("{:?}", r.mode),
                    rate_limit_per_minute: r.limiter.per_minute(),
                })
                .collect(),
            rate_limited,
            rules: self.current_rules().rule_count,
            mode: self.config.mode.clone(),
            upstream: self.upstream.to_string(),
            requests: self.metrics.requests.get(),
            blocked: self.metrics.blocked.get(),
            detected_only: self.metrics.detected_only.get(),
            last_reload_error: self
                .last_reload_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Reopens the audit log at its path (after logrotate renamed it); errors are logged.
    pub async fn reopen_audit_log(&self) {
        if let Some(a) = &self.audit {
            match a.reopen().await {
                Ok(()) => tracing::info!(path = %a.path().display(), "waf audit log reopened"),
                Err(e) => tracing::error!(error = %e, "waf audit log reopen failed"),
            }
        }
    }

    fn current_rules(&self) -> Arc<RuleSet> {
        self.rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn forbidden(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    let body = format!(
        "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>\n",
        status.canonical_reason().map_or_else(
            || status.as_str().to_owned(),
            |r| format!("{} {r}", status.as_u16())
        )
    );
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

/// Every `X-Forwarded-For` value joined in order (`None` when there is none, or one is not
/// text: then the list starts afresh at the peer).
fn forwarded_for_list(headers: &axum::http::HeaderMap) -> Option<String> {
    let mut out = String::new();
    for v in headers.get_all(X_FORWARDED_FOR) {
        let s = v.to_str().ok()?.trim();
        if s.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(s);
    }
    (!out.is_empty()).then_some(out)
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn version_str(v: axum::http::Version) -> &'static str {
    match v {
        axum::http::Version::HTTP_09 => "HTTP/0.9",
        axum::http::Version::HTTP_10 => "HTTP/1.0",
        axum::http::Version::HTTP_2 => "HTTP/2.0",
        axum::http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// A request body read up to the inspection limit.
enum Prefix {
    /// The whole body (it ended within the limit).
    Whole(Bytes),
    /// The first frames (more than the limit) and the unread rest.
    Partial(Bytes, Body),
}

/// Reads frames until the body ends or more than `limit` bytes are in hand.
async fn read_prefix(mut body: Body, limit: usize) -> Result<Prefix, axum::Error> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers: not inspected, not forwarded
        };
        buf.extend_from_slice(&data);
        if buf.len() > limit {
            return Ok(Prefix::Partial(Bytes::from(buf), body));
        }
    }
    Ok(Prefix::Whole(Bytes::from(buf)))
}

/// What was read for inspection, then the rest of the client's body as it arrives.
struct Prefixed {
    head: Option<Bytes>,
    rest: Body,
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.rest.is_end_stream()
    }

    /// Exact when the client declared its length, so the upstream gets a Content-Length.
    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        let rest = self.rest.size_hint();
        match rest.exact() {
            Some(n) => SizeHint::with_exact(head + n),
            None => {
                let mut h = SizeHint::new();
                h.set_lower(head + rest.lower());
                h
            }
        }
    }
}

/// The handler every request of the WAF listener goes through.
pub async fn handle(
    State(p): State<Arc<Proxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: axum::extract::Request,
) -> Response {
    p.metrics.requests.inc();
    let client = p.trusted.client_ip(peer, req.headers());
    // A trusted proxy's X-Forwarded-For (every such header, in order) is extended for the
    // upstream; anyone else's is dropped.
    let xff_in = if p.trusted.contains(peer.ip()) {
        forwarded_for_list(req.headers())
    } else {
        None
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().host());
    let Some(route) = pick_route(&p.routes, host, req.uri().path()) else {
        return (StatusCode::NOT_FOUND, "no route\n").into_response();
    };
    if let Some(retry) = route.limiter.check(client, Instant::now()) {
        p.metrics.rate_limited.inc();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry.to_string())],
            "Too Many Requests\n",
        )
            .into_response();
    }
    let rules = p.current_rules();
    let (mut parts, body) = req.into_parts();
    // HTTP/2 (over TLS, by ALPN) carries the host in `:authority` and an absolute URI: give
    // the rules and the upstream what an HTTP/1.1 request line and Host header would say,
    // as nginx does.
    if !parts.headers.contains_key(header::HOST)
        && let Some(v) = parts
            .uri
            .authority()
            .and_then(|a| header::HeaderValue::from_str(a.as_str()).ok())
    {
        parts.headers.insert(header::HOST, v);
    }
    let n = p.counter.fetch_add(1, Ordering::Relaxed);
    let ereq = WafRequest {
        method: parts.method.as_str().to_owned(),
        uri: match parts.uri.path_and_query() {
            Some(pq) if parts.version == axum::http::Version::HTTP_2 => pq.as_str().to_owned(),
            _ => parts.uri.to_string(),
        },
        protocol: version_str(parts.version).to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        remote_addr: client.to_string(),
        remote_port: peer.port(),
        server_port: p.config.listen.port(),
        unique_id: format!("{:x}{n:08x}", std::process::id()),
    };
    let mut cpu = Duration::ZERO;
    let t0 = Instant::now();
    let mut tx = Transaction::new(&rules, &ereq);
    tx.engine = route.mode;
    tx.process_request_headers();
    cpu += t0.elapsed();
    if tx.interruption.is_some() {
        return p.finish(tx, &ereq, None, cpu).await;
    }
    // The body: read (never more than the inspection limit plus one frame), inspected, and
    // forwarded followed by whatever was not read, which streams through untouched.
    let (inspected, forward) = match tx.request_body_limit() {
        None => (Bytes::new(), body),
        Some(limit) => match read_prefix(body, limit).await {
            Ok(Prefix::Whole(b)) => (b.clone(), Body::from(b)),
            Ok(Prefix::Partial(head, rest)) => {
                if tx.rejects_oversized_body() {
                    // SecRequestBodyLimitAction Reject: refused before phase 2, like
                    // ModSecurity 2 and Coraza (413).
                    tx.interruption = Some(Interruption {
                        status: 413,
                        rule_id: 0,
                        action: Disruptive::Deny,
                    });
                    return p.finish(tx, &ereq, None, cpu).await;
                }
                (
                    head.clone(),
                    Body::new(Prefixed {
                        head: Some(head),
                        rest,
                    }),
                )
            }
            Err(_) => {
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large or unreadable\n",
                )
                    .into_response();
            }
        },
    };
    let t0 = Instant::now();
    tx.process_request_body(&inspected);
    cpu += t0.elapsed();
    if tx.interruption.is_some() {
        return p.finish(tx, &ereq, None, cpu).await;
    }

    // Forward.
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let upstream = &route.upstream;
    let base = upstream.path().trim_end_matches('/');
    let target = format!(
        "{}://{}{}{}",
        upstream.scheme_str().unwrap_or("http"),
        upstream.authority().map_or("", |a| a.as_str()),
        base,
        path_and_query
    );
    let mut up = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(target);
    for (k, v) in &parts.headers {
        // X-Forwarded-* are rebuilt below: a client must not choose what the upstream
        // believes about its address or scheme.
        if HOP_BY_HOP.contains(&k.as_str())
            || k == header::CONTENT_LENGTH
            || k == X_FORWARDED_FOR
            || k == "x-forwarded-proto"
        {
            continue;
        }
        up = up.header(k, v);
    }
    // Only a trusted proxy's X-Forwarded-For is passed on; otherwise it starts afresh.
    let xff = match xff_in {
        Some(prev) => format!("{prev}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    let proto = if p.config.tls_cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    up = up
        .header(X_FORWARDED_FOR, xff)
        .header("x-forwarded-proto", proto);
    let Ok(up) = up.body(forward) else {
        return (StatusCode::BAD_REQUEST, "bad request\n").into_response();
    };
    let resp = match p.client.request(up).await {
        Ok(r) => r,
        Err(e) => {
            p.metrics.upstream_errors.inc();
            tracing::warn!(error = %e, "waf upstream request failed");
            return (StatusCode::BAD_GATEWAY, "upstream unavailable\n").into_response();
        }
    };
    let (mut rparts, rbody) = resp.into_parts();
    let wresp = WafResponse {
        status: rparts.status.as_u16(),
        protocol: version_str(rparts.version).to_owned(),
        headers: rparts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
    };
    let t0 = Instant::now();
    tx.process_response_headers(&wresp);
    cpu += t0.elapsed();
    if tx.interruption.is_some() {
        return p.finish(tx, &ereq, Some(wresp.status), cpu).await;
    }
    for h in HOP_BY_HOP {
        rparts.headers.remove(*h);
    }
    let limit = rules.settings.response_body_limit as u64;
    let small = rparts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n <= limit);
    let body = if tx.wants_response_body() && small {
        let bytes = match rbody.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return (StatusCode::BAD_GATEWAY, "upstream body error\n").into_response(),
        };
        let t0 = Instant::now();
        tx.process_response_body(&bytes);
        cpu += t0.elapsed();
        if tx.interruption.is_some() {
            return p.finish(tx, &ereq, Some(wresp.status), cpu).await;
        }
        Body::from(bytes)
    } else {
        // Streamed through uninspected (not a text type, or larger than the limit).
        Body::new(rbody)
    };
    let status = wresp.status;
    let _ = p.finish(tx, &ereq, Some(status), cpu).await;
    let mut out = Response::from_parts(rparts, body);
    out.headers_mut().insert(
        HeaderName::from_static("x-request-waf"),
        HeaderValue::from_static("inspected"),
    );
    out
}

impl Proxy {
    /// Phase 5, audit log and metrics; the response for an interrupted transaction. The
    /// audit record is in the file before the response goes out (as before the log had its
    /// own thread); the file I/O happens on that thread, group-committed with other records.
    async fn finish(
        &self,
        mut tx: Transaction<'_>,
        req: &WafRequest,
        upstream_status: Option<u16>,
        mut cpu: Duration,
    ) -> Response {
        let t0 = Instant::now();
        tx.process_logging();
        cpu += t0.elapsed();
        if let Some(h) = &self.metrics.cpu {
            h.observe(cpu.as_secs_f64());
        }
        let status = tx
            .interruption
            .as_ref()
            .map_or(upstream_status.unwrap_or(0), |i| i.status);
        if let Some(i) = &tx.interruption {
            self.metrics.blocked.inc();
            self.metrics
                .blocked_by_rule
                .get_or_create(&vec![("rule_id".to_owned(), i.rule_id.to_string())])
                .inc();
            let mut tags: Vec<&str> = tx
                .matches
                .iter()
                .flat_map(|m| m.tags.iter().map(String::as_str))
                .collect();
            tags.sort_unstable();
            tags.dedup();
            for t in tags {
                self.metrics
                    .blocked_by_tag
                    .get_or_create(&vec![("tag".to_owned(), t.to_owned())])
                    .inc();
            }
        } else if tx.detected.is_some() {
            self.metrics.detected_only.inc();
        }
        if let (Some(i), Some(events)) = (&tx.interruption, self.events.get()) {
            events.send(blocked_event(&tx, i, req));
        }
        let record = (self.audit.is_some()
            && tx.is_relevant()
            && !tx.audit_engine.eq_ignore_ascii_case("off"))
        .then(|| audit_record(&tx, req, status).to_string());
        let response = match &tx.interruption {
            Some(i) => forbidden(i.status),
            None => StatusCode::OK.into_response(),
        };
        drop(tx);
        if let (Some(a), Some(line)) = (&self.audit, record)
            && let Err(e) = a.write(line).await
        {
            tracing::warn!(error = %e, "waf audit log write failed");
        }
        response
    }
}

/// Builds the WAF router and the SIGHUP reload task.
///
/// # Errors
/// Rules that do not load or a bad upstream.
pub fn router(config: &Config, ctx: &opshelf_core::Context) -> Result<axum::Router, Error> {
    Ok(start(config, ctx)?.0)
}

/// The proxy router and its state; the rules reload on the platform's reload signal (SIGHUP).
///
/// # Errors
/// Rules that do not load, or a bad upstream URL.
pub fn start(
    config: &Config,
    ctx: &opshelf_core::Context,
) -> Result<(axum::Router, Arc<Proxy>), Error> {
    let proxy = Proxy::new(config, &ctx.metrics)?;
    let _ = proxy.events.set(opshelf_core::LogForwarder::spawn(
        &ctx.tasks,
        &ctx.metrics,
        ctx.logs.clone(),
        vec![
            ("job".to_owned(), "opshelf".to_owned()),
            ("capability".to_owned(), "waf".to_owned()),
            ("event".to_owned(), "blocked".to_owned()),
        ],
    ));
    tracing::info!(rules = proxy.current_rules().rule_count, upstream = %proxy.upstream, "waf rules loaded");
    let p = Arc::clone(&proxy);
    let shutdown = ctx.shutdown.clone();
    let mut reload = ctx.reload.clone();
    ctx.tasks.spawn("rules-reload", async move {
        loop {
            tokio::select! {
                () = reload.changed() => {
                    p.reload();
                    p.reopen_audit_log().await;
                }
                () = shutdown.wait() => break,
            }
        }
    });
    Ok((
        axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&proxy)),
        proxy,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_proxys_forwarded_for_headers_are_joined_in_order() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(forwarded_for_list(&h), None);
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_static("1.2.3.4, 10.0.0.1"),
        );
        h.append(X_FORWARDED_FOR, HeaderValue::from_static(" "));
        h.append(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.2 "));
        assert_eq!(
            forwarded_for_list(&h).as_deref(),
            Some("1.2.3.4, 10.0.0.1, 10.0.0.2")
        );
        h.append(X_FORWARDED_FOR, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(forwarded_for_list(&h), None);
    }

    #[test]
    fn routes_by_host_and_prefix() {
        let rt = |host: Option<&str>, prefix: &str, up: &str| RouteRt {
            host: host.map(str::to_owned),
            prefix: prefix.to_owned(),
            upstream: up.parse().unwrap(),
            mode: EngineMode::On,
            limiter: RateLimiter::new(0),
        };
        let routes = vec![
            rt(Some("api.example.com"), "/v1", "http://a:1"),
            rt(None, "/static", "http://b:2"),
            rt(None, "/", "http://c:3"),
        ];
        let up = |h: Option<&str>, p: &str| pick_route(&routes, h, p).unwrap().upstream.to_string();
        assert_eq!(up(Some("API.example.com:8080"), "/v1/x"), "http://a:1/");
        assert_eq!(up(Some("other"), "/v1/x"), "http://c:3/");
        assert_eq!(up(Some("api.example.com"), "/static/a.css"), "http://b:2/");
        assert_eq!(up(None, "/"), "http://c:3/");
    }

    #[test]
    fn rate_limit_windows_per_ip() {
        let rl = RateLimiter::new(100);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t = Instant::now();
        for _ in 0..100 {
            assert_eq!(rl.check(a, t), None);
        }
        assert!(rl.check(a, t).is_some());
        assert_eq!(rl.check(b, t), None);
        let s = Duration::from_secs;
        let burst = |at: Duration| {
            let mut n = 0;
            while rl.check(a, t + at).is_none() {
                n += 1;
            }
            n
        };
        // A second into the next minute the previous 100 still weigh 59/60: one more, not a
        // fresh 100 as with a fixed window.
        assert_eq!(burst(s(61)), 1);
        // Half a minute on, half of them have slid out: 50 still count, so this minute may hold
        // 50, one of which is already used.
        assert_eq!(burst(s(90)), 49);
        // Two quiet minutes later, a whole minute's worth again.
        assert_eq!(rl.check(a, t + s(220)), None);
        // Who was refused, and how often: a, most recently at 90 s.
        let r = rl.recently_refused(t + s(100), 10);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].0, r[0].1, r[0].2), (a, 3, s(10)));
        assert!(
            rl.recently_refused(t + s(90) + REFUSED_SHOWN_FOR, 10)
                .is_empty()
        );
    }

    #[test]
    fn rate_limit_retry_after_is_when_a_request_would_pass() {
        let rl = RateLimiter::new(10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Instant::now();
        for _ in 0..10 {
            assert_eq!(rl.check(a, t), None);
        }
        let wait = rl.check(a, t).expect("limited");
        // The rest of this minute, then 6 s of the next one for a tenth of these 10 to slide out.
        assert_eq!(wait, 66);
        assert!(rl.check(a, t + Duration::from_secs(65)).is_some());
        assert_eq!(rl.check(a, t + Duration::from_secs(66)), None);
        // Now 10 weigh 10 * (1 - 6/60) = 9 and 1 is counted: the next passes when 0.1 more of
        // the previous minute has slid out, 6 s later.
        let wait = rl
            .check(a, t + Duration::from_secs(66))
            .expect("limited again");
        assert_eq!(wait, 6);
        assert_eq!(rl.check(a, t + Duration::from_secs(72)), None);
    }
}
