// Requests from one cluster node to another, answered once, over the nodes' own channels:
// for work that must run where some live state is (a BOSH session's held requests, later a
// group chat room). A request the target never answers resolves null after its timeout; the
// asking side may cancel (its client went away), which the target hears.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ClusterBus, DirectMessage } from './bus.js';

/** Handles one request: `reply` once; `onCancel` hears that the asking side gave up. */
export type NodeRequestHandler = (body: string, reply: (text: string) => void, onCancel: (callback: () => void) => void) => void;

export interface PendingRequest {
  /** The answer, or null when the node did not answer in time (or is not there). */
  readonly answer: Promise<string | null>;
  /** Tells the target that the answer is no longer wanted. */
  cancel(): void;
}

export class NodeRequests {
  private readonly handlers = new Map<string, NodeRequestHandler>();
  /** Requests this node sent, waiting for their answer. */
  private readonly waiting = new Map<string, (text: string | null) => void>();
  /** Requests this node is handling, by "node request-id": whom to tell of a cancel. */
  private readonly handling = new Map<string, () => void>();

  constructor(
    private readonly bus: ClusterBus,
    private readonly node: string,
    private readonly log: Logger,
  ) {}

  handle(kind: string, handler: NodeRequestHandler): void {
    this.handlers.set(kind, handler);
  }

  request(node: string, kind: string, body: string, timeoutMs: number): PendingRequest {
    const req = randomBytes(12).toString('base64url');
    let settle!: (text: string | null) => void;
    const answer = new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => settle(null), timeoutMs);
      settle = (text) => {
        clearTimeout(timer);
        this.waiting.delete(req);
        resolve(text);
      };
    });
    this.waiting.set(req, settle);
    void this.bus.send(node, { op: 'req', kind, req, from: this.node }, body).then((receivers) => {
      if (receivers === 0) settle(null);
    });
    return {
      answer,
      cancel: () => {
        if (!this.waiting.has(req)) return;
        settle(null);
        void this.bus.send(node, { op: 'cancel', req, from: this.node });
      },
    };
  }

  /** Takes this module's messages from the node's channel; false for anyone else's. */
  direct(message: DirectMessage, body: string): boolean {
    if (message.op === 'res') {
      this.waiting.get(message.req)?.(body);
      return true;
    }
    if (message.op === 'cancel') {
      const key = `${message.from} ${message.req}`;
      const cancelled = this.handling.get(key);
      this.handling.delete(key);
      cancelled?.();
      return true;
    }
    if (message.op !== 'req') return false;
    const handler = this.handlers.get(message.kind);
    const key = `${message.from} ${message.req}`;
    let answered = false;
    const reply = (text: string) => {
      if (answered) return;
      answered = true;
      this.handling.delete(key);
      void this.bus.send(message.from, { op: 'res', req: message.req }, text);
    };
    if (!handler) {
      this.log.warn({ kind: message.kind, from: message.from }, 'a request of a kind this node does not handle');
      return true;
    }
    try {
      handler(body, reply, (callback) => {
        if (!answered) this.handling.set(key, callback);
      });
    } catch (err) {
      this.log.error({ err, kind: message.kind }, 'a request from another node failed');
    }
    return true;
  }
}
