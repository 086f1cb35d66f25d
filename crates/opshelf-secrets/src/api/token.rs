//! `auth/token/*`: create (roles, orphans), lookup, renew, revoke, accessors, roles.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Ctx, Op, Reply, no_route};
use crate::error::{Error, Result};
use crate::policy::cap;
use crate::tokens::{self, TokenRequest};
use crate::util;

// ---------------------------------------------------------------- auth/token

fn sorted_policies(mut p: Vec<String>, add_default: bool) -> Vec<String> {
    if add_default && !p.iter().any(|x| x == "root") && !p.iter().any(|x| x == "default") {
        p.push("default".to_owned());
    }
    p.sort();
    p.dedup();
    p
}

pub(super) async fn token_routes(c: &Ctx<'_>, rest: &str) -> Result<Reply> {
    let op = c.op;
    let is_write = matches!(op, Op::Create | Op::Update);
    if let Some(name) = rest.strip_prefix("roles/").filter(|n| !n.is_empty()) {
        return token_role(c, name).await;
    }
    if let Some(name) = rest.strip_prefix("create/").filter(|n| !n.is_empty()) {
        if !is_write {
            return Err(Error::UnsupportedOperation);
        }
        let role: Option<Value> = c.u.get_json(&format!("sys/token/roles/{name}")).await?;
        let Some(role) = role else {
            return Err(Error::bad(format!("unknown role {name}")));
        };
        return create_token(c, false, Some((name, role))).await;
    }
    match rest {
        "create" | "create-orphan" if is_write => {
            create_token(c, rest == "create-orphan", None).await
        }
        "roles" | "roles/" if op == Op::List => {
            let keys: Vec<String> =
                c.u.list("sys/token/roles/")
                    .await?
                    .into_iter()
                    .filter_map(|k| k.strip_prefix("sys/token/roles/").map(str::to_owned))
                    .collect();
            if keys.is_empty() {
                Err(Error::NotFound)
            } else {
                Ok(Reply::Data(json!({ "keys": keys })))
            }
        }
        "lookup-self" if matches!(op, Op::Read | Op::Update) => {
            Ok(Reply::Data(c.entry.lookup_json(c.token)))
        }
        "lookup" if matches!(op, Op::Read | Op::Update) => {
            let t = c.data.get("token").and_then(Value::as_str).unwrap_or("");
            if t.is_empty() {
                return Err(Error::bad("missing token to look up"));
            }
            match tokens::lookup(c.u, t).await? {
                Some(e) => Ok(Reply::Data(e.lookup_json(t))),
                None => Err(Error::PermissionDenied),
            }
        }
        "lookup-accessor" if is_write => {
            let a = c.data.get("accessor").and_then(Value::as_str).unwrap_or("");
            match tokens::by_accessor(c.u, a).await? {
                Some(e) => Ok(Reply::Data(e.lookup_json(""))),
                None => Err(Error::bad("invalid accessor")),
            }
        }
        "renew-self" | "renew" | "renew-accessor" if is_write => {
            let target = match rest {
                "renew-self" => Some(Arc::new(c.entry.clone())),
                "renew" => {
                    let t = c.data.get("token").and_then(Value::as_str).unwrap_or("");
                    tokens::lookup(c.u, t).await?
                }
                _ => {
                    let a = c.data.get("accessor").and_then(Value::as_str).unwrap_or("");
                    tokens::by_accessor(c.u, a).await?
                }
            };
            let Some(target) = target else {
                return Err(Error::bad("invalid token"));
            };
            let increment = c
                .data
                .get("increment")
                .and_then(util::parse_duration)
                .unwrap_or(0);
            let renewed = tokens::renew(c.u, &target, increment, c.vault.max_ttl()).await?;
            let shown = match rest {
                "renew-self" => c.token.to_owned(),
                "renew" => c
                    .data
                    .get("token")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                _ => String::new(),
            };
            Ok(Reply::Auth(renewed.auth_json(&shown)))
        }
        "revoke-self" if is_write => {
            tokens::revoke_tree(c.u, &c.entry.hash).await?;
            Ok(Reply::NoContent)
        }
        "revoke" | "revoke-orphan" if is_write => {
            let t = c.data.get("token").and_then(Value::as_str).unwrap_or("");
            let Some(e) = tokens::lookup(c.u, t).await? else {
                return Err(Error::bad("token to revoke not found"));
            };
            if rest == "revoke" {
                tokens::revoke_tree(c.u, &e.hash).await?;
            } else {
                tokens::revoke_orphan(c.u, &e.hash).await?;
            }
            Ok(Reply::NoContent)
        }
        "revoke-accessor" if is_write => {
            let a = c.data.get("accessor").and_then(Value::as_str).unwrap_or("");
            let Some(e) = tokens::by_accessor(c.u, a).await? else {
                return Err(Error::bad("invalid accessor"));
            };
            tokens::revoke_tree(c.u, &e.hash).await?;
            Ok(Reply::NoContent)
        }
        "accessors" | "accessors/" if op == Op::List => {
            let keys = tokens::accessors(c.u).await?;
            Ok(Reply::Data(json!({ "keys": keys })))
        }
        "lookup-self" | "lookup" | "lookup-accessor" | "renew-self" | "renew"
        | "renew-accessor" | "revoke-self" | "revoke" | "revoke-orphan" | "revoke-accessor"
        | "create" | "create-orphan" | "accessors" => Err(Error::UnsupportedOperation),
        _ => Err(no_route(&format!("auth/token/{rest}"))),
    }
}

