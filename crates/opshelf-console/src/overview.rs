//! The overview: every success metric of the roadmap with its target, source and trend (or
//! what would measure it), resource use and each capability's status.
//!
//! A background sampler records, every [`SAMPLE_SECS`], what the trends need (readiness,
//! RSS, CPU, data directory size, WAF counters, p95 latency) in a ring of the last hour;
//! readiness is also counted per day in storage (`uptime/<yyyy-mm-dd>`) for the uptime
//! figure, so it survives restarts.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use opshelf_core::metrics::ProcessStats;
use opshelf_core::status::CapabilityStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Seconds between samples.
pub const SAMPLE_SECS: u64 = 5;
/// Samples kept (one hour).
pub const KEEP: usize = 720;

/// One sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sample {
    pub t_ms: u64,
    pub ready: bool,
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
    pub disk_bytes: u64,
    pub waf_requests: u64,
    pub waf_blocked: u64,
    /// Attacks blocked and attacks let through on DetectionOnly routes (see [`WafCounts`]).
    pub waf_attacks_blocked: u64,
    pub waf_detected_only: u64,
    pub p95_ms: Option<f64>,
    pub active_flags: Option<u64>,
}

/// The ring of samples.
#[derive(Debug, Default)]
pub struct Samples {
    ring: Mutex<VecDeque<Sample>>,
}

impl Samples {
    /// Add a sample, dropping the oldest beyond [`KEEP`].
    pub fn push(&self, s: Sample) {
        let mut r = self
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.len() == KEEP {
            r.pop_front();
        }
        r.push_back(s);
    }

    /// Every sample, oldest first.
    #[must_use]
    pub fn all(&self) -> Vec<Sample> {
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }
}

/// Per-day readiness counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day {
    pub ready: u64,
    pub total: u64,
}

/// The value of a capability's numeric fact.
#[must_use]
pub fn fact_u64(caps: &[CapabilityStatus], cap: &str, fact: &str) -> Option<u64> {
    caps.iter()
        .find(|c| c.name == cap && c.state != "disabled")
        .and_then(|c| c.facts.get(fact))
        .and_then(Value::as_u64)
}

/// The p95 of `opshelf_http_request_duration_seconds` over every capability listener (not
/// the admin or console listeners), in ms: the upper bound of the bucket holding the 95th
/// percentile, from Prometheus text. `None` before any request.
#[must_use]
pub fn p95_ms(metrics_text: &str) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in metrics_text.lines() {
        let Some(rest) = line.strip_prefix("opshelf_http_request_duration_seconds_bucket{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        if labels.contains("listener=\"admin\"") || labels.contains("listener=\"console\"") {
            continue;
        }
        let Some(le) = labels.split(',').find_map(|l| l.strip_prefix("le=\"")) else {
            continue;
        };
        let le = le.trim_end_matches('"');
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        let n: f64 = value.split_whitespace().next()?.parse().ok()?;
        match buckets
            .iter_mut()
            .find(|(b, _)| (*b - le).abs() < f64::EPSILON || (b.is_infinite() && le.is_infinite()))
        {
            Some(slot) => slot.1 += n,
            None => buckets.push((le, n)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let want = total * 0.95;
    let (le, _) = buckets.iter().find(|(_, n)| *n >= want)?;
    Some(if le.is_infinite() {
        10_000.0
    } else {
        le * 1000.0
    })
}

/// The WAF's attack counters since it started, from its metrics: requests a rule blocked
/// (the CRS blocking rule after the anomaly score passed its threshold, or any rule that
/// denies) and requests a rule would have blocked but that went through because their route
/// runs DetectionOnly. Matches under the threshold are neither. Refusals of oversized bodies
/// (413, no rule: `rule_id="0"`) are not attacks and are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WafCounts {
    pub blocked: u64,
    pub detected_only: u64,
    pub oversized: u64,
}

/// [`WafCounts`] from Prometheus text; `None` when the WAF exports nothing (not running).
#[must_use]
pub fn waf_counts(metrics_text: &str) -> Option<WafCounts> {
    let mut c = WafCounts::default();
    let mut seen = false;
    for line in metrics_text.lines() {
        let (name, rest) = match line.split_once('{') {
            Some((n, r)) => (n, r),
            None => match line.split_once(' ') {
                Some((n, _)) => (n, line),
                None => continue,
            },
        };
        let value = || -> u64 {
            let v: f64 = rest
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            // Counters: whole, non-negative.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = v.max(0.0) as u64;
            n
        };
        match name {
            "opshelf_waf_requests_total" => seen = true,
            "opshelf_waf_detected_only_total" => c.detected_only += value(),
            "opshelf_waf_blocked_by_rule_total" => {
                if rest.contains("rule_id=\"0\"") {
                    c.oversized += value();
                } else {
                    c.blocked += value();
                }
            }
            _ => {}
        }
    }
    seen.then_some(c)
}

/// Bytes under `path` (files only, not following links; bounded to 200,000 entries).
#[must_use]
pub fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    let mut seen = 0usize;
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in rd.flatten() {
            seen += 1;
            if seen > 200_000 {
                return total;
            }
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}

/// Disk use per capability: `<data_dir>/<name>/`, plus the shared storage files.
#[must_use]
pub fn disk(data_dir: &Path, caps: &[CapabilityStatus]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut storage = 0;
    if let Ok(rd) = std::fs::read_dir(data_dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("opshelf.sqlite3")
                && let Ok(m) = e.metadata()
            {
                storage += m.len();
            }
        }
    }
    out.push(("storage (sqlite)".to_owned(), storage));
    for c in caps {
        let p = data_dir.join(&c.name);
        if p.is_dir() {
            out.push((c.name.clone(), dir_bytes(&p)));
        }
    }
    out
}

