-- GET one KV v2 secret (path and token from the environment)
wrk.method = "GET"
wrk.headers["X-Vault-Token"] = os.getenv("BENCH_TOKEN")
wrk.path = "/v1/secret/data/bench/read"
