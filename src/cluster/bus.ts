// Messages between the nodes of a cluster over Redis pub/sub: one channel every node hears
// (events, in one order for all), and one channel per node (stanzas for its sessions,
// requests). Pub/sub does not redeliver: a PUBLISH that reaches nobody says so (0
// receivers), and the sender treats the target as gone.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CacheName, SharedTopic } from '../core/cache-coherence.js';
import type { SessionRecord } from './record.js';
import { channels } from './redis.js';

export type ClusterEvent =
  /** A session was bound or changed; `initial`: its initial presence, ordered here. */
  | { t: 'up'; rec: SessionRecord; initial?: boolean }
  | { t: 'down'; node: string; jid: string; sid: string }
  /** The node registered its sessions again (after a Redis restart): read them from Redis. */
  | { t: 'sync'; node: string }
  /** The node died; `by` spoke for it (its sessions ended). */
  | { t: 'dead'; node: string; by: string }
  | { t: 'changed'; node: string; cache: CacheName; key: string }
  | { t: 'shared'; node: string; topic: SharedTopic; payload: string };

export type DirectMessage =
  /**
   * A stanza for a session of the receiving node (`write`: past its delivery filters);
   * `archived`: it is in the recipient's archive (src/core/stanza-marks.ts).
   */
  | { op: 'deliver' | 'write'; sid: string; jid: string; archived?: true }
  | { op: 'close'; sid: string; jid: string; condition?: string; text?: string }
  /**
   * XEP-0198 resumption on the sending node (`from`) of a session held here; answered with
   * `claimed` (body: the ClaimResult JSON) on the sender's channel.
   */
  | { op: 'claim'; req: string; from: string; sid: string; jid: string; sm: string; h: number }
  | { op: 'claimed'; req: string }
  /** A request to this node's `kind` handler (src/cluster/requests.ts), body its input; `res` answers it. */
  | { op: 'req'; kind: string; req: string; from: string }
  | { op: 'res'; req: string }
  /** The asking node no longer wants the answer. */
  | { op: 'cancel'; req: string; from: string }
  /** A stanza for a service (a component) connected to the receiving node; body: the stanza. */
  | { op: 'service'; domain: string };

export interface BusHandlers {
  event(event: ClusterEvent): void;
  /** `body`: the stanza of deliver/write, else empty. */
  direct(message: DirectMessage, body: string): void;
  /** The subscription was (re)established: what was published meanwhile is lost. */
  subscribed(): void;
}

/**
 * Messages for one node sent in the same turn of the event loop go in one PUBLISH: under
 * load that saves a Redis command (and its reply, and its allocations) per stanza.
 */
interface Batch {
  readonly frames: string[];
  readonly resolve: (receivers: number) => void;
  readonly sent: Promise<number>;
}

/** Frames per PUBLISH at most. */
const MAX_BATCH = 256;

