//! The parsed form of a LogQL query.

use crate::labels::LabelMatcher;
use crate::pipeline::template::Template;

/// A whole query.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A log query: selector and pipeline.
    Log(LogExpr),
    /// A metric query.
    Sample(SampleExpr),
}

/// `{matchers} pipeline...`
#[derive(Debug, Clone)]
pub struct LogExpr {
    /// Stream selector.
    pub matchers: Vec<LabelMatcher>,
    /// Pipeline stages in order.
    pub stages: Vec<Stage>,
}

/// A line filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Match,
    /// `!~`
    NotMatch,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

impl LineFilterOp {
    /// Is this one of the negative filters?
    #[must_use]
    pub fn negative(self) -> bool {
        matches!(self, Self::NotContains | Self::NotMatch | Self::NotPattern)
    }
    /// The operator as written.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contains => "|=",
            Self::NotContains => "!=",
            Self::Match => "|~",
            Self::NotMatch => "!~",
            Self::Pattern => "|>",
            Self::NotPattern => "!>",
        }
    }
}

/// One operand of a line filter (a string, or `ip("...")`).
#[derive(Debug, Clone)]
pub enum FilterOperand {
    /// A literal / regex / pattern.
    Str(String),
    /// `ip("cidr")`
    Ip(String),
}

/// `op operand [or operand]...`
#[derive(Debug, Clone)]
pub struct LineFilter {
    /// The operator every operand inherits.
    pub op: LineFilterOp,
    /// The or-chained operands.
    pub operands: Vec<FilterOperand>,
}

/// A comparison in a label filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=` or `==`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

impl CmpOp {
    /// Applies the comparison.
    #[must_use]
    pub fn apply<T: PartialOrd>(self, a: &T, b: &T) -> bool {
        match self {
            Self::Eq => a == b,
            Self::Neq => a != b,
            Self::Gt => a > b,
            Self::Gte => a >= b,
            Self::Lt => a < b,
            Self::Lte => a <= b,
        }
    }
}

/// A label filter expression.
#[derive(Debug, Clone)]
pub enum LabelFilter {
    /// `name op "value"`
    Matcher(LabelMatcher),
    /// `name op number`
    Number(String, CmpOp, f64, bool /* written with == */),
    /// `name op 5m` (nanoseconds)
    Duration(String, CmpOp, i64, String),
    /// `name op 5MB` (bytes)
    Bytes(String, CmpOp, u64, String),
    /// `name = ip("...")` / `name != ip("...")`
    Ip(String, bool /* negated */, String),
    /// `a and b` (also `a, b` and `a b`)
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// `a or b`
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// `( a )`
    Paren(Box<LabelFilter>),
}

/// `dst=src` (rename) or `dst="template"`.
#[derive(Debug, Clone)]
pub enum LabelFmt {
    /// Rename: copy `src` into `dst` and remove `src`.
    Rename(String, String),
    /// Template.
    Template(String, String, Box<Template>),
}

/// A parser parameter: `name` or `name="expr"`.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// Label name to set.
    pub name: String,
    /// The expression (json path / logfmt key); `None` for a bare identifier.
    pub expr: Option<String>,
}

/// A drop/keep entry: `name` or `name op "value"`.
#[derive(Debug, Clone)]
pub enum NameOrMatcher {
    /// A bare name.
    Name(String),
    /// A matcher.
    Matcher(LabelMatcher),
}

/// One pipeline stage.
#[derive(Debug, Clone)]
pub enum Stage {
    /// A line filter.
    LineFilter(LineFilter),
    /// `| json` with optional extractions.
    Json(Vec<Extraction>),
    /// `| logfmt` with flags and optional extractions.
    Logfmt {
        /// `--strict`
        strict: bool,
        /// `--keep-empty`
        keep_empty: bool,
        /// Extractions.
        params: Vec<Extraction>,
    },
    /// `| regexp "..."`
    Regexp(String),
    /// `| pattern "..."`
    Pattern(String),
    /// `| unpack`
    Unpack,
    /// `| <label filter>`
    LabelFilter(LabelFilter),
    /// `| line_format "..."`
    LineFormat(String, Box<Template>),
    /// `| label_format ...`
    LabelFormat(Vec<LabelFmt>),
    /// `| decolorize`
    Decolorize,
    /// `| drop ...`
    Drop(Vec<NameOrMatcher>),
    /// `| keep ...`
    Keep(Vec<NameOrMatcher>),
}

/// `unwrap` conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// Plain float.
    None,
    /// `bytes()`
    Bytes,
    /// `duration()` / `duration_seconds()`
    Duration,
}

/// `| unwrap [conv(]label[)] [| label filter]...`
#[derive(Debug, Clone)]
pub struct Unwrap {
    /// Label to read.
    pub label: String,
    /// Conversion.
    pub conv: Conversion,
    /// The conversion as written (`duration` or `duration_seconds`), for formatting.
    pub conv_name: &'static str,
    /// Label filters after the unwrap.
    pub post_filters: Vec<LabelFilter>,
}

/// A range vector: `selector pipeline [range] offset` with an optional unwrap.
#[derive(Debug, Clone)]
pub struct LogRange {
    /// Selector and pipeline.
    pub log: LogExpr,
    /// Range, ns.
    pub range_ns: i64,
    /// Offset, ns.
    pub offset_ns: i64,
    /// Unwrap.
    pub unwrap: Option<Unwrap>,
}

