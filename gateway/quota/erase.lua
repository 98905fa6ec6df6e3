-- Replace one ledger record by its copy without the data subject's reference (GDPR Art. 17),
-- at the same score (end time ms), so the ledger keeps its order. Only if the old record is
-- still there: ZSCAN can return a record twice, and another erasure may have rewritten it.
--
-- KEYS[1] the tenant's ledger (sorted set). ARGV[1] the record's JSON as stored, ARGV[2] the
-- rewritten JSON. Returns 1 when replaced, 0 when the old record was no longer there.

local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], score, ARGV[2])
return 1
