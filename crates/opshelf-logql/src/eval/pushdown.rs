//! Pushing an outer vector aggregation's grouping down into the range aggregation beneath it, so
//! windows are kept per result group instead of per input series.
//!
//! `sum by (level) (count_over_time({app="x"} | logfmt [5m]))` over lines that each carry a unique
//! `trace_id` makes one series per line before the sum; Loki answers it (its series limit applies to
//! the result), and keeping a window per line would hit the pre-aggregation cap. When the outer
//! aggregation distributes over the range operator (a sum of per-series sums is the sum over the
//! merged samples; a max of per-series maxima is the max over the merged samples), a line can be
//! mapped to its group's labels before its window is chosen.
//!
//! Exactness, in two modes:
//! - [`Mode::Eager`] (`sum` over `count_over_time` / `bytes_over_time`, where step vectors' order
//!   is unobservable: one-step queries, or the query's top node, whose series are sorted): groups
//!   from the first line. Every sample is an integer (1 or a line length) and integer sums below
//!   2^53 are exact in any order, so values are bit-identical. Groups are ordered by their first
//!   line, which in a one-step query (every line read lies in the window) is the order in which the
//!   unpushed aggregation meets them.
//! - [`Mode::OnOverflow`] (`sum` over `rate` / `bytes_rate` / `sum_over_time`, `max` over
//!   `max_over_time`, `min` over `min_over_time`, and the eager pairs anywhere else): per-series
//!   windows as before, regrouped only at the moment the unpushed evaluation would fail with
//!   "maximum of series"; below the cap nothing changes. Past it, floating-point sums are
//!   re-associated (results may differ in the last bits from a per-series sum).
//!
//! Lines carrying `__error__` keep their ungrouped key in both modes, so the pipeline error names
//! the same series as without the pushdown.

use super::{PTR_CACHE, Wins, group_labels, labels_hash, range_key};
use crate::ast::{Grouping, LogRange, RangeOp, SampleExpr, VecOp};
use crate::engine::EvalError;
use crate::labels::Labels;
use crate::pipeline::{ERROR_LABEL, LabelsBuilder};

/// When the pushed-down grouping takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// From the first line (results are bit-identical).
    Eager,
    /// Once the per-series windows reach the pre-aggregation cap.
    OnOverflow,
}

/// A range aggregation to run with the outer grouping pushed into it.
pub(super) struct Target<'e> {
    pub op: RangeOp,
    pub param: Option<f64>,
    pub range: &'e LogRange,
    pub grouping: Option<&'e Grouping>,
    pub push: Push<'e>,
}

/// The pushed-down grouping and its state during one range aggregation.
pub(super) struct Push<'g> {
    /// The outer aggregation's grouping (`None`: everything is one group).
    outer: Option<&'g Grouping>,
    /// Windows are keyed by group (from the start in eager mode, from the overflow otherwise).
    pub active: bool,
    /// Stream label sets (held, so their addresses stay valid) and the window they map to.
    cache: [Option<(Labels, usize)>; PTR_CACHE],
    cache_next: usize,
}

/// The pushdown for `op grouping (inner)`, if it is exact; `order_safe` when the order of the
/// aggregation's step vectors cannot be observed.
pub(super) fn plan<'e>(
    op: VecOp,
    grouping: Option<&'e Grouping>,
    inner: &'e SampleExpr,
    order_safe: bool,
) -> Option<Target<'e>> {
    let mut inner = inner;
    while let SampleExpr::Paren(i) = inner {
        inner = i;
    }
    let SampleExpr::Range {
        op: rop,
        param,
        range,
        grouping: rgrouping,
    } = inner
    else {
        return None;
    };
    let mode = mode(op, *rop, order_safe)?;
    Some(Target {
        op: *rop,
        param: *param,
        range,
        grouping: rgrouping.as_ref(),
        push: Push {
            outer: grouping,
            active: mode == Mode::Eager,
            cache: Default::default(),
            cache_next: 0,
        },
    })
}

/// Which pairs distribute, and how exactly.
pub(super) fn mode(op: VecOp, rop: RangeOp, order_safe: bool) -> Option<Mode> {
    match (op, rop) {
        (VecOp::Sum, RangeOp::CountOverTime | RangeOp::BytesOverTime) if order_safe => {
            Some(Mode::Eager)
        }
        (
            VecOp::Sum,
            RangeOp::CountOverTime
            | RangeOp::BytesOverTime
            | RangeOp::Rate
            | RangeOp::BytesRate
            | RangeOp::SumOverTime,
        )
        | (VecOp::Max, RangeOp::MaxOverTime)
        | (VecOp::Min, RangeOp::MinOverTime) => Some(Mode::OnOverflow),
        _ => None,
    }
}

/// Is `name` kept by a grouping (`none`: what no grouping keeps)?
fn keeps(g: Option<&Grouping>, name: &str, none: bool) -> bool {
    g.map_or(none, |g| g.without != g.labels.iter().any(|x| x == name))
}

