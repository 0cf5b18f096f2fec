-- wrk script for goals 5 and 6: the same request on every call, to the URL's path.
-- Environment: BENCH_AUTH (the credential header's value; unset or empty for
-- none) and BENCH_AUTH_HEADER (its name, default Authorization; X-Vault-Token
-- for the Vault-compatible API). Always GET: wrk checks each request with its
-- HTTP parser, which refuses Vault's LIST verb, so lists use `?list=true`.
-- done() prints one `BENCH {json}` line that signet-bench reads. There is no
-- response() callback: it would run Lua on every answer and slow wrk, which
-- shares the cores with signetd, more on a fast baseline than on a slow one.

wrk.method = "GET"
local header = os.getenv("BENCH_AUTH_HEADER")
if not header or header == "" then header = "Authorization" end
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers[header] = auth end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
      '"used":0,"exhausted":0,"p50_us":%d,"p99_us":%d}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
