//! Evaluates a [`RuleSet`] against one HTTP transaction, phase by phase. No I/O.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::body;
use crate::macros::{MacroResolver, MacroString};
use crate::rule::{AllowScope, Ctl, Disruptive, EngineMode, Rule, SetVarOp, severity_name};
use crate::ruleset::{Entry, LimitAction, RuleSet};
use crate::variable::{Exclusion, Var};

mod collect;
mod load;

/// The request as the engine sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The request target exactly as received (`/a?b=c`).
    pub uri: String,
    /// `HTTP/1.1`
    pub protocol: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub remote_addr: String,
    pub remote_port: u16,
    pub server_port: u16,
    pub unique_id: String,
}

/// The response as the engine sees it.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub protocol: String,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A rule that matched and was logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRecord {
    pub id: u64,
    pub phase: u8,
    pub msg: String,
    pub logdata: String,
    pub severity: Option<u8>,
    pub tags: Vec<String>,
    pub matched_var_name: String,
    pub matched_data: Vec<u8>,
    pub file: String,
    pub line: usize,
    pub disruptive: bool,
}

impl MatchRecord {
    /// One line in ModSecurity's error-log format (what go-ftw greps).
    pub fn log_line(&self) -> String {
        let esc = |b: &[u8]| log_escape(b);
        let mut s = format!(
            "ModSecurity: Warning. Matched data \"{}\" found within {}. [file \"{}\"] [line \"{}\"] [id \"{}\"] [msg \"{}\"] [data \"{}\"]",
            esc(&self.matched_data),
            esc(self.matched_var_name.as_bytes()),
            self.file,
            self.line,
            self.id,
            esc(self.msg.as_bytes()),
            esc(self.logdata.as_bytes())
        );
        if let Some(sev) = self.severity {
            s.push_str(&format!(" [severity \"{}\"]", severity_name(sev)));
        }
        for t in &self.tags {
            s.push_str(&format!(" [tag \"{t}\"]"));
        }
        s
    }
}

/// ModSecurity's log escaping: `"` and `\\` escaped, other non-printable bytes as `\\xHH`.
pub fn log_escape(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// A disruptive decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interruption {
    pub status: u16,
    pub rule_id: u64,
    pub action: Disruptive,
}

/// The values one rule link inspects: on the stack for the usual handful (a heap `Vec` here
/// was one allocation per rule per request).
type Items<'a> = smallvec::SmallVec<[Item<'a>; 8]>;

/// A value selected by a target.
struct Item<'a> {
    var: Var,
    key: Option<Cow<'a, [u8]>>,
    value: Cow<'a, [u8]>,
}

impl Item<'_> {
    fn name(&self) -> String {
        match &self.key {
            Some(k) => format!("{}:{}", self.var.name(), String::from_utf8_lossy(k)),
            None => self.var.name().to_owned(),
        }
    }
}

/// One value a rule link matched.
#[derive(Debug, Clone)]
struct Hit {
    name: String,
    value: Vec<u8>,
    captures: Option<Vec<Vec<u8>>>,
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Transformed values by (address, length, transformation chain).
type TransformCache = FastMap<(usize, usize, u32), std::sync::Arc<[u8]>>;

/// A hash map with a cheap multiplicative hasher: the keys are small integers and enum tags
/// the engine controls (not attacker-chosen strings), so SipHash's DoS protection buys nothing.
type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

#[derive(Default)]
struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
}

