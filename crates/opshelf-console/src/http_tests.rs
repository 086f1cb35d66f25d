//! The console's HTTP rules through its router, without a socket.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use opshelf_core::Context;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::auth::{self, Role, User};
use crate::routes::{App, Inner, router};
use crate::{Config, assets, overview, proxy};

async fn app() -> (Router, App) {
    let ctx = Context::for_tests_named("console").await;
    let config = Config::default();
    for (name, role) in [("admin", Role::Admin), ("vera", Role::Viewer)] {
        let u = User {
            name: name.into(),
            role,
            hash: auth::hash_password("password-123").unwrap(),
            created_ms: 0,
        };
        ctx.storage
            .put(&format!("user/{name}"), &serde_json::to_vec(&u).unwrap())
            .await
            .unwrap();
    }
    let app = App(Arc::new(Inner {
        storage: ctx.storage.clone(),
        board: ctx.board.clone(),
        metrics: ctx.metrics.clone(),
        data_dir: ctx.data_dir.clone(),
        tls: false,
        limiter: auth::LoginLimiter::default(),
        assets: assets::Assets::new(&["overview", "flags"]),
        client: proxy::client(),
        samples: overview::Samples::default(),
        dummy_hash: auth::hash_password("nobody-knows-this").unwrap(),
        config,
    }));
    (router(app.clone(), "overview"), app)
}

async fn call(r: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = r.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn json_req(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::HOST, "127.0.0.1:9000")
}

async fn login(r: &Router, user: &str) -> (String, String) {
    let body = json!({"username": user, "password": "password-123"});
    let (s, h, v) = call(
        r,
        json_req("POST", "/console/api/login")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let cookie = h[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    (pair, v["csrf"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn nothing_answers_without_a_session_and_pages_have_a_strict_csp() {
    let (r, _) = app().await;
    for p in [
        "overview",
        "waf",
        "scans",
        "users",
        "audit",
        "session",
        "proxy/flags/features",
    ] {
        let (s, _, _) = call(
            &r,
            Request::get(format!("/console/api/{p}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
    }
    let resp = r
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
}

#[tokio::test]
async fn changes_need_the_csrf_token_our_origin_and_the_admin_role() {
    let (r, app) = app().await;
    let (cookie, csrf) = login(&r, "admin").await;
    let new_user = json!({"name": "bob", "password": "password-456", "role": "viewer"});
    let post = |extra: &[(&str, &str)]| {
        let mut b = json_req("POST", "/console/api/users").header(header::COOKIE, &cookie);
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        b.body(Body::from(new_user.to_string())).unwrap()
    };
    assert_eq!(
        call(&r, post(&[])).await.0,
        StatusCode::FORBIDDEN,
        "no token"
    );
    assert_eq!(
        call(&r, post(&[("x-csrf-token", "wrong")])).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &r,
            post(&[("x-csrf-token", &csrf), ("origin", "http://evil.example")])
        )
        .await
        .0,
        StatusCode::FORBIDDEN,
        "cross-site with the token"
    );
    let (s, _, v) = call(
        &r,
        post(&[("x-csrf-token", &csrf), ("origin", "http://127.0.0.1:9000")]),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // A viewer reads, and changes nothing.
    let (vc, vcsrf) = login(&r, "vera").await;
    let (s, _, _) = call(
        &r,
        Request::get("/console/api/audit")
            .header(header::COOKIE, &vc)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(
        &r,
        json_req("DELETE", "/console/api/users/bob")
            .header(header::COOKIE, &vc)
            .header("x-csrf-token", &vcsrf)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Every change is in the audit stream with who made it.
    let entries = crate::audit::recent(&app.0.storage, 50).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.action == "user.create" && e.user == "admin" && e.target == "bob")
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "login" && e.user == "vera")
    );
}

#[tokio::test]
async fn ten_failed_sign_ins_slow_the_next_and_sign_out_ends_the_session() {
    let (r, _) = app().await;
    let (cookie, csrf) = login(&r, "admin").await;
    let bad = json!({"username": "admin", "password": "nope-nope"});
    for _ in 0..auth::FREE_FAILURES {
        let (s, _, _) = call(
            &r,
            json_req("POST", "/console/api/login")
                .body(Body::from(bad.to_string()))
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let good = json!({"username": "admin", "password": "password-123"});
    let (s, h, _) = call(
        &r,
        json_req("POST", "/console/api/login")
            .body(Body::from(good.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key(header::RETRY_AFTER));

    let (s, _, _) = call(
        &r,
        json_req("POST", "/console/api/logout")
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(
        &r,
        Request::get("/console/api/session")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn scan_uploads_are_stored_and_shown_on_the_overview() {
    let (r, _) = app().await;
    let (cookie, csrf) = login(&r, "admin").await;
    let report = json!({"Results": [{"Target": "Cargo.lock", "Vulnerabilities": [
        {"VulnerabilityID": "CVE-1", "PkgName": "a", "InstalledVersion": "1", "Severity": "HIGH"}]}]});
    let (s, _, v) = call(
        &r,
        json_req("POST", "/console/api/scans?repo=acme%2Fapi&branch=main")
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .body(Body::from(report.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["pass"], false);
    let (s, _, v) = call(
        &r,
        Request::get("/console/api/overview")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let m = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "high_critical_cves")
        .unwrap();
    assert_eq!(m["value"], 1.0);
    assert_eq!(m["ok"], false);
}
