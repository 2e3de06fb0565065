import { createServer, type Server, Socket } from "node:net";

/**
 * A loopback TCP proxy in front of a backend, so a test can take the backend away (every
 * connection dropped, new ones refused) and bring it back on the same port, without stopping the
 * real server that other test files share.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    const server = createServer((client) => {
      const backend = new Socket();
      this.track(client);
      this.track(backend);
      backend.connect(this.targetPort, this.targetHost);
      client.pipe(backend).pipe(client);
      const close = () => {
        client.destroy();
        backend.destroy();
      };
      client.on("error", close).on("close", close);
      backend.on("error", close).on("close", close);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    const address = server.address();
    if (address && typeof address === "object") this.port = address.port;
    return this.port;
  }

  /** The backend "goes down": open connections are cut and new ones refused. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
  }
}
