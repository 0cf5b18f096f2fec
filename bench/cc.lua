-- wrk script for goal 1: the same client_credentials POST on every request.
-- Environment: BENCH_AUTH (the Authorization header), BENCH_BODY (the form body).
-- done() prints one `BENCH {json}` line that signet-bench reads.

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
      '"used":0,"exhausted":0,"p50_us":%d,"p99_us":%d}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
