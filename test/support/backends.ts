/**
 * The shared backends the process tests run real servers on (Redis and PostgreSQL, named by
 * FRONTDESK_TEST_REDIS_URL / FRONTDESK_TEST_POSTGRES_URL): how a test gets a store URL of its own
 * on the one server, and how it removes what it wrote. Each file decides for itself what a missing
 * backend means (a skip, or a failure under CI).
 */
import { randomBytes } from "node:crypto";

export interface SharedBackend {
  name: "redis" | "redis cluster" | "postgres";
  /** The environment variable that names the test server. */
  variable: string;
  /** The test server's URL; undefined (or empty) when the variable is not set. */
  url: string | undefined;
  /** `url` confined to `prefix`: a key prefix on Redis, a schema on PostgreSQL. */
  scoped(url: string, prefix: string): string;
  /** Removes everything stored under `prefix` on the server at `url`. */
  cleanup(url: string, prefix: string): Promise<void>;
}

const withParam = (url: string, param: string, value: string) =>
  `${url}${url.includes("?") ? "&" : "?"}${param}=${value}`;

export const REDIS: SharedBackend & { name: "redis" } = {
  name: "redis",
  variable: "FRONTDESK_TEST_REDIS_URL",
  url: process.env.FRONTDESK_TEST_REDIS_URL,
  scoped: (url, prefix) => withParam(url, "prefix", prefix),
  async cleanup(url, prefix) {
    const { Redis } = await import("ioredis");
    const client = new Redis(url);
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
    await client.quit();
  },
};

export const REDIS_CLUSTER: SharedBackend = {
  name: "redis cluster",
  variable: "FRONTDESK_TEST_REDIS_CLUSTER_URL",
  url: process.env.FRONTDESK_TEST_REDIS_CLUSTER_URL || undefined,
  scoped: (url, prefix) => withParam(url, "prefix", prefix),
  async cleanup(url, prefix) {
    const { Cluster } = await import("ioredis");
    const { clusterSeedNodes } = await import("./redis-cluster.ts");
    const cluster = new Cluster(clusterSeedNodes(url));
    // SCAN walks one node: every master is scanned for the prefix.
    await Promise.all(
      cluster.nodes("master").map(async (node) => {
        let cursor = "0";
        do {
          const [next, keys] = await node.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
          cursor = next;
          // Keys of different slots cannot share one DEL on a Cluster.
          for (const key of keys) await node.del(key);
        } while (cursor !== "0");
      }),
    );
    await cluster.quit();
  },
};

export const POSTGRES: SharedBackend & { name: "postgres" } = {
  name: "postgres",
  variable: "FRONTDESK_TEST_POSTGRES_URL",
  url: process.env.FRONTDESK_TEST_POSTGRES_URL,
  scoped: (url, prefix) => withParam(url, "schema", prefix),
  async cleanup(url, prefix) {
    const pg = await import("pg");
    const client = new pg.default.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${prefix}" CASCADE`);
    await client.end();
  },
};

/** A fresh prefix (`<label><10 hex digits>`), so runs on one server never see each other's data. */
export const uniquePrefix = (label: string): string => `${label}${randomBytes(5).toString("hex")}`;
