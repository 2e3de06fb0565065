import type { PoolClient } from "pg";

/** One forward-only schema change. Applied versions are recorded in `<schema>.frontdesk_migrations`. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements for the (already quoted) schema, run in one transaction. */
  readonly up: (schema: string) => readonly string[];
}

/** The commit function's SQLSTATEs: raised to roll the whole commit back, mapped to error codes by the store. */
export const SQLSTATE_NOT_FOUND = "FD404";
export const SQLSTATE_CONFLICT = "FD409";
/** Raised by `frontdesk_commit_rewriting` for a commit that does not fit the stored log. */
export const SQLSTATE_INVALID = "FD400";

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "sessions, events, scoped state, idempotency, api keys",
    up: (s) => [
      // `sid` is a surrogate so the events and idempotency keys stay small; every lookup still goes
      // through the full (namespace, user_id, id) key, and a re-created session gets a new sid, so
      // nothing of an old one can ever show through. "C" collation makes the keyset order byte
      // order, the same code-unit order the other stores page in.
      // events and idempotency have no foreign key: the RI trigger's per-row lookup and lock are a
      // measurable share of a commit. The three functions below are the only writers and remove a
      // session's rows together.
      `CREATE TABLE ${s}.sessions (
        sid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        namespace text COLLATE "C" NOT NULL,
        user_id text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        version integer NOT NULL,
        last_seq bigint NOT NULL,
        status text NOT NULL,
        title text,
        purpose text,
        title_lc text,
        purpose_lc text,
        tags text[] NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        last_accessed_at bigint NOT NULL,
        expires_at bigint,
        header text NOT NULL,
        CONSTRAINT sessions_key UNIQUE (namespace, user_id, id)
      )`,
      `CREATE INDEX sessions_owner_created ON ${s}.sessions (namespace, user_id, created_at, id)`,
      `CREATE INDEX sessions_owner_updated ON ${s}.sessions (namespace, user_id, updated_at, id)`,
      `CREATE INDEX sessions_created ON ${s}.sessions (namespace, created_at, user_id, id)`,
      `CREATE INDEX sessions_updated ON ${s}.sessions (namespace, updated_at, user_id, id)`,
      `CREATE INDEX sessions_tags ON ${s}.sessions USING gin (tags)`,
      `CREATE INDEX sessions_expires ON ${s}.sessions (expires_at) WHERE expires_at IS NOT NULL`,
      `CREATE TABLE ${s}.events (
        sid bigint NOT NULL,
        seq bigint NOT NULL,
        type text NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (sid, seq)
      )`,
      `CREATE TABLE ${s}.idempotency (
        sid bigint NOT NULL,
        key text COLLATE "C" NOT NULL,
        record text NOT NULL,
        PRIMARY KEY (sid, key)
      )`,
      `CREATE TABLE ${s}.scoped_state (
        namespace text COLLATE "C" NOT NULL,
        scope text NOT NULL,
        owner text COLLATE "C" NOT NULL,
        state jsonb NOT NULL,
        version integer NOT NULL,
        PRIMARY KEY (namespace, scope, owner)
      )`,
      `CREATE TABLE ${s}.api_keys (
        id text COLLATE "C" PRIMARY KEY,
        hash text COLLATE "C" NOT NULL UNIQUE,
        prefix text NOT NULL,
        user_id text NOT NULL,
        admin boolean NOT NULL,
        label text,
        created_at bigint NOT NULL,
        revoked_at bigint
      )`,
      commitFunction(s),
      deleteFunction(s),
      sweepFunction(s),
    ],
  },
  {
    version: 2,
    name: "conditional delete",
    up: (s) => [deleteAtVersionFunction(s)],
  },
  {
    version: 3,
    name: "per-key request rate",
    up: (s) => [`ALTER TABLE ${s}.api_keys ADD COLUMN IF NOT EXISTS requests_per_second double precision`],
  },
  {
    version: 4,
    name: "commits that remove and rewrite stored events",
    up: (s) => [commitRewritingFunction(s)],
  },
  {
    version: 5,
    name: "lists of every owner in one status",
    // Walked in created_at order within one status (sql.ts's listQuery); tags and expires_at ride
    // along so the filters are checked in an index-only scan, sid finds the page's rows after, and
    // updated_at lets a rare status be listed by update time with a top-N sort of its entries. A
    // commit is never a HOT update (updated_at and expires_at are indexed elsewhere), so it writes
    // an entry in this index as in every other, whatever the index holds. Built in the migration's
    // transaction: writes to sessions wait for it (seconds per million sessions).
    up: (s) => [
      `CREATE INDEX IF NOT EXISTS sessions_status_created ON ${s}.sessions (namespace, status, created_at, user_id, id)
        INCLUDE (tags, expires_at, sid, updated_at)`,
    ],
  },
  {
    version: 6,
    name: "plain appends in one statement",
    up: (s) => [appendFunction(s)],
  },
  {
    version: 7,
    name: "keyed lookups only through sessions_key",
    // The list indexes lead with namespace, as sessions_key does. A generic plan that a pooled
    // connection caches while the table is small (a new database, before autovacuum's first
    // ANALYZE) may pick one of them for a keyed lookup, with user_id and id as mere index
    // conditions: measured, a `get` then walked every entry of the namespace, 2 ms at 10,000
    // sessions and growing, until statistics came. As partial indexes on a bound every stored
    // session meets and only the list query states ({@link LISTED}), they can serve nothing else:
    // keyed statements never name created_at. (A bound on version would not do: the commit's
    // `version = $expected` implies `version > 0` in a custom plan.) Built in the migration's
    // transaction, as version 5's index was; docs/stores/postgres.md says how to build them
    // beforehand without blocking writes.
    up: (s) =>
      LIST_INDEXES.flatMap(([name, columns]) => [
        `CREATE INDEX IF NOT EXISTS ${name}_listed ON ${s}.sessions ${columns} WHERE ${LISTED}`,
        `DROP INDEX IF EXISTS ${s}.${name}`,
      ]),
  },
];

