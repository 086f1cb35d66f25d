//! Request-body processors: URLENCODED, MULTIPART, JSON, XML. Pure functions over bytes that
//! never panic; errors are reported the way ModSecurity exposes them (REQBODY_ERROR, the
//! MULTIPART_* flags).

use crate::transform::url_decode;

/// Name/value pairs (arguments, cookies, part headers).
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// `name` and `filename` of a Content-Disposition header.
type Disposition = (Option<Vec<u8>>, Option<Vec<u8>>);

/// `key=value` pairs split on `sep`, both url-decoded (`+` is a space). Pieces without `=`
/// are names with an empty value; empty pieces are skipped.
pub fn parse_urlencoded(data: &[u8], sep: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for piece in data.split(|&b| b == sep) {
        if piece.is_empty() {
            continue;
        }
        match piece.iter().position(|&b| b == b'=') {
            Some(pos) => out.push((url_decode(&piece[..pos]), url_decode(&piece[pos + 1..]))),
            None => out.push((url_decode(piece), Vec::new())),
        }
    }
    out
}

/// `Cookie:` header pairs (version 0 format: `;`-separated, not decoded).
pub fn parse_cookies(header: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for piece in header.split(|&b| b == b';') {
        let start = piece
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(piece.len());
        let piece = &piece[start..];
        if piece.is_empty() {
            continue;
        }
        match piece.iter().position(|&b| b == b'=') {
            Some(pos) => out.push((piece[..pos].to_vec(), piece[pos + 1..].to_vec())),
            None => out.push((piece.to_vec(), Vec::new())),
        }
    }
    out
}

/// JSON flattened the way ModSecurity/Coraza name arguments: `json.a.b`, arrays `json.a.0`.
pub fn parse_json(data: &[u8], depth_limit: usize) -> Result<Pairs, String> {
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| format!("JSON parsing error: {e}"))?;
    let mut out = Vec::new();
    flatten_json(&value, "json".to_owned(), 0, depth_limit, &mut out)?;
    Ok(out)
}

fn flatten_json(
    v: &serde_json::Value,
    prefix: String,
    depth: usize,
    limit: usize,
    out: &mut Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<(), String> {
    if depth > limit {
        return Err("JSON depth limit exceeded".to_owned());
    }
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                flatten_json(child, format!("{prefix}.{k}"), depth + 1, limit, out)?;
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten_json(child, format!("{prefix}.{i}"), depth + 1, limit, out)?;
            }
        }
        serde_json::Value::String(s) => out.push((prefix.into_bytes(), s.as_bytes().to_vec())),
        serde_json::Value::Null => out.push((prefix.into_bytes(), Vec::new())),
        other => out.push((prefix.into_bytes(), other.to_string().into_bytes())),
    }
    Ok(())
}

/// What the multipart parser found.
#[derive(Debug, Default, Clone)]
pub struct Multipart {
    pub args: Vec<(Vec<u8>, Vec<u8>)>,
    /// (field name, file name, size)
    pub files: Vec<(Vec<u8>, Vec<u8>, usize)>,
    /// (field name, whole header line)
    pub part_headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub error: Option<String>,
    pub boundary_quoted: bool,
    pub boundary_whitespace: bool,
    pub data_before: bool,
    pub data_after: bool,
    pub header_folding: bool,
    pub lf_line: bool,
    pub crlf_line: bool,
    pub missing_semicolon: bool,
    pub invalid_quoting: bool,
    pub invalid_part: bool,
    pub invalid_header_folding: bool,
    pub unmatched_boundary: bool,
    pub file_limit_exceeded: bool,
}

impl Multipart {
    /// MULTIPART_STRICT_ERROR as ModSecurity computes it.
    pub fn strict_error(&self) -> bool {
        self.error.is_some()
            || self.boundary_quoted
            || self.boundary_whitespace
            || self.data_before
            || self.data_after
            || self.header_folding
            || (self.lf_line && self.crlf_line)
            || self.missing_semicolon
            || self.invalid_quoting
            || self.invalid_part
            || self.invalid_header_folding
            || self.file_limit_exceeded
    }
}

