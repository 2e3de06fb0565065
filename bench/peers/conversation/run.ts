/** The conversation suite: runs the workload and states its goals. Needs only the repository's install. */
import { runWorkload } from "../harness.ts";
import { comparisonChecks, type ReportedWorkload } from "../report.ts";
import type { SuiteContext } from "../suite.ts";
import {
  CONVERSATION_COMPARISONS,
  CONVERSATION_LABELS,
  CONVERSATION_REFERENCE,
  conversationWorkload,
} from "./suite.ts";

export async function conversationSuite(
  context: SuiteContext,
  options: { peers?: boolean } = {},
): Promise<ReportedWorkload> {
  const workload = conversationWorkload(context.dir, options);
  workload.bytesAt = [context.bytesSize];
  const result = await runWorkload(workload, context.run);
  return {
    result,
    reference: CONVERSATION_REFERENCE,
    labels: CONVERSATION_LABELS,
    comparisons: CONVERSATION_COMPARISONS,
    checks: comparisonChecks(result, CONVERSATION_COMPARISONS),
  };
}
