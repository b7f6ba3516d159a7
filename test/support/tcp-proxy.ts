/**
 * A real TCP proxy on loopback, for partitions: it forwards bytes both ways until cut, then either resets every
 * connection (and each new one) or blackholes them (accepted, nothing read, nothing forwarded), until healed.
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

/**
 * `reset`: every connection is reset now, and each new one as soon as it is accepted (a REJECT rule, a dead host
 * whose port answers RST). `blackhole`: connections stay open but no byte moves either way, new ones are accepted
 * and left hanging (dropped packets, a stuck middlebox): only a peer's own timeouts notice.
 */
export type CutMode = 'reset' | 'blackhole';

export interface HealOptions {
  /**
   * What happens to connections that sat in the blackhole: `resume` delivers what was held, in order, as TCP
   * does when a short partition ends; `reset` resets them, as a middlebox that forgot the flows would; `drop`
   * leaves them hanging for good (half-open: the flows died silently), while new connections work.
   */
  held?: 'resume' | 'reset' | 'drop';
}

export interface TcpProxy {
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  cut(mode?: CutMode): void;
  heal(options?: HealOptions): void;
  /**
   * Lets the next request matching `request` through, then resets every connection as soon as its connection
   * has bytes to send back: the request ran, its reply is lost (a crash or a partition between the two).
   * Resolves once that happened.
   */
  loseReplyTo(request: RegExp): Promise<void>;
  /** Resets every connection and stops listening. */
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket | null;
  /** False while blackholed, and for good once dropped. */
  flowing: boolean;
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  let state: 'open' | CutMode = 'open';
  const links = new Set<Link>();
  /** Held connections left hanging by heal({ held: 'drop' }), still closed by close(). */
  const abandoned = new Set<Link>();

  const drop = (entry: Link) => {
    links.delete(entry);
    abandoned.delete(entry);
    if (!entry.client.destroyed) entry.client.resetAndDestroy();
    entry.upstream?.destroy();
  };

  let trap: { request: RegExp; link: Link | null; sprung: () => void } | null = null;

  /** Forwards `from` to `to` while the link flows, with backpressure. */
  const forward = (entry: Link, from: Socket, to: Socket) => {
    const isReply = from === entry.upstream;
    from.on('data', (chunk: Buffer) => {
      if (trap !== null) {
        if (isReply && trap.link === entry) {
          const { sprung } = trap;
          trap = null;
          for (const other of [...links]) drop(other);
          sprung();
          return;
        }
        if (!isReply && trap.link === null && trap.request.test(chunk.toString('latin1'))) trap.link = entry;
      }
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (entry.flowing) from.resume();
    });
  };

  const link = (entry: Link) => {
    const upstream = tcpConnect({ host, port: target.port });
    entry.upstream = upstream;
    upstream.on('error', () => drop(entry));
    upstream.on('close', () => drop(entry));
    forward(entry, entry.client, upstream);
    forward(entry, upstream, entry.client);
  };

  const server = createServer({ pauseOnConnect: true }, (client) => {
    if (state === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const entry: Link = { client, upstream: null, flowing: state === 'open' };
    links.add(entry);
    client.on('error', () => drop(entry));
    client.on('close', () => drop(entry));
    // Blackholed: accepted, but nothing is read and no upstream connection is made until heal().
    if (entry.flowing) {
      link(entry);
      client.resume();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut(mode = 'reset') {
      state = mode;
      for (const entry of [...links]) {
        if (mode === 'reset') {
          drop(entry);
        } else {
          entry.flowing = false;
          entry.client.pause();
          entry.upstream?.pause();
        }
      }
    },
    heal(options = {}) {
      const held = [...links].filter((entry) => !entry.flowing);
      state = 'open';
      for (const entry of held) {
        if (options.held === 'reset') {
          drop(entry);
        } else if (options.held === 'drop') {
          // Stays paused and unlinked: only its own end's timeouts will ever close it.
          links.delete(entry);
          abandoned.add(entry);
        } else {
          entry.flowing = true;
          if (entry.upstream === null) link(entry);
          entry.client.resume();
          entry.upstream?.resume();
        }
      }
    },
    loseReplyTo(request) {
      return new Promise<void>((sprung) => {
        trap = { request, link: null, sprung };
      });
    },
    async close() {
      for (const entry of [...links, ...abandoned]) drop(entry);
      abandoned.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
