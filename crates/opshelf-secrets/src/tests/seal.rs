//! Initialisation, unsealing, encryption at rest and restarts.

use super::*;

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
