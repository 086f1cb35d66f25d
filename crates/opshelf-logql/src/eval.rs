//! Metric evaluation: range aggregations over sliding windows, vector aggregations, binary operators.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::ast::{Grouping, LogRange, RangeOp, SampleExpr, VecOp};
use crate::engine::{
    Budget, Direction, EvalError, Params, QueryResult, Sample, SelectRequest, Series, Source,
};
use crate::labels::{Labels, MatchOp};
use crate::pipeline::{ERROR_DETAILS_LABEL, ERROR_LABEL, LabelsBuilder, Pipeline, UnwrapStage};

mod binop;
mod pushdown;

use binop::binary;
pub(crate) use binop::scalar_op;

type StepVec = Vec<(Labels, f64)>;

enum Value {
    Scalar(Vec<f64>),
    Vector(Vec<StepVec>),
}

struct Ctx<'a> {
    src: &'a dyn Source,
    steps: Vec<i64>,
    budget: &'a mut Budget,
    /// Push an outer `sum`/`max`/`min` grouping into the range aggregation beneath it.
    pushdown: bool,
    /// The query's top node (parentheses peeled): only its step vectors' order is unobservable.
    root: *const SampleExpr,
}

pub(crate) fn run(
    src: &dyn Source,
    e: &SampleExpr,
    p: &Params,
    budget: &mut Budget,
    pushdown: bool,
) -> Result<QueryResult, EvalError> {
    let steps: Vec<i64> = if p.instant || p.step_ns <= 0 {
        vec![p.end_ns]
    } else {
        let n = (p.end_ns - p.start_ns) / p.step_ns + 1;
        if usize::try_from(n).unwrap_or(usize::MAX) > budget.limits.max_points {
            return Err(EvalError::Limit(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                budget.limits.max_points
            )));
        }
        (0..n).map(|i| p.start_ns + i * p.step_ns).collect()
    };
    if !p.instant
        && let Some(op) = contains_sort(e)
    {
        return Err(EvalError::Query(format!(
            "{op} is only supported for instant queries"
        )));
    }
    let mut root = e;
    while let SampleExpr::Paren(i) = root {
        root = i;
    }
    let mut ctx = Ctx {
        src,
        steps,
        budget,
        pushdown,
        root,
    };
    let v = eval(&mut ctx, e)?;
    let max_series = ctx.budget.limits.max_series;
    let steps = ctx.steps;
    Ok(match v {
        Value::Scalar(s) => {
            if p.instant {
                QueryResult::Scalar(steps[0], s[0])
            } else {
                QueryResult::Matrix(vec![Series {
                    labels: Labels::empty(),
                    points: steps.iter().copied().zip(s).collect(),
                }])
            }
        }
        Value::Vector(mut v) => {
            if p.instant {
                let vec = v.pop().unwrap_or_default();
                if vec.len() > max_series {
                    return Err(series_limit(max_series));
                }
                QueryResult::Vector(
                    vec.into_iter()
                        .map(|(labels, value)| Sample {
                            labels,
                            ts_ns: steps[0],
                            value,
                        })
                        .collect(),
                )
            } else {
                let mut index: HashMap<Labels, usize> = HashMap::new();
                let mut out: Vec<Series> = Vec::new();
                for (i, vec) in v.into_iter().enumerate() {
                    for (l, val) in vec {
                        let k = *index.entry(l.clone()).or_insert_with(|| {
                            out.push(Series {
                                labels: l,
                                points: Vec::new(),
                            });
                            out.len() - 1
                        });
                        out[k].points.push((steps[i], val));
                    }
                    if out.len() > max_series {
                        return Err(series_limit(max_series));
                    }
                }
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                QueryResult::Matrix(out)
            }
        }
    })
}

fn series_limit(n: usize) -> EvalError {
    EvalError::Limit(format!(
        "maximum of series ({n}) reached for a single query"
    ))
}