async fn token_role(c: &Ctx<'_>, name: &str) -> Result<Reply> {
    let key = format!("sys/token/roles/{name}");
    match c.op {
        Op::Read => {
            let role: Option<Value> = c.u.get_json(&key).await?;
            role.map(Reply::Data).ok_or(Error::NotFound)
        }
        Op::Create | Op::Update => {
            let d = c.data;
            let old: Value = c.u.get_json(&key).await?.unwrap_or(Value::Null);
            let list = |k: &str| {
                util::as_str_list(d.get(k)).unwrap_or_else(|| {
                    old[k]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                })
            };
            let dur = |k: &str, alt: &str| -> Result<i64> {
                match d.get(k).or_else(|| d.get(alt)) {
                    Some(v) => {
                        util::parse_duration(v).ok_or_else(|| Error::bad(format!("invalid {k}")))
                    }
                    None => Ok(old[k].as_i64().unwrap_or(0)),
                }
            };
            let token_type = d
                .get("token_type")
                .and_then(Value::as_str)
                .unwrap_or("default-service");
            if !["default-service", "service", "default"].contains(&token_type) {
                return Err(Error::bad(format!(
                    "unsupported token_type \"{token_type}\""
                )));
            }
            let role = json!({
                "name": name,
                "allowed_policies": list("allowed_policies"),
                "disallowed_policies": list("disallowed_policies"),
                "orphan": util::as_bool(d.get("orphan")).unwrap_or(old["orphan"].as_bool().unwrap_or(false)),
                "renewable": util::as_bool(d.get("renewable")).unwrap_or(old["renewable"].as_bool().unwrap_or(true)),
                "path_suffix": d.get("path_suffix").and_then(Value::as_str).unwrap_or(""),
                "token_period": dur("token_period", "period")?,
                "token_explicit_max_ttl": dur("token_explicit_max_ttl", "explicit_max_ttl")?,
                "token_type": token_type,
            });
            c.u.put_json(&key, &role).await?;
            Ok(Reply::NoContent)
        }
        Op::Delete => {
            c.u.delete(&key).await?;
            Ok(Reply::NoContent)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

async fn create_token(
    c: &Ctx<'_>,
    orphan_path: bool,
    role: Option<(&str, Value)>,
) -> Result<Reply> {
    let d = c.data;
    let role_allowed: Option<Vec<String>> = role.as_ref().map(|(_, r)| {
        r["allowed_policies"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    });
    let role_disallowed: Vec<String> = role
        .as_ref()
        .and_then(|(_, r)| {
            r["disallowed_policies"].as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    let parent_root = c.entry.is_root();
    let no_parent = util::as_bool(d.get("no_parent")).unwrap_or(false);
    if no_parent && !orphan_path && !parent_root {
        let acl = c.u.acl(&c.entry.policies).await?;
        if acl.capabilities("auth/token/create") & cap::SUDO == 0 {
            return Err(Error::bad(
                "root or sudo privileges required to create orphan token",
            ));
        }
    }
    let orphan =
        orphan_path || no_parent || role.as_ref().is_some_and(|(_, r)| r["orphan"] == true);
    let mut requested = util::as_str_list(d.get("policies")).unwrap_or_default();
    if let Some(allowed) = &role_allowed {
        if requested.is_empty() && !allowed.is_empty() {
            requested.clone_from(allowed);
        }
        if !allowed.is_empty()
            && requested
                .iter()
                .any(|p| p != "default" && !allowed.contains(p))
        {
            return Err(Error::bad(
                "token policies must be a subset of the role's allowed policies",
            ));
        }
        if requested.iter().any(|p| role_disallowed.contains(p)) {
            return Err(Error::bad(
                "token policies include a policy the role disallows",
            ));
        }
    }
    let no_default = util::as_bool(d.get("no_default_policy")).unwrap_or(false);
    let mut policies = if requested.is_empty() {
        c.entry
            .policies
            .iter()
            .filter(|p| !(no_default && *p == "default"))
            .cloned()
            .collect()
    } else {
        requested
    };
    if !parent_root && role.is_none() {
        let parent: Vec<&String> = c.entry.policies.iter().collect();
        if policies
            .iter()
            .any(|p| p != "default" && !parent.contains(&p))
        {
            return Err(Error::bad("child policies must be subset of parent"));
        }
    }
    policies = sorted_policies(policies, !no_default);
    let ttl = match d.get("ttl").or_else(|| d.get("lease")) {
        Some(v) => util::parse_duration(v).ok_or_else(|| Error::bad("invalid ttl"))?,
        None => 0,
    };
    let explicit_max = match d.get("explicit_max_ttl") {
        Some(v) => util::parse_duration(v).ok_or_else(|| Error::bad("invalid explicit_max_ttl"))?,
        None => 0,
    };
    let period = match d.get("period") {
        Some(v) => util::parse_duration(v).ok_or_else(|| Error::bad("invalid period"))?,
        None => role
            .as_ref()
            .and_then(|(_, r)| r["token_period"].as_i64())
            .unwrap_or(0),
    };
    let num_uses = util::as_i64(d.get("num_uses")).unwrap_or(0);
    if num_uses < 0 {
        return Err(Error::bad("number of uses cannot be negative"));
    }
    if ttl < 0 || explicit_max < 0 || period < 0 {
        return Err(Error::bad(
            "ttl, explicit_max_ttl and period cannot be negative",
        ));
    }
    let token_type = d.get("type").and_then(Value::as_str).unwrap_or("service");
    if token_type != "service" && !token_type.is_empty() && token_type != "default" {
        return Err(Error::bad(format!(
            "unsupported token type \"{token_type}\""
        )));
    }
    let is_root_token = policies.iter().any(|p| p == "root");
    if is_root_token && !parent_root {
        return Err(Error::bad(
            "root tokens may not be created without parent token being root",
        ));
    }
    let max = c.vault.max_ttl();
    let mut eff_ttl = ttl;
    if eff_ttl == 0 && period == 0 && !(is_root_token && explicit_max == 0) {
        eff_ttl = c.vault.default_ttl();
    }
    if period == 0 {
        if max > 0 && eff_ttl > max {
            eff_ttl = max;
        }
        if explicit_max > 0 && (eff_ttl == 0 || eff_ttl > explicit_max) {
            eff_ttl = explicit_max;
        }
    }
    let display = d.get("display_name").and_then(Value::as_str).unwrap_or("");
    let display_name = if display.is_empty() {
        "token".to_owned()
    } else {
        format!("token-{display}")
    };
    let meta = match d.get("meta") {
        Some(Value::Object(m)) => Some(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect(),
        ),
        _ => None,
    };
    let id = d
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if id.is_some() && !parent_root {
        return Err(Error::bad(
            "root or sudo privileges required to specify token id",
        ));
    }
    let req = TokenRequest {
        id,
        policies,
        meta,
        display_name,
        num_uses,
        ttl: eff_ttl,
        explicit_max_ttl: explicit_max,
        period,
        renewable: util::as_bool(d.get("renewable")).unwrap_or(true)
            && role.as_ref().is_none_or(|(_, r)| r["renewable"] != false),
        parent: if orphan {
            None
        } else {
            Some(c.entry.hash.clone())
        },
        path: match (&role, orphan_path) {
            (Some((name, _)), _) => format!("auth/token/create/{name}"),
            (None, true) => "auth/token/create-orphan".to_owned(),
            (None, false) => "auth/token/create".to_owned(),
        },
        token_type: "service".to_owned(),
    };
    let (token, entry) = tokens::store_new(c.u, req).await?;
    Ok(Reply::Auth(entry.auth_json(&token)))
}
