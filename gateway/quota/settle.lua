-- Settle one admitted request once its real usage is known: exactly once per request id.
--
-- KEYS[1] tokens bucket (hash {level, at}), KEYS[2] leases (sorted set), KEYS[3] month
-- counter, KEYS[4] settled marker for this request id.
-- ARGV: tpm, estimated tokens, actual tokens, request id, marker ttl s
-- Returns 1 when settled now, 0 when this request id was settled before.

local tpm, estimate, actual = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local request_id, marker_ttl = ARGV[4], tonumber(ARGV[5])

if not redis.call('SET', KEYS[4], '1', 'NX', 'EX', marker_ttl) then
  return 0
end
redis.call('ZREM', KEYS[2], request_id)
local difference = actual - estimate
if difference ~= 0 then
  if tpm > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
    -- Refund an overestimate, or charge the excess (the bucket may go into debt).
    local level = tonumber(redis.call('HGET', KEYS[1], 'level'))
    redis.call('HSET', KEYS[1], 'level', math.min(tpm, level - difference))
  end
  if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('INCRBY', KEYS[3], difference)
  end
end
return 1
