// The c2s side of moving a resumable session to another cluster node (src/core/
// session-handover.ts): what the holding node does when a client resumes elsewhere.
import type { ServerEvents } from '../core/events.js';
import type { HookBus } from '../core/hooks.js';
import type { HandoverRefusal, SessionGiver, SessionSnapshot } from '../core/session-handover.js';
import type { ClientSession } from '../core/sessions.js';
import { C2sSession } from './session.js';

export function c2sSessionGiver(hooks: HookBus<ServerEvents>): SessionGiver {
  return {
    async prepare(session: ClientSession, resumptionId: string, h: number): Promise<HandoverRefusal | null> {
      if (!(session instanceof C2sSession) || session.hasEnded) return { condition: 'item-not-found' };
      const sm = session.sm;
      if (!sm || sm.id !== resumptionId) return { condition: 'item-not-found' };
      const sent = sm.sent;
      // §4 (error handling): more acknowledged than was sent; the session stays as it was.
      if (!sm.acknowledge(h)) return { condition: 'handled-count-too-high', received: sm.receivedCount, sent };
      sm.answered();
      // §5: a stream still attached loses the session, with a conflict error.
      session.detachForResumption()?.replaced();
      session.expireLater(); // should the other node never take it
      // What the session received is routed (and committed) before its count travels: the
      // <resumed h/> the client gets on the other node must be true.
      await sm.handled();
      // Whatever modules hold for a session without a stream (CSI) goes into the queue.
      await hooks.emit('session-hibernated', { session });
      return session.hasEnded ? { condition: 'item-not-found' } : null;
    },

    seal(session: ClientSession): SessionSnapshot | null {
      return session instanceof C2sSession ? session.moveAway() : null;
    },
  };
}
