/**
 * Response serialization compiled from the same zod schemas that generate `/openapi.json`.
 *
 * Each response schema is turned into JSON Schema once, at route registration, and compiled by
 * fast-json-stringify (Fastify's own serializer). Like the zod encoder it replaces, it writes only
 * the properties a schema declares — a field added to an internal object never reaches the wire —
 * and a missing required field fails the response instead of sending a partial body. It does not
 * re-check every value on every request, which is what made the zod encoder the largest single
 * cost of a `GET /v1/sessions/{id}`; the values come from typed code, and the request side is still
 * validated by zod.
 */
import fastJson from "fast-json-stringify";
import type { FastifySchemaCompiler, FastifySerializerCompiler } from "fastify";
import { serializerCompiler as zodSerializerCompiler } from "fastify-type-provider-zod";
import { z } from "zod";

type RouteSchema = Parameters<FastifySchemaCompiler<z.ZodType>>[0];

type JsonSchemaNode = { [keyword: string]: unknown };

const isNode = (value: unknown): value is JsonSchemaNode =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Shapes a JSON Schema for writing rather than validating. fast-json-stringify already writes only
 * declared properties, so `additionalProperties: false` adds nothing — except inside an `anyOf`,
 * where it checks each branch with Ajv and would refuse an object with an extra field instead of
 * dropping the field, as zod does. A "this or null" `anyOf` becomes `nullable`, which it writes
 * without running Ajv at all.
 */
function forWriting(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forWriting);
  if (!isNode(node)) return node;
  const out: JsonSchemaNode = {};
  for (const [keyword, value] of Object.entries(node)) {
    if (keyword === "additionalProperties" && value === false) continue;
    out[keyword] = keyword === "properties" && isNode(value) ? mapValues(value, forWriting) : forWriting(value);
  }
  const branches = out.anyOf;
  if (Array.isArray(branches) && branches.length === 2) {
    const other = branches.filter(
      (branch) => !(isNode(branch) && branch.type === "null" && Object.keys(branch).length === 1),
    );
    if (other.length === 1 && isNode(other[0])) {
      const { anyOf: _anyOf, ...rest } = out;
      return { ...rest, ...other[0], nullable: true };
    }
  }
  return out;
}

const mapValues = (node: JsonSchemaNode, fn: (value: unknown) => unknown): JsonSchemaNode =>
  Object.fromEntries(Object.entries(node).map(([key, value]) => [key, fn(value)]));

/** JSON Schema of what a zod schema writes, or undefined when it has a part JSON Schema cannot say. */
export function responseJsonSchemaOf(schema: z.ZodType): object | undefined {
  try {
    return forWriting(z.toJSONSchema(schema, { io: "output", target: "draft-7", unrepresentable: "throw" })) as object;
  } catch {
    return undefined;
  }
}

/**
 * Fastify serializer compiler: fast-json-stringify for every response schema JSON Schema can
 * express, the zod encoder for the rest (transforms and other unrepresentable parts).
 */
export const responseSerializerCompiler: FastifySerializerCompiler<z.ZodType> = (route) => {
  const { schema } = route as RouteSchema;
  const json = schema instanceof z.ZodType ? responseJsonSchemaOf(schema) : undefined;
  if (json === undefined) return zodSerializerCompiler(route as Parameters<typeof zodSerializerCompiler>[0]);
  return fastJson(json as Parameters<typeof fastJson>[0]);
};
