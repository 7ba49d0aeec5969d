// A session as the rest of a cluster knows it: what routing on another node reads (RFC 6121
// §8 delivery: availability, priority; §4 presence for probes; roster interest; carbons).
import type { ClientSession } from '../core/sessions.js';

export interface SessionRecord {
  /** Session id on its node. */
  sid: string;
  node: string;
  /** Full JID. */
  jid: string;
  priority: number;
  available: boolean;
  /** The last available presence, serialised, or null. */
  presence: string | null;
  rosterRequested: boolean;
  flags: string[];
  /** RFC 6121 §4.6: where the resource sent directed presence (they hear of its end, whichever node announces it). */
  directed: string[];
  /** XEP-0198 resumption id (a client may resume the session on any node), or null. */
  sm: string | null;
  ip: string;
  tls: boolean;
  transport: string;
  /** Bound at (ms since the epoch). */
  since: number;
  /** Grows with every change the owner publishes: an older record never wins. */
  version: number;
}

export function recordOf(session: ClientSession, node: string, version: number): SessionRecord {
  return {
    sid: session.id,
    node,
    jid: session.jid.toString(),
    priority: session.priority,
    available: session.available,
    presence: session.presence ? session.presence.toString() : null,
    rosterRequested: session.rosterRequested,
    flags: [...session.flags],
    directed: session.directedPresence ? [...session.directedPresence] : [],
    sm: session.resumptionId,
    ip: session.remoteAddress,
    tls: session.secure,
    transport: session.transport,
    since: session.since.getTime(),
    version,
  };
}

/** A record read from Redis or a channel, or null when it is not one. */
export function parseRecord(text: string): SessionRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  if (typeof r.sid !== 'string' || typeof r.node !== 'string' || typeof r.jid !== 'string' || typeof r.version !== 'number') return null;
  return {
    sid: r.sid,
    node: r.node,
    jid: r.jid,
    priority: typeof r.priority === 'number' ? r.priority : 0,
    available: r.available === true,
    presence: typeof r.presence === 'string' ? r.presence : null,
    rosterRequested: r.rosterRequested === true,
    flags: Array.isArray(r.flags) ? r.flags.filter((f): f is string => typeof f === 'string') : [],
    directed: Array.isArray(r.directed) ? r.directed.filter((d): d is string => typeof d === 'string') : [],
    sm: typeof r.sm === 'string' ? r.sm : null,
    ip: typeof r.ip === 'string' ? r.ip : '',
    tls: r.tls === true,
    transport: typeof r.transport === 'string' ? r.transport : 'c2s',
    since: typeof r.since === 'number' ? r.since : 0,
    version: r.version,
  };
}
