//! LogQL for opshelf: a parser with Loki's error messages, the log pipeline, and a metric engine that
//! reads entries through the [`Source`] trait (the server implements it over the event store; the
//! `.logqltest` harness over memory). A pure library: no I/O, no async, no opshelf dependencies.

pub mod ast;
pub mod duration;
pub mod engine;
mod eval;
pub mod format;
pub mod labels;
pub mod lexer;
pub mod logqltest;
pub mod mem;
pub mod parse;
pub mod pipeline;

pub use engine::{
    Direction, Engine, EngineLimits, EvalError, LogRow, Params, QueryResult, RowIter, Sample,
    SelectRequest, Series, Source, SourceError, Stats, Stream, StreamEntry,
};
pub use format::format_query;
pub use labels::{LabelMatcher, Labels, MatchOp};
pub use parse::{ParseError, parse_expr, selector_matchers};
