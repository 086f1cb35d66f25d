//! A Go `text/template` subset for `line_format` / `label_format`: `{{.label}}`, pipelines, function calls,
//! `if`/`else if`/`else`/`end`, `{{-`/`-}}` trimming, and Loki's template functions.

mod funcs;

use funcs::{FUNCS, call};

use super::LabelsBuilder;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipe(Vec<Vec<Arg>>);

#[derive(Debug, Clone)]
enum Arg {
    Field(String),
    Dot,
    Str(String),
    Num(f64),
    Bool(bool),
    Func(String),
    Sub(Pipe),
}

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::Num(n) => fmt_num(*n),
            Self::Bool(b) => b.to_string(),
        }
    }
    fn truthy(&self) -> bool {
        match self {
            Self::Str(s) => !s.is_empty(),
            Self::Num(n) => *n != 0.0,
            Self::Bool(b) => *b,
        }
    }
    fn num(&self) -> f64 {
        match self {
            Self::Str(s) => s.trim().parse().unwrap_or(0.0),
            Self::Num(n) => *n,
            Self::Bool(b) => f64::from(u8::from(*b)),
        }
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        #[allow(clippy::cast_possible_truncation)]
        let i = n as i64;
        i.to_string()
    } else {
        n.to_string()
    }
}

const MAX_NODES: usize = 10_000;

struct P<'a> {
    s: &'a str,
    i: usize,
    count: usize,
}

enum Item {
    Text(String),
    Act(String),
}

