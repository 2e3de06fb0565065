/**
 * Redis Cluster's key → slot function (CRC16 of the hash tag, modulo 16,384), from the package
 * ioredis itself routes with, so the buckets' tags land on the slots the cluster will use. The
 * package ships no type declarations, hence the typed require.
 */
import { createRequire } from "node:module";

export const clusterSlot = createRequire(import.meta.url)("cluster-key-slot") as (key: string) => number;
