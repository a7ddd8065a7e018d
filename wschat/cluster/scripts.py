"""The Lua scripts of the Redis adapter, together: each runs atomically inside Redis.

:data:`LUA_LIB` holds the helpers that more than one script needs (the store-and-forward
marks kept when a user comes online or goes away); :data:`APPEND` is the store's group
commit, :data:`AWAY` its offline mark, :data:`SET_READ` and :data:`UNREAD` its read positions,
:data:`PRESENCE` the bus's presence, read and typing events and node bookkeeping. No I/O here: :mod:`wschat.cluster.redis_store` and :mod:`wschat.cluster.redis_bus` register
and call them.
"""

from __future__ import annotations

__all__ = ["APPEND", "AWAY", "LUA_LIB", "PRESENCE", "SET_READ", "UNREAD", "UNREAD_INDEXED"]

#: Lua shared by the scripts: the head of the log and the away marks (store-and-forward).
LUA_LIB = """
local function log_head(p)
  local last = redis.call('XREVRANGE', p .. 'log', '+', '-', 'COUNT', 1)
  if #last == 0 then return '0-0' end
  return last[1][1]
end
local function went_offline(p, key)
  local k = p .. 'away:' .. key
  redis.call('HSET', k, 's', log_head(p))
  redis.call('HDEL', k, 'e')
end
local function came_online(p, key)
  local k = p .. 'away:' .. key
  if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'e', log_head(p)) end
end
"""

# ARGV: prefix, maxlen, max_age_ms, ref window (s), ref key ttl (s), then 8 per draft:
# sender, sender key, to ('' = public), to key, text, ts, ref ('' = none, else 'r' .. ref),
# origin ('' = none). Returns one reply per draft: {1, id} stored, {0, id, fields} a resend.
# Each new entry also gets the indexes of unread counts (see UNREAD_INDEXED): field n (its
# sequence number, counter ``seq``), field pc (how many public entries up to it, counter
# ``pubseq``), and its n in the sorted set ``own:SENDER`` (a public entry) or ``inbox:TO``
# (a private one to another user).
APPEND = """
local p = ARGV[1]
local maxlen, max_age = tonumber(ARGV[2]), tonumber(ARGV[3])
local window, ref_ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local log = p .. 'log'
local out = {}
for i = 6, #ARGV, 8 do
  local sender, skey, to, tkey, text, ts, ref, origin = ARGV[i], ARGV[i + 1], ARGV[i + 2],
    ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local rkey = nil
  local reply = nil
  if ref ~= '' then
    rkey = p .. 'ref:' .. skey .. ':' .. string.sub(ref, 2)
    local seen = redis.call('GET', rkey)
    if seen then
      local space = string.find(seen, ' ', 1, true)
      local seen_id, seen_ts = string.sub(seen, 1, space - 1), string.sub(seen, space + 1)
      if tonumber(seen_ts) >= tonumber(ts) - window then
        local found = redis.call('XRANGE', log, seen_id, seen_id)
        if #found > 0 then reply = {0, found[1][1], found[1][2]} end
      end
    end
  end
  if reply == nil then
    local n = redis.call('INCR', p .. 'seq')
    local pc
    if to == '' then
      pc = redis.call('INCR', p .. 'pubseq')
      redis.call('ZADD', p .. 'own:' .. skey, n, n)
    else
      pc = tonumber(redis.call('GET', p .. 'pubseq') or '0')
      if tkey ~= skey then redis.call('ZADD', p .. 'inbox:' .. tkey, n, n) end
    end
    local fields = {'s', sender, 'x', text, 'ts', ts, 'n', n, 'pc', pc}
    if to ~= '' then table.insert(fields, 't'); table.insert(fields, to) end
    if ref ~= '' then table.insert(fields, 'r'); table.insert(fields, string.sub(ref, 2)) end
    if origin ~= '' then table.insert(fields, 'o'); table.insert(fields, origin) end
    local id = redis.call('XADD', log, '*', unpack(fields))
    if rkey then redis.call('SET', rkey, id .. ' ' .. ts, 'EX', ref_ttl) end
    reply = {1, id}
  end
  out[#out + 1] = reply
end
if maxlen > 0 then redis.call('XTRIM', log, 'MAXLEN', '~', maxlen) end
if max_age > 0 then
  local now = redis.call('TIME')
  local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - max_age
  if cutoff > 0 then redis.call('XTRIM', log, 'MINID', '~', cutoff) end
end
return out
"""

