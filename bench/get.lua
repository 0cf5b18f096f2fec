-- wrk script for goal 5: the same GET on every request, to the URL's path.
-- Environment: BENCH_AUTH (the Authorization header; unset or empty for none).
-- done() prints one `BENCH {json}` line that signet-bench reads. There is no
-- response() callback: it would run Lua on every answer and slow wrk, which
-- shares the cores with signetd, more on a fast baseline than on a slow one.

wrk.method = "GET"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
      '"used":0,"exhausted":0,"p50_us":%d,"p99_us":%d}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
