"""Real OpenTelemetry clients against opshelf's traces capability; each trace is read back
through the Jaeger API. Prints one line per check and, last, "N passed, N failed".

Environment: OTLP_HTTP, OTLP_GRPC, QUERY, ADMIN (host:port each), WORK (a scratch dir),
NODE_DIR (compat/otel with node_modules), PAGE (the test page's URL), PROMETHEUS (0/1).
"""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HTTP, GRPC, QUERY, ADMIN = (os.environ[k] for k in ("OTLP_HTTP", "OTLP_GRPC", "QUERY", "ADMIN"))
WORK = os.environ["WORK"]
RESULTS = []


def check(name):
    def wrap(fn):
        def run():
            try:
                fn()
                RESULTS.append((name, None))
                print(f"ok    {name}", flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                RESULTS.append((name, e))
                print(f"FAIL  {name}: {type(e).__name__}: {e}", flush=True)
        run.__name__ = name
        return run
    return wrap


def get(path, expect=200):
    try:
        with urllib.request.urlopen(f"http://{QUERY}{path}", timeout=10) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    assert status == expect, f"GET {path}: {status} {body[:300]!r}"
    return json.loads(body)


def jaeger_trace(trace_id, want_spans, timeout=10):
    deadline = time.time() + timeout
    while True:
        try:
            t = get(f"/api/traces/{trace_id}")["data"][0]
            if len(t["spans"]) >= want_spans:
                return t
        except AssertionError:
            pass
        if time.time() > deadline:
            raise AssertionError(f"trace {trace_id} not found with {want_spans} spans")
        time.sleep(0.2)


def tag(span, key):
    for t in span["tags"]:
        if t["key"] == key:
            return t["value"]
    return None


def by_name(trace, name):
    for s in trace["spans"]:
        if s["operationName"] == name:
            return s
    raise AssertionError(f"no span {name!r} in {[s['operationName'] for s in trace['spans']]}")


def assert_parent(trace, child, parent):
    c, p = by_name(trace, child), by_name(trace, parent)
    refs = [(r["refType"], r["spanID"]) for r in c["references"]]
    assert ("CHILD_OF", p["spanID"]) in refs, f"{child} -> {parent}: {refs}"


def python_sdk_run(service, exporter):
    """The Python SDK as an app uses it: a root span, a child with an event and an error."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": service, "host.name": "compat"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("compat-python", "1.0")
    with tracer.start_as_current_span("checkout", kind=SpanKind.SERVER, attributes={"http.route": "/checkout", "cart.items": 3}) as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("charge", kind=SpanKind.CLIENT) as child:
            child.add_event("retry", {"attempt": 2})
            try:
                raise ValueError("card declined")
            except ValueError as e:
                child.record_exception(e)
                child.set_status(Status(StatusCode.ERROR, "card declined"))
    assert provider.force_flush(10_000)
    provider.shutdown()
    return trace_id


def verify_python_trace(trace_id, service):
    t = jaeger_trace(trace_id, 2)
    assert t["processes"][by_name(t, "checkout")["processID"]]["serviceName"] == service
    assert_parent(t, "charge", "checkout")
    root, child = by_name(t, "checkout"), by_name(t, "charge")
    assert tag(root, "http.route") == "/checkout", root["tags"]
    assert tag(root, "cart.items") == 3
    assert tag(root, "span.kind") == "server"
    assert tag(child, "error") is True and tag(child, "otel.status_code") == "ERROR", child["tags"]
    events = [f for log in child["logs"] for f in log["fields"] if f["key"] == "event"]
    assert {"retry", "exception"} <= {e["value"] for e in events}, child["logs"]
    exc = [log for log in child["logs"] if any(f["value"] == "exception" for f in log["fields"])][0]
    assert any(f["key"] == "exception.type" and f["value"] == "ValueError" for f in exc["fields"]), exc


def sub(scenario, **env):
    """Run a scenario in a child interpreter, so the exporter reads OTEL_* at import."""
    e = dict(os.environ, **env)
    out = subprocess.run([sys.executable, __file__, "--scenario", scenario], env=e, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def scenario(name):
    if name in ("http", "http-gzip"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        print(python_sdk_run(f"compat-py-{name}", OTLPSpanExporter(endpoint=f"http://{HTTP}/v1/traces")))
    elif name in ("grpc", "grpc-gzip"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        print(python_sdk_run(f"compat-py-{name}", OTLPSpanExporter(endpoint=f"http://{GRPC}", insecure=True)))
    else:
        raise SystemExit(f"unknown scenario {name}")


@check("python-otlp-http-protobuf")
def c_http():
    verify_python_trace(sub("http"), "compat-py-http")


@check("python-otlp-http-protobuf-gzip")
def c_http_gzip():
    verify_python_trace(sub("http-gzip", OTEL_EXPORTER_OTLP_COMPRESSION="gzip"), "compat-py-http-gzip")


@check("python-otlp-grpc")
def c_grpc():
    verify_python_trace(sub("grpc"), "compat-py-grpc")


@check("python-otlp-grpc-gzip")
def c_grpc_gzip():
    verify_python_trace(sub("grpc-gzip", OTEL_EXPORTER_OTLP_COMPRESSION="gzip"), "compat-py-grpc-gzip")


@check("fastapi-instrumented-server-spans")
def c_fastapi():
    import httpx
    import uvicorn
    from fastapi import FastAPI, HTTPException
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "compat-fastapi"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://{HTTP}/v1/traces")))
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int):
        return {"id": item_id}

    @app.get("/broken")
    def broken():
        raise HTTPException(status_code=500, detail="boom")

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/items/42").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/broken").status_code == 500
    finally:
        server.should_exit = True
        th.join(10)
    provider.force_flush(10_000)
    now = int(time.time() * 1e6)
    q = urllib.parse.urlencode({"service": "compat-fastapi", "operation": "GET /items/{item_id}", "start": now - 600_000_000, "end": now + 60_000_000, "limit": 5})
    deadline = time.time() + 10
    while True:
        data = get(f"/api/traces?{q}")["data"]
        if data or time.time() > deadline:
            break
        time.sleep(0.2)
    assert len(data) == 1, data
    server_span = by_name(data[0], "GET /items/{item_id}")
    assert tag(server_span, "http.route") == "/items/{item_id}", server_span["tags"]
    code = tag(server_span, "http.response.status_code") or tag(server_span, "http.status_code")
    assert code == 200, server_span["tags"]
    assert tag(server_span, "span.kind") == "server"
    q = urllib.parse.urlencode({"service": "compat-fastapi", "tags": json.dumps({"error": "true"}), "start": now - 600_000_000, "end": now + 60_000_000})
    err = get(f"/api/traces?{q}")["data"]
    assert len(err) == 1, err
    broken_span = by_name(err[0], "GET /broken")
    code = tag(broken_span, "http.response.status_code") or tag(broken_span, "http.status_code")
    assert code == 500 and tag(broken_span, "otel.status_code") == "ERROR", broken_span["tags"]


@check("node-sdk-otlp-http-json")
def c_node():
    out = subprocess.run(["node", "node_export.mjs", f"http://{HTTP}"], cwd=os.environ["NODE_DIR"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    tid = out.stdout.strip().splitlines()[-1]
    t = jaeger_trace(tid, 2)
    assert_parent(t, "node-child", "node-root")
    root, child = by_name(t, "node-root"), by_name(t, "node-child")
    assert tag(root, "order.count") == 3 and tag(root, "http.route") == "/orders", root["tags"]
    assert tag(child, "error") is True and tag(child, "otel.status_description") == "upstream timeout"
    assert child["logs"][0]["fields"][0] == {"key": "event", "type": "string", "value": "cache-miss"}
    proc = t["processes"][root["processID"]]
    assert proc["serviceName"] == "compat-node"
    assert {"key": "deployment.environment.name", "type": "string", "value": "test"} in proc["tags"], proc


@check("web-sdk-in-chromium-cors")
def c_web():
    out = subprocess.run(["node", "browser.mjs", os.environ["PAGE"], f"http://{HTTP}/v1/traces"], cwd=os.environ["NODE_DIR"], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "v1/traces" not in out.stderr, out.stderr[-2000:]
    tid = out.stdout.strip().splitlines()[-1]
    t = jaeger_trace(tid, 2)
    assert_parent(t, "click-pay", "page-load")
    child = by_name(t, "click-pay")
    assert tag(child, "ui.button") == "pay" and tag(child, "error") is True
    assert child["logs"][0]["fields"][0]["value"] == "validation-failed"
    assert t["processes"][child["processID"]]["serviceName"] == "compat-web"


def grafana_get(path):
    """As Grafana's Go client: the path as built, no re-encoding of what it appended."""
    with urllib.request.urlopen(f"http://{QUERY}{path}", timeout=10) as r:
        return r.status, json.loads(r.read())


@check("grafana-jaeger-datasource-sequence")
def c_grafana():
    # health check: GET /api/services, decodes into {"data": [...]}
    st, body = grafana_get("/api/services")
    assert isinstance(body["data"], list) and "compat-py-http" in body["data"], body
    # operations picker
    st, body = grafana_get("/api/services/compat-py-http/operations")
    assert st == 200 and sorted(body["data"]) == ["charge", "checkout"], body
    # search through api_v3, snake_case names, times appended unencoded (RFC3339Nano, UTC)
    now = time.time()
    tmin = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 3600)) + ".000000001Z"
    tmax = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now + 60)) + "Z"
    q = urllib.parse.urlencode({"query.service_name": "compat-py-http", "query.operation_name": "checkout", "query.attributes": json.dumps({"http.route": "/checkout"}), "query.duration_min": "1us"})
    st, body = grafana_get(f"/api/v3/traces?{q}&query.start_time_min={tmin}&query.start_time_max={tmax}")
    assert body.get("error", {}).get("httpCode", 0) in (0, 200), body
    spans = [s for rs in body["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert {"checkout", "charge"} <= {s["name"] for s in spans}, spans
    tid = spans[0]["traceId"]
    # trace by id with Grafana's millisecond start/end ("trace ID time params")
    ms = int(now * 1000)
    st, body = grafana_get(f"/api/traces/{urllib.parse.quote(tid)}?end={ms + 60_000}&start={ms - 3_600_000}")
    assert st == 200 and body["data"][0]["traceID"] == tid, body
    st, body = grafana_get(f"/api/traces/{tid}")
    assert len(body["data"][0]["spans"]) == 2
    # dependency graph
    st, body = grafana_get(f"/api/dependencies?endTs={ms + 60_000}&lookback=3600000")
    assert st == 200 and isinstance(body["data"], list) and not body["errors"], body
    # no result: a 404 with error.httpCode, which Grafana reports
    try:
        urllib.request.urlopen(f"http://{QUERY}/api/v3/traces?query.service_name=nobody&query.start_time_min={tmin}&query.start_time_max={tmax}", timeout=10)
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404 and json.loads(e.read())["error"]["httpCode"] == 404


@check("span-metrics-on-admin-metrics")
def c_metrics():
    with urllib.request.urlopen(f"http://{ADMIN}/metrics", timeout=10) as r:
        text = r.read().decode()
    assert 'traces_span_metrics_calls_total{service_name="compat-fastapi",span_name="GET /items/{item_id}",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 1' in text, text[:3000]
    assert 'traces_span_metrics_duration_milliseconds_bucket{le="2.0",service_name="compat-py-http",span_name="checkout",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"}' in text
    assert 'traces_span_metrics_exceptions_total{service_name="compat-py-http",exception_type="ValueError"} 1' in text
    path = os.path.join(WORK, "metrics.txt")
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--scenario":
        scenario(sys.argv[2])
        sys.exit(0)
    only = sys.argv[1:]
    for fn in [c_http, c_http_gzip, c_grpc, c_grpc_gzip, c_fastapi, c_node, c_web, c_grafana, c_metrics]:
        if not only or fn.__name__ in only:
            fn()
    failed = [n for n, e in RESULTS if e]
    with open(os.path.join(WORK, "failed.txt"), "w") as f:
        f.write("\n".join(failed))
    print(f"{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
