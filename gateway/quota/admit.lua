-- Atomic admission of one request against a scope's limits (a tenant, or one of its keys).
-- Everything is checked first and recorded only if every limit passes, in one round trip,
-- with Redis's own clock so that all gateway replicas agree on time.
--
-- KEYS[1] requests: sorted set, request id -> admission time (ms); a 60 s sliding log
-- KEYS[2] tokens:   hash {level, at}; a token bucket holding up to tpm, refilled tpm per 60 s
-- KEYS[3] leases:   sorted set, request id -> lease expiry (ms); requests in flight
-- KEYS[4] month:    counter of tokens reserved and used this calendar month
-- ARGV: rpm, tpm, concurrent, monthly (0 = no limit), estimated tokens, request id,
--       lease ms, month key ttl s
-- Returns {allowed (0/1), failed limit name, retry after ms, requests left, tokens left}.

local WINDOW = 60000
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local concurrent, monthly = tonumber(ARGV[3]), tonumber(ARGV[4])
local estimate, request_id = tonumber(ARGV[5]), ARGV[6]
local lease_ms, month_ttl = tonumber(ARGV[7]), tonumber(ARGV[8])

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local requests_left = -1
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - WINDOW)
  local admitted = redis.call('ZCARD', KEYS[1])
  if admitted >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, 'requests', tonumber(oldest[2]) + WINDOW - now, 0, -1}
  end
  requests_left = rpm - admitted - 1
end

local level = tpm
if tpm > 0 then
  local state = redis.call('HMGET', KEYS[2], 'level', 'at')
  if state[1] then
    local refilled = tonumber(state[1]) + (now - tonumber(state[2])) * tpm / WINDOW
    level = math.min(tpm, refilled)
  end
  -- A request larger than the whole bucket could never pass: admit it on a full bucket.
  local needed = math.min(estimate, tpm)
  if level < needed then
    return {0, 'tokens', math.ceil((needed - level) * WINDOW / tpm), requests_left, math.floor(level)}
  end
end

if concurrent > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= concurrent then
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    return {0, 'concurrent', math.max(1, tonumber(first[2]) - now), requests_left, math.floor(level)}
  end
end

if monthly > 0 then
  local used = tonumber(redis.call('GET', KEYS[4]) or '0')
  if used + estimate > monthly then
    return {0, 'monthly', -1, requests_left, math.floor(level)}
  end
end

-- Every limit passed: record the admission in all of them.
if rpm > 0 then
  redis.call('ZADD', KEYS[1], now, request_id)
  redis.call('PEXPIRE', KEYS[1], WINDOW)
end
if tpm > 0 then
  level = level - estimate
  redis.call('HSET', KEYS[2], 'level', level, 'at', now)
  redis.call('PEXPIRE', KEYS[2], WINDOW * 2)
end
if concurrent > 0 then
  redis.call('ZADD', KEYS[3], now + lease_ms, request_id)
  redis.call('PEXPIRE', KEYS[3], lease_ms * 2)
end
if monthly > 0 then
  redis.call('INCRBY', KEYS[4], estimate)
  redis.call('EXPIRE', KEYS[4], month_ttl)
end
return {1, '', 0, requests_left, math.floor(level)}
