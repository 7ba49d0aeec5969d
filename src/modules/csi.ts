// XEP-0352: Client State Indication 0.2 — while a client says it is inactive, what is not urgent waits.
//
// A delivery filter: for an inactive session it holds availability presence (only the newest
// per sender), chat states and other body-less messages, and lets everything else through at
// once, after writing out what it held first, so the client sees the stanzas in the order
// they came, less the presence that a newer one from the same sender superseded. <active/>,
// the per-session cap (limits.csiHeldStanzas) and a resumption (XEP-0198) write out the rest.
import { Element } from 'ltx';
import { StreamError } from '../core/errors.js';
import { defineModule } from '../core/module.js';
import type { ClientSession } from '../core/sessions.js';
import { NS_CARBONS, NS_CHAT_STATES, NS_FORWARD, NS_HINTS, NS_MUC_USER, NS_RECEIPTS } from '../core/namespaces.js';

export const NS_CSI = 'urn:xmpp:csi:0';


/**
 * Payloads that make a body-less message urgent, by namespace: the client must see them
 * now even though they carry no <body/>.
 */
const URGENT_NAMESPACES = new Set([
  // Encrypted messages: what they say cannot be known, so they are treated as content
  // (OMEMO legacy and XEP-0384 0.8+, XEP-0373 OpenPGP, XEP-0027, XEP-0380 hints).
  'eu.siacs.conversations.axolotl',
  'urn:xmpp:omemo:2',
  'urn:xmpp:openpgp:0',
  'jabber:x:encrypted',
  'urn:xmpp:eme:0',
  // XEP-0353 Jingle Message Initiation: an incoming call rings now or never.
  'urn:xmpp:jingle-message:0',
  'urn:xmpp:jingle-message:1',
  // XEP-0249 direct MUC invitation: a prompt for the user.
  'jabber:x:conference',
  // XEP-0313 results answer a query this client just sent: it is evidently in use.
  'urn:xmpp:mam:0',
  'urn:xmpp:mam:1',
  'urn:xmpp:mam:2',
]);

const isContentNamespace = (ns: string | undefined) => ns === undefined || ns === 'jabber:client' || ns === 'jabber:server';

/** Whether a message must reach an inactive client now (see the module comment). */
function messageIsUrgent(message: Element): boolean {
  // An error answers something the user sent: the user is waiting to know.
  if (message.attrs.type === 'error') return true;
  for (const child of message.children) {
    if (typeof child === 'string') continue;
    const ns = child.attrs.xmlns;
    if (isContentNamespace(ns)) {
      if (child.name === 'body') return true;
      // XEP-0045 §7.2.15: the subject is the last step of joining a room; the client waits for it.
      if (child.name === 'subject') return true;
      continue;
    }
    if (URGENT_NAMESPACES.has(ns!)) return true;
    // XEP-0184 §5.4: a receipt request comes with content, but even alone the sender waits for
    // the receipt that only this client can send. The receipts themselves (<received/>) wait.
    if (ns === NS_RECEIPTS && child.name === 'request') return true;
    // XEP-0045 §7.8.2: a mediated invitation is a prompt like a direct one.
    if (ns === NS_MUC_USER && child.getChild('invite') !== undefined) return true;
    // XEP-0280 §6: a carbon copy is as urgent as the message it copies.
    if (ns === NS_CARBONS && (child.name === 'sent' || child.name === 'received')) {
      const copied = child.getChild('forwarded', NS_FORWARD)?.getChild('message');
      if (copied && messageIsUrgent(copied)) return true;
    }
  }
  return false;
}

/**
 * XEP-0085 §5.6: a message that carries nothing but a chat state (and perhaps a thread or
 * hints) is worth nothing once its session is gone.
 */
function isOnlyChatState(message: Element): boolean {
  let state = false;
  for (const child of message.children) {
    if (typeof child === 'string') continue;
    const ns = child.attrs.xmlns;
    if (ns === NS_CHAT_STATES) state = true;
    else if (!(ns === NS_HINTS || (child.name === 'thread' && isContentNamespace(ns)))) return false;
  }
  return state;
}

/** XEP-0045 §7.2.2: status 110 marks the room's answer to this client's own join or change. */
function isOwnRoomPresence(presence: Element): boolean {
  const x = presence.getChild('x', NS_MUC_USER);
  return x !== undefined && x.getChildren('status').some((s) => s.attrs.code === '110');
}

/** Held, in the queue of its own (a fresh number each). */
const QUEUE = 0;
/** Delivered now. */
const URGENT = 1;

/**
 * How an inactive session treats a stanza: URGENT, QUEUE, or a key (a string) under which
 * it is held so that a newer stanza with the same key replaces it.
 * `hibernated`: the session's stream is gone (XEP-0198); only what may be lost if it never
 * comes back is held, everything else goes to the resumption queue, whose expiry hands
 * messages on to other resources or offline storage (RFC 6121 §8.5.3).
 */
