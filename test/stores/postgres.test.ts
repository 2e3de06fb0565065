import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from "vitest";
import { createPostgresStore } from "../../src/stores/postgres/index.ts";
import { describeStoreConformance } from "../../src/testing/conformance/index.ts";

const url = process.env.FRONTDESK_TEST_POSTGRES_URL;

describe.skipIf(!url)("postgres store", () => {
  const connection = url as string;
  const schemas = new Set<string>();
  // The suite's prefix is random per case; a lowercase identifier keeps it a plain schema name.
  const schemaOf = (prefix: string): string => `fd_${prefix.toLowerCase().replace(/[^a-z0-9_]/g, "_")}`;
  let admin: pg.Pool | undefined;

  afterEach(async () => {
    // Runs after the suite's own afterEach has closed the case's stores.
    for (const schema of schemas) await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    schemas.clear();
  });

  describeStoreConformance(
    {
      name: "postgres",
      async setup() {
        admin = new pg.Pool({ connectionString: connection, max: 1 });
      },
      async teardown() {
        await admin?.end();
      },
      async create({ clock, prefix }) {
        const schema = schemaOf(prefix);
        schemas.add(schema);
        return createPostgresStore({ url: connection, schema, maxConnections: 4 }, { clock });
      },
      async createPeer(_store, { clock, prefix }) {
        return createPostgresStore({ url: connection, schema: schemaOf(prefix), maxConnections: 4 }, { clock });
      },
    },
    { describe, it, beforeEach, afterEach, beforeAll, afterAll },
  );
});
