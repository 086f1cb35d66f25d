//! Every route of the console (one table, in [`router`]) and the handlers.
//!
//! `/` and `/console/` the page; `/console/assets/*` the front end; `/console/api/*` JSON:
//! `login`, `logout`, `session`, `users`, `audit`, `overview`, `waf`, `status/<capability>`,
//! `scans`, and
//! `proxy/<upstream>/*` (see [`crate::proxy`]). Every `/console/api` route but `login` and
//! the bearer-token scan upload needs a session; every change needs the admin role, the
//! CSRF token and a same-origin request ([`Authed`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use opshelf_core::client_ip::ClientIp;
use opshelf_core::status::BoardView;
use opshelf_core::{Metrics, StorageView};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::assets::{Assets, CSP};
use crate::auth::{self, LoginLimiter, Role, Session, SessionRecord, User};
use crate::overview::{self, Samples};
use crate::{Config, Error, audit, proxy, scans, waf};

/// The console's shared state.
#[derive(Clone)]
pub struct App(pub Arc<Inner>);

/// What [`App`] holds.
pub struct Inner {
    pub config: Config,
    pub storage: StorageView,
    pub board: BoardView,
    pub metrics: Metrics,
    pub data_dir: PathBuf,
    /// The console's own listener is TLS (cookies are `Secure`, origins `https`).
    pub tls: bool,
    pub limiter: LoginLimiter,
    pub assets: Assets,
    pub client: proxy::HttpClient,
    pub samples: Samples,
    /// The hash of a random password nobody knows: a sign-in as an unknown user costs the
    /// same argon2 work as one with a wrong password.
    pub dummy_hash: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// The console router; `/` opens on `home` (`overview` on its own listener, `flags` when
/// mounted on the flags listener).
pub fn router(app: App, home: &'static str) -> Router {
    let page = move |State(app): State<App>, headers: HeaderMap| async move {
        match app.0.assets.page(home) {
            Some(a) => a.respond(&headers),
            None => Error::NotFound("page".into()).into_response(),
        }
    };
    Router::new()
        .route("/", get(page))
        .route("/console/", get(page))
        .route("/console/assets/{*path}", get(asset))
        .route("/console/api/login", post(login))
        .route("/console/api/logout", post(logout))
        .route("/console/api/session", get(session))
        .route("/console/api/users", get(list_users).post(create_user))
        .route(
            "/console/api/users/{name}",
            put(update_user).delete(delete_user),
        )
        .route("/console/api/audit", get(list_audit))
        .route("/console/api/overview", get(overview_json))
        .route("/console/api/waf", get(waf_json))
        .route("/console/api/status/{capability}", get(capability_status))
        .route("/console/api/scans", get(list_scans).post(upload_scan))
        .route("/console/api/scans/latest", get(latest_scan))
        .route(
            "/console/api/proxy/{upstream}/{*upstream_path}",
            any(forward),
        )
        .route(
            "/console/{*rest}",
            any(|| async { Error::NotFound("no such console path".into()) }),
        )
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

/// CSP and friends on every response.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Path parameters by name: when the console is mounted on another listener, the binary's
/// outer route adds its own parameter (`rest`), so positional extraction would fail.
type Params = Path<HashMap<String, String>>;

fn param(p: &HashMap<String, String>, name: &str) -> String {
    p.get(name).cloned().unwrap_or_default()
}

async fn asset(State(app): State<App>, Path(p): Params, headers: HeaderMap) -> Response {
    let path = param(&p, "path");
    match app.0.assets.file(&path) {
        Some(a) => a.respond(&headers),
        None => Error::NotFound(format!("no asset {path}")).into_response(),
    }
}

/// A signed-in request; for a change (not GET/HEAD) also an admin with the CSRF token from
/// our own origin.
#[derive(Debug, Clone)]
pub struct Authed(pub Session);

impl FromRequestParts<App> for Authed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let session = app
            .session(&parts.headers)
            .await?
            .ok_or(Error::Unauthenticated)?;
        if auth::is_change(&parts.method) {
            auth::check_change(parts, &session, app.0.tls)?;
            let own_logout = parts.uri.path() == "/console/api/logout";
            if session.role != Role::Admin && !own_logout {
                return Err(Error::Forbidden("viewers cannot change anything"));
            }
        }
        Ok(Self(session))
    }
}