/**
 * The predicate of the owner's list indexes: true of every stored session (a time is a safe
 * integer), stated as this same literal by the list query so the planner can prove it.
 */
export const LISTED = "created_at > -9007199254740992";

/** The list indexes of versions 1 and 5, each made partial on {@link LISTED} by version 7 (`<name>_listed`). */
export const LIST_INDEXES: readonly (readonly [name: string, columns: string])[] = [
  ["sessions_owner_created", "(namespace, user_id, created_at, id)"],
  ["sessions_owner_updated", "(namespace, user_id, updated_at, id)"],
  ["sessions_created", "(namespace, created_at, user_id, id)"],
  ["sessions_updated", "(namespace, updated_at, user_id, id)"],
  [
    "sessions_status_created",
    "(namespace, status, created_at, user_id, id) INCLUDE (tags, expires_at, sid, updated_at)",
  ],
];

export const LATEST_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/**
 * The whole commit as one function, so a commit is one statement: one round trip, its own
 * transaction, and an exception rolls every part of it back. Branches that write nothing raise
 * FD404/FD409 with the current version in DETAIL.
 */
function commitFunction(s: string): string {
  return `CREATE OR REPLACE FUNCTION ${s}.frontdesk_commit(
    p_namespace text, p_user_id text, p_id text, p_expected integer, p_now bigint,
    p_version integer, p_last_seq bigint, p_status text, p_title text, p_purpose text,
    p_title_lc text, p_purpose_lc text, p_tags text[], p_created_at bigint, p_updated_at bigint,
    p_last_accessed_at bigint, p_expires_at bigint, p_header text,
    p_seqs bigint[], p_types text[], p_bodies text[],
    p_scoped jsonb, p_idempotency_key text, p_idempotency_record text
  ) RETURNS void LANGUAGE plpgsql AS $fn$
  DECLARE
    v_sid bigint;
    v_version integer;
    v_expires_at bigint;
    w record;
  BEGIN
    IF p_expected = 0 THEN
      SELECT sid, version, expires_at INTO v_sid, v_version, v_expires_at FROM ${s}.sessions
        WHERE namespace = p_namespace AND user_id = p_user_id AND id = p_id FOR UPDATE;
      IF FOUND THEN
        IF v_expires_at IS NULL OR v_expires_at > p_now THEN
          RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'session exists', DETAIL = v_version::text;
        END IF;
        DELETE FROM ${s}.sessions WHERE sid = v_sid;
        DELETE FROM ${s}.events WHERE sid = v_sid;
        DELETE FROM ${s}.idempotency WHERE sid = v_sid;
      END IF;
      INSERT INTO ${s}.sessions (namespace, user_id, id, version, last_seq, status, title, purpose,
          title_lc, purpose_lc, tags, created_at, updated_at, last_accessed_at, expires_at, header)
        VALUES (p_namespace, p_user_id, p_id, p_version, p_last_seq, p_status, p_title, p_purpose,
          p_title_lc, p_purpose_lc, p_tags, p_created_at, p_updated_at, p_last_accessed_at, p_expires_at, p_header)
        ON CONFLICT ON CONSTRAINT sessions_key DO NOTHING
        RETURNING sid INTO v_sid;
      IF NOT FOUND THEN
        -- A concurrent create won the race.
        SELECT version INTO v_version FROM ${s}.sessions
          WHERE namespace = p_namespace AND user_id = p_user_id AND id = p_id;
        RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'session exists', DETAIL = coalesce(v_version, 0)::text;
      END IF;
    ELSE
      UPDATE ${s}.sessions SET version = p_version, last_seq = p_last_seq, status = p_status,
          title = p_title, purpose = p_purpose, title_lc = p_title_lc, purpose_lc = p_purpose_lc,
          tags = p_tags, created_at = p_created_at, updated_at = p_updated_at,
          last_accessed_at = p_last_accessed_at, expires_at = p_expires_at, header = p_header
        WHERE namespace = p_namespace AND user_id = p_user_id AND id = p_id
          AND version = p_expected AND (expires_at IS NULL OR expires_at > p_now)
        RETURNING sid INTO v_sid;
      IF NOT FOUND THEN
        SELECT version, expires_at INTO v_version, v_expires_at FROM ${s}.sessions
          WHERE namespace = p_namespace AND user_id = p_user_id AND id = p_id;
        IF NOT FOUND OR (v_expires_at IS NOT NULL AND v_expires_at <= p_now) THEN
          RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_NOT_FOUND}', MESSAGE = 'session not found';
        END IF;
        RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'session changed', DETAIL = v_version::text;
      END IF;
    END IF;

    IF cardinality(p_seqs) > 0 THEN
      INSERT INTO ${s}.events (sid, seq, type, body)
        SELECT v_sid, e.seq, e.type, e.body FROM unnest(p_seqs, p_types, p_bodies) AS e(seq, type, body);
    END IF;

    IF p_scoped IS NOT NULL THEN
      FOR w IN SELECT * FROM jsonb_to_recordset(p_scoped) AS x(scope text, owner text, expected integer, sets jsonb, unsets jsonb) LOOP
        UPDATE ${s}.scoped_state
          SET state = (state - ARRAY(SELECT jsonb_array_elements_text(w.unsets))) || w.sets, version = version + 1
          WHERE namespace = p_namespace AND scope = w.scope AND owner = w.owner AND version = w.expected;
        IF NOT FOUND THEN
          IF w.expected = 0 THEN
            INSERT INTO ${s}.scoped_state (namespace, scope, owner, state, version)
              VALUES (p_namespace, w.scope, w.owner, w.sets, 1)
              ON CONFLICT DO NOTHING;
          END IF;
          IF w.expected <> 0 OR NOT FOUND THEN
            SELECT version INTO v_version FROM ${s}.scoped_state
              WHERE namespace = p_namespace AND scope = w.scope AND owner = w.owner;
            RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'scope:' || w.scope, DETAIL = coalesce(v_version, 0)::text;
          END IF;
        END IF;
      END LOOP;
    END IF;

    IF p_idempotency_key IS NOT NULL THEN
      INSERT INTO ${s}.idempotency (sid, key, record) VALUES (v_sid, p_idempotency_key, p_idempotency_record)
        ON CONFLICT DO NOTHING;
      IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'idempotency', DETAIL = p_version::text;
      END IF;
    END IF;
  END
  $fn$`;
}

