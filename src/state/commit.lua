-- Applies one batch atomically: fence on the partition's stored offset, then
-- the offset, model records, exact counters, seen-sets, trending scores and the
-- analytics outbox entry. ARGV layout is built by RedisStateStore.commit.
local p = ARGV[1]
local field = ARGV[2]
local expected = ARGV[3]
local current = redis.call('HGET', p .. 'off', field)
if (current or '') ~= expected then return 0 end
redis.call('HSET', p .. 'off', field, ARGV[4])

local clock = tonumber(ARGV[5])
if clock > tonumber(redis.call('GET', p .. 'clock') or '0') then
  redis.call('SET', p .. 'clock', ARGV[5])
end
local trendingCap = tonumber(ARGV[6])
local i = 7

-- Variadic commands in chunks: one call per 500 keys, not one per key (a batch
-- writes thousands), and well under Lua's limit on unpacked arguments.
local CHUNK = 1000
local function chunked(command, key, args, option)
  for from = 1, #args, CHUNK do
    local to = math.min(from + CHUNK - 1, #args)
    if option then
      redis.call(command, key, option, unpack(args, from, to))
    elseif key then
      redis.call(command, key, unpack(args, from, to))
    else
      redis.call(command, unpack(args, from, to))
    end
  end
end

local n = tonumber(ARGV[i]); i = i + 1
local users = {}
for _ = 1, n do
  users[#users + 1] = p .. 'u:' .. ARGV[i]
  users[#users + 1] = ARGV[i + 1]
  i = i + 2
end
chunked('MSET', nil, users)

n = tonumber(ARGV[i]); i = i + 1
if n > 0 then
  local seq = redis.call('INCR', p .. 'seq')
  local records, sequence = {}, {}
  for _ = 1, n do
    records[#records + 1] = p .. 'i:' .. ARGV[i]
    records[#records + 1] = ARGV[i + 1]
    sequence[#sequence + 1] = seq
    sequence[#sequence + 1] = ARGV[i]
    i = i + 2
  end
  chunked('MSET', nil, records)
  chunked('ZADD', p .. 'iseq', sequence)
end

n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local key = p .. 'ic:' .. ARGV[i]
  if ARGV[i + 1] ~= '0' then redis.call('HINCRBY', key, 'views', ARGV[i + 1]) end
  if ARGV[i + 2] ~= '0' then redis.call('HINCRBY', key, 'clicks', ARGV[i + 2]) end
  i = i + 3
end

n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('SADD', p .. 'clk:' .. ARGV[i], ARGV[i + 1]); i = i + 2
end

n = tonumber(ARGV[i]); i = i + 1
local scores = {}
for _ = 1, n do
  scores[#scores + 1] = ARGV[i + 1]
  scores[#scores + 1] = ARGV[i]
  i = i + 2
end
chunked('ZADD', p .. 'trend', scores)
if n > 0 and redis.call('ZCARD', p .. 'trend') > trendingCap then
  redis.call('ZREMRANGEBYRANK', p .. 'trend', 0, -(trendingCap + 1))
end

if ARGV[i] ~= '' then
  redis.call('HSET', p .. 'outbox', ARGV[i], ARGV[i + 1])
end
i = i + 2

n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('SET', p .. 'meta:' .. ARGV[i], ARGV[i + 1])
  redis.call('ZADD', p .. 'pub', ARGV[i + 2], ARGV[i]); i = i + 3
end

-- Push counters (src/push/tally.ts): sends and opens per user and in total,
-- openers per campaign, latest activity per user.
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  for k, field in ipairs({ 'sends', 'opens' }) do
    if ARGV[i + k] ~= '0' then
      redis.call('HINCRBY', p .. 'push:stat:' .. ARGV[i], field, ARGV[i + k])
      redis.call('HINCRBY', p .. 'push:stat', field, ARGV[i + k])
    end
  end
  i = i + 3
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('SADD', p .. 'push:open:' .. ARGV[i], ARGV[i + 1]); i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
local active = {}
for _ = 1, n do
  active[#active + 1] = ARGV[i + 1]
  active[#active + 1] = ARGV[i]
  i = i + 2
end
chunked('ZADD', p .. 'push:active', active, 'GT')
return 1
