-- Applies one batch atomically: fence on the partition's stored offset, then
-- the offset, user records (with their clicked items) and item records (with
-- their exact counters), trending scores and the analytics outbox entry. ARGV layout is built by
-- RedisStateStore.commit.
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
-- Clicked items kept per user, the latest.
local clickedMax = tonumber(ARGV[7])
-- Keys of users and items not written for this long expire, ms; 0 keeps them.
local userTtl, itemTtl = tonumber(ARGV[8]), tonumber(ARGV[9])
-- Length of the factor vectors in the records.
local dims = tonumber(ARGV[10])
-- Wall time (ms) the batch's state was read at; the batch's items are judged expired by it.
local readAt = tonumber(ARGV[11])
local i = 12

-- Variadic commands in chunks of 1,000 arguments, not one call per key (a batch
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

-- Packed arguments (src/state/packed.ts): ids(blob), defined there and put before
-- this script, lists the ids of a packed argument.
-- Users: ids, records, and per user the number of items it clicked in the batch (uint32), the
-- bytes they take (uint32), and those items, encoded as below. Then per user the value the
-- batch read (uint32 length, then its bytes; 0: none was stored; NOT_READ: not given) and, when
-- given, what follows the record once the batch's items are merged in (uint32 length, bytes),
-- computed by the engine (src/state/clicked-merge.ts) by the rule of `merged` below. While the
-- stored value is still the one read, that is written as it is; else the script merges.
local userIds, userData, addedCounts, addedLengths, addedData = ids(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
local readData, tails = ARGV[i + 5], ARGV[i + 6]
i = i + 7
local NOT_READ = 4294967295
local USER_BYTES = 16 + 4 * dims

-- A user's clicked items live in its value, after the record: a format byte (1), the record's
-- dimension (uint16), their number (uint32), their bytes (uint32), then each item newest first
-- (by click time; on a tie, the higher id by its bytes) as its latest click time (double), its
-- id's length (uint16) and its id. A value that is the
-- bare record is of the earlier layout, which kept the items in the zset P+cl:<user>.
local CLICKED_FORMAT = 1
-- Past the cap, a list is cut back to it only once it holds SLACK more: cutting it means
-- walking it from the start, which a list at its cap would otherwise cost every batch.
local SLACK = math.max(16, math.floor(clickedMax / 8))

-- true when entry a (time, id) ranks before entry b: the later click, or on a tie the higher id
-- by its bytes (Lua's own string order follows the server's locale, not the bytes).
local function before(at, aid, bt, bid)
  if at ~= bt then return at > bt end
  for n = 1, math.min(#aid, #bid) do
    local x, y = string.byte(aid, n), string.byte(bid, n)
    if x ~= y then return x > y end
  end
  return #aid > #bid
end

local function entry(ts, id)
  return struct.pack('<dH', ts, #id) .. id
end

-- All entries of an encoded list, in order, as { time, id, position, end }.
local function parsed(list)
  local out, pos = {}, 1
  while pos <= #list do
    local ts, len, at = struct.unpack('<dH', list, pos)
    out[#out + 1] = { ts, string.sub(list, at, at + len - 1), pos, at + len - 1 }
    pos = at + len
  end
  return out
end

-- The first `cap` entries of a list of `count`.
local function cut(list, count, cap)
  if count <= cap then return list, count end
  local pos = 1
  for _ = 1, cap do
    local _, len, at = struct.unpack('<dH', list, pos)
    pos = at + len
  end
  return string.sub(list, 1, pos - 1), cap
end

-- Every entry of a list by id.
local function byId(list)
  local out = {}
  for _, e in ipairs(parsed(list)) do out[e[2]] = e end
  return out
end

-- A list of `count` entries with a batch's `addedCount` merged in (they are in the list's
-- order, and the cap was applied to them): the later time of an item clicked again, newest first.
-- An item new to the list is told by a plain search of its length and id finding nothing; at
-- the first match the list is indexed by id once, so ids that hold other ids' bytes cost no
-- more than one walk.
local function merged(list, count, added, addedCount)
  if addedCount == 0 then return list, count end
  if count == 0 then return added, addedCount end
  local new = parsed(added)
  local index
  local again = {}
  local ordered = true
  for _, e in ipairs(new) do
    local stored
    if index then
      stored = index[e[2]]
    elseif string.find(list, struct.pack('<H', #e[2]) .. e[2], 9, true) then
      index = byId(list)
      stored = index[e[2]]
    end
    if stored then
      again[#again + 1] = stored
      if stored[1] > e[1] then e[1], ordered = stored[1], false end
    end
  end
  if #again > 0 then
    -- The stored entries of items clicked again leave the list, which keeps its order.
    table.sort(again, function(a, b) return a[3] < b[3] end)
    local parts, at = {}, 1
    for _, e in ipairs(again) do
      parts[#parts + 1] = string.sub(list, at, e[3] - 1)
      at = e[4] + 1
    end
    parts[#parts + 1] = string.sub(list, at)
    list, count = table.concat(parts), count - #again
  end
  local oldest = new[#new]
  if ordered and count > 0 then
    local ts, len, at = struct.unpack('<dH', list, 1)
    ordered = before(oldest[1], oldest[2], ts, string.sub(list, at, at + len - 1))
  end
  if ordered then
    list, count = added .. list, count + addedCount
    -- (With no item found again, `added` is as it came; with one, only the list shrank.)
  else
    -- Late clicks: merged in order, the rare case.
    local all = parsed(list)
    for _, e in ipairs(new) do all[#all + 1] = e end
    table.sort(all, function(a, b) return before(a[1], a[2], b[1], b[2]) end)
    local parts = {}
    for n, e in ipairs(all) do parts[n] = entry(e[1], e[2]) end
    list, count = table.concat(parts), #all
  end
  if count > clickedMax + SLACK then return cut(list, count, clickedMax) end
  return list, count
end

-- The clicked items stored with a user: their number and their entries. Of the earlier layout,
-- they are read from its zset, which `folded` collects to be deleted.
local function storedClicked(value, id, folded)
  if value and #value >= USER_BYTES + 11 and string.byte(value, USER_BYTES + 1) == CLICKED_FORMAT
    and struct.unpack('<H', value, USER_BYTES + 2) == dims
    and struct.unpack('<I4', value, USER_BYTES + 8) == #value - USER_BYTES - 11 then
    return struct.unpack('<I4', value, USER_BYTES + 4), string.sub(value, USER_BYTES + 12)
  end
  if value and #value == USER_BYTES then
    local key = p .. 'cl:' .. id
    local flat = redis.call('ZREVRANGE', key, 0, clickedMax - 1, 'WITHSCORES')
    local parts = {}
    for n = 1, #flat, 2 do parts[#parts + 1] = entry(tonumber(flat[n + 1]), flat[n]) end
    folded[#folded + 1] = key
    return #parts, table.concat(parts)
  end
  -- None, or a record of another dimension: the user starts again from nothing.
  return 0, ''
end

local userKeys = {}
for k, id in ipairs(userIds) do userKeys[k] = p .. 'u:' .. id end
local stored = {}
for from = 1, #userKeys, CHUNK do
  local values = redis.call('MGET', unpack(userKeys, from, math.min(from + CHUNK - 1, #userKeys)))
  for n = 1, #values do stored[from + n - 1] = values[n] end
end
local users, folded, addedAt, readPos, tailAt = {}, {}, 1, 1, 1
-- Users whose stored value was no longer the one the batch read.
local changedSinceRead = 0
for k, id in ipairs(userIds) do
  local addedLength = struct.unpack('<I4', addedLengths, 4 * k - 3)
  local record = string.sub(userData, (k - 1) * USER_BYTES + 1, k * USER_BYTES)
  local value
  local readLength = struct.unpack('<I4', readData, readPos)
  readPos = readPos + 4
  if readLength ~= NOT_READ then
    local read = false
    if readLength > 0 then
      read = string.sub(readData, readPos, readPos + readLength - 1)
      readPos = readPos + readLength
    end
    local tailLength = struct.unpack('<I4', tails, tailAt)
    if stored[k] == read then
      value = record .. string.sub(tails, tailAt + 4, tailAt + 3 + tailLength)
    else
      changedSinceRead = changedSinceRead + 1
    end
    tailAt = tailAt + 4 + tailLength
  end
  if not value then
    local addedCount = struct.unpack('<I4', addedCounts, 4 * k - 3)
    local added = string.sub(addedData, addedAt, addedAt + addedLength - 1)
    local count, list = storedClicked(stored[k], id, folded)
    local ok, mergedList, mergedCount = pcall(merged, list, count, added, addedCount)
    if ok then
      list, count = mergedList, mergedCount
    else
      -- Stored items that do not parse (the value was written by something else): the user's
      -- clicked items start again from the batch's, and the rest of the batch is written.
      redis.log(redis.LOG_WARNING, 'freshet: clicked items of ' .. userKeys[k] .. ' unreadable, started again')
      list, count = added, addedCount
    end
    value = record .. struct.pack('<BHI4I4', CLICKED_FORMAT, dims, count, #list) .. list
  end
  addedAt = addedAt + addedLength
  users[#users + 1] = userKeys[k]
  users[#users + 1] = value
end
-- User values, in pairs key, value: each one's expiry restarts when it is written.
if userTtl <= 0 then
  chunked('MSET', nil, users)
else
  for k = 1, #users, 2 do redis.call('SET', users[k], users[k + 1], 'PX', userTtl) end
end
chunked('UNLINK', nil, folded)
local function touch(key, ttl)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

-- Items (src/model/item-merge.ts): 'r' replaces the record; 'm' and 'c' (clicked in
-- the batch) write it if the stored record is still the one the batch read ('+': the
-- batch created the item, so none should be stored). Otherwise another batch changed
-- the item meanwhile: the learned bias and vector are averaged with the stored ones,
-- and the views and clicks the batch added are added to the stored counters, all aged
-- to the later time. Whatever the mode, the stored record is followed by a format byte (1)
-- and the item's exact view and click totals (two doubles), which the script adds the
-- batch's to (src/model/records.ts, ITEM_TOTALS_BYTES).
local itemRate, trendRate = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
local itemIds, modes, itemData = ids(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
i = i + 5
local RECORD = '<dddd' .. string.rep('f', dims)
local ITEM_BYTES = 32 + 4 * dims
-- A stored record: the record, then the format byte and the exact totals. Its length is odd,
-- so no bare record of any dimension has it.
local STORED_BYTES = ITEM_BYTES + 17
local function aged(rate, value, from, to)
  if to > from then return value * math.exp(-rate * (to - from)) end
  return value
end
local function concurrent(stored, record, addedViews, addedClicks)
  local s = { struct.unpack(RECORD, stored) }
  local r = { struct.unpack(RECORD, record) }
  local ts = math.max(s[1], r[1])
  s[2] = (aged(itemRate, s[2], s[1], ts) + aged(itemRate, r[2], r[1], ts)) / 2
  s[3] = aged(trendRate, s[3], s[1], ts) + aged(trendRate, addedViews, r[1], ts)
  s[4] = aged(trendRate, s[4], s[1], ts) + aged(trendRate, addedClicks, r[1], ts)
  s[1] = ts
  for f = 5, 4 + dims do s[f] = (s[f] + r[f]) / 2 end
  return struct.pack(RECORD, unpack(s, 1, 4 + dims))
end

local scores = {}
if #itemIds > 0 then
  -- The change sequence is the write time in ms (kept increasing): index readers poll
  -- changes after a sequence, and it also tells when an item was last written.
  local seq = math.max(tonumber(redis.call('GET', p .. 'seq') or '0') + 1, nowMs())
  redis.call('SET', p .. 'seq', seq)
  -- The stored records, read with one MGET per 1,000 items rather than a GET each.
  local keys, stored = {}, {}
  for k, id in ipairs(itemIds) do keys[k] = p .. 'i:' .. id end
  for from = 1, #keys, CHUNK do
    local values = redis.call('MGET', unpack(keys, from, math.min(from + CHUNK - 1, #keys)))
    for n = 1, #values do stored[from + n - 1] = values[n] end
  end
  -- An item not written for itemTtl before the batch was read has expired even if no sweep
  -- removed it yet: its keys are deleted first, so that it starts again from nothing. The
  -- engine's read, by the same time, left it out, so only the items the batch created ('+')
  -- or replaced ('r') can be such: an item it read stays unexpired, as write times only grow.
  local expiredBefore = (readAt or seq) - itemTtl
  local candidates, expired, expiredIds = {}, {}, {}
  if itemTtl > 0 then
    for k = 1, #itemIds do
      if string.sub(modes, 2 * k, 2 * k) == '+' or string.sub(modes, 2 * k - 1, 2 * k - 1) == 'r' then
        candidates[#candidates + 1] = k
      end
    end
  end
  for from = 1, #candidates, CHUNK do
    local chunk = {}
    for n = from, math.min(from + CHUNK - 1, #candidates) do chunk[#chunk + 1] = itemIds[candidates[n]] end
    local written = redis.call('ZMSCORE', p .. 'iseq', unpack(chunk))
    for n = 1, #chunk do
      if written[n] and tonumber(written[n]) < expiredBefore then
        local k = candidates[from + n - 1]
        stored[k] = false
        expired[#expired + 1] = keys[k]
        -- (ic: holds the totals of a record written by an earlier version.)
        expired[#expired + 1] = p .. 'ic:' .. itemIds[k]
        expiredIds[#expiredIds + 1] = itemIds[k]
      end
    end
  end
  chunked('UNLINK', nil, expired)
  chunked('ZREM', p .. 'trend', expiredIds)
  local records, sequence, folded = {}, {}, {}
  local at = 1
  for k, id in ipairs(itemIds) do
    local mode, created = string.sub(modes, 2 * k - 1, 2 * k - 1), string.sub(modes, 2 * k, 2 * k) == '+'
    local record = string.sub(itemData, at, at + ITEM_BYTES - 1)
    local countedViews, countedClicks = struct.unpack('<dd', itemData, at + ITEM_BYTES)
    at = at + ITEM_BYTES + 16
    local current = stored[k]
    local views, clicks = 0, 0
    if current and #current == STORED_BYTES and string.byte(current, ITEM_BYTES + 1) == 1 then
      views, clicks = struct.unpack('<dd', current, ITEM_BYTES + 2)
    elseif current and #current == ITEM_BYTES then
      -- Written by a version that kept the totals in a hash of their own: moved into the record.
      local hash = redis.call('HMGET', p .. 'ic:' .. id, 'views', 'clicks')
      views, clicks = tonumber(hash[1] or '0'), tonumber(hash[2] or '0')
      folded[#folded + 1] = p .. 'ic:' .. id
    elseif current then
      -- Of another dimension or format: the item starts again from nothing, and so do its totals.
      current = false
      folded[#folded + 1] = p .. 'ic:' .. id
    end
    if mode ~= 'r' then
      local base = string.sub(itemData, at, at + 31)
      local addedViews, addedClicks = struct.unpack('<dd', itemData, at + 32)
      at = at + 48
      if current and (created or string.sub(current, 1, 32) ~= base) then
        record = concurrent(current, record, addedViews, addedClicks)
      end
    end
    records[#records + 1] = keys[k]
    records[#records + 1] = record .. struct.pack('<Bdd', 1, views + countedViews, clicks + countedClicks)
    sequence[#sequence + 1] = seq
    sequence[#sequence + 1] = id
    -- Decay alone leaves ln(clicks) + rate * ts unchanged: only clicked items ('c') move.
    if mode ~= 'm' then
      local ts, _, _, clicks = struct.unpack('<dddd', record)
      if clicks > 0 then
        scores[#scores + 1] = string.format('%.17g', math.log(clicks) + trendRate * ts)
        scores[#scores + 1] = id
      end
    end
  end
  -- Item keys carry no expiry of their own: a key each would cost a SET with PX per item and
  -- batch. The change sequence, which holds every item's last write time, tells which items
  -- expired; the sweep below removes them.
  chunked('MSET', nil, records)
  chunked('UNLINK', nil, folded)
  chunked('ZADD', p .. 'iseq', sequence)
  -- Items not written for itemTtl are swept, at most SWEEP_LIMIT a commit, oldest first
  -- (src/state/sweep.ts; an idle engine runs the same sweep on a timer).
  if itemTtl > 0 then sweepItems(p, seq - itemTtl, SWEEP_LIMIT) end
end

chunked('ZADD', p .. 'trend', scores)
if #scores > 0 and redis.call('ZCARD', p .. 'trend') > trendingCap then
  redis.call('ZREMRANGEBYRANK', p .. 'trend', 0, -(trendingCap + 1))
end

if ARGV[i] ~= '' then
  redis.call('HSET', p .. 'outbox', ARGV[i], ARGV[i + 1])
end
i = i + 2

local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('SET', p .. 'meta:' .. ARGV[i], ARGV[i + 1])
  touch(p .. 'meta:' .. ARGV[i], itemTtl)
  redis.call('ZADD', p .. 'pub', ARGV[i + 2], ARGV[i]); i = i + 3
end
-- Content whose record has expired leaves the publication index, oldest first.
if n > 0 and itemTtl > 0 then
  for _, id in ipairs(redis.call('ZRANGE', p .. 'pub', 0, 99)) do
    if redis.call('EXISTS', p .. 'meta:' .. id) == 0 then redis.call('ZREM', p .. 'pub', id) end
  end
end

-- Push counters (src/push/tally.ts): sends and opens per user and in total,
-- openers per campaign, latest activity per user.
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  for k, field in ipairs({ 'sends', 'opens' }) do
    if ARGV[i + k] ~= '0' then
      redis.call('HINCRBY', p .. 'push:stat:' .. ARGV[i], field, ARGV[i + k])
      touch(p .. 'push:stat:' .. ARGV[i], userTtl)
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
-- Users inactive for userTtl (in event time, as the entries are) leave it, as their keys expire:
-- the push loop trims it by its own horizon, but an engine without that loop would keep them.
-- The batch's time counts no later than Redis's clock: one event dated ahead would drop users
-- active now.
if #active > 0 and userTtl > 0 then
  local upTo = math.min(clock, nowMs())
  redis.call('ZREMRANGEBYSCORE', p .. 'push:active', '-inf', '(' .. (upTo - userTtl))
end
-- Applied, and how many users were merged here because their value changed after the read.
return { 1, changedSinceRead }
