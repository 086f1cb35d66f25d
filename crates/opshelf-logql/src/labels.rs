//! Label sets and label matchers.

use std::fmt;
use std::sync::Arc;

/// A sorted, deduplicated label set; cloning is a reference-count increment.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Arc<[(String, String)]>);

impl Labels {
    /// Builds a label set from pairs in any order (later duplicates win).
    #[must_use]
    pub fn new(mut pairs: Vec<(String, String)>) -> Self {
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|a, b| a.0 == b.0);
        Self(pairs.into())
    }

    /// Builds from pairs already sorted by name and unique.
    #[must_use]
    pub fn from_sorted(pairs: Vec<(String, String)>) -> Self {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        Self(pairs.into())
    }

    /// The empty label set.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// The value of `name`, if present.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The address of the shared pairs (identity, for caches).
    #[must_use]
    pub fn as_ptr(&self) -> *const (String, String) {
        self.0.as_ptr()
    }

    /// The pairs, sorted by name.
    #[must_use]
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Number of labels.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A copy keeping only the labels `keep` says yes to.
    #[must_use]
    pub fn filter(&self, mut keep: impl FnMut(&str) -> bool) -> Self {
        Self::from_sorted(self.0.iter().filter(|(k, _)| keep(k)).cloned().collect())
    }
}

impl fmt::Display for Labels {
    /// Prometheus' `labels.String()`: `{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={}", crate::format::quote(v))?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A label matcher's operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~` (anchored)
    Re,
    /// `!~` (anchored)
    Nre,
}

impl MatchOp {
    /// The operator's LogQL spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Neq => "!=",
            Self::Re => "=~",
            Self::Nre => "!~",
        }
    }
}

/// `name op "value"`; regex operators are compiled once, anchored like Prometheus'.
#[derive(Clone)]
pub struct LabelMatcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// The value or the regex source as written.
    pub value: String,
    re: Option<regex::Regex>,
}

impl fmt::Debug for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.name,
            self.op.as_str(),
            crate::format::quote(&self.value)
        )
    }
}

impl PartialEq for LabelMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl LabelMatcher {
    /// Builds a matcher, compiling the regex for `=~` / `!~`.
    ///
    /// # Errors
    /// When the regex does not compile (the message is the regex crate's).
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        let value = value.into();
        let re = match op {
            MatchOp::Re | MatchOp::Nre => Some(anchored_regex(&value)?),
            MatchOp::Eq | MatchOp::Neq => None,
        };
        Ok(Self {
            name: name.into(),
            op,
            value,
            re,
        })
    }

    /// Does `value` (the empty string for an absent label) match?
    #[must_use]
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Neq => value != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::Nre => !self.re.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Does the label set match (an absent label is the empty value)?
    #[must_use]
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

/// Compiles `^(?:re)$` with a size limit (untrusted input).
///
/// # Errors
/// When the regex does not compile.
pub fn anchored_regex(re: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?s:{re})$"))
        .size_limit(1 << 22)
        .dfa_size_limit(1 << 22)
        .build()
}

/// Compiles an unanchored regex with a size limit.
///
/// # Errors
/// When the regex does not compile.
pub fn plain_regex(re: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(re)
        .size_limit(1 << 22)
        .dfa_size_limit(1 << 22)
        .build()
}
