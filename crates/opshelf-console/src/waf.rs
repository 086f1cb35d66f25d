//! The WAF page's figures from the WAF's ModSecurity-format JSON audit log
//! (`[waf] audit_log`, pointed to by `[console] waf_audit_log`): recent blocked requests
//! with their matched rules, top rules, top client addresses. Only the file's last
//! [`TAIL_BYTES`] are read, so a big log costs a bounded read per page load.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

/// How much of the log's end is read.
pub const TAIL_BYTES: u64 = 2 * 1024 * 1024;
/// Blocked requests listed.
pub const RECENT: usize = 50;

/// A rule that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matched {
    pub id: String,
    pub message: String,
    /// What matched, in which part of the request (`Matched "x" within ARGS:q`).
    #[serde(rename = "match")]
    pub matched: String,
    pub data: String,
    pub severity: String,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub time: String,
    pub id: String,
    pub client_ip: String,
    pub method: String,
    pub uri: String,
    pub status: u64,
    /// The engine mode that handled it (`On`, `DetectionOnly`), from the record's producer.
    pub engine: String,
    /// Refused by the WAF: a 403 under an engine that blocks (on a DetectionOnly route a 403
    /// is the upstream's own answer).
    pub blocked: bool,
    /// The inbound anomaly score, when the CRS's blocking rule says it.
    pub anomaly_score: Option<u64>,
    pub rules: Vec<Matched>,
}

/// What the page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Entries read (flagged or blocked requests).
    pub entries: u64,
    pub blocked: u64,
    /// Flagged but let through (detection only, or under the threshold).
    pub flagged: u64,
    pub recent_blocked: Vec<Entry>,
    pub top_rules: Vec<(String, String, u64)>,
    pub top_clients: Vec<(String, u64)>,
    /// The log could not be read: why.
    pub error: Option<String>,
}

fn s(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// One line of the log, if it is an audit record.
#[must_use]
pub fn parse_line(line: &str) -> Option<Entry> {
    let v: Value = serde_json::from_str(line).ok()?;
    let t = v.get("transaction")?;
    let status = t
        .pointer("/response/http_code")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let engine = s(t, "/producer/secrules_engine");
    let mut rules = Vec::new();
    let mut score = None;
    for m in t
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let message = s(m, "/message");
        let data = s(m, "/details/data");
        if score.is_none() {
            score = total_score(&message).or_else(|| total_score(&data));
        }
        rules.push(Matched {
            id: s(m, "/details/ruleId"),
            message,
            matched: s(m, "/details/match"),
            data,
            severity: s(m, "/details/severity"),
        });
    }
    Some(Entry {
        time: s(t, "/time_stamp"),
        id: s(t, "/unique_id"),
        client_ip: s(t, "/client_ip"),
        method: s(t, "/request/method"),
        uri: s(t, "/request/uri"),
        status,
        blocked: status == 403 && !engine.eq_ignore_ascii_case("DetectionOnly"),
        engine,
        anomaly_score: score,
        rules,
    })
}

/// `Total Score: 10` → 10.
fn total_score(text: &str) -> Option<u64> {
    let i = text.find("Total Score: ")? + "Total Score: ".len();
    let digits: String = text
        .get(i..)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Summarise the log's tail (blocking file I/O: call from `spawn_blocking`).
#[must_use]
pub fn summarise(path: &Path) -> Summary {
    let text = match read_tail(path) {
        Ok(t) => t,
        Err(e) => {
            return Summary {
                error: Some(format!("{}: {e}", path.display())),
                ..Summary::default()
            };
        }
    };
    summarise_text(&text)
}

/// [`summarise`] over text already read.
#[must_use]
pub fn summarise_text(text: &str) -> Summary {
    let mut out = Summary::default();
    let mut rules: HashMap<String, (String, u64)> = HashMap::new();
    let mut clients: HashMap<String, u64> = HashMap::new();
    let mut blocked = Vec::new();
    for line in text.lines() {
        let Some(e) = parse_line(line) else { continue };
        out.entries += 1;
        if e.blocked {
            out.blocked += 1;
        } else {
            out.flagged += 1;
        }
        *clients.entry(e.client_ip.clone()).or_insert(0) += 1;
        for r in &e.rules {
            let slot = rules
                .entry(r.id.clone())
                .or_insert_with(|| (r.message.clone(), 0));
            slot.1 += 1;
        }
        if e.blocked {
            blocked.push(e);
        }
    }
    blocked.reverse();
    blocked.truncate(RECENT);
    out.recent_blocked = blocked;
    let mut r: Vec<(String, String, u64)> =
        rules.into_iter().map(|(k, (m, n))| (k, m, n)).collect();
    r.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    r.truncate(10);
    out.top_rules = r;
    let mut c: Vec<(String, u64)> = clients.into_iter().collect();
    c.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    c.truncate(10);
    out.top_clients = c;
    out
}

fn read_tail(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.take(TAIL_BYTES).read_to_end(&mut buf)?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        // Drop the partial first line.
        let cut = text.find('\n').map_or(text.len(), |i| i + 1);
        text.drain(..cut);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_records_give_blocked_requests_rules_and_clients() {
        let blocked = r#"{"transaction":{"client_ip":"10.0.0.9","time_stamp":"2026-01-01T00:00:00Z","unique_id":"u1","request":{"method":"GET","uri":"/?q=<script>"},"response":{"http_code":403},"messages":[{"message":"XSS Attack Detected via libinjection","details":{"match":"Matched \"x\" within ARGS:q","ruleId":"941100","data":"Matched Data: XSS data found within ARGS:q: <script>","severity":"2"}},{"message":"Inbound Anomaly Score Exceeded (Total Score: 5)","details":{"ruleId":"949110","data":"","severity":"0","match":""}}]}}"#;
        let flagged = r#"{"transaction":{"client_ip":"10.0.0.8","request":{"method":"POST","uri":"/login"},"response":{"http_code":200},"messages":[{"message":"m","details":{"ruleId":"920350"}}]}}"#;
        let detected = blocked.replace(
            r#""messages""#,
            r#""producer":{"secrules_engine":"DetectionOnly"},"messages""#,
        );
        let text = format!("{blocked}\nnot json\n{flagged}\n{blocked}\n{detected}\n");
        let s = summarise_text(&text);
        assert_eq!((s.entries, s.blocked, s.flagged), (4, 2, 2));
        assert_eq!(s.recent_blocked.len(), 2);
        let e = &s.recent_blocked[0];
        assert_eq!(e.anomaly_score, Some(5));
        assert_eq!(e.rules[0].id, "941100");
        assert!(e.rules[0].matched.contains("ARGS:q"));
        assert_eq!(s.top_clients[0], ("10.0.0.9".to_owned(), 3));
        assert_eq!(s.top_rules[0].0, "941100");
        let missing = summarise(Path::new("/nonexistent/waf.log"));
        assert!(missing.error.is_some());
    }

    #[test]
    fn a_long_log_is_read_from_its_tail() {
        let dir =
            std::env::temp_dir().join(format!("console-waf-{}", opshelf_core::token::new_salt()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("audit.log");
        let line =
            r#"{"transaction":{"client_ip":"1.2.3.4","response":{"http_code":403},"messages":[]}}"#;
        let n = usize::try_from(TAIL_BYTES).unwrap() / line.len() + 100;
        std::fs::write(&p, format!("{line}\n").repeat(n)).unwrap();
        let s = summarise(&p);
        assert!(s.entries > 0 && s.entries < n as u64, "{}", s.entries);
        assert_eq!(s.entries, s.blocked);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
