import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { FrontdeskError } from "../../core/errors.ts";
import type { ServerContext } from "../context.ts";
import { serverUnavailable } from "../http-errors.ts";
import { ERROR_RESPONSES } from "../schemas.ts";

const TAGS = ["operations"];
const READY_TIMEOUT_MS = 2_000;

export interface OpsOptions {
  /** `admin`: /metrics needs an admin key; `public`: anyone who can reach the port may scrape. */
  metricsAuth: "admin" | "public";
}

/** Liveness, readiness, metrics, the OpenAPI document and the console placeholder. */
export function opsRoutes(context: ServerContext, options: OpsOptions) {
  return async (root: FastifyInstance): Promise<void> => {
    const app = root.withTypeProvider<ZodTypeProvider>();

    app.get(
      "/healthz",
      {
        schema: {
          summary: "Liveness",
          tags: TAGS,
          response: { 200: z.object({ status: z.literal("ok") }) },
        },
      },
      async () => ({ status: "ok" as const }),
    );

    app.get(
      "/readyz",
      {
        schema: {
          summary: "Readiness: the store answers",
          description: "503 `unavailable` while the store does not answer a cheap read within 2 s, or while draining.",
          tags: TAGS,
          response: { 200: z.object({ status: z.literal("ready") }), ...ERROR_RESPONSES },
        },
      },
      async () => {
        if (context.draining) throw serverUnavailable("The server is shutting down");
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            context.store.get(
              { namespace: context.manager.namespace, userId: null, id: "readyz" },
              context.clock.now(),
            ),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new FrontdeskError("unavailable", "store timed out")), READY_TIMEOUT_MS);
            }),
          ]);
        } catch (error) {
          context.metrics.storeErrors.inc();
          throw serverUnavailable("The store is not ready", error);
        } finally {
          if (timer) clearTimeout(timer);
        }
        return { status: "ready" as const };
      },
    );

    app.get(
      "/metrics",
      {
        config: { auth: options.metricsAuth === "admin" ? "admin" : "none" },
        schema: {
          summary: "Prometheus metrics",
          description:
            options.metricsAuth === "admin"
              ? "Needs an admin key (Authorization: Bearer <key>)."
              : "Public on this server (metricsAuth: public).",
          tags: TAGS,
          ...(options.metricsAuth === "admin" ? { security: [{ bearerAuth: [] }] } : {}),
          produces: ["text/plain"],
          response: {
            200: { description: "Prometheus text format", content: { "text/plain": { schema: z.string() } } },
            ...ERROR_RESPONSES,
          },
        },
      },
      async (_request, reply) => {
        const text = await context.metrics.registry.metrics();
        return reply
          .type(context.metrics.registry.contentType)
          .serializer((payload: unknown) => String(payload))
          .send(text);
      },
    );

    app.get("/openapi.json", { schema: { hide: true } }, async (_request, reply) =>
      reply.type("application/json; charset=utf-8").serializer(JSON.stringify).send(root.swagger()),
    );
  };
}
