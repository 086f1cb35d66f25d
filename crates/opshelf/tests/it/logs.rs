//! The logs capability end to end: protobuf+snappy pushes survive `kill -9` once
//! acknowledged (204), `tail` delivers a pushed line within a second, and the file tailer
//! reads every line exactly once through appends, both rotations and a `kill -9` restart,
//! and reads Docker's json-file logs with the container's name.

use std::io::Write;
use std::time::{Duration, Instant};

use opshelf_logs::logql_adapter::Labels;
use opshelf_logs::push::{Entry, PushStream, proto};

use crate::support::{Options, Server};

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn batch(app: &str, from: usize, n: usize, t0: i64) -> Vec<u8> {
    proto::encode(&[PushStream {
        labels: Labels::new(vec![("app".into(), app.into())]),
        entries: (from..from + n)
            .map(|i| Entry {
                ts_ns: t0 + i as i64,
                line: format!("line {i:06}"),
                metadata: Vec::new(),
            })
            .collect(),
    }])
}

/// A forward `query_range` answer.
async fn query_range(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    start: i64,
    end: i64,
    limit: usize,
) -> serde_json::Value {
    client
        .get(format!("{url}/loki/api/v1/query_range"))
        .query(&[
            ("query", query.to_owned()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("limit", limit.to_string()),
            ("direction", "forward".into()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every line of `{app=...}` in the last hour, oldest first (paged: 5000 per query).
async fn read_all(url: &str, app: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    let mut start = now_ns() - 3_600_000_000_000;
    let end = now_ns() + 60_000_000_000;
    loop {
        let v = query_range(
            &client,
            url,
            &format!("{{app=\"{app}\"}}"),
            start,
            end,
            5000,
        )
        .await;
        let mut page: Vec<(i64, String)> = Vec::new();
        for s in v["data"]["result"].as_array().unwrap() {
            for e in s["values"].as_array().unwrap() {
                page.push((
                    e[0].as_str().unwrap().parse().unwrap(),
                    e[1].as_str().unwrap().to_owned(),
                ));
            }
        }
        page.sort();
        let n = page.len();
        if let Some((t, _)) = page.last() {
            start = t + 1;
        }
        out.extend(page.into_iter().map(|(_, l)| l));
        if n < 5000 {
            return out;
        }
    }
}

#[tokio::test]
async fn kill_9_during_ingest_loses_no_acknowledged_line() {
    let srv = Server::start("[logs]\nenabled = true\n").await;
    let url = srv.url("logs");
    let t0 = now_ns() - 60_000_000_000;
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pusher = {
        let (url, acked) = (url.clone(), acked.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for b in 0..2000usize {
                let r = client
                    .post(format!("{url}/loki/api/v1/push"))
                    .header("content-type", "application/x-protobuf")
                    .body(batch("crash", b * 100, 100, t0))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 204 => {
                        acked.store((b + 1) * 100, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => return,
                }
            }
        })
    };
    // let some batches through, then kill mid-stream
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 3000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dir = srv.kill9();
    let _ = pusher.await;
    let acked = acked.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        acked >= 3000,
        "only {acked} lines acknowledged before the kill"
    );
    let srv = Server::start_with(
        "[logs]\nenabled = true\n",
        Options {
            dir: Some(dir),
            ..Options::default()
        },
    )
    .await;
    let got = read_all(&srv.url("logs"), "crash").await;
    assert!(
        got.len() >= acked,
        "{} lines back, {acked} acknowledged",
        got.len()
    );
    for (i, l) in got.iter().enumerate() {
        assert_eq!(
            *l,
            format!("line {i:06}"),
            "line {i} missing, repeated or out of order"
        );
    }
}

#[tokio::test]
async fn tail_delivers_a_pushed_line_within_a_second() {
    use tokio_tungstenite::tungstenite::Message;
    let srv = Server::start("[logs]\nenabled = true\n").await;
    let url = srv.url("logs");
    let ws_url = format!(
        "{}/loki/api/v1/tail?query=%7Bapp%3D%22live%22%7D%20%7C%3D%20%22wanted%22",
        url.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let body = format!(
        r#"{{"streams":[{{"stream":{{"app":"live"}},"values":[["{}","not this"],["{}","wanted line"]]}}]}}"#,
        now_ns(),
        now_ns() + 1
    );
    let sent = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{url}/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let msg = tokio::time::timeout(Duration::from_secs(1), async {
        use futures_util::StreamExt;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return t.to_string(),
                Some(Ok(_)) => {}
                other => panic!("tail ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a tail message within 1 s");
    assert!(sent.elapsed() < Duration::from_secs(1));
    let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
    assert_eq!(v["streams"][0]["stream"]["app"], "live");
    let values = v["streams"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 1, "{v}");
    assert_eq!(values[0][1], "wanted line");
}

fn append(path: &std::path::Path, from: usize, n: usize) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in from..from + n {
        writeln!(f, "tailed {i:05}").unwrap();
    }
}

async fn wait_for(url: &str, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = read_all(url, "tailtest").await;
        if got.len() >= want || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tailing_survives_both_rotations_and_kill_9_with_every_line_once() {
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("app.log");
    let config = format!(
        "[logs]\nenabled = true\n[logs.tail]\nenabled = true\npoll_interval_ms = 50\nbatch_lines = 7\n[[logs.tail.targets]]\npaths = [\"{}/*.log\"]\nlabels = {{ app = \"tailtest\" }}\n",
        logs.path().display()
    );
    append(&file, 0, 100);
    let srv = Server::start(&config).await;
    let url = srv.url("logs");
    assert_eq!(wait_for(&url, 100).await.len(), 100);
    // rename + create
    append(&file, 100, 50);
    std::fs::rename(&file, logs.path().join("app.log.1")).unwrap();
    append(&logs.path().join("app.log.1"), 150, 10); // written to the old inode after the rename
    append(&file, 160, 40);
    assert_eq!(wait_for(&url, 200).await.len(), 200);
    // copytruncate
    std::fs::copy(&file, logs.path().join("app.log.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    append(&file, 200, 30);
    assert_eq!(wait_for(&url, 230).await.len(), 230);
    // kill -9 while lines keep coming, restart on the same data dir and positions
    append(&file, 230, 500);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let dir = srv.kill9();
    append(&file, 730, 20);
    let srv = Server::start_with(
        &config,
        Options {
            dir: Some(dir),
            ..Options::default()
        },
    )
    .await;
    let got = wait_for(&srv.url("logs"), 750).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got2 = read_all(&srv.url("logs"), "tailtest").await;
    assert_eq!(got, got2, "lines still arriving after all were read");
    let want: Vec<String> = (0..750).map(|i| format!("tailed {i:05}")).collect();
    assert_eq!(got.len(), want.len(), "lost or repeated lines");
    assert_eq!(got, want);
}

/// Lines of `query` in the last hour as (time, stream label, line), oldest first.
async fn read_query(url: &str, query: &str) -> Vec<(i64, String, String)> {
    let (start, end) = (now_ns() - 3_600_000_000_000, now_ns() + 60_000_000_000);
    let v = query_range(&reqwest::Client::new(), url, query, start, end, 1000).await;
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let stream = s["stream"]["stream"].as_str().unwrap_or("").to_owned();
        for e in s["values"].as_array().unwrap() {
            out.push((
                e[0].as_str().unwrap().parse().unwrap(),
                stream.clone(),
                e[1].as_str().unwrap().to_owned(),
            ));
        }
    }
    out.sort();
    out
}

fn rfc3339(ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn docker_json_file_logs_get_the_container_name_and_their_own_times() {
    // A Docker data root as the daemon lays it out: one directory per container with its
    // `config.v2.json` and `<id>-json.log`.
    let root = tempfile::tempdir().unwrap();
    let t0 = now_ns() - 60_000_000_000;
    let container = |id: &str, name: &str, lines: &[(&str, &str, i64)]| {
        let dir = root.path().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.v2.json"),
            serde_json::json!({"ID": id, "Name": format!("/{name}"), "Config": {"Image": "x"}})
                .to_string(),
        )
        .unwrap();
        let mut f = std::fs::File::create(dir.join(format!("{id}-json.log"))).unwrap();
        for (log, stream, ns) in lines {
            let entry = serde_json::json!({"log": log, "stream": stream, "time": rfc3339(*ns)});
            writeln!(f, "{entry}").unwrap();
        }
    };
    container(
        "aaaa1111",
        "workshelf-backend",
        &[
            ("GET /api/shelves 200\n", "stdout", t0),
            // Docker splits lines over 16 KiB into partial entries with no trailing newline.
            ("Traceback: part one, ", "stderr", t0 + 1_000),
            ("part two\n", "stderr", t0 + 2_000),
            ("POST /api/books 201\r\n", "stdout", t0 + 3_000),
        ],
    );
    container(
        "bbbb2222",
        "workshelf-frontend",
        &[("GET / 200\n", "stdout", t0 + 5_000)],
    );
    let config = format!(
        "[logs]\nenabled = true\n[logs.tail]\nenabled = true\npoll_interval_ms = 50\n[[logs.tail.targets]]\npaths = [\"{}/*/*-json.log\"]\ndocker = true\nlabels = {{ job = \"docker\" }}\n",
        root.path().display()
    );
    let srv = Server::start(&config).await;
    let url = srv.url("logs");
    let query = r#"{container="workshelf-backend"}"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = read_query(&url, query).await;
    while got.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = read_query(&url, query).await;
    }
    assert_eq!(
        got,
        [
            (t0, "stdout".into(), "GET /api/shelves 200".into()),
            // A joined line carries the time of its last part (when it was complete).
            (
                t0 + 2_000,
                "stderr".into(),
                "Traceback: part one, part two".into()
            ),
            (t0 + 3_000, "stdout".into(), "POST /api/books 201".into()),
        ]
    );
    let front = read_query(&url, r#"{job="docker", container="workshelf-frontend"}"#).await;
    assert_eq!(front, [(t0 + 5_000, "stdout".into(), "GET / 200".into())]);
}

/// A tailed file whose lines carry their own times (a timestamp stage) and some are older
/// than `reject_old_samples_max_age_secs`: those are dropped, the others stored, and the
/// tailer goes on with the file instead of retrying the refused batch.
#[tokio::test]
async fn tailed_lines_older_than_a_week_are_dropped_and_tailing_goes_on() {
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("app.log");
    let config = format!(
        "[logs]\nenabled = true\n[logs.tail]\nenabled = true\npoll_interval_ms = 50\n[[logs.tail.targets]]\npaths = [\"{}/*.log\"]\nlabels = {{ app = \"oldtail\" }}\n[[logs.tail.targets.pipeline]]\nstage = \"regex\"\nexpression = '^(?P<ts>\\S+) (?P<msg>.*)$'\n[[logs.tail.targets.pipeline]]\nstage = \"timestamp\"\nsource = \"ts\"\nformat = \"RFC3339Nano\"\n",
        logs.path().display()
    );
    let (now, day) = (now_ns(), 86_400_000_000_000i64);
    let write = |lines: &[(i64, &str)]| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap();
        for (ts, msg) in lines {
            writeln!(f, "{} {msg}", rfc3339(*ts)).unwrap();
        }
    };
    write(&[
        (now - 8 * day, "old 1"),
        (now - 60_000_000_000, "fresh 1"),
        (now - 30 * day, "old 2"),
        (now - 30_000_000_000, "fresh 2"),
    ]);
    let srv = Server::start(&config).await;
    let url = srv.url("logs");
    let read = || async {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got: Vec<String> = read_query(&url, r#"{app="oldtail"}"#)
                .await
                .into_iter()
                .map(|(_, _, l)| l)
                .collect();
            if got.len() >= 3 || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    write(&[(now - 10 * day, "old 3"), (now_ns(), "fresh 3")]);
    let got = read().await;
    let msgs: Vec<&str> = got.iter().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(msgs, ["fresh 1", "fresh 2", "fresh 3"], "{got:?}");
    // the refused batches were not retried: the counter says the three old lines were dropped
    let m = reqwest::get(format!("{}/metrics", srv.url("admin")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("entries_out_of_window_total 3"), "{m}");
}