/**
 * The store's one-step `append` (store-contract.ts, `AppendRequest`): the core's header read and
 * its commit as one statement, so a plain append is one round trip instead of two. Under the row
 * lock it checks, in the contract's order, absent or expired, a known idempotency key, the event
 * limit and the expected version; only then does it write.
 *
 * The header text stays whole and current, so every reader (an instance of an earlier version
 * during an upgrade too) reads it as before. The store writes it with the fields an append moves
 * in front (`headerText` in commands.ts), so the function replaces that head and keeps the rest,
 * the user's state and metadata included, byte for byte; it never re-serialises user data. A
 * header in another layout (written before version 6) or whose head holds a `\u0000` escape that
 * jsonb refuses is declined: the core then reads and commits it, which writes the new layout.
 * Stats are summed in float8 in the events' order, as JavaScript sums them, and printed
 * shortest-exact (`extra_float_digits` above 0).
 *
 * Each body is an event's JSON without its opening brace; the seq is put in front of it here.
 * `p_idempotency_head` is the record's JSON up to its `firstSeq` value.
 */
function appendFunction(s: string): string {
  return `CREATE OR REPLACE FUNCTION ${s}.frontdesk_append(
    p_namespace text, p_user_id text, p_id text, p_now bigint, p_expected integer, p_max bigint,
    p_types text[], p_bodies text[],
    p_messages bigint, p_tool_calls bigint, p_tool_errors bigint, p_tools text[],
    p_input_tokens float8[], p_output_tokens float8[], p_cost_usd float8[], p_duration_ms float8[],
    p_idempotency_key text, p_idempotency_head text,
    OUT o_outcome text, OUT o_version integer, OUT o_last_seq bigint, OUT o_record text
  ) LANGUAGE plpgsql SET extra_float_digits = 1 AS $fn$
  DECLARE
    v_sid bigint;
    v_version integer;
    v_last_seq bigint;
    v_expires_at bigint;
    v_text text;
    v_cut integer;
    v_head jsonb;
    v_stats jsonb;
    v_tools jsonb;
    v_tool text;
    v_ttl bigint;
    v_absolute bigint;
    v_next_expiry bigint;
    v_input float8;
    v_output float8;
    v_cost float8;
    v_duration float8;
    v_addend float8;
    v_count integer := cardinality(p_bodies);
  BEGIN
    SELECT sid, version, last_seq, expires_at, header INTO v_sid, v_version, v_last_seq, v_expires_at, v_text
      FROM ${s}.sessions WHERE namespace = p_namespace AND user_id = p_user_id AND id = p_id FOR UPDATE;
    IF NOT FOUND OR (v_expires_at IS NOT NULL AND v_expires_at <= p_now) THEN
      o_outcome := 'not_found';
      RETURN;
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
      SELECT record INTO o_record FROM ${s}.idempotency WHERE sid = v_sid AND key = p_idempotency_key;
      IF FOUND THEN
        o_outcome := 'replayed';
        RETURN;
      END IF;
    END IF;
    IF v_last_seq + v_count > p_max THEN
      o_outcome := 'full';
      RETURN;
    END IF;
    IF p_expected IS NOT NULL AND v_version <> p_expected THEN
      o_outcome := 'version_mismatch';
      o_version := v_version;
      RETURN;
    END IF;

    -- The head ends at the first top-level key of the rest: no string in it can hold the bare
    -- quotes of ',"namespace":'.
    v_cut := strpos(v_text, ',"namespace":');
    IF left(v_text, 11) <> '{"version":' OR v_cut = 0 OR strpos(left(v_text, v_cut), '\\u0000') > 0 THEN
      o_outcome := 'declined';
      RETURN;
    END IF;
    v_head := (left(v_text, v_cut - 1) || '}')::jsonb;
    v_stats := v_head->'stats';
    v_tools := v_stats->'toolsUsed';
    FOREACH v_tool IN ARRAY p_tools LOOP
      IF NOT v_tools @> jsonb_build_array(v_tool) THEN
        v_tools := v_tools || jsonb_build_array(v_tool);
      END IF;
    END LOOP;
    v_input := (v_stats->>'inputTokens')::float8;
    FOREACH v_addend IN ARRAY p_input_tokens LOOP v_input := v_input + v_addend; END LOOP;
    v_output := (v_stats->>'outputTokens')::float8;
    FOREACH v_addend IN ARRAY p_output_tokens LOOP v_output := v_output + v_addend; END LOOP;
    v_cost := (v_stats->>'costUsd')::float8;
    FOREACH v_addend IN ARRAY p_cost_usd LOOP v_cost := v_cost + v_addend; END LOOP;
    v_duration := (v_stats->>'durationMs')::float8;
    FOREACH v_addend IN ARRAY p_duration_ms LOOP v_duration := v_duration + v_addend; END LOOP;
    v_stats := jsonb_build_object(
      'messages', (v_stats->>'messages')::bigint + p_messages,
      'toolCalls', (v_stats->>'toolCalls')::bigint + p_tool_calls,
      'toolErrors', (v_stats->>'toolErrors')::bigint + p_tool_errors,
      'toolsUsed', v_tools,
      'inputTokens', v_input, 'outputTokens', v_output, 'costUsd', v_cost, 'durationMs', v_duration);

    v_ttl := (v_head->>'ttlMs')::bigint;
    v_absolute := (v_head->>'absoluteExpiresAt')::bigint;
    -- LEAST skips nulls: no TTL leaves the absolute cap, and neither leaves no expiry.
    v_next_expiry := LEAST(p_now + v_ttl, v_absolute);
    o_outcome := 'appended';
    o_version := v_version + 1;
    o_last_seq := v_last_seq + v_count;
    UPDATE ${s}.sessions SET version = o_version, last_seq = o_last_seq, updated_at = p_now,
        last_accessed_at = p_now, expires_at = v_next_expiry,
        header = '{"version":' || o_version || ',"lastSeq":' || o_last_seq || ',"updatedAt":' || p_now
          || ',"lastAccessedAt":' || p_now || ',"expiresAt":' || coalesce(v_next_expiry::text, 'null')
          || ',"ttlMs":' || coalesce(v_ttl::text, 'null') || ',"absoluteExpiresAt":' || coalesce(v_absolute::text, 'null')
          || ',"stats":' || v_stats::text || substr(v_text, v_cut)
      WHERE sid = v_sid;
    INSERT INTO ${s}.events (sid, seq, type, body)
      SELECT v_sid, v_last_seq + e.n, e.type, '{"seq":' || (v_last_seq + e.n) || ',' || e.body
        FROM unnest(p_types, p_bodies) WITH ORDINALITY AS e(type, body, n);
    IF p_idempotency_key IS NOT NULL THEN
      INSERT INTO ${s}.idempotency (sid, key, record) VALUES (v_sid, p_idempotency_key,
        p_idempotency_head || (v_last_seq + 1) || ',"lastSeq":' || o_last_seq || ',"version":' || o_version
          || ',"at":' || p_now || '}');
    END IF;
  END
  $fn$`;
}

