//! Promtail pipeline stages: `regex`, `json`, `logfmt` fill the extracted map; `labels` turn
//! extracted values into labels; `timestamp` sets the entry's time; `drop` discards;
//! `output` replaces the line. `multiline` joins lines before the others (it must be first)
//! and is run by the tailer, which owns the per-file state.

use std::collections::BTreeMap;

use crate::config::Stage;

#[derive(Debug)]
pub enum Compiled {
    Regex {
        re: regex::Regex,
        source: Option<String>,
    },
    Json {
        exprs: BTreeMap<String, String>,
        source: Option<String>,
    },
    Logfmt {
        mapping: BTreeMap<String, String>,
        source: Option<String>,
    },
    Labels {
        values: BTreeMap<String, String>,
    },
    Timestamp {
        source: String,
        format: String,
    },
    Drop {
        re: Option<regex::Regex>,
        source: Option<String>,
        longer_than: Option<usize>,
    },
    Multiline(Multiline),
    Output {
        source: String,
    },
}

#[derive(Debug, Clone)]
pub struct Multiline {
    pub firstline: regex::Regex,
    pub max_lines: usize,
    pub max_wait_ms: u64,
}

const TIME_FORMATS: &[&str] = &[
    "RFC3339",
    "RFC3339Nano",
    "Unix",
    "UnixMs",
    "UnixUs",
    "UnixNs",
];

/// Check and compile one stage.
///
/// # Errors
/// What is wrong with it, phrased to follow "expected".
pub fn compile_stage(s: &Stage) -> Result<Compiled, String> {
    let re =
        |e: &str| regex::Regex::new(e).map_err(|err| format!("a valid regular expression ({err})"));
    Ok(match s {
        Stage::Regex { expression, source } => Compiled::Regex {
            re: re(expression)?,
            source: source.clone(),
        },
        Stage::Json {
            expressions,
            source,
        } => Compiled::Json {
            exprs: expressions.clone(),
            source: source.clone(),
        },
        Stage::Logfmt { mapping, source } => Compiled::Logfmt {
            mapping: mapping.clone(),
            source: source.clone(),
        },
        Stage::Labels { values } => {
            for k in values.keys() {
                if !crate::push::valid_label_name(k) {
                    return Err(format!(
                        "label names matching [a-zA-Z_][a-zA-Z0-9_]* (not {k:?})"
                    ));
                }
            }
            Compiled::Labels {
                values: values.clone(),
            }
        }
        Stage::Timestamp { source, format } => {
            if !TIME_FORMATS.contains(&format.as_str()) {
                return Err(format!("format one of {}", TIME_FORMATS.join(", ")));
            }
            Compiled::Timestamp {
                source: source.clone(),
                format: format.clone(),
            }
        }
        Stage::Drop {
            expression,
            source,
            longer_than,
        } => Compiled::Drop {
            re: expression.as_deref().map(re).transpose()?,
            source: source.clone(),
            longer_than: *longer_than,
        },
        Stage::Multiline {
            firstline,
            max_lines,
            max_wait_time_ms,
        } => Compiled::Multiline(Multiline {
            firstline: re(firstline)?,
            max_lines: (*max_lines).max(1),
            max_wait_ms: *max_wait_time_ms,
        }),
        Stage::Output { source } => Compiled::Output {
            source: source.clone(),
        },
    })
}

/// A target's compiled stages.
#[derive(Debug, Default)]
pub struct Pipeline {
    pub multiline: Option<Multiline>,
    stages: Vec<Compiled>,
}

/// What the stages made of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub ts_ns: i64,
    pub line: String,
    pub labels: Vec<(String, String)>,
}

impl Pipeline {
    /// # Errors
    /// A stage that does not compile, or `multiline` anywhere but first.
    pub fn new(stages: &[Stage]) -> Result<Self, String> {
        let mut p = Pipeline::default();
        for (i, s) in stages.iter().enumerate() {
            match compile_stage(s)? {
                Compiled::Multiline(m) if i == 0 => p.multiline = Some(m),
                Compiled::Multiline(_) => return Err("multiline as the first stage".to_owned()),
                c => p.stages.push(c),
            }
        }
        Ok(p)
    }

