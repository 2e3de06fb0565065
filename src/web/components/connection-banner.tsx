import { useEffect, useState } from "react";
import { connection, useConnection } from "../api/connection.ts";

/** Shown while the server cannot be reached; counts down to the next retry. */
export function ConnectionBanner() {
  const state = useConnection();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state.online) return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [state.online]);
  if (state.online) return null;
  const seconds = Math.max(0, Math.ceil((state.nextRetryAt - now) / 1000));
  return (
    <div className="banner banner-offline" role="alert">
      <span className="banner-dot" aria-hidden="true" />
      <span>
        <strong>Can't reach the Frontdesk server.</strong> {seconds > 0 ? `Retrying in ${seconds} s…` : "Retrying…"}{" "}
        What you see may be out of date.
      </span>
      <button type="button" className="button button-small" onClick={() => connection.retryNow()}>
        Retry now
      </button>
    </div>
  );
}
