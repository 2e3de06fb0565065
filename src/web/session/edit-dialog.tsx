/**
 * Edit the title and tags with `If-Match` on the version the form started from. If someone else
 * changed the session meanwhile the server answers 412 and nothing is written; the dialog says so
 * plainly, offers to reload the latest version, and keeps what was typed.
 */
import { type FormEvent, useEffect, useId, useState } from "react";
import { ApiError, describeError, ownerQuery, request, type Session, sessionPath } from "../api/client.ts";
import { Dialog } from "../components/dialog.tsx";
import { tagsOf } from "../format.ts";

export function EditDialog(props: {
  open: boolean;
  session: Session;
  userId: string | null;
  onClose: () => void;
  onSaved: (session: Session) => void;
  reload: () => Promise<Session | null>;
}) {
  const { open, session } = props;
  const [title, setTitle] = useState("");
  const [tags, setTags] = useState("");
  const [baseVersion, setBaseVersion] = useState(session.version);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<{ yours: number; current: number | null } | null>(null);
  const [latest, setLatest] = useState<Session | null>(null);
  const ids = { title: useId(), tags: useId() };

  // The form starts from the session as it is when the dialog opens, and keeps that version.
  // biome-ignore lint/correctness/useExhaustiveDependencies: only on opening
  useEffect(() => {
    if (!open) return;
    setTitle(session.title ?? "");
    setTags(session.tags.join(", "));
    setBaseVersion(session.version);
    setError(null);
    setConflict(null);
    setLatest(null);
  }, [open]);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { data } = await request<Session>(sessionPath(session.id), {
        method: "PATCH",
        query: ownerQuery(props.userId),
        headers: { "if-match": `"${baseVersion}"` },
        body: { title: title.trim() === "" ? null : title.trim(), tags: tagsOf(tags) },
      });
      props.onSaved(data);
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 412) {
        const current = failure.details.currentVersion;
        setConflict({ yours: baseVersion, current: typeof current === "number" ? current : null });
      } else {
        setError(describeError(failure));
      }
    } finally {
      setBusy(false);
    }
  };

  const reload = async () => {
    setBusy(true);
    const fresh = await props.reload();
    setBusy(false);
    if (!fresh) {
      setError("The latest version could not be loaded.");
      return;
    }
    setLatest(fresh);
    setBaseVersion(fresh.version);
    setConflict(null);
  };

  return (
    <Dialog
      open={open}
      onClose={props.onClose}
      title="Edit title and tags"
      actions={
        <>
          <button type="button" className="button" onClick={props.onClose}>
            Cancel
          </button>
          {conflict && (
            <button type="button" className="button" disabled={busy} onClick={() => void reload()}>
              Reload latest
            </button>
          )}
          <button type="submit" form="edit-session" className="button button-primary" disabled={busy || !!conflict}>
            {busy ? "Saving…" : "Save"}
          </button>
        </>
      }
    >
      <form id="edit-session" onSubmit={save} className="form-stack">
        {conflict && (
          <div className="callout callout-warning" role="alert">
            <strong>Conflict: this session was changed by someone else</strong> (you started from version{" "}
            {conflict.yours}
            {conflict.current !== null ? `; it is now at version ${conflict.current}` : ""}). Your edit was not saved.
            Reload the latest version, check it, then save again.
          </div>
        )}
        {latest && (
          <div className="callout" role="status">
            Reloaded version {latest.version}. Its title is <strong>{latest.title ?? "(none)"}</strong> and its tags are{" "}
            <strong>{latest.tags.length > 0 ? latest.tags.join(", ") : "(none)"}</strong>. Your changes are kept below;
            Save writes them over this version.
          </div>
        )}
        <div className="field">
          <label htmlFor={ids.title}>Title</label>
          <input id={ids.title} value={title} onChange={(e) => setTitle(e.target.value)} maxLength={512} />
        </div>
        <div className="field">
          <label htmlFor={ids.tags}>Tags, separated by commas</label>
          <input id={ids.tags} value={tags} onChange={(e) => setTags(e.target.value)} spellCheck={false} />
        </div>
        <p className="hint">Saved only if the session is still at version {baseVersion}.</p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </Dialog>
  );
}
