-- Placeholders for one request's values, atomically (two replicas never conflict).
-- KEYS[1]  the conversation's hash
-- KEYS[2]  optional: the data subject's set of conversation keys (same tenant, same slot)
-- ARGV[1]  TTL in seconds (refreshed on every call)
-- ARGV[2..] triples: index (HMAC of the value's identity), entity type, ciphertext
-- Fields: p:<index> -> placeholder, v:<index> -> ciphertext, n:<entity> -> last number.
-- A known value keeps its placeholder and its first ciphertext (the first surface form);
-- a new one takes the next number of its entity type. Returns one placeholder per triple.
local key = KEYS[1]
local out = {}
for i = 2, #ARGV, 3 do
  local index, entity = ARGV[i], ARGV[i + 1]
  local name = redis.call('HGET', key, 'p:' .. index)
  if not name then
    local number = redis.call('HINCRBY', key, 'n:' .. entity, 1)
    name = '<' .. entity .. '_' .. number .. '>'
    redis.call('HSET', key, 'p:' .. index, name, 'v:' .. index, ARGV[i + 2])
  end
  out[#out + 1] = name
end
redis.call('EXPIRE', key, ARGV[1])
if KEYS[2] then
  redis.call('SADD', KEYS[2], key)
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return out
