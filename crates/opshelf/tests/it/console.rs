//! End-to-end tests of the console: the real binary, its own listener, the UI mounted at `/`
//! of the flags and Jaeger listeners, and flags managed through the console's same-origin proxy.

use serde_json::{Value, json};

use crate::support::{Options, Server};

const ADMIN: &str = "*:*.e2e-console-admin";
const PASSWORD: &str = "e2e-console-password";

async fn start() -> Server {
    let config = format!(
        "[console]\nenabled = true\nflags_admin_token = \"{ADMIN}\"\n[flags]\nenabled = true\ninit_admin_api_tokens = [\"{ADMIN}\"]\n[traces]\nenabled = true\n"
    );
    Server::start_with(
        &config,
        Options {
            env: vec![(
                "OPSHELF_CONSOLE__ADMIN_PASSWORD".to_owned(),
                PASSWORD.to_owned(),
            )],
            ..Options::default()
        },
    )
    .await
}

#[tokio::test]
async fn the_console_signs_in_manages_flags_through_its_proxy_and_opens_on_the_flags_listener() {
    let srv = start().await;
    let console = srv.url("console");
    let http = reqwest::Client::new();

    // No session: nothing.
    let r = http
        .get(format!(
            "{console}/console/api/proxy/flags/projects/default/features"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = http
        .post(format!("{console}/console/api/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let csrf = r.json::<Value>().await.unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();

    // Create a flag through the console; the flags API (with the admin token the console adds)
    // has it.
    let r = http
        .post(format!(
            "{console}/console/api/proxy/flags/projects/default/features"
        ))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "from-the-console", "type": "release"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let flags = srv.url("flags");
    let got: Value = http
        .get(format!(
            "{flags}/api/admin/projects/default/features/from-the-console"
        ))
        .header("authorization", ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], "from-the-console");

    // The console's audit stream names who did it.
    let audit: Value = http
        .get(format!("{console}/console/api/audit"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["user"] == "admin" && e["action"] == "flags.POST"),
        "{audit}"
    );

    // The same UI at / of the flags listener opens on the flags page; the flags API is intact.
    let page = http.get(format!("{flags}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(r#"content="flags""#));
    let health = http.get(format!("{flags}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let missing = http.get(format!("{flags}/api/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let asset = http
        .get(format!("{flags}/console/assets/js/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 200);

    // And at / of the Jaeger listener (:16686), opening on the traces page; Jaeger's API
    // is intact.
    let jaeger = srv.url("traces-query");
    let page = http.get(format!("{jaeger}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(r#"content="traces""#));
    let services: Value = http
        .get(format!("{jaeger}/api/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(services["data"].is_array(), "{services}");

    // The overview reads the platform: both capabilities and their listeners.
    let ov: Value = http
        .get(format!("{console}/console/api/overview"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = ov["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"flags") && names.contains(&"console"),
        "{names:?}"
    );
    assert!(
        ov["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "active_flags" && m["value"] == 0.0)
    );
}
