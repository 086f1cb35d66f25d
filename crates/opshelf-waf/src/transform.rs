//! Transformations (`t:`), byte-for-byte with ModSecurity's implementations
//! (`apache2/msc_util.c` / `src/actions/transformations/*.cc`). Pure functions over bytes;
//! none of them panics on any input.

use sha1::Digest as _;

/// A transformation named in a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    Base64Decode,
    Base64DecodeExt,
    Base64Encode,
    CmdLine,
    CompressWhitespace,
    CssDecode,
    EscapeSeqDecode,
    HexDecode,
    HexEncode,
    HtmlEntityDecode,
    JsDecode,
    Length,
    Lowercase,
    Md5,
    NormalizePath,
    NormalizePathWin,
    RemoveComments,
    RemoveCommentsChar,
    RemoveNulls,
    RemoveWhitespace,
    ReplaceComments,
    ReplaceNulls,
    Sha1,
    SqlHexDecode,
    Trim,
    TrimLeft,
    TrimRight,
    Uppercase,
    UrlDecode,
    UrlDecodeUni,
    UrlEncode,
    Utf8ToUnicode,
}

impl Transform {
    /// Looks a transformation up by its SecLang name (case-insensitive). `none` is handled by the caller.
    pub fn from_name(name: &str) -> Option<Self> {
        let t = match name.to_ascii_lowercase().as_str() {
            "base64decode" => Self::Base64Decode,
            "base64decodeext" => Self::Base64DecodeExt,
            "base64encode" => Self::Base64Encode,
            "cmdline" => Self::CmdLine,
            "compresswhitespace" => Self::CompressWhitespace,
            "cssdecode" => Self::CssDecode,
            "escapeseqdecode" => Self::EscapeSeqDecode,
            "hexdecode" => Self::HexDecode,
            "hexencode" => Self::HexEncode,
            "htmlentitydecode" => Self::HtmlEntityDecode,
            "jsdecode" => Self::JsDecode,
            "length" => Self::Length,
            "lowercase" => Self::Lowercase,
            "md5" => Self::Md5,
            "normalizepath" | "normalisepath" => Self::NormalizePath,
            "normalizepathwin" | "normalisepathwin" => Self::NormalizePathWin,
            "removecomments" => Self::RemoveComments,
            "removecommentschar" => Self::RemoveCommentsChar,
            "removenulls" => Self::RemoveNulls,
            "removewhitespace" => Self::RemoveWhitespace,
            "replacecomments" => Self::ReplaceComments,
            "replacenulls" => Self::ReplaceNulls,
            "sha1" => Self::Sha1,
            "sqlhexdecode" => Self::SqlHexDecode,
            "trim" => Self::Trim,
            "trimleft" => Self::TrimLeft,
            "trimright" => Self::TrimRight,
            "uppercase" => Self::Uppercase,
            "urldecode" => Self::UrlDecode,
            "urldecodeuni" => Self::UrlDecodeUni,
            "urlencode" => Self::UrlEncode,
            "utf8tounicode" => Self::Utf8ToUnicode,
            _ => return None,
        };
        Some(t)
    }

