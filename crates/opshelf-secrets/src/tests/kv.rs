//! The KV v1 and v2 engines and mounts.

use super::*;

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
