-- claim: acquire KEYS[1] or return the record that holds it. One atomic step.
-- ARGV: now_ms, token, lease_until_ms, expires_at_s, fingerprint ('' = none)
-- Reply: {1} acquired, or {0, status, expiration, in_progress_expiration,
-- lease_token, validation, data} (missing fields are nil).
local key = KEYS[1]
local now_ms = tonumber(ARGV[1])
local token = ARGV[2]
local f = redis.call('HMGET', key, 'status', 'expiration', 'in_progress_expiration',
    'lease_token', 'validation', 'data')
local claimable
if not f[1] and redis.call('EXISTS', key) == 0 then
    claimable = true -- absent
else
    local exp = tonumber(f[2])
    local until_ms = tonumber(f[3])
    if exp and exp * 1000 <= now_ms then
        claimable = true -- expired, not yet evicted
    elseif f[1] == 'INPROGRESS' then
        -- a lapsed lease, no lease at all, or our own claim (a retry whose
        -- first attempt was applied and its reply lost)
        claimable = (f[3] == false) or (until_ms and until_ms <= now_ms) or f[4] == token
    else
        claimable = false -- completed, or not ours to judge: the caller parses it
    end
end
if not claimable then
    return {0, f[1], f[2], f[3], f[4], f[5], f[6]}
end
redis.call('DEL', key)
if ARGV[5] ~= '' then
    redis.call('HSET', key, 'status', 'INPROGRESS', 'expiration', ARGV[4],
        'in_progress_expiration', ARGV[3], 'lease_token', token, 'validation', ARGV[5])
else
    redis.call('HSET', key, 'status', 'INPROGRESS', 'expiration', ARGV[4],
        'in_progress_expiration', ARGV[3], 'lease_token', token)
end
redis.call('EXPIREAT', key, ARGV[4])
return {1}