    /// Applies the transformation.
    pub fn apply(self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Base64Decode => base64_decode(input, false),
            Self::Base64DecodeExt => base64_decode(input, true),
            Self::Base64Encode => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .encode(input)
                    .into_bytes()
            }
            Self::CmdLine => cmd_line(input),
            Self::CompressWhitespace => compress_whitespace(input),
            Self::CssDecode => css_decode(input),
            Self::EscapeSeqDecode => escape_seq_decode(input),
            Self::HexDecode => hex_decode(input),
            Self::HexEncode => hex::encode(input).into_bytes(),
            Self::HtmlEntityDecode => html_entity_decode(input),
            Self::JsDecode => js_decode(input),
            Self::Length => input.len().to_string().into_bytes(),
            Self::Lowercase => input.to_ascii_lowercase(),
            Self::Md5 => md5::compute(input).0.to_vec(),
            Self::NormalizePath => normalize_path(input, false),
            Self::NormalizePathWin => normalize_path(input, true),
            Self::RemoveComments => remove_comments(input),
            Self::RemoveCommentsChar => remove_comments_char(input),
            Self::RemoveNulls => input.iter().copied().filter(|&b| b != 0).collect(),
            Self::RemoveWhitespace => input
                .iter()
                .copied()
                .filter(|&b| !is_space(b) && b != 0xa0)
                .collect(),
            Self::ReplaceComments => replace_comments(input),
            Self::ReplaceNulls => input
                .iter()
                .map(|&b| if b == 0 { b' ' } else { b })
                .collect(),
            Self::Sha1 => sha1::Sha1::digest(input).to_vec(),
            Self::SqlHexDecode => sql_hex_decode(input),
            Self::Trim => trim_right(trim_left(input)).to_vec(),
            Self::TrimLeft => trim_left(input).to_vec(),
            Self::TrimRight => trim_right(input).to_vec(),
            Self::Uppercase => input.to_ascii_uppercase(),
            Self::UrlDecode => url_decode(input),
            Self::UrlDecodeUni => url_decode_uni(input),
            Self::UrlEncode => url_encode(input),
            Self::Utf8ToUnicode => utf8_to_unicode(input),
        }
    }
}

/// C `isspace` in the "C" locale.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// `x2c`: two hex digits to a byte (caller checked validity).
fn x2c(a: u8, b: u8) -> u8 {
    (hex_val(a).unwrap_or(0) << 4) | hex_val(b).unwrap_or(0)
}

fn is_odigit(b: u8) -> bool {
    (b'0'..=b'7').contains(&b)
}

fn trim_left(input: &[u8]) -> &[u8] {
    let start = input
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(input.len());
    &input[start..]
}

fn trim_right(input: &[u8]) -> &[u8] {
    let end = input
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(0, |p| p + 1);
    &input[..end]
}

/// `urlDecode`: `%HH` and `+`; invalid escapes are kept as they are.
pub fn url_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c == b'%' && i + 2 < input.len() && is_hex(input[i + 1]) && is_hex(input[i + 2]) {
            out.push(x2c(input[i + 1], input[i + 2]));
            i += 3;
        } else if c == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `urlDecodeUni`: like `urlDecode` plus IIS `%uHHHH` (low byte, full-width ASCII folded).
