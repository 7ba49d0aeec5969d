// XEP-0398 User Avatar to vCard-Based Avatars Conversion 0.2: a XEP-0084 avatar published in
// PEP becomes the vCard photo (§3.1), a vCard photo is published as a XEP-0084 avatar (§3.2),
// and every available presence of the account carries the XEP-0153 photo hash (§4), so a
// client using either method, or a group chat, sees the same avatar.
import { createHash } from 'node:crypto';
import { Element, parse } from 'ltx';
import type { Jid } from '../core/jid.js';
import { LruMap } from '../core/lru-map.js';
import { defineModule } from '../core/module.js';
import { NS_PUBLISH_OPTIONS } from '../services/pep/node-config.js';
import { formElement } from '../xml/data-form.js';
import { NS_VCARD } from './vcard.js';

export const NS_AVATAR_DATA = 'urn:xmpp:avatar:data';
export const NS_AVATAR_METADATA = 'urn:xmpp:avatar:metadata';
export const NS_VCARD_UPDATE = 'vcard-temp:x:update';
export const NS_PEP_VCARD_CONVERSION = 'urn:xmpp:pep-vcard-conversion:0';

/** Hashes kept for accounts; the least recently used beyond this are dropped. */
const MAX_CACHED_HASHES = 50_000;

/** A vCard photo: its bytes (base64 in BINVAL) and type. */
interface Photo {
  readonly base64: string;
  readonly type: string;
  readonly bytes: number;
  /** XEP-0153 §4.2 / XEP-0084 §4.2: SHA-1 of the image bytes, hex. */
  readonly hash: string;
}

function photoOf(base64: string, type: string): Photo | null {
  const clean = base64.replace(/\s/g, '');
  if (clean === '') return null;
  const image = Buffer.from(clean, 'base64');
  if (image.length === 0) return null;
  return { base64: clean, type, bytes: image.length, hash: createHash('sha1').update(image).digest('hex') };
}

function vcardPhoto(vcard: Element): Photo | null {
  const photo = vcard.getChild('PHOTO');
  const binval = photo?.getChildText('BINVAL');
  return binval ? photoOf(binval, photo?.getChildText('TYPE')?.trim() || 'image/png') : null;
}

/** XEP-0398 §3.2: the avatar nodes a converted vCard photo creates are as public as the vCard. */
function openNodeOptions(): Element {
  return formElement('submit', NS_PUBLISH_OPTIONS, [{ var: 'pubsub#access_model', values: ['open'] }]);
}

