/**
 * One turn of the event loop for everything waiting, I/O included: long pieces of work (reading a
 * history in chunks, counting tokens in slices, sweeping in transactions) call it between steps so
 * that no input within the limits holds the loop.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
