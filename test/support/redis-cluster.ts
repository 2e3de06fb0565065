/**
 * The local Redis Cluster the Cluster tests run on (issue 20), named by
 * FRONTDESK_TEST_REDIS_CLUSTER_URL: the seed URL `.ci/redis-cluster start` prints,
 * `redis+cluster://host:port/?nodes=host:port,…`. Unset (or empty) means no cluster: each test
 * file decides whether that is a skip or, under CI, a failure.
 */

export interface ClusterSeedNode {
  host: string;
  port: number;
}

/** The test cluster's seed URL; undefined when the variable is not set. */
export const REDIS_CLUSTER_URL: string | undefined = process.env.FRONTDESK_TEST_REDIS_CLUSTER_URL || undefined;

/** The host:port seeds of a `redis+cluster://` URL: the authority first, then every `nodes` entry. */
export function clusterSeedNodes(url: string): ClusterSeedNode[] {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis+cluster:" && parsed.protocol !== "rediss+cluster:") {
    throw new Error(`FRONTDESK_TEST_REDIS_CLUSTER_URL must be a redis+cluster:// URL, not ${parsed.protocol}//…`);
  }
  const others = (parsed.searchParams.get("nodes") ?? "").split(",").filter((node) => node.length > 0);
  return [`${parsed.hostname}:${parsed.port || "6379"}`, ...others].map((node) => {
    const at = node.lastIndexOf(":");
    const port = Number(node.slice(at + 1));
    if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new Error(`Not a host:port seed node in FRONTDESK_TEST_REDIS_CLUSTER_URL: "${node}"`);
    }
    // An IPv6 host comes bracketed, as URLs write it; ioredis wants it bare.
    return { host: node.slice(0, at).replace(/^\[(.*)\]$/, "$1"), port };
  });
}

/** The test cluster's seed nodes; undefined when FRONTDESK_TEST_REDIS_CLUSTER_URL is not set. */
export const REDIS_CLUSTER_SEEDS: ClusterSeedNode[] | undefined =
  REDIS_CLUSTER_URL === undefined ? undefined : clusterSeedNodes(REDIS_CLUSTER_URL);

/** One master of the test cluster as CLUSTER NODES names it. */
export interface ClusterMaster {
  id: string;
  host: string;
  port: number;
  /** The slot ranges it serves, inclusive. */
  slots: [number, number][];
}

/** The masters and their slot ranges, as the node at `seed` sees them. */
export async function clusterMasters(seed: ClusterSeedNode): Promise<ClusterMaster[]> {
  const { Redis } = await import("ioredis");
  const node = new Redis({ host: seed.host, port: seed.port, lazyConnect: true });
  try {
    const lines = String(await node.call("CLUSTER", "NODES"))
      .trim()
      .split("\n");
    const masters: ClusterMaster[] = [];
    for (const line of lines) {
      const [id, address, flags, , , , , state, ...ranges] = line.split(" ");
      if (!id || !address || !flags?.split(",").includes("master") || flags.includes("fail") || state !== "connected") {
        continue;
      }
      const [host, port] = (address.split("@")[0] as string).split(/:(?=\d+$)/);
      const slots = ranges
        .filter((range) => !range.startsWith("["))
        .map((range): [number, number] => {
          const [from, to] = range.split("-").map(Number);
          return [from as number, (to ?? from) as number];
        });
      masters.push({ id, host: host as string, port: Number(port), slots });
    }
    return masters;
  } finally {
    node.disconnect();
  }
}

/**
 * Moves one slot to another master while clients keep using it, the way `redis-cli --cluster
 * reshard` does: IMPORTING/MIGRATING, MIGRATE of its keys in batches (clients meanwhile get ASK or
 * TRYAGAIN), then SETSLOT NODE on every master. `beforeFinish` runs after the keys moved, before
 * the slot's owner changes.
 */
export async function moveSlot(
  seed: ClusterSeedNode,
  slot: number,
  to: ClusterMaster,
  beforeFinish?: () => Promise<void>,
): Promise<void> {
  const { Redis } = await import("ioredis");
  const masters = await clusterMasters(seed);
  const from = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
  if (!from) throw new Error(`No master serves slot ${slot}`);
  if (from.id === to.id) return;
  const connect = (m: ClusterMaster) => new Redis({ host: m.host, port: m.port, lazyConnect: true });
  const source = connect(from);
  const target = connect(to);
  try {
    await target.call("CLUSTER", "SETSLOT", slot, "IMPORTING", from.id);
    await source.call("CLUSTER", "SETSLOT", slot, "MIGRATING", to.id);
    for (;;) {
      const keys = (await source.call("CLUSTER", "GETKEYSINSLOT", slot, 100)) as string[];
      if (keys.length === 0) break;
      await source.call("MIGRATE", to.host, to.port, "", 0, 5_000, "REPLACE", "KEYS", ...keys);
    }
    await beforeFinish?.();
    // The target first, as redis-cli does, so the slot is never without an owner.
    await target.call("CLUSTER", "SETSLOT", slot, "NODE", to.id);
    await source.call("CLUSTER", "SETSLOT", slot, "NODE", to.id);
    for (const other of masters.filter((m) => m.id !== from.id && m.id !== to.id)) {
      const node = connect(other);
      await node.call("CLUSTER", "SETSLOT", slot, "NODE", to.id).finally(() => node.disconnect());
    }
  } finally {
    source.disconnect();
    target.disconnect();
  }
}