/// The process figures now.
#[must_use]
pub fn process() -> ProcessStats {
    ProcessStats::read()
}

/// One success metric as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub id: &'static str,
    pub name: &'static str,
    pub target: &'static str,
    pub source: &'static str,
    /// `None`: not measured yet (see `how`).
    pub value: Option<f64>,
    pub unit: &'static str,
    /// Whether the value meets the target.
    pub ok: Option<bool>,
    /// When not measured: what would measure it.
    pub how: Option<&'static str>,
    /// The figures behind the value, in words.
    pub detail: Option<String>,
    /// `[t_ms, value]` points, oldest first.
    pub trend: Vec<(u64, f64)>,
}

/// Inputs the metrics are computed from.
#[derive(Debug, Default)]
pub struct Inputs<'a> {
    pub caps: &'a [CapabilityStatus],
    pub samples: &'a [Sample],
    /// (secrets, high+critical) over the latest reports, and their trend.
    pub scans: Option<(u64, u64)>,
    pub scan_trend: Vec<(u64, u64, u64)>,
    /// The WAF's attack counters (`None`: the WAF is not running).
    pub waf: Option<WafCounts>,
    /// Requests the audit log shows as flagged by a rule and let through, for the detail.
    pub waf_flagged: Option<u64>,
    pub uptime: Option<(u64, u64)>,
    pub p95_ms: Option<f64>,
}

fn not_measured(
    id: &'static str,
    name: &'static str,
    target: &'static str,
    source: &'static str,
    how: &'static str,
) -> Metric {
    Metric {
        id,
        name,
        target,
        source,
        value: None,
        unit: "",
        ok: None,
        how: Some(how),
        detail: None,
        trend: Vec::new(),
    }
}

