// XEP-0115 Entity Capabilities 1.6: the server's own capabilities in its stream features
// (§6.3) and at its node#ver (§6.2); answers to the disco#info queries the server sends to
// verify what clients and contacts claim (src/services/entity-caps.ts).
import { Element } from 'ltx';
import { HOOK_STOP } from '../core/hooks.js';
import { capsHash, NS_CAPS, verificationString } from '../core/entity-caps.js';
import { defineModule } from '../core/module.js';

/** The node naming Hearth as the software behind the server's capabilities (§4). */
export const HEARTH_CAPS_NODE = 'urn:hearth:server';

export const capsModule = defineModule({
  name: 'caps',
  implements: 'XEP-0115 Entity Capabilities 1.6',
  hostFeatures: [NS_CAPS],
  setup(ctx) {
    // Every module has registered its features before the first stream asks.
    let ver: string | null = null;
    const serverVer = () => (ver ??= capsHash('sha-1', verificationString(ctx.disco.hostInfo())!)!);
    ctx.streamFeatures.addAuthenticated(() => new Element('c', { xmlns: NS_CAPS, hash: 'sha-1', node: HEARTH_CAPS_NODE, ver: serverVer() }));
    ctx.disco.addHostInfoNodes((node) => (node === `${HEARTH_CAPS_NODE}#${serverVer()}` ? ctx.disco.hostInfo(node) : null));

    ctx.hooks.on('iq-response', ({ stanza, from }) => (ctx.caps.handleResponse(stanza, from) ? HOOK_STOP : undefined));
    ctx.hooks.on('server-stopping', () => ctx.caps.close());
  },
});
