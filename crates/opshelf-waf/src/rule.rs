//! The rule model: what a `SecRule` / `SecAction` compiles to.

use crate::macros::MacroString;
use crate::operator::Operator;
use crate::seclang::Location;
use crate::transform::Transform;
use crate::variable::{Exclusion, Target, Var};

/// What a rule does to the transaction when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disruptive {
    Pass,
    Block,
    Deny,
    Drop,
    Redirect,
    Allow(AllowScope),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowScope {
    All,
    Phase,
    Request,
}

/// Rule engine mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum EngineMode {
    On,
    DetectionOnly,
    Off,
}

impl EngineMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "on" => Some(Self::On),
            "detectiononly" => Some(Self::DetectionOnly),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

/// `setvar:` — `col.name=value`, `=+n`, `=-n`, `!col.name`.
#[derive(Debug, Clone)]
pub struct SetVar {
    pub collection: Var,
    pub name: MacroString,
    pub op: SetVarOp,
    pub value: MacroString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetVarOp {
    Set,
    Add,
    Sub,
    Delete,
}

/// `ctl:` actions.
#[derive(Debug, Clone)]
pub enum Ctl {
    RuleEngine(EngineMode),
    RuleRemoveById(Vec<(u64, u64)>),
    RuleRemoveByTag(String),
    RuleRemoveTargetById(Vec<(u64, u64)>, Vec<Exclusion>),
    RuleRemoveTargetByTag(String, Vec<Exclusion>),
    RequestBodyProcessor(String),
    RequestBodyAccess(bool),
    ForceRequestBodyVariable(bool),
    AuditEngine(String),
    AuditLogParts(String),
    ResponseBodyAccess(bool),
    Other(String),
}

/// Metadata and actions of a rule (after `SecDefaultAction` was merged in).
#[derive(Debug, Clone, Default)]
pub struct Actions {
    pub id: u64,
    pub phase: u8,
    pub msg: Option<MacroString>,
    pub logdata: Option<MacroString>,
    pub tags: Vec<String>,
    pub severity: Option<u8>,
    pub ver: Option<String>,
    pub rev: Option<String>,
    pub maturity: Option<String>,
    pub accuracy: Option<String>,
    pub disruptive: Option<Disruptive>,
    pub status: Option<u16>,
    pub log: bool,
    pub auditlog: bool,
    pub capture: bool,
    pub multi_match: bool,
    pub chain: bool,
    pub skip: u32,
    pub skip_after: Option<String>,
    pub setvars: Vec<SetVar>,
    pub ctls: Vec<Ctl>,
    pub initcols: Vec<(Var, MacroString)>,
    pub setenvs: Vec<(MacroString, MacroString)>,
    pub transforms: Vec<Transform>,
    /// The same number for every rule with the same transformation list (cache key).
    pub transform_chain: u32,
}

/// A compiled rule (one link of a chain; `chained` is the next link).
#[derive(Debug, Clone)]
pub struct Rule {
    pub location: Location,
    pub actions: Actions,
    /// Empty for `SecAction` (which always matches once).
    pub targets: Vec<Target>,
    pub exclusions: Vec<Exclusion>,
    pub operator: Option<Operator>,
    pub chained: Option<Box<Rule>>,
}

impl Rule {
    pub fn id(&self) -> u64 {
        self.actions.id
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.actions.tags.iter().any(|t| t == tag)
    }

    /// The last link of the chain (where the next `chain` continuation attaches).
    pub fn last_mut(&mut self) -> &mut Rule {
        if self.chained.is_some() {
            return self
                .chained
                .as_deref_mut()
                .expect("checked above")
                .last_mut();
        }
        self
    }
}

/// Severity names as ModSecurity logs them.
pub fn severity_name(s: u8) -> &'static str {
    match s {
        0 => "EMERGENCY",
        1 => "ALERT",
        2 => "CRITICAL",
        3 => "ERROR",
        4 => "WARNING",
        5 => "NOTICE",
        6 => "INFO",
        _ => "DEBUG",
    }
}

pub fn parse_severity(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return (n <= 7).then_some(n);
    }
    match s.to_ascii_uppercase().as_str() {
        "EMERGENCY" => Some(0),
        "ALERT" => Some(1),
        "CRITICAL" => Some(2),
        "ERROR" => Some(3),
        "WARNING" => Some(4),
        "NOTICE" => Some(5),
        "INFO" => Some(6),
        "DEBUG" => Some(7),
        _ => None,
    }
}
