//! The embedded front end: hand-written ES modules and the vendored libraries under
//! `assets/`, compiled into the binary, gzipped once at start, served with strong ETags
//! and a strict Content-Security-Policy (no inline script or style, nothing from elsewhere).

use std::collections::HashMap;
use std::io::Write as _;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// The policy on every console response.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

macro_rules! asset {
    ($path:literal) => {
        (
            $path,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)).as_slice(),
        )
    };
}

/// Every file, by its path under `/console/assets/`.
const FILES: &[(&str, &[u8])] = &[
    asset!("app.css"),
    asset!("js/app.js"),
    asset!("js/api.js"),
    asset!("js/ui.js"),
    asset!("js/chart.js"),
    asset!("js/pages/index.js"),
    asset!("js/pages/overview.js"),
    asset!("js/pages/flags.js"),
    asset!("js/pages/flag.js"),
    asset!("js/pages/waf.js"),
    asset!("js/pages/secrets.js"),
    asset!("js/pages/scans.js"),
    asset!("js/pages/traces.js"),
    asset!("js/pages/logs.js"),
    asset!("js/pages/users.js"),
    asset!("js/pages/activity.js"),
    asset!("vendor/preact.module.js"),
    asset!("vendor/hooks.module.js"),
    asset!("vendor/htm.module.js"),
    asset!("vendor/uPlot.iife.min.js"),
    asset!("vendor/uPlot.min.css"),
    asset!("favicon.svg"),
];

const INDEX: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/index.html"));

/// One file ready to serve.
#[derive(Debug)]
pub struct Asset {
    pub content_type: &'static str,
    pub plain: Vec<u8>,
    pub gzip: Vec<u8>,
    pub etag: String,
}

impl Asset {
    fn new(content_type: &'static str, plain: Vec<u8>) -> Self {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        // Writing to a Vec cannot fail.
        let _ = enc.write_all(&plain);
        let gzip = enc.finish().unwrap_or_default();
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&plain))[..24]);
        Self {
            content_type,
            plain,
            gzip,
            etag,
        }
    }

    /// The response for a request with these headers: 304 on a matching `If-None-Match`,
    /// the gzip bytes when accepted.
    #[must_use]
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let mut resp = if headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == self.etag))
        {
            StatusCode::NOT_MODIFIED.into_response()
        } else if accepts_gzip(headers) && !self.gzip.is_empty() {
            let mut r = Response::new(Body::from(self.gzip.clone()));
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        } else {
            Response::new(Body::from(self.plain.clone()))
        };
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|e| {
                let mut it = e.split(';');
                let name = it.next().unwrap_or("").trim();
                let q0 = it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                (name == "gzip" || name == "*") && !q0
            })
        })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Every asset, compressed once.
#[derive(Debug)]
pub struct Assets {
    files: HashMap<&'static str, Asset>,
    pages: HashMap<String, Asset>,
}

impl Assets {
    /// Compress everything; `homes` are the pages `/` opens on (`"overview"` on the
    /// console's own listener, `"flags"` on the flags listener, ...).
    #[must_use]
    pub fn new(homes: &[&str]) -> Self {
        let files = FILES
            .iter()
            .map(|(p, b)| (*p, Asset::new(content_type(p), b.to_vec())))
            .collect();
        let mut pages = HashMap::new();
        for home in homes {
            let html = INDEX.replace("{{HOME}}", &html_attr(home));
            pages.insert(
                (*home).to_owned(),
                Asset::new("text/html; charset=utf-8", html.into_bytes()),
            );
        }
        Self { files, pages }
    }

    /// The file at `path` (under `/console/assets/`).
    #[must_use]
    pub fn file(&self, path: &str) -> Option<&Asset> {
        self.files.get(path)
    }

    /// The page that opens on `home`.
    #[must_use]
    pub fn page(&self, home: &str) -> Option<&Asset> {
        self.pages.get(home)
    }

    /// Bytes a first visit downloads (gzip), and the number of files.
    #[must_use]
    pub fn compressed_total(&self) -> (usize, usize) {
        let n = self.files.len() + 1;
        let bytes = self.files.values().map(|a| a.gzip.len()).sum::<usize>()
            + self.pages.values().next().map_or(0, |a| a.gzip.len());
        (bytes, n)
    }
}

fn html_attr(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module a script imports is embedded (a page added to `pages/index.js` without
    /// its `asset!` line would 404 and blank the whole console).
    #[test]
    fn every_imported_module_is_embedded() {
        let names: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
        let mut checked = 0;
        for (name, bytes) in FILES {
            if std::path::Path::new(name)
                .extension()
                .is_none_or(|e| e != "js")
            {
                continue;
            }
            let text = std::str::from_utf8(bytes).unwrap();
            let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text.lines() {
                let Some(rest) = line.trim_start().strip_prefix("import ") else {
                    continue;
                };
                let Some(spec) = rest.rsplit_once(" from '").map(|(_, s)| s) else {
                    continue;
                };
                let spec = spec.trim_end_matches(';').trim_end_matches('\'');
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(
                    names.contains(&target.as_str()),
                    "{name} imports {spec}: {target} is not embedded"
                );
                checked += 1;
            }
        }
        assert!(checked > 20, "{checked} imports checked");
        assert!(names.contains(&"js/pages/traces.js") && names.contains(&"js/pages/logs.js"));
    }

    #[test]
    fn assets_are_gzipped_etagged_and_revalidate() {
        let a = Assets::new(&["overview", "flags"]);
        let js = a.file("js/app.js").expect("app.js");
        assert!(js.gzip.len() < js.plain.len());
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br"),
        );
        let r = js.respond(&h);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&js.etag).unwrap(),
        );
        assert_eq!(js.respond(&h).status(), StatusCode::NOT_MODIFIED);
        let plain = js.respond(&HeaderMap::new());
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let page = std::str::from_utf8(&a.page("flags").unwrap().plain).unwrap();
        assert!(page.contains(r#"content="flags""#), "{page}");
        assert!(!page.contains("<script>"), "no inline script");
        // The whole front end stays small.
        let (bytes, _) = a.compressed_total();
        assert!(bytes <= 250 * 1024, "{bytes} compressed bytes");
    }
}
