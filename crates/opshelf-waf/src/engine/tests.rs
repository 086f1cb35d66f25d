use super::*;
use crate::ruleset::Loader;

fn rules(text: &str) -> RuleSet {
    let mut l = Loader::new();
    l.load_str("t.conf", text, None).unwrap();
    l.finish().unwrap()
}

fn get(uri: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        uri: uri.into(),
        protocol: "HTTP/1.1".into(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect(),
        remote_addr: "10.0.0.1".into(),
        ..Default::default()
    }
}

fn ids(rs: &RuleSet, req: &Request, body: &[u8]) -> Vec<u64> {
    let mut tx = Transaction::new(rs, req);
    tx.process_request_headers();
    tx.process_request_body(body);
    tx.matches.iter().map(|m| m.id).collect()
}

#[test]
fn chained_captures_flow_into_next_link() {
    let rs = rules(
        r#"SecRuleEngine DetectionOnly
SecRule REQUEST_HEADERS:Referer "@rx ^[^#]+" "id:1,phase:1,pass,log,capture,t:none,t:lowercase,t:urlDecodeUni,chain"
  SecRule TX:0 "@rx ^[^\.]+\.[^;\?]+[;\?](.*(['\*\?\x5c`][^\n/]+/|/[^/]+?['\*\?\x5c`]|\$[!#\$\(\*\-0-9\?-\[_a-\{]))" "capture,t:none,chain"
SecRule TX:1 "@rx /" "t:none,chain"
  SecRule TX:1 "@rx \s" "t:none,setvar:tx.hit=1"
"#,
    );
    let req = get("/get", &[("Referer", "www.google.com;c$?at+/etc/passwd")]);
    assert_eq!(ids(&rs, &req, b""), vec![1]);
}

#[test]
fn anomaly_scoring_blocks_when_on() {
    let rs = rules(
        r#"SecRuleEngine On
SecRequestBodyAccess On
SecDefaultAction "phase:2,log,auditlog,pass"
SecRule ARGS "@rx (?i)union\s+select" "id:10,phase:2,block,log,setvar:tx.score=+5"
SecRule TX:score "@ge 5" "id:20,phase:2,deny,status:403,log"
"#,
    );
    let mut req = get("/?q=1%20UNION%20SELECT%20x", &[]);
    let mut tx = Transaction::new(&rs, &req);
    tx.process_request_headers();
    tx.process_request_body(b"");
    assert_eq!(
        tx.interruption.as_ref().map(|i| (i.status, i.rule_id)),
        Some((403, 20))
    );
    req.uri = "/?q=select%20a%20union".into();
    let mut tx = Transaction::new(&rs, &req);
    tx.process_request_headers();
    tx.process_request_body(b"");
    assert!(tx.interruption.is_none());
    assert!(tx.detected.is_none());
}

#[test]
fn detection_only_records_what_would_have_blocked_without_blocking() {
    let text = r#"SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecDefaultAction "phase:2,log,auditlog,pass"
SecRule ARGS "@rx (?i)union\s+select" "id:10,phase:2,block,log,setvar:tx.score=+5"
SecRule ARGS "@contains x" "id:11,phase:2,pass,log"
SecRule TX:score "@ge 5" "id:20,phase:2,deny,status:406,log"
"#;
    let rs = rules(text);
    let mut req = get("/?q=1%20UNION%20SELECT%20x", &[]);
    let mut tx = Transaction::new(&rs, &req);
    tx.process_request_headers();
    tx.process_request_body(b"");
    assert!(tx.interruption.is_none(), "DetectionOnly never interrupts");
    assert_eq!(
        tx.detected.as_ref().map(|i| (i.status, i.rule_id)),
        Some((406, 20))
    );
    // A match under the threshold is flagged (relevant) but not detected as an attack.
    req.uri = "/?q=x".into();
    let mut tx = Transaction::new(&rs, &req);
    tx.process_request_headers();
    tx.process_request_body(b"");
    assert!(tx.is_relevant() && tx.detected.is_none());
    // With the engine On the same request is blocked, and `detected` stays empty.
    let rs = rules(&text.replace("DetectionOnly", "On"));
    req.uri = "/?q=1%20UNION%20SELECT%20x".into();
    let mut tx = Transaction::new(&rs, &req);
    tx.process_request_headers();
    tx.process_request_body(b"");
    assert_eq!(tx.interruption.as_ref().map(|i| i.rule_id), Some(20));
    assert!(tx.detected.is_none());
}

#[test]
fn exclusions_skip_and_ctl() {
    let rs = rules(
        r#"SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecRule ARGS|!ARGS:safe "@contains bad" "id:1,phase:2,pass,log"
SecAction "id:2,phase:2,pass,nolog,ctl:ruleRemoveById=4,skipAfter:END"
SecRule ARGS "@contains bad" "id:3,phase:2,pass,log"
SecMarker END
SecRule ARGS "@contains bad" "id:4,phase:2,pass,log"
SecRule &ARGS "@eq 2" "id:5,phase:2,pass,log"
SecRule ARGS_NAMES "@streq safe" "id:6,phase:2,pass,log"
"#,
    );
    let req = get("/?safe=bad&other=fine", &[]);
    assert_eq!(ids(&rs, &req, b""), vec![5, 6]);
    let req = get("/?x=bad", &[]);
    assert_eq!(ids(&rs, &req, b""), vec![1]);
}

#[test]
fn body_processors_feed_args() {
    let rs = rules(
        r#"SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:100,phase:1,pass,nolog,t:lowercase,ctl:requestBodyProcessor=JSON"
SecRule ARGS:json.a.b "@streq x" "id:1,phase:2,pass,log"
SecRule ARGS_POST:f "@streq 1 2" "id:2,phase:2,pass,log"
SecRule FILES "@endsWith .php" "id:3,phase:2,pass,log"
SecRule REQBODY_ERROR "!@eq 0" "id:4,phase:2,pass,log"
"#,
    );
    let mut req = get("/", &[("Content-Type", "application/json")]);
    req.method = "POST".into();
    assert_eq!(ids(&rs, &req, br#"{"a":{"b":"x"}}"#), vec![1]);
    assert_eq!(ids(&rs, &req, b"{nope"), vec![4]);
    req.headers = vec![(
        "Content-Type".into(),
        b"application/x-www-form-urlencoded".to_vec(),
    )];
    assert_eq!(ids(&rs, &req, b"f=1+2"), vec![2]);
    req.headers = vec![(
        "Content-Type".into(),
        b"multipart/form-data; boundary=B".to_vec(),
    )];
    let body = b"--B\r\nContent-Disposition: form-data; name=\"u\"; filename=\"s.php\"\r\n\r\nx\r\n--B--\r\n";
    assert_eq!(ids(&rs, &req, body), vec![3]);
}
