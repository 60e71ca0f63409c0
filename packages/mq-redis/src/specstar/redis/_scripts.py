"""The Lua scripts of the Redis queue: every change that touches more than one key is one script.

Keys of one queue (``KEYS``, all under ``<prefix>{<name>}:`` so they share a cluster slot):

1. ``stream`` — the stream of deliverable messages (field ``j`` = job id), read by the consumer
   group ``specstar``. An entry in the group's pending list is a leased message.
2. ``jobs`` — hash job id → the message's state (JSON): ``e`` its stream entry id ("" while it
   waits in ``delayed`` or behind its partition's head), ``d`` deliveries so far, ``a``
   available-at (ms, server clock), ``p`` the partition key when it has one.
3. ``delayed`` — sorted set of job ids by the time they become available.
4. ``dead`` — hash job id → reason of the dead letters.
5. ``last`` — the id of the last entry added to the stream (a waiting consumer blocks on
   ``XREAD`` after it, so an entry added after its look wakes it).
6. ``leases`` — sorted set of the leased job ids by the end of their lease (ms): a claim looks
   here for a lease that ran out and reclaims its entry with ``XAUTOCLAIM`` starting at it, and
   an idle consumer knows when the next lease ends, so neither scans the pending list.

Dynamic keys, built from ``base`` (``ARGV[1]``): ``p:<partition>`` (list of the partition's job
ids in enqueue order; only its head is ever in the stream or in ``delayed``) and ``r:<caller>``
(the latest reply to caller ``<caller>`` of request id ``ARGV[2]`` = ``<caller>|<request>``,
kept ``ARGV[4]`` ms, longer than a client keeps re-sending, so a call that redis-py re-sends
after a dropped connection gets the reply of the run that already happened instead of running
twice; one key per calling thread, not per request). ``ARGV[3]`` is the longest lease in ms.

Leases: a claim sets the pending entry's idle time to ``max_lease - lease`` (``XCLAIM ... IDLE``),
so the entry becomes ``max_lease`` idle — what ``XAUTOCLAIM`` reclaims — exactly when the lease
ends, and records that end in ``leases``. A lease is held while its end is ahead and the job's
``e``/``d`` still match the token (a reclaim bumps ``d``). Times are the Redis server's clock.
"""

from __future__ import annotations

__all__ = ["ACK", "CLAIM", "DEAD_LETTER", "ENQUEUE", "EXTEND", "RECOVER", "RETRY"]

_PRELUDE = """
local S, J, D, X, LAST, LZ = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local base, rid, T, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local G = 'specstar'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- rid is "<caller>|<request>": a caller (one thread of one process) sends one request at a
-- time, so one key per caller keeps the reply of its latest request
local memo_key = nil
if rid ~= '' then memo_key = base .. 'r:' .. string.match(rid, '^(.*)|') end

local function memo_get()
  if not memo_key then return nil end
  local m = redis.call('GET', memo_key)
  if m then
    local v = cjson.decode(m)
    if v[1] == rid then return v[2] end
  end
  return nil
end

local function memo_put(r)
  if memo_key then redis.call('SET', memo_key, cjson.encode({rid, r}), 'PX', keep) end
  return r
end

local function load(job)
  local v = redis.call('HGET', J, job)
  if v then return cjson.decode(v) end
  return nil
end

local function save(job, st)
  redis.call('HSET', J, job, cjson.encode(st))
end

local function to_stream(job, st)
  local id = redis.call('XADD', S, '*', 'j', job)
  redis.call('SET', LAST, id)
  st.e = id
  save(job, st)
end

-- deliverable at st.a: into the stream when due, else into the delayed set
local function ready(job, st)
  if st.a > now then
    st.e = ''
    save(job, st)
    redis.call('ZADD', D, st.a, job)
  else
    to_stream(job, st)
  end
end

-- the delivery is over: out of the pending list, the stream and the leases
local function drop_entry(id, job)
  redis.call('XACK', S, G, id)
  redis.call('XDEL', S, id)
  if job then redis.call('ZREM', LZ, job) end
end

-- the state while the lease (entry, d) is held, else nil
local function held(job, entry, d)
  local st = load(job)
  if not st or st.e ~= entry or st.d ~= d then return nil end
  local ends = redis.call('ZSCORE', LZ, job)
  if not ends or tonumber(ends) <= now then return nil end
  return st
end

-- the message left: the next one of its partition becomes the head
local function next_in_partition(job, st)
  if not st.p then return end
  local L = base .. 'p:' .. st.p
  redis.call('LREM', L, 1, job)
  local nxt = redis.call('LINDEX', L, 0)
  if nxt then
    local ns = load(nxt)
    if ns then ready(nxt, ns) end
  end
end
"""

# ARGV[5] job, ARGV[6] delay ms, ARGV[7] partition ("" = none) -> 1 queued, 0 already queued
ENQUEUE = (
    _PRELUDE
    + """
local m = memo_get()
if m then return m end
local job, delay, part = ARGV[5], tonumber(ARGV[6]), ARGV[7]
if redis.call('HEXISTS', J, job) == 1 then return memo_put(0) end
redis.call('HDEL', X, job)
local st = {d = 0, a = now + delay, e = ''}
if part ~= '' then
  st.p = part
  if redis.call('RPUSH', base .. 'p:' .. part, job) > 1 then
    save(job, st)  -- behind the partition's head
    return memo_put(1)
  end
end
ready(job, st)
return memo_put(1)
"""
)

