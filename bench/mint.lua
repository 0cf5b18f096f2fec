-- wrk script that mints the access-token pool for goal 3: the client_credentials
-- POST of cc.lua, writing the access token of every 200 answer to BENCH_OUT
-- (one a line). Run it with -t1 only: every thread would open the same file.
-- Environment: BENCH_AUTH, BENCH_BODY, BENCH_OUT.

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")

function init(args)
   out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
   minted = 0
end

function response(status, headers, body)
   if status == 200 then
      local token = body:match('"access_token":"([^"]+)"')
      if token then
         out:write(token, "\n")
         minted = minted + 1
         if minted % 1000 == 0 then out:flush() end
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
      '"used":0,"exhausted":0,"p50_us":%d,"p99_us":%d}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
