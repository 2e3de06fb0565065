/**
 * One Lua script per mutation, so each is atomic on the server. Scripts never read Redis's clock
 * (the caller's `now` comes in ARGV), never decode JSON (cjson would turn `[]` into `{}` and round
 * numbers to 14 digits) and never format numbers they did not receive as strings: every number
 * stored is the string JavaScript produced.
 *
 * Scripts report contract violations as error replies whose first word is an `FD…` code, which
 * `index.ts` maps to FrontdeskError codes.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

const script = (name: string, source: string): LuaScript => ({
  name,
  source,
  sha: createHash("sha1").update(source).digest("hex"),
});

// Shared by the scripts that (re)write expiry: "" means "never expires".
const EXPIRY_HELPERS = `
local function expiry_score(x)
  if x == '' then return '+inf' end
  return x
end
local function reclaim(keys, ms)
  for _, key in ipairs(keys) do
    if ms == '' then redis.call('PERSIST', key) else redis.call('PEXPIRE', key, ms) end
  end
end
local function is_live(x, now)
  return x ~= false and (x == '' or tonumber(x) > now)
end
`;

/**
 * KEYS: 1 header, 2 events, 3 idempotency, 4 namespace created, 5 namespace updated,
 *       6 owner created, 7 owner updated, 8 owner expiry, 9 store expiry,
 *       10 user scope state, 11 user scope version, 12 app scope state, 13 app scope version
 * ARGV: 1 now, 2 expectedVersion, 3 header JSON, 4 version, 5 lastSeq, 6 expiresAt ("" = never),
 *       7 lastAccessedAt, 8 createdAt, 9 updatedAt, 10 member, 11 ref, 12 reclaim ms ("" = never),
 *       13 channel, 14 idempotency key ("" = none), 15 idempotency JSON, 16 event count n,
 *       17…16+n events, then per scoped write: scope, expectedVersion, pair count, field/JSON pairs
 */
export const COMMIT = script(
  "commit",
  `${EXPIRY_HELPERS}
local now = tonumber(ARGV[1])
local expected = tonumber(ARGV[2])
local cur = redis.call('HMGET', KEYS[1], 'v', 'x', 's')
local live = cur[1] ~= false and is_live(cur[2], now)
local prev_seq = 0
if expected == 0 then
  if live then return redis.error_reply('FDCONFLICT ' .. cur[1]) end
else
  if not live then return redis.error_reply('FDNOTFOUND') end
  if tonumber(cur[1]) ~= expected then return redis.error_reply('FDCONFLICT ' .. cur[1]) end
  prev_seq = tonumber(cur[3])
  if redis.call('LLEN', KEYS[2]) ~= prev_seq then return redis.error_reply('FDSEQ ' .. prev_seq) end
end
local n = tonumber(ARGV[16])
if tonumber(ARGV[5]) ~= prev_seq + n then return redis.error_reply('FDSEQ ' .. prev_seq) end

local writes = {}
local i = 17 + n
while i <= #ARGV do
  local scope = ARGV[i]
  local state_key, version_key = KEYS[10], KEYS[11]
  if scope == 'app' then state_key, version_key = KEYS[12], KEYS[13] end
  local version = redis.call('GET', version_key) or '0'
  if tonumber(version) ~= tonumber(ARGV[i + 1]) then
    return redis.error_reply('FDSCOPE ' .. scope .. ' ' .. version)
  end
  local pairs_count = tonumber(ARGV[i + 2])
  writes[#writes + 1] = { state_key, version_key, i + 3, pairs_count }
  i = i + 3 + 2 * pairs_count
end

-- Every check passed: from here on nothing can fail, so the commit is whole.
if expected == 0 then
  -- Leftovers of an expired session with this key: a create starts from nothing.
  redis.call('DEL', KEYS[2], KEYS[3])
end
for _, w in ipairs(writes) do
  for j = w[3], w[3] + 2 * w[4] - 1, 2 do
    if ARGV[j + 1] == 'null' then
      redis.call('HDEL', w[1], ARGV[j])
    else
      redis.call('HSET', w[1], ARGV[j], ARGV[j + 1])
    end
  end
  redis.call('INCR', w[2])
end
redis.call('HSET', KEYS[1], 'j', ARGV[3], 'v', ARGV[4], 's', ARGV[5], 'x', ARGV[6], 'a', ARGV[7])
-- unpack() is bounded by Lua's C stack, so long batches go in slices.
for j = 17, 16 + n, 500 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, j, math.min(j + 499, 16 + n)))
end
if ARGV[14] ~= '' then redis.call('HSET', KEYS[3], ARGV[14], ARGV[15]) end
local score = expiry_score(ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[8], ARGV[10])
redis.call('ZADD', KEYS[5], ARGV[9], ARGV[10])
redis.call('ZADD', KEYS[6], ARGV[8], ARGV[10])
redis.call('ZADD', KEYS[7], ARGV[9], ARGV[10])
redis.call('ZADD', KEYS[8], score, ARGV[10])
redis.call('ZADD', KEYS[9], score, ARGV[11])
reclaim({ KEYS[1], KEYS[2], KEYS[3] }, ARGV[12])
redis.call('PUBLISH', ARGV[13], ARGV[5])
return 1
`,
);

