-- Saves a campaign record if the stored version is still the one the writer
-- read, keeps the set of live campaigns, and marks the campaign for the
-- analytics store. ARGV: prefix, id, expected version, record JSON, live (1|0)
local p, id, expected = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = p .. 'push:c:' .. id
local stored = redis.call('GET', key)
if not stored or cjson.decode(stored).version ~= expected then return 0 end
redis.call('SET', key, ARGV[4])
if ARGV[5] == '1' then
  redis.call('SADD', p .. 'push:live', id)
else
  redis.call('SREM', p .. 'push:live', id)
end
redis.call('ZADD', p .. 'push:dirty', expected + 1, id)
return 1
