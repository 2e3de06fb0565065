/** The shell: sign-in gate, top bar, connection banner, the page for the current route. */
import { lazy, Suspense, useEffect, useState } from "react";
import { signOut, useSignIn } from "./api/auth.ts";
import { Spinner } from "./components/badges.tsx";
import { ConnectionBanner } from "./components/connection-banner.tsx";
import { ShortcutsDialog } from "./components/shortcuts.tsx";
import { Toasts } from "./components/toasts.tsx";
import { NotFoundPage } from "./pages/not-found.tsx";
import { SessionsPage } from "./pages/sessions-page.tsx";
import { SignInPage } from "./pages/sign-in.tsx";
import { followLink, parseRoute, useLocation } from "./router.ts";
import { isTyping } from "./typing.ts";

// The session page brings markdown, sanitizing and charts: loaded only when a session is opened.
const SessionPage = lazy(() => import("./session/session-page.tsx"));

export function App() {
  const signedIn = useSignIn();
  const location = useLocation();
  const [helpOpen, setHelpOpen] = useState(false);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "?" && !isTyping(event.target) && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        setHelpOpen(true);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  if (!signedIn) return <SignInPage />;

  const queryAt = location.indexOf("?");
  const route = parseRoute(
    queryAt === -1 ? location : location.slice(0, queryAt),
    queryAt === -1 ? "" : location.slice(queryAt),
  );

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href="/" onClick={followLink}>
          <span className="brand-mark" aria-hidden="true">
            F
          </span>
          Frontdesk
        </a>
        <nav aria-label="Main" className="topnav">
          <a href="/" onClick={followLink} aria-current={route.page === "sessions" ? "page" : undefined}>
            Sessions
          </a>
        </nav>
        <div className="topbar-end">
          <span className={`key-kind ${signedIn.admin ? "key-admin" : ""}`} title="The kind of API key in use">
            {signedIn.admin ? "Admin key" : "User key"}
          </span>
          <button type="button" className="button button-ghost button-small" onClick={() => setHelpOpen(true)}>
            <span aria-hidden="true">⌨</span> Shortcuts
          </button>
          <button type="button" className="button button-small" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <ConnectionBanner />
      <main id="main" tabIndex={-1}>
        {route.page === "sessions" && <SessionsPage search={route.search} admin={signedIn.admin} />}
        {route.page === "session" && (
          <Suspense
            fallback={
              <div className="page-loading">
                <Spinner /> Opening session…
              </div>
            }
          >
            <SessionPage key={`${route.userId}/${route.id}`} id={route.id} userId={route.userId} />
          </Suspense>
        )}
        {route.page === "not-found" && <NotFoundPage />}
      </main>
      <Toasts />
      <ShortcutsDialog open={helpOpen} onClose={() => setHelpOpen(false)} />
    </div>
  );
}
