/**
 * Pairs a step's `putWrites` with the `put` LangGraph sends right after it, so that one commit (one
 * fsync on a durable store) holds both. The writes wait one turn of the event loop for a put whose
 * parent is their checkpoint; any other call on the thread in the meantime closes the wait, so calls
 * are still committed in the order they were made.
 */
interface Slot<T> {
  ns: string;
  checkpointId: string;
  open: boolean;
  joined?: Joined<T>;
}

export interface Joined<T> {
  call: T;
  resolve(): void;
  reject(error: unknown): void;
}

export class Pairing<T> {
  private readonly slots = new Map<string, Slot<T>>();

  /** Waits one turn of the event loop; the put that joined meanwhile, if any, is the caller's to commit. */
  async wait(key: string, ns: string, checkpointId: string): Promise<Joined<T> | undefined> {
    const slot: Slot<T> = { ns, checkpointId, open: true };
    this.slots.set(key, slot);
    await new Promise<void>((resolve) => setImmediate(resolve));
    slot.open = false;
    if (this.slots.get(key) === slot) this.slots.delete(key);
    return slot.joined;
  }

  /** Joins the put to the writes waiting on its parent; undefined when none waits (commit it alone). */
  join(key: string, ns: string, parentId: string | undefined, call: T): Promise<void> | undefined {
    const slot = this.slots.get(key);
    if (!slot?.open || slot.joined || slot.ns !== ns || slot.checkpointId !== parentId) return undefined;
    slot.open = false;
    return new Promise<void>((resolve, reject) => {
      slot.joined = { call, resolve, reject };
    });
  }

  /** Another call is queued on the thread: the waiting writes take no put from now on. */
  close(key: string): void {
    const slot = this.slots.get(key);
    if (slot) slot.open = false;
  }
}
