"""The Lua scripts leadrelay runs in Redis: each is one atomic step. Keys come in as KEYS (built by ``keys``)."""

from __future__ import annotations

# Commit one decision atomically: compare-and-set the routing state, claim the identity keys (first claim wins),
# store the decision, queue the write, mark the delivery done. All of it happens or none (returns the conflict).
# A new assignment ("1") also records who decided it and when, indexes the lead by decided_at and counts the
# rules that took part in the decided day's hits hash (``worker.store.decisions``): no extra round trip.
# The lead's hash and its identity keys expire (retention): a commit renews them.
#   KEYS: pointer, load, day, lead, done, writes, version (counts routing-state changes), decisions index, the
#         decided day's hits, then one key per identity [, lock: released with the commit when we hold it]
#   ARGV: n_changes, then per change (kind, key, value, expected|"", day|""), then lead_id, decision, task,
#         done_ttl, n_ident, "1"|"0" (record owner_written, received_at, decided_at and decided_by; index, count),
#         owner, received, decided, lead_ttl, ident_ttl, decided_by, n_hits, then the hit fields [, lock token]
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
local n_ident, record_owner, owner, received, decided = tonumber(ARGV[i+4]), ARGV[i+5], ARGV[i+6], ARGV[i+7], ARGV[i+8]
local lead_ttl, ident_ttl = tonumber(ARGV[i+9]), tonumber(ARGV[i+10])
local decided_by, n_hits, hits = ARGV[i+11], tonumber(ARGV[i+12]), i + 13
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
for k = 1, n_ident do
  local ident = KEYS[9 + k]
  if not redis.call('SET', ident, lead_id, 'NX', 'EX', ident_ttl) and redis.call('GET', ident) == lead_id then
    redis.call('EXPIRE', ident, ident_ttl)
  end
end
redis.call('HSET', KEYS[4], 'decision', decision)
if record_owner == '1' then
  redis.call('HSET', KEYS[4], 'owner_written', owner, 'received_at', received, 'decided_at', decided)
  if decided_by ~= '' then redis.call('HSET', KEYS[4], 'decided_by', decided_by) end
  redis.call('ZADD', KEYS[8], decided, lead_id)
  for h = hits, hits + n_hits - 1 do redis.call('HINCRBY', KEYS[9], ARGV[h], 1) end
  if n_hits > 0 then redis.call('EXPIRE', KEYS[9], lead_ttl) end
end
redis.call('EXPIRE', KEYS[4], lead_ttl)
if task ~= '' then redis.call('RPUSH', KEYS[6], task) end
redis.call('SET', KEYS[5], lead_id, 'EX', ttl)
local version = tonumber(redis.call('GET', KEYS[7]) or '0')
if n > 0 then version = redis.call('INCR', KEYS[7]) end
local lock = KEYS[10 + n_ident]
if lock and redis.call('GET', lock) == ARGV[#ARGV] then redis.call('DEL', lock) end
return 'ok ' .. redis.call('LLEN', KEYS[6]) .. ' ' .. version
"""

# Top a job's own batch list up to ARGV[1] tasks from the waiting list (a killed job finds its list again), and
# note the job in the set of jobs holding a batch (the sweep adopts the batch of a job arq no longer knows).
#   KEYS: waiting, the job's batch, batches;  ARGV: size, job id
TAKE = """
local want = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[2])
if want > 0 then
  local out = redis.call('LRANGE', KEYS[1], 0, want - 1)
  if #out > 0 then
    redis.call('LTRIM', KEYS[1], #out, -1)
    redis.call('RPUSH', KEYS[2], unpack(out))
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SADD', KEYS[3], ARGV[2]) end
return redis.call('LRANGE', KEYS[2], 0, -1)
"""

# Put a job's batch back at the head of the waiting list (oldest first) and forget the job's list. With the job's
# arq keys given, only when arq knows the job no more (neither queued nor running): adopting an orphaned batch.
#   KEYS: the job's batch, waiting, batches [, arq job key, arq in-progress key];  ARGV: job id
# Returns the tasks moved, or -1 when the job is still alive.
RELEASE = """
if KEYS[4] and redis.call('EXISTS', KEYS[4], KEYS[5]) > 0 then return -1 end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for j = #items, 1, -1 do redis.call('LPUSH', KEYS[2], items[j]) end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return #items
"""

# Finish a write_back job's batch in one step (what a MULTI of three commands a lead did, with twice the replies):
# the written leads' results on their hashes (renewing their retention) and their CRM record links, the leads whose
# new owner landed onto the job's landed list (their notifications are queued next), and the job's list replaced by
# the tasks still to try (none: the batch is done and the job leaves the set of jobs holding a batch).
#   KEYS: landed list, the job's batch, batches; then per result: lead hash, record key (a placeholder without one)
#   ARGV: now, lead ttl (s), landed ttl (s), job id, n landed, the landed ids, n results, per result: lead id,
#         write result, rep ("" none), record ("crm:id", "" none); then the tasks to keep
WRITES_DONE = """
local now, lead_ttl, a = ARGV[1], ARGV[2], 6
local n_landed = tonumber(ARGV[5])
if n_landed > 0 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, a, a + n_landed - 1))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
a = a + n_landed
local n = tonumber(ARGV[a])
a = a + 1
for d = 1, n do
  local lead, record = KEYS[2*d + 2], KEYS[2*d + 3]
  local lead_id, result, rep, rec = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  a = a + 4
  local fields = {'write', result, 'written_at', now}
  if rep ~= '' then
    fields[5], fields[6], fields[7], fields[8] = 'assigned_at', now, 'assigned_to', rep
  end
  if rec ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'record', rec
    redis.call('SET', record, lead_id, 'EX', lead_ttl)
  end
  redis.call('HSET', lead, unpack(fields))
  redis.call('EXPIRE', lead, lead_ttl)