/**
 * A commit that also removes a range of stored events and replaces others (redaction, pruning,
 * sealing in place). A function of its own, which calls `frontdesk_commit` for everything else, so
 * the append path keeps its single statement unchanged and the whole commit is still one
 * transaction. The log's end is read under the row lock before the commit moves it: removals and
 * rewrites reach only events stored before this commit, never the ones it appends.
 */
function commitRewritingFunction(s: string): string {
  return `CREATE OR REPLACE FUNCTION ${s}.frontdesk_commit_rewriting(
    p_namespace text, p_user_id text, p_id text, p_expected integer, p_now bigint,
    p_version integer, p_last_seq bigint, p_status text, p_title text, p_purpose text,
    p_title_lc text, p_purpose_lc text, p_tags text[], p_created_at bigint, p_updated_at bigint,
    p_last_accessed_at bigint, p_expires_at bigint, p_header text,
    p_seqs bigint[], p_types text[], p_bodies text[],
    p_scoped jsonb, p_idempotency_key text, p_idempotency_record text,
    p_remove_after bigint, p_remove_before bigint,
    p_rewrite_seqs bigint[], p_rewrite_types text[], p_rewrite_bodies text[]
  ) RETURNS void LANGUAGE plpgsql AS $fn$
  DECLARE
    v_sid bigint;
    v_stored_last_seq bigint := 0;
    v_previous bigint := p_last_seq - cardinality(p_seqs);
  BEGIN
    IF p_expected <> 0 THEN
      SELECT sid, last_seq INTO v_sid, v_stored_last_seq FROM ${s}.sessions
        WHERE namespace = p_namespace AND user_id = p_user_id AND id = p_id FOR UPDATE;
    END IF;
    -- Raises not found or conflict unless the session is live at p_expected.
    PERFORM ${s}.frontdesk_commit(p_namespace, p_user_id, p_id, p_expected, p_now,
      p_version, p_last_seq, p_status, p_title, p_purpose, p_title_lc, p_purpose_lc, p_tags,
      p_created_at, p_updated_at, p_last_accessed_at, p_expires_at, p_header,
      p_seqs, p_types, p_bodies, p_scoped, p_idempotency_key, p_idempotency_record);
    IF v_stored_last_seq IS DISTINCT FROM v_previous THEN
      RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_INVALID}', MESSAGE = 'gap';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_rewrite_seqs) AS r(seq) WHERE r.seq < 1 OR r.seq > v_previous) THEN
      RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_INVALID}', MESSAGE = 'rewrite';
    END IF;
    IF p_remove_after IS NOT NULL AND least(p_remove_before, v_previous + 1) > p_remove_after + 1 THEN
      DELETE FROM ${s}.events
        WHERE sid = v_sid AND seq > p_remove_after AND seq < least(p_remove_before, v_previous + 1);
    END IF;
    IF cardinality(p_rewrite_seqs) > 0 THEN
      UPDATE ${s}.events e SET type = r.type, body = r.body
        FROM unnest(p_rewrite_seqs, p_rewrite_types, p_rewrite_bodies) AS r(seq, type, body)
        WHERE e.sid = v_sid AND e.seq = r.seq;
    END IF;
  END
  $fn$`;
}

