"""The Lua scripts leadrelay runs in Redis: each is one atomic step. Keys come in as KEYS (built by ``keys``)."""

from __future__ import annotations

# Commit one decision atomically: compare-and-set the routing state, claim the identity keys (first claim wins),
# store the decision, queue the write, mark the delivery done. All of it happens or none (returns the conflict).
#   KEYS: pointer, load, day, ident, lead, done, writes, version (counts routing-state changes)
#         [, lock: released with the commit when we hold it]
#   ARGV: n_changes, then per change (kind, key, value, expected|"", day|""), then lead_id, decision, task,
#         done_ttl, n_ident, ident keys..., then "1"|"0" (record owner_written, received_at and decided_at),
#         owner, received, decided [, lock token]
# Returns "ok <writes waiting> <routing-state version>" or the conflict.
COMMIT = """
local n = tonumber(ARGV[1])
local i = 2
for c = 1, n do
  local kind, key, value, expected, day = ARGV[i], ARGV[i+1], tonumber(ARGV[i+2]), ARGV[i+3], ARGV[i+4]
  i = i + 5
  if kind == 'pointer' then
    local cur = tonumber(redis.call('HGET', KEYS[1], key) or '0')
    local want = tonumber(expected ~= '' and expected or '0')
    if cur ~= want then return 'pool ' .. key .. ': pointer is ' .. cur .. ', expected ' .. want end
  elseif kind == 'load' then
    local cur = 0
    if redis.call('HGET', KEYS[3], key) == day then cur = tonumber(redis.call('HGET', KEYS[2], key) or '0') end
    if expected ~= '' and cur + value > tonumber(expected) then
      return 'rep ' .. key .. ': ' .. (cur + value) .. ' leads on ' .. day .. ' exceeds the cap ' .. expected
    end
  end
end
local lead_id, decision, task, ttl = ARGV[i], ARGV[i+1], ARGV[i+2], tonumber(ARGV[i+3])
local n_ident = tonumber(ARGV[i+4])
i = 2
for c = 1, n do
  local kind, key, value, day = ARGV[i], ARGV[i+1], tonumber(ARGV[i+2]), ARGV[i+4]
  i = i + 5
  if kind == 'pointer' then
    redis.call('HSET', KEYS[1], key, value)
  else
    if redis.call('HGET', KEYS[3], key) ~= day then
      redis.call('HSET', KEYS[2], key, 0)
      redis.call('HSET', KEYS[3], key, day)
    end
    redis.call('HINCRBY', KEYS[2], key, value)
  end
end
i = i + 4
for k = 1, n_ident do redis.call('HSETNX', KEYS[4], ARGV[i+k], lead_id) end
redis.call('HSET', KEYS[5], 'decision', decision)
if ARGV[i + n_ident + 1] == '1' then
  redis.call('HSET', KEYS[5], 'owner_written', ARGV[i + n_ident + 2], 'received_at', ARGV[i + n_ident + 3],
             'decided_at', ARGV[i + n_ident + 4])
end
if task ~= '' then redis.call('RPUSH', KEYS[7], task) end
redis.call('SET', KEYS[6], lead_id, 'EX', ttl)
local version = tonumber(redis.call('GET', KEYS[8]) or '0')
if n > 0 then version = redis.call('INCR', KEYS[8]) end
if KEYS[9] and redis.call('GET', KEYS[9]) == ARGV[#ARGV] then redis.call('DEL', KEYS[9]) end
return 'ok ' .. redis.call('LLEN', KEYS[7]) .. ' ' .. version
"""

# Top a job's own batch list up to ARGV[1] tasks from the waiting list (a killed job finds its list again).
TAKE = """
local want = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[2])
if want <= 0 then return redis.call('LRANGE', KEYS[2], 0, -1) end
local out = redis.call('LRANGE', KEYS[1], 0, want - 1)
if #out > 0 then
  redis.call('LTRIM', KEYS[1], #out, -1)
  redis.call('RPUSH', KEYS[2], unpack(out))
end
return redis.call('LRANGE', KEYS[2], 0, -1)
"""

# Release a lock only if we still hold it.
UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

# Accept deliveries in one round trip: per delivery, a redelivery (inbound key set) or a job arq already knows
# is skipped; otherwise the arq job is stored and queued exactly as arq's enqueue_job stores it, and the inbound
# key is set, all in one atomic step, so an accepted delivery is always queued and never queued twice.
#   KEYS: queue; then per delivery: inbound key, job key, result key
#   ARGV: inbound ttl (s), job expiry (ms), score (ms); then per delivery: job id, job bytes
ACCEPT = """
local out = {}
local n = (#KEYS - 1) / 3
for d = 1, n do
  local inbound, job, result = KEYS[3*d - 1], KEYS[3*d], KEYS[3*d + 1]
  if redis.call('EXISTS', inbound) == 1 or redis.call('EXISTS', job, result) > 0 then
    out[d] = 0
  else
    redis.call('PSETEX', job, ARGV[2], ARGV[2*d + 3])
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2*d + 2])
    redis.call('SET', inbound, '1', 'EX', ARGV[1])
    out[d] = 1
  end
end
return out
"""