function classify(stanza: Element, hibernated: boolean): string | typeof QUEUE | typeof URGENT {
  if (stanza.name === 'presence') {
    const type = stanza.attrs.type;
    // Availability is the newest state that counts (XEP-0352 §2.2: "push the latest presence
    // from each contact"); subscription requests and errors are for the user to act on now.
    if (type !== undefined && type !== 'unavailable') return URGENT;
    if (isOwnRoomPresence(stanza)) return URGENT;
    return `p${stanza.attrs.from ?? ''}`;
  }
  if (stanza.name === 'message') {
    if (messageIsUrgent(stanza)) return URGENT;
    if (hibernated && !isOnlyChatState(stanza)) return URGENT;
    return QUEUE;
  }
  // iq (requests wait for an answer, results answer the client) and anything unknown.
  return URGENT;
}

interface CsiState {
  inactive: boolean;
  /** The session's stream is gone and it waits for a resumption. */
  hibernated: boolean;
  /** Held stanzas in arrival order; a Map, so that replacing presence moves it to the end. */
  readonly held: Map<string | number, Element>;
  next: number;
}

export const csiModule = defineModule({
  name: 'csi',
  implements: 'XEP-0352 Client State Indication 0.2',
  setup(ctx) {
    const cap = ctx.config.limits.csiHeldStanzas;
    const heldCount = ctx.metrics.counter('hearth_csi_held_stanzas_total', 'Stanzas held back from inactive client sessions (XEP-0352).');
    const flushedCount = ctx.metrics.counter('hearth_csi_flushed_stanzas_total', 'Held stanzas later written to their session (XEP-0352).');
    const droppedCount = ctx.metrics.counter(
      'hearth_csi_dropped_stanzas_total',
      'Held stanzas never written: presence superseded by newer presence from the same sender, or held when the session ended.',
    );
    const states = new WeakMap<ClientSession, CsiState>();

    ctx.streamFeatures.addAuthenticated(new Element('csi', { xmlns: NS_CSI }));

    /** Writes out everything held, in order, past the delivery filters. */
    function flush(session: ClientSession, state: CsiState): void {
      if (state.held.size === 0) return;
      // Copied and cleared first: a write may end the stream, and with it this state.
      const held = [...state.held.values()];
      state.held.clear();
      flushedCount.inc(held.length);
      for (const stanza of held) session.write(stanza);
    }

    function setActive(session: ClientSession, state: CsiState): void {
      state.inactive = false;
      flush(session, state);
    }

    // XEP-0352 §4.1: no reply to either element. They are handled before the next element of
    // the stream is read (the c2s stream calls this synchronously), so a ping sent after
    // <active/> is answered after everything held was written.
    function setClientState(session: ClientSession, element: Element): void {
      if (element.name !== 'active' && element.name !== 'inactive') {
        // The schema defines only these two for clients to send (and <csi/> for the server).
        throw new StreamError('unsupported-stanza-type', `<${element.name}/> is not a client state`);
      }
      let state = states.get(session);
      if (element.name === 'inactive') {
        if (!state) {
          state = { inactive: true, hibernated: false, held: new Map(), next: 0 };
          states.set(session, state);
        }
        state.inactive = true;
      } else if (state) {
        setActive(session, state);
      }
    }
    ctx.streamElements.register(NS_CSI, setClientState);
    // XEP-0386 §3.2: the session begins in the state the client asked for while binding.
    ctx.bindFeatures.registerInline(NS_CSI, NS_CSI, (session, element) => {
      if (element.name === 'active' || element.name === 'inactive') setClientState(session, element);
      return null;
    });

    // Blocking (a higher priority) runs first: nothing blocked is ever held.
    ctx.delivery.add((session, stanza) => {
      const state = states.get(session);
      if (state === undefined || !state.inactive) return false;
      const how = classify(stanza, state.hibernated);
      if (how === URGENT) {
        // What was held came first: the client sees the original order.
        flush(session, state);
        return false;
      }
      const held = state.held;
      const key = how === QUEUE ? state.next++ : how;
      if (held.delete(key)) {
        droppedCount.inc();
      } else if (held.size >= cap) {
        // Over the cap: the client gets everything now rather than the server keep more.
        flush(session, state);
        return false;
      }
      held.set(key, stanza);
      heldCount.inc();
      return true;
    }, 0);

    // XEP-0198: the stream died. What was held goes into the resumption queue, where expiry
    // hands messages on as RFC 6121 §8.5.3 says; the session stays inactive, holding only
    // what may be lost (classify).
    ctx.hooks.on('session-hibernated', ({ session }) => {
      const state = states.get(session);
      if (!state) return;
      state.hibernated = true;
      flush(session, state);
    });

    // A resumed session starts active (issue 9: the client on the new stream may be in front
    // of the user; it says <inactive/> again when it is not).
    ctx.hooks.on('session-resumed', ({ session }) => {
      const state = states.get(session);
      if (!state) return;
      state.hibernated = false;
      setActive(session, state);
    });

    ctx.hooks.on('session-closed', ({ session }) => {
      const state = states.get(session);
      if (!state) return;
      // The stream is gone: nothing can be written any more.
      droppedCount.inc(state.held.size);
      states.delete(session);
    });
  },
});