/// The state of one transaction.
pub struct Transaction<'a> {
    rs: &'a RuleSet,
    pub engine: EngineMode,
    args_get: Pairs,
    args_post: Pairs,
    cookies: Pairs,
    req_headers: Pairs,
    resp_headers: Pairs,
    files: Pairs,
    files_sizes: Pairs,
    part_headers: Pairs,
    xml_text: Option<Vec<u8>>,
    xml_attrs: Vec<Vec<u8>>,
    collections: FastMap<Var, BTreeMap<String, Vec<u8>>>,
    scalars: FastMap<Var, Vec<u8>>,
    matched_var: Option<(String, Vec<u8>)>,
    matched_vars: Vec<(String, Vec<u8>)>,
    removed_ids: Vec<(u64, u64)>,
    removed_tags: Vec<String>,
    removed_targets_by_id: Vec<((u64, u64), Exclusion)>,
    removed_targets_by_tag: Vec<(String, Exclusion)>,
    body_processor: Option<String>,
    force_body_variable: bool,
    request_body_access: bool,
    response_body_access: bool,
    allow: Option<AllowScope>,
    current_rule: Option<(u64, Option<&'a MacroString>)>,
    pub audit_engine: String,
    /// Rules that matched with `log`, in order.
    pub matches: Vec<MatchRecord>,
    pub interruption: Option<Interruption>,
    /// Under `DetectionOnly`: the first rule that would have interrupted the transaction
    /// had the engine been `On` (what it would have done), so "detected, not blocked" is
    /// counted apart from both blocked requests and matches under the threshold.
    pub detected: Option<Interruption>,
    /// Transformed values of request data that does not change during a phase, by
    /// (address, length, transformation chain).
    cache: std::cell::RefCell<TransformCache>,
}

fn lower(s: &[u8]) -> String {
    String::from_utf8_lossy(s).to_ascii_lowercase()
}

impl<'a> Transaction<'a> {
    pub fn new(rs: &'a RuleSet, req: &Request) -> Self {
        let mut t = Self {
            rs,
            engine: rs.settings.engine,
            args_get: Vec::new(),
            args_post: Vec::new(),
            cookies: Vec::new(),
            req_headers: Vec::new(),
            resp_headers: Vec::new(),
            files: Vec::new(),
            files_sizes: Vec::new(),
            part_headers: Vec::new(),
            xml_text: None,
            xml_attrs: Vec::new(),
            collections: FastMap::default(),
            scalars: FastMap::default(),
            matched_var: None,
            matched_vars: Vec::new(),
            removed_ids: Vec::new(),
            removed_tags: Vec::new(),
            removed_targets_by_id: Vec::new(),
            removed_targets_by_tag: Vec::new(),
            body_processor: None,
            force_body_variable: false,
            request_body_access: rs.settings.request_body_access,
            response_body_access: rs.settings.response_body_access,
            allow: None,
            current_rule: None,
            audit_engine: rs.settings.audit_engine.clone(),
            matches: Vec::new(),
            interruption: None,
            detected: None,
            cache: std::cell::RefCell::new(FastMap::default()),
        };
        t.load_request(req);
        t
    }

    fn set(&mut self, v: Var, value: impl Into<Vec<u8>>) {
        // A replaced value may reuse a cached address: forget cached transformations.
        self.cache.get_mut().clear();
        self.scalars.insert(v, value.into());
    }

    /// Phase 1.
    pub fn process_request_headers(&mut self) {
        self.run_phase(1);
    }

    /// How many request-body bytes phase 2 inspects, once phase 1 has run: `None` when the
    /// body is not inspected at all (engine off, `SecRequestBodyAccess Off`); otherwise
    /// `SecRequestBodyLimit`, and for anything but multipart also `SecRequestBodyNoFilesLimit`
    /// (which in ModSecurity counts the body without its file parts).
    pub fn request_body_limit(&self) -> Option<usize> {
        if self.engine == EngineMode::Off || !self.request_body_access {
            return None;
        }
        let s = &self.rs.settings;
        Some(if self.body_processor.as_deref() == Some("MULTIPART") {
            s.request_body_limit
        } else {
            s.request_body_limit.min(s.request_body_no_files_limit)
        })
    }

    /// Whether a body over [`Self::request_body_limit`] is refused outright
    /// (`SecRequestBodyLimitAction Reject` with the engine On) rather than inspected in part.
    pub fn rejects_oversized_body(&self) -> bool {
        self.engine == EngineMode::On
            && self.rs.settings.request_body_limit_action == LimitAction::Reject
    }

