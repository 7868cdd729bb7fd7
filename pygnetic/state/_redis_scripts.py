"""The Lua scripts of the Redis store: each check and the write it guards, as one step.

Redis runs a script without running anything else meanwhile, so the check
and the write of each script are one atomic step however many state servers
share the Redis. :class:`~pygnetic.state.RedisStore` registers each once and
runs it with ``EVALSHA``; the comment above each says its ``KEYS`` and
``ARGV``, and what it answers is one of the codes below.
"""

from __future__ import annotations

from string import Template

from ._model import FIFO, LIFO, MULTI, SINGLE


def _with_modes(script: str) -> str:
    """Return ``script`` with ``$FIFO`` and the others as the modes' Lua string literals.

    So that the modes are spelled once, in :mod:`pygnetic.state._model`.
    """
    modes = {"SINGLE": SINGLE, "FIFO": FIFO, "LIFO": LIFO, "MULTI": MULTI}
    return Template(script).substitute({name: f"'{mode}'" for name, mode in modes.items()})


# What a script answers. 0 is success everywhere.
OK = 0
NO_SPACE = 1
CHANGED = 2
NO_VALUE = 3
FULL = 4
EXISTS = 5
OWNER_FULL = 6
NOT_MEMBER = 7
MODE_DIFFERS = 8
FULL_QUEUE = 9
LEASED = 10

# put: KEYS space, data, hash, modes; ARGV name, value, new hash, has expect
# ('1'/'0'), expect, max variables, channel, notice. The quota counts the
# space's queue variables (the modes hash) too.
PUT = """
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if not cur then
    if ARGV[4] == '1' and ARGV[5] ~= '' then return 3 end
    if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
    local count = redis.call('HLEN', KEYS[3]) + redis.call('HLEN', KEYS[4])
    if count >= tonumber(ARGV[6]) then return 4 end
elseif ARGV[4] == '1' and cur ~= ARGV[5] then
    return 2
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('PUBLISH', ARGV[7], ARGV[8])
return 0
"""

# remove: KEYS space, data, hash, holder, lease; ARGV name, has expect, expect,
# channel, notice. A leased entry's lease goes with it, so that a key made
# again later does not inherit it.
REMOVE = """
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if not cur then
    if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
    return 3
end
if ARGV[2] == '1' and cur ~= ARGV[3] then return 2 end
for i = 2, 5 do redis.call('HDEL', KEYS[i], ARGV[1]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 0
"""

# create_space: KEYS space, spaces, owned (the owner's set, or any key when
# there is no owner); ARGV key, kind, name, owner, has owner, readmode,
# writemode, persistent, max spaces, max spaces per owner.
CREATE_SPACE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 5 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[9]) then return 4 end
if ARGV[5] == '1' and redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[10]) then return 6 end
redis.call('HSET', KEYS[1], 'kind', ARGV[2], 'name', ARGV[3], 'owner', ARGV[4],
    'has_owner', ARGV[5], 'readmode', ARGV[6], 'writemode', ARGV[7], 'persistent', ARGV[8])
redis.call('SADD', KEYS[2], ARGV[1])
if ARGV[5] == '1' then redis.call('SADD', KEYS[3], ARGV[1]) end
return 0
"""

# claim_space: KEYS space, the new owner's owned set; ARGV owner, persistent
# flag, key, the most spaces an owner may own. Only a space without an owner
# is claimed.
CLAIM_SPACE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
if redis.call('HGET', KEYS[1], 'has_owner') == '1' then return 5 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 6 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'has_owner', '1', 'persistent', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 0
"""

# delete_space: KEYS space, spaces, modes, then every other key of the space
# (data, hash, numbers, holder, lease, the role sets); ARGV key, the owned
# family's prefix, channel, notice, the prefix of the space's queue keys.
# The owner's set is named from the space's hash and each queue's sorted set
# from the modes hash, inside the script, so that a variable made meanwhile
# cannot be missed; they are not among KEYS. UNLINK frees a big queue in the
# background instead of while Redis waits.
DELETE_SPACE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'has_owner') == '1' then
    redis.call('SREM', ARGV[2] .. redis.call('HGET', KEYS[1], 'owner'), ARGV[1])