end
redis.call('DEL', KEYS[2])
if a <= #ARGV then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, a, #ARGV))
else
  redis.call('SREM', KEYS[3], ARGV[4])
end
return n
"""

# Take a per-identity lock and, holding it, find the lead already holding one of the person's identity keys (the
# strongest first; each key, then the identity hash of before), renewing those keys (the person is seen): one reply
# instead of one per command. Without the lock nothing else is done (the caller waits and asks again).
#   KEYS: lock, routing-state version, identity hash of before; then one key per identity
#   ARGV: token, lock ttl (ms), identity ttl (s); then the identity names (the fields of the hash of before)
# Returns {1 | 0 (locked by another), routing-state version, the lead found or ""}.
LOCK_AND_FIND = """
local version = redis.call('GET', KEYS[2]) or '0'
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0, version, ''} end
local found = ''
for i = 4, #KEYS do
  if found == '' then
    found = redis.call('GET', KEYS[i]) or redis.call('HGET', KEYS[3], ARGV[i]) or ''
  end
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
return {1, version, found}
"""

# Release a lock only if we still hold it.
UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

# Accept deliveries in one round trip: per delivery, a redelivery (inbound key set) or a job arq already knows
# is skipped; otherwise the arq job is stored and queued exactly as arq's enqueue_job stores it, and the inbound
# key is set, all in one atomic step, so an accepted delivery is always queued and never queued twice.
# The job's data lives at least as long as the inbound key: while a redelivery is answered "duplicate", the job
# it stands for is still there (arq's own default, a day, would let it vanish first).
#   KEYS: queue; then per delivery: inbound key, job key, result key
#   ARGV: inbound ttl (s), job expiry (ms, at least), score (ms); then per delivery: job id, job bytes
ACCEPT = """
local out = {}
local n = (#KEYS - 1) / 3
local expires = math.max(tonumber(ARGV[2]), tonumber(ARGV[1]) * 1000)
for d = 1, n do
  local inbound, job, result = KEYS[3*d - 1], KEYS[3*d], KEYS[3*d + 1]
  if redis.call('EXISTS', inbound) == 1 then
    redis.call('SET', inbound, '1', 'KEEPTTL')  -- a write: a WAIT after it covers the first delivery's accept too
    out[d] = 0
  elseif redis.call('EXISTS', job, result) > 0 then
    out[d] = 0
  else
    redis.call('PSETEX', job, expires, ARGV[2*d + 3])
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2*d + 2])
    redis.call('SET', inbound, '1', 'EX', ARGV[1])
    out[d] = 1
  end
end
return out
"""

# Queue parked deliveries again (the CRM answers): the first n entries of the parked list, if they are still the
# ones the caller read, become arq jobs (stored as arq's enqueue_job stores them) and leave the list, in one step.
#   KEYS: parked, queue; then per entry: job key, result key
#   ARGV: n, job expiry (ms), score (ms); then per entry: the entry as read, job id, job bytes
# Returns n, or 0 when the list changed under the caller (read it again).
UNPARK = """
local n = tonumber(ARGV[1])
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #head < n then return 0 end
for d = 1, n do
  if head[d] ~= ARGV[3*d + 1] then return 0 end
end
for d = 1, n do
  local job, result = KEYS[2*d + 1], KEYS[2*d + 2]
  if redis.call('EXISTS', job, result) == 0 then
    redis.call('PSETEX', job, ARGV[2], ARGV[3*d + 3])
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[3*d + 2])
  end
end
redis.call('LTRIM', KEYS[1], n, -1)
return n
"""

# The CRM circuit breaker (``worker.breaker``), a hash: state closed | open | half_open, failures in a row, the
# time of the last one, open until, probe until, and the last reason.
# A retryable CRM failure: count it (a failure older than the cool-down starts the count again); open the breaker
# at the threshold, or at once when it was half-open (the probe failed).
#   KEYS: breaker;  ARGV: now, threshold, cool-down (s), reason.  Returns "opened" | "open" | "closed".
BREAKER_FAIL = """
local now, threshold, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if state == 'closed' and now - last > cooldown then failures = 0 end
failures = failures + 1
redis.call('HSET', KEYS[1], 'failures', failures, 'last', ARGV[1], 'reason', ARGV[4])
if state == 'open' then return 'open' end
if state == 'half_open' or failures >= threshold then
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + cooldown)
  return 'opened'
