-- Atomic admission of one request against the limits of all its scopes (the tenant, and the
-- key when the key has limits of its own). Every limit of every scope is checked first and
-- recorded only if all pass, in one round trip, with Redis's own clock so that all gateway
-- replicas agree on time. All keys of one tenant share a hash slot ({tenant}).
--
-- Per scope i (1-based), four keys from KEYS[4i-3]:
--   requests: sorted set, request id -> admission time (ms); an exact 60 s sliding log
--   tokens:   hash {level, at}; a token bucket holding up to tpm, refilled tpm per 60 s
--   leases:   sorted set, request id -> lease expiry (ms); requests in flight
--   month:    counter of tokens reserved and used this calendar month (reserved here only
--             where the scope has a monthly budget; metering adds the real usage always)
-- KEYS[4n+1]: the tenant's pending admissions (hash, request id -> what admission reserved),
--   recorded when anything was reserved that metering must settle (a token charge, a lease,
--   a monthly reservation): if this replica dies before metering, another settles it.
-- ARGV: scope count, estimated tokens, request id, lease ms, month key ttl s, then per scope
--       rpm, tpm, concurrent, monthly (0 = no limit), then the pending entry (JSON).
-- Returns {allowed 0/1, failed limit name, failed scope index (0 none), retry after ms (-1:
-- not this month), then per scope: requests left, requests reset ms, tokens left, tokens
-- reset ms (-1 where the scope has no such limit)}.

local WINDOW = 60000
local n, estimate, request_id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local lease_ms, month_ttl = tonumber(ARGV[4]), tonumber(ARGV[5])

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local scopes = {}
for i = 1, n do
  local a = 5 + (i - 1) * 4
  scopes[i] = {
    req = KEYS[i * 4 - 3], tok = KEYS[i * 4 - 2], lease = KEYS[i * 4 - 1], month = KEYS[i * 4],
    rpm = tonumber(ARGV[a + 1]), tpm = tonumber(ARGV[a + 2]),
    concurrent = tonumber(ARGV[a + 3]), monthly = tonumber(ARGV[a + 4]),
  }
end

local function refuse(name, index, retry_ms)
  local out = {0, name, index, retry_ms}
  for i = 1, n do
    local s = scopes[i]
    table.insert(out, s.requests_left or -1)
    table.insert(out, s.requests_reset or -1)
    -- Tokens left may be negative (a bucket in debt): "unknown" is a number no bucket reaches.
    table.insert(out, s.level and math.floor(s.level) or -1000000000000000)
    table.insert(out, s.tokens_reset or -1)
  end
  return out
end

-- Check every limit of every scope; record nothing yet.
for i = 1, n do
  local s = scopes[i]
  if s.rpm > 0 then
    redis.call('ZREMRANGEBYSCORE', s.req, '-inf', now - WINDOW)
    local admitted = redis.call('ZCARD', s.req)
    if admitted >= s.rpm then
      local oldest = redis.call('ZRANGE', s.req, 0, 0, 'WITHSCORES')
      s.requests_left, s.requests_reset = 0, WINDOW
      return refuse('requests', i, tonumber(oldest[2]) + WINDOW - now)
    end
    s.requests_left = s.rpm - admitted - 1
    s.requests_reset = WINDOW  -- after this admission, the log is full again in 60 s
  end
  if s.tpm > 0 then
    s.level = s.tpm
    local state = redis.call('HMGET', s.tok, 'level', 'at')
    if state[1] then
      s.level = math.min(s.tpm, tonumber(state[1]) + (now - tonumber(state[2])) * s.tpm / WINDOW)
    end
    -- A request larger than the whole bucket could never pass: admit it on a full bucket.
    local needed = math.min(estimate, s.tpm)
    if s.level < needed then
      s.tokens_reset = math.ceil((s.tpm - s.level) * WINDOW / s.tpm)
      return refuse('tokens', i, math.ceil((needed - s.level) * WINDOW / s.tpm))
    end
  end
  -- Expired leases (a replica died mid-request) matter only at the limit.
  if s.concurrent > 0 and redis.call('ZCARD', s.lease) >= s.concurrent then
    redis.call('ZREMRANGEBYSCORE', s.lease, '-inf', now)
    if redis.call('ZCARD', s.lease) >= s.concurrent then
      local first = redis.call('ZRANGE', s.lease, 0, 0, 'WITHSCORES')
      return refuse('concurrent', i, math.max(1, tonumber(first[2]) - now))
    end
  end
  if s.monthly > 0 then
    local used = tonumber(redis.call('GET', s.month) or '0')
    if used + estimate > s.monthly then
      return refuse('monthly', i, -1)
    end
    s.month_used = used
  end
end

-- Every limit passed: record the admission in all of them.
local reserved = false
for i = 1, n do
  local s = scopes[i]
  if s.rpm > 0 then
    redis.call('ZADD', s.req, now, request_id)
    redis.call('PEXPIRE', s.req, WINDOW)
  end
  if s.tpm > 0 then
    s.level = s.level - estimate
    redis.call('HSET', s.tok, 'level', s.level, 'at', now)
    redis.call('PEXPIRE', s.tok, WINDOW * 2)
    s.tokens_reset = math.ceil((s.tpm - s.level) * WINDOW / s.tpm)
  end
  if s.concurrent > 0 then
    redis.call('ZADD', s.lease, now + lease_ms, request_id)
    redis.call('PEXPIRE', s.lease, lease_ms * 2)
    reserved = true
  end
  if s.monthly > 0 and estimate > 0 then
    redis.call('INCRBY', s.month, estimate)
    if s.month_used == 0 then
      redis.call('EXPIRE', s.month, month_ttl)
    end
    reserved = true
  end
  if s.tpm > 0 and estimate > 0 then
    reserved = true
  end
end
if reserved then
  redis.call('HSET', KEYS[n * 4 + 1], request_id, ARGV[5 + n * 4 + 1])
end
local out = refuse('', 0, 0)
out[1] = 1
return out