/// Extracts the boundary from a `multipart/form-data; boundary=...` Content-Type.
pub fn multipart_boundary(content_type: &[u8], m: &mut Multipart) -> Option<Vec<u8>> {
    let lower = content_type.to_ascii_lowercase();
    let pos = find(&lower, b"boundary")?;
    let mut rest = &content_type[pos + 8..];
    if rest.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        m.boundary_whitespace = true;
        while rest.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            rest = &rest[1..];
        }
    }
    rest = rest.strip_prefix(b"=")?;
    if rest.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        m.boundary_whitespace = true;
        while rest.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            rest = &rest[1..];
        }
    }
    let b = if let Some(q) = rest.strip_prefix(b"\"") {
        m.boundary_quoted = true;
        let end = q.iter().position(|&c| c == b'"')?;
        q[..end].to_vec()
    } else {
        let end = rest
            .iter()
            .position(|&c| c == b';' || c == b',' || c == b' ')
            .unwrap_or(rest.len());
        rest[..end].to_vec()
    };
    if b.is_empty() || b.len() > 70 {
        return None;
    }
    Some(b)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a `Content-Disposition` header value into (name, filename).
fn parse_disposition(value: &[u8], m: &mut Multipart) -> Result<Disposition, String> {
    let lower = value.to_ascii_lowercase();
    if !lower.starts_with(b"form-data") {
        return Err("Multipart: Content-Disposition is not form-data".to_owned());
    }
    let mut rest = &value[9..];
    let mut name = None;
    let mut filename = None;
    loop {
        while rest.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            rest = &rest[1..];
        }
        if rest.is_empty() {
            break;
        }
        if rest[0] == b';' {
            rest = &rest[1..];
        } else {
            m.missing_semicolon = true;
        }
        while rest.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            rest = &rest[1..];
        }
        if rest.is_empty() {
            break;
        }
        let eq = rest
            .iter()
            .position(|&b| b == b'=')
            .ok_or("Multipart: invalid Content-Disposition parameter")?;
        let pname = rest[..eq].trim_ascii().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let pval;
        if rest.first() == Some(&b'"') {
            let mut v = Vec::new();
            let mut i = 1;
            let mut closed = false;
            while i < rest.len() {
                if rest[i] == b'\\'
                    && i + 1 < rest.len()
                    && (rest[i + 1] == b'"' || rest[i + 1] == b'\\')
                {
                    v.push(rest[i + 1]);
                    i += 2;
                    continue;
                }
                if rest[i] == b'"' {
                    closed = true;
                    i += 1;
                    break;
                }
                v.push(rest[i]);
                i += 1;
            }
            if !closed {
                m.invalid_quoting = true;
                return Err("Multipart: invalid quoting".to_owned());
            }
            rest = &rest[i..];
            pval = v;
        } else {
            let end = rest
                .iter()
                .position(|&b| b == b';' || b == b' ')
                .unwrap_or(rest.len());
            if rest[..end].contains(&b'\'') || rest[..end].contains(&b'"') {
                m.invalid_quoting = true;
            }
            pval = rest[..end].to_vec();
            rest = &rest[end..];
        }
        match pname.as_slice() {
            b"name" => {
                if name.is_some() {
                    return Err("Multipart: duplicate name parameter".to_owned());
                }
                name = Some(pval);
            }
            b"filename" | b"filename*" => {
                if filename.is_some() && pname == b"filename" {
                    return Err("Multipart: duplicate filename parameter".to_owned());
                }
                filename = Some(pval);
            }
            _ => return Err("Multipart: unknown Content-Disposition parameter".to_owned()),
        }
    }
    Ok((name, filename))
}