fn contains_sort(e: &SampleExpr) -> Option<&'static str> {
    match e {
        SampleExpr::Vector { op, inner, .. } => {
            if *op == VecOp::ApproxTopk {
                Some(op.name())
            } else {
                contains_sort(inner)
            }
        }
        SampleExpr::Binary { lhs, rhs, .. } => contains_sort(lhs).or_else(|| contains_sort(rhs)),
        SampleExpr::LabelReplace { inner, .. } | SampleExpr::Paren(inner) => contains_sort(inner),
        _ => None,
    }
}

fn eval(ctx: &mut Ctx<'_>, e: &SampleExpr) -> Result<Value, EvalError> {
    let n = ctx.steps.len();
    match e {
        SampleExpr::Literal(v) => Ok(Value::Scalar(vec![*v; n])),
        SampleExpr::VectorLit(v) => Ok(Value::Vector(vec![vec![(Labels::empty(), *v)]; n])),
        SampleExpr::Paren(i) => eval(ctx, i),
        SampleExpr::Range {
            op,
            param,
            range,
            grouping,
        } => range_agg(ctx, *op, *param, range, grouping.as_ref(), None).map(Value::Vector),
        SampleExpr::Vector {
            op,
            param,
            inner,
            grouping,
        } => {
            // In a one-step query, or at the top of a range query (its series are sorted by labels),
            // the order of a step vector cannot be observed.
            let order_safe = ctx.steps.len() == 1 || std::ptr::eq(e, ctx.root);
            let pushed = pushdown::plan(*op, grouping.as_ref(), inner, order_safe)
                .filter(|_| ctx.pushdown)
                .map(|t| range_agg(ctx, t.op, t.param, t.range, t.grouping, Some(t.push)));
            let v = match pushed.map_or_else(|| eval(ctx, inner), |r| r.map(Value::Vector))? {
                Value::Vector(v) => v,
                Value::Scalar(_) => {
                    return Err(EvalError::Query("vector aggregation over a scalar".into()));
                }
            };
            Ok(Value::Vector(
                v.into_iter()
                    .map(|sv| vec_agg(*op, *param, grouping.as_ref(), sv))
                    .collect(),
            ))
        }
        SampleExpr::LabelReplace {
            inner,
            dst,
            replacement,
            src,
            regex,
            ..
        } => {
            let v = match eval(ctx, inner)? {
                Value::Vector(v) => v,
                s @ Value::Scalar(_) => return Ok(s),
            };
            Ok(Value::Vector(
                v.into_iter()
                    .map(|sv| {
                        sv.into_iter()
                            .map(|(l, val)| (label_replace(&l, dst, replacement, src, regex), val))
                            .collect()
                    })
                    .collect(),
            ))
        }
        SampleExpr::Binary {
            op,
            modifier,
            lhs,
            rhs,
        } => {
            let l = eval(ctx, lhs)?;
            let r = eval(ctx, rhs)?;
            binary(*op, modifier, l, r)
        }
    }
}

fn label_replace(l: &Labels, dst: &str, repl: &str, src: &str, re: &regex::Regex) -> Labels {
    let v = l.get(src).unwrap_or("");
    let Some(caps) = re.captures(v) else {
        return l.clone();
    };
    let mut out = String::new();
    caps.expand(repl, &mut out);
    let mut pairs: Vec<(String, String)> = l
        .pairs()
        .iter()
        .filter(|(k, _)| k != dst)
        .cloned()
        .collect();
    if !out.is_empty() {
        pairs.push((dst.to_owned(), out));
    }
    Labels::new(pairs)
}

fn group_labels(l: &Labels, g: Option<&Grouping>) -> Labels {
    match g {
        None => Labels::empty(),
        Some(g) if g.without => l.filter(|k| !g.labels.iter().any(|x| x == k)),
        Some(g) => l.filter(|k| g.labels.iter().any(|x| x == k)),
    }
}

fn absent_labels(m: &[crate::labels::LabelMatcher]) -> Labels {
    let mut pairs = Vec::new();
    let mut seen = HashSet::new();
    for x in m {
        if x.op == MatchOp::Eq && seen.insert(x.name.clone()) {
            pairs.push((x.name.clone(), x.value.clone()));
        } else if x.op == MatchOp::Eq {
            pairs.retain(|(k, _)| *k != x.name);
        }
    }
    Labels::new(pairs)
}