/// Every success metric of the roadmap.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn metrics(i: &Inputs<'_>) -> Vec<Metric> {
    let mut out = Vec::new();
    let scan_src = "scans: the latest report of every repository and branch";
    match i.scans {
        Some((secrets, hc)) => {
            out.push(Metric {
                id: "secrets_in_code",
                name: "Secrets in code",
                target: "0",
                source: scan_src,
                value: Some(secrets as f64),
                unit: "",
                ok: Some(secrets == 0),
                how: None,
                detail: None,
                trend: i
                    .scan_trend
                    .iter()
                    .map(|(t, s, _)| (*t, *s as f64))
                    .collect(),
            });
            out.push(Metric {
                id: "high_critical_cves",
                name: "High/critical CVEs",
                target: "0",
                source: scan_src,
                value: Some(hc as f64),
                unit: "",
                ok: Some(hc == 0),
                how: None,
                detail: None,
                trend: i
                    .scan_trend
                    .iter()
                    .map(|(t, _, h)| (*t, *h as f64))
                    .collect(),
            });
        }
        None => {
            let how = "upload a scan: OPSHELF_UPLOAD_TOKEN=<[console] scan_upload_token> opshelf scan fs . --format json --upload <console URL> (repository and branch from git), or POST the report to /console/api/scans?repo=..&branch=..";
            out.push(not_measured(
                "secrets_in_code",
                "Secrets in code",
                "0",
                scan_src,
                how,
            ));
            out.push(not_measured(
                "high_critical_cves",
                "High/critical CVEs",
                "0",
                scan_src,
                how,
            ));
        }
    }
    let waf_src = "WAF counters since it started: attacks a rule blocked ÷ (those + attacks a rule \
                   would have blocked, let through on DetectionOnly routes); matches under the \
                   anomaly threshold are not attacks";
    match i.waf {
        Some(c) if c.blocked + c.detected_only > 0 => {
            let pct = 100.0 * c.blocked as f64 / (c.blocked + c.detected_only) as f64;
            let mut detail = format!(
                "{} blocked, {} detected but let through (DetectionOnly)",
                c.blocked, c.detected_only
            );
            if let Some(f) = i.waf_flagged {
                detail.push_str(&format!(
                    "; the audit log's tail holds {f} requests with rule matches that went through"
                ));
            }
            out.push(Metric {
                id: "attacks_blocked",
                name: "Attacks blocked",
                target: "≥ 90%",
                source: waf_src,
                value: Some(pct),
                unit: "%",
                ok: Some(pct >= 90.0),
                how: None,
                detail: Some(detail),
                trend: i
                    .samples
                    .iter()
                    .filter(|s| s.waf_attacks_blocked + s.waf_detected_only > 0)
                    .map(|s| {
                        (
                            s.t_ms,
                            100.0 * s.waf_attacks_blocked as f64
                                / (s.waf_attacks_blocked + s.waf_detected_only) as f64,
                        )
                    })
                    .collect(),
            });
        }
        Some(_) => out.push(not_measured(
            "attacks_blocked",
            "Attacks blocked",
            "≥ 90%",
            waf_src,
            "no attack seen since the WAF started: the figure appears with the first request a rule blocks or would block",
        )),
        None => out.push(not_measured(
            "attacks_blocked",
            "Attacks blocked",
            "≥ 90%",
            waf_src,
            "start the WAF: [waf] enabled = true with an upstream and the CRS rules_dir",
        )),
    }
    let lat_src = "opshelf_http_request_duration_seconds, every capability listener, since start";
    match i.p95_ms {
        Some(p) => out.push(Metric {
            id: "p95_latency",
            name: "Response time p95",
            target: "< 500 ms",
            source: lat_src,
            value: Some(p),
            unit: "ms",
            ok: Some(p < 500.0),
            how: None,
            detail: None,
            trend: i
                .samples
                .iter()
                .filter_map(|s| Some((s.t_ms, s.p95_ms?)))
                .collect(),
        }),
        None => out.push(not_measured(
            "p95_latency",
            "Response time p95",
            "< 500 ms",
            lat_src,
            "no request served yet",
        )),
    }
    let up_src = "the console's readiness samples every 5 s, last 30 days";
    match i.uptime {
        Some((ok, total)) if total > 0 => {
            let pct = 100.0 * ok as f64 / total as f64;
            out.push(Metric {
                id: "uptime",
                name: "Uptime",
                target: "≥ 99.9%",
                source: up_src,
                value: Some(pct),
                unit: "%",
                ok: Some(pct >= 99.9),
                how: None,
                detail: None,
                trend: i
                    .samples
                    .iter()
                    .map(|s| (s.t_ms, if s.ready { 1.0 } else { 0.0 }))
                    .collect(),
            });
        }
        _ => out.push(not_measured(
            "uptime",
            "Uptime",
            "≥ 99.9%",
            up_src,
            "the first sample comes 5 s after start",
        )),
    }
    out.push(not_measured(
        "log_search",
        "Log search",
        "< 2 s",
        "the logs capability (Loki API)",
        "not measured yet: the logs capability will report its query latency when it lands",
    ));
    let flag_src = "flags: flags enabled in some environment";
    match fact_u64(i.caps, "flags", "active_flags") {
        Some(n) => out.push(Metric {
            id: "active_flags",
            name: "Active feature flags",
            target: "≥ 5",
            source: flag_src,
            value: Some(n as f64),
            unit: "",
            ok: Some(n >= 5),
            how: None,
            detail: None,
            trend: i
                .samples
                .iter()
                .filter_map(|s| Some((s.t_ms, s.active_flags? as f64)))
                .collect(),
        }),
        None => out.push(not_measured(
            "active_flags",
            "Active feature flags",
            "≥ 5",
            flag_src,
            "enable the flags capability ([flags] enabled = true)",
        )),
    }
    out.push(not_measured(
        "analytics_coverage",
        "Analytics coverage",
        "every public page tracked",
        "the analytics capability (Matomo API)",
        "not measured yet: lands with the analytics capability",
    ));
    out.push(not_measured(
        "session_replay",
        "Session replay enabled",
        "on",
        "the analytics capability",
        "not measured yet: lands with the analytics capability",
    ));
    out
}

