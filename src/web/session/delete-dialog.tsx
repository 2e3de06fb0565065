/** Deleting a session, after a confirmation: `DELETE`, then back to the list. */
import { useState } from "react";
import { describeError, ownerQuery, type Session, send, sessionPath } from "../api/client.ts";
import { Dialog } from "../components/dialog.tsx";
import { toast } from "../components/toasts.tsx";
import { count } from "../format.ts";
import { navigate } from "../router.ts";

export function DeleteDialog({
  open,
  session,
  userId,
  onClose,
}: {
  open: boolean;
  session: Session;
  userId: string | null;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await send(sessionPath(session.id), { method: "DELETE", query: ownerQuery(userId) });
      onClose();
      toast(`Deleted session ${session.id}.`);
      navigate("/");
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
      title="Delete this session?"
      tone="danger"
      actions={
        <>
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="button button-danger" disabled={busy} onClick={() => void remove()}>
            {busy ? "Deleting…" : "Delete session"}
          </button>
        </>
      }
    >
      <p>
        <strong>{session.title || session.id}</strong> and its {count(session.lastSeq)} events, state and statistics
        will be removed for good. Sessions forked from it are kept. This cannot be undone.
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </Dialog>
  );
}
