//! Loki's request parameters (`pkg/loghttp/params.go`): query string or form body, times as
//! nanoseconds, float seconds or RFC 3339 (an integer of ≤ 10 digits is seconds), steps as
//! durations or float seconds, `limit`, `direction`, and Loki's range and limit checks.

pub use crate::now_ns;
use axum::extract::{Form, FromRequest, Query, Request};
use axum::http::Method;

use super::ApiError;
use crate::config::Limits;
use crate::logql_adapter::Direction;

const SEC: i64 = 1_000_000_000;

/// Every `key=value` of the query string and (for POST) the form body.
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut v = match Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
            Ok(Query(v)) => v,
            Err(e) => return Err(ApiError::bad(e.body_text())),
        };
        if req.method() == Method::POST || req.method() == Method::PUT {
            let is_form = req
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|c| c.to_str().ok())
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
            if is_form {
                match Form::<Vec<(String, String)>>::from_request(req, state).await {
                    Ok(Form(f)) => v.extend(f),
                    Err(e) => return Err(ApiError::bad(e.body_text())),
                }
            }
        }
        Ok(Params(v))
    }
}

/// Loki's `parseTimestamp`.
///
/// # Errors
/// A 400 with Go's wording for an unparsable value.
pub fn parse_time(v: Option<&str>, default: i64) -> Result<i64, ApiError> {
    let Some(v) = v else {
        return Ok(default);
    };
    if v.contains('.')
        && let Ok(f) = v.parse::<f64>()
        && f.is_finite()
    {
        let s = f.trunc();
        let ns = ((f - s) * 1000.0).round() / 1000.0;
        let t = (s as i64)
            .saturating_mul(SEC)
            .saturating_add((ns * 1e9) as i64);
        return Ok(t);
    }
    match v.parse::<i64>() {
        Ok(n) if v.trim_start_matches('-').len() <= 10 => Ok(n.saturating_mul(SEC)),
        Ok(n) => Ok(n),
        Err(_) => {
            if let Ok(t) =
                time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
            {
                return i64::try_from(t.unix_timestamp_nanos())
                    .map_err(|_| ApiError::bad(format!("timestamp {v:?} out of range")));
            }
            Err(ApiError::bad(format!(
                "strconv.ParseInt: parsing {}: invalid syntax",
                serde_json::Value::from(v)
            )))
        }
    }
}

/// A Go / Prometheus duration (`15000ms`, `1m30s`, `1d`) or float seconds, in ns.
pub fn parse_duration(v: &str) -> Option<i64> {
    if let Ok(f) = v.parse::<f64>() {
        return f.is_finite().then_some((f * 1e9) as i64);
    }
    let b = v.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    if b.is_empty() {
        return None;
    }
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let num: f64 = v.get(start..i)?.parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match v.get(ustart..i)? {
            "ns" => 1.0,
            "us" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "w" => 7.0 * 86400e9,
            "y" => 365.0 * 86400e9,
            _ => return None,
        };
        total = total.checked_add((num * unit) as i64)?;
    }
    Some(total)
}

/// `limit` (default 100; Loki: "limit must be a positive value").
///
/// # Errors
/// Zero, negative, unparsable, or over `max_entries_limit_per_query`.
pub fn parse_limit(p: &Params, limits: &Limits) -> Result<usize, ApiError> {
    let limit = match p.get("limit") {
        None => 100,
        Some(v) => {
            let n: i64 = v.parse().map_err(|_| {
                ApiError::bad(format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    serde_json::Value::from(v)
                ))
            })?;
            if n <= 0 {
                return Err(ApiError::bad("limit must be a positive value"));
            }
            usize::try_from(n).unwrap_or(usize::MAX)
        }
    };
    if limit > limits.max_entries_limit_per_query {
        return Err(ApiError::bad(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {})",
            limits.max_entries_limit_per_query
        )));
    }
    Ok(limit)
}

/// `direction` (default backward).
///
/// # Errors
/// Anything but forward/backward.
pub fn parse_direction(p: &Params) -> Result<Direction, ApiError> {
    match p.get("direction").map(str::to_ascii_lowercase).as_deref() {
        None | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(_) => Err(ApiError::bad("invalid direction")),
    }
}

/// `start` (default an hour before `end`) and `end` (default now), checked against
/// `max_query_length` in Loki's words.
///
/// # Errors
/// Bad times, end before start, a range over the limit.
pub fn parse_range(p: &Params, limits: &Limits) -> Result<(i64, i64), ApiError> {
    let end = parse_time(p.get("end"), now_ns())?;
    let start = parse_time(p.get("start"), end.saturating_sub(3600 * SEC))?;
    if end < start {
        return Err(ApiError::bad(
            "end timestamp must not be before or equal to start time",
        ));
    }
    check_length(start, end, limits)?;
    Ok((start, end))
}

