//! The one module that names the LogQL engine (`opshelf-logql`).
//!
//! The rest of the crate imports LogQL's types from here: the engine's label sets and
//! matchers, its `Source` trait (implemented over the event store in `store.rs`), its query
//! parameters, results, limits and errors, and its `selector_matchers` / `format_query`.

pub use opshelf_logql::{
    Direction, Engine, EngineLimits, EvalError, LabelMatcher, Labels, LogRow, MatchOp, Params,
    ParseError, QueryResult, RowIter, Sample, SelectRequest, Series, Source, SourceError, Stats,
    Stream, StreamEntry, format_query, parse_expr, selector_matchers,
};
