/**
 * Whether the server answers. Any request that cannot reach it reports a failure; from then on a
 * probe of `/healthz` retries with exponential backoff (1 s, 2 s, 4 s… at most 30 s, with jitter)
 * until it answers, and pages that were waiting reload when it does.
 */
import { useSyncExternalStore } from "react";

export interface ConnectionState {
  online: boolean;
  /** Failed probes since the server was last reached. */
  attempt: number;
  /** Epoch ms of the next probe while offline. */
  nextRetryAt: number;
}

const MAX_DELAY_MS = 30_000;

class Connection {
  private state: ConnectionState = { online: true, attempt: 0, nextRetryAt: 0 };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly reconnectListeners = new Set<() => void>();

  get snapshot(): ConnectionState {
    return this.state;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Called back each time the server answers again after being unreachable. */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  reportFailure(): void {
    if (!this.state.online) return;
    this.schedule(0);
  }

  reportSuccess(): void {
    if (this.state.online) return;
    clearTimeout(this.timer);
    this.state = { online: true, attempt: 0, nextRetryAt: 0 };
    this.emit();
    for (const listener of this.reconnectListeners) listener();
  }

  /** The banner's "Retry now". */
  retryNow(): void {
    if (this.state.online) return;
    clearTimeout(this.timer);
    void this.probe();
  }

  /** Backoff for attempt n (0-based), with ±20 % jitter so many tabs do not retry in step. */
  static delayOf(attempt: number): number {
    const base = Math.min(MAX_DELAY_MS, 1000 * 2 ** attempt);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private schedule(attempt: number): void {
    const delay = Connection.delayOf(attempt);
    this.state = { online: false, attempt, nextRetryAt: Date.now() + delay };
    this.emit();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.probe(), delay);
  }

  private async probe(): Promise<void> {
    try {
      const response = await fetch("/healthz", { cache: "no-store" });
      if (response.ok) {
        this.reportSuccess();
        return;
      }
    } catch {
      // Still unreachable.
    }
    this.schedule(this.state.attempt + 1);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

export const connection = new Connection();
export const backoffDelay = Connection.delayOf;

export const useConnection = (): ConnectionState =>
  useSyncExternalStore(connection.subscribe, () => connection.snapshot);