/// Parses a multipart/form-data body.
pub fn parse_multipart(body: &[u8], boundary: &[u8]) -> Multipart {
    let mut m = Multipart::default();
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let Some(first) = find(body, &delim) else {
        m.error = Some("Multipart: boundary not found".to_owned());
        m.unmatched_boundary = true;
        return m;
    };
    if body[..first].iter().any(|b| !b.is_ascii_whitespace()) {
        m.data_before = true;
    }
    let mut pos = first + delim.len();
    loop {
        // After a delimiter: `--` closes, otherwise CRLF / LF starts a part.
        if body[pos..].starts_with(b"--") {
            let after = &body[pos + 2..];
            if after.iter().any(|b| !b.is_ascii_whitespace()) {
                m.data_after = true;
            }
            break;
        }
        if body[pos..].starts_with(b"\r\n") {
            pos += 2;
            m.crlf_line = true;
        } else if body[pos..].starts_with(b"\n") {
            pos += 1;
            m.lf_line = true;
        } else {
            m.error = Some("Multipart: invalid boundary line".to_owned());
            m.invalid_part = true;
            return m;
        }
        // Headers.
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        loop {
            let Some(eol) = body[pos..].iter().position(|&b| b == b'\n') else {
                m.error = Some("Multipart: unexpected end of headers".to_owned());
                m.invalid_part = true;
                return m;
            };
            let mut line = &body[pos..pos + eol];
            pos += eol + 1;
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
                m.crlf_line = true;
            } else {
                m.lf_line = true;
            }
            if line.is_empty() {
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                m.header_folding = true;
                match headers.last_mut() {
                    Some(h) => h.1.extend_from_slice(line.trim_ascii_start()),
                    None => {
                        m.invalid_header_folding = true;
                        m.error = Some("Multipart: invalid header folding".to_owned());
                        return m;
                    }
                }
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                m.error = Some("Multipart: invalid part header".to_owned());
                m.invalid_part = true;
                return m;
            };
            headers.push((
                line[..colon].trim_ascii().to_vec(),
                line[colon + 1..].trim_ascii().to_vec(),
            ));
        }
        // Data up to the next delimiter (preceded by CRLF or LF).
        let Some(next) = find(&body[pos..], &delim) else {
            m.error = Some("Multipart: final boundary missing".to_owned());
            m.unmatched_boundary = true;
            return m;
        };
        let mut data = &body[pos..pos + next];
        if let Some(d) = data.strip_suffix(b"\r\n") {
            data = d;
        } else if let Some(d) = data.strip_suffix(b"\n") {
            data = d;
            m.lf_line = true;
        }
        pos += next + delim.len();
        let mut name = None;
        let mut filename = None;
        let mut has_disposition = false;
        for (h, v) in &headers {
            if h.eq_ignore_ascii_case(b"content-disposition") {
                has_disposition = true;
                match parse_disposition(v, &mut m) {
                    Ok((n, f)) => {
                        name = n;
                        filename = f;
                    }
                    Err(e) => {
                        m.error = Some(e);
                        return m;
                    }
                }
            }
        }
        if !has_disposition {
            m.error = Some("Multipart: part missing Content-Disposition header".to_owned());
            m.invalid_part = true;
            return m;
        }
        let name = name.unwrap_or_default();
        for (h, v) in &headers {
            let mut line = h.clone();
            line.extend_from_slice(b": ");
            line.extend_from_slice(v);
            m.part_headers.push((name.clone(), line));
        }
        match filename {
            Some(f) => m.files.push((name, f, data.len())),
            None => m.args.push((name, data.to_vec())),
        }
        if pos >= body.len() {
            m.error = Some("Multipart: final boundary missing".to_owned());
            return m;
        }
    }
    m
}

/// Text and attribute values of an XML document (a tolerant scanner, not a validating parser).
/// Returns (text nodes, attribute values) or an error for obviously malformed input.
pub fn parse_xml(data: &[u8]) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let mut text = Vec::new();
    let mut attrs = Vec::new();
    let mut i = 0;
    let mut depth: i64 = 0;
    let mut saw_element = false;
    while i < data.len() {
        if data[i] == b'<' {
            let Some(end) = data[i..].iter().position(|&b| b == b'>') else {
                return Err("XML parser error: unterminated tag".to_owned());
            };
            let tag = &data[i + 1..i + end];
            i += end + 1;
            if tag.starts_with(b"?") || tag.starts_with(b"!") {
                continue;
            }
            saw_element = true;
            if tag.starts_with(b"/") {
                depth -= 1;
            } else if !tag.ends_with(b"/") {
                depth += 1;
            }
            // attribute values
            let mut j = 0;
            while j < tag.len() {
                if tag[j] == b'"' || tag[j] == b'\'' {
                    let q = tag[j];
                    let start = j + 1;
                    let close = tag[start..]
                        .iter()
                        .position(|&b| b == q)
                        .map_or(tag.len(), |p| start + p);
                    attrs.push(xml_unescape(&tag[start..close]));
                    j = close + 1;
                } else {
                    j += 1;
                }
            }
        } else {
            let end = data[i..]
                .iter()
                .position(|&b| b == b'<')
                .map_or(data.len(), |p| i + p);
            let chunk = &data[i..end];
            if !chunk.trim_ascii().is_empty() {
                text.extend_from_slice(&xml_unescape(chunk));
            }
            i = end;
        }
    }
    if !saw_element || depth != 0 {
        return Err("XML parser error: document is not well-formed".to_owned());
    }
    Ok((text, attrs))
}