/**
 * Deletes a session with its events. Two statements on purpose: the events are deleted under a
 * snapshot taken after the session row is locked and gone, so events a concurrent commit added
 * just before are seen and deleted too (one statement's snapshot would miss them).
 */
function deleteFunction(s: string): string {
  return `CREATE OR REPLACE FUNCTION ${s}.frontdesk_delete(p_namespace text, p_user_id text, p_id text)
  RETURNS boolean LANGUAGE plpgsql AS $fn$
  DECLARE
    v_sid bigint;
  BEGIN
    DELETE FROM ${s}.sessions WHERE namespace = p_namespace AND user_id = p_user_id AND id = p_id
      RETURNING sid INTO v_sid;
    IF NOT FOUND THEN
      RETURN false;
    END IF;
    DELETE FROM ${s}.events WHERE sid = v_sid;
    DELETE FROM ${s}.idempotency WHERE sid = v_sid;
    RETURN true;
  END
  $fn$`;
}

/**
 * The conditional delete (compare-and-delete), one statement so one transaction. The row is locked
 * first: a concurrent commit either committed before (its version is what we compare) or waits and
 * then finds the row gone. Absent or expired at p_now returns false and touches nothing; another
 * version raises FD409 with it in DETAIL and deletes nothing. The events are deleted by a later
 * statement, whose snapshot sees every event a commit added before the lock was taken.
 */