end
redis.call('SREM', KEYS[2], ARGV[1])
for _, name in ipairs(redis.call('HKEYS', KEYS[3])) do
    redis.call('UNLINK', ARGV[5] .. name)
end
redis.call('DEL', KEYS[1])
for i = 3, #KEYS do redis.call('UNLINK', KEYS[i]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""

# grant: KEYS space, the role's set, then every role's set; ARGV email, max members.
GRANT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 5 end
local count = 0
for i = 3, #KEYS do count = count + redis.call('SCARD', KEYS[i]) end
if count >= tonumber(ARGV[2]) then return 4 end
redis.call('SADD', KEYS[2], ARGV[1])
return 0
"""

# revoke: KEYS space, the role's set; ARGV email.
REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return 7 end
return 0
"""

# add_account: KEYS accounts; ARGV email, record, max accounts.
ADD_ACCOUNT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 5 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 4 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 0
"""

# -- workspaces' value queues ---------------------------------------------------------
#
# A queue variable is a field of the space's modes hash (its mode), one of its
# numbers hash (the number its last value got: it never goes back while the
# variable exists, so a number is never given twice) and a sorted set of its
# values scored by their numbers. A member is the number as 8 bytes big-endian
# then the data: unique even when the same data is stored twice, and the
# number read back from it exactly (a score is a double).

# declare: KEYS space, hash, modes; ARGV name, mode, max variables, channel,
# notice. Answers {code} or, when the mode differs, {8, its mode}.
DECLARE = """
local mode = redis.call('HGET', KEYS[3], ARGV[1])
if mode then
    if mode ~= ARGV[2] then return {8, mode} end
    return {0}
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {1} end
local count = redis.call('HLEN', KEYS[2]) + redis.call('HLEN', KEYS[3])
if count >= tonumber(ARGV[3]) then return {4} end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {0}
"""

# enqueue: KEYS space, hash, modes, numbers, queue; ARGV name, data, max
# variables, max values, channel, notice.
ENQUEUE = _with_modes("""
local mode = redis.call('HGET', KEYS[3], ARGV[1])
local new = not mode
if new then
    if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
    local count = redis.call('HLEN', KEYS[2]) + redis.call('HLEN', KEYS[3])
    if count >= tonumber(ARGV[3]) then return 4 end
    mode = $FIFO
end
if mode == $SINGLE then
    redis.call('DEL', KEYS[5])
elseif redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[4]) then
    return 9
end
-- Made only once every check passed, so that a refused value leaves no
-- variable behind.
if new then redis.call('HSET', KEYS[3], ARGV[1], mode) end
local number = redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
redis.call('ZADD', KEYS[5], number, struct.pack('>I8', number) .. ARGV[2])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 0
""")

# dequeue and peek: KEYS modes, queue; ARGV name, after (a number; values
# above it only), take ('1' removes the value found), channel, notice.
# Answers the member found, or nil. A MULTI variable gives a random one, or,
# given a number (the contract gives one to FIFO and SINGLE only), the
# lowest above it.
TAKE = _with_modes("""
local mode = redis.call('HGET', KEYS[1], ARGV[1])
if not mode then return false end
local above = '(' .. ARGV[2]
local found
if mode == $LIFO then
    found = redis.call('ZRANGE', KEYS[2], '+inf', above, 'BYSCORE', 'REV', 'LIMIT', 0, 1)[1]
elseif mode == $MULTI and ARGV[2] == '0' then
    found = redis.call('ZRANDMEMBER', KEYS[2])
else
    found = redis.call('ZRANGE', KEYS[2], above, '+inf', 'BYSCORE', 'LIMIT', 0, 1)[1]
