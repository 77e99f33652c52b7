-- complete: save the result of the claim KEYS[1] holds under ARGV[1].
-- ARGV: token, expires_at_s, has_data ('1'/'0'), data, fingerprint ('' = none)
-- Reply: 1 done (or already done under this token), 0 the lease is lost.
-- The lease fields stay on the completed record, so a retried complete
-- finds its own token and changes nothing.
local key = KEYS[1]
local f = redis.call('HMGET', key, 'status', 'lease_token')
if f[2] ~= ARGV[1] then
    return 0
end
if f[1] == 'COMPLETED' then
    return 1
end
if f[1] ~= 'INPROGRESS' then
    return 0
end
redis.call('HSET', key, 'status', 'COMPLETED', 'expiration', ARGV[2])
if ARGV[3] == '1' then
    redis.call('HSET', key, 'data', ARGV[4])
else
    -- data of an earlier run of the key must never be replayed
    redis.call('HDEL', key, 'data')
end
if ARGV[5] ~= '' then
    redis.call('HSET', key, 'validation', ARGV[5])
end
redis.call('EXPIREAT', key, ARGV[2])
return 1