/**
 * KEYS: 1 header, 2 events, 3 idempotency, 4 owner expiry, 5 store expiry
 * ARGV: 1 now, 2 expiresAt ("" = never), 3 lastAccessedAt, 4 reclaim ms ("" = never), 5 member, 6 ref
 * Returns 1 when touched, 0 when absent or expired (never revived).
 */
export const TOUCH = script(
  "touch",
  `${EXPIRY_HELPERS}
local x = redis.call('HGET', KEYS[1], 'x')
if not is_live(x, tonumber(ARGV[1])) then return 0 end
redis.call('HSET', KEYS[1], 'x', ARGV[2], 'a', ARGV[3])
local score = expiry_score(ARGV[2])
redis.call('ZADD', KEYS[4], score, ARGV[5])
redis.call('ZADD', KEYS[5], score, ARGV[6])
reclaim({ KEYS[1], KEYS[2], KEYS[3] }, ARGV[4])
return 1
`,
);

/**
 * Deletes one session with its events, idempotency records and index entries.
 * KEYS: 1 header, 2 events, 3 idempotency, 4 namespace created, 5 namespace updated,
 *       6 owner created, 7 owner updated, 8 owner expiry, 9 store expiry
 * ARGV: 1 member, 2 ref, 3 now ("" = unconditional delete; else only when expired at now, for
 *       sweep), 4 channel ("" = no hint), 5 expectedVersion ("" = any; else a conditional delete:
 *       only a session live at ARGV 6 and at exactly this version), 6 now of the condition
 * Returns 1 when a header was removed, 0 otherwise (index entries of a missing header are still
 * cleaned, so a reclaimed session does not linger in indexes; a conditional delete of an absent or
 * expired session touches nothing). A conditional delete of another version replies
 * `FDCONFLICT <version>` and deletes nothing.
 */
export const REMOVE = script(
  "remove",
  `${EXPIRY_HELPERS}
local cur = redis.call('HMGET', KEYS[1], 'x', 'v')
local x = cur[1]
if ARGV[3] ~= '' and is_live(x, tonumber(ARGV[3])) then
  -- Touched since the sweep looked: heal its expiry entry so the sweep cannot see it again.
  redis.call('ZADD', KEYS[9], expiry_score(x), ARGV[2])
  return 0
end
if ARGV[5] ~= '' then
  if not is_live(x, tonumber(ARGV[6])) then return 0 end
  if tonumber(cur[2]) ~= tonumber(ARGV[5]) then return redis.error_reply('FDCONFLICT ' .. cur[2]) end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
redis.call('ZREM', KEYS[9], ARGV[2])
if x == false then return 0 end
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], '0') end
return 1
`,
);

/**
 * KEYS: 1 records, 2 byHash, 3 revoked. ARGV: 1 id, 2 hash, 3 record JSON, 4 revokedAt ("" = none)
 */
export const PUT_API_KEY = script(
  "put-api-key",
  `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  return redis.error_reply('FDCONFLICT')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4]) end
return 1
`,
);

/** KEYS: 1 byHash, 2 records, 3 revoked. ARGV: 1 hash. Returns { record JSON, revokedAt or "" } or nil. */
export const FIND_API_KEY = script(
  "find-api-key",
  `
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local record = redis.call('HGET', KEYS[2], id)
if not record then return false end
return { record, redis.call('HGET', KEYS[3], id) or '' }
`,
);

/** KEYS: 1 records, 2 revoked. ARGV: 1 id, 2 revokedAt. Returns 1 when revoked now, 0 otherwise. */
export const REVOKE_API_KEY = script(
  "revoke-api-key",
  `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
`,
);

/**
 * Runs a script by its SHA and falls back to sending the source when the server does not have it
 * cached yet (NOSCRIPT after a restart, a failover or SCRIPT FLUSH); EVAL caches it again.
 */
export async function runScript(
  client: Redis,
  lua: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(lua.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return await client.eval(lua.source, keys.length, ...keys, ...args);
  }
}
