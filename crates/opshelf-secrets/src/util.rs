//! Small helpers shared by the engines: Go-style durations, Vault's time formats, and
//! lenient readers for request fields (Vault accepts `"1"`, `1` and `true` alike).

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parse a Go duration (`"1h0m0s"`, `"30m"`, `"1.5h"`), a bare number of seconds
/// (`"3600"`), or a JSON number. `None` when it is not a duration.
#[must_use]
pub fn parse_duration(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => parse_duration_str(s),
        Value::Null => Some(0),
        _ => None,
    }
}

/// String form of [`parse_duration`].
#[must_use]
pub fn parse_duration_str(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return Some(0);
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = String::from(c);
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' {
                break;
            }
            unit.push(n);
            chars.next();
        }
        let value: f64 = num.parse().ok()?;
        num.clear();
        let mult = match unit.as_str() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        total += value * mult;
        any = true;
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(total as i64)
}

/// Go's `time.Duration.String()` for whole seconds: `"0s"`, `"1h0m0s"`, `"90s"` → `"1m30s"`.
#[must_use]
pub fn format_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let h = secs / 3600;
    let m = (secs % 3600) / 60;
    let s = secs % 60;
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Now, as nanoseconds since the Unix epoch.
#[must_use]
pub fn now_nanos() -> i128 {
    OffsetDateTime::now_utc().unix_timestamp_nanos()
}

/// Now, as seconds since the Unix epoch.
#[must_use]
pub fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 with nanoseconds, UTC, `Z` suffix — Vault's `created_time` format.
#[must_use]
pub fn rfc3339_nanos(nanos: i128) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
}

/// A bool from `true`, `"true"`, `1`, `"1"`.
#[must_use]
pub fn as_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "1" | "t" | "T" | "TRUE" | "True" => Some(true),
            "false" | "0" | "f" | "F" | "FALSE" | "False" | "" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

/// An integer from `3`, `"3"`.
#[must_use]
pub fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A list of strings from `["a","b"]` or `"a,b"` (Vault's comma-string slices).
#[must_use]
pub fn as_str_list(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|i| match i {
                    Value::String(s) => Some(s.trim().to_owned()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        Value::String(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Value::Null => Some(Vec::new()),
        _ => None,
    }
}

/// A list of integers from `[1,2]`, `["1"]`, `"1,2"`.
#[must_use]
pub fn as_int_list(v: Option<&Value>) -> Option<Vec<i64>> {
    match v? {
        Value::Array(items) => items.iter().map(|i| as_i64(Some(i))).collect(),
        Value::String(s) => s.split(',').map(|p| p.trim().parse().ok()).collect(),
        Value::Number(n) => n.as_i64().map(|i| vec![i]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_str("1h0m0s"), Some(3600));
        assert_eq!(parse_duration_str("768h"), Some(768 * 3600));
        assert_eq!(parse_duration_str("90"), Some(90));
        assert_eq!(parse_duration_str("1m30s"), Some(90));
        assert_eq!(parse_duration_str("1.5h"), Some(5400));
        assert_eq!(parse_duration_str("0s"), Some(0));
        assert_eq!(parse_duration_str("3x"), None);
        assert_eq!(parse_duration_str("h"), None);
        assert_eq!(parse_duration_str("5"), Some(5));
        assert_eq!(parse_duration(&json!(60)), Some(60));
        assert_eq!(format_duration(3600), "1h0m0s");
        assert_eq!(format_duration(90), "1m30s");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn lenient_fields() {
        assert_eq!(as_bool(Some(&json!("true"))), Some(true));
        assert_eq!(as_i64(Some(&json!("7"))), Some(7));
        assert_eq!(
            as_str_list(Some(&json!("a, b"))),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(as_int_list(Some(&json!(["1", 2]))), Some(vec![1, 2]));
        assert!(rfc3339_nanos(1_000_000_001).starts_with("1970-01-01T00:00:01.000000001Z"));
    }
}
