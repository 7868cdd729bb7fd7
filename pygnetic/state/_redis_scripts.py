"""The Lua scripts of the Redis store: each check and the write it guards, as one step.

Redis runs a script without running anything else meanwhile, so the check
and the write of each script are one atomic step however many state servers
share the Redis. :class:`~pygnetic.state.RedisStore` registers each once and
runs it with ``EVALSHA``; the comment above each says its ``KEYS`` and
``ARGV``, and what it answers is one of the codes below.
"""

from __future__ import annotations

# What a script answers. 0 is success everywhere.
OK = 0
NO_SPACE = 1
CHANGED = 2
NO_VALUE = 3
FULL = 4
EXISTS = 5
OWNER_FULL = 6
NOT_MEMBER = 7

# put: KEYS space, data, hash; ARGV name, value, new hash, has expect ('1'/'0'),
# expect, max variables, channel, notice.
PUT = """
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if not cur then
    if ARGV[4] == '1' and ARGV[5] ~= '' then return 3 end
    if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
    if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[6]) then return 4 end
elseif ARGV[4] == '1' and cur ~= ARGV[5] then
    return 2
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('PUBLISH', ARGV[7], ARGV[8])
return 0
"""

# remove: KEYS space, data, hash; ARGV name, has expect, expect, channel, notice.
REMOVE = """
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if not cur then
    if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
    return 3
end
if ARGV[2] == '1' and cur ~= ARGV[3] then return 2 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
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

# delete_space: KEYS space, spaces, then every other key of the space (data,
# hash, the role sets); ARGV key, the owned family's prefix, channel, notice.
# The owner's set is named from the space's hash, so it is not among KEYS.
DELETE_SPACE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'has_owner') == '1' then
    redis.call('SREM', ARGV[2] .. redis.call('HGET', KEYS[1], 'owner'), ARGV[1])
end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
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
