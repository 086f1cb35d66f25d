//! Target collection: the values a rule link inspects (collections, selectors, exclusions,
//! counts), their transformations (cached for values that stay put) and the operator run over
//! them.

use std::borrow::Cow;

use super::{Hit, Item, Items, Pairs, Transaction};
use crate::rule::Rule;
use crate::transform::Transform;
use crate::variable::{Selector, Target, Var};

impl Transaction<'_> {
    pub(super) fn excluded(&self, r: &Rule, head: &Rule, var: Var, key: Option<&[u8]>) -> bool {
        if r.exclusions.iter().any(|e| e.excludes(var, key)) {
            return true;
        }
        let id = head.id();
        if self
            .removed_targets_by_id
            .iter()
            .any(|((a, b), e)| id >= *a && id <= *b && e.excludes(var, key))
        {
            return true;
        }
        self.removed_targets_by_tag
            .iter()
            .any(|(t, e)| head.has_tag(t) && e.excludes(var, key))
    }

    /// The key/value collection behind `var`, as the one or two lists it spans (`ARGS` is
    /// `ARGS_GET` then `ARGS_POST`), without copying.
    pub(super) fn pairs(&self, var: Var) -> Option<impl Iterator<Item = &(Vec<u8>, Vec<u8>)>> {
        let (first, second): (&Pairs, &[_]) = match var {
            Var::Args | Var::ArgsNames => (&self.args_get, &self.args_post),
            Var::ArgsGet | Var::ArgsGetNames => (&self.args_get, &[]),
            Var::ArgsPost | Var::ArgsPostNames => (&self.args_post, &[]),
            Var::RequestCookies | Var::RequestCookiesNames => (&self.cookies, &[]),
            Var::RequestHeaders | Var::RequestHeadersNames => (&self.req_headers, &[]),
            Var::ResponseHeaders | Var::ResponseHeadersNames => (&self.resp_headers, &[]),
            Var::Files | Var::FilesNames => (&self.files, &[]),
            Var::FilesSizes => (&self.files_sizes, &[]),
            Var::MultipartPartHeaders => (&self.part_headers, &[]),
            _ => return None,
        };
        Some(first.iter().chain(second))
    }

    /// Expands a target into items (exclusions applied).
    pub(super) fn collect<'s>(&'s self, t: &Target, r: &Rule, head: &Rule, out: &mut Items<'s>) {
        let start = out.len();
        let names = matches!(
            t.var,
            Var::ArgsNames
                | Var::ArgsGetNames
                | Var::ArgsPostNames
                | Var::RequestCookiesNames
                | Var::RequestHeadersNames
                | Var::ResponseHeadersNames
                | Var::FilesNames
        );
        if let Some(pairs) = self.pairs(t.var) {
            for (k, v) in pairs {
                if !t.selector.matches_key(k) || self.excluded(r, head, t.var, Some(k)) {
                    continue;
                }
                let value: &[u8] = if names { k } else { v };
                out.push(Item {
                    var: t.var,
                    key: Some(Cow::Borrowed(k)),
                    value: Cow::Borrowed(value),
                });
            }
        } else {
            match t.var {
                Var::Tx
                | Var::Ip
                | Var::Global
                | Var::Session
                | Var::User
                | Var::Resource
                | Var::Env => {
                    if let Some(col) = self.collections.get(&t.var) {
                        match &t.selector {
                            Selector::Key(k) => {
                                if let Some((k, v)) = col.get_key_value(k)
                                    && !self.excluded(r, head, t.var, Some(k.as_bytes()))
                                {
                                    out.push(Item {
                                        var: t.var,
                                        key: Some(Cow::Borrowed(k.as_bytes())),
                                        value: Cow::Borrowed(v),
                                    });
                                }
                            }
                            sel => {
                                for (k, v) in col {
                                    if sel.matches_key(k.as_bytes())
                                        && !self.excluded(r, head, t.var, Some(k.as_bytes()))
                                    {
                                        out.push(Item {
                                            var: t.var,
                                            key: Some(Cow::Borrowed(k.as_bytes())),
                                            value: Cow::Borrowed(v),
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
                Var::Xml => {
                    let attrs = matches!(&t.selector, Selector::Key(k) if k.contains('@'));
                    if attrs {
                        for a in &self.xml_attrs {
                            out.push(Item {
                                var: t.var,
                                key: Some(Cow::Borrowed(b"//@*")),
                                value: Cow::Borrowed(a),
                            });
                        }
                    } else if let Some(x) = &self.xml_text {
                        out.push(Item {
                            var: t.var,
                            key: Some(Cow::Borrowed(b"/*")),
                            value: Cow::Borrowed(x),
                        });
                    }
                }
                Var::MatchedVar => {
                    if let Some((_, v)) = &self.matched_var {
                        out.push(Item {
                            var: t.var,
                            key: None,
                            value: Cow::Borrowed(v),
                        });
                    }
                }
                Var::MatchedVarName => {
                    if let Some((n, _)) = &self.matched_var {
                        out.push(Item {
                            var: t.var,
                            key: None,
                            value: Cow::Borrowed(n.as_bytes()),
                        });
                    }
                }
                Var::MatchedVars | Var::MatchedVarsNames => {
                    for (n, v) in &self.matched_vars {
                        if !t.selector.matches_key(n.as_bytes()) {
                            continue;
                        }
                        let value: &[u8] = if t.var == Var::MatchedVarsNames {
                            n.as_bytes()
                        } else {
                            v
                        };
                        out.push(Item {
                            var: t.var,
                            key: Some(Cow::Borrowed(n.as_bytes())),
                            value: Cow::Borrowed(value),
                        });
                    }
                }
                Var::Duration => out.push(Item {
                    var: t.var,
                    key: None,
                    value: Cow::Owned(b"0".to_vec()),
                }),
                Var::Rule => {
                    if let (Selector::Key(k), Some((id, _))) = (&t.selector, self.current_rule)
                        && k == "id"
                    {
                        out.push(Item {
                            var: t.var,
                            key: Some(Cow::Borrowed(b"id")),
                            value: Cow::Owned(id.to_string().into_bytes()),
                        });
                    }
                }
                v => {
                    if let Some(val) = self.scalars.get(&v)
                        && !self.excluded(r, head, v, None)
                    {
                        out.push(Item {
                            var: v,
                            key: None,
                            value: Cow::Borrowed(val),
                        });
                    }
                }
            }
        }
        if t.count {
            let n = out.len() - start;
            out.truncate(start);
            out.push(Item {
                var: t.var,
                key: None,
                value: Cow::Owned(n.to_string().into_bytes()),
            });
        }
    }

    pub(super) fn eval_link(&self, r: &Rule, head: &Rule) -> Vec<Hit> {
        let Some(op) = &r.operator else {
            // SecAction: matches once.
            return vec![Hit {
                name: String::new(),
                value: Vec::new(),
                captures: None,
            }];
        };
        let mut items = Items::new();
        for t in &r.targets {
            self.collect(t, r, head, &mut items);
        }
        let expanded = op.macro_arg().map(|m| m.expand(self));
        let capture = r.actions.capture;
        let mut hits = Vec::new();
        for item in &items {
            let check = |value: &[u8], hits: &mut Vec<Hit>| {
                let mut caps = capture.then(Vec::new);
                let m = op.matches(value, expanded.as_deref(), caps.as_mut());
                if m != op.negated {
                    hits.push(Hit {
                        name: item.name(),
                        value: value.to_vec(),
                        captures: if op.negated { None } else { caps },
                    });
                    true
                } else {
                    false
                }
            };
            if r.actions.multi_match {
                let mut v = item.value.to_vec();
                check(&v, &mut hits);
                for t in &r.actions.transforms {
                    let nv = t.apply(&v);
                    if nv != v {
                        check(&nv, &mut hits);
                    }
                    v = nv;
                }
            } else if r.actions.transforms.is_empty() {
                check(&item.value, &mut hits);
            } else if let (Cow::Borrowed(raw), true) = (&item.value, cacheable(item.var)) {
                let key = (raw.as_ptr() as usize, raw.len(), r.actions.transform_chain);
                let cached = self.cache.borrow().get(&key).cloned();
                let v = match cached {
                    Some(v) => v,
                    None => {
                        let v: std::sync::Arc<[u8]> =
                            apply_transforms(&r.actions.transforms, raw).into();
                        self.cache.borrow_mut().insert(key, v.clone());
                        v
                    }
                };
                check(&v, &mut hits);
            } else {
                let v = apply_transforms(&r.actions.transforms, &item.value);
                check(&v, &mut hits);
            }
        }
        hits
    }
}

/// Whether a variable's values stay put (same address, same bytes) for the whole transaction
/// once the body is processed, so their transformed forms can be cached.
fn cacheable(v: Var) -> bool {
    !matches!(
        v,
        Var::Tx
            | Var::Ip
            | Var::Global
            | Var::Session
            | Var::User
            | Var::Resource
            | Var::Env
            | Var::MatchedVar
            | Var::MatchedVarName
            | Var::MatchedVars
            | Var::MatchedVarsNames
            | Var::Rule
            | Var::Duration
    )
}

fn apply_transforms<'v>(ts: &[Transform], value: &'v [u8]) -> Cow<'v, [u8]> {
    let mut v: Cow<'v, [u8]> = Cow::Borrowed(value);
    for t in ts {
        v = Cow::Owned(t.apply(&v));
    }
    v
}
