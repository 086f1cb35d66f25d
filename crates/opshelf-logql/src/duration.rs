//! Go's `time.ParseDuration` (plus Prometheus' `d`, `w`, `y` for query literals) and humanize's `ParseBytes`.

/// Parses a query-literal duration: Go units plus `d`, `w`, `y`; nanoseconds.
///
/// # Errors
/// Go's messages without the `time: ` prefix.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    parse_units(s, true)
}

/// Go's `time.ParseDuration` (units `ns us µs ms s m h`); nanoseconds.
///
/// # Errors
/// Go's messages without the `time: ` prefix.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    parse_units(s, false)
}

fn unit_ns(u: &str, extended: bool) -> Option<f64> {
    Some(match u {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" if extended => 86400e9,
        "w" if extended => 7.0 * 86400e9,
        "y" if extended => 365.0 * 86400e9,
        _ => return None,
    })
}

fn parse_units(orig: &str, extended: bool) -> Result<i64, String> {
    let invalid = || format!("invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !s.is_empty() {
        let num_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let num = &s[..num_end];
        if num.is_empty() || num == "." {
            return Err(invalid());
        }
        let v: f64 = num.parse().map_err(|_| invalid())?;
        s = &s[num_end..];
        let unit_end = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_end];
        if unit.is_empty() {
            return Err(format!("missing unit in duration {}", go_quote(orig)));
        }
        let Some(mult) = unit_ns(unit, extended) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                go_quote(unit),
                go_quote(orig)
            ));
        };
        total += v * mult;
        s = &s[unit_end..];
    }
    if total > 9.223_372_036_854_775e18 {
        return Err(invalid());
    }
    #[allow(clippy::cast_possible_truncation)]
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

fn go_quote(s: &str) -> String {
    format!("\"{s}\"")
}

/// Bytes units a query literal accepts (case-sensitive).
const LITERAL_UNITS: &[&str] = &[
    "B", "kB", "KB", "KiB", "MB", "MiB", "GB", "GiB", "TB", "TiB", "PB", "PiB", "EB", "EiB",
];

/// Parses a bytes query literal such as `5MB` or `1.5KiB`.
///
/// # Errors
/// When the text is not a number followed by a known unit.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if !LITERAL_UNITS.contains(&&s[split..]) {
        return Err(format!("invalid bytes {s}"));
    }
    parse_bytes_value(s)
}

/// humanize's `ParseBytes` (units case-insensitive, optional space), for label values.
///
/// # Errors
/// humanize's messages.
pub fn parse_bytes_value(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(t.len());
    let num: String = t[..split].chars().filter(|c| *c != ',').collect();
    let unit = t[split..].trim().to_ascii_lowercase();
    let v: f64 = num.parse().map_err(|_| {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(&num)
        )
    })?;
    let mult: f64 = match unit.as_str() {
        "" | "b" | "byte" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1_048_576.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1_073_741_824.0,
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1_099_511_627_776.0,
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1_125_899_906_842_624.0,
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1_152_921_504_606_846_976.0,
        _ => return Err(format!("unhandled size name: {unit}")),
    };
    let b = v * mult;
    if !(0.0..1.8e19).contains(&b) {
        return Err("too large".into());
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(b as u64)
}

/// Formats nanoseconds the way Prometheus' `model.Duration.String()` does (`5m`, `1h30m`, `1d`).
#[must_use]
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns % 1_000_000 != 0 {
        return format!("{ns}ns");
    }
    let mut ms = ns / 1_000_000;
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    for (unit, size) in [
        ("y", 365 * 86_400_000i64),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(300_000_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000_000_000));
        assert!(parse_go_duration("1d").is_err());
        assert_eq!(
            parse_duration("5minutes").unwrap_err(),
            "unknown unit \"minutes\" in duration \"5minutes\""
        );
        assert_eq!(
            parse_go_duration("90").unwrap_err(),
            "missing unit in duration \"90\""
        );
        assert_eq!(format_duration(300_000_000_000), "5m");
        assert_eq!(format_duration(5_400_000_000_000), "1h30m");
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("1.5KiB"), Ok(1536));
        assert_eq!(parse_bytes_value("3mb"), Ok(3_000_000));
        assert!(parse_bytes("3mb").is_err());
        assert!(parse_bytes_value("oops").is_err());
    }
}
