import type { Cluster, Redis } from "ioredis";

/** A standalone connection or a Cluster: every command the store sends exists on both. */
export type RedisClient = Redis | Cluster;