function deleteAtVersionFunction(s: string): string {
  return `CREATE OR REPLACE FUNCTION ${s}.frontdesk_delete_at_version(
    p_namespace text, p_user_id text, p_id text, p_expected bigint, p_now bigint
  ) RETURNS boolean LANGUAGE plpgsql AS $fn$
  DECLARE
    v_sid bigint;
    v_version integer;
    v_expires_at bigint;
  BEGIN
    SELECT sid, version, expires_at INTO v_sid, v_version, v_expires_at FROM ${s}.sessions
      WHERE namespace = p_namespace AND user_id = p_user_id AND id = p_id FOR UPDATE;
    IF NOT FOUND OR (v_expires_at IS NOT NULL AND v_expires_at <= p_now) THEN
      RETURN false;
    END IF;
    IF v_version <> p_expected THEN
      RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'session changed', DETAIL = v_version::text;
    END IF;
    DELETE FROM ${s}.sessions WHERE sid = v_sid;
    DELETE FROM ${s}.events WHERE sid = v_sid;
    DELETE FROM ${s}.idempotency WHERE sid = v_sid;
    RETURN true;
  END
  $fn$`;
}

/** Deletes up to p_limit sessions expired at p_now with their events; SKIP LOCKED lets sweepers on several instances share the work. */
function sweepFunction(s: string): string {
  return `CREATE OR REPLACE FUNCTION ${s}.frontdesk_sweep(p_now bigint, p_limit integer)
  RETURNS integer LANGUAGE plpgsql AS $fn$
  DECLARE
    v_sids bigint[];
  BEGIN
    WITH gone AS (
      DELETE FROM ${s}.sessions WHERE sid IN (
        SELECT sid FROM ${s}.sessions WHERE expires_at <= p_now ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED
      ) AND expires_at <= p_now
      RETURNING sid
    ) SELECT coalesce(array_agg(sid), '{}') INTO v_sids FROM gone;
    IF cardinality(v_sids) > 0 THEN
      DELETE FROM ${s}.events WHERE sid = ANY(v_sids);
      DELETE FROM ${s}.idempotency WHERE sid = ANY(v_sids);
    END IF;
    RETURN cardinality(v_sids);
  END
  $fn$`;
}

