//! What the proxy writes about a transaction: the ModSecurity JSON audit-log record and the
//! blocked-request event handed to the logs capability.

use crate::engine::Request as WafRequest;
use crate::engine::Transaction;

/// A blocked request as one log line: who, what, which rules and what they matched. No
/// headers (they carry cookies and credentials; the audit log has them, the log store
/// does not).
pub(crate) fn blocked_event(
    tx: &Transaction<'_>,
    i: &crate::engine::Interruption,
    req: &WafRequest,
) -> opshelf_core::logsink::LogEntry {
    let matches: Vec<serde_json::Value> = tx
        .matches
        .iter()
        .map(|m| {
            serde_json::json!({
                "rule_id": m.id,
                "msg": m.msg,
                "match": format!("Matched \"{}\" within {}", crate::engine::log_escape(&m.matched_data), m.matched_var_name),
                "severity": m.severity.map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect();
    let line = serde_json::json!({
        "event": "waf_blocked",
        "client_ip": req.remote_addr,
        "method": req.method,
        "uri": req.uri,
        "status": i.status,
        "rule_id": i.rule_id,
        "unique_id": req.unique_id,
        "matches": matches,
    });
    let time_ns = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    opshelf_core::logsink::LogEntry {
        time_ns: i64::try_from(time_ns).unwrap_or(i64::MAX),
        line: line.to_string(),
        metadata: vec![("rule_id".to_owned(), i.rule_id.to_string())],
    }
}

/// A ModSecurity v3 JSON audit-log record (`SecAuditLogFormat JSON`).
pub(crate) fn audit_record(
    tx: &Transaction<'_>,
    req: &WafRequest,
    status: u16,
) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc();
    let ts = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::Value::String(String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect();
    let messages: Vec<serde_json::Value> = tx
        .matches
        .iter()
        .map(|m| {
            serde_json::json!({
                "message": m.msg,
                "details": {
                    "match": format!("Matched \"{}\" within {}", crate::engine::log_escape(&m.matched_data), m.matched_var_name),
                    "reference": "",
                    "ruleId": m.id.to_string(),
                    "file": m.file,
                    "lineNumber": m.line.to_string(),
                    "data": m.logdata,
                    "severity": m.severity.map(|s| s.to_string()).unwrap_or_default(),
                    "ver": "",
                    "rev": "",
                    "tags": m.tags,
                    "maturity": "0",
                    "accuracy": "0"
                }
            })
        })
        .collect();
    let (path, query) = req.uri.split_once('?').unwrap_or((req.uri.as_str(), ""));
    let _ = query;
    serde_json::json!({
        "transaction": {
            "client_ip": req.remote_addr,
            "time_stamp": ts,
            "server_id": "opshelf",
            "client_port": req.remote_port,
            "host_ip": "",
            "host_port": req.server_port,
            "unique_id": req.unique_id,
            "request": {
                "method": req.method,
                "http_version": req.protocol.trim_start_matches("HTTP/"),
                "uri": req.uri,
                "path": path,
                "headers": headers
            },
            "response": { "http_code": status },
            "producer": {
                "modsecurity": "opshelf-waf (SecLang engine)",
                "connector": "opshelf",
                "secrules_engine": format!("{:?}", tx.engine),
                "components": ["OWASP_CRS/4"]
            },
            "messages": messages
        }
    })
}
