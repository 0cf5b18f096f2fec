-- wrk script for goals 2, 3 and 7: every request carries a distinct token read
-- from a file, and no token is ever sent twice. Refresh tokens are single-use
-- (a second use revokes the family), and introspecting distinct access tokens
-- keeps any cache out of the measurement. When the file runs out, requests go
-- to BENCH_SENTINEL instead and are counted as `exhausted`, so a short pool
-- shows in the result rather than as reuse.
--
-- Goal 7 (DPoP): a line may be `token<TAB>proof`, and the proof goes into a
-- `DPoP` header; DPoP proofs are single-use too (each `jti` is spent). Either
-- part may be empty: a line of a bare TAB sends the prefix alone with no proof,
-- so an unbound load runs the same Lua per request as its bound twin. With
-- BENCH_METHOD=GET the request has no body and the token part is not sent.
-- wrk calls request() once before the load to check it, and never sends that
-- request: the first line is taken but not spent.
--
-- Environment: BENCH_POOL (file, one token a line), BENCH_PATH (target),
-- BENCH_METHOD (POST, the default, or GET), BENCH_PREFIX (form body before the
-- token), BENCH_AUTH (optional Authorization header), BENCH_SENTINEL (GET
-- path), BENCH_THREADS (wrk -t).

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
   tokens, proofs = {}, {}
   local i = 0
   -- Thread k takes lines k, k + n, k + 2n, ...: the threads never share a token.
   for line in io.lines(os.getenv("BENCH_POOL")) do
      if i % nthreads == tid and #line > 0 then
         local n = #tokens + 1
         local tab = line:find("\t", 1, true)
         if tab then
            tokens[n] = line:sub(1, tab - 1)
            local proof = line:sub(tab + 1)
            if #proof > 0 then proofs[n] = proof end
         else
            tokens[n] = line
         end
      end
      i = i + 1
   end
   nexti, used, exhausted = 1, 0, 0
   path = os.getenv("BENCH_PATH")
   get = os.getenv("BENCH_METHOD") == "GET"
   prefix = os.getenv("BENCH_PREFIX") or ""
   headers = get and {} or { ["Content-Type"] = "application/x-www-form-urlencoded" }
   local auth = os.getenv("BENCH_AUTH")
   if auth and auth ~= "" then headers["Authorization"] = auth end
   sentinel = wrk.format("GET", os.getenv("BENCH_SENTINEL"))
end

function request()
   local token = tokens[nexti]
   if token == nil then
      exhausted = exhausted + 1
      return sentinel
   end
   headers["DPoP"] = proofs[nexti]
   tokens[nexti], proofs[nexti] = nil, nil
   nexti = nexti + 1
   used = used + 1
   if get then return wrk.format("GET", path, headers) end
   return wrk.format("POST", path, headers, prefix .. token)
end

function done(summary, latency, requests)
   local used, exhausted = 0, 0
   for _, t in ipairs(threads) do
      used = used + t:get("used")
      exhausted = exhausted + t:get("exhausted")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
      '"used":%d,"exhausted":%d,"p50_us":%d,"p99_us":%d}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      used, exhausted, latency:percentile(50), latency:percentile(99)))
end
