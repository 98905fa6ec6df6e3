-- Meter one request exactly once: append its usage record to the tenant's ledger and settle
-- its admission in every scope (the estimate is replaced by the engine's real usage and the
-- concurrency lease ends). The marker makes a second call with the same request id, from a
-- retry, another replica or a disk-spool replay, a no-op. All keys share the tenant's slot.
--
-- KEYS[1] marker for this request id, KEYS[2] the tenant's ledger (sorted set, score = end
-- time ms, member = the record's JSON), KEYS[3] the tenant's pending admissions (the entry
-- admission left for this request is removed: it is settled), then per scope i:
-- KEYS[3i+1] tokens bucket, KEYS[3i+2] leases, KEYS[3i+3] month counter (of the month of
-- admission).
-- ARGV: marker ttl s, record JSON, end time ms, estimated tokens, actual tokens, request id,
--       admitted (1 if the request went through admission here), then per scope:
--       tpm, concurrent, monthly (0 = no such limit; what admission charged depends on it).
-- Returns 1 when metered now, 0 when this request id was metered before.

local marker_ttl, record, at = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local estimate, actual, request_id = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local admitted = ARGV[7] == '1'

redis.call('HDEL', KEYS[3], request_id)
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', marker_ttl) then
  return 0
end
redis.call('ZADD', KEYS[2], at, record)

local n = (#KEYS - 3) / 3
for i = 1, n do
  local tokens, leases, month = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local a = 7 + (i - 1) * 3
  local tpm, concurrent, monthly = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if concurrent > 0 then
    redis.call('ZREM', leases, request_id)
  end
  -- What admission reserved (the estimate) is replaced by the truth; a request admitted
  -- elsewhere (a fail-open replica's local limits) is charged in full.
  if tpm > 0 then
    local difference = admitted and (actual - estimate) or actual
    if difference ~= 0 and redis.call('EXISTS', tokens) == 1 then
      -- Refund an overestimate, or charge the excess (the bucket may go into debt).
      local level = tonumber(redis.call('HGET', tokens, 'level'))
      redis.call('HSET', tokens, 'level', math.min(tpm, level - difference))
    end
  end
  -- The month counter holds every scope's real usage (budgets and usage reports read it).
  local charged = (admitted and monthly > 0) and (actual - estimate) or actual
  if charged ~= 0 and redis.call('INCRBY', month, charged) == charged then
    redis.call('EXPIRE', month, 40 * 24 * 3600)
  end
end
return 1
