/**
 * Request validation by the same zod schemas that generate `/openapi.json`.
 *
 * Header schemas are loose objects, since a request carries many headers a route does not name.
 * Parsed whole, zod would copy every header on every request, and Fastify would then answer each
 * later read of `request.headers` with a fresh merge of that copy and the raw headers. So only the
 * headers a schema declares are parsed, by the schema's own property schemas, and the raw headers
 * stay as they are unless parsing changed one of them. A request part with nothing in it for a
 * schema that takes an empty object as it is (every field optional, no default) is not parsed.
 */
import type { FastifySchemaCompiler } from "fastify";
import type { FastifyValidationResult } from "fastify/types/schema.js";
import { validatorCompiler as zodValidatorCompiler } from "fastify-type-provider-zod";
import { z } from "zod";

/** A parsed request part: query string fields or headers by lowercase name. */
type RequestPart = Record<string, unknown>;
/** What zod's compiled validator answers: never a boolean or a promise, always this. */
type Outcome = Extract<ReturnType<FastifyValidationResult>, { value?: unknown }>;

/** True when zod takes `{}` for the schema and gives `{}` back: no required field, no default. */
const takesEmptyAsIs = (schema: z.ZodType): boolean => {
  const parsed = schema.safeParse({});
  return (
    parsed.success && typeof parsed.data === "object" && parsed.data !== null && Object.keys(parsed.data).length === 0
  );
};

const hasNoKeys = (value: object): boolean => {
  for (const _ in value) return false;
  return true;
};

/** Valid, and nothing to replace: Fastify keeps the request part it parsed. */
const KEEP: Outcome = {};

export const requestValidatorCompiler: FastifySchemaCompiler<z.ZodType> = (route) => {
  const { schema, httpPart } = route;
  if (httpPart === "querystring" && schema instanceof z.ZodObject && takesEmptyAsIs(schema)) {
    // Most requests carry no query string, and every query field is optional: nothing to parse.
    const validate = zodValidatorCompiler(route);
    return (query: RequestPart) => (hasNoKeys(query) ? KEEP : validate(query));
  }
  if (httpPart !== "headers" || !(schema instanceof z.ZodObject)) return zodValidatorCompiler(route);
  const names = Object.keys(schema.shape);
  const declaredSchema = z.object(schema.shape);
  const validateDeclared = zodValidatorCompiler({ ...route, schema: declaredSchema });
  const emptyIsValid = takesEmptyAsIs(declaredSchema);
  return (headers: RequestPart): Outcome => {
    const declared: RequestPart = {};
    let present = false;
    for (const name of names) {
      if (headers[name] !== undefined) {
        declared[name] = headers[name];
        present = true;
      }
    }
    if (!present && emptyIsValid) return KEEP;
    const result = validateDeclared(declared) as Outcome;
    if (result.error !== undefined || result.value === undefined) return result;
    const parsed = result.value as RequestPart;
    // A schema that transforms a header (none does today) hands the route its parsed value, as zod would.
    if (names.some((name) => parsed[name] !== headers[name])) return { value: { ...headers, ...parsed } };
    return KEEP;
  };
};
