//! Router tests: the whole API through `oneshot`, no socket. The helpers are here, the tests
//! in one file per area.

mod audit;
mod kv;
mod seal;
mod tokens;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use opshelf_core::Context;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::{Config, start};

struct T {
    router: Router,
    ctx: Context,
}

impl T {
    async fn new(config: Config) -> Self {
        let ctx = Context::for_tests().await;
        let router = start(&config, &ctx).await.unwrap();
        Self { router, ctx }
    }

    async fn dev() -> Self {
        Self::new(Config {
            dev: true,
            dev_root_token: Some("root".into()),
            ..Config::default()
        })
        .await
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_ct(method, path, token, body, "application/json")
            .await
    }

    async fn call_ct(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        ct: &str,
    ) -> (u16, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", ct);
        if let Some(t) = token {
            b = b.header("x-vault-token", t);
        }
        let req = b
            .body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        (status, v)
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// A real Vault response from `../shared/vault/responses` (missing data fails the test).
fn fixture(name: &str) -> Value {
    let path = opshelf_core::testing::shared(&format!("vault/responses/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_keys(name: &str) -> Vec<String> {
    keys(&fixture(name))
}
