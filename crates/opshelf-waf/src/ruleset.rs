//! Compiles SecLang directives into a [`RuleSet`]: rules per phase, markers, engine settings.
//!
//! Loading reads rule files (and `Include`d files, `@pmFromFile` data) from disk; evaluating
//! (in `engine.rs`) does no I/O.

use std::path::{Path, PathBuf};

use crate::macros::MacroString;
use crate::operator::{MatcherCache, Operator, compile_regex};
use crate::rule::{
    Actions, AllowScope, Ctl, Disruptive, EngineMode, Rule, SetVar, SetVarOp, parse_severity,
};
use crate::seclang::{
    Directive, Location, ParseError, RawSelector, RawTarget, lex, parse_actions, parse_operator,
    parse_targets,
};
use crate::transform::Transform;
use crate::variable::{Exclusion, Selector, Target, Var};

/// One entry of a phase's rule list.
#[derive(Debug, Clone)]
pub enum Entry {
    Rule(Box<Rule>),
    Marker(String),
}

/// What to do with a request body over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitAction {
    Reject,
    ProcessPartial,
}

/// Engine settings from the `Sec*` configuration directives.
#[derive(Debug, Clone)]
pub struct Settings {
    pub engine: EngineMode,
    pub request_body_access: bool,
    pub request_body_limit: usize,
    pub request_body_no_files_limit: usize,
    pub request_body_limit_action: LimitAction,
    pub arguments_limit: usize,
    pub json_depth_limit: usize,
    pub response_body_access: bool,
    pub response_body_mime_types: Vec<String>,
    pub response_body_limit: usize,
    pub response_body_limit_action: LimitAction,
    pub audit_engine: String,
    pub audit_log_parts: String,
    pub audit_log: Option<String>,
    pub audit_log_relevant_status: Option<String>,
    pub component_signatures: Vec<String>,
    pub argument_separator: u8,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            engine: EngineMode::Off,
            request_body_access: false,
            request_body_limit: 134_217_728,
            request_body_no_files_limit: 1_048_576,
            request_body_limit_action: LimitAction::Reject,
            arguments_limit: 1000,
            json_depth_limit: 10_000,
            response_body_access: false,
            response_body_mime_types: vec!["text/plain".into(), "text/html".into()],
            response_body_limit: 524_288,
            response_body_limit_action: LimitAction::Reject,
            audit_engine: "Off".into(),
            audit_log_parts: "ABCFHZ".into(),
            audit_log: None,
            audit_log_relevant_status: None,
            component_signatures: Vec::new(),
            argument_separator: b'&',
        }
    }
}

/// A loaded rule set.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Phases 1..=5 at indices 0..=4.
    pub phases: [Vec<Entry>; 5],
    pub settings: Settings,
    pub rule_count: usize,
    /// What `block` means per phase (the phase's `SecDefaultAction`).
    pub block: [Option<Disruptive>; 5],
}

impl RuleSet {
    /// The disruptive action `block` stands for in `phase`.
    pub fn block_action(&self, phase: u8) -> Disruptive {
        self.block[usize::from(phase.clamp(1, 5) - 1)].unwrap_or(Disruptive::Pass)
    }
}

#[derive(Debug, Clone, Default)]
struct DefaultActions {
    log: bool,
    auditlog: bool,
    disruptive: Option<Disruptive>,
    status: Option<u16>,
    transforms: Vec<Transform>,
    tags: Vec<String>,
}

/// Builds a [`RuleSet`] from files and strings, in order.
pub struct Loader {
    set: RuleSet,
    chains: std::collections::HashMap<Vec<Transform>, u32>,
    defaults: [Option<DefaultActions>; 5],
    /// A chain being built: the head's phase index and position.
    open_chain: Option<(usize, usize)>,
    depth: usize,
    matchers: MatcherCache,
}

impl Default for Loader {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits `Include`-style patterns with `*`/`?` in the file name into sorted matching paths.
fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains('*') && !name.contains('?') {
        return vec![pattern.to_path_buf()];
    }
    let dir = pattern
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            if wildcard(name.as_bytes(), fname.as_bytes()) {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

fn parse_id_ranges(loc: &Location, text: &str) -> Result<Vec<(u64, u64)>, ParseError> {
    let mut out = Vec::new();
    for part in text.split([',', ' ']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let bad = || ParseError::new(loc, part, "expected a rule id or range");
        match part.split_once('-') {
            Some((a, b)) => out.push((
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            )),
            None => {
                let v = part.parse().map_err(|_| bad())?;
                out.push((v, v));
            }
        }
    }
    Ok(out)
}

fn in_ranges(ranges: &[(u64, u64)], id: u64) -> bool {
    ranges.iter().any(|&(a, b)| id >= a && id <= b)
}

fn parse_bool(loc: &Location, v: &str) -> Result<bool, ParseError> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err(ParseError::new(loc, v, "expected On or Off")),
    }
}