pub fn url_decode_uni(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    let n = input.len();
    while i < n {
        let c = input[i];
        if c == b'%' {
            if i + 1 < n && (input[i + 1] == b'u' || input[i + 1] == b'U') {
                if i + 5 < n && input[i + 2..i + 6].iter().all(|&b| is_hex(b)) {
                    let mut d = x2c(input[i + 4], input[i + 5]);
                    if d > 0
                        && d < 0x5f
                        && (input[i + 2] | 0x20) == b'f'
                        && (input[i + 3] | 0x20) == b'f'
                    {
                        d += 0x20;
                    }
                    out.push(d);
                    i += 6;
                } else {
                    out.push(c);
                    i += 1;
                }
            } else if i + 2 < n && is_hex(input[i + 1]) && is_hex(input[i + 2]) {
                out.push(x2c(input[i + 1], input[i + 2]));
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else if c == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn url_encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for &b in input {
        if b == b' ' {
            out.push(b'+');
        } else if b.is_ascii_alphanumeric() || b == b'*' || b == b'-' || b == b'.' || b == b'_' {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        }
    }
    out
}

/// strtol-like parse of digits with saturation, then truncated to a byte as C's cast does.
fn strtol_byte(digits: &[u8], radix: u32) -> u8 {
    let mut v: u64 = 0;
    for &d in digits {
        let x = match d {
            b'0'..=b'9' => u64::from(d - b'0'),
            b'a'..=b'f' => u64::from(d - b'a' + 10),
            b'A'..=b'F' => u64::from(d - b'A' + 10),
            _ => break,
        };
        v = v.saturating_mul(u64::from(radix)).saturating_add(x);
        if v > i64::MAX as u64 {
            v = i64::MAX as u64;
        }
    }
    (v & 0xff) as u8
}

/// `htmlEntityDecode`: `&#xHH;`, `&#DDD;`, `&quot; &amp; &lt; &gt; &nbsp;` (semicolon optional).
pub fn html_entity_decode(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let mut copy = 1;
        if input[i] == b'&' && i + 1 < n {
            if input[i + 1] == b'#' {
                if i + 2 < n && (input[i + 2] == b'x' || input[i + 2] == b'X') {
                    let k = i + 3;
                    let mut j = k;
                    while j < n && is_hex(input[j]) {
                        j += 1;
                    }
                    if j > k {
                        out.push(strtol_byte(&input[k..j], 16));
                        i = if j < n && input[j] == b';' { j + 1 } else { j };
                        continue;
                    }
                } else {
                    let k = i + 2;
                    let mut j = k;
                    while j < n && input[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j > k {
                        out.push(strtol_byte(&input[k..j], 10));
                        i = if j < n && input[j] == b';' { j + 1 } else { j };
                        continue;
                    }
                }
            } else {
                let k = i + 1;
                let mut j = k;
                while j < n && input[j].is_ascii_alphanumeric() {
                    j += 1;
                }
                if j > k {
                    let name = input[k..j].to_ascii_lowercase();
                    let decoded = match name.as_slice() {
                        b"quot" => Some(b'"'),
                        b"amp" => Some(b'&'),
                        b"lt" => Some(b'<'),
                        b"gt" => Some(b'>'),
                        b"nbsp" => Some(0xa0),
                        _ => None,
                    };
                    if let Some(d) = decoded {
                        out.push(d);
                        i = if j < n && input[j] == b';' { j + 1 } else { j };
                        continue;
                    }
                    copy = j - k + 1;
                }
            }
        }
        let end = (i + copy).min(n);
        out.extend_from_slice(&input[i..end]);
        i = end;
    }
    out
}

/// `jsDecode`: `\uHHHH`, `\xHH`, `\OOO`, `\n`-style escapes.
pub fn js_decode(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        if input[i] != b'\\' {
            out.push(input[i]);
            i += 1;
            continue;
        }
        if i + 5 < n && input[i + 1] == b'u' && input[i + 2..i + 6].iter().all(|&b| is_hex(b)) {
            let mut d = x2c(input[i + 4], input[i + 5]);
            if d > 0 && d < 0x5f && (input[i + 2] | 0x20) == b'f' && (input[i + 3] | 0x20) == b'f' {
                d += 0x20;
            }
            out.push(d);
            i += 6;
        } else if i + 3 < n && input[i + 1] == b'x' && is_hex(input[i + 2]) && is_hex(input[i + 3])
        {
            out.push(x2c(input[i + 2], input[i + 3]));
            i += 4;
        } else if i + 1 < n && is_odigit(input[i + 1]) {
            let mut j = 0;
            while i + 1 + j < n && j < 3 {
                j += 1;
                if i + 1 + j >= n || !is_odigit(input[i + 1 + j]) {
                    break;
                }
            }
            if j == 3 && input[i + 1] > b'3' {
                j = 2;
            }
            out.push(strtol_byte(&input[i + 1..i + 1 + j], 8));
            i += 1 + j;
        } else if i + 1 < n {
            let c = match input[i + 1] {
                b'a' => 0x07,
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 0x0b,
                other => other,
            };
            out.push(c);
            i += 2;
        } else {
            out.extend_from_slice(&input[i..]);
            i = n;
        }
    }
    out
}

/// `cssDecode`: CSS 2.x escapes (`\HH..HHHHHH`, escaped newline, `\c`).
pub fn css_decode(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        if input[i] != b'\\' {
            out.push(input[i]);
            i += 1;
            continue;
        }
        if i + 1 >= n {
            i += 1;
            continue;
        }
        i += 1;
        let mut j = 0;
        while j < 6 && i + j < n && is_hex(input[i + j]) {
            j += 1;
        }
        if j > 0 {
            let mut fullcheck = false;
            let d: u8;
            match j {
                1 => {
                    d = hex_val(input[i]).unwrap_or(0);
                    out.push(d);
                }
                2 | 3 => {
                    d = x2c(input[i + j - 2], input[i + j - 1]);
                    out.push(d);
                }
                4 => {
                    d = x2c(input[i + j - 2], input[i + j - 1]);
                    fullcheck = true;
                }
                5 => {
                    d = x2c(input[i + j - 2], input[i + j - 1]);
                    if input[i] == b'0' {
                        fullcheck = true;
                    } else {
                        out.push(d);
                    }
                }
                _ => {
                    d = x2c(input[i + j - 2], input[i + j - 1]);
                    if input[i] == b'0' && input[i + 1] == b'0' {
                        fullcheck = true;
                    } else {
                        out.push(d);
                    }
                }
            }
            if fullcheck {
                let mut d = d;
                if d > 0
                    && d < 0x5f
                    && (input[i + j - 3] | 0x20) == b'f'
                    && (input[i + j - 4] | 0x20) == b'f'
                {
                    d += 0x20;
                }
                out.push(d);
            }
            if i + j < n && is_space(input[i + j]) {
                j += 1;
            }
            i += j;
        } else if input[i] == b'\n' {
            i += 1;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

/// `escapeSeqDecode`: ANSI C escapes.
pub fn escape_seq_decode(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        if input[i] == b'\\' && i + 1 < n {
            let mut c: Option<u8> = match input[i + 1] {
                b'a' => Some(0x07),
                b'b' => Some(0x08),
                b'f' => Some(0x0c),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'v' => Some(0x0b),
                b'\\' => Some(b'\\'),
                b'?' => Some(b'?'),
                b'\'' => Some(b'\''),
                b'"' => Some(b'"'),
                _ => None,
            };
            if c.is_some() {
                i += 2;
            } else if input[i + 1] == b'x' || input[i + 1] == b'X' {
                if i + 3 < n && is_hex(input[i + 2]) && is_hex(input[i + 3]) {
                    c = Some(x2c(input[i + 2], input[i + 3]));
                    i += 4;
                }
            } else if is_odigit(input[i + 1]) {
                let mut j = 0;
                while i + 1 + j < n && j < 3 {
                    j += 1;
                    if i + 1 + j >= n || !is_odigit(input[i + 1 + j]) {
                        break;
                    }
                }
                c = Some(strtol_byte(&input[i + 1..i + 1 + j], 8));
                i += 1 + j;
            }
            match c {
                Some(c) => out.push(c),
                None => {
                    out.push(input[i + 1]);
                    i += 2;
                }
            }
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

/// `cmdLine`: deletes `\ " ' ^`, folds `, ; whitespace` runs into one space, drops spaces
/// before `/` and `(`, lowercases.
pub fn cmd_line(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut space = false;
    for &a in input {
        match a {
            b'"' | b'\'' | b'\\' | b'^' => {}
            b' ' | b',' | b';' | b'\t' | b'\r' | b'\n' => {
                if !space {
                    out.push(b' ');
                    space = true;
                }
            }
            b'/' | b'(' => {
                if space {
                    out.pop();
                }
                space = false;
                out.push(a);
            }
            _ => {
                out.push(a.to_ascii_lowercase());
                space = false;
            }
        }
    }
    out
}

/// `compressWhitespace`: whitespace (and NBSP) runs become one space.
pub fn compress_whitespace(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut count = 0usize;
    for &b in input {
        if is_space(b) || b == 0xa0 {
            count += 1;
        } else {
            if count > 0 {
                out.push(b' ');
                count = 0;
            }
            out.push(b);
        }
    }
    if count > 0 {
        out.push(b' ');
    }
    out
}

/// `removeCommentsChar`: deletes `/*`, `*/`, `<!--`, `-->`, `--` and `#`.
pub fn remove_comments_char(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let rest = &input[i..];
        if rest.starts_with(b"/*") || rest.starts_with(b"*/") {
            i += 2;
        } else if rest.starts_with(b"<!--") {
            i += 4;
        } else if rest.starts_with(b"-->") {
            i += 3;
        } else if rest.starts_with(b"--") {
            i += 2;
        } else if rest[0] == b'#' {
            i += 1;
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    out
}

/// `replaceComments`: each `/* ... */` (an unterminated one too) becomes one space.
pub fn replace_comments(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    let mut incomment = false;
    while i < n {
        if !incomment {
            if input[i] == b'/' && i + 1 < n && input[i + 1] == b'*' {
                incomment = true;
                i += 2;
            } else {
                out.push(input[i]);
                i += 1;
            }
        } else if input[i] == b'*' && i + 1 < n && input[i + 1] == b'/' {
            incomment = false;
            i += 2;
            out.push(b' ');
        } else {
            i += 1;
        }
    }
    if incomment {
        out.push(b' ');
    }
    out
}

/// `removeComments`: deletes `/* */` comments and everything after `--` or `#`.
pub fn remove_comments(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    let mut incomment = false;
    while i < n {
        if !incomment {
            if (input[i] == b'/' && i + 1 < n && input[i + 1] == b'*')
                || (input[i] == b'<' && input[i..].starts_with(b"<!--"))
            {
                incomment = true;
                i += if input[i] == b'/' { 2 } else { 4 };
            } else if input[i] == b'-' && i + 1 < n && input[i + 1] == b'-' || input[i] == b'#' {
                break;
            } else {
                out.push(input[i]);
                i += 1;
            }
        } else if input[i] == b'*' && i + 1 < n && input[i + 1] == b'/' {
            incomment = false;
            i += 2;
        } else if input[i..].starts_with(b"-->") {
            incomment = false;
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// `normalizePath`/`normalizePathWin`: removes `.` segments, resolves `..`, collapses `//`;
/// a trailing slash is kept. (Go's `path.Clean` semantics, which Coraza uses.)
pub fn normalize_path(input: &[u8], win: bool) -> Vec<u8> {
    if input.is_empty() {
        return Vec::new();
    }
    let data: Vec<u8> = if win {
        input
            .iter()
            .map(|&b| if b == b'\\' { b'/' } else { b })
            .collect()
    } else {
        input.to_vec()
    };
    let rooted = data[0] == b'/';
    let trailing = data.len() > 1 && data[data.len() - 1] == b'/';
    let mut segs: Vec<&[u8]> = Vec::new();
    let mut dotdot_floor = 0usize;
    for seg in data.split(|&b| b == b'/') {
        if seg.is_empty() || seg == b"." {
            continue;
        }
        if seg == b".." {
            if segs.len() > dotdot_floor {
                segs.pop();
            } else if !rooted {
                segs.push(seg);
                dotdot_floor = segs.len();
            }
            continue;
        }
        segs.push(seg);
    }
    let mut out = Vec::with_capacity(data.len());
    if rooted {
        out.push(b'/');
    }
    out.extend_from_slice(&segs.join(&b'/'));
    if out.is_empty() {
        // path.Clean returns "."; ModSecurity leaves nothing meaningful either.
        return if trailing { b"/".to_vec() } else { Vec::new() };
    }
    if trailing && out != b"/" {
        out.push(b'/');
    }
    out
}

/// `utf8toUnicode`: multi-byte UTF-8 sequences become `%uHHHH`.
pub fn utf8_to_unicode(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let c = input[i];
        let cont = |k: usize| i + k < n && input[i + k] & 0xc0 == 0x80;
        let (len, cp) = if c < 0x80 {
            (0, 0u32)
        } else if c & 0xe0 == 0xc0 && cont(1) {
            (
                2,
                (u32::from(c & 0x1f) << 6) | u32::from(input[i + 1] & 0x3f),
            )
        } else if c & 0xf0 == 0xe0 && cont(1) && cont(2) {
            (
                3,
                (u32::from(c & 0x0f) << 12)
                    | (u32::from(input[i + 1] & 0x3f) << 6)
                    | u32::from(input[i + 2] & 0x3f),
            )
        } else if c & 0xf8 == 0xf0 && c < 0xf5 && cont(1) && cont(2) && cont(3) {
            (
                4,
                (u32::from(c & 0x07) << 18)
                    | (u32::from(input[i + 1] & 0x3f) << 12)
                    | (u32::from(input[i + 2] & 0x3f) << 6)
                    | u32::from(input[i + 3] & 0x3f),
            )
        } else {
            (0, 0)
        };
        if len == 0 {
            out.push(c);
            i += 1;
        } else {
            out.extend_from_slice(format!("%u{cp:04x}").as_bytes());
            i += len;
        }
    }
    out
}

fn base64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// `base64Decode` stops at the first character outside the alphabet; `base64DecodeExt` skips them.
fn base64_decode(input: &[u8], skip_invalid: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in input {
        if b == b'=' {
            break;
        }
        let Some(v) = base64_value(b) else {
            if skip_invalid {
                continue;
            }
            break;
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

fn hex_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2);
    let mut i = 0;
    while i + 1 < input.len() {
        out.push(x2c(input[i], input[i + 1]));
        i += 2;
    }
    out
}

/// `sqlHexDecode`: `0xHEX` literals to bytes.
fn sql_hex_decode(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        if input[i] == b'0'
            && i + 3 < n
            && (input[i + 1] | 0x20) == b'x'
            && is_hex(input[i + 2])
            && is_hex(input[i + 3])
        {
            i += 2;
            while i + 1 < n && is_hex(input[i]) && is_hex(input[i + 1]) {
                out.push(x2c(input[i], input[i + 1]));
                i += 2;
            }
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

/// A tiny MD5 (RFC 1321) so `t:md5` needs no extra crate.
mod md5 {
    pub struct Digest(pub [u8; 16]);

    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];

    pub fn compute(input: &[u8]) -> Digest {
        let k: Vec<u32> = (0..64)
            .map(|i: u32| ((f64::from(i) + 1.0).sin().abs() * 4_294_967_296.0) as u32)
            .collect();
        let mut a0: u32 = 0x6745_2301;
        let mut b0: u32 = 0xefcd_ab89;
        let mut c0: u32 = 0x98ba_dcfe;
        let mut d0: u32 = 0x1032_5476;
        let mut msg = input.to_vec();
        let bit_len = (input.len() as u64).wrapping_mul(8);
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&bit_len.to_le_bytes());
        for chunk in msg.chunks(64) {
            let m: Vec<u32> = chunk
                .chunks(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let f2 = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(f2.rotate_left(S[i]));
            }
            a0 = a0.wrapping_add(a);
            b0 = b0.wrapping_add(b);
            c0 = c0.wrapping_add(c);
            d0 = d0.wrapping_add(d);
        }
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&a0.to_le_bytes());
        out[4..8].copy_from_slice(&b0.to_le_bytes());
        out[8..12].copy_from_slice(&c0.to_le_bytes());
        out[12..].copy_from_slice(&d0.to_le_bytes());
        Digest(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tr: Transform, input: &[u8]) -> Vec<u8> {
        tr.apply(input)
    }

    #[test]
    fn url_decoding() {
        assert_eq!(url_decode(b"a%20b+c%zz%4"), b"a b c%zz%4");
        assert_eq!(url_decode_uni(b"%u0041%uff0e%U0062%u12"), b"A.b%u12");
        assert_eq!(url_decode_uni(b"%27%"), b"'%");
    }

    #[test]
    fn html_entities() {
        assert_eq!(
            html_entity_decode(b"&lt;script&gt;&#x41;&#66&quot;&amp&nbsp;&foo;"),
            b"<script>AB\"&\xa0&foo;"
        );
        assert_eq!(html_entity_decode(b"&#x;&#;&"), b"&#x;&#;&");
        assert_eq!(html_entity_decode(b"&#x10041;"), b"A");
    }

    #[test]
    fn js_escapes() {
        assert_eq!(js_decode(b"\\x41\\u0042\\uff0e\\101\\n\\q\\"), b"AB.A\nq\\");
        assert_eq!(js_decode(b"\\477"), b"'7");
    }

    #[test]
    fn css_escapes() {
        assert_eq!(css_decode(b"\\61 b\\62\\\nc\\"), b"abbc");
        assert_eq!(css_decode(b"j\\61vascript"), b"javascript");
        assert_eq!(css_decode(b"\\0000ff0e"), b"\xff0e");
        assert_eq!(css_decode(b"\\00ff0e"), b".");
        assert_eq!(css_decode(b"\\ff0e"), b".");
    }

    #[test]
    fn escape_sequences() {
        assert_eq!(escape_seq_decode(b"\\x41\\101\\n\\z\\"), b"AA\nz\\");
    }

    #[test]
    fn cmd_line_rules() {
        assert_eq!(
            cmd_line(b"C:\\WINDOWS\\system32\\CMD.exe  /c ,;  \"dir\""),
            b"c:windowssystem32cmd.exe/c dir"
        );
        assert_eq!(cmd_line(b"ec'h'o ^foo (bar)"), b"echo foo(bar)");
    }

    #[test]
    fn whitespace_and_comments() {
        assert_eq!(compress_whitespace(b"a \t\n b\xa0\xa0c "), b"a b c ");
        assert_eq!(t(Transform::RemoveWhitespace, b" a\tb\xa0c"), b"abc");
        assert_eq!(replace_comments(b"a/* x */b/*c"), b"a b ");
        assert_eq!(remove_comments_char(b"a/*b*/c--d#e<!--f-->"), b"abcdef");
        assert_eq!(t(Transform::RemoveNulls, b"a\0b"), b"ab");
        assert_eq!(t(Transform::ReplaceNulls, b"a\0b"), b"a b");
    }

    #[test]
    fn paths() {
        assert_eq!(
            normalize_path(b"/foo/./bar/../baz//x/", false),
            b"/foo/baz/x/"
        );
        assert_eq!(normalize_path(b"/../../etc/passwd", false), b"/etc/passwd");
        assert_eq!(
            normalize_path(b"../../etc/passwd", false),
            b"../../etc/passwd"
        );
        assert_eq!(normalize_path(b"a\\..\\..\\b", true), b"../b");
    }

    #[test]
    fn unicode_and_hashes() {
        assert_eq!(utf8_to_unicode("aé€".as_bytes()), b"a%u00e9%u20ac");
        assert_eq!(utf8_to_unicode(b"\xc3"), b"\xc3");
        assert_eq!(t(Transform::Sha1, b"abc").len(), 20);
        assert_eq!(
            hex::encode(t(Transform::Md5, b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(t(Transform::HexEncode, b"\x01a"), b"0161");
        assert_eq!(t(Transform::Length, b"abcd"), b"4");
        assert_eq!(t(Transform::Base64Decode, b"Zm9vYmFy"), b"foobar");
        assert_eq!(t(Transform::Base64Decode, b"Zm9v!YmFy"), b"foo");
        assert_eq!(t(Transform::Base64DecodeExt, b"Zm9v!YmFy"), b"foobar");
        assert_eq!(t(Transform::Trim, b" \ta \n"), b"a");
        assert_eq!(t(Transform::SqlHexDecode, b"0x414243 x"), b"ABC x");
    }

    #[test]
    fn never_panics_on_edges() {
        let inputs: [&[u8]; 8] = [
            b"",
            b"%",
            b"%u",
            b"\\",
            b"&",
            b"&#",
            b"\\u00",
            b"\xff\xfe\xc3",
        ];
        for input in inputs {
            for name in [
                "urldecodeuni",
                "htmlentitydecode",
                "jsdecode",
                "cssdecode",
                "escapeseqdecode",
                "cmdline",
                "normalizepathwin",
                "utf8tounicode",
                "base64decode",
                "sqlhexdecode",
                "hexdecode",
            ] {
                let _ = Transform::from_name(name).unwrap().apply(input);
            }
        }
    }
}
