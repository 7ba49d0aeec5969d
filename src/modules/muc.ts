// XEP-0045 Multi-User Chat 1.34 at conference.<domain>, with XEP-0421 occupant ids 0.1,
// XEP-0410 MUC self-ping 1.0, XEP-0359 stanza ids and XEP-0313 room archives; XEP-0249
// direct invitations pass between users untouched. The rooms live in src/services/muc/;
// this module puts the service on the network: its domains, disco and the server's life.
import { defineModule } from '../core/module.js';
import { ArchiveRetention } from './mam/retention.js';

export const mucModule = defineModule({
  name: 'muc',
  implements: 'XEP-0045 Multi-User Chat 1.34, XEP-0421 Anonymous unique occupant identifiers 0.1, XEP-0410 MUC Self-Ping 1.0',
  setup(ctx) {
    const service = ctx.muc;
    if (!service) return;
    for (const domain of service.domains) {
      ctx.services.register(domain, { deliver: (stanza) => service.deliver(stanza) });
      // XEP-0030 §4.1: the service is an item of the domain it serves.
      ctx.disco.addHostItem({ jid: domain, name: 'Chatrooms' }, service.servedDomain(domain));
    }
    // mam.retentionDays applies to room archives as to accounts' (XEP-0313 §3.2).
    const retention = ctx.config.mam.retentionDays > 0
      ? new ArchiveRetention(ctx.stores.roomArchive, { days: ctx.config.mam.retentionDays, intervalMs: ctx.config.mam.retentionIntervalS * 1000, pauseMs: 10 }, ctx.log)
      : null;
    retention?.start();
    ctx.hooks.on('server-draining', () => service.shutdown());
    ctx.hooks.on('server-stopping', async () => {
      await retention?.stop();
      await service.settled();
    });
    ctx.hooks.on('account-deleted', ({ jid }) => service.forgetAccount(jid.bareString()));
  },
});
