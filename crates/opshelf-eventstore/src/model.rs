//! The types callers build and get back: `Labels`, `Record`, `Query`, `Matcher`, `Hit`.

use std::sync::Arc;

use crate::error::{Error, Result};

/// A stream's identity within a tenant: label pairs sorted by name, names unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Sorts by name; a repeated name keeps its last value.
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut v: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        v.reverse();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        Labels(v)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Already sorted and unique (decoders check this).
    pub(crate) fn from_sorted(v: Vec<(String, String)>) -> Self {
        Labels(v)
    }

    pub(crate) fn is_sorted_unique(v: &[(String, String)]) -> bool {
        v.windows(2).all(|w| w[0].0 < w[1].0)
    }
}

/// One event: a span, a log line, an analytics hit. `attrs` are per-record (structured
/// metadata, span attributes); they are indexed for needle lookups, not for matchers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub time_ns: i64,
    pub attrs: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Record {
    pub fn new(time_ns: i64, body: impl Into<Vec<u8>>) -> Self {
        Record {
            time_ns,
            attrs: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_attr(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.attrs.push((k.into(), v.into()));
        self
    }
}

/// What a query yields: the record and the labels of the stream it was appended to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub labels: Arc<Labels>,
    pub record: Record,
}

/// Returned once every record of the batch is durable (fsynced to the WAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub records: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

#[derive(Debug, Clone)]
pub enum MatchOp {
    Eq(String),
    Neq(String),
    /// Anchored like Prometheus and Loki: `=~"api|web"` matches the whole value.
    Re(regex::Regex),
    NotRe(regex::Regex),
}

/// A label matcher; a missing label matches as the empty string (Prometheus semantics).
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
}

impl Matcher {
    pub fn eq(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Eq(value.into()),
        }
    }

    pub fn neq(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Neq(value.into()),
        }
    }

    pub fn re(name: impl Into<String>, pattern: &str) -> Result<Self> {
        Ok(Matcher {
            name: name.into(),
            op: MatchOp::Re(anchored(pattern)?),
        })
    }

    pub fn not_re(name: impl Into<String>, pattern: &str) -> Result<Self> {
        Ok(Matcher {
            name: name.into(),
            op: MatchOp::NotRe(anchored(pattern)?),
        })
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).unwrap_or("");
        match &self.op {
            MatchOp::Eq(x) => v == x,
            MatchOp::Neq(x) => v != x,
            MatchOp::Re(r) => r.is_match(v),
            MatchOp::NotRe(r) => !r.is_match(v),
        }
    }
}

fn anchored(pattern: &str) -> Result<regex::Regex> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| Error::Invalid(format!("label regex {pattern:?}: {e}")))
}

/// A read: records of `tenant` with `from_ns <= time_ns < to_ns` in streams matching every
/// matcher, in time order (`direction`), at most `limit` (0 = no limit).
///
/// `needle`: only records that contain it delimited by token boundaries (non-alphanumeric
/// bytes or the ends) in the body or an attribute value, or equal to an attribute value.
/// Blocks and chunks whose bloom filters cannot hold it are skipped without decompression.
///
/// `contains`: only records whose body or an attribute value contains it as a plain
/// substring (LogQL's `|=`). The filters help through the tokens it has whole and the
/// minimizers of its long runs (see `bloom.rs`); a short needle such as `"err"` is checked
/// on every record in range.
#[derive(Debug, Clone)]
pub struct Query {
    pub tenant: String,
    pub from_ns: i64,
    pub to_ns: i64,
    pub matchers: Vec<Matcher>,
    pub direction: Direction,
    pub limit: usize,
    pub needle: Option<String>,
    pub contains: Option<String>,
}

impl Query {
    /// Everything of a tenant, forward, no limit.
    pub fn all(tenant: impl Into<String>) -> Self {
        Query {
            tenant: tenant.into(),
            from_ns: i64::MIN,
            to_ns: i64::MAX,
            matchers: Vec::new(),
            direction: Direction::Forward,
            limit: 0,
            needle: None,
            contains: None,
        }
    }

    pub(crate) fn matches_labels(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sorted_last_wins() {
        let l = Labels::new([("b", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "2"), ("b", "3")]);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn matchers_are_anchored_and_missing_is_empty() {
        let l = Labels::new([("service", "api-gateway")]);
        assert!(!Matcher::re("service", "api").unwrap().matches(&l));
        assert!(Matcher::re("service", "api.*").unwrap().matches(&l));
        assert!(Matcher::eq("env", "").matches(&l));
        assert!(Matcher::neq("env", "prod").matches(&l));
        assert!(Matcher::not_re("service", "web|db").unwrap().matches(&l));
    }
}
