//! Installed-package databases found in image files (pure: bytes in, packages out): dpkg
//! `status` / `status.d/*`, apk `installed`, `os-release`, Python `*.dist-info/METADATA`,
//! `package.json`, JARs' `pom.properties`. Malformed input yields fewer packages, never a panic.

use std::io::Read;

/// An installed OS package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsPackage {
    pub name: String,
    pub version: String,
    pub src_name: String,
    pub src_version: String,
    pub arch: String,
}

/// Paragraphs of a deb822 / apk-style file: `Key: value` lines, continuation lines start
/// with a space, paragraphs end at a blank line.
fn deb822(text: &str) -> Vec<Vec<(&str, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(&str, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = cur.last_mut() {
                last.1.push('\n');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn field<'a>(p: &'a [(&str, String)], key: &str) -> Option<&'a str> {
    p.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// dpkg's `status` (or one `status.d/*` file, which has no `Status:` field): installed
/// packages only (`Status: install ok installed`).
pub fn parse_dpkg(text: &str) -> Vec<OsPackage> {
    let mut out = Vec::new();
    for p in deb822(text) {
        let (Some(name), Some(version)) = (field(&p, "Package"), field(&p, "Version")) else {
            continue;
        };
        if let Some(status) = field(&p, "Status")
            && status.split_whitespace().last() != Some("installed")
        {
            continue;
        }
        // `Source: openssl (3.0.11-1~deb12u1)`: the source version when it differs
        let (src_name, src_version) = match field(&p, "Source") {
            Some(src) => match src.split_once('(') {
                Some((n, v)) => (
                    n.trim().to_string(),
                    v.trim_end_matches(')').trim().to_string(),
                ),
                None => (src.trim().to_string(), version.to_string()),
            },
            None => (name.to_string(), version.to_string()),
        };
        out.push(OsPackage {
            name: name.to_string(),
            version: version.to_string(),
            src_name,
            src_version,
            arch: field(&p, "Architecture").unwrap_or("").to_string(),
        });
    }
    out
}

/// apk's `lib/apk/db/installed`: `P:` name, `V:` version, `o:` origin (the source), `A:` arch.
pub fn parse_apk(text: &str) -> Vec<OsPackage> {
    let mut out = Vec::new();
    let mut cur = OsPackage {
        name: String::new(),
        version: String::new(),
        src_name: String::new(),
        src_version: String::new(),
        arch: String::new(),
    };
    let flush = |cur: &mut OsPackage, out: &mut Vec<OsPackage>| {
        if !cur.name.is_empty() && !cur.version.is_empty() {
            let mut p = cur.clone();
            if p.src_name.is_empty() {
                p.src_name.clone_from(&p.name);
            }
            p.src_version.clone_from(&p.version);
            out.push(p);
        }
        *cur = OsPackage {
            name: String::new(),
            version: String::new(),
            src_name: String::new(),
            src_version: String::new(),
            arch: String::new(),
        };
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut cur, &mut out);
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k {
            "P" => cur.name = v.to_string(),
            "V" => cur.version = v.to_string(),
            "o" => cur.src_name = v.to_string(),
            "A" => cur.arch = v.to_string(),
            _ => {}
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// `KEY=value` pairs of `os-release` (quotes removed).
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// `Name` and `Version` of a Python core-metadata file (`METADATA`, `PKG-INFO`), name as
/// spelled there.
pub fn parse_python_metadata(text: &str) -> Option<(String, String)> {
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        if line.is_empty() {
            break; // the body (description) follows the headers
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name.get_or_insert_with(|| v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version.get_or_insert_with(|| v.trim().to_string());
        }
    }
    match (name, version) {
        (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => Some((n, v)),
        _ => None,
    }
}

/// `name` and `version` of a `package.json` (both strings, non-empty).
pub fn parse_package_json(bytes: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let name = v.get("name")?.as_str()?.trim();
    let version = v.get("version")?.as_str()?.trim();
    (!name.is_empty() && !version.is_empty()).then(|| (name.to_string(), version.to_string()))
}

/// Maximum inflated size of one `pom.properties` inside a JAR.
const MAX_POM_PROPERTIES: u64 = 64 << 10;

/// `groupId:artifactId` and `version` of every `META-INF/maven/**/pom.properties` in a JAR.
pub fn parse_jar(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a zip: {e}"))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let Ok(mut f) = zip.by_index(i) else {
            continue;
        };
        let name = f.name().to_string();
        if !(name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties")) {
            continue;
        }
        let mut text = String::new();
        if (&mut f)
            .take(MAX_POM_PROPERTIES + 1)
            .read_to_string(&mut text)
            .is_err()
            || text.len() as u64 > MAX_POM_PROPERTIES
        {
            continue;
        }
        let (mut g, mut a, mut v) = (None, None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, val)) = line.split_once('=') {
                let val = val.trim().to_string();
                match k.trim() {
                    "groupId" => g = Some(val),
                    "artifactId" => a = Some(val),
                    "version" => v = Some(val),
                    _ => {}
                }
            }
        }
        if let (Some(g), Some(a), Some(v)) = (g, a, v)
            && !g.is_empty()
            && !a.is_empty()
            && !v.is_empty()
        {
            out.push((format!("{g}:{a}"), v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_installed_only_with_sources() {
        let text = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl (3.0.11-1~deb12u1)\nVersion: 3.0.11-1~deb12u1+b1\nDescription: x\n multi line\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nArchitecture: amd64\n";
        let p = parse_dpkg(text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "libssl3");
        assert_eq!(p[0].src_name, "openssl");
        assert_eq!(p[0].src_version, "3.0.11-1~deb12u1");
        assert_eq!(p[0].version, "3.0.11-1~deb12u1+b1");
        assert_eq!(p[1].src_name, "bash");
        assert_eq!(p[1].src_version, "5.2.15-2+b2");
        // distroless status.d files have no Status field
        assert_eq!(parse_dpkg("Package: base-files\nVersion: 12.4\n").len(), 1);
        // garbage yields nothing
        assert!(parse_dpkg("\u{0}\u{1}::\n:\n").is_empty());
    }

    #[test]
    fn apk_installed() {
        let text = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\nP:libcrypto3\nV:3.1.4-r1\no:openssl\n";
        let p = parse_apk(text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].name, "libcrypto3");
        assert_eq!(p[1].src_name, "openssl");
        assert_eq!(p[1].version, "3.1.4-r1");
    }

    #[test]
    fn metadata_and_package_json() {
        assert_eq!(
            parse_python_metadata(
                "Metadata-Version: 2.1\nName: Werkzeug\nVersion: 2.0.0\n\nName: not-this\n"
            ),
            Some(("Werkzeug".into(), "2.0.0".into()))
        );
        assert_eq!(parse_python_metadata("Name: x\n"), None);
        assert_eq!(
            parse_package_json(br#"{"name":"@scope/a","version":"1.0.0"}"#),
            Some(("@scope/a".into(), "1.0.0".into()))
        );
        assert_eq!(parse_package_json(br#"{"name":"a"}"#), None);
        assert_eq!(parse_package_json(b"{nope"), None);
        let os = parse_os_release("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME='Debian'\n");
        assert!(os.contains(&("VERSION_ID".into(), "12".into())));
        assert!(os.contains(&("PRETTY_NAME".into(), "Debian".into())));
    }

    #[test]
    fn jar_pom_properties() {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            let o = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            w.start_file("META-INF/maven/org.example/lib/pom.properties", o)
                .expect("start");
            std::io::Write::write_all(
                &mut w,
                b"#generated\ngroupId=org.example\nartifactId=lib\nversion=1.2.3\n",
            )
            .expect("write");
            w.finish().expect("finish");
        }
        let got = parse_jar(buf.get_ref()).expect("jar");
        assert_eq!(
            got,
            vec![("org.example:lib".to_string(), "1.2.3".to_string())]
        );
        assert!(parse_jar(b"not a zip").is_err());
    }
}