/** Two-key advisory lock class for migrations; the second key is the schema's hash. */
const MIGRATION_LOCK_CLASS = 0x46445347; // "FDSG"

/**
 * Brings `schema` (quoted) up to {@link LATEST_VERSION}. Cheap when already current (one read,
 * no lock, no CREATE privilege needed); otherwise one transaction under a transaction-scoped
 * advisory lock, so processes migrating at once apply each version exactly once.
 */
export async function migrate(client: PoolClient, schema: string, schemaName: string): Promise<void> {
  if ((await appliedVersion(client, schema)) >= LATEST_VERSION) return;
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [MIGRATION_LOCK_CLASS, schemaName]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.frontdesk_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const current = await appliedVersion(client, schema);
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      for (const statement of migration.up(schema)) await client.query(statement);
      await client.query(`INSERT INTO ${schema}.frontdesk_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

async function appliedVersion(client: PoolClient, schema: string): Promise<number> {
  const exists = await client.query<{ found: boolean }>("SELECT to_regclass($1) IS NOT NULL AS found", [
    `${schema}.frontdesk_migrations`,
  ]);
  if (!exists.rows[0]?.found) return 0;
  const result = await client.query<{ version: number | null }>(
    `SELECT max(version) AS version FROM ${schema}.frontdesk_migrations`,
  );
  return result.rows[0]?.version ?? 0;
}