fn pipeline_error(l: &Labels) -> EvalError {
    let e = l.get(ERROR_LABEL).unwrap_or("");
    EvalError::Query(format!(
        "pipeline error: '{e}' for series: '{l}'.\nUse a label filter to intentionally skip this error. \
         (e.g | __error__!=\"{e}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\n\
         The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
    ))
}

/// An order-independent hash of a label set (the same for a `Labels` and a `LabelsBuilder`).
pub(crate) fn labels_hash<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    use xxhash_rust::xxh3::xxh3_64_with_seed;
    // Label values come from log lines: the seed is drawn per process, so nobody can pick
    // values whose series share one hash bucket. A pair's hash seeds its value's with its
    // name's, so (k, v) and (v, k) differ; pairs are summed, so their order does not matter.
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let mut acc = 0u64;
    for (k, v) in pairs {
        let hk = xxh3_64_with_seed(k.as_bytes(), seed);
        acc = acc.wrapping_add(xxh3_64_with_seed(v.as_bytes(), hk));
    }
    acc
}

/// The windows of one range aggregation, one per series key, with a hash index.
struct Wins {
    series: Vec<SeriesWin>,
    fp: HashMap<u64, Vec<usize>>,
    max_series: usize,
}

impl Wins {
    fn find(&self, h: u64, eq: impl Fn(&Labels) -> bool) -> Option<usize> {
        self.fp
            .get(&h)
            .and_then(|c| c.iter().copied().find(|&i| eq(&self.series[i].labels)))
    }

    /// Before aggregation a query may hold more series than it returns; still bounded.
    fn full(&self) -> bool {
        self.series.len() >= self.max_series.saturating_mul(20).max(10_000)
    }

    fn add(&mut self, labels: Labels, h: u64) -> Result<usize, EvalError> {
        if self.full() {
            return Err(series_limit(self.max_series));
        }
        Ok(self.push(labels, h))
    }

    fn push(&mut self, labels: Labels, h: u64) -> usize {
        self.series.push(SeriesWin {
            labels,
            win: VecDeque::new(),
        });
        self.fp.entry(h).or_default().push(self.series.len() - 1);
        self.series.len() - 1
    }

    fn find_or_add(&mut self, key: Labels) -> Result<usize, EvalError> {
        let h = labels_hash(key.iter());
        match self.find(h, |l| *l == key) {
            Some(i) => Ok(i),
            None => self.add(key, h),
        }
    }
}

/// A range aggregation's series key for `by`/`without` on the range operator: errors must survive
/// grouping so they are reported.
fn range_key(full: &Labels, grouping: Option<&Grouping>) -> Labels {
    let g = group_labels(full, grouping);
    if let Some(e) = full.get(ERROR_LABEL) {
        let mut p = g.pairs().to_vec();
        p.push((ERROR_LABEL.into(), e.into()));
        if let Some(d) = full.get(ERROR_DETAILS_LABEL) {
            p.push((ERROR_DETAILS_LABEL.into(), d.into()));
        }
        Labels::new(p)
    } else {
        g
    }
}

const PTR_CACHE: usize = 16;

struct SeriesWin {
    labels: Labels,
    win: VecDeque<(i64, f64)>,
}

