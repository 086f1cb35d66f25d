#!/usr/bin/env python3
"""Create the same 50-flag state on an Unleash-compatible server through its admin API.

Usage: populate.py BASE_URL ADMIN_TOKEN ENVIRONMENT
Flags flag-0..flag-49: flexibleRollout at a varying percentage, a NOT_IN constraint on
appName, two variants (blue with a payload, red) on every third flag; all turned on.
"""
import json
import sys
import urllib.request

base, token, env = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, body=None, ok=(200, 201, 202, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"authorization": token, "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        if e.code in ok:
            return e.code, e.read()
        raise SystemExit(f"{method} {path}: {e.code} {e.read()[:300]!r}")


for i in range(50):
    name = f"flag-{i}"
    call("POST", "/api/admin/projects/default/features", {"name": name, "type": "release",
                                                          "description": "bench flag", "impressionData": i % 5 == 0})
    strategy = {
        "name": "flexibleRollout",
        "parameters": {"rollout": str((i * 2) % 101), "stickiness": "default", "groupId": name},
        "constraints": [{"contextName": "appName", "operator": "NOT_IN", "values": ["blocked"],
                         "caseInsensitive": False, "inverted": False}],
        "variants": [] if i % 3 else [
            {"name": "blue", "weight": 500, "weightType": "variable", "stickiness": "default",
             "payload": {"type": "string", "value": "b"}},
            {"name": "red", "weight": 500, "weightType": "variable", "stickiness": "default"},
        ],
    }
    call("POST", f"/api/admin/projects/default/features/{name}/environments/{env}/strategies", strategy)
    call("POST", f"/api/admin/projects/default/features/{name}/environments/{env}/on", {})
print("created 50 flags")
