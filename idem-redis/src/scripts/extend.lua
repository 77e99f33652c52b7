-- extend: move the lease end of the claim KEYS[1] holds under ARGV[1].
-- ARGV: token, until_ms. Reply: 1 extended, 0 the lease is lost.
local key = KEYS[1]
local f = redis.call('HMGET', key, 'status', 'lease_token')
if f[1] == 'INPROGRESS' and f[2] == ARGV[1] then
    redis.call('HSET', key, 'in_progress_expiration', ARGV[2])
    return 1
end
return 0
