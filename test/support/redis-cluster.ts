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