#[allow(clippy::too_many_lines)]
fn range_agg(
    ctx: &mut Ctx<'_>,
    op: RangeOp,
    param: Option<f64>,
    r: &LogRange,
    grouping: Option<&Grouping>,
    mut push: Option<pushdown::Push<'_>>,
) -> Result<Vec<StepVec>, EvalError> {
    let steps = ctx.steps.clone();
    let range = r.range_ns;
    let offset = r.offset_ns;
    // With the outer grouping pushed down from the first line (eager: integer sums, exact in
    // any grouping) and no unwrap or inner grouping reading more, the parser need only extract
    // what that grouping and the label filters read. Not on overflow: below the cap, results
    // stay those of per-series windows to the bit, and fewer series would re-associate float sums.
    let hint = match (&push, &r.unwrap, grouping) {
        (Some(p), None, None) if p.active => p
            .outer_by()
            .and_then(|by| crate::pipeline::required_labels(&r.log.stages, by)),
        _ => None,
    };
    let pipeline = Pipeline::with_hint(&r.log.stages, hint).map_err(EvalError::Query)?;
    let unwrap = r
        .unwrap
        .as_ref()
        .map(UnwrapStage::new)
        .transpose()
        .map_err(EvalError::Query)?;
    let first = steps[0];
    let last = steps[steps.len() - 1];
    let req = SelectRequest {
        matchers: r.log.matchers.clone(),
        from_ns: first - offset - range + 1,
        to_ns: last - offset + 1,
        direction: Direction::Forward,
        needles: crate::pipeline::needles(&r.log),
        limit: None,
    };
    let mut out: Vec<StepVec> = vec![Vec::new(); steps.len()];
    let mut wins = Wins {
        series: Vec::new(),
        fp: HashMap::new(),
        max_series: ctx.budget.limits.max_series,
    };
    let mut ptr_cache = [(std::ptr::null::<(String, String)>(), 0usize); PTR_CACHE];
    let mut ptr_next = 0usize;
    let mut lb = LabelsBuilder::default();
    let mut next_step = 0usize;
    let bytes_op = matches!(op, RangeOp::BytesOverTime | RangeOp::BytesRate);
    let mut any_in_window: Vec<bool> = vec![false; steps.len()];

    let flush = |k: usize,
                 series: &mut Vec<SeriesWin>,
                 out: &mut Vec<StepVec>,
                 any: &mut Vec<bool>|
     -> Result<(), EvalError> {
        let t = steps[k] - offset;
        for s in series.iter_mut() {
            while s.win.front().is_some_and(|(ts, _)| *ts <= t - range) {
                s.win.pop_front();
            }
            if s.win.is_empty() {
                continue;
            }
            any[k] = true;
            if op == RangeOp::AbsentOverTime {
                continue;
            }
            if s.labels.get(ERROR_LABEL).is_some() {
                return Err(pipeline_error(&s.labels));
            }
            let v = window_value(op, param, &s.win, t, range);
            out[k].push((s.labels.clone(), v));
        }
        Ok(())
    };

    for row in ctx.src.select(&req)? {
        let row = row?;
        ctx.budget.tick(row.line.len())?;
        while next_step < steps.len() && steps[next_step] - offset < row.ts_ns {
            flush(next_step, &mut wins.series, &mut out, &mut any_in_window)?;
            next_step += 1;
        }
        if next_step >= steps.len() {
            break;
        }
        let fast = pipeline.line_only && unwrap.is_none() && row.metadata.is_empty();
        if !fast {
            lb.reset(&row.labels, &row.metadata);
        }
        let Some(line) = pipeline.process(row.ts_ns, &row.line, &mut lb) else {
            continue;
        };
        #[allow(clippy::cast_precision_loss)]
        let value = if let Some(u) = &unwrap {
            let Some(v) = u.extract(&mut lb) else {
                continue;
            };
            v
        } else if bytes_op {
            line.len() as f64
        } else {
            1.0
        };
        let stream_key = pipeline.labels_unchanged && row.metadata.is_empty() && unwrap.is_none();
        if let Some(p) = push.as_mut().filter(|p| p.active) {
            let i = p.index(&mut wins, &row.labels, &lb, stream_key, grouping)?;
            wins.series[i].win.push_back((row.ts_ns, value));
            continue;
        }
        // Rows of one stream usually share one `Labels` allocation: a pointer hit skips hashing.
        let cached = if stream_key && grouping.is_none() {
            ptr_cache
                .iter()
                .find(|(p, _)| *p == row.labels.as_ptr())
                .map(|(_, i)| *i)
        } else {
            None
        };
        // `Err` is a new series: its labels and their hash.
        let slot = if let Some(i) = cached {
            Ok(i)
        } else if grouping.is_none() {
            // Look the series up without building its label set (no allocation for a known series).
            let h = if stream_key {
                labels_hash(row.labels.iter())
            } else {
                lb.key_hash()
            };
            wins.find(h, |l| {
                if stream_key {
                    *l == row.labels
                } else {
                    lb.equals(l)
                }
            })
            .ok_or_else(|| {
                let l = if stream_key {
                    row.labels.clone()
                } else {
                    lb.labels()
                };
                (l, h)
            })
        } else {
            let full = if stream_key {
                row.labels.clone()
            } else {
                lb.labels()
            };
            let key = range_key(&full, grouping);
            let h = labels_hash(key.iter());
            wins.find(h, |l| *l == key).ok_or((key, h))
        };
        let i = match slot {
            Ok(i) => i,
            // Past the cap the unpushed evaluation fails: group by the outer aggregation from here on.
            Err(_) if wins.full() && push.is_some() => {
                let p = push.as_mut().expect("checked");
                p.activate(&mut wins);
                let i = p.index(&mut wins, &row.labels, &lb, stream_key, grouping)?;
                wins.series[i].win.push_back((row.ts_ns, value));
                continue;
            }
            Err((l, h)) => wins.add(l, h)?,
        };
        if stream_key
            && grouping.is_none()
            && cached.is_none()
            && wins.series[i].labels.as_ptr() == row.labels.as_ptr()
        {
            // Only pointers of label sets a series holds are cached, so they stay valid.
            ptr_cache[ptr_next % PTR_CACHE] = (row.labels.as_ptr(), i);
            ptr_next += 1;
        }
        wins.series[i].win.push_back((row.ts_ns, value));
    }
    while next_step < steps.len() {
        flush(next_step, &mut wins.series, &mut out, &mut any_in_window)?;
        next_step += 1;
    }
    if op == RangeOp::AbsentOverTime {
        let l = absent_labels(&r.log.matchers);
        for (k, o) in out.iter_mut().enumerate() {
            if !any_in_window[k] {
                o.push((l.clone(), 1.0));
            }
        }
    }
    Ok(out)
}

