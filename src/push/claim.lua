-- Claims push recipients atomically, one user at a time: a user already sent
-- this campaign, or holding a push cap, is skipped; otherwise the user's cap
-- is taken for the window and the user recorded as a recipient of the stage.
-- ARGV: prefix, campaign id, stage, window ms (0 = no cap), user ids...
local p, campaign, stage, window = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local recipients = p .. 'push:rcpt:' .. campaign
local claimed = {}
for i = 5, #ARGV do
  local user = ARGV[i]
  if redis.call('HEXISTS', recipients, user) == 0 then
    local free = window == 0 or redis.call('SET', p .. 'push:cap:' .. user, campaign, 'NX', 'PX', window)
    if free then
      redis.call('HSET', recipients, user, stage)
      claimed[#claimed + 1] = user
    end
  end
end
return claimed