end
return 'closed'
"""

# The CRM answered: close the breaker (returns the state it was in; writes nothing when it was closed already).
BREAKER_OK = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state ~= 'closed' or tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') > 0 then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0)
end
return state
"""

# May the sweep probe the CRM now? Open past its cool-down (or half-open with a probe that never reported): the
# caller becomes the one probe ("probe"); else "open" or "closed".
#   KEYS: breaker;  ARGV: now, probe time-out (s)
BREAKER_PROBE = """
local now = tonumber(ARGV[1])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return 'closed' end
local due = tonumber(redis.call('HGET', KEYS[1], state == 'open' and 'until' or 'probe_until') or '0')
if now < due then return 'open' end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[2]))
return 'probe'
"""

# Queue the notifications of leads a write_back job wrote, each once: a notification is queued only if its field on
# the lead (the lead's record of it: "queued", later "sent ..." or "failed ...") is not there yet, so a write that
# lands twice (a retried job, a second form) tells nobody twice. Then the ids read leave the job's landed list.
#   KEYS: landed list, queue; then per notification: lead hash, job key, result key
#   ARGV: job expiry (ms), score (ms), ids read; then per notification: field, job id, job bytes
# Returns one 1/0 per notification: queued now, or already (or the lead is gone).
NOTIFY = """
local out = {}
local n = (#KEYS - 2) / 3
for d = 1, n do
  local lead, job, result = KEYS[3*d], KEYS[3*d + 1], KEYS[3*d + 2]
  out[d] = 0
  if redis.call('EXISTS', lead) == 1 and redis.call('HSETNX', lead, ARGV[3*d + 1], 'queued') == 1 then
    if redis.call('EXISTS', job, result) == 0 then
      redis.call('PSETEX', job, ARGV[1], ARGV[3*d + 3])
      redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3*d + 2])
      out[d] = 1
    end
  end
end
redis.call('LTRIM', KEYS[1], tonumber(ARGV[3]), -1)
return out
"""

# Start the first-contact clocks of the leads a write batch landed, in one round trip (it was five a lead, one after
# another): per lead, only if its clock never started (HSETNX sla_clock: not on a later write), its clock fields,
# the lead's retention renewed, its deadline in the overdue index, and its first rung's job — to arq when near
# (stored as arq's enqueue_job stores it, unless arq knows the job), else to the follow-through schedule. Deadlines
# older than a lead's retention leave the index.
#   KEYS: overdue index, schedule, queue; then per lead: lead hash, job key, result key
#   ARGV: lead ttl (s), drop deadlines before (score), job expiry (ms); then per lead: lead id, n fields, field,
#         value, ..., deadline ("" none), rung ("" none | "arq" | "schedule"), when (score: ms for arq, s for the
#         schedule), job id (arq) or schedule entry, job bytes (arq)
# Returns one 1/0 per lead: its clock started now, or had already.
SLA_START = """
local out = {}
local a = 4
for d = 1, (#KEYS - 3) / 3 do
  local lead, job, result = KEYS[3*d + 1], KEYS[3*d + 2], KEYS[3*d + 3]
  local lead_id, n = ARGV[a], tonumber(ARGV[a + 1])
  local fields = {}
  for f = 1, 2 * n do fields[f] = ARGV[a + 1 + f] end
  a = a + 2 * n + 2
  local deadline, rung, at, member, bytes = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  a = a + 5
  out[d] = 0
  if redis.call('HSETNX', lead, 'sla_clock', '1') == 1 then
    out[d] = 1
    if n > 0 then redis.call('HSET', lead, unpack(fields)) end
    redis.call('EXPIRE', lead, ARGV[1])
    if deadline ~= '' then redis.call('ZADD', KEYS[1], deadline, lead_id) end
    if rung == 'schedule' then
      redis.call('ZADD', KEYS[2], at, member)
    elseif rung == 'arq' and redis.call('EXISTS', job, result) == 0 then
      redis.call('PSETEX', job, ARGV[3], bytes)
      redis.call('ZADD', KEYS[3], at, member)
    end
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
return out
"""

# Console sign-in throttling: a sign-in attempt counts as a failure before its password is checked (so concurrent
# guesses cannot all slip under the limit), and is taken back when it succeeds. While any counter is at its limit
# the attempt is refused without counting, and nothing is hashed.
#   KEYS: the client address's failure counter [, the user name's];  ARGV: the limit of each key, then the window (s)
# Returns 0 (go ahead, counted) or the seconds until the blocking counter expires.
SIGNIN_TRY = """
local wait = 0
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i]) then
    wait = math.max(wait, redis.call('TTL', KEYS[i]), 1)
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[#KEYS + 1]) end
end
return 0
"""

# A sign-in succeeded: the address's counted attempt is taken back (if its window has not ended meanwhile) and the
# user's failures are forgotten.   KEYS: the client address's failure counter [, the user name's]
SIGNIN_OK = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
if KEYS[2] then redis.call('DEL', KEYS[2]) end
return 0
"""