#[allow(clippy::cast_precision_loss)]
fn window_value(
    op: RangeOp,
    param: Option<f64>,
    w: &VecDeque<(i64, f64)>,
    t: i64,
    range: i64,
) -> f64 {
    let secs = range as f64 / 1e9;
    let n = w.len() as f64;
    let sum = || w.iter().map(|(_, v)| *v).sum::<f64>();
    match op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate => {
            if matches!(op, RangeOp::Rate) && w.iter().all(|(_, v)| *v == 1.0) {
                n / secs
            } else {
                sum() / secs
            }
        }
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::BytesRate => sum() / secs,
        RangeOp::AvgOverTime => {
            let mut mean = 0.0;
            let mut c = 0.0;
            for (_, v) in w {
                c += 1.0;
                if v.is_infinite() {
                    return sum() / n;
                }
                mean += (v - mean) / c;
            }
            mean
        }
        RangeOp::MinOverTime => w
            .iter()
            .map(|(_, v)| *v)
            .fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m }),
        RangeOp::MaxOverTime => w
            .iter()
            .map(|(_, v)| *v)
            .fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m }),
        RangeOp::StdvarOverTime | RangeOp::StddevOverTime => {
            let (mut c, mut mean, mut m2) = (0.0, 0.0, 0.0);
            for (_, v) in w {
                c += 1.0;
                let d = v - mean;
                mean += d / c;
                m2 += d * (v - mean);
            }
            let var = m2 / c;
            if op == RangeOp::StddevOverTime {
                var.sqrt()
            } else {
                var
            }
        }
        RangeOp::QuantileOverTime => {
            let mut vals: Vec<f64> = w.iter().map(|(_, v)| *v).collect();
            quantile(param.unwrap_or(f64::NAN), &mut vals)
        }
        RangeOp::FirstOverTime => w.front().map_or(f64::NAN, |(_, v)| *v),
        RangeOp::LastOverTime => w.back().map_or(f64::NAN, |(_, v)| *v),
        RangeOp::AbsentOverTime => 1.0,
        RangeOp::RateCounter => extrapolated_rate(w, t, range),
    }
}

/// Prometheus' quantile with linear interpolation.
fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let rank = q * (vals.len() - 1) as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(vals.len() - 1);
    #[allow(clippy::cast_precision_loss)]
    let weight = rank - rank.floor();
    vals[lower] * (1.0 - weight) + vals[upper] * weight
}

