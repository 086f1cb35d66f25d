//! Router tests: the whole API through `oneshot`, no socket.

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

#[tokio::test]
async fn init_unseal_with_shamir_shares() {
    let t = T::new(Config::default()).await;
    let (s, h) = t.call("GET", "/v1/sys/health", None, None).await;
    assert_eq!(s, 501);
    assert_eq!(h["initialized"], false);
    let (s, _) = t
        .call("GET", "/v1/sys/health?uninitcode=200", None, None)
        .await;
    assert_eq!(s, 200);
    let (s, init) = t
        .call(
            "PUT",
            "/v1/sys/init",
            None,
            Some(json!({"secret_shares": 5, "secret_threshold": 3})),
        )
        .await;
    assert_eq!(s, 200, "{init}");
    let shares: Vec<String> = init["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let b64: Vec<String> = init["keys_base64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let root = init["root_token"].as_str().unwrap().to_owned();
    assert_eq!(shares.len(), 5);
    let (s, _) = t
        .call(
            "PUT",
            "/v1/sys/init",
            None,
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        )
        .await;
    assert_eq!(s, 400);

    // sealed: every non-sys path is 503
    let (s, body) = t.call("GET", "/v1/secret/data/x", Some(&root), None).await;
    assert_eq!((s, body), (503, json!({"errors": ["Vault is sealed"]})));
    let (s, _) = t.call("GET", "/v1/sys/health", None, None).await;
    assert_eq!(s, 503);

    // fewer than t shares leave it sealed
    let (_, st) = t
        .call(
            "PUT",
            "/v1/sys/unseal",
            None,
            Some(json!({"key": shares[0]})),
        )
        .await;
    assert_eq!(
        (
            st["sealed"].clone(),
            st["progress"].clone(),
            st["t"].clone()
        ),
        (json!(true), json!(1), json!(3))
    );
    let (_, st) = t
        .call("PUT", "/v1/sys/unseal", None, Some(json!({"key": b64[1]})))
        .await;
    assert_eq!(st["progress"], 2);
    let (_, st) = t
        .call("PUT", "/v1/sys/unseal", None, Some(json!({"reset": true})))
        .await;
    assert_eq!(st["progress"], 0);

    // a wrong share: the combined key fails authentication, stays sealed
    let mut bad = hex::decode(&shares[2]).unwrap();
    bad[3] ^= 0x55;
    t.call(
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": shares[0]})),
    )
    .await;
    t.call(
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": shares[1]})),
    )
    .await;
    let (s, _) = t
        .call(
            "PUT",
            "/v1/sys/unseal",
            None,
            Some(json!({"key": hex::encode(&bad)})),
        )
        .await;
    assert_eq!(s, 400);
    let (_, st) = t.call("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(
        (st["sealed"].clone(), st["progress"].clone()),
        (json!(true), json!(0))
    );
    let (s, _) = t
        .call(
            "PUT",
            "/v1/sys/unseal",
            None,
            Some(json!({"key": "not hex!"})),
        )
        .await;
    assert_eq!(s, 400);

    for k in [&shares[4], &shares[2], &shares[0]] {
        t.call("PUT", "/v1/sys/unseal", None, Some(json!({"key": k})))
            .await;
    }
    let (s, st) = t.call("GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!((s, st["sealed"].clone()), (200, json!(false)));
    let want = fixture_keys("unseal-final.json");
    if !want.is_empty() {
        let mut got = keys(&st);
        got.retain(|k| k != "build_date");
        let mut want = want;
        want.retain(|k| k != "commit_date");
        assert_eq!(got, want);
    }
    let (s, h) = t.call("GET", "/v1/sys/health", None, None).await;
    assert_eq!(s, 200);
    let want = fixture_keys("sys-health.json");
    if !want.is_empty() {
        assert_eq!(keys(&h), want);
    }
    let (s, _) = t
        .call("HEAD", "/v1/sys/health?activecode=204", None, None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = t
        .call("GET", "/v1/sys/health?activecode=abc", None, None)
        .await;
    assert_eq!(s, 400);

    // the init root token works; a fresh init has no secret/ mount
    let (s, _) = t
        .call("GET", "/v1/auth/token/lookup-self", Some(&root), None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = t.call("PUT", "/v1/sys/seal", Some(&root), None).await;
    assert_eq!(s, 204);
    let (s, _) = t
        .call("GET", "/v1/auth/token/lookup-self", Some(&root), None)
        .await;
    assert_eq!(s, 503);
}

#[tokio::test]
async fn kv_v2_full_cycle() {
    let t = T::dev().await;
    let tok = Some("root");
    let (s, put) = t
        .call(
            "PUT",
            "/v1/secret/data/app/db",
            tok,
            Some(json!({"data": {"user": "alice", "pw": "s3cr3t"}, "options": {}})),
        )
        .await;
    assert_eq!(s, 200, "{put}");
    assert_eq!(put["data"]["version"], 1);
    let want = fixture_keys("kv2-put.json");
    if !want.is_empty() {
        assert_eq!(keys(&put), want);
        assert_eq!(
            keys(&put["data"]),
            vec![
                "created_time",
                "custom_metadata",
                "deletion_time",
                "destroyed",
                "version"
            ]
        );
    }
    let (s, got) = t.call("GET", "/v1/secret/data/app/db", tok, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        got["data"]["data"],
        json!({"user": "alice", "pw": "s3cr3t"})
    );
    assert_eq!(
        keys(&got["data"]["metadata"]),
        vec![
            "created_time",
            "custom_metadata",
            "deletion_time",
            "destroyed",
            "version"
        ]
    );

    // cas
    let (s, e) = t
        .call(
            "PUT",
            "/v1/secret/data/app/db",
            tok,
            Some(json!({"data": {"a": "b"}, "options": {"cas": 0}})),
        )
        .await;
    assert_eq!(
        (s, e),
        (
            400,
            json!({"errors": ["check-and-set parameter did not match the current version"]})
        )
    );
    let (s, _) = t
        .call(
            "PUT",
            "/v1/secret/data/app/db",
            tok,
            Some(json!({"data": {"user": "bob"}, "options": {"cas": 1}})),
        )
        .await;
    assert_eq!(s, 200);
    // patch needs merge-patch content type
    let (s, e) = t
        .call(
            "PATCH",
            "/v1/secret/data/app/db",
            tok,
            Some(json!({"data": {"pw": "x"}})),
        )
        .await;
    assert_eq!(s, 415, "{e}");
    let (s, _) = t
        .call_ct(
            "PATCH",
            "/v1/secret/data/app/db",
            tok,
            Some(json!({"data": {"pw": "x"}})),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!(s, 200);
    let (_, got) = t.call("GET", "/v1/secret/data/app/db", tok, None).await;
    assert_eq!(got["data"]["data"], json!({"user": "bob", "pw": "x"}));
    assert_eq!(got["data"]["metadata"]["version"], 3);
    let (_, v1) = t
        .call("GET", "/v1/secret/data/app/db?version=1", tok, None)
        .await;
    assert_eq!(v1["data"]["data"]["user"], "alice");

    // list with folders, LIST verb and ?list=true
    t.call(
        "PUT",
        "/v1/secret/data/top",
        tok,
        Some(json!({"data": {"k": "v"}})),
    )
    .await;
    let (s, l) = t.call("LIST", "/v1/secret/metadata/", tok, None).await;
    assert_eq!(
        (s, l["data"]["keys"].clone()),
        (200, json!(["app/", "top"]))
    );
    let (_, l) = t
        .call("GET", "/v1/secret/metadata/app?list=true", tok, None)
        .await;
    assert_eq!(l["data"]["keys"], json!(["db"]));
    let (s, l) = t
        .call("LIST", "/v1/secret/metadata/nothing/", tok, None)
        .await;
    assert_eq!((s, l), (404, json!({"errors": []})));

    // soft delete, undelete, destroy
    let (s, _) = t.call("DELETE", "/v1/secret/data/app/db", tok, None).await;
    assert_eq!(s, 204);
    let (s, gone) = t.call("GET", "/v1/secret/data/app/db", tok, None).await;
    assert_eq!(s, 404);
    assert_ne!(gone["data"]["metadata"]["deletion_time"], "");
    t.call(
        "POST",
        "/v1/secret/undelete/app/db",
        tok,
        Some(json!({"versions": [3]})),
    )
    .await;
    let (s, _) = t.call("GET", "/v1/secret/data/app/db", tok, None).await;
    assert_eq!(s, 200);
    t.call(
        "PUT",
        "/v1/secret/destroy/app/db",
        tok,
        Some(json!({"versions": ["1"]})),
    )
    .await;
    let (_, md) = t.call("GET", "/v1/secret/metadata/app/db", tok, None).await;
    assert_eq!(md["data"]["versions"]["1"]["destroyed"], true);
    assert_eq!(md["data"]["current_version"], 3);
    let want = fixture_keys("kv2-metadata.json");
    if !want.is_empty() {
        assert_eq!(keys(&md), want);
        assert_eq!(
            keys(&md["data"]),
            keys(&fixture("kv2-metadata.json")["data"])
        );
    }

    // metadata: max_versions prunes, custom_metadata, cas_required
    t.call(
        "POST",
        "/v1/secret/metadata/app/db",
        tok,
        Some(json!({"max_versions": 2, "custom_metadata": {"team": "x"}})),
    )
    .await;
    let (_, md) = t.call("GET", "/v1/secret/metadata/app/db", tok, None).await;
    assert_eq!(md["data"]["max_versions"], 2);
    assert_eq!(md["data"]["versions"].as_object().unwrap().len(), 2);
    assert_eq!(md["data"]["oldest_version"], 2);
    assert_eq!(md["data"]["custom_metadata"], json!({"team": "x"}));
    t.call(
        "POST",
        "/v1/secret/config",
        tok,
        Some(json!({"cas_required": true})),
    )
    .await;
    let (s, _) = t
        .call(
            "PUT",
            "/v1/secret/data/new",
            tok,
            Some(json!({"data": {"a": "b"}})),
        )
        .await;
    assert_eq!(s, 400);
    let (_, cfg) = t.call("GET", "/v1/secret/config", tok, None).await;
    assert_eq!(cfg["data"]["cas_required"], true);

    // subkeys
    let (_, sk) = t.call("GET", "/v1/secret/subkeys/app/db", tok, None).await;
    assert_eq!(sk["data"]["subkeys"], json!({"pw": null, "user": null}));

    // delete all metadata
    let (s, _) = t
        .call("DELETE", "/v1/secret/metadata/app/db", tok, None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = t.call("GET", "/v1/secret/data/app/db", tok, None).await;
    assert_eq!(s, 404);

    // the CLI's preflight
    let (s, ui) = t
        .call("GET", "/v1/sys/internal/ui/mounts/secret/foo", tok, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(ui["data"]["options"]["version"], "2");
    assert_eq!(ui["data"]["path"], "secret/");
    let want = fixture_keys("sys-internal-ui-mounts-secret.json");
    if !want.is_empty() {
        assert_eq!(keys(&ui), want);
    }
}

#[tokio::test]
async fn kv_v1_and_mounts() {
    let t = T::dev().await;
    let tok = Some("root");
    let (s, e) = t
        .call(
            "POST",
            "/v1/sys/mounts/kv1",
            tok,
            Some(json!({"type": "kv", "options": {"version": "1"}})),
        )
        .await;
    assert_eq!(s, 204, "{e}");
    let (s, _) = t
        .call(
            "POST",
            "/v1/sys/mounts/kv1",
            tok,
            Some(json!({"type": "kv"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = t
        .call("PUT", "/v1/kv1/a/b", tok, Some(json!({"x": "y"})))
        .await;
    assert_eq!(s, 204);
    let (_, g) = t.call("GET", "/v1/kv1/a/b", tok, None).await;
    assert_eq!(g["data"], json!({"x": "y"}));
    let (_, l) = t.call("LIST", "/v1/kv1/a", tok, None).await;
    assert_eq!(l["data"]["keys"], json!(["b"]));
    let (_, m) = t.call("GET", "/v1/sys/mounts", tok, None).await;
    assert_eq!(m["data"]["kv1/"]["type"], "kv");
    assert_eq!(m["kv1/"]["type"], "kv");
    let (_, tune) = t.call("GET", "/v1/sys/mounts/kv1/tune", tok, None).await;
    assert_eq!(tune["data"]["max_lease_ttl"], 2_764_800);
    t.call(
        "POST",
        "/v1/sys/mounts/kv1/tune",
        tok,
        Some(json!({"default_lease_ttl": "1h", "max_lease_ttl": 8600})),
    )
    .await;
    let (_, tune) = t.call("GET", "/v1/sys/mounts/kv1/tune", tok, None).await;
    assert_eq!(
        (
            tune["data"]["default_lease_ttl"].clone(),
            tune["data"]["max_lease_ttl"].clone()
        ),
        (json!(3600), json!(8600))
    );
    let (s, _) = t.call("DELETE", "/v1/sys/mounts/kv1", tok, None).await;
    assert_eq!(s, 204);
    let (s, _) = t.call("GET", "/v1/kv1/a/b", tok, None).await;
    assert_eq!(s, 404);
    let (s, _) = t.call("DELETE", "/v1/sys/mounts/sys", tok, None).await;
    assert_eq!(s, 400);
    let (s, _) = t.call("GET", "/v1/nope/x", tok, None).await;
    assert_eq!(s, 404);
    let (s, _) = t.call("OPTIONS", "/v1/secret/data/x", tok, None).await;
    assert_eq!(s, 405);
}

#[tokio::test]
async fn policies_limit_tokens() {
    let t = T::dev().await;
    let tok = Some("root");
    let (s, _) = t
        .call("PUT", "/v1/sys/policies/acl/reader", tok, Some(json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }\npath \"secret/data/app/admin\" { capabilities = [\"deny\"] }"})))
        .await;
    assert_eq!(s, 204);
    let (s, _) = t
        .call(
            "PUT",
            "/v1/sys/policy/bad",
            tok,
            Some(json!({"policy": "path \"x\" { capabilities = [\"fly\"] }"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = t
        .call(
            "PUT",
            "/v1/sys/policy/legacy",
            tok,
            Some(json!({"policy": "{\"path\":{\"secret/*\":{\"policy\":\"write\"}}}"})),
        )
        .await;
    assert_eq!(s, 204);
    let (_, lp) = t.call("GET", "/v1/sys/policy/legacy", tok, None).await;
    assert!(lp["rules"].as_str().unwrap().contains("secret/*"));
    let (_, list) = t.call("GET", "/v1/sys/policy", tok, None).await;
    assert_eq!(
        list["policies"],
        json!(["default", "legacy", "reader", "root"])
    );
    t.call(
        "PUT",
        "/v1/secret/data/app/x",
        tok,
        Some(json!({"data": {"k": "v"}})),
    )
    .await;
    t.call(
        "PUT",
        "/v1/secret/data/app/admin",
        tok,
        Some(json!({"data": {"k": "v"}})),
    )
    .await;
    let (_, c) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            tok,
            Some(json!({"policies": ["reader"], "ttl": "1h"})),
        )
        .await;
    let child = c["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(c["auth"]["policies"], json!(["default", "reader"]));
    assert_eq!(c["auth"]["lease_duration"], 3600);
    let want = fixture_keys("token-create.json");
    if !want.is_empty() {
        assert_eq!(keys(&c), want);
        assert_eq!(
            keys(&c["auth"]),
            keys(&fixture("token-create.json")["auth"])
        );
    }
    let (s, _) = t
        .call("GET", "/v1/secret/data/app/x", Some(&child), None)
        .await;
    assert_eq!(s, 200);
    let (s, e) = t
        .call("GET", "/v1/secret/data/app/admin", Some(&child), None)
        .await;
    assert_eq!((s, e), (403, json!({"errors": ["permission denied"]})));
    let (s, _) = t
        .call(
            "PUT",
            "/v1/secret/data/app/x",
            Some(&child),
            Some(json!({"data": {}})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = t
        .call("GET", "/v1/secret/data/other", Some(&child), None)
        .await;
    assert_eq!(s, 403);
    let (s, _) = t.call("GET", "/v1/sys/mounts", Some(&child), None).await;
    assert_eq!(s, 403);
    // the default policy lets it look itself up; Bearer works too
    let req = Request::builder()
        .uri("/v1/auth/token/lookup-self")
        .header("authorization", format!("Bearer {child}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        t.router
            .clone()
            .oneshot(req)
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let (_, caps) = t
        .call(
            "POST",
            "/v1/sys/capabilities-self",
            Some(&child),
            Some(json!({"paths": ["secret/data/app/x"]})),
        )
        .await;
    assert_eq!(caps["capabilities"], json!(["read"]));
    // no token / a bad token
    let (s, e) = t.call("GET", "/v1/secret/data/app/x", None, None).await;
    assert_eq!((s, e), (403, json!({"errors": ["permission denied"]})));
    let (s, _) = t
        .call("GET", "/v1/secret/data/app/x", Some("hvs.nope"), None)
        .await;
    assert_eq!(s, 403);
    // child cannot mint broader tokens, or seal
    let (s, _) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(&child),
            Some(json!({"policies": ["root"]})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = t.call("PUT", "/v1/sys/seal", Some(&child), None).await;
    assert_eq!(s, 403);
    let (s, _) = t.call("DELETE", "/v1/sys/policy/root", tok, None).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn token_lifecycle() {
    let t = T::dev().await;
    let tok = Some("root");
    let (_, lk) = t.call("GET", "/v1/auth/token/lookup-self", tok, None).await;
    assert_eq!(lk["data"]["policies"], json!(["root"]));
    assert_eq!(lk["data"]["id"], "root");
    let want = fixture_keys("token-lookup-self.json");
    if !want.is_empty() {
        assert_eq!(keys(&lk), want);
        assert_eq!(
            keys(&lk["data"]),
            keys(&fixture("token-lookup-self.json")["data"])
        );
    }
    // parent -> child; revoking the parent revokes the child
    t.call(
        "PUT",
        "/v1/sys/policy/creator",
        tok,
        Some(json!({"policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"})),
    )
    .await;
    let (_, p) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            tok,
            Some(json!({"policies": ["creator"], "ttl": "1h"})),
        )
        .await;
    let parent = p["auth"]["client_token"].as_str().unwrap().to_owned();
    let (_, c) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(&parent),
            Some(json!({"ttl": "10m"})),
        )
        .await;
    let child = c["auth"]["client_token"].as_str().unwrap().to_owned();
    let (_, o) = t
        .call(
            "POST",
            "/v1/auth/token/create-orphan",
            tok,
            Some(json!({"ttl": "10m"})),
        )
        .await;
    assert_eq!(o["auth"]["orphan"], true);
    let orphan = o["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, _) = t
        .call("GET", "/v1/auth/token/lookup-self", Some(&child), None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = t
        .call(
            "POST",
            "/v1/auth/token/revoke",
            tok,
            Some(json!({"token": parent})),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = t
        .call("GET", "/v1/auth/token/lookup-self", Some(&child), None)
        .await;
    assert_eq!(s, 403);
    let (s, _) = t
        .call("GET", "/v1/auth/token/lookup-self", Some(&orphan), None)
        .await;
    assert_eq!(s, 200);

    // accessors
    let accessor = o["auth"]["accessor"].as_str().unwrap().to_owned();
    let (_, la) = t
        .call(
            "POST",
            "/v1/auth/token/lookup-accessor",
            tok,
            Some(json!({"accessor": accessor})),
        )
        .await;
    assert_eq!(la["data"]["id"], "");
    assert_eq!(la["data"]["accessor"], accessor.as_str());
    let (_, renewed) = t
        .call(
            "POST",
            "/v1/auth/token/renew-self",
            Some(&orphan),
            Some(json!({"increment": "5m"})),
        )
        .await;
    assert_eq!(renewed["auth"]["lease_duration"], 300);
    t.call(
        "POST",
        "/v1/auth/token/revoke-accessor",
        tok,
        Some(json!({"accessor": accessor})),
    )
    .await;
    let (s, _) = t
        .call("GET", "/v1/auth/token/lookup-self", Some(&orphan), None)
        .await;
    assert_eq!(s, 403);

    // num_uses: the lookup itself is a use
    let (_, n) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            tok,
            Some(json!({"num_uses": 2})),
        )
        .await;
    let limited = n["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        t.call("GET", "/v1/auth/token/lookup-self", Some(&limited), None)
            .await
            .0,
        200
    );
    assert_eq!(
        t.call("GET", "/v1/auth/token/lookup-self", Some(&limited), None)
            .await
            .0,
        200
    );
    assert_eq!(
        t.call("GET", "/v1/auth/token/lookup-self", Some(&limited), None)
            .await
            .0,
        403
    );

    // explicit max ttl caps, periodic tokens
    let (_, e) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            tok,
            Some(json!({"ttl": "30m", "explicit_max_ttl": "5m"})),
        )
        .await;
    assert_eq!(e["auth"]["lease_duration"], 300);
    let (_, pt) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            tok,
            Some(json!({"period": "30m"})),
        )
        .await;
    let periodic = pt["auth"]["client_token"].as_str().unwrap().to_owned();
    let (_, l) = t
        .call(
            "POST",
            "/v1/auth/token/lookup",
            tok,
            Some(json!({"token": periodic})),
        )
        .await;
    assert_eq!(l["data"]["period"], 1800);

    // expired tokens stop working (a 1s TTL)
    let (_, short) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            tok,
            Some(json!({"ttl": "1s"})),
        )
        .await;
    let short = short["auth"]["client_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        t.call("GET", "/v1/auth/token/lookup-self", Some(&short), None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn approle_login() {
    let t = T::dev().await;
    let tok = Some("root");
    let (s, e) = t
        .call(
            "POST",
            "/v1/sys/auth/approle",
            tok,
            Some(json!({"type": "approle"})),
        )
        .await;
    assert_eq!(s, 204, "{e}");
    t.call(
        "PUT",
        "/v1/sys/policy/app",
        tok,
        Some(json!({"policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"})),
    )
    .await;
    let (s, _) = t
        .call(
            "POST",
            "/v1/auth/approle/role/web",
            tok,
            Some(json!({"token_policies": ["app"], "token_ttl": "20m"})),
        )
        .await;
    assert_eq!(s, 204);
    let (s, e) = t
        .call(
            "POST",
            "/v1/auth/approle/role/web",
            tok,
            Some(json!({"token_type": "bad_token"})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        e["errors"][0]
            .as_str()
            .unwrap()
            .contains("unsupported token_type")
    );
    t.call(
        "POST",
        "/v1/auth/approle/role/web/role-id",
        tok,
        Some(json!({"role_id": "my-role-id"})),
    )
    .await;
    let (_, rid) = t
        .call("GET", "/v1/auth/approle/role/web/role-id", tok, None)
        .await;
    assert_eq!(rid["data"]["role_id"], "my-role-id");
    let (_, sid) = t
        .call(
            "POST",
            "/v1/auth/approle/role/web/secret-id",
            tok,
            Some(json!({"metadata": "{\"a\":\"b\"}", "num_uses": 2})),
        )
        .await;
    let secret = sid["data"]["secret_id"].as_str().unwrap().to_owned();
    let (_, l) = t
        .call("LIST", "/v1/auth/approle/role/web/secret-id", tok, None)
        .await;
    assert_eq!(
        l["data"]["keys"],
        json!([sid["data"]["secret_id_accessor"]])
    );
    let (s, login) = t
        .call(
            "POST",
            "/v1/auth/approle/login",
            None,
            Some(json!({"role_id": "my-role-id", "secret_id": secret})),
        )
        .await;
    assert_eq!(s, 200, "{login}");
    assert_eq!(login["auth"]["policies"], json!(["app", "default"]));
    assert_eq!(login["auth"]["lease_duration"], 1200);
    assert_eq!(login["auth"]["metadata"]["role_name"], "web");
    let (s, _) = t
        .call(
            "POST",
            "/v1/auth/approle/login",
            None,
            Some(json!({"role_id": "my-role-id", "secret_id": "wrong"})),
        )
        .await;
    assert_eq!(s, 400);
    // second use consumes it
    assert_eq!(
        t.call(
            "POST",
            "/v1/auth/approle/login",
            None,
            Some(json!({"role_id": "my-role-id", "secret_id": secret}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        t.call(
            "POST",
            "/v1/auth/approle/login",
            None,
            Some(json!({"role_id": "my-role-id", "secret_id": secret}))
        )
        .await
        .0,
        400
    );
    let (s, _) = t
        .call(
            "POST",
            "/v1/auth/approle/login",
            None,
            Some(json!({"role_id": "x"})),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn nothing_secret_reaches_storage_in_clear_and_rotation_keeps_values() {
    let t = T::dev().await;
    let tok = Some("root");
    t.call(
        "PUT",
        "/v1/secret/data/db",
        tok,
        Some(json!({"data": {"password": "CorrectHorseBatteryStaple"}})),
    )
    .await;
    let (_, c) = t
        .call("POST", "/v1/auth/token/create", tok, Some(json!({})))
        .await;
    let token = c["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, _) = t.call("PUT", "/v1/sys/rotate", tok, None).await;
    assert_eq!(s, 204);
    let (_, ks) = t.call("GET", "/v1/sys/key-status", tok, None).await;
    assert_eq!(ks["data"]["term"], 2);
    t.call(
        "PUT",
        "/v1/secret/data/db2",
        tok,
        Some(json!({"data": {"password": "AnotherOne"}})),
    )
    .await;
    let rows = t.ctx.storage.scan("").await.unwrap();
    assert!(rows.len() > 5);
    for (k, v) in &rows {
        let text = String::from_utf8_lossy(v);
        assert!(
            !text.contains("CorrectHorse") && !text.contains("AnotherOne"),
            "{k}"
        );
        assert!(!text.contains(&token) && !k.contains(&token), "{k}");
        assert!(
            !text.contains("root") || k.starts_with("core/seal") || k == "core/cluster",
            "{k}"
        );
    }
    let (_, g) = t.call("GET", "/v1/secret/data/db", tok, None).await;
    assert_eq!(g["data"]["data"]["password"], "CorrectHorseBatteryStaple");
    let (_, g) = t.call("GET", "/v1/secret/data/db2", tok, None).await;
    assert_eq!(g["data"]["data"]["password"], "AnotherOne");
}

#[tokio::test]
async fn restart_reopens_with_the_dev_key_and_keeps_data() {
    let ctx = Context::for_tests().await;
    let config = Config {
        dev: true,
        dev_root_token: Some("r00t".into()),
        ..Config::default()
    };
    let first = start(&config, &ctx).await.unwrap();
    let t1 = T {
        router: first,
        ctx: ctx.clone(),
    };
    t1.call(
        "PUT",
        "/v1/secret/data/keep",
        Some("r00t"),
        Some(json!({"data": {"v": "1"}})),
    )
    .await;
    // a second service over the same storage: sealed state is rebuilt from storage
    let second = start(&config, &ctx).await.unwrap();
    let t2 = T {
        router: second,
        ctx,
    };
    let (s, g) = t2
        .call("GET", "/v1/secret/data/keep", Some("r00t"), None)
        .await;
    assert_eq!((s, g["data"]["data"]["v"].clone()), (200, json!("1")));
}

#[test]
fn config_example_parses_to_default() {
    #[derive(serde::Deserialize)]
    struct Doc {
        secrets: Config,
    }
    let doc: Doc = toml::from_str(crate::CONFIG_EXAMPLE).unwrap();
    assert_eq!(doc.secrets, Config::default());
    assert!(Config::default().validate().is_ok());
    let bad = Config {
        default_lease_ttl: "soon".into(),
        ..Config::default()
    };
    assert_eq!(bad.validate().unwrap_err().key, "default_lease_ttl");
}

#[tokio::test]
async fn audit_device_wrapping_and_token_roles() {
    let t = T::dev().await;
    let tok = Some("root");
    let log = t.ctx.data_dir.join("audit.log");
    let (s, e) = t
        .call(
            "PUT",
            "/v1/sys/audit/file",
            tok,
            Some(json!({"type": "file", "options": {"file_path": log.display().to_string()}})),
        )
        .await;
    assert_eq!(s, 204, "{e}");
    let (_, list) = t.call("GET", "/v1/sys/audit", tok, None).await;
    assert_eq!(list["data"]["file/"]["type"], "file");
    t.call(
        "PUT",
        "/v1/secret/data/audited",
        tok,
        Some(json!({"data": {"pw": "AuditedSecretValue"}})),
    )
    .await;
    let (_, h) = t
        .call(
            "POST",
            "/v1/sys/audit-hash/file",
            tok,
            Some(json!({"input": "AuditedSecretValue"})),
        )
        .await;
    let hash = h["data"]["hash"].as_str().unwrap().to_owned();
    assert!(hash.starts_with("hmac-sha256:"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() >= 4);
    assert!(!text.contains("AuditedSecretValue") && !text.contains("\"root\"\"client_token\""));
    assert!(
        text.contains(&hash),
        "the audit log carries the HMAC of the value"
    );
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["type"] == "request" || v["type"] == "response");
        assert!(
            v["auth"]["client_token"]
                .as_str()
                .unwrap()
                .starts_with("hmac-sha256:")
        );
    }
    let (s, e) = t
        .call(
            "POST",
            "/v1/sys/audit-hash/nope",
            tok,
            Some(json!({"input": "x"})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        e["errors"][0]
            .as_str()
            .unwrap()
            .contains("unknown audit backend")
    );
    assert_eq!(
        t.call("DELETE", "/v1/sys/audit/file", tok, None).await.0,
        204
    );

    // response wrapping: the answer is only in the wrapping token, which works once
    let req = Request::builder()
        .method("POST")
        .uri("/v1/auth/token/create")
        .header("x-vault-token", "root")
        .header("x-vault-wrap-ttl", "15m")
        .body(Body::from(json!({"period": "30m"}).to_string()))
        .unwrap();
    let resp = t.router.clone().oneshot(req).await.unwrap();
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["auth"], Value::Null);
    assert_eq!(body["wrap_info"]["ttl"], 900);
    let wrapping = body["wrap_info"]["token"].as_str().unwrap().to_owned();
    let (s, un) = t
        .call(
            "POST",
            "/v1/sys/wrapping/unwrap",
            tok,
            Some(json!({"token": wrapping})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(un["auth"]["lease_duration"], 1800);
    let (s, _) = t
        .call(
            "POST",
            "/v1/sys/wrapping/unwrap",
            tok,
            Some(json!({"token": wrapping})),
        )
        .await;
    assert_eq!(s, 400);

    // token roles
    let (s, _) = t.call("LIST", "/v1/auth/token/roles", tok, None).await;
    assert_eq!(s, 404);
    t.call(
        "PUT",
        "/v1/sys/policy/p1",
        tok,
        Some(json!({"policy": "path \"a\" { capabilities = [\"read\"] }"})),
    )
    .await;
    assert_eq!(
        t.call(
            "POST",
            "/v1/auth/token/roles/r",
            tok,
            Some(json!({"allowed_policies": ["p1"]}))
        )
        .await
        .0,
        204
    );
    let (_, l) = t.call("LIST", "/v1/auth/token/roles", tok, None).await;
    assert_eq!(l["data"]["keys"], json!(["r"]));
    let (_, c) = t
        .call(
            "POST",
            "/v1/auth/token/create/r",
            tok,
            Some(json!({"ttl": "1h"})),
        )
        .await;
    assert_eq!(c["auth"]["policies"], json!(["default", "p1"]));
    let (s, _) = t
        .call(
            "POST",
            "/v1/auth/token/create/r",
            tok,
            Some(json!({"policies": ["other"]})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        t.call("DELETE", "/v1/auth/token/roles/r", tok, None)
            .await
            .0,
        204
    );
}

#[tokio::test]
async fn the_token_counter_counts_the_store_in_vaults_shape() {
    let t = T::dev().await;
    let tok = Some("root");
    let total = |v: &Value| v["data"]["counters"]["service_tokens"]["total"].clone();
    let (s, v) = t
        .call("GET", "/v1/sys/internal/counters/tokens", tok, None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(total(&v), json!(1), "{v}");
    for k in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(v.get(k).is_some(), "no {k} in {v}");
    }
    let (_, c) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            tok,
            Some(json!({"ttl": "1h"})),
        )
        .await;
    let child = c["auth"]["client_token"].as_str().unwrap().to_owned();
    t.call(
        "POST",
        "/v1/auth/token/create",
        tok,
        Some(json!({"ttl": "1h"})),
    )
    .await;
    let (_, v) = t
        .call("GET", "/v1/sys/internal/counters/tokens", tok, None)
        .await;
    assert_eq!(total(&v), json!(3));
    t.call("POST", "/v1/auth/token/revoke-self", Some(&child), None)
        .await;
    let (_, v) = t
        .call("GET", "/v1/sys/internal/counters/tokens", tok, None)
        .await;
    assert_eq!(total(&v), json!(2));
    // A token without a policy for it is refused, as in Vault.
    let (_, c) = t
        .call(
            "POST",
            "/v1/auth/token/create",
            tok,
            Some(json!({"policies": ["default"], "no_default_policy": false})),
        )
        .await;
    let plain = c["auth"]["client_token"].as_str().unwrap().to_owned();
    let (s, _) = t
        .call(
            "GET",
            "/v1/sys/internal/counters/tokens",
            Some(&plain),
            None,
        )
        .await;
    assert_eq!(s, 403);
}