    /// Run the stages; `None` when a `drop` stage discarded the entry.
    pub fn process(&self, line: String, ts_ns: i64) -> Option<Processed> {
        let mut out = Processed {
            ts_ns,
            line,
            labels: Vec::new(),
        };
        let mut extracted: BTreeMap<String, String> = BTreeMap::new();
        for s in &self.stages {
            match s {
                Compiled::Regex { re, source } => {
                    let text = input(&out.line, &extracted, source.as_ref());
                    if let Some(c) = re.captures(&text) {
                        for name in re.capture_names().flatten() {
                            if let Some(m) = c.name(name) {
                                extracted.insert(name.to_owned(), m.as_str().to_owned());
                            }
                        }
                    }
                }
                Compiled::Json { exprs, source } => {
                    let text = input(&out.line, &extracted, source.as_ref());
                    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&text) {
                        for (name, key) in exprs {
                            let key = if key.is_empty() { name } else { key };
                            if let Some(v) = m.get(key) {
                                let v = match v {
                                    serde_json::Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                };
                                extracted.insert(name.clone(), v);
                            }
                        }
                    }
                }
                Compiled::Logfmt { mapping, source } => {
                    let text = input(&out.line, &extracted, source.as_ref());
                    let pairs = logfmt(&text);
                    if mapping.is_empty() {
                        extracted.extend(pairs);
                    } else {
                        for (name, key) in mapping {
                            let key = if key.is_empty() { name } else { key };
                            if let Some((_, v)) = pairs.iter().find(|(k, _)| k == key) {
                                extracted.insert(name.clone(), v.clone());
                            }
                        }
                    }
                }
                Compiled::Labels { values } => {
                    for (label, from) in values {
                        let from = if from.is_empty() { label } else { from };
                        if let Some(v) = extracted.get(from)
                            && !v.is_empty()
                        {
                            out.labels.retain(|(k, _)| k != label);
                            out.labels.push((label.clone(), v.clone()));
                        }
                    }
                }
                Compiled::Timestamp { source, format } => {
                    if let Some(t) = extracted.get(source).and_then(|v| parse_ts(v, format)) {
                        out.ts_ns = t;
                    }
                }
                Compiled::Drop {
                    re,
                    source,
                    longer_than,
                } => {
                    let text = input(&out.line, &extracted, source.as_ref());
                    let by_re = re.as_ref().is_some_and(|r| r.is_match(&text));
                    let by_len = longer_than.is_some_and(|n| out.line.len() > n);
                    let selected = match (re.is_some(), longer_than.is_some()) {
                        (true, true) => by_re && by_len,
                        (true, false) => by_re,
                        (false, true) => by_len,
                        (false, false) => {
                            source.as_ref().is_some_and(|s| extracted.contains_key(s))
                        }
                    };
                    if selected {
                        return None;
                    }
                }
                Compiled::Output { source } => {
                    if let Some(v) = extracted.get(source) {
                        out.line = v.clone();
                    }
                }
                Compiled::Multiline(_) => {}
            }
        }
        Some(out)
    }
}

fn input(line: &str, extracted: &BTreeMap<String, String>, source: Option<&String>) -> String {
    match source {
        Some(s) => extracted.get(s).cloned().unwrap_or_default(),
        None => line.to_owned(),
    }
}

/// `key=value key2="quoted value"` pairs.
pub fn logfmt(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        let key = s.get(ks..i).unwrap_or_default().to_owned();
        let mut val = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut esc = false;
                let vs = i;
                while i < b.len() {
                    if esc {
                        esc = false;
                    } else if b[i] == b'\\' {
                        esc = true;
                    } else if b[i] == b'"' {
                        break;
                    }
                    i += 1;
                }
                let raw = s.get(vs..i).unwrap_or_default();
                val =
                    serde_json::from_str(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_owned());
                i += 1;
            } else {
                let vs = i;
                while i < b.len() && b[i] != b' ' {
                    i += 1;
                }
                val = s.get(vs..i).unwrap_or_default().to_owned();
            }
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

fn parse_ts(v: &str, format: &str) -> Option<i64> {
    let int = || v.trim().parse::<i64>().ok();
    match format {
        "RFC3339" | "RFC3339Nano" => {
            let t = time::OffsetDateTime::parse(
                v.trim(),
                &time::format_description::well_known::Rfc3339,
            )
            .ok()?;
            i64::try_from(t.unix_timestamp_nanos()).ok()
        }
        "Unix" => {
            if v.contains('.') {
                let f: f64 = v.trim().parse().ok()?;
                Some((f * 1e9) as i64)
            } else {
                int()?.checked_mul(1_000_000_000)
            }
        }
        "UnixMs" => int()?.checked_mul(1_000_000),
        "UnixUs" => int()?.checked_mul(1_000),
        "UnixNs" => int(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(toml_text: &str) -> Pipeline {
        #[derive(serde::Deserialize)]
        struct T {
            pipeline: Vec<Stage>,
        }
        let t: T = toml::from_str(toml_text).unwrap();
        Pipeline::new(&t.pipeline).unwrap()
    }

    #[test]
    fn regex_json_logfmt_labels_timestamp_drop_output() {
        let p = stages(
            r#"
            [[pipeline]]
            stage = "regex"
            expression = '^(?P<level>\w+) (?P<rest>.*)$'
            [[pipeline]]
            stage = "logfmt"
            source = "rest"
            [[pipeline]]
            stage = "labels"
            values = { level = "", user = "" }
            [[pipeline]]
            stage = "timestamp"
            source = "ts"
            format = "UnixMs"
            [[pipeline]]
            stage = "drop"
            expression = "healthz"
            [[pipeline]]
            stage = "output"
            source = "msg"
            "#,
        );
        let out = p
            .process(
                r#"info user=ann ts=1700000000123 msg="logged in""#.to_owned(),
                5,
            )
            .unwrap();
        assert_eq!(out.ts_ns, 1_700_000_000_123_000_000);
        assert_eq!(out.line, "logged in");
        assert_eq!(
            out.labels,
            vec![
                ("level".into(), "info".into()),
                ("user".into(), "ann".into())
            ]
        );
        assert!(p.process("info GET /healthz".to_owned(), 5).is_none());
        let j = stages(
            "[[pipeline]]\nstage = \"json\"\nexpressions = { lvl = \"level\" }\n[[pipeline]]\nstage = \"labels\"\nvalues = { lvl = \"\" }\n",
        );
        let out = j
            .process(r#"{"level":"warn","n":1}"#.to_owned(), 1)
            .unwrap();
        assert_eq!(out.labels, vec![("lvl".into(), "warn".into())]);
        assert!(
            Pipeline::new(&[
                Stage::Output { source: "x".into() },
                Stage::Multiline {
                    firstline: "^x".into(),
                    max_lines: 3,
                    max_wait_time_ms: 1
                }
            ])
            .is_err()
        );
    }
}
