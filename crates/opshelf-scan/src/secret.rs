//! Secret detection: Trivy's built-in rules (same IDs, so users' ignore files keep working),
//! PostHog keys, an opt-in generic high-entropy rule, Trivy's `trivy-secret.yaml` config, an
//! aho-corasick keyword prefilter before any regex runs, and masking of every reported secret.

use std::collections::HashSet;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;
use serde::Deserialize;

use crate::cvss::Severity;

/// One detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub category: String,
    pub title: String,
    pub severity: Severity,
    pub regex: Regex,
    /// Named group holding the secret (else the whole match is the secret).
    pub secret_group: Option<String>,
    /// At least one must occur (case-insensitively) for the regex to run; empty = always run.
    pub keywords: Vec<String>,
    /// Only files whose path matches.
    pub path: Option<Regex>,
    /// Minimum Shannon entropy (bits per char) of the secret, for generic rules.
    pub min_entropy: Option<f64>,
    pub allow_rules: Vec<AllowRule>,
}

/// A rule that suppresses findings (by secret text or by path).
#[derive(Debug, Clone)]
pub struct AllowRule {
    pub id: String,
    pub regex: Option<Regex>,
    pub path: Option<Regex>,
}

impl AllowRule {
    fn allows(&self, path: &str, secret: &str) -> bool {
        match (&self.regex, &self.path) {
            (Some(r), Some(p)) => r.is_match(secret) && p.is_match(path),
            (Some(r), None) => r.is_match(secret),
            (None, Some(p)) => p.is_match(path),
            (None, None) => false,
        }
    }
}

/// A secret found in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule_id: String,
    pub category: String,
    pub title: String,
    pub severity: Severity,
    pub start_line: usize,
    pub end_line: usize,
    /// The matched line(s) with the secret masked.
    pub masked_match: String,
    /// Context lines around the finding (already masked), with their numbers.
    pub code: Vec<(usize, String, bool)>,
    /// A stable fingerprint of the secret (SHA-256 of rule + secret), never the secret.
    pub fingerprint: String,
}

// Reusable fragments, as in Trivy's rule file.
const QUOTE: &str = r#"["']?"#;
const CONNECT: &str = r"\s*(:|=>|=)?\s*";
const END_SECRET: &str = r"[.,]?(\s+|$)";
const START_WORD: &str = r"([^0-9a-zA-Z]|^)";
const KEY_VALUE: &str = r#"[a-z0-9_ .\-,]{0,25})(=|>|:=|\|\|:|<=|=>|:).{0,5}['"]"#;

struct Builtin {
    id: &'static str,
    category: &'static str,
    title: &'static str,
    severity: Severity,
    regex: String,
    secret_group: bool,
    keywords: &'static [&'static str],
}

