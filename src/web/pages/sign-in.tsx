/**
 * Paste an API key. It is checked against the server (a one-row list), then kept in this tab's
 * sessionStorage only. Admin keys are recognised by asking to act for another user, which a user
 * key is refused (403) and an admin key may do.
 */
import { type FormEvent, useId, useState } from "react";
import { signIn, signInNotice } from "../api/auth.ts";
import { ApiError, describeError, send } from "../api/client.ts";

async function checkKey(key: string): Promise<{ admin: boolean }> {
  await send("/v1/sessions", { query: { limit: 1 }, key, noSignOut: true });
  try {
    // Any id but the key's own: a user key is refused (403), an admin key lists (nothing).
    const probe = `console-probe-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    await send("/v1/sessions", { query: { limit: 1, userId: probe }, key, noSignOut: true });
    return { admin: true };
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return { admin: false };
    throw error;
  }
}

export function SignInPage() {
  const [key, setKey] = useState("");
  const [shown, setShown] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const notice = signInNotice();
  const inputId = useId();
  const hintId = useId();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError("Paste an API key first.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const { admin } = await checkKey(trimmed);
      signIn({ key: trimmed, admin });
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? "The server does not accept this key: it is unknown or has been revoked."
          : describeError(failure),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin" id="main">
      <form className="signin-card" onSubmit={submit} aria-labelledby="signin-title" noValidate>
        <div className="signin-brand">
          <span className="brand-mark" aria-hidden="true">
            F
          </span>
          <span>Frontdesk</span>
        </div>
        <h1 id="signin-title">Sign in to the console</h1>
        {notice && (
          <p className="callout callout-warning" role="alert">
            {notice}
          </p>
        )}
        <label htmlFor={inputId}>API key</label>
        <div className="input-with-button">
          <input
            id={inputId}
            type={shown ? "text" : "password"}
            value={key}
            onChange={(e) => setKey(e.target.value)}
            placeholder="fd_…"
            autoComplete="off"
            spellCheck={false}
            aria-describedby={hintId}
            aria-invalid={error ? true : undefined}
            // biome-ignore lint/a11y/noAutofocus: the page's only purpose
            autoFocus
          />
          <button type="button" className="button button-ghost" onClick={() => setShown(!shown)} aria-pressed={shown}>
            {shown ? "Hide" : "Show"}
          </button>
        </div>
        <p id={hintId} className="hint">
          Create one with <code>frontdesk keys create --user ID</code> (add <code>--admin</code> to see every user). The
          key stays in this browser tab only and is sent to this server alone.
        </p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="button button-primary button-block" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