# ARGV[5] lease ms, ARGV[6] consumer -> {job, token, deliveries}
#   or {"", last stream id, ms until a delayed message or a lease falls due (-1: none)}
CLAIM = (
    _PRELUDE
    + """
local m = memo_get()
if m then return m end
local L, consumer = tonumber(ARGV[5]), ARGV[6]
if redis.call('EXISTS', S) == 0 then
  redis.call('XGROUP', 'CREATE', S, G, '0', 'MKSTREAM')
end
for _, job in ipairs(redis.call('ZRANGEBYSCORE', D, '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', D, job)
  local st = load(job)
  if st and st.e == '' then to_stream(job, st) end
end

local function take(id, job)
  local st = load(job)
  if not st or st.e ~= id then
    drop_entry(id, nil)  -- left over from a message that is gone or moved
    return nil
  end
  st.d = st.d + 1
  save(job, st)
  redis.call('XCLAIM', S, G, consumer, 0, id, 'IDLE', T - L, 'JUSTID')
  redis.call('ZADD', LZ, now + L, job)
  return memo_put({job, id .. '/' .. st.d, st.d})
end

-- leases that ran out first (they have waited longest): reclaimed from the pending list
for _, job in ipairs(redis.call('ZRANGEBYSCORE', LZ, '-inf', now, 'LIMIT', 0, 10)) do
  local st = load(job)
  if not st or st.e == '' then
    redis.call('ZREM', LZ, job)
  else
    local r = redis.call('XAUTOCLAIM', S, G, consumer, T, st.e, 'COUNT', 1)
    local e = r[2][1]
    if e then
      local got = take(e[1], e[2][2])
      if got then return got end
    elseif #redis.call('XPENDING', S, G, st.e, st.e, 1) == 0 then
      redis.call('ZREM', LZ, job)  -- no delivery behind it any more
    end
  end
end

while true do
  local r = redis.call('XREADGROUP', 'GROUP', G, consumer, 'COUNT', 1, 'STREAMS', S, '>')
  if not r then break end
  local e = r[1][2][1]
  local got = take(e[1], e[2][2])
  if got then return got end
end

local wait = -1
for _, key in ipairs({D, LZ}) do
  local nxt = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #nxt > 0 then
    local due = math.max(tonumber(nxt[2]) - now, 1)
    if wait < 0 or due < wait then wait = due end
  end
end
return {'', redis.call('GET', LAST) or '0-0', wait}
"""
)

# ARGV[5] job, ARGV[6] entry, ARGV[7] deliveries, ARGV[8] lease ms, ARGV[9] consumer -> 1 / 0
EXTEND = (
    _PRELUDE
    + """
local job, entry, L = ARGV[5], ARGV[6], tonumber(ARGV[8])
if not held(job, entry, tonumber(ARGV[7])) then return 0 end
redis.call('XCLAIM', S, G, ARGV[9], 0, entry, 'IDLE', T - L, 'JUSTID')
redis.call('ZADD', LZ, now + L, job)
return 1
"""
)

# ARGV[5] job, ARGV[6] entry, ARGV[7] deliveries -> 1 / 0
ACK = (
    _PRELUDE
    + """
local m = memo_get()
if m then return m end
local job = ARGV[5]
local st = held(job, ARGV[6], tonumber(ARGV[7]))
if not st then return memo_put(0) end
drop_entry(ARGV[6], job)
redis.call('HDEL', J, job)
next_in_partition(job, st)
return memo_put(1)
"""
)

# ARGV[5] job, ARGV[6] entry, ARGV[7] deliveries, ARGV[8] delay ms -> 1 / 0
RETRY = (
    _PRELUDE
    + """
local m = memo_get()
if m then return m end
local job = ARGV[5]
local st = held(job, ARGV[6], tonumber(ARGV[7]))
if not st then return memo_put(0) end
drop_entry(ARGV[6], job)
st.a = now + tonumber(ARGV[8])
ready(job, st)  -- a partition head stays the head
return memo_put(1)
"""
)

# ARGV[5] job, ARGV[6] entry, ARGV[7] deliveries, ARGV[8] reason -> 1 / 0
DEAD_LETTER = (
    _PRELUDE
    + """
local m = memo_get()
if m then return m end
local job = ARGV[5]
local st = held(job, ARGV[6], tonumber(ARGV[7]))
if not st then return memo_put(0) end
drop_entry(ARGV[6], job)
redis.call('HDEL', J, job)
redis.call('HSET', X, job, ARGV[8])
next_in_partition(job, st)
return memo_put(1)
"""
)

# -> how many expired leases were made available again
RECOVER = (
    _PRELUDE
    + """
local m = memo_get()
if m then return m end
local n = 0
for _, job in ipairs(redis.call('ZRANGEBYSCORE', LZ, '-inf', now)) do
  local st = load(job)
  redis.call('ZREM', LZ, job)
  if st and st.e ~= '' then
    local p = redis.call('XPENDING', S, G, st.e, st.e, 1)
    drop_entry(st.e, nil)
    if #p > 0 then
      st.a = now
      to_stream(job, st)
      n = n + 1
    end
  end
end
return memo_put(n)
"""
)