/// Replaces XML's predefined and numeric character references (as UTF-8).
pub fn xml_unescape(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'&'
            && let Some(end) = input[i..].iter().take(12).position(|&b| b == b';')
        {
            let name = &input[i + 1..i + end];
            let decoded: Option<Vec<u8>> = match name {
                b"lt" => Some(b"<".to_vec()),
                b"gt" => Some(b">".to_vec()),
                b"amp" => Some(b"&".to_vec()),
                b"quot" => Some(b"\"".to_vec()),
                b"apos" => Some(b"'".to_vec()),
                _ if name.first() == Some(&b'#') => {
                    let s = String::from_utf8_lossy(&name[1..]);
                    let n = match s.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok(),
                        None => s.parse::<u32>().ok(),
                    };
                    n.and_then(char::from_u32)
                        .map(|c| c.to_string().into_bytes())
                }
                _ => None,
            };
            if let Some(d) = decoded {
                out.extend_from_slice(&d);
                i += end + 1;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded() {
        let a = parse_urlencoded(b"a=1&b=%3Cx%3E+y&&c&d=", b'&');
        assert_eq!(a.len(), 4);
        assert_eq!(a[1], (b"b".to_vec(), b"<x> y".to_vec()));
        assert_eq!(a[2], (b"c".to_vec(), Vec::new()));
    }

    #[test]
    fn cookies() {
        let c = parse_cookies(b"a=1; b=x=y;c");
        assert_eq!(
            c,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"x=y".to_vec()),
                (b"c".to_vec(), Vec::new())
            ]
        );
    }

    #[test]
    fn json_flattening() {
        let a = parse_json(br#"{"a":{"b":[1,"x",null]},"c":true}"#, 100).unwrap();
        let names: Vec<String> = a
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["json.a.b.0", "json.a.b.1", "json.a.b.2", "json.c"]
        );
        assert!(parse_json(b"{", 10).is_err());
        assert!(parse_json(br#"{"a":{"b":{"c":1}}}"#, 1).is_err());
    }

    #[test]
    fn multipart() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\nContent-Type: text/plain\r\n\r\n<?php\r\n--XX--\r\n";
        let m = parse_multipart(body, b"XX");
        assert_eq!(m.error, None);
        assert_eq!(m.args, vec![(b"a".to_vec(), b"hello".to_vec())]);
        assert_eq!(m.files, vec![(b"f".to_vec(), b"x.php".to_vec(), 5)]);
        assert_eq!(m.part_headers.len(), 3);
        assert!(!m.strict_error());
        let m = parse_multipart(
            b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello",
            b"XX",
        );
        assert!(m.strict_error());
    }

    #[test]
    fn boundary() {
        let mut m = Multipart::default();
        assert_eq!(
            multipart_boundary(b"multipart/form-data; boundary=abc", &mut m),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            multipart_boundary(b"multipart/form-data; boundary=\"abc\"", &mut m),
            Some(b"abc".to_vec())
        );
        assert!(m.boundary_quoted);
    }

    #[test]
    fn xml() {
        let (t, a) = parse_xml(b"<?xml version=\"1.0\"?><a x=\"1\"><b>hi</b> there</a>").unwrap();
        assert_eq!(t, b"hi there");
        assert_eq!(a, vec![b"1".to_vec()]);
        assert!(parse_xml(b"<a>").is_err());
        assert_eq!(xml_unescape(b"&#x7B;a&lt;&#65;&bogus;"), b"{a<A&bogus;");
        assert!(parse_xml(b"not xml").is_err());
    }

    #[test]
    fn never_panics() {
        for body in [
            &b""[..],
            b"--",
            b"--XX",
            b"--XX\n",
            b"--XX\r\nA\r\n",
            b"--XX\r\nContent-Disposition: form-data; name=\"\r\n\r\n--XX--",
        ] {
            let _ = parse_multipart(body, b"XX");
        }
        let _ = parse_xml(b"<<>>");
        let _ = parse_json(b"[[[[[[", 3);
    }
}
