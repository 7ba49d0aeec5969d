// XEP-0092: Software Version, version 1.1 — the server's name and version (the OS only when configured).
import { type as osType, release as osRelease } from 'node:os';
import { Element } from 'ltx';
import { defineModule } from '../core/module.js';
import { VERSION } from '../version.js';

export const NS_VERSION = 'jabber:iq:version';

export const versionModule = defineModule({
  name: 'version',
  implements: 'XEP-0092 Software Version 1.1',
  hostFeatures: [NS_VERSION],
  setup(ctx) {
    // §3: <os/> is optional; it tells attackers what to aim at, so only when the operator asks.
    const os = ctx.config.version.showOs ? `${osType()} ${osRelease()}` : null;
    ctx.iq.register(`iq-get/host/${NS_VERSION}`, () => {
      const query = new Element('query', { xmlns: NS_VERSION });
      query.c('name').t('Hearth');
      query.c('version').t(VERSION);
      if (os !== null) query.c('os').t(os);
      return query;
    });
  },
});
