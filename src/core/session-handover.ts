// Moving a resumable session between the nodes of a cluster (XEP-0198 §5 resumption on
// another node while the old one lives). The node holding the session gives it up: its old
// stream ends with a conflict, the state below travels, and the node where the client
// resumed binds it under the same id and resends what the client had not acknowledged.
// src/cluster/registry.ts carries it; src/c2s/handover.ts takes and gives sessions.
import type { ClientSession } from './sessions.js';

/** XEP-0198 state as it moves: counters, and unacknowledged stanzas with their marks. */
export interface SmSnapshot {
  id: string;
  received: number;
  acked: number;
  pending: Array<{ xml: string; archived?: true; carbon?: true }>;
}

/** A session as it moves to another node. */
export interface SessionSnapshot {
  id: string;
  jid: string;
  since: number;
  ip: string;
  tls: boolean;
  priority: number;
  available: boolean;
  presence: string | null;
  rosterRequested: boolean;
  flags: string[];
  directedPresence: string[] | null;
  sm: SmSnapshot;
}

/** Why a session could not be taken over: the answers a <resume/> gets (§5 <failed/>). */
export type HandoverRefusal =
  | { condition: 'item-not-found' }
  /** §4: the client acknowledged more than the server sent. */
  | { condition: 'handled-count-too-high'; received: number; sent: number };

/** A session given up by its node: its state, and where the registries had it. */
export interface ClaimedSession {
  ok: true;
  snapshot: SessionSnapshot;
  /** The version of its last registry record (the next one supersedes it everywhere). */
  version: number;
  /** Its place in the order of initial presences (ClientSession.availableSeq) on this node. */
  availableSeq: number;
}

export type ClaimResult = ClaimedSession | ({ ok: false } & HandoverRefusal);

/** The node a client resumes on: asks the node holding the session for it. */
export interface SessionClaims {
  claim(account: string, resumptionId: string, h: number): Promise<ClaimResult>;
  /** The claimed session, rebuilt here: bound on this node under its old id. */
  adopt(session: ClientSession, claimed: ClaimedSession): void;
}

/** The node holding sessions: gives one up (registered by the c2s layer). */
export interface SessionGiver {
  /**
   * Checks h, detaches the session's stream (it ends with a conflict) and settles what the
   * session received; null when it may be sealed.
   */
  prepare(session: ClientSession, resumptionId: string, h: number): Promise<HandoverRefusal | null>;
  /** Marks the session moved (what still reaches it is forwarded) and returns its state; null when it ended meanwhile. */
  seal(session: ClientSession): SessionSnapshot | null;
}