/// Loki's `extrapolatedRate` for `rate_counter` (counter resets handled).
#[allow(clippy::cast_precision_loss)]
fn extrapolated_rate(w: &VecDeque<(i64, f64)>, t: i64, range: i64) -> f64 {
    if w.len() < 2 {
        return 0.0;
    }
    let ms = |ns: i64| ns.div_euclid(1_000_000);
    let range_start = ms(t - range);
    let range_end = ms(t);
    let (f_ts, f_v) = w[0];
    let (l_ts, l_v) = w[w.len() - 1];
    let mut result = l_v - f_v;
    let mut last = 0.0;
    for (_, v) in w {
        if *v < last {
            result += last;
        }
        last = *v;
    }
    let mut to_start = (ms(f_ts) - range_start) as f64 / 1000.0;
    let to_end = (range_end - ms(l_ts)) as f64 / 1000.0;
    let sampled = (ms(l_ts) - ms(f_ts)) as f64 / 1000.0;
    let avg = sampled / (w.len() - 1) as f64;
    if result > 0.0 && f_v >= 0.0 {
        let to_zero = sampled * (f_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    result *= interval / sampled;
    result / (range as f64 / 1e9)
}

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn vec_agg(op: VecOp, param: Option<f64>, g: Option<&Grouping>, v: StepVec) -> StepVec {
    match op {
        VecOp::Sort | VecOp::SortDesc => {
            let mut v = v;
            v.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if op == VecOp::SortDesc => b.1.total_cmp(&a.1),
                _ => a.1.total_cmp(&b.1),
            });
            return v;
        }
        VecOp::Topk | VecOp::Bottomk | VecOp::ApproxTopk => {
            let k = param.unwrap_or(0.0).max(0.0) as usize;
            let mut groups: Vec<(Labels, Vec<(Labels, f64)>)> = Vec::new();
            let mut idx: HashMap<Labels, usize> = HashMap::new();
            for (l, val) in v {
                let key = group_labels(&l, g);
                let i = *idx.entry(key.clone()).or_insert_with(|| {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push((l, val));
            }
            let mut out = Vec::new();
            for (_, mut members) in groups {
                members.sort_by(|a, b| {
                    let o = if op == VecOp::Bottomk {
                        a.1.total_cmp(&b.1)
                    } else {
                        b.1.total_cmp(&a.1)
                    };
                    // NaN sorts last either way
                    match (a.1.is_nan(), b.1.is_nan()) {
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ => o,
                    }
                });
                members.truncate(k);
                out.extend(members);
            }
            return out;
        }
        _ => {}
    }
    struct Acc {
        labels: Labels,
        sum: f64,
        count: f64,
        min: f64,
        max: f64,
        mean: f64,
        m2: f64,
    }
    let mut groups: Vec<Acc> = Vec::new();
    let mut idx: HashMap<Labels, usize> = HashMap::new();
    for (l, val) in v {
        let key = group_labels(&l, g);
        let i = *idx.entry(key.clone()).or_insert_with(|| {
            groups.push(Acc {
                labels: key,
                sum: 0.0,
                count: 0.0,
                min: f64::NAN,
                max: f64::NAN,
                mean: 0.0,
                m2: 0.0,
            });
            groups.len() - 1
        });
        let a = &mut groups[i];
        a.sum += val;
        a.count += 1.0;
        if val < a.min || a.min.is_nan() {
            a.min = val;
        }
        if val > a.max || a.max.is_nan() {
            a.max = val;
        }
        let d = val - a.mean;
        a.mean += d / a.count;
        a.m2 += d * (val - a.mean);
    }
    groups
        .into_iter()
        .map(|a| {
            let v = match op {
                VecOp::Sum => a.sum,
                VecOp::Avg => {
                    if a.sum.is_infinite() {
                        a.sum / a.count
                    } else {
                        a.mean
                    }
                }
                VecOp::Count => a.count,
                VecOp::Min => a.min,
                VecOp::Max => a.max,
                VecOp::Stdvar => a.m2 / a.count,
                VecOp::Stddev => (a.m2 / a.count).sqrt(),
                _ => f64::NAN,
            };
            (a.labels, v)
        })
        .collect()
}
