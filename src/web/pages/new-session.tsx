/**
 * "New session": a title, tags and a first message. The session is created with
 * `POST /v1/sessions`; its page opens and sends the first message as an agent turn, so the reply
 * streams in where the conversation goes on. Without a message the session opens empty.
 */
import { type FormEvent, useEffect, useId, useState } from "react";
import { describeError, request, type Session } from "../api/client.ts";
import { Dialog } from "../components/dialog.tsx";
import { handOverFirstMessage } from "../first-message.ts";
import { tagsOf } from "../format.ts";
import { navigate, sessionHref } from "../router.ts";

export function NewSessionDialog({ open, admin, onClose }: { open: boolean; admin: boolean; onClose: () => void }) {
  const [title, setTitle] = useState("");
  const [tags, setTags] = useState("");
  const [user, setUser] = useState("");
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ids = { title: useId(), tags: useId(), user: useId(), message: useId() };

  useEffect(() => {
    if (!open) return;
    setTitle("");
    setTags("");
    setUser("");
    setMessage("");
    setError(null);
  }, [open]);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const trimmedTitle = title.trim();
      const { data } = await request<Session>("/v1/sessions", {
        method: "POST",
        query: admin && user.trim() ? { userId: user.trim() } : {},
        body: {
          ...(trimmedTitle ? { title: trimmedTitle } : {}),
          tags: tagsOf(tags),
        },
      });
      if (message.trim()) handOverFirstMessage(data.id, message.trim());
      onClose();
      navigate(sessionHref(data.id, data.userId));
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      open={open}
      onClose={onClose}
      title="New session"
      actions={
        <>
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="new-session" className="button button-primary" disabled={busy}>
            {busy ? "Creating…" : message.trim() ? "Create and send" : "Create"}
          </button>
        </>
      }
    >
      <form id="new-session" onSubmit={create} className="form-stack">
        <div className="field">
          <label htmlFor={ids.title}>Title</label>
          <input
            id={ids.title}
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            maxLength={512}
            placeholder="What this conversation is about"
          />
        </div>
        <div className="field">
          <label htmlFor={ids.tags}>Tags, separated by commas</label>
          <input
            id={ids.tags}
            value={tags}
            onChange={(e) => setTags(e.target.value)}
            spellCheck={false}
            placeholder="billing, urgent"
          />
        </div>
        {admin && (
          <div className="field">
            <label htmlFor={ids.user}>For user</label>
            <input
              id={ids.user}
              value={user}
              onChange={(e) => setUser(e.target.value)}
              spellCheck={false}
              placeholder="yourself"
            />
          </div>
        )}
        <div className="field">
          <label htmlFor={ids.message}>First message</label>
          <textarea
            id={ids.message}
            value={message}
            rows={4}
            onChange={(e) => setMessage(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) e.currentTarget.form?.requestSubmit();
            }}
            placeholder="Sent to the agent as the first turn (optional)"
          />
        </div>
        <p className="hint">The session opens and the agent answers there. Ctrl+Enter creates it.</p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </Dialog>
  );
}