end
if not found then return false end
if ARGV[3] == '1' then
    redis.call('ZREM', KEYS[2], found)
    redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return found
""")

# delete_variable: KEYS modes, numbers, queue; ARGV name, channel, notice.
DELETE_VARIABLE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('UNLINK', KEYS[3])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""

# variables (reads only, in one step): KEYS modes; ARGV the prefix of the
# space's queue keys. Answers name, mode, number of values, ... flat.
VARIABLES = """
local fields = redis.call('HGETALL', KEYS[1])
local listed = {}
for i = 1, #fields, 2 do
    listed[#listed + 1] = fields[i]
    listed[#listed + 1] = fields[i + 1]
    listed[#listed + 1] = redis.call('ZCARD', ARGV[1] .. fields[i])
end
return listed
"""

# -- synced dictionaries' leases -------------------------------------------------------
#
# A leased entry's value is in the data and hash hashes, like an app
# variable's; the holder hash names the writer holding its lease and the
# lease hash says until when (a float as Python's repr() writes it, which
# tonumber() reads back exactly). An entry without a lease has a field in
# neither, one whose lease names no holder none in the holder hash.

# Whether someone other than writer (false: a writer without a name) holds
# the lease at now; holder and lease are the fields as HGET gave them.
_LEASED_TO_ANOTHER = """
local function leased_to_another(holder, lease, writer, now)
    return holder ~= false and holder ~= writer and lease ~= false
        and tonumber(lease) > tonumber(now)
end
"""

# put_leased: KEYS space, data, hash, modes, holder, lease; ARGV name, data,
# hash, writer, has writer ('1'/'0'), has lease ('1'/'0'), lease until, now,
# max variables, channel, notice. Answers {code} or, when another holds the
# lease, {10, data, hash, holder, lease until}.
PUT_LEASED = (
    _LEASED_TO_ANOTHER
    + """
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if not cur then
    if redis.call('EXISTS', KEYS[1]) == 0 then return {1} end
    local count = redis.call('HLEN', KEYS[3]) + redis.call('HLEN', KEYS[4])
    if count >= tonumber(ARGV[9]) then return {4} end
else
    local holder = redis.call('HGET', KEYS[5], ARGV[1])
    local lease = redis.call('HGET', KEYS[6], ARGV[1])
    local writer = ARGV[5] == '1' and ARGV[4]
    if leased_to_another(holder, lease, writer, ARGV[8]) then
        return {10, redis.call('HGET', KEYS[2], ARGV[1]), cur, holder, lease}
    end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if ARGV[6] == '1' then
    redis.call('HSET', KEYS[6], ARGV[1], ARGV[7])
else
    redis.call('HDEL', KEYS[6], ARGV[1])
end
if ARGV[6] == '1' and ARGV[5] == '1' then
    redis.call('HSET', KEYS[5], ARGV[1], ARGV[4])
else
    redis.call('HDEL', KEYS[5], ARGV[1])
end
redis.call('PUBLISH', ARGV[10], ARGV[11])
return {0}
"""
)

# remove_leased: KEYS space, data, hash, holder, lease; ARGV name, holder, now,
# channel, notice. Answers {code} when there is no entry, else {0 (deleted) or
# 10 (another holds the lease), data, hash, holder or nil, lease until or nil}.
REMOVE_LEASED = (
    _LEASED_TO_ANOTHER
    + """
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if not cur then
    if redis.call('EXISTS', KEYS[1]) == 0 then return {1} end
    return {3}
end
local data = redis.call('HGET', KEYS[2], ARGV[1])
local holder = redis.call('HGET', KEYS[4], ARGV[1])
local lease = redis.call('HGET', KEYS[5], ARGV[1])
if leased_to_another(holder, lease, ARGV[2], ARGV[3]) then
    return {10, data, cur, holder, lease}
end
for i = 2, 5 do redis.call('HDEL', KEYS[i], ARGV[1]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {0, data, cur, holder, lease}
"""
)
