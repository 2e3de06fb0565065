/**
 * One Lua script per mutation, so each is atomic on the server. Scripts never read Redis's clock
 * (the caller's `now` comes in ARGV), never decode JSON (cjson would turn `[]` into `{}` and round
 * numbers to 14 digits) and never format numbers they did not receive as strings: every number
 * stored is the string JavaScript produced.
 *
 * Scripts report contract violations as error replies whose first word is an `FD…` code, which
 * `connection.ts` maps to FrontdeskError codes.
 */
import { createHash } from "node:crypto";
import type { RedisClient } from "./client.ts";

export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

export const script = (name: string, source: string): LuaScript => ({
  name,
  source,
  sha: createHash("sha1").update(source).digest("hex"),
});

/**
 * A script that hints subscribers, in two builds: PUBLISH on a single Redis, SPUBLISH on a
 * Cluster, where a plain PUBLISH would be broadcast to every node and a shard channel in the
 * script's slot reaches that slot's subscribers only.
 */
export interface HintingScript {
  readonly standalone: LuaScript;
  readonly cluster: LuaScript;
}

const hinting = (name: string, source: string): HintingScript => ({
  standalone: script(name, source),
  cluster: script(`${name}-cluster`, source.replaceAll("redis.call('PUBLISH'", "redis.call('SPUBLISH'")),
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

// Shared by the scripts that map seqs to list indexes. Events sit in the list in seq order; while
// nothing was ever removed, seq n sits at index n - 1. A removal leaves gaps: the header's field `p`
// then lists the runs of consecutive stored seqs as "<first seq>:<its index> …" in ascending order
// (each run lasts until the next run's index, the last one to the end of the list), and `g` counts
// the seqs removed, so the list holds lastSeq - g events. A last run that starts past the end of the
// list (after the newest events were removed) is where appends continue.
const RUN_HELPERS = `
local function runs_of(p)
  if not p or p == '' then return { { 1, 0 } } end
  local runs = {}
  for seq, index in string.gmatch(p, '(%d+):(%d+)') do runs[#runs + 1] = { tonumber(seq), tonumber(index) } end
  return runs
end
-- The index of the first stored event whose seq is >= seq; len when there is none. Scans from the
-- newest run, where most reads start.
local function index_at(runs, len, seq)
  for r = #runs, 1, -1 do
    local run = runs[r]
    if run[1] <= seq then
      local next_index = len
      if r < #runs then next_index = runs[r + 1][2] end
      return math.min(run[2] + seq - run[1], next_index)
    end
  end
  return 0
end
`;

/**
 * KEYS: 1 header, 2 events, 3 idempotency, 4 namespace created, 5 namespace updated,
 *       6 owner created, 7 owner updated, 8 owner expiry, 9 bucket expiry, then the state and
 *       version keys of each scoped write in ARGV's order, then a two-phase commit's decision key
 * ARGV: 1 now, 2 expectedVersion, 3 header JSON, 4 version, 5 lastSeq, 6 expiresAt ("" = never),
 *       7 lastAccessedAt, 8 createdAt, 9 updatedAt, 10 member, 11 ref, 12 reclaim ms ("" = never),
 *       13 channel, 14 idempotency key ("" = none), 15 idempotency JSON, 16 ttlMs ("" = none),
 *       17 absoluteExpiresAt ("" = none), 18…25 stats: messages, toolCalls, toolErrors,
 *       inputTokens, outputTokens, costUsd, durationMs, toolsUsed JSON, 26 event count n,
 *       27…26+n events, 27+n and 28+n the removed range's after and before ("" = no removal),
 *       29+n rewrite count m, then m pairs seq/event JSON, then per scoped write: scope,
 *       expectedVersion, pair count, field/JSON pairs; and last, for a commit whose out-of-slot
 *       scope is leased (commands.ts): "#decision" and the record's lifetime in ms. A decision
 *       already recorded (a recovery's "aborted") replies `FDABORTED` and changes nothing.
 * A removal costs O(removed + the shorter side of the list around it + runs); a rewrite is one LSET.
 * A rewrite of a seq past the previous lastSeq replies `FDREWRITE` and changes nothing.
 */
export const COMMIT = hinting(
  "commit",
  `${EXPIRY_HELPERS}${RUN_HELPERS}
local now = tonumber(ARGV[1])
local expected = tonumber(ARGV[2])
local cur = redis.call('HMGET', KEYS[1], 'v', 'x', 's', 'g', 'p')
local live = cur[1] ~= false and is_live(cur[2], now)
local prev_seq, removed, len = 0, 0, 0
if expected == 0 then
  if live then return redis.error_reply('FDCONFLICT ' .. cur[1]) end
else
  if not live then return redis.error_reply('FDNOTFOUND') end
  if tonumber(cur[1]) ~= expected then return redis.error_reply('FDCONFLICT ' .. cur[1]) end
  prev_seq = tonumber(cur[3])
  removed = tonumber(cur[4]) or 0
  len = redis.call('LLEN', KEYS[2])
  if len ~= prev_seq - removed then return redis.error_reply('FDSEQ ' .. prev_seq) end
end
local n = tonumber(ARGV[26])
if tonumber(ARGV[5]) ~= prev_seq + n then return redis.error_reply('FDSEQ ' .. prev_seq) end
local remove_after, remove_before = ARGV[27 + n], ARGV[28 + n]
local m = tonumber(ARGV[29 + n])
local first_rewrite = 30 + n
for j = first_rewrite, first_rewrite + 2 * m - 2, 2 do
  if tonumber(ARGV[j]) > prev_seq then return redis.error_reply('FDREWRITE ' .. prev_seq) end
end

local writes = {}
local decision, decision_ms = false, nil
local i = first_rewrite + 2 * m
while i <= #ARGV do
  local scope = ARGV[i]
  local next_key = 10 + 2 * #writes
  if scope == '#decision' then
    -- A two-phase commit's record: a recovery that already decided "aborted" wins.
    decision, decision_ms = KEYS[next_key], ARGV[i + 1]
    if redis.call('EXISTS', decision) == 1 then return redis.error_reply('FDABORTED') end
    i = i + 2
  else
    local state_key, version_key = KEYS[next_key], KEYS[next_key + 1]
    local version = redis.call('GET', version_key) or '0'
    if tonumber(version) ~= tonumber(ARGV[i + 1]) then
      return redis.error_reply('FDSCOPE ' .. scope .. ' ' .. version)
    end
    local pairs_count = tonumber(ARGV[i + 2])
    writes[#writes + 1] = { state_key, version_key, i + 3, pairs_count }
    i = i + 3 + 2 * pairs_count
  end
end

-- Every check passed: from here on nothing can fail, so the commit is whole.
if decision then redis.call('SET', decision, 'committed', 'PX', decision_ms) end
if expected == 0 then
  -- Leftovers of an expired session with this key: a create starts from nothing.
  redis.call('DEL', KEYS[2], KEYS[3])
  if cur[4] or cur[5] then redis.call('HDEL', KEYS[1], 'g', 'p') end
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
-- A create starts from one run, whatever an expired session left in the header.
local runs = runs_of(expected ~= 0 and cur[5])
local first, last = 1, 0
if remove_after ~= '' then
  first, last = tonumber(remove_after) + 1, math.min(tonumber(remove_before) - 1, prev_seq)
end
local lo, hi = index_at(runs, len, first), index_at(runs, len, last + 1) - 1
if lo <= hi then
  -- Cut indexes lo..hi out: LTRIM drops an end; for a middle range the shorter side is set aside
  -- and put back, so the cost is the removed events plus that side, never the whole list.
  if lo == 0 then
    redis.call('LTRIM', KEYS[2], hi + 1, -1)
  elseif hi == len - 1 then
    redis.call('LTRIM', KEYS[2], 0, lo - 1)
  elseif lo <= len - 1 - hi then
    local head = redis.call('LRANGE', KEYS[2], 0, lo - 1)
    redis.call('LTRIM', KEYS[2], hi + 1, -1)
    for j = #head, 1, -500 do
      local batch = {}
      for k = j, math.max(1, j - 499), -1 do batch[#batch + 1] = head[k] end
      redis.call('LPUSH', KEYS[2], unpack(batch))
    end
  else
    local tail = redis.call('LRANGE', KEYS[2], hi + 1, -1)
    redis.call('LTRIM', KEYS[2], 0, lo - 1)
    for j = 1, #tail, 500 do redis.call('RPUSH', KEYS[2], unpack(tail, j, math.min(j + 499, #tail))) end
  end
  -- The runs left: each old run's seqs minus first..last, renumbered from index 0.
  local kept, index, kept_last = {}, 0, 0
  for r, run in ipairs(runs) do
    local next_index = len
    if r < #runs then next_index = runs[r + 1][2] end
    local run_last = run[1] + next_index - run[2] - 1
    local pieces = {}
    if run[1] < first then pieces[#pieces + 1] = { run[1], math.min(run_last, first - 1) } end
    if run_last > last then pieces[#pieces + 1] = { math.max(run[1], last + 1), run_last } end
    for _, piece in ipairs(pieces) do
      if piece[2] >= piece[1] then
        kept[#kept + 1] = string.format('%d:%d', piece[1], index)
        index = index + piece[2] - piece[1] + 1
        kept_last = piece[2]
      end
    end
  end
  -- The newest events went too: the next seq starts a run of its own at the end of the list.
  if kept_last < prev_seq then kept[#kept + 1] = string.format('%d:%d', prev_seq + 1, index) end
  runs = runs_of(table.concat(kept, ' '))
  removed = removed + len - index
  len = index
  redis.call('HSET', KEYS[1], 'g', string.format('%d', removed), 'p', table.concat(kept, ' '))
end
for j = first_rewrite, first_rewrite + 2 * m - 2, 2 do
  -- A seq removed by this commit or an earlier one has nothing left to rewrite.
  local seq = tonumber(ARGV[j])
  local at = index_at(runs, len, seq)
  if index_at(runs, len, seq + 1) == at + 1 then
    -- From the nearer end: a list is walked to the index.
    if at >= len / 2 then at = at - len end
    redis.call('LSET', KEYS[2], at, ARGV[j + 1])
  end
end
redis.call('HSET', KEYS[1], 'j', ARGV[3], 'v', ARGV[4], 's', ARGV[5], 'x', ARGV[6], 'a', ARGV[7],
  'u', ARGV[9], 't', ARGV[16], 'b', ARGV[17], 'm', ARGV[18], 'c', ARGV[19], 'r', ARGV[20], 'i', ARGV[21],
  'o', ARGV[22], 'k', ARGV[23], 'd', ARGV[24], 'w', ARGV[25])
-- unpack() is bounded by Lua's C stack, so long batches go in slices.
for j = 27, 26 + n, 500 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, j, math.min(j + 499, 26 + n)))
end
if ARGV[14] ~= '' then redis.call('HSET', KEYS[3], ARGV[14], ARGV[15]) end
local score = expiry_score(ARGV[6])
-- createdAt never changes after the create, so its indexes are written only then.
if expected == 0 then
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[10])
  redis.call('ZADD', KEYS[6], ARGV[8], ARGV[10])
end
redis.call('ZADD', KEYS[5], ARGV[9], ARGV[10])
redis.call('ZADD', KEYS[7], ARGV[9], ARGV[10])
redis.call('ZADD', KEYS[8], score, ARGV[10])
redis.call('ZADD', KEYS[9], score, ARGV[11])
reclaim({ KEYS[1], KEYS[2], KEYS[3] }, ARGV[12])
redis.call('PUBLISH', ARGV[13], ARGV[5])
return 1
`,
);

/**
 * A plain append in one step (the store's `append`): the header's mutable fields are hash fields of
 * their own, so the script checks and advances them without decoding the header JSON `j`, which it
 * leaves as the last commit wrote it (`get` lays the fields over it). It reads only the fields its
 * checks and changes need (a plain message reads `v x s t b g m`) and writes only those that change.
 * KEYS: 1 header, 2 events, 3 idempotency, 4 namespace updated, 5 owner updated, 6 owner expiry,
 *       7 bucket expiry
 * ARGV: 1 the counts, one space-separated string: now, expectedVersion ("" = any),
 *       maxEventsPerSession, reclaim grace ms (whole), messages, toolCalls, toolErrors, the length x
 *       of the extras (0 when the events use no tool and add to no sum), the event count n;
 *       2 idempotency key ("" = none), then only with a key: the idempotency record JSON up to
 *       `"firstSeq":` and its end from `,"at":`; then the x extras (the count of tools t and t tools
 *       as JSON strings, then for inputTokens, outputTokens, costUsd and durationMs in turn a count
 *       and that many addends), then the n events, each the JSON of `{ id, at, ... }` without its
 *       opening brace.
 * The index members and the hint channel are not sent: they are derived from KEYS[1]
 * (`<prefix>:{<tag>}:s:<ref>:h`, where ref is `<ns>:<owner>:<id>`, member is `<owner>:<id>` and
 * the channel is `<prefix>:{<tag>}:s:<ref>:hint`, as keys.ts builds them; no segment holds a raw
 * `:`, `{` or `}`).
 * Replies { "appended", version, lastSeq }, { "replayed", record JSON }, { "not_found" },
 * { "full" }, { "version_mismatch", version } or { "legacy" } (a header written before these
 * fields existed: the caller commits instead, which writes them).
 */
export const APPEND = hinting(
  "append",
  `
local now_s, expected, max_events, grace, messages, tool_calls, tool_errors, extras, n =
  string.match(ARGV[1], '^(%S+) (%S*) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
local now = tonumber(now_s)
messages, tool_calls, tool_errors = tonumber(messages), tonumber(tool_calls), tonumber(tool_errors)
extras, n = tonumber(extras), tonumber(n)
local idem = ARGV[2] ~= ''
local p = 3
if idem then p = 5 end
local first_event = p + extras

-- The fields to read: v x s t b g for the checks and the expiry, then only the stats that change.
local read = { 'v', 'x', 's', 't', 'b', 'g' }
local function want(field)
  read[#read + 1] = field
  return #read
end
local im, ic, ir = messages ~= 0 and want('m'), tool_calls ~= 0 and want('c'), tool_errors ~= 0 and want('r')
local tools_from, tools_count, iw = 0, 0, false
local sums = {}
if extras > 0 then
  tools_count = tonumber(ARGV[p])
  tools_from = p + 1
  if tools_count > 0 then iw = want('w') end
  local j = tools_from + tools_count
  for f, field in ipairs({ 'i', 'o', 'k', 'd' }) do
    local count = tonumber(ARGV[j])
    if count > 0 then sums[#sums + 1] = { field, want(field), j + 1, count } end
    j = j + 1 + count
  end
end

local h = redis.call('HMGET', KEYS[1], unpack(read))
if h[1] == false or (h[2] ~= '' and (h[2] == false or tonumber(h[2]) <= now)) then return { 'not_found' } end
if h[4] == false then return { 'legacy' } end
if idem then
  local record = redis.call('HGET', KEYS[3], ARGV[2])
  if record then return { 'replayed', record } end
end
local prev_seq = tonumber(h[3])
if prev_seq + n > tonumber(max_events) then return { 'full' } end
local version = tonumber(h[1])
if expected ~= '' and version ~= tonumber(expected) then return { 'version_mismatch', h[1] } end

-- The events go first: RPUSH answers the list's new length, which is the new lastSeq less the
-- removed seqs \`g\` when the list was in step with \`s\`. A list out of step is put back as it was
-- and the append refused, so the check costs no command of its own.
local last = prev_seq + n
local last_s = string.format('%d', last)
local length
if n == 1 then
  length = redis.call('RPUSH', KEYS[2], '{"seq":' .. last_s .. ',' .. ARGV[first_event])
else
  -- unpack() is bounded by Lua's C stack, so long batches go in slices.
  local batch = {}
  for j = 1, n do
    batch[#batch + 1] = '{"seq":' .. string.format('%d', prev_seq + j) .. ',' .. ARGV[first_event + j - 1]
    if #batch == 500 or j == n then
      length = redis.call('RPUSH', KEYS[2], unpack(batch))
      batch = {}
    end
  end
end
if length ~= last - (tonumber(h[6]) or 0) then
  if length == n then redis.call('DEL', KEYS[2]) else redis.call('LTRIM', KEYS[2], 0, length - n - 1) end
  return redis.error_reply('FDSEQ ' .. h[3])
end

-- Every check passed: from here on nothing can fail, so the append is whole.
local next_version = string.format('%d', version + 1)
local expires = ''
if h[4] ~= '' then
  local sliding = now + tonumber(h[4])
  if h[5] ~= '' and tonumber(h[5]) <= sliding then expires = h[5] else expires = string.format('%.17g', sliding) end
elseif h[5] ~= '' then
  expires = h[5]
end
-- Only the fields that change are written.
local fields = { 'v', next_version, 's', last_s, 'a', now_s, 'u', now_s }
local function set(field, old, new)
  if new ~= old then
    fields[#fields + 1] = field
    fields[#fields + 1] = new
  end
end
set('x', h[2], expires)
if im then set('m', h[im], string.format('%.17g', tonumber(h[im]) + messages)) end
if ic then set('c', h[ic], string.format('%.17g', tonumber(h[ic]) + tool_calls)) end
if ir then set('r', h[ir], string.format('%.17g', tonumber(h[ir]) + tool_errors)) end
for _, sum in ipairs(sums) do
  local current = h[sum[2]]
  local total = tonumber(current)
  for j = sum[3], sum[3] + sum[4] - 1 do total = total + tonumber(ARGV[j]) end
  set(sum[1], current, string.format('%.17g', total))
end
if iw then
  -- Is the JSON string token tok an element of arr, a JSON array of strings as JSON.stringify writes it?
  local function has_token(arr, tok)
    local i = 2
    while string.sub(arr, i, i) == '"' do
      local j = i + 1
      while true do
        local k = string.find(arr, '["\\\\]', j)
        if k == nil then return false end
        if string.sub(arr, k, k) == '"' then j = k break end
        j = k + 2
      end
      if string.sub(arr, i, j) == tok then return true end
      i = j + 2
    end
    return false
  end
  local tools = h[iw]
  for j = tools_from, tools_from + tools_count - 1 do
    if not has_token(tools, ARGV[j]) then
      if tools == '[]' then tools = '[' .. ARGV[j] .. ']'
      else tools = string.sub(tools, 1, -2) .. ',' .. ARGV[j] .. ']' end
    end
  end
  set('w', h[iw], tools)
end
redis.call('HSET', KEYS[1], unpack(fields))
if idem then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3] .. string.format('%d', prev_seq + 1) .. ',"lastSeq":' ..
    last_s .. ',"version":' .. next_version .. ARGV[4])
end
-- KEYS[1] is \`<prefix>:{<tag>}:s:<ref>:h\` (neither prefix nor tag has a brace) and ref is
-- \`<ns>:<member>\` (no raw \`:\` in ns).
local ref = string.sub(KEYS[1], string.find(KEYS[1], '}:s:', 1, true) + 4, -3)
local member = string.sub(ref, string.find(ref, ':', 1, true) + 1)
redis.call('ZADD', KEYS[4], now_s, member)
redis.call('ZADD', KEYS[5], now_s, member)
-- A session that never expires keeps its index entries and PERSISTed keys as its last write left them.
if expires ~= h[2] then
  local score = expires
  if expires == '' then score = '+inf' end
  redis.call('ZADD', KEYS[6], score, member)
  redis.call('ZADD', KEYS[7], score, ref)
end
if expires == '' then
  if h[2] ~= '' then redis.call('PERSIST', KEYS[1]) redis.call('PERSIST', KEYS[2]) redis.call('PERSIST', KEYS[3]) end
else
  local ms = string.format('%d', math.max(0, math.ceil(tonumber(expires) - now)) + tonumber(grace))
  redis.call('PEXPIRE', KEYS[1], ms)
  redis.call('PEXPIRE', KEYS[2], ms)
  redis.call('PEXPIRE', KEYS[3], ms)
end
redis.call('PUBLISH', string.sub(KEYS[1], 1, -2) .. 'hint', last_s)
return { 'appended', version + 1, last }
`,
);

/**
 * KEYS: 1 header, 2 events, 3 idempotency, 4 owner expiry, 5 bucket expiry
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
 *       6 owner created, 7 owner updated, 8 owner expiry, 9 bucket expiry
 * ARGV: 1 member, 2 ref, 3 now ("" = unconditional delete; else only when expired at now, for
 *       sweep), 4 channel ("" = no hint), 5 expectedVersion ("" = any; else a conditional delete:
 *       only a session live at ARGV 6 and at exactly this version), 6 now of the condition
 * Returns 1 when a header was removed, 0 otherwise (index entries of a missing header are still
 * cleaned, so a reclaimed session does not linger in indexes; a conditional delete of an absent or
 * expired session touches nothing). A conditional delete of another version replies
 * `FDCONFLICT <version>` and deletes nothing.
 */
export const REMOVE = hinting(
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
 * Reads a slice of the log in one atomic step: the seq bounds become list indexes (the runs of `p`
 * when events were removed), so a concurrent removal can never shift the list under the read.
 * KEYS: 1 header, 2 events
 * ARGV: 1 after (whole, ≥ 0), 2 before ("" = none), 3 limit ("" = all), 4 "desc" for the newest
 *       `limit` (still returned in ascending order) or "asc" for the oldest
 * Returns the event JSON strings in ascending seq order.
 */
export const READ_EVENTS = script(
  "read-events",
  `${RUN_HELPERS}
local len = redis.call('LLEN', KEYS[2])
local runs = runs_of(redis.call('HGET', KEYS[1], 'p'))
local from = index_at(runs, len, tonumber(ARGV[1]) + 1)
local to = len - 1
if ARGV[2] ~= '' then to = index_at(runs, len, tonumber(ARGV[2])) - 1 end
if ARGV[3] ~= '' then
  if ARGV[4] == 'desc' then from = math.max(from, to - tonumber(ARGV[3]) + 1)
  else to = math.min(to, from + tonumber(ARGV[3]) - 1) end
end
if to < from then return {} end
-- From the nearer end: a list is walked to the index.
if from >= len / 2 then from, to = from - len, to - len end
return redis.call('LRANGE', KEYS[2], from, to)
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
  client: RedisClient,
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

/**
 * {@link runScript} with the KEYS and ARGV already in one array (`numKeys` keys first), for the hot
 * paths: nothing is copied or spread again on the way to the connection.
 */
export function runScriptWith(
  client: RedisClient,
  lua: LuaScript,
  numKeys: number,
  keysAndArgs: readonly (string | number)[],
): Promise<unknown> {
  // ioredis flattens an array argument into the command's arguments (its typings omit that).
  // No async wrapper: the common case is the EVALSHA's own promise, with a handler only for NOSCRIPT.
  const c = client as unknown as FlatScriptClient;
  return c.evalsha(lua.sha, numKeys, keysAndArgs).catch((error: unknown) => {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return c.eval(lua.source, numKeys, keysAndArgs);
  });
}

interface FlatScriptClient {
  evalsha(sha: string, numKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown>;
  eval(source: string, numKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown>;
}