/// The process section of the overview.
#[must_use]
pub fn process_json(p: &ProcessStats, samples: &[Sample]) -> Value {
    // CPU % over the last two samples.
    let cpu_pct = match samples {
        [.., a, b] if b.t_ms > a.t_ms => {
            #[allow(clippy::cast_precision_loss)]
            let dt = (b.t_ms - a.t_ms) as f64 / 1000.0;
            Some(100.0 * (b.cpu_seconds - a.cpu_seconds).max(0.0) / dt)
        }
        _ => None,
    };
    json!({
        "rss_bytes": p.rss_bytes,
        "cpu_seconds": p.cpu_seconds,
        "cpu_percent": cpu_pct,
        "open_fds": p.open_fds,
        "note": "one process: RSS and CPU are opshelf's as a whole; disk is per capability",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_comes_from_the_capability_listeners_buckets() {
        let text = "\
opshelf_http_request_duration_seconds_bucket{listener=\"flags\",le=\"0.005\"} 90\n\
opshelf_http_request_duration_seconds_bucket{listener=\"flags\",le=\"0.01\"} 96\n\
opshelf_http_request_duration_seconds_bucket{listener=\"flags\",le=\"+Inf\"} 100\n\
opshelf_http_request_duration_seconds_bucket{listener=\"admin\",le=\"0.005\"} 0\n\
opshelf_http_request_duration_seconds_bucket{listener=\"admin\",le=\"+Inf\"} 1000\n";
        assert_eq!(p95_ms(text), Some(10.0));
        assert_eq!(p95_ms(""), None);
    }

    #[test]
    fn unmeasured_metrics_say_what_would_measure_them() {
        let m = metrics(&Inputs::default());
        let ids: Vec<&str> = m.iter().map(|m| m.id).collect();
        assert!(ids.contains(&"log_search") && ids.contains(&"uptime"));
        assert!(
            m.iter()
                .filter(|m| m.value.is_none())
                .all(|m| m.how.is_some())
        );
        let m = metrics(&Inputs {
            scans: Some((0, 3)),
            waf: Some(WafCounts {
                blocked: 9,
                detected_only: 1,
                oversized: 0,
            }),
            uptime: Some((999, 1000)),
            ..Inputs::default()
        });
        let hc = m.iter().find(|m| m.id == "high_critical_cves").unwrap();
        assert_eq!((hc.value, hc.ok), (Some(3.0), Some(false)));
        let waf = m.iter().find(|m| m.id == "attacks_blocked").unwrap();
        assert_eq!((waf.value, waf.ok), (Some(90.0), Some(true)));
        assert_eq!(m.iter().find(|m| m.id == "uptime").unwrap().ok, Some(true));
    }

    #[test]
    fn attacks_blocked_counts_blocks_against_detection_only_not_mere_matches() {
        let text = "\
# TYPE opshelf_waf_requests counter\n\
opshelf_waf_requests_total 1000\n\
opshelf_waf_blocked_by_rule_total{rule_id=\"949110\"} 6\n\
opshelf_waf_blocked_by_rule_total{rule_id=\"920100\"} 2\n\
opshelf_waf_blocked_by_rule_total{rule_id=\"0\"} 5\n\
opshelf_waf_detected_only_total 8\n\
opshelf_waf_rate_limited_total 3\n";
        let c = waf_counts(text).unwrap();
        assert_eq!(
            c,
            WafCounts {
                blocked: 8,
                detected_only: 8,
                oversized: 5
            }
        );
        assert_eq!(waf_counts("opshelf_flags_x_total 1\n"), None);
        let m = metrics(&Inputs {
            waf: Some(c),
            waf_flagged: Some(40),
            ..Inputs::default()
        });
        let w = m.iter().find(|m| m.id == "attacks_blocked").unwrap();
        // 8 blocked of 16 attacks: 50 %, whatever the 40 flagged-but-harmless requests.
        assert_eq!((w.value, w.ok), (Some(50.0), Some(false)));
        assert!(
            w.detail
                .as_deref()
                .unwrap()
                .contains("8 detected but let through")
        );
        // Only matches under the threshold: nothing to measure yet.
        let m = metrics(&Inputs {
            waf: Some(WafCounts::default()),
            waf_flagged: Some(40),
            ..Inputs::default()
        });
        let w = m.iter().find(|m| m.id == "attacks_blocked").unwrap();
        assert_eq!(w.value, None);
    }
}