fn kv(name: &str, secret: &str) -> String {
    format!(r#"(?i)(?P<key>{name}{KEY_VALUE}(?P<secret>{secret})['"]"#)
}

fn word(inner: &str) -> String {
    format!("{START_WORD}({inner})")
}

#[allow(clippy::too_many_lines)]
fn builtins() -> Vec<Builtin> {
    use Severity::{Critical, High, Low, Medium};
    let b = |id, category, title, severity, regex: String, secret_group, keywords| Builtin {
        id,
        category,
        title,
        severity,
        regex,
        secret_group,
        keywords,
    };
    vec![
        b("aws-access-key-id", "AWS", "AWS Access Key ID", Critical,
          format!(r"{START_WORD}((?P<secret>(A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{{16}}){QUOTE}{END_SECRET})"), true,
          &["AKIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ASIA"]),
        b("aws-secret-access-key", "AWS", "AWS Secret Access Key", Critical,
          format!(r"(?i){QUOTE}aws_?(sec(ret)?)?_?(access)?_?key{QUOTE}{CONNECT}{QUOTE}(?P<secret>[A-Za-z0-9/+=]{{40}}){QUOTE}{END_SECRET}"),
          true, &["key"]),
        b("github-pat", "GitHub", "GitHub Personal Access Token", Critical, word("?P<secret>ghp_[0-9a-zA-Z]{36}"), true, &["ghp_"]),
        b("github-oauth", "GitHub", "GitHub OAuth Access Token", Critical, word("?P<secret>gho_[0-9a-zA-Z]{36}"), true, &["gho_"]),
        b("github-app-token", "GitHub", "GitHub App Token", Critical, word("?P<secret>(ghu|ghs)_[0-9a-zA-Z]{36}"), true, &["ghu_", "ghs_"]),
        b("github-refresh-token", "GitHub", "GitHub Refresh Token", Critical, word("?P<secret>ghr_[0-9a-zA-Z]{76}"), true, &["ghr_"]),
        b("github-fine-grained-pat", "GitHub", "GitHub Fine-grained personal access tokens", Critical,
          r"github_pat_[a-zA-Z0-9]{22}_[a-zA-Z0-9]{59}".into(), false, &["github_pat_"]),
        b("gitlab-pat", "GitLab", "GitLab Personal Access Token", Critical, word(r"?P<secret>glpat-[0-9a-zA-Z\-_]{20}"), true, &["glpat-"]),
        b("hugging-face-access-token", "HuggingFace", "Hugging Face Access Token", Critical, word("?P<secret>hf_[A-Za-z0-9]{34,40}"), true, &["hf_"]),
        b("private-key", "AsymmetricPrivateKey", "Asymmetric Private Key", High,
          r"(?i)-----\s*?BEGIN[ A-Z0-9_-]*?PRIVATE KEY( BLOCK)?\s*?-----[\s]*?(?P<secret>[A-Za-z0-9=+/\\\r\n][A-Za-z0-9=+/\\\s]{31,})[\s]*?-----\s*?END[ A-Z0-9_-]*? PRIVATE KEY( BLOCK)?\s*?-----".into(),
          true, &["-----"]),
        b("shopify-token", "Shopify", "Shopify token", High, r"shp(ss|at|ca|pa)_[a-fA-F0-9]{32}".into(), false, &["shpss_", "shpat_", "shpca_", "shppa_"]),
        b("slack-access-token", "Slack", "Slack token", High, word("?P<secret>xox[baprs]-([0-9a-zA-Z]{10,48})"), true, &["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"]),
        b("stripe-publishable-token", "Stripe", "Stripe Publishable Key", Low, word("?P<secret>(?i)pk_(test|live)_[0-9a-z]{10,32}"), true, &["pk_test_", "pk_live_"]),
        b("stripe-secret-token", "Stripe", "Stripe Secret Key", Critical, word("?P<secret>(?i)sk_(test|live)_[0-9a-z]{10,32}"), true, &["sk_test_", "sk_live_"]),
        b("pypi-upload-token", "PyPI", "PyPI upload token", High, r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9\-_]{50,1000}".into(), false, &["pypi-AgEIcHlwaS5vcmc"]),
        b("gcp-service-account", "Google", "Google (GCP) Service-account", Critical, r#""type": "service_account""#.into(), false, &[r#""type": "service_account""#]),
        b("heroku-api-key", "Heroku", "Heroku API Key", High,
          r#" (?i)(?P<key>heroku[a-z0-9_ .\-,]{0,25})(=|>|:=|\|\|:|<=|=>|:).{0,5}['"](?P<secret>[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12})['"]"#.into(),
          true, &["heroku"]),
        b("slack-web-hook", "Slack", "Slack Webhook", Medium, r"https://hooks.slack.com/services/[A-Za-z0-9+/]{44,48}".into(), false, &["hooks.slack.com"]),
        b("twilio-api-key", "Twilio", "Twilio API Key", Medium, r"SK[0-9a-fA-F]{32}".into(), false, &["SK"]),
        b("age-secret-key", "Age", "Age secret key", Medium, r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}".into(), false, &["AGE-SECRET-KEY-1"]),
        b("facebook-token", "Facebook", "Facebook token", Low, kv("facebook", "[a-f0-9]{32}"), true, &["facebook"]),
        b("twitter-token", "Twitter", "Twitter token", Low, kv("twitter", "[a-f0-9]{35,44}"), true, &["twitter"]),
        b("adobe-client-id", "Adobe", "Adobe Client ID (Oauth Web)", Low, kv("adobe", "[a-f0-9]{32}"), true, &["adobe"]),
        b("adobe-client-secret", "Adobe", "Adobe Client Secret", Low, r"(p8e-)(?i)[a-z0-9]{32}".into(), false, &["p8e-"]),
        b("alibaba-access-key-id", "Alibaba", "Alibaba AccessKey ID", High, r"([^0-9A-Za-z]|^)(?P<secret>(LTAI)(?i)[a-z0-9]{20})([^0-9A-Za-z]|$)".into(), true, &["LTAI"]),
        b("alibaba-secret-key", "Alibaba", "Alibaba Secret Key", High, kv("alibaba", "[a-z0-9]{30}"), true, &["alibaba"]),
        b("asana-client-id", "Asana", "Asana Client ID", Medium, kv("asana", "[0-9]{16}"), true, &["asana"]),
        b("asana-client-secret", "Asana", "Asana Client Secret", Medium, kv("asana", "[a-z0-9]{32}"), true, &["asana"]),
        b("atlassian-api-token", "Atlassian", "Atlassian API token", High, kv("atlassian", "[a-z0-9]{24}"), true, &["atlassian"]),
        b("bitbucket-client-id", "Bitbucket", "Bitbucket client ID", High, kv("bitbucket", "[a-z0-9]{32}"), true, &["bitbucket"]),
        b("bitbucket-client-secret", "Bitbucket", "Bitbucket client secret", High, kv("bitbucket", r"[a-z0-9_\-]{64}"), true, &["bitbucket"]),
        b("beamer-api-token", "Beamer", "Beamer API token", Low, kv("beamer", r"b_[a-z0-9=_\-]{44}"), true, &["beamer"]),
        b("clojars-api-token", "Clojars", "Clojars API token", Medium, r"(CLOJARS_)(?i)[a-z0-9]{60}".into(), false, &["CLOJARS_"]),
        b("contentful-delivery-api-token", "ContentfulDelivery", "Contentful delivery API token", Low, kv("contentful", r"[a-z0-9\-=_]{43}"), true, &["contentful"]),
        b("databricks-api-token", "Databricks", "Databricks API token", Medium, r"dapi[a-h0-9]{32}".into(), false, &["dapi"]),
        b("discord-api-token", "Discord", "Discord API key", Medium, kv("discord", "[a-h0-9]{64}"), true, &["discord"]),
        b("discord-client-id", "Discord", "Discord client ID", Medium, kv("discord", "[0-9]{18}"), true, &["discord"]),
        b("discord-client-secret", "Discord", "Discord client secret", Medium, kv("discord", r"[a-z0-9=_\-]{32}"), true, &["discord"]),
        b("doppler-api-token", "Doppler", "Doppler API token", Medium, r#"['"](dp\.pt\.)(?i)[a-z0-9]{43}['"]"#.into(), false, &["dp.pt."]),
        b("dropbox-api-secret", "Dropbox", "Dropbox API secret/key", High, r#"(?i)(dropbox[a-z0-9_ .\-,]{0,25})(=|>|:=|\|\|:|<=|=>|:).{0,5}['"]([a-z0-9]{15})['"]"#.into(), false, &["dropbox"]),
        b("dropbox-short-lived-api-token", "Dropbox", "Dropbox short lived API token", High, r#"(?i)(dropbox[a-z0-9_ .\-,]{0,25})(=|>|:=|\|\|:|<=|=>|:).{0,5}['"](sl\.[a-z0-9\-=_]{135})['"]"#.into(), false, &["dropbox"]),
        b("dropbox-long-lived-api-token", "Dropbox", "Dropbox long lived API token", High, r#"(?i)(dropbox[a-z0-9_ .\-,]{0,25})(=|>|:=|\|\|:|<=|=>|:).{0,5}['"][a-z0-9]{11}(AAAAAAAAAA)[a-z0-9\-_=]{43}['"]"#.into(), false, &["dropbox"]),
        b("duffel-api-token", "Duffel", "Duffel API token", Low, r#"['"]duffel_(test|live)_(?i)[a-z0-9_-]{43}['"]"#.into(), false, &["duffel_test_", "duffel_live_"]),
        b("dynatrace-api-token", "Dynatrace", "Dynatrace API token", Medium, r#"['"]dt0c01\.(?i)[a-z0-9]{24}\.[a-z0-9]{64}['"]"#.into(), false, &["dt0c01."]),
        b("easypost-api-token", "Easypost", "EasyPost API token", Low, r#"['"]EZ[AT]K(?i)[a-z0-9]{54}['"]"#.into(), false, &["EZAK", "EZAT"]),
        b("fastly-api-token", "Fastly", "Fastly API token", Medium, kv("fastly", r"[a-z0-9\-=_]{32}"), true, &["fastly"]),
        b("finicity-client-secret", "Finicity", "Finicity client secret", Medium, kv("finicity", "[a-z0-9]{20}"), true, &["finicity"]),
        b("finicity-api-token", "Finicity", "Finicity API token", Medium, kv("finicity", "[a-f0-9]{32}"), true, &["finicity"]),
        b("flutterwave-public-key", "Flutterwave", "Flutterwave public/secret key", Medium, word("?P<secret>FLW(PUB|SEC)K_TEST-(?i)[a-h0-9]{32}-X"), true, &["FLWSECK_TEST-", "FLWPUBK_TEST-"]),
        b("flutterwave-enc-key", "Flutterwave", "Flutterwave encrypted key", Medium, word("?P<secret>FLWSECK_TEST[a-h0-9]{12}"), true, &["FLWSECK_TEST"]),
        b("frameio-api-token", "Frameio", "Frame.io API token", Low, r"fio-u-(?i)[a-z0-9\-_=]{64}".into(), false, &["fio-u-"]),
        b("gocardless-api-token", "GoCardless", "GoCardless API token", Medium, r#"['"]live_(?i)[a-z0-9\-_=]{40}['"]"#.into(), false, &["live_"]),
        b("grafana-api-token", "Grafana", "Grafana API token", Medium, r#"['"]?eyJrIjoi(?i)[a-z0-9\-_=]{72,92}['"]?"#.into(), false, &["eyJrIjoi"]),
        b("hashicorp-tf-api-token", "HashiCorp", "HashiCorp Terraform user/org API token", Medium, r#"['"](?i)[a-z0-9]{14}\.atlasv1\.[a-z0-9\-_=]{60,70}['"]"#.into(), false, &["atlasv1."]),
        b("hubspot-api-token", "HubSpot", "HubSpot API token", Low, kv("hubspot", "[a-h0-9]{8}-[a-h0-9]{4}-[a-h0-9]{4}-[a-h0-9]{4}-[a-h0-9]{12}"), true, &["hubspot"]),
        b("intercom-api-token", "Intercom", "Intercom API token", Low, kv("intercom", "[a-z0-9=_]{60}"), true, &["intercom"]),
        b("intercom-client-secret", "Intercom", "Intercom client secret/ID", Low, kv("intercom", "[a-h0-9]{8}-[a-h0-9]{4}-[a-h0-9]{4}-[a-h0-9]{4}-[a-h0-9]{12}"), true, &["intercom"]),
        b("ionic-api-token", "Ionic", "Ionic API token", Severity::Unknown, r#"(?i)(ionic[a-z0-9_ .\-,]{0,25})(=|>|:=|\|\|:|<=|=>|:).{0,5}['"](ion_[a-z0-9]{42})['"]"#.into(), false, &["ionic"]),
        b("jwt-token", "JWT", "JWT token", Medium, r"ey[a-zA-Z0-9]{17,}\.ey[a-zA-Z0-9/\\_-]{17,}\.(?:[a-zA-Z0-9/\\_-]{10,}={0,2})?".into(), false, &[".eyJ"]),
        b("linear-api-token", "Linear", "Linear API token", Medium, r"lin_api_(?i)[a-z0-9]{40}".into(), false, &["lin_api_"]),
        b("linear-client-secret", "Linear", "Linear client secret/ID", Medium, kv("linear", "[a-f0-9]{32}"), true, &["linear"]),
        b("lob-api-key", "Lob", "Lob API Key", Low, kv("lob", "(live|test)_[a-f0-9]{35}"), true, &["lob"]),
        b("lob-pub-api-key", "Lob", "Lob Publishable API Key", Low, kv("lob", "(test|live)_pub_[a-f0-9]{31}"), true, &["lob"]),
        b("mailchimp-api-key", "Mailchimp", "Mailchimp API key", Medium, kv("mailchimp", "[a-f0-9]{32}-us20"), true, &["mailchimp"]),
        b("mailgun-token", "Mailgun", "Mailgun private API token", Medium, kv("mailgun", "(pub)?key-[a-f0-9]{32}"), true, &["mailgun"]),
        b("mailgun-signing-key", "Mailgun", "Mailgun webhook signing key", Medium, kv("mailgun", "[a-h0-9]{32}-[a-h0-9]{8}-[a-h0-9]{8}"), true, &["mailgun"]),
        b("mapbox-api-token", "Mapbox", "Mapbox API token", Medium, r"(?i)(pk\.[a-z0-9]{60}\.[a-z0-9]{22})".into(), false, &["pk."]),
        b("messagebird-api-token", "MessageBird", "MessageBird API token", Medium, kv("messagebird", "[a-z0-9]{25}"), true, &["messagebird"]),
        b("messagebird-client-id", "MessageBird", "MessageBird API client ID", Medium, kv("messagebird", "[a-h0-9]{8}-[a-h0-9]{4}-[a-h0-9]{4}-[a-h0-9]{4}-[a-h0-9]{12}"), true, &["messagebird"]),
        b("new-relic-user-api-key", "NewRelic", "New Relic user API Key", Medium, r#"['"](NRAK-[A-Z0-9]{27})['"]"#.into(), false, &["NRAK-"]),
        b("new-relic-user-api-id", "NewRelic", "New Relic user API ID", Medium, kv("newrelic", "[A-Z0-9]{64}"), true, &["newrelic"]),
        b("new-relic-browser-api-token", "NewRelic", "New Relic ingest browser API token", Medium, r#"['"](NRJS-[a-f0-9]{19})['"]"#.into(), false, &["NRJS-"]),
        b("npm-access-token", "Npm", "npm access token", Critical, r#"['"](npm_(?i)[a-z0-9]{36})['"]"#.into(), false, &["npm_"]),
        b("planetscale-password", "Planetscale", "PlanetScale password", Medium, r"pscale_pw_(?i)[a-z0-9\-_\.]{43}".into(), false, &["pscale_pw_"]),
        b("planetscale-api-token", "Planetscale", "PlanetScale API token", Medium, r"pscale_tkn_(?i)[a-z0-9\-_\.]{43}".into(), false, &["pscale_tkn_"]),
        b("private-packagist-token", "Private Packagist", "Private Packagist token", High, r"packagist_[ou][ru]t_(?i)[a-f0-9]{68}".into(), false, &["packagist_uut_", "packagist_ort_", "packagist_out_"]),
        b("postman-api-token", "Postman", "Postman API token", Medium, r"PMAK-(?i)[a-f0-9]{24}\-[a-f0-9]{34}".into(), false, &["PMAK-"]),
        b("pulumi-api-token", "Pulumi", "Pulumi API token", High, r"pul-[a-f0-9]{40}".into(), false, &["pul-"]),
        b("rubygems-api-token", "RubyGems", "Rubygem API token", Medium, r"rubygems_[a-f0-9]{48}".into(), false, &["rubygems_"]),
        b("sendgrid-api-token", "SendGrid", "SendGrid API token", Medium, r"SG\.(?i)[a-z0-9_\-\.]{66}".into(), false, &["SG."]),
        b("sendinblue-api-token", "Sendinblue", "Sendinblue API token", Low, r"xkeysib-[a-f0-9]{64}\-(?i)[a-z0-9]{16}".into(), false, &["xkeysib-"]),
        b("shippo-api-token", "Shippo", "Shippo API token", Low, r"shippo_(live|test)_[a-f0-9]{40}".into(), false, &["shippo_live_", "shippo_test_"]),
        b("linkedin-client-secret", "LinkedIn", "LinkedIn Client secret", Low, kv("linkedin", "[a-z]{16}"), true, &["linkedin"]),
        b("linkedin-client-id", "LinkedIn", "LinkedIn Client ID", Low, kv("linkedin", "[a-z0-9]{14}"), true, &["linkedin"]),
        b("twitch-api-token", "Twitch", "Twitch API token", Low, kv("twitch", "[a-z0-9]{30}"), true, &["twitch"]),
        b("typeform-api-token", "Typeform", "Typeform API token", Low,
          r"(?i)(?P<key>typeform[a-z0-9_ .\-,]{0,25})(=|>|:=|\|\|:|<=|=>|:).{0,5}(?P<secret>tfp_[a-z0-9\-_\.=]{59})".into(), true, &["typeform"]),
        b("dockerconfig-secret", "Docker", "Dockerconfig secret exposed", High,
          r"(?i)(\.(dockerconfigjson|dockercfg):\s*\|*\s*(?P<secret>(ey|ew)+[A-Za-z0-9/\+=]+))".into(), true, &["dockerc"]),
        // PostHog: personal API keys and OAuth tokens are credentials; project keys are public
        // by design (they ship in front-end code) but worth knowing about.
        b("posthog-personal-api-key", "PostHog", "PostHog personal API key", High, word("?P<secret>phx_[A-Za-z0-9]{30,64}"), true, &["phx_"]),
        b("posthog-oauth-access-token", "PostHog", "PostHog OAuth access token", High, word("?P<secret>pha_[A-Za-z0-9]{30,64}"), true, &["pha_"]),
        b("posthog-oauth-refresh-token", "PostHog", "PostHog OAuth refresh token", High, word("?P<secret>phr_[A-Za-z0-9]{30,64}"), true, &["phr_"]),
        b("posthog-project-api-key", "PostHog", "PostHog project API key (public by design)", Low, word("?P<secret>phc_[A-Za-z0-9]{30,64}"), true, &["phc_"]),
    ]
}

/// ID of the generic rule, off unless enabled in `enable-builtin-rules`.
pub const GENERIC_RULE_ID: &str = "generic-high-entropy-secret";

/// Rule-ID aliases users write in ignore files.
pub fn canonical_rule_id(id: &str) -> &str {
    match id {
        "slack-webhook-url" => "slack-web-hook",
        "github-personal-access-token" => "github-pat",
        other => other,
    }
}

fn generic_rule() -> Rule {
    Rule {
        id: GENERIC_RULE_ID.to_string(),
        category: "General".to_string(),
        title: "High-entropy secret assigned to a secret-like name".to_string(),
        severity: Severity::Medium,
        regex: Regex::new(
            r#"(?i)(?P<key>[a-z0-9_.-]*(secret|token|passwd|password|api_?key|apikey|private_?key|access_?key|auth)[a-z0-9_.-]*)["']?\s*(=|:=|:|=>)\s*["']?(?P<secret>[A-Za-z0-9+/=_\-]{20,128})["']?"#,
        )
        .expect("generic rule"),
        secret_group: Some("secret".to_string()),
        keywords: ["secret", "token", "passw", "key", "auth"].map(String::from).to_vec(),
        path: None,
        min_entropy: Some(4.0),
        allow_rules: Vec::new(),
    }
}

/// Trivy's built-in allow rules that keep vendored code and test fixtures quiet. Markdown is
/// deliberately NOT allowed: docs are where keys leak.
fn builtin_allow_rules() -> Vec<AllowRule> {
    let p = |id: &str, path: &str| AllowRule {
        id: id.to_string(),
        regex: None,
        path: Some(Regex::new(path).expect("allow rule")),
    };
    vec![
        p("tests", r"(^|/)tests?/"),
        p("examples", r"(^|/)examples?/"),
        p("vendor", r"(^|/)vendor/"),
        p("node.js", r"(^|/)node_modules/"),
        p("golang", r"(^|/)go/pkg/mod/"),
        p("usr-dirs", r"^usr/(share|include|lib)/"),
        p("locale-dir", r"(^|/)locales?/"),
    ]
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let len = s.len() as f64;
    if len == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / len;
            -p * p.log2()
        })
        .sum()
}

/// Masks a secret: a few leading characters stay, the rest become `*`.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    let keep = (n / 6).min(4);
    secret
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i < keep || c == '\n' || c == '\r' {
                c
            } else {
                '*'
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// trivy-secret.yaml

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct ConfigFile {
    rules: Vec<ConfigRule>,
    allow_rules: Vec<ConfigAllowRule>,
    enable_builtin_rules: Vec<String>,
    disable_rules: Vec<String>,
    disable_allow_rules: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct ConfigRule {
    id: String,
    category: String,
    title: String,
    severity: String,
    regex: String,
    keywords: Vec<String>,
    path: Option<String>,
    secret_group_name: Option<String>,
    allow_rules: Vec<ConfigAllowRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct ConfigAllowRule {
    id: String,
    regex: Option<String>,
    path: Option<String>,
}

/// Errors in a secret config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid secret config: {0}")]
    Yaml(String),
    #[error("secret rule {id:?}: invalid regex: {message}")]
    Regex { id: String, message: String },
}

fn compile(id: &str, re: &str) -> Result<Regex, ConfigError> {
    Regex::new(re).map_err(|e| ConfigError::Regex {
        id: id.to_string(),
        message: e.to_string(),
    })
}

fn allow_from(cfg: &ConfigAllowRule) -> Result<AllowRule, ConfigError> {
    Ok(AllowRule {
        id: cfg.id.clone(),
        regex: cfg
            .regex
            .as_deref()
            .map(|r| compile(&cfg.id, r))
            .transpose()?,
        path: cfg
            .path
            .as_deref()
            .map(|r| compile(&cfg.id, r))
            .transpose()?,
    })
}

/// The compiled rule set with its keyword prefilter.
#[derive(Debug)]
pub struct Scanner {
    rules: Vec<Rule>,
    allow: Vec<AllowRule>,
    /// Keyword automaton; `keyword_rules[k]` = rules that keyword `k` unlocks.
    automaton: AhoCorasick,
    keyword_rules: Vec<Vec<usize>>,
    /// Rules without keywords run on every file.
    always: Vec<usize>,
}

impl Scanner {
    /// Built-in rules only.
    pub fn builtin() -> Scanner {
        Scanner::new(None).expect("built-in rules compile")
    }

    /// Built-in rules adjusted by a `trivy-secret.yaml` text.
    pub fn new(config_yaml: Option<&str>) -> Result<Scanner, ConfigError> {
        let cfg: ConfigFile = match config_yaml {
            Some(text) if !text.trim().is_empty() => {
                serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?
            }
            _ => ConfigFile::default(),
        };
        let enabled: HashSet<&str> = cfg
            .enable_builtin_rules
            .iter()
            .map(|s| canonical_rule_id(s))
            .collect();
        let disabled: HashSet<&str> = cfg
            .disable_rules
            .iter()
            .map(|s| canonical_rule_id(s))
            .collect();
        let mut rules = Vec::new();
        for b in builtins() {
            if disabled.contains(b.id) || (!enabled.is_empty() && !enabled.contains(b.id)) {
                continue;
            }
            rules.push(Rule {
                id: b.id.to_string(),
                category: b.category.to_string(),
                title: b.title.to_string(),
                severity: b.severity,
                regex: compile(b.id, &b.regex)?,
                secret_group: b.secret_group.then(|| "secret".to_string()),
                keywords: b.keywords.iter().map(|s| (*s).to_string()).collect(),
                path: None,
                min_entropy: None,
                allow_rules: Vec::new(),
            });
        }
        if enabled.contains(GENERIC_RULE_ID) && !disabled.contains(GENERIC_RULE_ID) {
            rules.push(generic_rule());
        }
        for r in &cfg.rules {
            if disabled.contains(r.id.as_str()) {
                continue;
            }
            let allow_rules = r
                .allow_rules
                .iter()
                .map(allow_from)
                .collect::<Result<_, _>>()?;
            rules.push(Rule {
                id: r.id.clone(),
                category: if r.category.is_empty() {
                    "General".into()
                } else {
                    r.category.clone()
                },
                title: if r.title.is_empty() {
                    r.id.clone()
                } else {
                    r.title.clone()
                },
                severity: Severity::parse(&r.severity).unwrap_or(Severity::Unknown),
                regex: compile(&r.id, &r.regex)?,
                secret_group: r.secret_group_name.clone(),
                keywords: r.keywords.clone(),
                path: r.path.as_deref().map(|p| compile(&r.id, p)).transpose()?,
                min_entropy: None,
                allow_rules,
            });
        }
        let disabled_allow: HashSet<&str> =
            cfg.disable_allow_rules.iter().map(String::as_str).collect();
        let mut allow: Vec<AllowRule> = builtin_allow_rules()
            .into_iter()
            .filter(|a| !disabled_allow.contains(a.id.as_str()))
            .collect();
        for a in &cfg.allow_rules {
            allow.push(allow_from(a)?);
        }

        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.keywords.is_empty() {
                always.push(i);
                continue;
            }
            for k in &r.keywords {
                let k = k.to_ascii_lowercase();
                match keywords.iter().position(|x| *x == k) {
                    Some(pos) => keyword_rules[pos].push(i),
                    None => {
                        keywords.push(k);
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&keywords)
            .map_err(|e| ConfigError::Yaml(e.to_string()))?;
        Ok(Scanner {
            rules,
            allow,
            automaton,
            keyword_rules,
            always,
        })
    }

    /// Number of active rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// True when `path` (relative, `/`-separated) is skipped by a global allow rule.
    pub fn path_allowed(&self, path: &str) -> bool {
        self.allow
            .iter()
            .any(|a| a.regex.is_none() && a.allows(path, ""))
    }

    /// Scans one file's text. `path` is relative and `/`-separated.
    pub fn scan(&self, path: &str, content: &str) -> Vec<Finding> {
        if self.path_allowed(path) {
            return Vec::new();
        }
        let mut candidates: Vec<bool> = vec![false; self.rules.len()];
        for &i in &self.always {
            candidates[i] = true;
        }
        let mut any = !self.always.is_empty();
        for m in self.automaton.find_overlapping_iter(content) {
            for &i in &self.keyword_rules[m.pattern().as_usize()] {
                candidates[i] = true;
                any = true;
            }
        }
        if !any {
            return Vec::new();
        }
        // every match first: the code shown around one finding must not show another's secret
        // (Trivy censors all matches before it cuts the code lines)
        let mut matches: Vec<(usize, usize, usize)> = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !candidates[i] {
                continue;
            }
            if let Some(p) = &rule.path
                && !p.is_match(path)
            {
                continue;
            }
            for caps in rule.regex.captures_iter(content) {
                let Some(whole) = caps.get(0) else { continue };
                let secret = rule
                    .secret_group
                    .as_deref()
                    .and_then(|g| caps.name(g))
                    .unwrap_or(whole);
                let text = secret.as_str();
                if text.is_empty() {
                    continue;
                }
                if let Some(min) = rule.min_entropy
                    && entropy(text) < min
                {
                    continue;
                }
                if rule
                    .allow_rules
                    .iter()
                    .chain(self.allow.iter())
                    .any(|a| a.allows(path, text))
                {
                    continue;
                }
                // a secret group may begin with the line break before the key material
                let lead = text.len() - text.trim_start().len();
                matches.push((i, secret.start() + lead, secret.end()));
            }
        }
        if matches.is_empty() {
            return Vec::new();
        }
        let starts = line_starts_of(content);
        let censored = censor(content, &matches);
        let mut findings: Vec<Finding> = matches
            .iter()
            .map(|&(i, start, end)| {
                build_finding(&self.rules[i], content, &censored, &starts, start, end)
            })
            .collect();
        findings.sort_by(|a, b| {
            a.start_line
                .cmp(&b.start_line)
                .then_with(|| a.rule_id.cmp(&b.rule_id))
        });
        findings.dedup_by(|a, b| {
            a.rule_id == b.rule_id && a.start_line == b.start_line && a.fingerprint == b.fingerprint
        });
        findings
    }
}

#[cfg(test)]
#[test]
fn context_lines_never_show_another_secret() {
    let text = "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\ntoken=ghp_abcdefghijklmnopqrstuvwxyz0123456789\nlast=ä\n";
    let found = Scanner::builtin().scan("x.env", text);
    assert!(found.len() >= 2, "{found:?}");
    for f in &found {
        for (_, line, _) in &f.code {
            assert!(
                !line.contains("abcdefghijklmnopqrstuvwxyz0123456789"),
                "{line}"
            );
            assert!(!line.contains("IOSFODNN7EXAMPLE"), "{line}");
        }
        assert!(!f.masked_match.contains("ODNN7EXAMPLE"));
    }
}

fn line_starts_of(content: &str) -> Vec<usize> {
    let mut v = vec![0];
    for (i, b) in content.bytes().enumerate() {
        if b == b'\n' {
            v.push(i + 1);
        }
    }
    v
}

fn line_index(starts: &[usize], offset: usize) -> usize {
    match starts.binary_search(&offset) {
        Ok(i) => i,
        Err(i) => i - 1,
    }
}

/// `content` with every matched secret masked as [`mask`] does, byte length kept (a masked
/// character becomes as many `*` as it had bytes), so offsets stay valid.
fn censor(content: &str, matches: &[(usize, usize, usize)]) -> String {
    let mut bytes = content.as_bytes().to_vec();
    for &(_, s, e) in matches {
        let Some(secret) = content.get(s..e) else {
            continue;
        };
        let keep = (secret.chars().count() / 6).min(4);
        for (n, (off, c)) in secret.char_indices().enumerate() {
            if n < keep || c == '\n' || c == '\r' {
                continue;
            }
            for b in &mut bytes[s + off..s + off + c.len_utf8()] {
                *b = b'*';
            }
        }
    }
    String::from_utf8(bytes).unwrap_or_default()
}

/// One finding: lines cut from `censored` (every secret masked), fingerprint from `raw`.
fn build_finding(
    rule: &Rule,
    raw: &str,
    censored: &str,
    starts: &[usize],
    s: usize,
    e: usize,
) -> Finding {
    use sha2::{Digest, Sha256};
    let content = censored;
    let first = line_index(starts, s);
    let last = line_index(starts, e.saturating_sub(1).max(s));
    let line_text = |i: usize| -> &str {
        let begin = starts[i];
        let end = starts
            .get(i + 1)
            .map_or(content.len(), |n| n.saturating_sub(1));
        content
            .get(begin..end.max(begin))
            .unwrap_or("")
            .trim_end_matches('\r')
    };
    // mask the secret inside the lines it spans
    let span_start = starts[first];
    let span_end = starts
        .get(last + 1)
        .map_or(content.len(), |n| n.saturating_sub(1))
        .max(e);
    let masked = content.get(span_start..span_end).unwrap_or("");
    let masked_lines: Vec<String> = masked
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    let mut code = Vec::new();
    let ctx_first = first.saturating_sub(2);
    let ctx_last = (last + 2).min(starts.len() - 1);
    for i in ctx_first..=ctx_last {
        if i >= first && i <= last {
            let text = masked_lines.get(i - first).cloned().unwrap_or_default();
            code.push((i + 1, truncate(&text), true));
        } else {
            // neighbouring lines come from the censored text: other secrets there are masked
            let t = line_text(i);
            code.push((i + 1, truncate(t), false));
        }
    }
    let mut h = Sha256::new();
    h.update(rule.id.as_bytes());
    h.update([0]);
    h.update(raw.get(s..e).unwrap_or("").as_bytes());
    Finding {
        rule_id: rule.id.clone(),
        category: rule.category.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        start_line: first + 1,
        end_line: last + 1,
        masked_match: truncate(&masked_lines.join("\n")),
        code,
        fingerprint: hex::encode(&h.finalize()[..16]),
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// True when the bytes look binary (a NUL in the first 8 KiB).
pub fn looks_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8192).any(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.rule_id.as_str()).collect()
    }

    #[test]
    fn builtin_rules_compile_and_have_unique_ids() {
        let s = Scanner::builtin();
        let mut seen = HashSet::new();
        for r in &s.rules {
            assert!(seen.insert(r.id.clone()), "duplicate {}", r.id);
        }
        assert!(s.rule_count() >= 80, "{}", s.rule_count());
    }

    #[test]
    fn detects_common_secrets_and_masks_them() {
        let s = Scanner::builtin();
        let text = "aws_access_key_id = AKIAIOSFODNN7EXAMPLQ\n\
                    token: ghp_abcdefghijklmnopqrstuvwxyz0123456789\n\
                    hook https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX\n\
                    posthog: phc_GnJ8zb09tygMcjttDyBrcY3lULGThdeQc8IpP695rpb\n\
                    admin key phx_0123456789abcdefghijABCDEFGHIJklmnopqrst\n";
        let f = s.scan("config/app.env", text);
        let got = ids(&f);
        assert!(got.contains(&"aws-access-key-id"), "{got:?}");
        assert!(got.contains(&"github-pat"), "{got:?}");
        assert!(got.contains(&"slack-web-hook"), "{got:?}");
        assert!(got.contains(&"posthog-project-api-key"), "{got:?}");
        assert!(got.contains(&"posthog-personal-api-key"), "{got:?}");
        let phc = f
            .iter()
            .find(|x| x.rule_id == "posthog-project-api-key")
            .expect("phc");
        assert_eq!(phc.severity, Severity::Low);
        assert_eq!(phc.start_line, 4);
        let phx = f
            .iter()
            .find(|x| x.rule_id == "posthog-personal-api-key")
            .expect("phx");
        assert_eq!(phx.severity, Severity::High);
        for finding in &f {
            assert!(
                !finding
                    .masked_match
                    .contains("GnJ8zb09tygMcjttDyBrcY3lULGThdeQc8IpP695rpb")
            );
            assert!(
                !finding
                    .masked_match
                    .contains("abcdefghijklmnopqrstuvwxyz0123456789")
            );
            for (_, line, cause) in &finding.code {
                if *cause {
                    assert!(line.contains('*'), "{line}");
                }
            }
        }
    }

    #[test]
    fn private_key_spans_lines() {
        let s = Scanner::builtin();
        let text = "x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234567890abcdefghijklmnopqrstuv\nwxyz0123456789ABCDEFGHIJ\n-----END RSA PRIVATE KEY-----\n";
        let f = s.scan("id_rsa", text);
        assert_eq!(ids(&f), vec!["private-key"]);
        assert_eq!(f[0].start_line, 3);
        assert!(!f[0].masked_match.contains("1234567890abcdef"));
    }

    #[test]
    fn keyword_prefilter_skips_regexes_and_allow_rules_apply() {
        let s = Scanner::builtin();
        assert!(s.scan("a.txt", "nothing to see here\n").is_empty());
        // vendored code is allowed, markdown is not
        let tok = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        assert!(s.scan("vendor/x/a.go", tok).is_empty());
        assert_eq!(ids(&s.scan("docs/README.md", tok)), vec!["github-pat"]);
    }

    #[test]
    fn config_file_custom_rules_disable_and_generic() {
        let yaml = r#"
rules:
  - id: internal-token
    category: Internal
    title: Internal token
    severity: CRITICAL
    regex: itk_[a-z0-9]{10}
    keywords: [itk_]
    allow-rules:
      - id: fixtures
        path: fixtures/
allow-rules:
  - id: known-fake
    regex: ghp_000000000000000000000000000000000000
disable-rules:
  - slack-webhook-url
enable-builtin-rules:
  - github-pat
  - generic-high-entropy-secret
"#;
        let s = Scanner::new(Some(yaml)).expect("config");
        let text = "itk_abcdefghij\nhttps://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX\nghp_000000000000000000000000000000000000\nDB_PASSWORD=\"q8Zr2LxP0vT7mN4kW9sB3yH6\"\nAKIAIOSFODNN7EXAMPLQ\n";
        let got = s.scan("app.cfg", text);
        assert_eq!(ids(&got), vec!["internal-token", GENERIC_RULE_ID]);
        assert_eq!(got[0].severity, Severity::Critical);
        assert!(s.scan("fixtures/app.cfg", "itk_abcdefghij").is_empty());
        // low-entropy values are not reported by the generic rule
        assert!(
            s.scan("a", "password = \"aaaaaaaaaaaaaaaaaaaaaaaa\"")
                .is_empty()
        );
        assert!(Scanner::new(Some("rules:\n  - id: bad\n    regex: '('\n")).is_err());
    }

    #[test]
    fn masking_keeps_few_chars() {
        assert_eq!(mask("abcd"), "****");
        let m = mask("phc_GnJ8zb09tygMcjttDyBrcY3lULGThdeQc8IpP695rpb");
        assert!(m.starts_with("phc_"));
        assert_eq!(m.matches('*').count(), m.len() - 4);
    }
}