# ARGV: prefix, user key, entry id. Moves the user's read position (hash ``reads``) to the
# id if it is later in the log than the stored one; returns 1 if it moved, 0 if not. Ids are
# compared part by part as decimal strings (length first), exact for any 64-bit part.
SET_READ = """
local function part_less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function id_less(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  if ams ~= bms then return part_less(ams, bms) end
  return part_less(aseq, bseq)
end
local reads = ARGV[1] .. 'reads'
local current = redis.call('HGET', reads, ARGV[2])
if current and not id_less(current, ARGV[3]) then return 0 end
redis.call('HSET', reads, ARGV[2], ARGV[3])
return 1
"""

# ARGV: prefix, user key, after ('' = none), upto (an id), cap. The unread count from the
# indexes APPEND keeps, in O(log n) whatever the log's length: public entries in the range
# (the difference of two pc fields), minus the user's own public ones, plus the private ones
# to the user from others (two ZCOUNTs by sequence number). A read position that was trimmed
# away counts from the first entry kept; so does none. Returns -1 when an entry it needs has
# no n field (appended by an older wschat): the caller then walks the stream (UNREAD). Also
# drops the user's index members older than the log (trimmed entries), so the sets shrink
# with the stream.
UNREAD_INDEXED = """
local p, user, after, upto, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local log = p .. 'log'
local function fields(item)
  local f = {}
  for i = 1, #item[2], 2 do f[item[2][i]] = item[2][i + 1] end
  return f
end
local function entry(id)
  local found = redis.call('XRANGE', log, id, id)
  if #found == 0 then return nil end
  return fields(found[1])
end
local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
if #head == 0 then return 0 end
local first = fields(head[1])
local high = entry(upto)
if high == nil then return 0 end
if first.n == nil or high.n == nil then return -1 end
local low = nil
if after ~= '' then low = entry(after) end
local n_low, pc_low
if low ~= nil then
  if low.n == nil then return -1 end
  n_low, pc_low = tonumber(low.n), tonumber(low.pc)
else
  n_low = tonumber(first.n) - 1
  pc_low = tonumber(first.pc)
  if first.t == nil then pc_low = pc_low - 1 end
end
local n_high = tonumber(high.n)
local own, inbox = p .. 'own:' .. user, p .. 'inbox:' .. user
redis.call('ZREMRANGEBYSCORE', own, '-inf', '(' .. first.n)
redis.call('ZREMRANGEBYSCORE', inbox, '-inf', '(' .. first.n)
if n_high <= n_low then return 0 end
local count = tonumber(high.pc) - pc_low
  - redis.call('ZCOUNT', own, '(' .. n_low, n_high)
  + redis.call('ZCOUNT', inbox, '(' .. n_low, n_high)
if count > cap then count = cap end
return count
"""

# ARGV: prefix, user key, start ('-' or '(' .. id), stop ('+' or an id), cap, chunk.
# Counts the log entries in the range that the user can see and did not send (public ones
# from others, private ones to the user from others), walking the stream in chunks inside
# Redis and stopping at ``cap``. Names are ASCII, so string.lower gives their keys.
UNREAD = """
local log, user = ARGV[1] .. 'log', ARGV[2]
local start, stop = ARGV[3], ARGV[4]
local cap, chunk = tonumber(ARGV[5]), tonumber(ARGV[6])
local count = 0
while count < cap do
  local batch = redis.call('XRANGE', log, start, stop, 'COUNT', chunk)
  for _, item in ipairs(batch) do
    local fields = item[2]
    local sender, to = nil, nil
    for i = 1, #fields, 2 do
      if fields[i] == 's' then sender = string.lower(fields[i + 1])
      elseif fields[i] == 't' then to = string.lower(fields[i + 1]) end
    end
    if sender ~= user and (to == nil or to == user) then
      count = count + 1
      if count >= cap then return count end
    end
  end
  if #batch < chunk then break end
  start = '(' .. batch[#batch][1]
end
return count
"""

AWAY = LUA_LIB + """
if ARGV[2] == 'off' then went_offline(ARGV[1], ARGV[3]) else came_online(ARGV[1], ARGV[3]) end
return 1
"""