    /// Parses the body with the selected processor, then runs phase 2.
    pub fn process_request_body(&mut self, body: &[u8]) {
        if self.engine == EngineMode::Off {
            return;
        }
        let settings = &self.rs.settings;
        let mut body = body;
        self.set(Var::RequestBodyLength, body.len().to_string());
        if self.request_body_access && !body.is_empty() {
            let limit = self.request_body_limit().unwrap_or(usize::MAX);
            if body.len() > limit {
                if settings.request_body_limit_action == LimitAction::Reject {
                    self.set(Var::InboundDataError, "1");
                }
                body = &body[..limit];
            }
            let mut processor = self.body_processor.clone();
            if self.force_body_variable && processor.is_none() {
                processor = Some("URLENCODED".into());
            }
            if let Some(p) = &processor {
                self.scalars
                    .insert(Var::ReqbodyProcessor, p.as_bytes().to_vec());
            }
            match processor.as_deref() {
                Some("URLENCODED") => {
                    self.set(Var::RequestBody, body);
                    self.args_post = body::parse_urlencoded(body, settings.argument_separator);
                }
                Some("MULTIPART") => self.process_multipart(body),
                Some("JSON") => {
                    self.set(Var::RequestBody, body);
                    match body::parse_json(body, settings.json_depth_limit) {
                        Ok(args) => self.args_post = args,
                        Err(e) => self.body_error(&e),
                    }
                }
                Some("XML") => match body::parse_xml(body) {
                    Ok((text, attrs)) => {
                        self.xml_text = Some(text);
                        self.xml_attrs = attrs;
                    }
                    Err(e) => self.body_error(&e),
                },
                _ => {
                    if self.force_body_variable {
                        self.set(Var::RequestBody, body);
                    }
                }
            }
            if self.args_get.len() + self.args_post.len() > settings.arguments_limit {
                let keep = settings.arguments_limit.saturating_sub(self.args_get.len());
                self.args_post.truncate(keep);
            }
        }
        let combined: usize = self
            .args_get
            .iter()
            .chain(&self.args_post)
            .map(|(k, v)| k.len() + v.len())
            .sum();
        self.set(Var::ArgsCombinedSize, combined.to_string());
        self.run_phase(2);
    }

    /// Phase 3.
    pub fn process_response_headers(&mut self, resp: &Response) {
        self.set(Var::ResponseStatus, resp.status.to_string());
        self.set(Var::ResponseProtocol, resp.protocol.as_str());
        self.set(
            Var::StatusLine,
            format!("{} {}", resp.protocol, resp.status),
        );
        for (k, v) in &resp.headers {
            self.resp_headers.push((k.as_bytes().to_vec(), v.clone()));
            if k.eq_ignore_ascii_case("content-type") {
                self.set(Var::ResponseContentType, v.clone());
            }
            if k.eq_ignore_ascii_case("content-length") {
                self.set(Var::ResponseContentLength, v.clone());
            }
        }
        self.run_phase(3);
    }

    /// Whether the response body should be given to [`Self::process_response_body`].
    pub fn wants_response_body(&self) -> bool {
        if !self.response_body_access || self.engine == EngineMode::Off {
            return false;
        }
        let ct = self
            .scalars
            .get(&Var::ResponseContentType)
            .map(|v| lower(v))
            .unwrap_or_default();
        let mime = ct.split(';').next().unwrap_or("").trim().to_owned();
        self.rs.settings.response_body_mime_types.contains(&mime)
    }

    /// Phase 4.
    pub fn process_response_body(&mut self, body: &[u8]) {
        if self.wants_response_body() {
            let limit = self.rs.settings.response_body_limit;
            let b = if body.len() > limit {
                &body[..limit]
            } else {
                body
            };
            self.set(Var::ResponseBody, b);
        }
        self.run_phase(4);
    }

    /// Phase 5.
    pub fn process_logging(&mut self) {
        self.run_phase(5);
    }

    /// Whether the transaction is relevant for the audit log (`RelevantOnly`).
    pub fn is_relevant(&self) -> bool {
        !self.matches.is_empty() || self.interruption.is_some()
    }

    fn rule_removed(&self, r: &Rule) -> bool {
        let id = r.id();
        self.removed_ids.iter().any(|&(a, b)| id >= a && id <= b)
            || self.removed_tags.iter().any(|t| r.has_tag(t))
    }

