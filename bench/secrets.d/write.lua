-- PUT a new version of one of 100 KV v2 secrets per request
local counter = 0
local token = os.getenv("BENCH_TOKEN")
request = function()
  counter = counter + 1
  local body = '{"data":{"password":"p-' .. counter .. '","user":"bench"}}'
  return wrk.format("PUT", "/v1/secret/data/bench/w" .. (counter % 100),
    { ["X-Vault-Token"] = token, ["Content-Type"] = "application/json" }, body)
end