impl Push<'_> {
    /// The labels the outer grouping keeps, when it names them: `by (...)`, or none for an
    /// aggregation without grouping; `None` for `without`.
    pub(super) fn outer_by(&self) -> Option<&[String]> {
        match self.outer {
            None => Some(&[]),
            Some(g) if !g.without => Some(&g.labels),
            Some(_) => None,
        }
    }

    /// The pushed key of a range key: its outer group, unless it carries an error.
    fn regroup(&self, key: &Labels) -> Labels {
        if key.get(ERROR_LABEL).is_some() {
            key.clone()
        } else {
            group_labels(key, self.outer)
        }
    }

    /// The window of an entry with these final labels.
    fn key_of(&self, full: &Labels, inner: Option<&Grouping>) -> Labels {
        if inner.is_some() {
            self.regroup(&range_key(full, inner))
        } else {
            self.regroup(full)
        }
    }

    /// The window of the current entry (`stream_key`: its labels are the stream's, `lb` unused).
    pub(super) fn index(
        &mut self,
        wins: &mut Wins,
        stream: &Labels,
        lb: &LabelsBuilder,
        stream_key: bool,
        inner: Option<&Grouping>,
    ) -> Result<usize, EvalError> {
        if stream_key {
            let hit = self
                .cache
                .iter()
                .flatten()
                .find(|(l, _)| l.as_ptr() == stream.as_ptr());
            if let Some((_, i)) = hit {
                return Ok(*i);
            }
            let i = wins.find_or_add(self.key_of(stream, inner))?;
            self.cache[self.cache_next % PTR_CACHE] = Some((stream.clone(), i));
            self.cache_next += 1;
            return Ok(i);
        }
        if lb.has_err() || lb.get(ERROR_LABEL).is_some() {
            return wins.find_or_add(self.key_of(&lb.labels(), inner));
        }
        // Without an error the key is the labels both groupings keep: look it up without building it.
        let outer = self.outer;
        let keep = |k: &str| keeps(inner, k, true) && keeps(outer, k, false);
        let h = labels_hash(lb.pairs().filter(|(k, _)| keep(k)));
        let found = wins.find(h, |l| {
            let mut n = 0;
            for (k, v) in lb.pairs().filter(|(k, _)| keep(k)) {
                n += 1;
                if l.get(k) != Some(v) {
                    return false;
                }
            }
            n == l.len()
        });
        if let Some(i) = found {
            return Ok(i);
        }
        let key = Labels::new(
            lb.pairs()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
        wins.add(key, h)
    }

    /// Switches to grouped windows: merges the per-series windows into their groups' (in the
    /// groups' first-series order), keeping each window in time order.
    pub(super) fn activate(&mut self, wins: &mut Wins) {
        self.active = true;
        let old = std::mem::take(&mut wins.series);
        wins.fp.clear();
        for s in old {
            let key = self.regroup(&s.labels);
            let h = labels_hash(key.iter());
            let i = match wins.find(h, |l| *l == key) {
                Some(i) => i,
                None => wins.push(key, h),
            };
            wins.series[i].win.extend(s.win);
        }
        for s in &mut wins.series {
            s.win.make_contiguous().sort_by_key(|(ts, _)| *ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Mode, mode};
    use crate::ast::{RangeOp, VecOp};

    #[test]
    fn only_distributive_pairs_are_pushed() {
        use RangeOp as R;
        use VecOp as V;
        for (op, rop, safe, want) in [
            (V::Sum, R::CountOverTime, true, Some(Mode::Eager)),
            (V::Sum, R::BytesOverTime, true, Some(Mode::Eager)),
            (V::Sum, R::CountOverTime, false, Some(Mode::OnOverflow)),
            (V::Sum, R::Rate, true, Some(Mode::OnOverflow)),
            (V::Sum, R::BytesRate, true, Some(Mode::OnOverflow)),
            (V::Sum, R::SumOverTime, true, Some(Mode::OnOverflow)),
            (V::Max, R::MaxOverTime, true, Some(Mode::OnOverflow)),
            (V::Min, R::MinOverTime, true, Some(Mode::OnOverflow)),
            // a count of series, a mean of means, a rate of a counter: not distributive
            (V::Count, R::CountOverTime, true, None),
            (V::Avg, R::CountOverTime, true, None),
            (V::Sum, R::RateCounter, true, None),
            (V::Sum, R::AvgOverTime, true, None),
            (V::Sum, R::MaxOverTime, true, None),
            (V::Max, R::MinOverTime, true, None),
            (V::Max, R::CountOverTime, true, None),
            (V::Topk, R::CountOverTime, true, None),
            (V::Stddev, R::CountOverTime, true, None),
            (V::Sum, R::QuantileOverTime, true, None),
            (V::Sum, R::AbsentOverTime, true, None),
            (V::Sum, R::LastOverTime, true, None),
        ] {
            assert_eq!(mode(op, rop, safe), want, "{op:?} {rop:?} {safe}");
        }
    }
}
