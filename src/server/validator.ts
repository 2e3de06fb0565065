/**
 * Request validation by the same zod schemas that generate `/openapi.json`.
 *
 * Header schemas are loose objects, since a request carries many headers a route does not name.
 * Parsed whole, zod would copy every header on every request, and Fastify would then answer each
 * later read of `request.headers` with a fresh merge of that copy and the raw headers. So only the
 * headers a schema declares are parsed, by the schema's own property schemas, and the raw headers
 * stay as they are unless parsing changed one of them.
 */
import type { FastifySchemaCompiler } from "fastify";
import type { FastifyValidationResult } from "fastify/types/schema.js";
import { validatorCompiler as zodValidatorCompiler } from "fastify-type-provider-zod";
import { z } from "zod";

type Headers = Record<string, unknown>;
/** What zod's compiled validator answers: never a boolean or a promise, always this. */
type Outcome = Extract<ReturnType<FastifyValidationResult>, { value?: unknown }>;

export const requestValidatorCompiler: FastifySchemaCompiler<z.ZodType> = (route) => {
  const { schema, httpPart } = route;
  if (httpPart !== "headers" || !(schema instanceof z.ZodObject)) return zodValidatorCompiler(route);
  const names = Object.keys(schema.shape);
  const validateDeclared = zodValidatorCompiler({ ...route, schema: z.object(schema.shape) });
  return (headers: Headers): Outcome => {
    const declared: Headers = {};
    for (const name of names) {
      if (headers[name] !== undefined) declared[name] = headers[name];
    }
    const result = validateDeclared(declared) as Outcome;
    if (result.error !== undefined || result.value === undefined) return result;
    const parsed = result.value as Headers;
    // A schema that transforms a header (none does today) hands the route its parsed value, as zod would.
    if (names.some((name) => parsed[name] !== headers[name])) return { value: { ...headers, ...parsed } };
    // Valid, and nothing to replace: Fastify keeps serving the raw headers.
    return {};
  };
};
