import type { SessionStatus } from "../api/client.ts";

export function StatusBadge({ status }: { status: SessionStatus | string }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

export function Tag({ children }: { children: string }) {
  return <span className="tag">{children}</span>;
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return <span className="spinner" role="status" aria-label={label} />;
}
