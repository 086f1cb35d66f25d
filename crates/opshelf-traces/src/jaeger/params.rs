//! Parameter formats of Jaeger's query APIs: Go durations, µs / ms / RFC 3339 times,
//! trace ids in hex or base64.

use base64::Engine as _;

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units (`ns`, `us`, `µs`,
/// `ms`, `s`, `m`, `h`), optionally signed: `1.5s`, `500ms`, `1h30m`. In nanoseconds.
///
/// # Errors
/// Not a Go duration.
pub fn go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {s:?}"))?;
        if num_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    if !total.is_finite() || total > 9.2e18 {
        return Err(bad());
    }
    #[allow(clippy::cast_possible_truncation)]
    let ns = total as i64;
    Ok(if neg { -ns } else { ns })
}

/// RFC 3339 with optional fraction (Go's `RFC3339Nano`), in ns since the epoch. A `+`
/// offset that arrived unescaped (decoded as a space) is read as `+`.
///
/// # Errors
/// Not RFC 3339.
pub fn rfc3339_ns(s: &str) -> Result<i64, String> {
    let fixed = s.replace(' ', "+");
    let t = time::OffsetDateTime::parse(&fixed, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("cannot parse {s:?} as RFC3339: {e}"))?;
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| format!("time {s:?} out of range"))
}

/// A trace id as Jaeger's `TraceIDFromString` reads it: up to 32 hex digits (a shorter
/// one is a 64-bit id, zero-padded) or base64 of 16 bytes. Always 16 bytes out.
///
/// # Errors
/// Neither form.
pub fn trace_id(s: &str) -> Result<[u8; 16], String> {
    let bad = || format!("malformed trace ID {s:?}");
    if s.is_empty() {
        return Err(bad());
    }
    if s.len() <= 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let padded = format!("{s:0>32}");
        let mut out = [0u8; 16];
        hex::decode_to_slice(&padded, &mut out).map_err(|_| bad())?;
        return Ok(out);
    }
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        if let Ok(b) = engine.decode(s)
            && let Ok(id) = <[u8; 16]>::try_from(b.as_slice())
        {
            return Ok(id);
        }
    }
    Err(bad())
}

pub fn now_ns() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(go_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(go_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(go_duration("10µs").unwrap(), 10_000);
        assert_eq!(go_duration("0").unwrap(), 0);
        assert!(go_duration("5").is_err());
        assert!(go_duration("abc").is_err());
        assert!(go_duration("").is_err());
        assert!(go_duration("3d").is_err());
    }

    #[test]
    fn times_and_ids() {
        assert_eq!(
            rfc3339_ns("2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600_000_000_000
        );
        assert_eq!(
            rfc3339_ns("2026-01-01T05:30:00.5 05:30").unwrap(),
            1_767_225_600_500_000_000
        );
        assert!(rfc3339_ns("yesterday").is_err());
        let id = trace_id("5b8efff798038103d269b633813fc60c").unwrap();
        assert_eq!(hex::encode(id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            hex::encode(trace_id("ff").unwrap()),
            "000000000000000000000000000000ff"
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(id);
        assert_eq!(trace_id(&b64).unwrap(), id);
        assert!(trace_id("xyz!").is_err());
        assert!(trace_id(&"a".repeat(33)).is_err());
    }
}
