//! Unleash's JSON, and only here: the `/api/client/features` (version 2) body, the frontend
//! body, and the request bodies of the admin, register and metrics endpoints.
//!
//! Operators and strategy names are plain strings so that what Unleash does not know (or we
//! do not) survives an import / export round trip; the evaluator turns unknown ones into
//! "off", as Unleash does. Leaf types (constraints, variants, payloads) are also what the
//! store keeps inside its records, since they are Unleash's own vocabulary.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The `GET /api/client/features` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientFeaturesBody {
    #[serde(default = "two")]
    pub version: u32,
    #[serde(default)]
    pub features: Vec<ClientFeature>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<ClientSegment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

fn two() -> u32 {
    2
}

/// `meta` of the client body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default)]
    pub revision_id: Option<u64>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub query_hash: Option<String>,
}

/// One flag as backend SDKs see it, for one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientFeature {
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub feature_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub stale: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub strategies: Vec<Strategy>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub variants: Vec<Variant>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub impression_data: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<Dependency>>,
}

/// An activation strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub constraints: Vec<Constraint>,
    #[serde(default, deserialize_with = "string_map")]
    pub parameters: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub segments: Vec<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub variants: Vec<StrategyVariant>,
}

/// A constraint; `operator` is kept verbatim (unknown operators evaluate to false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    pub context_name: String,
    pub operator: String,
    #[serde(default, deserialize_with = "string_list")]
    pub values: Vec<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub inverted: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub case_insensitive: bool,
}

/// A flag-level variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub weight: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub overrides: Vec<Override>,
}

/// A strategy variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyVariant {
    pub name: String,
    #[serde(default)]
    pub weight: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
}

/// A variant payload; `value` is always a string on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    #[serde(rename = "type")]
    pub payload_type: String,
    #[serde(deserialize_with = "any_string")]
    pub value: String,
}

/// A variant override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Override {
    pub context_name: String,
    #[serde(default, deserialize_with = "string_list")]
    pub values: Vec<String>,
}

/// A dependency on a parent flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub feature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<String>>,
}

/// A segment in the client body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSegment {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub constraints: Vec<Constraint>,
}

/// The frontend body: `{"toggles": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontendBody {
    pub toggles: Vec<FrontendToggle>,
}

/// One evaluated flag in the frontend body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontendToggle {
    pub name: String,
    pub enabled: bool,
    pub variant: FrontendVariant,
    pub impression_data: bool,
}

/// The evaluated variant, with both spellings of `featureEnabled` (SDKs read either).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontendVariant {
    pub name: String,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    pub feature_enabled: bool,
    #[serde(rename = "featureEnabled")]
    pub feature_enabled_camel: bool,
}

/// `POST /api/client/metrics` (and the frontend one). Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsBody {
    pub app_name: String,
    pub bucket: MetricsBucket,
}

/// The bucket of a metrics report.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsBucket {
    #[serde(default)]
    pub toggles: BTreeMap<String, ToggleCounts>,
}

/// yes / no / variant counts of one flag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToggleCounts {
    #[serde(default)]
    pub yes: u64,
    #[serde(default)]
    pub no: u64,
    #[serde(default)]
    pub variants: BTreeMap<String, u64>,
}

/// `POST /api/client/register`. Unknown fields are kept as they came.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    pub app_name: String,
    #[serde(default)]
    pub instance_id: Option<String>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

// ---- lenient deserializers: Unleash bodies carry numbers where strings are meant ----

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn scalar_to_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default();
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| scalar_to_string(v).map(|s| (k, s)))
        .collect())
}

fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default();
    Ok(raw.into_iter().filter_map(scalar_to_string).collect())
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(scalar_to_string))
}

fn any_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => scalar_to_string(other.clone()).unwrap_or_else(|| other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_real_v2_sample_and_keeps_its_shape() {
        let raw = std::fs::read_to_string(crate::testutil::shared(
            "samples/client-features-v2.sample.json",
        ))
        .unwrap();
        let body: ClientFeaturesBody = serde_json::from_str(&raw).unwrap();
        assert_eq!(body.features.len(), 3);
        assert_eq!(
            body.features[0].strategies[0].constraints[0].operator,
            "NOT_IN"
        );
        assert_eq!(body.segments.as_ref().unwrap()[0].id, 1);
        assert_eq!(body.features[0].strategies[0].segments, vec![1]);
        assert_eq!(body.meta.as_ref().unwrap().revision_id, Some(158));
    }

    #[test]
    fn numbers_nulls_and_unknown_operators_are_tolerated() {
        let raw = r#"{"version":2,"features":[{"name":"a","enabled":true,"strategies":[{"name":"flexibleRollout",
            "parameters":{"rollout":50,"x":null},"constraints":[{"contextName":"n","operator":"FANCY_OP","values":[1,"2"],"value":3}],
            "variants":null}],"variants":null,"description":null}]}"#;
        let body: ClientFeaturesBody = serde_json::from_str(raw).unwrap();
        let s = &body.features[0].strategies[0];
        assert_eq!(s.parameters.get("rollout").map(String::as_str), Some("50"));
        assert!(!s.parameters.contains_key("x"));
        assert_eq!(s.constraints[0].operator, "FANCY_OP");
        assert_eq!(s.constraints[0].values, vec!["1", "2"]);
        assert_eq!(s.constraints[0].value.as_deref(), Some("3"));
    }
}