/// Compiles a target list into targets and exclusions.
pub fn compile_targets(
    loc: &Location,
    text: &str,
) -> Result<(Vec<Target>, Vec<Exclusion>), ParseError> {
    let raws = parse_targets(loc, text)?;
    let mut targets = Vec::new();
    let mut exclusions = Vec::new();
    for raw in raws {
        let (var, selector) = compile_target(loc, &raw)?;
        if raw.negated {
            exclusions.push(Exclusion { var, selector });
        } else {
            targets.push(Target {
                var,
                selector,
                count: raw.count,
            });
        }
    }
    Ok((targets, exclusions))
}

fn compile_target(loc: &Location, raw: &RawTarget) -> Result<(Var, Selector), ParseError> {
    let var = Var::from_name(&raw.name)
        .ok_or_else(|| ParseError::new(loc, &raw.name, "unknown variable"))?;
    let selector = match &raw.selector {
        None => Selector::All,
        Some(RawSelector::Key(k)) => Selector::Key(k.to_ascii_lowercase()),
        Some(RawSelector::Regex(re)) => {
            let re =
                compile_regex(&format!("(?i){re}")).map_err(|e| ParseError::new(loc, re, e))?;
            Selector::Regex(Box::new(re))
        }
    };
    if !matches!(selector, Selector::All) && !var.is_collection() {
        return Err(ParseError::new(
            loc,
            &raw.name,
            "a selector on a variable that is not a collection",
        ));
    }
    Ok((var, selector))
}

fn parse_setvar(loc: &Location, v: &str) -> Result<SetVar, ParseError> {
    let (delete, v) = match v.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (lhs, op, rhs) = if delete {
        (v, SetVarOp::Delete, "")
    } else {
        match v.find('=') {
            Some(pos) => {
                let rest = &v[pos + 1..];
                if let Some(r) = rest.strip_prefix('+') {
                    (&v[..pos], SetVarOp::Add, r)
                } else if let Some(r) = rest.strip_prefix('-') {
                    (&v[..pos], SetVarOp::Sub, r)
                } else {
                    (&v[..pos], SetVarOp::Set, rest)
                }
            }
            None => (v, SetVarOp::Set, "1"),
        }
    };
    let (col, name) = lhs
        .trim()
        .split_once('.')
        .ok_or_else(|| ParseError::new(loc, v, "setvar needs collection.name"))?;
    let collection = Var::from_name(col).filter(|c| {
        matches!(
            c,
            Var::Tx | Var::Ip | Var::Global | Var::Session | Var::User | Var::Resource | Var::Env
        )
    });
    let collection = collection.ok_or_else(|| {
        ParseError::new(loc, col, "setvar on a collection that cannot be written")
    })?;
    Ok(SetVar {
        collection,
        name: MacroString::parse(name),
        op,
        value: MacroString::parse(rhs),
    })
}