impl App {
    async fn user(&self, name: &str) -> Result<Option<User>, Error> {
        Ok(self
            .0
            .storage
            .get(&format!("user/{name}"))
            .await?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    async fn put_user(&self, u: &User) -> Result<(), Error> {
        let v = serde_json::to_vec(u).map_err(|e| Error::Internal(e.to_string()))?;
        self.0.storage.put(&format!("user/{}", u.name), &v).await?;
        Ok(())
    }

    /// The request's session, if its cookie names a live one whose user still exists.
    async fn session(&self, headers: &HeaderMap) -> Result<Option<Session>, Error> {
        let Some(token) = auth::cookie_token(headers) else {
            return Ok(None);
        };
        let key = auth::session_key(&token);
        let Some(raw) = self.0.storage.get(&key).await? else {
            return Ok(None);
        };
        let Ok(rec) = serde_json::from_slice::<SessionRecord>(&raw) else {
            return Ok(None);
        };
        if !auth::live(&rec) {
            self.0.storage.delete(&key).await?;
            return Ok(None);
        }
        // The role is read from the user now, so a demotion or deletion takes effect at once.
        let Some(user) = self.user(&rec.user).await? else {
            return Ok(None);
        };
        Ok(Some(Session {
            user: user.name,
            role: user.role,
            csrf: rec.csrf,
            key,
        }))
    }

    async fn audit(&self, user: &str, action: &str, target: &str, detail: Value) {
        if let Err(e) = audit::record(&self.0.storage, user, action, target, detail).await {
            tracing::error!(error = %e, action, "console audit record failed");
        }
    }
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

/// Sign in: the password is checked with argon2 (off the async threads); ten failures for
/// a user name or a client address slow the next attempt ([`LoginLimiter`]).
async fn login(
    State(app): State<App>,
    ip: Option<ClientIp>,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> Result<Response, Error> {
    if !auth::same_origin(&headers, app.0.tls) {
        return Err(Error::Forbidden("cross-origin request refused"));
    }
    let mut keys = vec![format!("user:{}", body.username)];
    if let Some(ip) = ip {
        keys.push(format!("ip:{ip}"));
    }
    app.0.limiter.check(&keys, Instant::now())?;
    let user = if body.username.len() <= 64 && body.password.len() <= 256 {
        app.user(&body.username).await?
    } else {
        None
    };
    // Without such a user, verify against a fixed hash anyway: the same time either way.
    let hash = user
        .as_ref()
        .map_or_else(|| app.0.dummy_hash.clone(), |u| u.hash.clone());
    let password = body.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let Some(user) = user.filter(|_| ok) else {
        app.0.limiter.failed(&keys, Instant::now());
        app.audit(
            "-",
            "login.failed",
            &body.username,
            json!({"ip": ip.map(|i| i.to_string())}),
        )
        .await;
        return Err(Error::Forbidden("wrong user name or password"));
    };
    app.0.limiter.succeeded(&keys);
    let token = auth::random_token();
    let csrf = auth::random_token();
    let life = Duration::from_secs(app.0.config.session_hours * 3600);
    let rec = SessionRecord {
        user: user.name.clone(),
        csrf: csrf.clone(),
        expires_ms: audit::now_ms() + u64::try_from(life.as_millis()).unwrap_or(u64::MAX),
    };
    let v = serde_json::to_vec(&rec).map_err(|e| Error::Internal(e.to_string()))?;
    app.0.storage.put(&auth::session_key(&token), &v).await?;
    app.audit(
        &user.name,
        "login",
        &user.name,
        json!({"ip": ip.map(|i| i.to_string())}),
    )
    .await;
    let cookie = auth::session_cookie(&token, life, app.0.tls);
    let mut resp =
        Json(json!({"user": user.name, "role": user.role, "csrf": csrf})).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn logout(State(app): State<App>, Authed(s): Authed) -> Result<Response, Error> {
    app.0.storage.delete(&s.key).await?;
    app.audit(&s.user, "logout", &s.user, Value::Null).await;
    let mut resp = Json(json!({"ok": true})).into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::clear_cookie(app.0.tls)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn session(Authed(s): Authed) -> Json<Value> {
    Json(json!({"user": s.user, "role": s.role, "csrf": s.csrf}))
}

async fn list_users(State(app): State<App>, Authed(_): Authed) -> Result<Json<Value>, Error> {
    let rows = app.0.storage.scan("user/").await?;
    let users: Vec<Value> = rows
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice::<User>(&v).ok())
        .map(|u| json!({"name": u.name, "role": u.role, "created_ms": u.created_ms}))
        .collect();
    Ok(Json(json!({"users": users})))
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    password: String,
    role: Role,
}

async fn create_user(
    State(app): State<App>,
    Authed(s): Authed,
    Json(body): Json<NewUser>,
) -> Result<Response, Error> {
    auth::check_user_name(&body.name)?;
    auth::check_password_rules(&body.password)?;
    if app.user(&body.name).await?.is_some() {
        return Err(Error::Conflict(format!("user {} exists", body.name)));
    }
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let u = User {
        name: body.name.clone(),
        role: body.role,
        hash,
        created_ms: audit::now_ms(),
    };
    app.put_user(&u).await?;
    app.audit(&s.user, "user.create", &u.name, json!({"role": u.role}))
        .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": u.name, "role": u.role})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct UserChange {
    role: Option<Role>,
    password: Option<String>,
}

async fn update_user(
    State(app): State<App>,
    Authed(s): Authed,
    Path(p): Params,
    Json(body): Json<UserChange>,
) -> Result<Json<Value>, Error> {
    let name = param(&p, "name");
    let Some(mut u) = app.user(&name).await? else {
        return Err(Error::NotFound(format!("no user {name}")));
    };
    let mut changed = Vec::new();
    if let Some(role) = body.role
        && role != u.role
    {
        if u.role == Role::Admin && app.admins().await? <= 1 {
            return Err(Error::Conflict("the last admin stays an admin".into()));
        }
        u.role = role;
        changed.push("role");
    }
    if let Some(p) = body.password {
        auth::check_password_rules(&p)?;
        u.hash = tokio::task::spawn_blocking(move || auth::hash_password(&p))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        changed.push("password");
    }
    app.put_user(&u).await?;
    app.audit(
        &s.user,
        "user.update",
        &name,
        json!({"changed": changed, "role": u.role}),
    )
    .await;
    Ok(Json(json!({"name": u.name, "role": u.role})))
}

impl App {
    async fn admins(&self) -> Result<usize, Error> {
        Ok(self
            .0
            .storage
            .scan("user/")
            .await?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice::<User>(&v).ok())
            .filter(|u| u.role == Role::Admin)
            .count())
    }
}

async fn delete_user(
    State(app): State<App>,
    Authed(s): Authed,
    Path(p): Params,
) -> Result<StatusCode, Error> {
    let name = param(&p, "name");
    let Some(u) = app.user(&name).await? else {
        return Err(Error::NotFound(format!("no user {name}")));
    };
    if u.role == Role::Admin && app.admins().await? <= 1 {
        return Err(Error::Conflict("the last admin cannot be deleted".into()));
    }
    app.0.storage.delete(&format!("user/{name}")).await?;
    app.audit(&s.user, "user.delete", &name, Value::Null).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_audit(State(app): State<App>, Authed(_): Authed) -> Result<Json<Value>, Error> {
    let entries = audit::recent(&app.0.storage, 200).await?;
    Ok(Json(json!({"entries": entries})))
}

async fn overview_json(State(app): State<App>, Authed(_): Authed) -> Result<Json<Value>, Error> {
    let caps = app.0.board.capabilities();
    let samples = app.0.samples.all();
    let summaries = scans::latest_all(&app.0.storage).await?;
    let scans_in = (!summaries.is_empty()).then(|| {
        (
            summaries.iter().map(|s| s.secrets).sum::<u64>(),
            summaries
                .iter()
                .map(scans::Summary::high_critical)
                .sum::<u64>(),
        )
    });
    let mut scan_trend: Vec<(u64, u64, u64)> = Vec::new();
    for s in &summaries {
        for h in scans::history(&app.0.storage, &s.repo, &s.branch).await? {
            scan_trend.push((h.time_ms, h.secrets, h.high_critical()));
        }
    }
    scan_trend.sort_unstable();
    let waf_flagged = match app.waf_summary().await {
        Some(s) if s.error.is_none() => Some(s.flagged),
        _ => None,
    };
    let mut ok = 0;
    let mut total = 0;
    for (_, v) in app.0.storage.scan("uptime/").await? {
        if let Ok(d) = serde_json::from_slice::<overview::Day>(&v) {
            ok += d.ready;
            total += d.total;
        }
    }
    let text = app.0.metrics.encode();
    let p95 = overview::p95_ms(&text);
    let metrics = overview::metrics(&overview::Inputs {
        caps: &caps,
        samples: &samples,
        scans: scans_in,
        scan_trend,
        waf: overview::waf_counts(&text),
        waf_flagged,
        uptime: Some((ok, total)),
        p95_ms: p95,
    });
    let data_dir = app.0.data_dir.clone();
    let caps2 = caps.clone();
    let disk = tokio::task::spawn_blocking(move || overview::disk(&data_dir, &caps2))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let process = overview::process_json(&overview::process(), &samples);
    let series: Vec<Value> = samples
        .iter()
        .map(|s| json!([s.t_ms, s.rss_bytes, s.cpu_seconds, s.disk_bytes]))
        .collect();
    Ok(Json(json!({
        "metrics": metrics,
        "capabilities": caps,
        "listeners": app.0.board.listeners(),
        "process": process,
        "disk": disk,
        "series": series,
    })))
}

impl App {
    async fn waf_summary(&self) -> Option<waf::Summary> {
        let path = self.0.config.waf_audit_log.clone()?;
        tokio::task::spawn_blocking(move || waf::summarise(&path))
            .await
            .ok()
    }
}

async fn waf_json(State(app): State<App>, Authed(_): Authed) -> Result<Json<Value>, Error> {
    let caps = app.0.board.capabilities();
    let status = caps.iter().find(|c| c.name == "waf").cloned();
    let audit = app.waf_summary().await;
    let series: Vec<Value> = app
        .0
        .samples
        .all()
        .iter()
        .map(|s| json!([s.t_ms, s.waf_requests, s.waf_blocked]))
        .collect();
    let text = app.0.metrics.encode();
    let rate_limited: f64 = text
        .lines()
        .filter(|l| l.starts_with("opshelf_waf_rate_limited_total"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum();
    Ok(Json(json!({
        "status": status,
        "audit_log": app.0.config.waf_audit_log,
        "audit": audit,
        "series": series,
        "rate_limited_total": rate_limited,
    })))
}

/// One capability's platform status (state, summary, facts), as `/status` has it.
async fn capability_status(
    State(app): State<App>,
    Authed(_): Authed,
    Path(p): Params,
) -> Result<Json<Value>, Error> {
    let name = param(&p, "capability");
    app.0
        .board
        .capabilities()
        .into_iter()
        .find(|c| c.name == name)
        .map(|c| Json(json!(c)))
        .ok_or_else(|| Error::NotFound(format!("no capability {name} in this build")))
}

#[derive(Deserialize)]
struct RepoBranch {
    repo: String,
    branch: String,
}

async fn list_scans(State(app): State<App>, Authed(_): Authed) -> Result<Json<Value>, Error> {
    let latest = scans::latest_all(&app.0.storage).await?;
    let mut out = Vec::new();
    for s in latest {
        let trend: Vec<Value> = scans::history(&app.0.storage, &s.repo, &s.branch)
            .await?
            .iter()
            .map(|h| json!([h.time_ms, h.high_critical()]))
            .collect();
        out.push(json!({"summary": s, "trend": trend}));
    }
    Ok(Json(json!({"reports": out})))
}

async fn latest_scan(
    State(app): State<App>,
    Authed(_): Authed,
    Query(q): Query<RepoBranch>,
) -> Result<Json<Value>, Error> {
    match scans::latest(&app.0.storage, &q.repo, &q.branch).await? {
        Some(s) => Ok(Json(json!(s))),
        None => Err(Error::NotFound(format!(
            "no report for {} {}",
            q.repo, q.branch
        ))),
    }
}

/// A report upload: an admin's session (with CSRF), or `Authorization: Bearer
/// <[console] scan_upload_token>` from CI.
async fn upload_scan(
    State(app): State<App>,
    Query(q): Query<RepoBranch>,
    req: Request,
) -> Result<Response, Error> {
    let (mut parts, body) = req.into_parts();
    let who = match bearer(&parts.headers) {
        Some(t) if !app.0.config.scan_upload_token.is_empty() => {
            if bool::from(
                t.as_bytes()
                    .ct_eq(app.0.config.scan_upload_token.as_bytes()),
            ) {
                "scan-upload-token".to_owned()
            } else {
                return Err(Error::Forbidden("wrong upload token"));
            }
        }
        _ => Authed::from_request_parts(&mut parts, &app).await?.0.user,
    };
    scans::check_name("repo", &q.repo)?;
    scans::check_name("branch", &q.branch)?;
    let limit = app.0.config.max_upload_bytes;
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Error::TooLarge(format!("a report has at most {limit} bytes")))?;
    let (format, findings) = scans::parse(&bytes)?;
    let summary = scans::store(&app.0.storage, &q.repo, &q.branch, format, findings).await?;
    app.audit(
        &who,
        "scan.upload",
        &format!("{} {}", q.repo, q.branch),
        json!({"high_critical": summary.high_critical(), "secrets": summary.secrets, "pass": summary.pass}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(json!(summary))).into_response())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Forward to an upstream's API (see [`crate::proxy`]).
async fn forward(
    State(app): State<App>,
    Authed(s): Authed,
    Path(p): Params,
    req: Request,
) -> Result<Response, Error> {
    let (name, rest) = (param(&p, "upstream"), param(&p, "upstream_path"));
    let Some(up) = proxy::upstream(&name) else {
        return Err(Error::NotFound(format!("no upstream {name}")));
    };
    if !proxy::safe_rest(&rest) {
        return Err(Error::BadRequest("bad path".into()));
    }
    let addr = proxy::address(&app.0.board, up.listener)?;
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_owned);
    let (parts, body) = req.into_parts();
    let resp = proxy::forward(
        &app.0.client,
        proxy::Forward {
            upstream: up,
            addr,
            rest: &rest,
            query: query.as_deref(),
            method: method.clone(),
            headers: &parts.headers,
            body: Body::new(body),
            flags_admin_token: &app.0.config.flags_admin_token,
        },
    )
    .await?;
    if method != Method::GET && method != Method::HEAD {
        app.audit(
            &s.user,
            &format!("{}.{}", up.name, method),
            &format!("{}{rest}", up.base),
            json!({"status": resp.status().as_u16()}),
        )
        .await;
    }
    Ok(resp)
}
