//! Audit devices, response wrapping and token roles.

use super::*;

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