/// Loki's `max_query_length` check.
///
/// # Errors
/// The range is longer than the limit.
pub fn check_length(start: i64, end: i64, limits: &Limits) -> Result<(), ApiError> {
    let max = i64::try_from(limits.max_query_length_secs)
        .unwrap_or(i64::MAX / SEC)
        .saturating_mul(SEC);
    let len = end.saturating_sub(start);
    if max > 0 && len > max {
        return Err(ApiError::bad(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            go_duration(len),
            prom_duration(limits.max_query_length_secs)
        )));
    }
    Ok(())
}

/// Go's `time.Duration.String()` for whole and fractional seconds (`744h0m0s`, `1.5s`).
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    let neg = ns < 0;
    let ns = ns.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if ns < 1_000_000_000 {
        out.push_str(&format!("{}ms", ns as f64 / 1e6));
        return out;
    }
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = (ns % 60_000_000_000) as f64 / 1e9;
    if h > 0 {
        out.push_str(&format!("{h}h{m}m"));
    } else if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

/// Prometheus' `model.Duration.String()` (`30d1h`, `1w`, `5m`).
pub fn prom_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut left = secs;
    // years and weeks only when they divide the whole duration (Prometheus' `exact`)
    for (unit, n, exact) in [
        ("y", 365 * 86400, true),
        ("w", 7 * 86400, true),
        ("d", 86400, false),
        ("h", 3600, false),
        ("m", 60, false),
        ("s", 1, false),
    ] {
        if exact && !left.is_multiple_of(n) {
            continue;
        }
        if left >= n {
            out.push_str(&format!("{}{unit}", left / n));
            left %= n;
        }
    }
    out
}

/// `step` for `query_range`: given, or Loki's default `max(1s, range / 250)`; checked
/// against 11,000 points.
///
/// # Errors
/// Unparsable, zero or negative steps; too many points.
pub fn parse_step(p: &Params, start: i64, end: i64) -> Result<i64, ApiError> {
    let step = match p.get("step") {
        Some(v) => parse_duration(v).ok_or_else(|| {
            ApiError::bad(format!(
                "cannot parse {} to a valid duration",
                serde_json::Value::from(v)
            ))
        })?,
        None => ((end - start) / SEC / 250).max(1) * SEC,
    };
    if step <= 0 {
        return Err(ApiError::bad(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > 11_000 {
        return Err(ApiError::bad(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_all_three_formats() {
        assert_eq!(
            parse_time(Some("4000000000"), 0).unwrap(),
            4_000_000_000 * SEC
        );
        assert_eq!(
            parse_time(Some("1767225600000000001"), 0).unwrap(),
            1_767_225_600_000_000_001
        );
        assert_eq!(
            parse_time(Some("1767225600.5"), 0).unwrap(),
            1_767_225_600_500_000_000
        );
        assert_eq!(
            parse_time(Some("2026-01-01T00:00:00Z"), 0).unwrap(),
            1_767_225_600 * SEC
        );
        assert_eq!(parse_time(None, 7).unwrap(), 7);
        assert!(parse_time(Some("yesterday"), 0).is_err());
    }

    #[test]
    fn durations_go_and_prometheus() {
        assert_eq!(parse_duration("15000ms"), Some(15 * SEC));
        assert_eq!(parse_duration("1m30s"), Some(90 * SEC));
        assert_eq!(parse_duration("2.5"), Some(2_500_000_000));
        assert_eq!(parse_duration("1d"), Some(86_400 * SEC));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(go_duration(744 * 3600 * SEC), "744h0m0s");
        assert_eq!(go_duration(90 * SEC), "1m30s");
        assert_eq!(prom_duration(30 * 86400 + 3600), "30d1h");
        assert_eq!(prom_duration(14 * 86400), "2w");
    }

    #[test]
    fn a_range_over_thirty_days_is_refused_in_lokis_words() {
        let l = Limits::default();
        let p = Params(vec![
            ("start".into(), "1700000000".into()),
            ("end".into(), (1_700_000_000 + 31 * 86400).to_string()),
        ]);
        let e = parse_range(&p, &l).unwrap_err();
        assert_eq!(
            e.message,
            "the query time range exceeds the limit (query length: 744h0m0s, limit: 30d1h)"
        );
    }
}
