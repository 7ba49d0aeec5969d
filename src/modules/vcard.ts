// XEP-0054 vcard-temp 1.2: each account's vCard, set by the account itself and read by anyone
// (RFC 6121 §8.5: the server answers for the bare JID). Photos are capped (limits.vcardPhotoBytes).
import { Element, parse } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { defineModule } from '../core/module.js';

export const NS_VCARD = 'vcard-temp';

/** Decoded bytes of base64 text (white space ignored). */
function base64Bytes(text: string): number {
  const clean = text.replace(/[\s]/g, '');
  const padding = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  return Math.floor((clean.length * 3) / 4) - padding;
}

function emptyVcard(): Element {
  return new Element('vCard', { xmlns: NS_VCARD });
}

export const vcardModule = defineModule({
  name: 'vcard',
  implements: 'XEP-0054 vcard-temp 1.2',
  hostFeatures: [NS_VCARD],
  accountFeatures: [NS_VCARD],
  setup(ctx) {
    const store = ctx.stores.vcards;
    const maxPhoto = ctx.config.limits.vcardPhotoBytes;

    // §3.1, §3.3: one's own vCard, or another user's: anyone may read it.
    ctx.iq.register(`iq-get/bare/${NS_VCARD}`, async ({ to, payload }) => {
      if (payload.name !== 'vCard') throw new StanzaError('bad-request', 'expected <vCard xmlns="vcard-temp"/>');
      const stored = await store.get(to.local, to.domain);
      // §3.1: no vCard yet: an empty one (what clients expect rather than an error).
      return stored === null ? emptyVcard() : parse(stored);
    });

    // §3.2: only the account itself sets its vCard.
    ctx.iq.register(`iq-set/bare/${NS_VCARD}`, async ({ self, from, payload }) => {
      if (!self) throw new StanzaError('forbidden', 'only the account itself may set its vCard');
      if (payload.name !== 'vCard') throw new StanzaError('bad-request', 'expected <vCard xmlns="vcard-temp"/>');
      for (const photo of payload.getChildren('PHOTO')) {
        const binval = photo.getChildText('BINVAL');
        if (binval !== null && base64Bytes(binval) > maxPhoto) {
          throw new StanzaError('not-acceptable', `the photo is larger than ${maxPhoto} bytes`);
        }
      }
      if (!(await store.put(from.local, from.domain, payload.toString()))) throw new StanzaError('item-not-found', 'the account is gone');
      // XEP-0398: the avatar follows before the client hears back.
      await ctx.hooks.emit('vcard-updated', { account: from.bare, vcard: payload });
      return null;
    });
  },
});
