//! Loading a transaction's variables: the request line, headers, cookies and query
//! arguments, and the multipart body processor.

use super::{Request, Transaction};
use crate::body;
use crate::variable::Var;

impl Transaction<'_> {
    pub(super) fn load_request(&mut self, req: &Request) {
        let uri = req.uri.as_str();
        self.set(Var::RequestUriRaw, uri);
        // Absolute-form targets: REQUEST_URI drops scheme and authority.
        let mut path_and_query = uri;
        if let Some(pos) = uri.find("://")
            && uri[..pos].bytes().all(|b| b.is_ascii_alphabetic())
        {
            let rest = &uri[pos + 3..];
            path_and_query = rest.find('/').map_or("/", |p| &rest[p..]);
        }
        self.set(Var::RequestUri, path_and_query);
        let (path, query) = match path_and_query.find('?') {
            Some(p) => (&path_and_query[..p], Some(&path_and_query[p + 1..])),
            None => (path_and_query, None),
        };
        let filename = percent_decode(path.as_bytes());
        let base = match filename.iter().rposition(|&b| b == b'/') {
            Some(p) => filename[p + 1..].to_vec(),
            None => filename.clone(),
        };
        self.set(Var::RequestFilename, filename);
        self.set(Var::RequestBasename, base);
        self.set(Var::QueryString, query.unwrap_or(""));
        if let Some(q) = query {
            self.args_get =
                body::parse_urlencoded(q.as_bytes(), self.rs.settings.argument_separator);
        }
        self.set(Var::RequestMethod, req.method.as_str());
        self.set(Var::RequestProtocol, req.protocol.as_str());
        self.set(
            Var::RequestLine,
            format!("{} {} {}", req.method, req.uri, req.protocol),
        );
        self.set(Var::RemoteAddr, req.remote_addr.as_str());
        self.set(Var::RemoteHost, req.remote_addr.as_str());
        self.set(Var::RemotePort, req.remote_port.to_string());
        self.set(Var::ServerPort, req.server_port.to_string());
        self.set(Var::UniqueId, req.unique_id.as_str());
        self.set(Var::ReqbodyError, "0");
        self.set(Var::ReqbodyProcessor, "");
        self.set(Var::ReqbodyProcessorError, "0");
        self.set(Var::InboundDataError, "0");
        for (name, value) in &req.headers {
            self.req_headers
                .push((name.as_bytes().to_vec(), value.clone()));
            if name.eq_ignore_ascii_case("cookie") {
                self.cookies.extend(body::parse_cookies(value));
            }
            if name.eq_ignore_ascii_case("host") {
                let host = String::from_utf8_lossy(value);
                let host = host
                    .rsplit_once(':')
                    .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                    .map_or(host.as_ref(), |(h, _)| h);
                self.scalars
                    .insert(Var::ServerName, host.as_bytes().to_vec());
            }
        }
        // What the body processor will be (ModSecurity/Coraza choose it from Content-Type in phase 1).
        if let Some(ct) = self.header(b"content-type") {
            let ct = ct.to_ascii_lowercase();
            if ct.starts_with(b"application/x-www-form-urlencoded") {
                self.body_processor = Some("URLENCODED".into());
            } else if ct.starts_with(b"multipart/form-data") {
                self.body_processor = Some("MULTIPART".into());
            }
        }
        if let Some(bp) = &self.body_processor {
            self.scalars
                .insert(Var::ReqbodyProcessor, bp.as_bytes().to_vec());
        }
        let env = self.collections.entry(Var::Tx).or_default();
        env.clear();
    }

    pub(super) fn header(&self, lname: &[u8]) -> Option<Vec<u8>> {
        self.req_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(lname))
            .map(|(_, v)| v.clone())
    }

    pub(super) fn body_error(&mut self, msg: &str) {
        self.set(Var::ReqbodyError, "1");
        self.set(Var::ReqbodyProcessorError, "1");
        self.set(Var::ReqbodyErrorMsg, msg);
    }

    pub(super) fn process_multipart(&mut self, body: &[u8]) {
        let ct = self.header(b"content-type").unwrap_or_default();
        let mut m = body::Multipart::default();
        let Some(boundary) = body::multipart_boundary(&ct, &mut m) else {
            self.body_error("Multipart: boundary not found in Content-Type");
            self.set(Var::MultipartStrictError, "1");
            return;
        };
        let m2 = body::parse_multipart(body, &boundary);
        let m = body::Multipart {
            boundary_quoted: m.boundary_quoted,
            boundary_whitespace: m.boundary_whitespace,
            ..m2
        };
        if let Some(e) = &m.error {
            self.body_error(e);
        }
        let flag = |b: bool| if b { "1" } else { "0" };
        self.set(Var::MultipartStrictError, flag(m.strict_error()));
        self.set(Var::MultipartUnmatchedBoundary, flag(m.unmatched_boundary));
        self.set(Var::MultipartBoundaryQuoted, flag(m.boundary_quoted));
        self.set(
            Var::MultipartBoundaryWhitespace,
            flag(m.boundary_whitespace),
        );
        self.set(Var::MultipartDataBefore, flag(m.data_before));
        self.set(Var::MultipartDataAfter, flag(m.data_after));
        self.set(Var::MultipartHeaderFolding, flag(m.header_folding));
        self.set(Var::MultipartLfLine, flag(m.lf_line));
        self.set(Var::MultipartCrlfLfLines, flag(m.lf_line && m.crlf_line));
        self.set(Var::MultipartMissingSemicolon, flag(m.missing_semicolon));
        self.set(Var::MultipartInvalidQuoting, flag(m.invalid_quoting));
        self.set(Var::MultipartInvalidPart, flag(m.invalid_part));
        self.set(
            Var::MultipartInvalidHeaderFolding,
            flag(m.invalid_header_folding),
        );
        self.set(Var::MultipartFileLimitExceeded, flag(m.file_limit_exceeded));
        let mut combined = 0usize;
        for (name, fname, size) in &m.files {
            self.files.push((name.clone(), fname.clone()));
            self.files_sizes
                .push((name.clone(), size.to_string().into_bytes()));
            combined += size;
        }
        self.set(Var::FilesCombinedSize, combined.to_string());
        self.args_post = m.args;
        self.part_headers = m.part_headers;
    }
}

/// Percent-decoding of a path (no `+`), invalid escapes kept.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && i + 2 < input.len()
            && input[i + 1].is_ascii_hexdigit()
            && input[i + 2].is_ascii_hexdigit()
        {
            let h = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            out.push((h(input[i + 1]) << 4) | h(input[i + 2]));
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}
