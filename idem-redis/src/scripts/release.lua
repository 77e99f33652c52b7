-- release: delete the claim KEYS[1] holds under ARGV[1] (token).
-- Reply: 1 released (or nothing there: a retried release), 0 the lease is lost.
local key = KEYS[1]
local f = redis.call('HMGET', key, 'status', 'lease_token')
if f[1] == 'INPROGRESS' and f[2] == ARGV[1] then
    redis.call('DEL', key)
    return 1
end
if not f[1] and redis.call('EXISTS', key) == 0 then
    return 1
end
return 0