fn parse_ctl(loc: &Location, v: &str) -> Result<Ctl, ParseError> {
    let (name, val) = v
        .split_once('=')
        .ok_or_else(|| ParseError::new(loc, v, "ctl needs name=value"))?;
    let ctl = match name.trim().to_ascii_lowercase().as_str() {
        "ruleengine" => Ctl::RuleEngine(
            EngineMode::parse(val)
                .ok_or_else(|| ParseError::new(loc, val, "expected On, Off or DetectionOnly"))?,
        ),
        "ruleremovebyid" => Ctl::RuleRemoveById(parse_id_ranges(loc, val)?),
        "ruleremovebytag" => Ctl::RuleRemoveByTag(val.to_owned()),
        "ruleremovetargetbyid" => {
            let (ids, targets) = val
                .split_once(';')
                .ok_or_else(|| ParseError::new(loc, val, "expected ID;TARGET"))?;
            let (t, _) = compile_targets(loc, targets)?;
            let ex = t
                .into_iter()
                .map(|t| Exclusion {
                    var: t.var,
                    selector: t.selector,
                })
                .collect();
            Ctl::RuleRemoveTargetById(parse_id_ranges(loc, ids)?, ex)
        }
        "ruleremovetargetbytag" => {
            let (tag, targets) = val
                .split_once(';')
                .ok_or_else(|| ParseError::new(loc, val, "expected TAG;TARGET"))?;
            let (t, _) = compile_targets(loc, targets)?;
            let ex = t
                .into_iter()
                .map(|t| Exclusion {
                    var: t.var,
                    selector: t.selector,
                })
                .collect();
            Ctl::RuleRemoveTargetByTag(tag.to_owned(), ex)
        }
        "requestbodyprocessor" => Ctl::RequestBodyProcessor(val.to_ascii_uppercase()),
        "requestbodyaccess" => Ctl::RequestBodyAccess(parse_bool(loc, val)?),
        "forcerequestbodyvariable" => Ctl::ForceRequestBodyVariable(parse_bool(loc, val)?),
        "auditengine" => Ctl::AuditEngine(val.to_owned()),
        "auditlogparts" => Ctl::AuditLogParts(val.to_owned()),
        "responsebodyaccess" => Ctl::ResponseBodyAccess(parse_bool(loc, val)?),
        "debuglogLevel" | "debugloglevel" | "requestbodylimit" | "hashengine"
        | "hashenforcement" => Ctl::Other(v.to_owned()),
        _ => return Err(ParseError::new(loc, name, "unknown ctl option")),
    };
    Ok(ctl)
}

/// Explicit settings of an action list, before defaults are merged.
struct Parsed {
    actions: Actions,
    log: Option<bool>,
    auditlog: Option<bool>,
    has_none: bool,
}

fn parse_action_list(loc: &Location, text: &str) -> Result<Parsed, ParseError> {
    let mut a = Actions::default();
    let mut log = None;
    let mut auditlog = None;
    let mut has_none = false;
    for raw in parse_actions(loc, text)? {
        let val = raw.value.clone().unwrap_or_default();
        let need = |what: &str| -> Result<(), ParseError> {
            if raw.value.is_none() {
                return Err(ParseError::new(
                    loc,
                    &raw.name,
                    format!("action needs a value ({what})"),
                ));
            }
            Ok(())
        };
        match raw.name.to_ascii_lowercase().as_str() {
            "id" => {
                need("a number")?;
                a.id = val
                    .trim()
                    .parse()
                    .map_err(|_| ParseError::new(loc, &val, "rule id must be a number"))?;
            }
            "phase" => {
                a.phase = match val.trim().to_ascii_lowercase().as_str() {
                    "1" => 1,
                    "2" | "request" => 2,
                    "3" => 3,
                    "4" | "response" => 4,
                    "5" | "logging" => 5,
                    _ => {
                        return Err(ParseError::new(
                            loc,
                            &val,
                            "phase must be 1-5, request, response or logging",
                        ));
                    }
                };
            }
            "msg" => a.msg = Some(MacroString::parse(&val)),
            "logdata" => a.logdata = Some(MacroString::parse(&val)),
            "tag" => a.tags.push(val),
            "severity" => {
                a.severity = Some(
                    parse_severity(&val)
                        .ok_or_else(|| ParseError::new(loc, &val, "unknown severity"))?,
                );
            }
            "ver" => a.ver = Some(val),
            "rev" => a.rev = Some(val),
            "maturity" => a.maturity = Some(val),
            "accuracy" => a.accuracy = Some(val),
            "pass" => a.disruptive = Some(Disruptive::Pass),
            "block" => a.disruptive = Some(Disruptive::Block),
            "deny" => a.disruptive = Some(Disruptive::Deny),
            "drop" => a.disruptive = Some(Disruptive::Drop),
            "redirect" => a.disruptive = Some(Disruptive::Redirect),
            "allow" => {
                a.disruptive = Some(Disruptive::Allow(match val.to_ascii_lowercase().as_str() {
                    "" => AllowScope::All,
                    "phase" => AllowScope::Phase,
                    "request" => AllowScope::Request,
                    _ => return Err(ParseError::new(loc, &val, "allow takes phase or request")),
                }));
            }
            "status" => {
                a.status = Some(
                    val.trim()
                        .parse()
                        .map_err(|_| ParseError::new(loc, &val, "status must be a number"))?,
                );
            }
            "log" => log = Some(true),
            "nolog" => {
                log = Some(false);
                auditlog.get_or_insert(false);
            }
            "auditlog" => auditlog = Some(true),
            "noauditlog" => auditlog = Some(false),
            "capture" => a.capture = true,
            "multimatch" => a.multi_match = true,
            "chain" => a.chain = true,
            "skip" => {
                a.skip = val
                    .trim()
                    .parse()
                    .map_err(|_| ParseError::new(loc, &val, "skip needs a number"))?;
            }
            "skipafter" => {
                need("a marker")?;
                a.skip_after = Some(val);
            }
            "setvar" => a.setvars.push(parse_setvar(loc, &val)?),
            "ctl" => a.ctls.push(parse_ctl(loc, &val)?),
            "initcol" => {
                let (col, key) = val
                    .split_once('=')
                    .ok_or_else(|| ParseError::new(loc, &val, "initcol needs col=key"))?;
                let var = Var::from_name(col)
                    .ok_or_else(|| ParseError::new(loc, col, "unknown collection"))?;
                a.initcols.push((var, MacroString::parse(key)));
            }
            "setenv" => {
                let (k, v) = val.split_once('=').unwrap_or((val.as_str(), "1"));
                a.setenvs
                    .push((MacroString::parse(k), MacroString::parse(v)));
            }
            "t" => {
                if val.eq_ignore_ascii_case("none") {
                    a.transforms.clear();
                    has_none = true;
                } else {
                    a.transforms.push(
                        Transform::from_name(&val)
                            .ok_or_else(|| ParseError::new(loc, &val, "unknown transformation"))?,
                    );
                }
            }
            "expirevar"
            | "deprecatevar"
            | "sanitisearg"
            | "sanitisematched"
            | "sanitizematched"
            | "sanitisematchedbytes"
            | "sanitiserequestheader"
            | "sanitiseresponseheader"
            | "sanitizearg"
            | "exec"
            | "append"
            | "prepend"
            | "xmlns"
            | "pause"
            | "proxy"
            | "setuid"
            | "setsid"
            | "setrsc" => {}
            _ => return Err(ParseError::new(loc, &raw.name, "unknown action")),
        }
    }
    Ok(Parsed {
        actions: a,
        log,
        auditlog,
        has_none,
    })
}

