//! Loki's template functions (`lower`, `printf`, `regexReplaceAll`, `__line__`, ...).

use super::{Ctx, Val};

pub(super) const FUNCS: &[&str] = &[
    "ToLower",
    "ToUpper",
    "lower",
    "upper",
    "title",
    "Title",
    "trim",
    "trimAll",
    "trimLeft",
    "trimRight",
    "trimPrefix",
    "trimSuffix",
    "trimSpace",
    "TrimSpace",
    "TrimPrefix",
    "TrimSuffix",
    "replace",
    "Replace",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "len",
    "default",
    "printf",
    "print",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "int",
    "float64",
    "__line__",
    "__timestamp__",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "alignLeft",
    "alignRight",
    "indent",
    "nindent",
    "count",
    "b64enc",
    "b64dec",
    "urlencode",
    "urldecode",
    "fromJson",
];

fn s(args: &[Val], i: usize) -> String {
    args.get(i).map(Val::text).unwrap_or_default()
}

#[allow(
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)]
pub(super) fn call(f: &str, args: &[Val], ctx: &Ctx<'_>) -> Result<Val, String> {
    let n = |i: usize| args.get(i).map_or(0.0, Val::num);
    let need = |k: usize| {
        if args.len() < k {
            Err(format!(
                "wrong number of args for {f}: want {k} got {}",
                args.len()
            ))
        } else {
            Ok(())
        }
    };
    let last = |args: &[Val]| args.last().map(Val::text).unwrap_or_default();
    Ok(match f {
        "ToLower" | "lower" => Val::Str(last(args).to_lowercase()),
        "ToUpper" | "upper" => Val::Str(last(args).to_uppercase()),
        "title" | "Title" => {
            let t = last(args);
            let mut out = String::new();
            let mut start = true;
            for c in t.chars() {
                if start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = !c.is_alphanumeric();
            }
            Val::Str(out)
        }
        "trim" | "trimSpace" | "TrimSpace" => Val::Str(last(args).trim().to_owned()),
        "trimAll" => {
            need(2)?;
            let cut = s(args, 0);
            Val::Str(s(args, 1).trim_matches(|c| cut.contains(c)).to_owned())
        }
        "trimLeft" => {
            need(2)?;
            let cut = s(args, 0);
            Val::Str(
                s(args, 1)
                    .trim_start_matches(|c| cut.contains(c))
                    .to_owned(),
            )
        }
        "trimRight" => {
            need(2)?;
            let cut = s(args, 0);
            Val::Str(s(args, 1).trim_end_matches(|c| cut.contains(c)).to_owned())
        }
        "trimPrefix" | "TrimPrefix" => {
            need(2)?;
            let (p, v) = (s(args, 0), s(args, 1));
            Val::Str(v.strip_prefix(p.as_str()).unwrap_or(&v).to_owned())
        }
        "trimSuffix" | "TrimSuffix" => {
            need(2)?;
            let (p, v) = (s(args, 0), s(args, 1));
            Val::Str(v.strip_suffix(p.as_str()).unwrap_or(&v).to_owned())
        }
        "replace" | "Replace" => {
            need(3)?;
            Val::Str(s(args, 2).replace(&s(args, 0), &s(args, 1)))
        }
        "substr" => {
            need(3)?;
            let v: Vec<char> = s(args, 2).chars().collect();
            let (a, b) = (n(0).max(0.0) as usize, n(1));
            let b = if b < 0.0 {
                v.len()
            } else {
                (b as usize).min(v.len())
            };
            Val::Str(if a >= b {
                String::new()
            } else {
                v[a..b].iter().collect()
            })
        }
        "contains" => {
            need(2)?;
            Val::Bool(s(args, 1).contains(&s(args, 0)))
        }
        "hasPrefix" => {
            need(2)?;
            Val::Bool(s(args, 1).starts_with(&s(args, 0)))
        }
        "hasSuffix" => {
            need(2)?;
            Val::Bool(s(args, 1).ends_with(&s(args, 0)))
        }
        "repeat" => {
            need(2)?;
            let k = n(0).clamp(0.0, 10_000.0) as usize;
            Val::Str(s(args, 1).repeat(k))
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            need(3)?;
            let re = crate::labels::plain_regex(&s(args, 0)).map_err(|e| e.to_string())?;
            let (rep, v) = (s(args, 1), s(args, 2));
            Val::Str(if f == "regexReplaceAll" {
                re.replace_all(&v, rep.as_str()).into_owned()
            } else {
                re.replace_all(&v, regex::NoExpand(&rep)).into_owned()
            })
        }
        "len" => Val::Num(last(args).chars().count() as f64),
        "count" => {
            need(2)?;
            let re = crate::labels::plain_regex(&s(args, 0)).map_err(|e| e.to_string())?;
            Val::Num(re.find_iter(&s(args, 1)).count() as f64)
        }
        "default" => {
            need(1)?;
            let d = args[0].clone();
            match args.get(1) {
                Some(v) if v.truthy() => v.clone(),
                _ => d,
            }
        }
        "printf" => {
            need(1)?;
            Val::Str(sprintf(&s(args, 0), &args[1..]))
        }
        "print" => Val::Str(args.iter().map(Val::text).collect::<String>()),
        "println" => Val::Str(args.iter().map(Val::text).collect::<Vec<_>>().join(" ") + "\n"),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            need(2)?;
            let (a, b) = (&args[0], &args[1]);
            let ord = match (a, b) {
                (Val::Str(x), Val::Str(y)) => x.partial_cmp(y),
                _ => a.num().partial_cmp(&b.num()),
            };
            let r = match f {
                "eq" => ord == Some(std::cmp::Ordering::Equal),
                "ne" => ord != Some(std::cmp::Ordering::Equal),
                "lt" => ord == Some(std::cmp::Ordering::Less),
                "le" => matches!(
                    ord,
                    Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                ),
                "gt" => ord == Some(std::cmp::Ordering::Greater),
                _ => matches!(
                    ord,
                    Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
                ),
            };
            Val::Bool(r)
        }
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Bool(false)),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Bool(false)),
        "not" => Val::Bool(!args.first().is_some_and(Val::truthy)),
        "add" | "addf" => Val::Num(args.iter().map(Val::num).sum()),
        "sub" | "subf" => Val::Num(n(0) - n(1)),
        "mul" | "mulf" => Val::Num(args.iter().map(Val::num).product()),
        "div" => Val::Num((n(0) / n(1)).trunc()),
        "divf" => Val::Num(n(0) / n(1)),
        "mod" => Val::Num(n(0) % n(1)),
        "max" | "maxf" => Val::Num(args.iter().map(Val::num).fold(f64::NEG_INFINITY, f64::max)),
        "min" | "minf" => Val::Num(args.iter().map(Val::num).fold(f64::INFINITY, f64::min)),
        "ceil" => Val::Num(n(0).ceil()),
        "floor" => Val::Num(n(0).floor()),
        "round" => Val::Num(n(0).round()),
        "int" => Val::Num(n(0).trunc()),
        "float64" => Val::Num(n(0)),
        "__line__" => Val::Str(ctx.line.to_owned()),
        "__timestamp__" | "unixEpochNanos" => Val::Num(ctx.ts_ns as f64),
        "unixEpoch" => Val::Num((ctx.ts_ns / 1_000_000_000) as f64),
        "unixEpochMillis" => Val::Num((ctx.ts_ns / 1_000_000) as f64),
        "alignLeft" | "alignRight" => {
            need(2)?;
            let w = n(0).clamp(0.0, 10_000.0) as usize;
            let v: Vec<char> = s(args, 1).chars().collect();
            let out: String = if v.len() >= w {
                v[..w].iter().collect()
            } else if f == "alignLeft" {
                v.iter().collect::<String>() + &" ".repeat(w - v.len())
            } else {
                " ".repeat(w - v.len()) + &v.iter().collect::<String>()
            };
            Val::Str(out)
        }
        "indent" | "nindent" => {
            need(2)?;
            let pad = " ".repeat(n(0).clamp(0.0, 1000.0) as usize);
            let body = s(args, 1)
                .lines()
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            Val::Str(if f == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "urlencode" => Val::Str(
            last(args)
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else if b == b' ' {
                        "+".into()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect(),
        ),
        _ => return Err(format!("function {f} is not supported")),
    })
}

/// A small Go `fmt.Sprintf`: `%s %v %d %f %.Nf %q %x %%`.
fn sprintf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut ai = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = it.peek() {
            if d.is_ascii_digit() || d == '.' || d == '-' || d == '+' {
                spec.push(d);
                it.next();
            } else {
                break;
            }
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let prec = spec
            .split_once('.')
            .and_then(|(_, p)| p.parse::<usize>().ok());
        match verb {
            's' | 'v' => out.push_str(&a.text()),
            'q' => out.push_str(&crate::format::quote(&a.text())),
            #[allow(clippy::cast_possible_truncation)]
            'd' => out.push_str(&(a.num() as i64).to_string()),
            'f' => out.push_str(&format!("{:.*}", prec.unwrap_or(6), a.num())),
            #[allow(clippy::cast_possible_truncation)]
            'x' => match a {
                Val::Str(s) => {
                    out.push_str(&s.bytes().map(|b| format!("{b:02x}")).collect::<String>());
                }
                _ => out.push_str(&format!("{:x}", a.num() as i64)),
            },
            _ => out.push_str(&a.text()),
        }
    }
    out
}
