//! Policies, tokens, AppRole and the token counter.

use super::*;

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
