//! Modules compiled into executables (pure): Go's embedded build info (`\xff Go buildinf:`,
//! the inline-string form of Go 1.18+) and Rust's `cargo auditable` section (`.dep-v0`,
//! zlib-compressed JSON, inflated through a cap).

use std::io::Read;

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// Inflated `.dep-v0` JSON larger than this is refused.
const MAX_AUDIT_JSON: u64 = 8 << 20;

/// Modules of a Go binary: `(path, version)`, `stdlib` first (`v1.22.5`), then the main
/// module when it has a version, then dependencies (replacements applied). `None` when
/// the file carries no (readable) build info.
pub fn go_modules(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let at = memchr::memmem::find(bytes, GO_MAGIC)?;
    let header = bytes.get(at..at.checked_add(32)?)?;
    let flags = header[15];
    if flags & 0x2 == 0 {
        // Go < 1.18 stores pointers to the strings; not read
        return None;
    }
    let mut rest = &bytes[at + 32..];
    let version = read_varint_str(&mut rest)?;
    let modinfo = read_varint_str(&mut rest)?;
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        modinfo
    };
    let version = String::from_utf8_lossy(version);
    let modinfo = String::from_utf8_lossy(modinfo);
    let mut out = Vec::new();
    let go = version.trim().trim_start_matches("go");
    let go = go.split([' ', '-']).next().unwrap_or(go);
    if !go.is_empty() {
        out.push(("stdlib".to_string(), format!("v{go}")));
    }
    for line in modinfo.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.first().copied() {
            Some("mod") if f.len() >= 3 && f[2] != "(devel)" && !f[2].is_empty() => {
                out.push((f[1].to_string(), f[2].to_string()));
            }
            Some("dep") if f.len() >= 3 => out.push((f[1].to_string(), f[2].to_string())),
            Some("=>") if f.len() >= 3 => {
                // replaces the dep just before it
                if let Some(last) = out.last_mut()
                    && last.0 != "stdlib"
                {
                    *last = (f[1].to_string(), f[2].to_string());
                }
            }
            _ => {}
        }
    }
    Some(out)
}

fn read_varint_str<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut n: u64 = 0;
    let mut shift = 0;
    let mut used = 0;
    loop {
        let b = *buf.get(used)?;
        used += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let len = usize::try_from(n).ok()?;
    let s = buf.get(used..used.checked_add(len)?)?;
    *buf = &buf[used + len..];
    Some(s)
}

/// Packages recorded by `cargo auditable`: `(name, version)` of every runtime dependency.
/// `None` when the binary has no `.dep-v0` section.
pub fn rust_audit(bytes: &[u8]) -> Option<Result<Vec<(String, String)>, String>> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(bytes).ok()?;
    let section = file.section_by_name(".dep-v0")?;
    let data = match section.data() {
        Ok(d) => d,
        Err(e) => return Some(Err(format!(".dep-v0: {e}"))),
    };
    let mut json = Vec::new();
    let inflated = flate2::read::ZlibDecoder::new(data)
        .take(MAX_AUDIT_JSON + 1)
        .read_to_end(&mut json);
    if let Err(e) = inflated {
        return Some(Err(format!(".dep-v0: {e}")));
    }
    if json.len() as u64 > MAX_AUDIT_JSON {
        return Some(Err(".dep-v0 inflates past 8 MiB".to_string()));
    }
    Some(parse_audit_json(&json))
}

/// The `cargo auditable` JSON (`{"packages":[{"name","version","kind"?,...}]}`).
pub fn parse_audit_json(json: &[u8]) -> Result<Vec<(String, String)>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!(".dep-v0 JSON: {e}"))?;
    let mut out = Vec::new();
    for p in v["packages"].as_array().into_iter().flatten() {
        let kind = p["kind"].as_str().unwrap_or("runtime");
        if kind != "runtime" {
            continue;
        }
        if let (Some(n), Some(ver)) = (p["name"].as_str(), p["version"].as_str()) {
            out.push((n.to_string(), ver.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Go 1.18+ build-info blob as the linker writes it (inline strings, sentinels).
    pub(crate) fn go_blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut b = b"\x7fELF junk before".to_vec();
        b.extend_from_slice(GO_MAGIC);
        b.push(8); // pointer size
        b.push(0x2); // inline strings
        b.extend_from_slice(&[0u8; 16]);
        let push_str = |b: &mut Vec<u8>, s: &[u8]| {
            let mut n = s.len();
            loop {
                let mut byte = (n & 0x7f) as u8;
                n >>= 7;
                if n != 0 {
                    byte |= 0x80;
                }
                b.push(byte);
                if n == 0 {
                    break;
                }
            }
            b.extend_from_slice(s);
        };
        push_str(&mut b, version.as_bytes());
        let mut mi = vec![0x30u8; 16];
        mi.extend_from_slice(modinfo.as_bytes());
        mi.extend_from_slice(&[0xf9; 16]);
        push_str(&mut b, &mi);
        b.extend_from_slice(b"trailing");
        b
    }

    #[test]
    fn go_build_info() {
        let mi = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/net\tv0.30.0\th1:x=\ndep\tgithub.com/old/x\tv1.0.0\th1:y=\n=>\tgithub.com/new/x\tv1.1.0\th1:z=\nbuild\t-compiler=gc\n";
        let got = go_modules(&go_blob("go1.22.5", mi)).expect("build info");
        assert_eq!(
            got,
            vec![
                ("stdlib".to_string(), "v1.22.5".to_string()),
                ("golang.org/x/net".to_string(), "v0.30.0".to_string()),
                ("github.com/new/x".to_string(), "v1.1.0".to_string()),
            ]
        );
        assert!(go_modules(b"no magic here").is_none());
        // a header cut short, a length past the end
        let blob = go_blob("go1.22.5", mi);
        for cut in [20, 33, 40, blob.len() - 30] {
            let _ = go_modules(&blob[..cut]);
        }
        let mut bad = b"xx".to_vec();
        bad.extend_from_slice(GO_MAGIC);
        bad.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        bad.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(go_modules(&bad).is_none());
    }

    #[test]
    fn cargo_auditable_json() {
        let j = br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true},{"name":"serde","version":"1.0.0","source":"crates.io"},{"name":"cc","version":"1.0.0","kind":"build"}]}"#;
        assert_eq!(
            parse_audit_json(j).expect("json"),
            vec![
                ("app".to_string(), "0.1.0".to_string()),
                ("serde".to_string(), "1.0.0".to_string())
            ]
        );
        assert!(rust_audit(b"not an object file").is_none());
    }
}
