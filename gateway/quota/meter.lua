-- Meter one request exactly once: hand its usage record to the durable ledger (a bounded
-- stream, shipped to PostgreSQL by gateway/ledger/shipper.py) and settle its admission in
-- every scope (the estimate is replaced by the engine's real usage and the concurrency lease
-- ends). The marker makes a second call with the same request id, from a retry, another
-- replica or a disk-spool replay, a no-op while it lives (store.marker_ttl_minutes); beyond
-- it the durable ledger is the authority (gateway/ledger/__init__.py). All keys share the
-- tenant's slot.
--
-- KEYS[1] marker for this request id ("1", or "o" when an orphan settlement set it),
-- KEYS[2] the tenant's hand-off stream, KEYS[3] the tenant's pending admissions (the entry
-- admission left for this request is removed: it is settled), then per scope i:
-- KEYS[3i+1] tokens bucket, KEYS[3i+2] leases, KEYS[3i+3] month counter (of the month of
-- admission).
-- ARGV: marker ttl s, record JSON, the stream's cap (unshipped entries), estimated tokens,
--       actual tokens, request id, admitted (1 if the request went through admission here),
--       orphan (1 if this is an orphan settlement), then per scope:
--       tpm, concurrent, monthly (0 = no such limit; what admission charged depends on it).
-- Returns 1 when metered now, 0 when this request id was metered before, -1 when the
-- hand-off stream is full: nothing was settled or written, the caller spools the record.

local marker_ttl, record, cap = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local estimate, actual, request_id = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local admitted, orphan = ARGV[7] == '1', ARGV[8] == '1'

local prior = redis.call('GET', KEYS[1])
-- A real record supersedes an orphan settlement of its id (its replica was only thought
-- dead); anything else seen before is a repeat.
if prior == '1' or (prior and orphan) then
  redis.call('HDEL', KEYS[3], request_id)
  return 0
end
if redis.call('XLEN', KEYS[2]) >= cap then
  return -1
end
redis.call('HDEL', KEYS[3], request_id)
redis.call('SET', KEYS[1], orphan and 'o' or '1', 'EX', marker_ttl)
redis.call('XADD', KEYS[2], '*', 'r', record)
if prior then
  -- The orphan settlement refunded the estimate and ended the leases: charge in full.
  admitted = false
end

local n = (#KEYS - 3) / 3
for i = 1, n do
  local tokens, leases, month = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local a = 8 + (i - 1) * 3
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
