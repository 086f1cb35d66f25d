"""Real Loki clients and Grafana's request sequence against a running opshelf.

Usage: checks.py LOKI_URL NODE_SNAPPY_DIR NODE_NOSNAPPY_DIR
Prints "ok    NAME" / "FAIL  NAME: why" per check; ./run counts them.
"""
import json
import logging
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

import logging_loki
import requests
import websockets.sync.client

URL, NODE_SNAPPY, NODE_PLAIN = sys.argv[1], sys.argv[2], sys.argv[3]
RESULTS = []


def check(name):
    def wrap(f):
        try:
            f()
            RESULTS.append((name, None))
            print(f"ok    {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - any failure is a failed check
            RESULTS.append((name, repr(e)))
            print(f"FAIL  {name}: {e!r}", flush=True)
        return f
    return wrap


def now_ns():
    return time.time_ns()


def query_range(q, start=None, end=None, direction="forward", limit=1000, headers=None):
    p = {
        "query": q,
        "start": str(start or now_ns() - 3600 * 10**9),
        "end": str(end or now_ns() + 60 * 10**9),
        "direction": direction,
        "limit": str(limit),
        "step": "15000ms",
    }
    r = requests.get(f"{URL}/loki/api/v1/query_range", params=p, headers=headers or {}, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


def entries(data):
    out = []
    for s in data["result"]:
        for v in s["values"]:
            out.append((int(v[0]), v[1], s["stream"]))
    return out


def wait_lines(q, n, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        got = entries(query_range(q))
        if len(got) >= n or time.time() > deadline:
            return got
        time.sleep(0.1)


def python_logging_loki(version):
    run = uuid.uuid4().hex[:8]
    kwargs = {"url": f"{URL}/loki/api/v1/push" if version == "1" else f"{URL}/api/prom/push",
              "tags": {"app": "pyloki", "run": run}}
    if version == "1":
        kwargs["version"] = "1"
    handler = logging_loki.LokiHandler(**kwargs)
    log = logging.getLogger(f"compat.{run}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)
    for i in range(5):
        log.warning("python line %d", i, extra={"tags": {"request-id": f"r-{i}"}})
        time.sleep(0.002)
    got = wait_lines(f'{{app="pyloki", run="{run}"}}', 5)
    got.sort()
    assert [g[1] for g in got] == [f"python line {i}" for i in range(5)], got
    for i, g in enumerate(got):
        assert g[2]["severity"] == "warning", g
        assert g[2]["request_id"] == f"r-{i}", g
        assert g[2]["logger"] == f"compat.{run}", g


@check("python-logging-loki version 1 (JSON v1) push, read back with labels and order")
def _():
    python_logging_loki("1")


@check("python-logging-loki default (legacy /api/prom/push) push, read back")
def _():
    python_logging_loki("0")


def winston(node_dir):
    run = uuid.uuid4().hex[:8]
    subprocess.run(["node", f"{node_dir}/winston_push.js", URL, run], cwd=node_dir, check=True, timeout=60)
    got = wait_lines(f'{{app="winston", run="{run}"}}', 5)
    got.sort()
    lines = [g[1] for g in got]
    assert len(lines) == 5, got
    for i, l in enumerate(lines):
        assert l.startswith(f"winston line {i}"), lines
    assert {g[2]["component"] for g in got} == {"db", "web"}, got
    assert all(g[2]["level"] == "info" for g in got), got


@check("winston-loki with snappy (protobuf+snappy) push, read back with labels and order")
def _():
    winston(NODE_SNAPPY)


@check("winston-loki without snappy (JSON) push, read back")
def _():
    winston(NODE_PLAIN)


@check("Grafana health check: instant vector(1)+vector(1) at time=4000000000 answers 2")
def _():
    r = requests.get(f"{URL}/loki/api/v1/query",
                     params={"direction": "backward", "query": "vector(1)+vector(1)", "time": "4000000000"}, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    d = r.json()["data"]
    assert d["resultType"] == "vector", d
    assert len(d["result"]) == 1 and float(d["result"][0]["value"][1]) == 2.0, d


def explore_seed():
    run = uuid.uuid4().hex[:8]
    t = now_ns()
    body = {"streams": [
        {"stream": {"app": "explore", "run": run, "level": lvl},
         "values": [[str(t - 1000 * i - j), f"{lvl} line {i}"] for i in range(3)]}
        for j, lvl in enumerate(["info", "error"])]}
    r = requests.post(f"{URL}/loki/api/v1/push", json=body, timeout=10)
    assert r.status_code == 204, r.text
    return run


RUN = None


@check("Grafana Explore: labels, label values, series (ns times, as LanguageProvider sends)")
def _():
    global RUN
    RUN = explore_seed()
    rng = {"start": str(now_ns() - 600 * 10**9), "end": str(now_ns() + 10**9)}
    r = requests.get(f"{URL}/loki/api/v1/labels", params=rng, timeout=10).json()
    assert r["status"] == "success" and {"app", "level", "run"} <= set(r["data"]), r
    sel = f'{{app="explore", run="{RUN}"}}'
    r = requests.get(f"{URL}/loki/api/v1/label/level/values", params={**rng, "query": sel}, timeout=10).json()
    assert r["data"] == ["error", "info"], r
    r = requests.get(f"{URL}/loki/api/v1/series", params={**rng, "match[]": sel}, timeout=10).json()
    assert sorted(s["level"] for s in r["data"]) == ["error", "info"], r


@check("Grafana Explore: index/stats for the selector")
def _():
    rng = {"start": str(now_ns() - 600 * 10**9), "end": str(now_ns() + 10**9)}
    r = requests.get(f"{URL}/loki/api/v1/index/stats", params={**rng, "query": f'{{app="explore", run="{RUN}"}}'}, timeout=10)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["streams"] == 2 and s["entries"] == 6 and s["bytes"] > 0, s


@check("Grafana Explore: query_range logs (limit, direction=backward, step in ms)")
def _():
    d = query_range(f'{{app="explore", run="{RUN}"}}', direction="backward", limit=1000)
    assert d["resultType"] == "streams", d
    got = entries(d)
    assert len(got) == 6, got
    for s in d["result"]:
        ts = [int(v[0]) for v in s["values"]]
        assert ts == sorted(ts, reverse=True), s
    assert "summary" in d["stats"], d


@check("Grafana Explore: log-volume query sum by (level) (count_over_time(...[1m]))")
def _():
    d = query_range(f'sum by (level) (count_over_time({{app="explore", run="{RUN}"}}[1m]))')
    assert d["resultType"] == "matrix", d
    total = {s["metric"]["level"]: sum(float(v[1]) for v in s["values"]) for s in d["result"]}
    assert total.get("info", 0) >= 3 and total.get("error", 0) >= 3, d


@check("tail (WebSocket) delivers a pushed line within 1 s")
def _():
    run = uuid.uuid4().hex[:8]
    q = urllib.parse.quote(f'{{app="tail", run="{run}"}}')
    ws_url = URL.replace("http://", "ws://") + f"/loki/api/v1/tail?query={q}"
    with websockets.sync.client.connect(ws_url, open_timeout=5) as ws:
        time.sleep(0.1)
        sent = time.time()
        body = {"streams": [{"stream": {"app": "tail", "run": run}, "values": [[str(now_ns()), "live line"]]}]}
        threading.Thread(target=lambda: requests.post(f"{URL}/loki/api/v1/push", json=body, timeout=10)).start()
        msg = json.loads(ws.recv(timeout=1.0))
        took = time.time() - sent
        assert took < 1.0, took
        assert msg["streams"][0]["values"][0][1] == "live line", msg


failed = [n for n, e in RESULTS if e]
sys.exit(0 if not failed else 1)