    fn run_phase(&mut self, phase: u8) {
        if self.engine == EngineMode::Off || self.interruption.is_some() {
            return;
        }
        match self.allow {
            Some(AllowScope::All) if phase < 5 => return,
            Some(AllowScope::Request) if phase <= 2 => return,
            _ => {}
        }
        if self.allow == Some(AllowScope::Phase) {
            self.allow = None;
        }
        self.cache.get_mut().clear();
        let rs = self.rs;
        let entries = &rs.phases[usize::from(phase - 1)];
        let mut skip_after: Option<&str> = None;
        let mut skip = 0u32;
        for entry in entries {
            match entry {
                Entry::Marker(name) => {
                    if skip_after == Some(name.as_str()) {
                        skip_after = None;
                    }
                }
                Entry::Rule(rule) => {
                    if skip_after.is_some() {
                        continue;
                    }
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    if self.rule_removed(rule) {
                        continue;
                    }
                    if let Some(flow) = self.eval_rule(rule) {
                        if let Some(m) = flow.skip_after {
                            skip_after = Some(m);
                        }
                        skip = flow.skip;
                        if self.interruption.is_some() || self.allow.is_some() {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Evaluates a chain; returns the flow control of a full match.
    fn eval_rule(&mut self, head: &'a Rule) -> Option<Flow<'a>> {
        // ModSecurity runs a link's non-disruptive actions (setvar, ctl, ...) once per matched
        // value, as soon as the link matches; logging and the disruptive action wait for the
        // whole chain.
        let mut flow = Flow {
            skip_after: None,
            skip: 0,
        };
        let mut r = head;
        loop {
            self.current_rule = Some((head.id(), head.actions.msg.as_ref()));
            let hits = self.eval_link(r, head);
            if hits.is_empty() {
                self.current_rule = None;
                return None;
            }
            self.matched_vars.clear();
            for h in &hits {
                self.apply_hit(h);
                self.run_actions(r);
            }
            if let Some(m) = &r.actions.skip_after {
                flow.skip_after = Some(m.as_str());
            }
            if r.actions.skip > 0 {
                flow.skip = r.actions.skip;
            }
            match &r.chained {
                Some(next) => r = next,
                None => break,
            }
        }
        let disruptive = self.disrupt(head);
        if head.actions.log {
            let msg = head
                .actions
                .msg
                .as_ref()
                .map(|m| m.expand_string(self))
                .unwrap_or_default();
            let logdata = head
                .actions
                .logdata
                .as_ref()
                .map(|m| m.expand_string(self))
                .unwrap_or_default();
            let (name, data) = self.matched_var.clone().unwrap_or_default();
            self.matches.push(MatchRecord {
                id: head.id(),
                phase: head.actions.phase,
                msg,
                logdata,
                severity: head.actions.severity,
                tags: head.actions.tags.clone(),
                matched_var_name: name,
                matched_data: data,
                file: head.location.file.clone(),
                line: head.location.line,
                disruptive,
            });
        }
        self.current_rule = None;
        Some(flow)
    }

    fn disrupt(&mut self, head: &Rule) -> bool {
        let mut action = head.actions.disruptive.unwrap_or(Disruptive::Pass);
        if action == Disruptive::Block {
            action = self.rs.block_action(head.actions.phase);
        }
        if self.engine != EngineMode::On {
            if self.engine == EngineMode::DetectionOnly
                && self.detected.is_none()
                && matches!(
                    action,
                    Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect
                )
            {
                self.detected = Some(Interruption {
                    status: head.actions.status.unwrap_or(403),
                    rule_id: head.id(),
                    action,
                });
            }
            return false;
        }
        match action {
            Disruptive::Pass | Disruptive::Block => false,
            Disruptive::Allow(scope) => {
                self.allow = Some(scope);
                false
            }
            Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect => {
                let status = head
                    .actions
                    .status
                    .unwrap_or(if action == Disruptive::Redirect {
                        302
                    } else {
                        403
                    });
                self.interruption = Some(Interruption {
                    status,
                    rule_id: head.id(),
                    action,
                });
                true
            }
        }
    }

    fn apply_hit(&mut self, h: &Hit) {
        if let Some(c) = &h.captures {
            let tx = self.collections.entry(Var::Tx).or_default();
            for i in 0..10 {
                tx.remove(&i.to_string());
            }
            for (i, v) in c.iter().enumerate() {
                tx.insert(i.to_string(), v.clone());
            }
        }
        self.matched_vars.push((h.name.clone(), h.value.clone()));
        self.matched_var = Some((h.name.clone(), h.value.clone()));
    }

    fn run_actions(&mut self, r: &'a Rule) {
        for sv in &r.actions.setvars {
            let name = lower(&sv.name.expand(self));
            let value = sv.value.expand(self);
            let col = self.collections.entry(sv.collection).or_default();
            match sv.op {
                SetVarOp::Set => {
                    col.insert(name, value);
                }
                SetVarOp::Delete => {
                    col.remove(&name);
                }
                SetVarOp::Add | SetVarOp::Sub => {
                    let cur = col.get(&name).map_or(0, |v| crate::operator::atoi(v));
                    let delta = crate::operator::atoi(&value);
                    let new = if sv.op == SetVarOp::Add {
                        cur.saturating_add(delta)
                    } else {
                        cur.saturating_sub(delta)
                    };
                    col.insert(name, new.to_string().into_bytes());
                }
            }
        }
        for (k, v) in &r.actions.setenvs {
            let k = k.expand_string(self);
            let v = v.expand(self);
            self.collections
                .entry(Var::Env)
                .or_default()
                .insert(k.to_ascii_lowercase(), v);
        }
        for (col, _key) in &r.actions.initcols {
            self.collections.entry(*col).or_default();
        }
        for ctl in &r.actions.ctls {
            match ctl {
                Ctl::RuleEngine(m) => self.engine = *m,
                Ctl::RuleRemoveById(r) => self.removed_ids.extend(r.iter().copied()),
                Ctl::RuleRemoveByTag(t) => self.removed_tags.push(t.clone()),
                Ctl::RuleRemoveTargetById(ids, ex) => {
                    for range in ids {
                        for e in ex {
                            self.removed_targets_by_id.push((*range, e.clone()));
                        }
                    }
                }
                Ctl::RuleRemoveTargetByTag(tag, ex) => {
                    for e in ex {
                        self.removed_targets_by_tag.push((tag.clone(), e.clone()));
                    }
                }
                Ctl::RequestBodyProcessor(p) => {
                    self.body_processor = Some(p.clone());
                    self.scalars
                        .insert(Var::ReqbodyProcessor, p.as_bytes().to_vec());
                }
                Ctl::RequestBodyAccess(b) => self.request_body_access = *b,
                Ctl::ForceRequestBodyVariable(b) => self.force_body_variable = *b,
                Ctl::ResponseBodyAccess(b) => self.response_body_access = *b,
                Ctl::AuditEngine(e) => self.audit_engine.clone_from(e),
                Ctl::AuditLogParts(_) | Ctl::Other(_) => {}
            }
        }
    }
}

struct Flow<'a> {
    skip_after: Option<&'a str>,
    skip: u32,
}

impl MacroResolver for Transaction<'_> {
    fn resolve(&self, name: &str, key: Option<&str>) -> Option<Vec<u8>> {
        let var = Var::from_name(name)?;
        match var {
            Var::Rule => {
                let (id, msg) = self.current_rule?;
                return match key.map(str::to_ascii_lowercase).as_deref() {
                    Some("id") => Some(id.to_string().into_bytes()),
                    Some("msg") => msg.map(|m| m.expand(self)),
                    _ => None,
                };
            }
            Var::Tx
            | Var::Ip
            | Var::Global
            | Var::Session
            | Var::User
            | Var::Resource
            | Var::Env => {
                let k = key?.to_ascii_lowercase();
                return self.collections.get(&var)?.get(&k).cloned();
            }
            Var::MatchedVar => return self.matched_var.as_ref().map(|(_, v)| v.clone()),
            Var::MatchedVarName => {
                return self
                    .matched_var
                    .as_ref()
                    .map(|(n, _)| n.clone().into_bytes());
            }
            _ => {}
        }
        if let Some(mut pairs) = self.pairs(var) {
            let k = key?;
            return pairs
                .find(|(pk, _)| pk.eq_ignore_ascii_case(k.as_bytes()))
                .map(|(_, v)| v.clone());
        }
        self.scalars.get(&var).cloned()
    }
}

#[cfg(test)]
mod tests;