export class ClusterBus {
  private readonly own: string;
  private readonly batches = new Map<string, Batch>();
  private flushScheduled = false;

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    readonly node: string,
    private readonly log: Logger,
  ) {
    this.own = channels.node(node);
  }

  get connected(): boolean {
    return this.pub.status === 'ready' && this.sub.status === 'ready';
  }

  async start(handlers: BusHandlers): Promise<void> {
    this.sub.on('message', (channel: string, message: string) => {
      try {
        if (channel === channels.events) {
          handlers.event(JSON.parse(message) as ClusterEvent);
        } else if (channel === this.own) {
          if (message.startsWith('[')) this.unbatch(message, handlers);
          else this.frame(message, handlers);
        }
      } catch (err) {
        this.log.error({ err, channel }, 'cluster message not handled');
      }
    });
    const subscribe = async () => {
      await this.sub.subscribe(channels.events, this.own);
      handlers.subscribed();
    };
    // After a reconnect the subscription is made again here (not by ioredis), so that the
    // node knows exactly when it may have missed something.
    this.sub.on('ready', () => {
      void subscribe().catch((err: unknown) => this.log.warn({ err }, 'cluster subscription failed'));
    });
    await subscribe();
  }

  /** Publishes an event to every node, this one included; false when Redis is unreachable. */
  async publish(event: ClusterEvent): Promise<boolean> {
    if (this.pub.status !== 'ready') return false;
    try {
      await this.pub.publish(channels.events, JSON.stringify(event));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sends to one node, in order with what was sent to it before; resolves with how many
   * subscribers got it (0: the node is not there). What is sent to a node within one turn of
   * the event loop goes in one PUBLISH.
   */
  send(node: string, message: DirectMessage, body = ''): Promise<number> {
    const text = encodeFrame(message, body);
    let batch = this.batches.get(node);
    if (!batch) {
      let resolve!: (receivers: number) => void;
      const sent = new Promise<number>((r) => (resolve = r));
      batch = { frames: [], resolve, sent };
      this.batches.set(node, batch);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }
    batch.frames.push(text);
    const sent = batch.sent;
    if (batch.frames.length >= MAX_BATCH) {
      // Big enough: out now (in order: later frames go in a later PUBLISH).
      this.batches.delete(node);
      this.publishBatch(node, batch);
    }
    return sent;
  }

  private flush(): void {
    this.flushScheduled = false;
    const batches = [...this.batches];
    this.batches.clear();
    for (const [node, batch] of batches) this.publishBatch(node, batch);
  }

  private publishBatch(node: string, batch: Batch): void {
    if (this.pub.status !== 'ready') {
      batch.resolve(0);
      return;
    }
    // One frame as it is; several behind a JSON array of their lengths.
    const frames = batch.frames;
    const text = frames.length === 1 ? frames[0]! : `${JSON.stringify(frames.map((f) => f.length))}\n${frames.join('')}`;
    this.pub.publish(channels.node(node), text).then(batch.resolve, () => batch.resolve(0));
  }

  private unbatch(message: string, handlers: BusHandlers): void {
    const newline = message.indexOf('\n');
    const lengths = JSON.parse(message.slice(0, newline)) as number[];
    let offset = newline + 1;
    for (const length of lengths) {
      const frame = message.slice(offset, offset + length);
      offset += length;
      try {
        this.frame(frame, handlers);
      } catch (err) {
        this.log.error({ err }, 'cluster message not handled');
      }
    }
  }

  private frame(text: string, handlers: BusHandlers): void {
    const newline = text.indexOf('\n');
    const head = newline < 0 ? text : text.slice(0, newline);
    const header = head.charCodeAt(0) === 0x7b /* { */ ? (JSON.parse(head) as DirectMessage) : decodeStanzaHead(head);
    if (header) handlers.direct(header, newline < 0 ? '' : text.slice(newline + 1));
    else this.log.error('malformed frame from another cluster node');
  }
}

/**
 * A frame: its header, a newline, its body. A stanza's header (the hot path) is compact text,
 * `D` or `W` (deliver, write), `A` or `-` (archived), the session id, a space, the full JID
 * (last: a resource may hold spaces); any other message's header is JSON.
 */
function encodeFrame(message: DirectMessage, body: string): string {
  if (message.op === 'deliver' || message.op === 'write') {
    return `${message.op === 'deliver' ? 'D' : 'W'}${message.archived ? 'A' : '-'}${message.sid} ${message.jid}\n${body}`;
  }
  return body === '' ? JSON.stringify(message) : `${JSON.stringify(message)}\n${body}`;
}

function decodeStanzaHead(head: string): DirectMessage | null {
  const op = head[0] === 'D' ? 'deliver' : head[0] === 'W' ? 'write' : null;
  const space = head.indexOf(' ', 2);
  if (!op || space < 0) return null;
  const message: DirectMessage = { op, sid: head.slice(2, space), jid: head.slice(space + 1) };
  if (head[1] === 'A') message.archived = true;
  return message;
}

