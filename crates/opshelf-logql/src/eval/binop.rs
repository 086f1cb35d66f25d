//! Binary operators: scalar/vector arithmetic and comparisons, vector matching, set operators.

use std::collections::{HashMap, HashSet};

use super::{StepVec, Value};
use crate::ast::{BinModifier, BinOp, Cardinality, VectorMatching};
use crate::engine::EvalError;
use crate::labels::Labels;

/// Applies a scalar operator; comparisons give 1/0 when `bool_result`, else the left value or NaN-free
/// filtering is decided by the caller.
pub(crate) fn scalar_op(op: BinOp, a: f64, b: f64, bool_result: bool) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => {
            if b == 0.0 {
                f64::NAN
            } else {
                a / b
            }
        }
        BinOp::Mod => {
            if b == 0.0 {
                f64::NAN
            } else {
                a % b
            }
        }
        BinOp::Pow => a.powf(b),
        BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte => {
            let r = cmp(op, a, b);
            if bool_result {
                f64::from(u8::from(r))
            } else if r {
                a
            } else {
                f64::NAN
            }
        }
        BinOp::Or | BinOp::And | BinOp::Unless => f64::NAN,
    }
}

fn cmp(op: BinOp, a: f64, b: f64) -> bool {
    match op {
        BinOp::Eq => a == b,
        BinOp::Neq => a != b,
        BinOp::Gt => a > b,
        BinOp::Gte => a >= b,
        BinOp::Lt => a < b,
        BinOp::Lte => a <= b,
        _ => false,
    }
}

fn signature(l: &Labels, m: &VectorMatching) -> Labels {
    if !m.explicit {
        return l.clone();
    }
    if m.on {
        l.filter(|k| m.labels.iter().any(|x| x == k))
    } else {
        l.filter(|k| !m.labels.iter().any(|x| x == k))
    }
}

pub(super) fn binary(op: BinOp, m: &BinModifier, l: Value, r: Value) -> Result<Value, EvalError> {
    match (l, r) {
        (Value::Scalar(a), Value::Scalar(b)) => Ok(Value::Scalar(
            a.into_iter()
                .zip(b)
                .map(|(x, y)| {
                    if op.is_comparison() {
                        f64::from(u8::from(cmp(op, x, y)))
                    } else {
                        scalar_op(op, x, y, true)
                    }
                })
                .collect(),
        )),
        (Value::Vector(v), Value::Scalar(s)) => Ok(Value::Vector(
            v.into_iter()
                .zip(s)
                .map(|(sv, s)| vec_scalar(op, m.return_bool, sv, s, false))
                .collect(),
        )),
        (Value::Scalar(s), Value::Vector(v)) => Ok(Value::Vector(
            v.into_iter()
                .zip(s)
                .map(|(sv, s)| vec_scalar(op, m.return_bool, sv, s, true))
                .collect(),
        )),
        (Value::Vector(a), Value::Vector(b)) => {
            let mut out = Vec::with_capacity(a.len());
            for (x, y) in a.into_iter().zip(b) {
                out.push(vec_vec(op, m, x, y)?);
            }
            Ok(Value::Vector(out))
        }
    }
}

fn vec_scalar(op: BinOp, return_bool: bool, v: StepVec, s: f64, swap: bool) -> StepVec {
    let mut out = Vec::with_capacity(v.len());
    for (l, x) in v {
        let (a, b) = if swap { (s, x) } else { (x, s) };
        if op.is_comparison() {
            let keep = cmp(op, a, b);
            if return_bool {
                out.push((l, f64::from(u8::from(keep))));
            } else if keep {
                out.push((l, x));
            }
        } else {
            out.push((l, scalar_op(op, a, b, false)));
        }
    }
    out
}

fn vec_vec(op: BinOp, m: &BinModifier, lhs: StepVec, rhs: StepVec) -> Result<StepVec, EvalError> {
    let mm = &m.matching;
    match op {
        BinOp::And | BinOp::Unless => {
            let sigs: HashSet<Labels> = rhs.iter().map(|(l, _)| signature(l, mm)).collect();
            return Ok(lhs
                .into_iter()
                .filter(|(l, _)| sigs.contains(&signature(l, mm)) == (op == BinOp::And))
                .collect());
        }
        BinOp::Or => {
            let sigs: HashSet<Labels> = lhs.iter().map(|(l, _)| signature(l, mm)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|(l, _)| !sigs.contains(&signature(l, mm))),
            );
            return Ok(out);
        }
        _ => {}
    }
    let swap = mm.card == Cardinality::OneToMany;
    let (many, one) = if swap { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_sigs: HashMap<Labels, (Labels, f64)> = HashMap::new();
    for (l, v) in one {
        let sig = signature(&l, mm);
        if one_sigs.contains_key(&sig) {
            let side = if swap { "left" } else { "right" };
            return Err(EvalError::Query(format!(
                "found duplicate series on the {side} hand-side of the operation: [{l}];many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        one_sigs.insert(sig, (l, v));
    }
    let mut out = Vec::new();
    let mut matched: HashSet<Labels> = HashSet::new();
    let mut inserted: HashSet<Labels> = HashSet::new();
    for (l, v) in many {
        let sig = signature(&l, mm);
        let Some((rl, rv)) = one_sigs.get(&sig) else {
            continue;
        };
        if mm.card == Cardinality::OneToOne && !matched.insert(sig) {
            return Err(EvalError::Query(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
            ));
        }
        let (a, b) = if swap { (*rv, v) } else { (v, *rv) };
        let (value, keep) = if op.is_comparison() {
            (a, cmp(op, a, b))
        } else {
            (scalar_op(op, a, b, false), true)
        };
        let value = if m.return_bool {
            f64::from(u8::from(keep))
        } else if keep {
            value
        } else {
            continue;
        };
        let metric = result_metric(&l, rl, mm);
        if mm.card != Cardinality::OneToOne && !inserted.insert(metric.clone()) {
            return Err(EvalError::Query(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        out.push((metric, value));
    }
    Ok(out)
}

fn result_metric(l: &Labels, r: &Labels, mm: &VectorMatching) -> Labels {
    let mut pairs: Vec<(String, String)> = if mm.card == Cardinality::OneToOne && mm.explicit {
        if mm.on {
            l.filter(|k| mm.labels.iter().any(|x| x == k))
                .pairs()
                .to_vec()
        } else {
            l.filter(|k| !mm.labels.iter().any(|x| x == k))
                .pairs()
                .to_vec()
        }
    } else {
        l.pairs().to_vec()
    };
    for inc in &mm.include {
        pairs.retain(|(k, _)| k != inc);
        if let Some(v) = r.get(inc) {
            pairs.push((inc.clone(), v.to_owned()));
        }
    }
    Labels::new(pairs)
}
