// XEP-0199: XMPP Ping, version 2.0.1 — the server answers pings to itself and to accounts.
import { defineModule } from '../core/module.js';

export const NS_PING = 'urn:xmpp:ping';

export const pingModule = defineModule({
  name: 'ping',
  implements: 'XEP-0199 XMPP Ping 2.0.1',
  hostFeatures: [NS_PING],
  setup(ctx) {
    // §4.2 client-to-server ping, and a ping to a bare JID answered by the server on the
    // account's behalf (RFC 6120 §10.5.1 leaves iq to a bare JID to the server).
    ctx.iq.register(`iq-get/host/${NS_PING}`, () => null);
    ctx.iq.register(`iq-get/bare/${NS_PING}`, () => null);
  },
});
