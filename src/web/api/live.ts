/**
 * The console reaches its live views through `frontdesk/react` (src/react), the hooks any app can
 * use: this is the connection they get, with the console's own fetch so that they too flip the
 * connection banner when the server cannot be reached and sign the user out on a 401.
 */
import type { FrontdeskConnection } from "../../react/index.ts";
import { currentKey, expireSignIn } from "./auth.ts";
import { isAbort } from "./client.ts";
import { connection } from "./connection.ts";

const consoleFetch: typeof fetch = async (input, init) => {
  let response: Response;
  try {
    response = await fetch(input, { ...init, cache: "no-store" });
  } catch (error) {
    if (!isAbort(error)) connection.reportFailure();
    throw error;
  }
  if (response.status >= 502 && response.status <= 504) connection.reportFailure();
  else connection.reportSuccess();
  if (response.status === 401) {
    const body = (await response
      .clone()
      .json()
      .catch(() => null)) as { error?: { message?: string } } | null;
    expireSignIn(body?.error?.message ?? "The key was refused.");
  }
  return response;
};

/** The signed-in key on this origin; `userId` names the owner for admin keys. */
export function consoleConnection(userId?: string | null): FrontdeskConnection {
  return {
    baseUrl: window.location.origin,
    apiKey: currentKey() ?? "",
    fetch: consoleFetch,
    ...(userId ? { userId } : {}),
  };
}