impl Loader {
    pub fn new() -> Self {
        Self {
            set: RuleSet::default(),
            chains: std::collections::HashMap::new(),
            defaults: Default::default(),
            open_chain: None,
            depth: 0,
            matchers: MatcherCache::default(),
        }
    }

    pub fn finish(mut self) -> Result<RuleSet, ParseError> {
        if let Some((p, i)) = self.open_chain
            && let Some(Entry::Rule(r)) = self.set.phases[p].get(i)
        {
            return Err(ParseError::new(
                &r.location,
                format!("id:{}", r.id()),
                "the last rule of a chain has `chain`",
            ));
        }
        for (i, d) in self.defaults.iter().enumerate() {
            self.set.block[i] = d.as_ref().and_then(|d| d.disruptive);
        }
        self.set.rule_count = self
            .set
            .phases
            .iter()
            .flatten()
            .filter(|e| matches!(e, Entry::Rule(_)))
            .count();
        Ok(self.set)
    }

    /// Loads one file (and what it `Include`s).
    pub fn load_file(&mut self, path: &Path) -> Result<(), ParseError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ParseError::new(
                &Location {
                    file: path.display().to_string(),
                    line: 0,
                },
                path.display().to_string(),
                e.to_string(),
            )
        })?;
        self.load_str(&path.display().to_string(), &text, path.parent())
    }

    /// Loads rule text. `base` resolves relative `Include` and `@pmFromFile` paths.
    pub fn load_str(
        &mut self,
        name: &str,
        text: &str,
        base: Option<&Path>,
    ) -> Result<(), ParseError> {
        let directives = lex(name, text)?;
        for d in directives {
            self.directive(&d, base)?;
        }
        Ok(())
    }

    fn directive(&mut self, d: &Directive, base: Option<&Path>) -> Result<(), ParseError> {
        let loc = &d.location;
        let arg = |i: usize| -> Result<&str, ParseError> {
            d.args
                .get(i)
                .map(String::as_str)
                .ok_or_else(|| ParseError::new(loc, &d.name, "missing argument"))
        };
        let s = &mut self.set.settings;
        match d.name.to_ascii_lowercase().as_str() {
            "secrule" => {
                let (targets, exclusions) = compile_targets(loc, arg(0)?)?;
                let raw_op = parse_operator(arg(1)?);
                let actions = d.args.get(2).map_or("", String::as_str);
                self.add_rule(loc, targets, exclusions, Some(raw_op), actions, base)?;
            }
            "secaction" => self.add_rule(loc, Vec::new(), Vec::new(), None, arg(0)?, base)?,
            "secmarker" => {
                let name = arg(0)?.to_owned();
                for phase in &mut self.set.phases {
                    phase.push(Entry::Marker(name.clone()));
                }
            }
            "secdefaultaction" => {
                let parsed = parse_action_list(loc, arg(0)?)?;
                let phase = if parsed.actions.phase == 0 {
                    2
                } else {
                    parsed.actions.phase
                };
                if parsed.actions.disruptive.is_none() {
                    return Err(ParseError::new(
                        loc,
                        arg(0)?,
                        "SecDefaultAction needs a disruptive action",
                    ));
                }
                self.defaults[usize::from(phase - 1)] = Some(DefaultActions {
                    log: parsed.log.unwrap_or(true),
                    auditlog: parsed.auditlog.unwrap_or(true),
                    disruptive: parsed.actions.disruptive,
                    status: parsed.actions.status,
                    transforms: parsed.actions.transforms,
                    tags: parsed.actions.tags,
                });
            }
            "include" => {
                if self.depth > 16 {
                    return Err(ParseError::new(loc, arg(0)?, "Include nested too deeply"));
                }
                let p = Path::new(arg(0)?);
                let full = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    base.map_or_else(|| p.to_path_buf(), |b| b.join(p))
                };
                let files = expand_glob(&full);
                if files.is_empty() {
                    return Err(ParseError::new(loc, arg(0)?, "Include matched no file"));
                }
                self.depth += 1;
                for f in files {
                    self.load_file(&f)?;
                }
                self.depth -= 1;
            }
            "secruleupdatetargetbyid" => {
                let ids = parse_id_ranges(loc, arg(0)?)?;
                let (targets, exclusions) = compile_targets(loc, arg(1)?)?;
                self.update_targets(|r| in_ranges(&ids, r.id()), &targets, &exclusions);
            }
            "secruleupdatetargetbytag" => {
                let tag = arg(0)?.to_owned();
                let (targets, exclusions) = compile_targets(loc, arg(1)?)?;
                self.update_targets(|r| r.has_tag(&tag), &targets, &exclusions);
            }
            "secruleupdateactionbyid" => {
                let ids = parse_id_ranges(loc, arg(0)?)?;
                let parsed = parse_action_list(loc, arg(1)?)?;
                if parsed.actions.id != 0 || parsed.actions.phase != 0 || parsed.actions.chain {
                    return Err(ParseError::new(
                        loc,
                        arg(1)?,
                        "id, phase and chain cannot be updated",
                    ));
                }
                self.update_actions(&ids, &parsed);
            }
            "secruleremovebyid" => {
                let mut ranges = Vec::new();
                for a in &d.args {
                    ranges.extend(parse_id_ranges(loc, a)?);
                }
                self.remove(|r| in_ranges(&ranges, r.id()));
            }
            "secruleremovebytag" => {
                let re = compile_regex(arg(0)?).map_err(|e| ParseError::new(loc, &d.args[0], e))?;
                self.remove(|r| r.actions.tags.iter().any(|t| re.is_match(t.as_bytes())));
            }
            "secruleremovebymsg" => {
                let re = compile_regex(arg(0)?).map_err(|e| ParseError::new(loc, &d.args[0], e))?;
                self.remove(|r| {
                    r.actions.msg.as_ref().is_some_and(|m| {
                        m.parts.iter().any(
                            |p| matches!(p, crate::macros::MacroPart::Literal(l) if re.is_match(l)),
                        )
                    })
                });
            }
            "secruleengine" => {
                s.engine = EngineMode::parse(arg(0)?).ok_or_else(|| {
                    ParseError::new(loc, &d.args[0], "expected On, Off or DetectionOnly")
                })?;
            }
            "secrequestbodyaccess" => s.request_body_access = parse_bool(loc, arg(0)?)?,
            "secresponsebodyaccess" => s.response_body_access = parse_bool(loc, arg(0)?)?,
            "secrequestbodylimit" => s.request_body_limit = parse_num(loc, arg(0)?)?,
            "secrequestbodynofileslimit" => {
                s.request_body_no_files_limit = parse_num(loc, arg(0)?)?;
            }
            "secrequestbodyinmemorylimit" => {}
            "secrequestbodylimitaction" => {
                s.request_body_limit_action = parse_limit_action(loc, arg(0)?)?;
            }
            "secresponsebodylimitaction" => {
                s.response_body_limit_action = parse_limit_action(loc, arg(0)?)?;
            }
            "secresponsebodylimit" => s.response_body_limit = parse_num(loc, arg(0)?)?,
            "secresponsebodymimetype" => {
                s.response_body_mime_types = d
                    .args
                    .iter()
                    .flat_map(|a| a.split_whitespace())
                    .map(str::to_ascii_lowercase)
                    .collect();
            }
            "secresponsebodymimetypesclear" => s.response_body_mime_types.clear(),
            "secargumentslimit" => s.arguments_limit = parse_num(loc, arg(0)?)?,
            "secrequestbodyjsondepthlimit" => s.json_depth_limit = parse_num(loc, arg(0)?)?,
            "secauditengine" => s.audit_engine = arg(0)?.to_owned(),
            "secauditlogparts" => s.audit_log_parts = arg(0)?.to_owned(),
            "secauditlog" => s.audit_log = Some(arg(0)?.to_owned()),
            "secauditlogrelevantstatus" => {
                compile_regex(arg(0)?).map_err(|e| ParseError::new(loc, &d.args[0], e))?;
                s.audit_log_relevant_status = Some(arg(0)?.to_owned());
            }
            "seccomponentsignature" => s.component_signatures.push(arg(0)?.to_owned()),
            "secargumentseparator" => s.argument_separator = arg(0)?.bytes().next().unwrap_or(b'&'),
            "secauditlogtype"
            | "secauditlogformat"
            | "secauditlogstoragedir"
            | "secauditlogdirmode"
            | "secauditlogfilemode"
            | "secauditlog2"
            | "sectmpdir"
            | "secdatadir"
            | "secdebuglog"
            | "secdebugloglevel"
            | "secunicodemapfile"
            | "secunicodecodepage"
            | "secstatusengine"
            | "secpcrematchlimit"
            | "secpcrematchlimitrecursion"
            | "seccookieformat"
            | "seccollectiontimeout"
            | "sectmpsaveuploadedfiles"
            | "secuploaddir"
            | "secuploadkeepfiles"
            | "secuploadfilelimit"
            | "secuploadfilemode"
            | "secserversignature"
            | "secwebappid"
            | "secsensorid"
            | "sechttpblkey"
            | "secgeolookupdb"
            | "secconnengine"
            | "secxmlexternalentity"
            | "secrequestbodyjsondepthlimitaction" => {}
            _ => return Err(ParseError::new(loc, &d.name, "unknown directive")),
        }
        Ok(())
    }

    fn chain_id(&mut self, transforms: &[Transform]) -> u32 {
        let next = u32::try_from(self.chains.len()).unwrap_or(u32::MAX);
        *self.chains.entry(transforms.to_vec()).or_insert(next)
    }

    /// `SecRuleUpdateActionById`: given metadata and the disruptive action replace the rule's,
    /// tags/setvar/ctl are added, transformations are appended (or replace with `t:none`).
    fn update_actions(&mut self, ids: &[(u64, u64)], p: &Parsed) {
        let mut new_chain = None;
        for phase in &mut self.set.phases {
            for e in phase.iter_mut() {
                let Entry::Rule(r) = e else { continue };
                if !in_ranges(ids, r.id()) {
                    continue;
                }
                let a = &mut r.actions;
                let u = &p.actions;
                if u.disruptive.is_some() {
                    a.disruptive = u.disruptive;
                }
                if u.status.is_some() {
                    a.status = u.status;
                }
                if u.msg.is_some() {
                    a.msg.clone_from(&u.msg);
                }
                if u.logdata.is_some() {
                    a.logdata.clone_from(&u.logdata);
                }
                if u.severity.is_some() {
                    a.severity = u.severity;
                }
                if let Some(l) = p.log {
                    a.log = l;
                }
                if let Some(l) = p.auditlog {
                    a.auditlog = l;
                }
                a.capture |= u.capture;
                a.tags.extend(u.tags.iter().cloned());
                a.setvars.extend(u.setvars.iter().cloned());
                a.ctls.extend(u.ctls.iter().cloned());
                if p.has_none {
                    a.transforms.clone_from(&u.transforms);
                } else {
                    a.transforms.extend(u.transforms.iter().copied());
                }
                new_chain = Some(a.transforms.clone());
            }
        }
        if let Some(t) = new_chain {
            let id = self.chain_id(&t);
            for phase in &mut self.set.phases {
                for e in phase.iter_mut() {
                    if let Entry::Rule(r) = e
                        && in_ranges(ids, r.id())
                    {
                        r.actions.transform_chain = id;
                    }
                }
            }
        }
    }

    fn update_targets(
        &mut self,
        pred: impl Fn(&Rule) -> bool,
        targets: &[Target],
        exclusions: &[Exclusion],
    ) {
        for phase in &mut self.set.phases {
            for e in phase.iter_mut() {
                if let Entry::Rule(r) = e
                    && pred(r)
                {
                    r.targets.extend(targets.iter().cloned());
                    r.exclusions.extend(exclusions.iter().cloned());
                }
            }
        }
    }

    fn remove(&mut self, pred: impl Fn(&Rule) -> bool) {
        for phase in &mut self.set.phases {
            phase.retain(|e| !matches!(e, Entry::Rule(r) if pred(r)));
        }
        self.open_chain = None;
    }

    fn add_rule(
        &mut self,
        loc: &Location,
        targets: Vec<Target>,
        exclusions: Vec<Exclusion>,
        raw_op: Option<crate::seclang::RawOperator>,
        action_text: &str,
        base: Option<&Path>,
    ) -> Result<(), ParseError> {
        let parsed = parse_action_list(loc, action_text)?;
        let operator = match raw_op {
            Some(op) => {
                let read = |file: &str| -> Result<String, String> {
                    let p = Path::new(file);
                    let full = if p.is_absolute() {
                        p.to_path_buf()
                    } else {
                        base.map_or_else(|| p.to_path_buf(), |b| b.join(p))
                    };
                    std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))
                };
                let token = format!("@{} {}", op.name, op.arg);
                Some(
                    Operator::compile(&op.name, &op.arg, op.negated, &read, &mut self.matchers)
                        .map_err(|e| ParseError::new(loc, token, e))?,
                )
            }
            None => None,
        };
        let mut actions = parsed.actions;
        let chained_link = self.open_chain.is_some();
        if chained_link {
            // A chained rule: no id, the head's phase, its own transformations and actions.
            let (p, i) = self.open_chain.take().unwrap_or_default();
            actions.phase = u8::try_from(p + 1).unwrap_or(2);
            let defaults = self.defaults[p].clone().unwrap_or_default();
            if !parsed.has_none {
                let mut t = defaults.transforms.clone();
                t.extend(actions.transforms);
                actions.transforms = t;
            }
            actions.transform_chain = self.chain_id(&actions.transforms);
            let still_open = actions.chain;
            let rule = Rule {
                location: loc.clone(),
                actions,
                targets,
                exclusions,
                operator,
                chained: None,
            };
            if let Some(Entry::Rule(head)) = self.set.phases[p].get_mut(i) {
                head.last_mut().chained = Some(Box::new(rule));
            }
            if still_open {
                self.open_chain = Some((p, i));
            }
            return Ok(());
        }
        if actions.id == 0 {
            return Err(ParseError::new(loc, action_text, "rule has no id"));
        }
        if actions.phase == 0 {
            actions.phase = 2;
        }
        let p = usize::from(actions.phase - 1);
        let defaults = self.defaults[p].clone().unwrap_or(DefaultActions {
            log: true,
            auditlog: true,
            disruptive: Some(Disruptive::Pass),
            ..Default::default()
        });
        actions.log = parsed.log.unwrap_or(defaults.log);
        actions.auditlog = parsed.auditlog.unwrap_or(if parsed.log == Some(false) {
            false
        } else {
            defaults.auditlog
        });
        match actions.disruptive {
            None => actions.disruptive = defaults.disruptive,
            Some(Disruptive::Block) => actions.disruptive = Some(Disruptive::Block),
            Some(_) => {}
        }
        if actions.status.is_none() {
            actions.status = defaults.status;
        }
        if !parsed.has_none {
            let mut t = defaults.transforms.clone();
            t.extend(actions.transforms);
            actions.transforms = t;
        }
        let mut tags = defaults.tags.clone();
        tags.extend(actions.tags);
        actions.tags = tags;
        actions.transform_chain = self.chain_id(&actions.transforms);
        let open = actions.chain;
        let rule = Rule {
            location: loc.clone(),
            actions,
            targets,
            exclusions,
            operator,
            chained: None,
        };
        self.set.phases[p].push(Entry::Rule(Box::new(rule)));
        if open {
            self.open_chain = Some((p, self.set.phases[p].len() - 1));
        }
        Ok(())
    }
}