fn split(src: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(p) = rest.find("{{") {
        let mut text = &rest[..p];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[p + 2..];
        let (trim_left, after) = match after.strip_prefix("- ") {
            Some(a) => (true, a),
            None => (false, after),
        };
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_owned()));
        }
        // find the closing braces outside of quotes
        let b = after.as_bytes();
        let mut j = 0;
        let mut end = None;
        while j < b.len() {
            match b[j] {
                b'"' => {
                    j += 1;
                    while j < b.len() && b[j] != b'"' {
                        if b[j] == b'\\' {
                            j += 1;
                        }
                        j += 1;
                    }
                }
                b'`' => {
                    j += 1;
                    while j < b.len() && b[j] != b'`' {
                        j += 1;
                    }
                }
                b'}' if after[j..].starts_with("}}") => {
                    end = Some(j);
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        let Some(end) = end else {
            return Err("template: line:1: unclosed action".into());
        };
        let mut act = &after[..end];
        trim_next = false;
        if let Some(a) = act.strip_suffix(" -") {
            act = a;
            trim_next = true;
        }
        items.push(Item::Act(act.trim().to_owned()));
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        items.push(Item::Text(text.to_owned()));
    }
    Ok(items)
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    /// Go's messages (`unclosed action`, `function "x" not defined`, ...).
    pub fn parse(src: &str) -> Result<Self, String> {
        let items = split(src)?;
        let mut idx = 0;
        let (nodes, end) = parse_nodes(&items, &mut idx, 0)?;
        if let Some(e) = end {
            return Err(format!("template: line:1: unexpected {{{{{e}}}}}"));
        }
        Ok(Self { nodes })
    }

    /// Renders with the entry's labels, line and timestamp.
    ///
    /// # Errors
    /// Function errors.
    pub fn render(&self, lb: &LabelsBuilder, line: &str, ts_ns: i64) -> Result<String, String> {
        let ctx = Ctx { lb, line, ts_ns };
        let mut out = String::new();
        render_nodes(&self.nodes, &ctx, &mut out)?;
        Ok(out)
    }
}

fn parse_nodes(
    items: &[Item],
    idx: &mut usize,
    depth: usize,
) -> Result<(Vec<Node>, Option<String>), String> {
    if depth > 50 {
        return Err("template: nested too deeply".into());
    }
    let mut nodes = Vec::new();
    while *idx < items.len() {
        let it = &items[*idx];
        *idx += 1;
        match it {
            Item::Text(t) => nodes.push(Node::Text(t.clone())),
            Item::Act(a) => {
                if a.starts_with("/*") {
                    continue;
                }
                if a == "end" || a == "else" || a.starts_with("else if ") {
                    return Ok((nodes, Some(a.clone())));
                }
                if let Some(cond) = a.strip_prefix("if ") {
                    let mut branches = vec![];
                    let mut cond = parse_pipe(cond)?;
                    let mut else_nodes = Vec::new();
                    loop {
                        let (body, end) = parse_nodes(items, idx, depth + 1)?;
                        match end.as_deref() {
                            Some("end") => {
                                branches.push((cond, body));
                                break;
                            }
                            Some("else") => {
                                branches.push((cond, body));
                                let (eb, end2) = parse_nodes(items, idx, depth + 1)?;
                                if end2.as_deref() != Some("end") {
                                    return Err("template: line:1: unexpected EOF".into());
                                }
                                else_nodes = eb;
                                break;
                            }
                            Some(e) if e.starts_with("else if ") => {
                                branches.push((cond, body));
                                cond = parse_pipe(&e[8..])?;
                            }
                            _ => return Err("template: line:1: unexpected EOF".into()),
                        }
                    }
                    nodes.push(Node::If(branches, else_nodes));
                } else {
                    nodes.push(Node::Action(parse_pipe(a)?));
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse_pipe(s: &str) -> Result<Pipe, String> {
    let mut p = P { s, i: 0, count: 0 };
    let pipe = p.pipe(0)?;
    if p.i < s.len() {
        return Err(format!(
            "template: line:1: unexpected {:?} in command",
            &s[p.i..]
        ));
    }
    Ok(pipe)
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s.as_bytes()[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn pipe(&mut self, depth: usize) -> Result<Pipe, String> {
        if depth > 20 {
            return Err("template: nested too deeply".into());
        }
        let mut cmds = Vec::new();
        loop {
            let mut args = Vec::new();
            loop {
                self.ws();
                let b = self.s.as_bytes();
                if self.i >= b.len() || b[self.i] == b'|' || b[self.i] == b')' {
                    break;
                }
                self.count += 1;
                if self.count > MAX_NODES {
                    return Err("template too large".into());
                }
                args.push(self.arg(depth)?);
            }
            if args.is_empty() {
                return Err("template: line:1: missing value for command".into());
            }
            cmds.push(args);
            self.ws();
            if self.s.as_bytes().get(self.i) == Some(&b'|') {
                self.i += 1;
                continue;
            }
            return Ok(Pipe(cmds));
        }
    }
    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        let b = self.s.as_bytes();
        let c = b[self.i];
        let rest = &self.s[self.i..];
        match c {
            b'(' => {
                self.i += 1;
                let p = self.pipe(depth + 1)?;
                self.ws();
                if self.s.as_bytes().get(self.i) != Some(&b')') {
                    return Err("template: line:1: unclosed left paren".into());
                }
                self.i += 1;
                Ok(Arg::Sub(p))
            }
            b'"' => {
                let mut j = 1;
                let rb = rest.as_bytes();
                while j < rb.len() && rb[j] != b'"' {
                    if rb[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                if j >= rb.len() {
                    return Err("template: line:1: unterminated quoted string".into());
                }
                let s = go_unquote(&rest[1..j])?;
                self.i += j + 1;
                Ok(Arg::Str(s))
            }
            b'`' => {
                let end = rest[1..]
                    .find('`')
                    .ok_or("template: line:1: unterminated raw quoted string")?;
                self.i += end + 2;
                Ok(Arg::Str(rest[1..=end].to_owned()))
            }
            b'.' => {
                let end = rest[1..]
                    .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                    .map_or(rest.len(), |e| e + 1);
                self.i += end;
                if end == 1 {
                    Ok(Arg::Dot)
                } else {
                    Ok(Arg::Field(rest[1..end].to_owned()))
                }
            }
            _ if c.is_ascii_digit() || c == b'-' || c == b'+' => {
                let end = rest[1..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.'))
                    .map_or(rest.len(), |e| e + 1);
                let v: f64 = rest[..end]
                    .parse()
                    .map_err(|_| format!("bad number syntax: {:?}", &rest[..end]))?;
                self.i += end;
                Ok(Arg::Num(v))
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let end = rest
                    .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                    .unwrap_or(rest.len());
                let id = &rest[..end];
                self.i += end;
                match id {
                    "true" => Ok(Arg::Bool(true)),
                    "false" => Ok(Arg::Bool(false)),
                    _ if FUNCS.contains(&id) => Ok(Arg::Func(id.to_owned())),
                    _ => Err(format!("template: line:1: function \"{id}\" not defined")),
                }
            }
            _ => Err(format!(
                "template: line:1: unexpected {:?} in command",
                c as char
            )),
        }
    }
}

fn go_unquote(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('x') => {
                let h: String = it.by_ref().take(2).collect();
                let v = u32::from_str_radix(&h, 16).map_err(|_| "invalid syntax")?;
                out.push(char::from_u32(v).ok_or("invalid syntax")?);
            }
            Some('u') => {
                let h: String = it.by_ref().take(4).collect();
                let v = u32::from_str_radix(&h, 16).map_err(|_| "invalid syntax")?;
                out.push(char::from_u32(v).ok_or("invalid syntax")?);
            }
            _ => return Err("invalid syntax".into()),
        }
    }
    Ok(out)
}

struct Ctx<'a> {
    lb: &'a LabelsBuilder,
    line: &'a str,
    ts_ns: i64,
}

fn render_nodes(nodes: &[Node], ctx: &Ctx<'_>, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&eval_pipe(p, ctx)?.text()),
            Node::If(branches, else_nodes) => {
                let mut done = false;
                for (cond, body) in branches {
                    if eval_pipe(cond, ctx)?.truthy() {
                        render_nodes(body, ctx, out)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    render_nodes(else_nodes, ctx, out)?;
                }
            }
        }
    }
    Ok(())
}

fn label(ctx: &Ctx<'_>, name: &str) -> String {
    ctx.lb
        .for_template()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

fn eval_pipe(p: &Pipe, ctx: &Ctx<'_>) -> Result<Val, String> {
    let mut prev: Option<Val> = None;
    for cmd in &p.0 {
        prev = Some(eval_cmd(cmd, prev.take(), ctx)?);
    }
    prev.ok_or_else(|| "empty pipeline".into())
}

fn eval_arg(a: &Arg, ctx: &Ctx<'_>) -> Result<Val, String> {
    Ok(match a {
        Arg::Field(f) => Val::Str(label(ctx, f)),
        Arg::Dot => Val::Str(String::new()),
        Arg::Str(s) => Val::Str(s.clone()),
        Arg::Num(n) => Val::Num(*n),
        Arg::Bool(b) => Val::Bool(*b),
        Arg::Sub(p) => eval_pipe(p, ctx)?,
        Arg::Func(f) => call(f, &[], ctx)?,
    })
}

fn eval_cmd(cmd: &[Arg], prev: Option<Val>, ctx: &Ctx<'_>) -> Result<Val, String> {
    if let Arg::Func(f) = &cmd[0] {
        let mut args = Vec::with_capacity(cmd.len());
        for a in &cmd[1..] {
            args.push(eval_arg(a, ctx)?);
        }
        if let Some(p) = prev {
            args.push(p);
        }
        return call(f, &args, ctx);
    }
    if cmd.len() > 1 || prev.is_some() {
        return Err("template: can't give argument to non-function".into());
    }
    eval_arg(&cmd[0], ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;

    fn render(t: &str, labels: &[(&str, &str)]) -> String {
        let mut lb = LabelsBuilder::default();
        let l = Labels::new(
            labels
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
        );
        lb.reset(&l, &[]);
        Template::parse(t).unwrap().render(&lb, "line", 0).unwrap()
    }

    #[test]
    fn templates() {
        assert_eq!(render("L={{.level}}", &[("level", "error")]), "L=error");
        assert_eq!(render("{{.level | upper}}", &[("level", "error")]), "ERROR");
        assert_eq!(render("V={{.missing}}", &[]), "V=");
        assert_eq!(
            render(r#"{{ printf "<%s>" .msg }}"#, &[("msg", "hi")]),
            "<hi>"
        );
        assert_eq!(
            render(
                r#"{{ if eq .a "1" }}one{{ else }}other{{ end }}"#,
                &[("a", "1")]
            ),
            "one"
        );
        assert_eq!(render("{{.a}}!", &[("a", "get")]), "get!");
        assert!(
            Template::parse("{{")
                .unwrap_err()
                .contains("unclosed action")
        );
    }
}