/// Range aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    AvgOverTime,
    SumOverTime,
    MinOverTime,
    MaxOverTime,
    StdvarOverTime,
    StddevOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
}

impl RangeOp {
    /// The function name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::CountOverTime => "count_over_time",
            Self::Rate => "rate",
            Self::RateCounter => "rate_counter",
            Self::BytesOverTime => "bytes_over_time",
            Self::BytesRate => "bytes_rate",
            Self::AvgOverTime => "avg_over_time",
            Self::SumOverTime => "sum_over_time",
            Self::MinOverTime => "min_over_time",
            Self::MaxOverTime => "max_over_time",
            Self::StdvarOverTime => "stdvar_over_time",
            Self::StddevOverTime => "stddev_over_time",
            Self::QuantileOverTime => "quantile_over_time",
            Self::FirstOverTime => "first_over_time",
            Self::LastOverTime => "last_over_time",
            Self::AbsentOverTime => "absent_over_time",
        }
    }
}

/// Vector aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum VecOp {
    Sum,
    Avg,
    Count,
    Max,
    Min,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
    ApproxTopk,
}

impl VecOp {
    /// The function name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Count => "count",
            Self::Max => "max",
            Self::Min => "min",
            Self::Stddev => "stddev",
            Self::Stdvar => "stdvar",
            Self::Topk => "topk",
            Self::Bottomk => "bottomk",
            Self::Sort => "sort",
            Self::SortDesc => "sort_desc",
            Self::ApproxTopk => "approx_topk",
        }
    }
}

/// `by (...)` / `without (...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// `without` rather than `by`.
    pub without: bool,
    /// The label names.
    pub labels: Vec<String>,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinOp {
    Or,
    And,
    Unless,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl BinOp {
    /// The operator as written.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Or => "or",
            Self::And => "and",
            Self::Unless => "unless",
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Mod => "%",
            Self::Pow => "^",
            Self::Eq => "==",
            Self::Neq => "!=",
            Self::Gt => ">",
            Self::Gte => ">=",
            Self::Lt => "<",
            Self::Lte => "<=",
        }
    }
    /// A logical / set operator?
    #[must_use]
    pub fn is_set(self) -> bool {
        matches!(self, Self::Or | Self::And | Self::Unless)
    }
    /// A comparison?
    #[must_use]
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            Self::Eq | Self::Neq | Self::Gt | Self::Gte | Self::Lt | Self::Lte
        )
    }
    /// Precedence (higher binds tighter).
    #[must_use]
    pub fn precedence(self) -> u8 {
        match self {
            Self::Or => 1,
            Self::And | Self::Unless => 2,
            Self::Eq | Self::Neq | Self::Gt | Self::Gte | Self::Lt | Self::Lte => 3,
            Self::Add | Self::Sub => 4,
            Self::Mul | Self::Div | Self::Mod => 5,
            Self::Pow => 6,
        }
    }
}

/// `on(...)` / `ignoring(...)` and `group_left/right(...)`.
#[derive(Debug, Clone, Default)]
pub struct VectorMatching {
    /// `on` (true) or `ignoring` (false).
    pub on: bool,
    /// Whether `on`/`ignoring` was written at all.
    pub explicit: bool,
    /// The on/ignoring labels.
    pub labels: Vec<String>,
    /// `group_left` / `group_right`.
    pub card: Cardinality,
    /// The include labels of group_x.
    pub include: Vec<String>,
}

/// Matching cardinality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Cardinality {
    /// One to one.
    #[default]
    OneToOne,
    /// `group_left`: many left to one right.
    ManyToOne,
    /// `group_right`.
    OneToMany,
}

/// Binary operator modifiers.
#[derive(Debug, Clone, Default)]
pub struct BinModifier {
    /// `bool`
    pub return_bool: bool,
    /// Vector matching.
    pub matching: VectorMatching,
}

/// A metric expression.
#[derive(Debug, Clone)]
pub enum SampleExpr {
    /// `rate(...)` etc.
    Range {
        /// Operator.
        op: RangeOp,
        /// Parameter (quantile).
        param: Option<f64>,
        /// The range vector.
        range: Box<LogRange>,
        /// Grouping (only with unwrap for the `_over_time` operators).
        grouping: Option<Grouping>,
    },
    /// `sum by (x) (...)` etc.
    Vector {
        /// Operator.
        op: VecOp,
        /// Parameter (topk k).
        param: Option<f64>,
        /// Inner expression.
        inner: Box<SampleExpr>,
        /// Grouping.
        grouping: Option<Grouping>,
    },
    /// `a op b`.
    Binary {
        /// Operator.
        op: BinOp,
        /// Modifiers.
        modifier: BinModifier,
        /// Left operand.
        lhs: Box<SampleExpr>,
        /// Right operand.
        rhs: Box<SampleExpr>,
    },
    /// A number.
    Literal(f64),
    /// `vector(n)`
    VectorLit(f64),
    /// `label_replace(v, dst, replacement, src, regex)`
    LabelReplace {
        /// Inner expression.
        inner: Box<SampleExpr>,
        /// Destination label.
        dst: String,
        /// Replacement template.
        replacement: String,
        /// Source label.
        src: String,
        /// Regex source as written.
        regex_src: String,
        /// Anchored regex.
        regex: regex::Regex,
    },
    /// `( expr )`
    Paren(Box<SampleExpr>),
}
