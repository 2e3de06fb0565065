/** Short confirmations ("Forked at #12") in a polite live region; each fades after a few seconds. */
import { type ReactNode, useSyncExternalStore } from "react";

interface Toast {
  id: number;
  text: ReactNode;
  tone: "info" | "error";
}

let toasts: Toast[] = [];
let nextId = 1;
const listeners = new Set<() => void>();
const emit = () => {
  for (const listener of listeners) listener();
};

export function toast(text: ReactNode, tone: Toast["tone"] = "info"): void {
  const id = nextId++;
  toasts = [...toasts, { id, text, tone }].slice(-4);
  emit();
  setTimeout(() => dismiss(id), tone === "error" ? 8000 : 4500);
}

function dismiss(id: number): void {
  toasts = toasts.filter((t) => t.id !== id);
  emit();
}

export function Toasts() {
  const list = useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => toasts,
  );
  return (
    <div className="toasts" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} className={`toast toast-${t.tone}`} role={t.tone === "error" ? "alert" : "status"}>
          <span>{t.text}</span>
          <button type="button" className="toast-close" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