export const avatarsModule = defineModule({
  name: 'avatars',
  implements: 'XEP-0398 User Avatar to vCard-Based Avatars Conversion 0.2 (XEP-0084, XEP-0153)',
  accountFeatures: [NS_PEP_VCARD_CONVERSION],
  setup(ctx) {
    const { pep } = ctx;
    const vcards = ctx.stores.vcards;
    /** The vCard photo hash per account ('' for none), as XEP-0153 presence carries it. */
    const hashes = new LruMap<string, string>(MAX_CACHED_HASHES);
    const loading = new Map<string, Promise<string>>();

    function hashOf(account: Jid): string | Promise<string> {
      const key = account.bareString();
      const known = hashes.get(key);
      if (known !== undefined) return known;
      const pending = loading.get(key);
      if (pending) return pending;
      const load = vcards.get(account.local, account.domain).then((xml) => {
        const hash = (xml ? vcardPhoto(parse(xml))?.hash : undefined) ?? '';
        // A change while it loaded (changedHash) is newer than what was read.
        if (loading.get(key) === load) hashes.set(key, hash);
        return hash;
      }).finally(() => loading.delete(key));
      loading.set(key, load);
      return load;
    }

    function changedHash(account: Jid, hash: string): void {
      loading.delete(account.bareString());
      hashes.set(account.bareString(), hash);
      ctx.caches.changed('avatar-hash', account.bareString());
    }
    ctx.caches.onRemoteChange('avatar-hash', (key) => hashes.delete(key));
    ctx.hooks.on('account-deleted', ({ jid }) => void hashes.delete(jid.bareString()));

    /** §4: the hash goes into the presence unless the client says "no avatar" itself (<photo/>). */
    function decorate(stanza: Element, hash: string): void {
      const x = stanza.getChild('x', NS_VCARD_UPDATE);
      const photo = x?.getChild('photo');
      if (photo && photo.getText() === '') return;
      if (x) stanza.remove(x);
      stanza.c('x', { xmlns: NS_VCARD_UPDATE }).c('photo').t(hash);
    }

    // Loaded when a session binds (not again while the account stays in the cache), so that
    // its first presence does not wait; a presence that comes sooner waits, in order.
    ctx.hooks.on('session-bound', async ({ session }) => {
      await hashOf(session.jid.bare);
    });

    ctx.hooks.on('presence-available-outbound', ({ session, stanza }) => {
      const hash = hashOf(session.jid.bare);
      if (typeof hash === 'string') {
        decorate(stanza, hash);
        return;
      }
      return hash.then((h) => decorate(stanza, h));
    });

    // §3.2: a vCard with a photo is published as a XEP-0084 avatar (data, then metadata).
    ctx.hooks.on('vcard-updated', async ({ account, vcard }) => {
      const photo = vcardPhoto(vcard);
      changedHash(account, photo?.hash ?? '');
      if (!photo) return;
      const metadata = await pep.node(account, NS_AVATAR_METADATA);
      if (metadata?.last?.id === photo.hash) return;
      const dataExists = (await pep.node(account, NS_AVATAR_DATA)) !== undefined;
      await pep.publish(account, NS_AVATAR_DATA, photo.hash, new Element('data', { xmlns: NS_AVATAR_DATA }).t(photo.base64), dataExists ? null : openNodeOptions());
      const info = new Element('metadata', { xmlns: NS_AVATAR_METADATA });
      info.c('info', { id: photo.hash, bytes: String(photo.bytes), type: photo.type });
      await pep.publish(account, NS_AVATAR_METADATA, photo.hash, info, metadata ? null : openNodeOptions());
    });

    // §3.1: a XEP-0084 avatar becomes the vCard photo; an empty metadata item removes it.
    pep.onChange(NS_AVATAR_METADATA, async ({ owner, kind, payload }) => {
      if (kind !== 'publish' || !payload) return;
      // §3.1: the info element that does not point to an external URL.
      const info = payload.getChildren('info').find((i) => i.attrs.url === undefined && typeof i.attrs.id === 'string');
      const stored = await vcards.get(owner.local, owner.domain);
      const vcard = stored ? parse(stored) : new Element('vCard', { xmlns: NS_VCARD });
      const current = vcardPhoto(vcard);
      let photo: Photo | null = null;
      if (info) {
        if (current?.hash === info.attrs.id) return;
        const [item] = await pep.items(owner, owner, NS_AVATAR_DATA, { ids: [info.attrs.id as string] }).catch(() => []);
        const data = item?.payload.is('data', NS_AVATAR_DATA) ? item.payload.getText() : '';
        photo = photoOf(data, typeof info.attrs.type === 'string' ? info.attrs.type : 'image/png');
        // §3.1: the image must be the one the id names; and a vCard photo has its size limit.
        if (!photo || photo.hash !== info.attrs.id || photo.bytes > ctx.config.limits.vcardPhotoBytes) {
          ctx.log.info({ account: owner.bareString(), id: info.attrs.id }, 'a PEP avatar was not converted to the vCard');
          return;
        }
      } else if (!current) {
        return;
      }
      for (const old of vcard.getChildren('PHOTO')) vcard.remove(old);
      if (photo) {
        const element = vcard.c('PHOTO');
        element.c('TYPE').t(photo.type);
        element.c('BINVAL').t(photo.base64);
      }
      if (await vcards.put(owner.local, owner.domain, vcard.toString())) changedHash(owner, photo?.hash ?? '');
    });
  },
});