# ARGV: prefix, node id, op, then op's arguments. Presence events: fields u (name), k (key),
# on ('1' or '0'). Read and typing events share the stream, told apart by field ev: 'read'
# (u, k, id) and 'typing' (u, k, t = the recipient's name or absent). Replies: join ->
# {floor, key1, name1, ...}; beat -> 1 if the node's key existed; sweep -> number of dead
# nodes removed; typing -> 1 if passed on, 0 if another typing of the user passed within the
# interval (key typing:KEY, SET NX PX: the bound of the whole cluster); others -> 1.
PRESENCE = LUA_LIB + """
local p, node, op = ARGV[1], ARGV[2], ARGV[3]
local maxlen = ARGV[4]

local function event(name, key, on)
  redis.call('XADD', p .. 'presence', 'MAXLEN', '~', maxlen, '*', 'u', name, 'k', key, 'on', on)
end

local function add(sid, key, name)
  redis.call('HSET', p .. 'node-sessions:' .. node, sid, key)
  local sessions = p .. 'sessions:' .. key
  if redis.call('HSET', sessions, sid, node) == 1 and redis.call('HLEN', sessions) == 1 then
    redis.call('HSET', p .. 'online', key, name)
    came_online(p, key)
    event(name, key, '1')
  end
end

local function remove(owner, sid, key)
  redis.call('HDEL', p .. 'node-sessions:' .. owner, sid)
  local sessions = p .. 'sessions:' .. key
  if redis.call('HDEL', sessions, sid) == 1 and redis.call('HLEN', sessions) == 0 then
    local name = redis.call('HGET', p .. 'online', key) or key
    redis.call('HDEL', p .. 'online', key)
    went_offline(p, key)
    event(name, key, '0')
  end
end

if op == 'join' then
  add(ARGV[5], ARGV[6], ARGV[7])
  local last = redis.call('XREVRANGE', p .. 'presence', '+', '-', 'COUNT', 1)
  local out = {'0-0'}
  if #last > 0 then out[1] = last[1][1] end
  local online = redis.call('HGETALL', p .. 'online')
  for i = 1, #online do out[#out + 1] = online[i] end
  return out
elseif op == 'leave' then
  remove(node, ARGV[5], ARGV[6])
  return 1
elseif op == 'beat' then
  local existed = redis.call('EXISTS', p .. 'node:' .. node)
  redis.call('SET', p .. 'node:' .. node, '1', 'PX', ARGV[5])
  redis.call('SADD', p .. 'nodes', node)
  return existed
elseif op == 'sync' then
  -- ARGV[5..]: sid, key, name of every session this node holds now.
  local want = {}
  for i = 5, #ARGV, 3 do want[ARGV[i]] = i end
  local have = redis.call('HGETALL', p .. 'node-sessions:' .. node)
  local held = {}
  for i = 1, #have, 2 do
    held[have[i]] = true
    if want[have[i]] == nil then remove(node, have[i], have[i + 1]) end
  end
  for i = 5, #ARGV, 3 do
    if not held[ARGV[i]] then add(ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
    -- re-registers a session whose user entry was lost (no event if it was there)
    redis.call('HSET', p .. 'sessions:' .. ARGV[i + 1], ARGV[i], node)
  end
  return 1
elseif op == 'sweep' then
  local dead = 0
  for _, other in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
    if redis.call('EXISTS', p .. 'node:' .. other) == 0 then
      local have = redis.call('HGETALL', p .. 'node-sessions:' .. other)
      for i = 1, #have, 2 do remove(other, have[i], have[i + 1]) end
      redis.call('DEL', p .. 'node-sessions:' .. other)
      redis.call('SREM', p .. 'nodes', other)
      dead = dead + 1
    end
  end
  return dead
elseif op == 'read' then
  -- ARGV[5..7]: name, key, id
  redis.call('XADD', p .. 'presence', 'MAXLEN', '~', maxlen, '*',
    'ev', 'read', 'u', ARGV[5], 'k', ARGV[6], 'id', ARGV[7])
  return 1
elseif op == 'typing' then
  -- ARGV[5..8]: name, key, to ('' = everyone), interval in ms
  if not redis.call('SET', p .. 'typing:' .. ARGV[6], '1', 'NX', 'PX', ARGV[8]) then
    return 0
  end
  if ARGV[7] == '' then
    redis.call('XADD', p .. 'presence', 'MAXLEN', '~', maxlen, '*',
      'ev', 'typing', 'u', ARGV[5], 'k', ARGV[6])
  else
    redis.call('XADD', p .. 'presence', 'MAXLEN', '~', maxlen, '*',
      'ev', 'typing', 'u', ARGV[5], 'k', ARGV[6], 't', ARGV[7])
  end
  return 1
elseif op == 'bye' then
  local have = redis.call('HGETALL', p .. 'node-sessions:' .. node)
  for i = 1, #have, 2 do remove(node, have[i], have[i + 1]) end
  redis.call('DEL', p .. 'node-sessions:' .. node, p .. 'node:' .. node)
  redis.call('SREM', p .. 'nodes', node)
  return 1
end
return redis.error_reply('unknown op ' .. op)
"""
