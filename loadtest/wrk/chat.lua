-- wrk script of the lean-path benchmarks (loadtest/lean_overhead.py): POSTs one chat body,
-- checks streamed answers, and prints one JSON line of results.
--
--   wrk -t1 -c16 -d5s --timeout 30s -s loadtest/wrk/chat.lua URL -- BODY_FILE KEY EVENTS
--
-- BODY_FILE: the request body (JSON); KEY: the bearer key ("-" for none); EVENTS: the number
-- of SSE events a streamed answer must carry at least ("data: " lines, [DONE] included), 0
-- for plain answers (then only the status is looked at). An answer that is not 200, or a
-- stream with fewer events or without [DONE], is "bad"; the first statuses are listed.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local body = file:read("*a")
  file:close()
  local headers = { ["Content-Type"] = "application/json" }
  if args[2] and args[2] ~= "-" then
    headers["Authorization"] = "Bearer " .. args[2]
  end
  expected = tonumber(args[3]) or 0
  bad, events, statuses, sample = 0, 0, "", ""
  prepared = wrk.format("POST", wrk.path, headers, body)
  if expected > 0 then
    response = check_stream
  else
    response = check_status
  end
end

function request()
  return prepared
end

function note_bad(status, body)
  bad = bad + 1
  if status ~= 200 and #statuses < 200 then statuses = statuses .. status .. " " end
  if sample == "" and body then
    -- the first bad answer's start, made safe for a JSON string
    sample = string.sub(body, 1, 160):gsub('[%c"\\]', " ")
  end
end

function check_status(status, headers, body)
  if status ~= 200 then note_bad(status, body) end
end

function check_stream(status, headers, body)
  local count, at = 0, 1
  while true do
    local found = string.find(body, "data: ", at, true)
    if not found then break end
    count, at = count + 1, found + 6
  end
  events = events + count
  if status ~= 200 or count < expected or not string.find(body, "data: [DONE]", 1, true) then
    note_bad(status, body)
  end
end

function done(summary, latency, requests)
  local bad_total, events_total, seen, first = 0, 0, "", ""
  for _, thread in ipairs(threads) do
    bad_total = bad_total + (thread:get("bad") or 0)
    events_total = events_total + (thread:get("events") or 0)
    seen = seen .. (thread:get("statuses") or "")
    if first == "" then first = thread:get("sample") or "" end
  end
  local e = summary.errors
  io.write(string.format(
    '\nWRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"bad":%d,' ..
    '"events":%d,"bad_statuses":"%s","bad_sample":"%s"}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout, bad_total, events_total,
    seen, first))
end