fn parse_num(loc: &Location, v: &str) -> Result<usize, ParseError> {
    v.trim()
        .parse()
        .map_err(|_| ParseError::new(loc, v, "expected a number"))
}

fn parse_limit_action(loc: &Location, v: &str) -> Result<LimitAction, ParseError> {
    match v.to_ascii_lowercase().as_str() {
        "reject" => Ok(LimitAction::Reject),
        "processpartial" => Ok(LimitAction::ProcessPartial),
        _ => Err(ParseError::new(loc, v, "expected Reject or ProcessPartial")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<RuleSet, ParseError> {
        let mut l = Loader::new();
        l.load_str("t.conf", text, None)?;
        l.finish()
    }

    #[test]
    fn builds_chains_defaults_and_markers() {
        let rs = load(
            "SecDefaultAction \"phase:2,log,auditlog,pass,t:lowercase\"\n\
             SecRule ARGS \"@rx a\" \"id:1,phase:2,block,chain,t:urlDecode\"\n\
               SecRule MATCHED_VAR \"@rx b\" \"t:none\"\n\
             SecMarker END\n\
             SecRuleUpdateTargetById 1 \"!ARGS:x\"\n",
        )
        .unwrap();
        assert_eq!(rs.rule_count, 1);
        let Entry::Rule(r) = &rs.phases[1][0] else {
            panic!()
        };
        assert_eq!(
            r.actions.transforms,
            vec![Transform::Lowercase, Transform::UrlDecode]
        );
        assert!(r.chained.as_ref().unwrap().actions.transforms.is_empty());
        assert_eq!(r.exclusions.len(), 1);
        assert!(r.actions.log);
        assert!(matches!(rs.phases[0][0], Entry::Marker(_)));
    }

    #[test]
    fn errors_name_file_line_token() {
        let e = load("\nSecRule ARGS \"@rx a\" \"id:1,phase:2,bogus\"").unwrap_err();
        assert_eq!(e.location.line, 2);
        assert_eq!(e.token, "bogus");
        let e = load("SecRule NOPE \"@rx a\" \"id:1\"").unwrap_err();
        assert_eq!(e.token, "NOPE");
        let e = load("SecRule ARGS \"@rx (a\" \"id:1\"").unwrap_err();
        assert!(e.token.starts_with("@rx"));
        let e = load("SecFoo bar").unwrap_err();
        assert_eq!(e.token, "SecFoo");
    }

    #[test]
    fn updates_actions_by_id() {
        let rs = load(
            "SecRule ARGS \"@rx a\" \"id:1,phase:2,pass,log,msg:'old',t:lowercase\"\n\
             SecRuleUpdateActionById 1 \"deny,status:418,msg:'new',tag:x,t:none,t:urlDecode\"\n",
        )
        .unwrap();
        let Entry::Rule(r) = &rs.phases[1][0] else {
            panic!()
        };
        assert_eq!(r.actions.disruptive, Some(Disruptive::Deny));
        assert_eq!(r.actions.status, Some(418));
        assert!(r.has_tag("x"));
        assert_eq!(r.actions.transforms, vec![Transform::UrlDecode]);
        assert!(load("SecAction \"id:1,pass\"\nSecRuleUpdateActionById 1 \"phase:1\"").is_err());
    }

    #[test]
    fn removes_rules() {
        let rs = load("SecAction \"id:1,pass\"\nSecAction \"id:2,pass,tag:x\"\nSecAction \"id:3,pass\"\nSecRuleRemoveById 1\nSecRuleRemoveByTag ^x$\n").unwrap();
        assert_eq!(rs.rule_count, 1);
    }

    #[test]
    fn wildcard_matching() {
        assert!(wildcard(b"*.conf", b"REQUEST-901.conf"));
        assert!(!wildcard(b"*.conf", b"a.conf.example"));
    }
}
