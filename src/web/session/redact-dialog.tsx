/**
 * Redact an event (and what is folded into its row: a tool call's result, an approval's answer):
 * `POST …/events/{seq}/redact` with a reason, conditional on the version the dialog opened at. If
 * the session changed meanwhile the server answers 412 and nothing is redacted: the dialog says
 * so, refreshes the session and keeps the reason, so a second press redacts at the new version.
 * It never shows the content it removes.
 */
import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import {
  ApiError,
  describeError,
  type FrontdeskEvent,
  ownerQuery,
  request,
  type Session,
  sessionPath,
} from "../api/client.ts";
import { Dialog } from "../components/dialog.tsx";
import { toast } from "../components/toasts.tsx";
import type { RedactTarget } from "./history-views.tsx";

interface RedactAnswer {
  version: number;
  lastSeq: number;
  events: FrontdeskEvent[];
}

interface Conflict {
  yours: number;
  current: number | null;
  /** Redacted before the conflict (of several chosen). */
  done: string[];
}

export function RedactDialog(props: {
  /** The events offered; the dialog is open while set. */
  targets: RedactTarget[] | null;
  session: Session;
  userId: string | null;
  onClose: () => void;
  /** The tombstones as the server answered them, to show at once (the stream's notice follows). */
  onRedacted: (tombstones: FrontdeskEvent[]) => void;
  reload: () => Promise<Session | null>;
}) {
  const { targets, session } = props;
  const open = targets !== null;
  const [reason, setReason] = useState("");
  const [chosen, setChosen] = useState<ReadonlySet<number>>(() => new Set());
  const [baseVersion, setBaseVersion] = useState(session.version);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const reasonId = useId();
  // This dialog's own last redaction moved the version on before the header (re-read after the
  // stream's notice) knows it: a next redaction right away starts from there.
  const answeredVersion = useRef(0);

  // The request is conditional on the session as it is when the dialog opens.
  // biome-ignore lint/correctness/useExhaustiveDependencies: only on opening
  useEffect(() => {
    if (!targets) return;
    setReason("");
    setChosen(new Set(targets.map((target) => target.seq)));
    setBaseVersion(Math.max(session.version, answeredVersion.current));
    setError(null);
    setConflict(null);
  }, [targets]);

  const labelOf = (seq: number) => targets?.find((target) => target.seq === seq)?.label ?? `#${seq}`;

  const redact = async (event: FormEvent) => {
    event.preventDefault();
    const seqs = [...chosen].sort((a, b) => a - b);
    if (seqs.length === 0 || reason.trim() === "") return;
    setBusy(true);
    setError(null);
    setConflict(null);
    let version = baseVersion;
    const tombstones: FrontdeskEvent[] = [];
    const done: number[] = [];
    try {
      for (const seq of seqs) {
        const { data } = await request<RedactAnswer>(sessionPath(session.id, `/events/${seq}/redact`), {
          method: "POST",
          query: ownerQuery(props.userId),
          headers: { "if-match": `"${version}"` },
          body: { reason: reason.trim() },
        });
        version = data.version;
        answeredVersion.current = Math.max(answeredVersion.current, version);
        tombstones.push(...data.events);
        done.push(seq);
      }
      props.onRedacted(tombstones);
      props.onClose();
      toast(`Redacted ${seqs.map(labelOf).join(" and ")}.`);
    } catch (failure) {
      if (tombstones.length > 0) props.onRedacted(tombstones);
      setChosen(new Set(seqs.filter((seq) => !done.includes(seq))));
      if (failure instanceof ApiError && failure.status === 412) {
        const current = failure.details.currentVersion;
        setConflict({ yours: version, current: typeof current === "number" ? current : null, done: done.map(labelOf) });
        const fresh = await props.reload();
        setBaseVersion(fresh?.version ?? (typeof current === "number" ? current : version));
      } else {
        setError(describeError(failure));
      }
    } finally {
      setBusy(false);
    }
  };

  const several = (targets?.length ?? 0) > 1;
  return (
    <Dialog
      open={open}
      onClose={props.onClose}
      title={several ? "Redact events" : `Redact ${targets?.[0]?.label ?? "event"}`}
      tone="danger"
      actions={
        <>
          <button type="button" className="button" onClick={props.onClose}>
            Cancel
          </button>
          <button
            type="submit"
            form="redact-events"
            className="button button-danger"
            disabled={busy || chosen.size === 0 || reason.trim() === ""}
          >
            {busy ? "Redacting…" : "Redact"}
          </button>
        </>
      }
    >
      <form id="redact-events" onSubmit={redact} className="form-stack">
        {conflict && (
          <div className="callout callout-warning" role="alert">
            <strong>Conflict: the session changed since you opened this dialog</strong> (you started from version{" "}
            {conflict.yours}
            {conflict.current !== null ? `; it is now at version ${conflict.current}` : ""}).{" "}
            {conflict.done.length > 0
              ? `Only ${conflict.done.join(" and ")} ${conflict.done.length === 1 ? "was" : "were"} redacted.`
              : "Nothing was redacted."}{" "}
            The session has been refreshed: check the timeline, then press Redact again to redact at version{" "}
            {baseVersion}.
          </div>
        )}
        <p>
          The content is replaced by a <strong>tombstone</strong> that keeps the seq, type and time, and who redacted
          it, when and why. From now on every reader sees the tombstone: this console, the API, exports, live streams
          and the agent's history. Exports and backups taken before keep the content. This cannot be undone.
        </p>
        {several ? (
          <fieldset className="field redact-targets">
            <legend>Events to redact</legend>
            {targets?.map((target) => (
              <label key={target.seq} className="redact-target">
                <input
                  type="checkbox"
                  checked={chosen.has(target.seq)}
                  onChange={() =>
                    setChosen((previous) => {
                      const next = new Set(previous);
                      if (next.has(target.seq)) next.delete(target.seq);
                      else next.add(target.seq);
                      return next;
                    })
                  }
                />{" "}
                {target.label}
              </label>
            ))}
          </fieldset>
        ) : null}
        <div className="field">
          <label htmlFor={reasonId}>Reason (kept in the tombstone)</label>
          <textarea
            id={reasonId}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            maxLength={4096}
            rows={3}
            required
            placeholder="e.g. card number pasted by the user"
          />
        </div>
        <p className="hint">Redacted only if the session is still at version {baseVersion}.</p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </Dialog>
  );
}
