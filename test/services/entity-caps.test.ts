// XEP-0115 §5: the verification string and hash (the XEP's own examples), and the caps
// service: one query per pair, wrong answers not trusted, answers that reach another cluster
// node counted only when that node can tell they answer a cluster's own signed query.
import { expect } from 'chai';
import { Element, parse } from 'ltx';
import { pino } from 'pino';
import { capsHash, verificationString } from '../../src/core/entity-caps.js';
import { parseJid } from '../../src/core/jid.js';
import type { CacheCoherence, CacheName } from '../../src/core/cache-coherence.js';
import type { Router } from '../../src/core/router.js';
import { EntityCapsService } from '../../src/services/entity-caps.js';
import type { EntityCapsStore } from '../../src/storage/entity-caps.js';

const SIMPLE = `<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
</query>`;

const COMPLEX = `<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>
</query>`;

describe('XEP-0115 verification strings', function () {
  it('hashes the XEP\'s simple and complex examples to their published ver', function () {
    expect(capsHash('sha-1', verificationString(parse(SIMPLE))!)).to.equal('QgayPKawpkPSDYmwT/WM94uAlu0=');
    expect(capsHash('sha-1', verificationString(parse(COMPLEX))!)).to.equal('q07IKJEyjvHSyhy//CH0CxmKi8w=');
  });

  it('refuses ill-formed results (§5.4): duplicate features or identities, several FORM_TYPE values', function () {
    expect(verificationString(parse(SIMPLE.replace('</query>', "<feature var='http://jabber.org/protocol/muc'/></query>")))).to.equal(null);
    expect(verificationString(parse(SIMPLE.replace('</query>', "<identity category='client' name='Exodus 0.9.1' type='pc'/></query>")))).to.equal(null);
    expect(verificationString(parse(COMPLEX.replace('<value>urn:xmpp:dataforms:softwareinfo</value>', '<value>a</value><value>b</value>')))).to.equal(null);
  });
});

describe('entity caps service', function () {
  const log = pino({ level: 'silent' });
  const claim = { hash: 'sha-1', node: 'https://example.org/client', ver: 'QgayPKawpkPSDYmwT/WM94uAlu0=' };
  const secret = Buffer.alloc(32, 7);

  /** A database shared by the nodes, and the cluster's "changed" messages between them. */
  function cluster() {
    const rows = new Map<string, string[]>();
    const store: EntityCapsStore = {
      async get(hash, ver) { return rows.get(`${hash}:${ver}`) ?? null; },
      async put(hash, ver, features) { rows.set(`${hash}:${ver}`, [...features]); },
    };
    const handlers: Array<{ node: number; cache: CacheName; drop: (key: string) => void }> = [];
    const coherence = (node: number): CacheCoherence => ({
      changed(cache, key) { for (const h of handlers) if (h.node !== node && h.cache === cache) h.drop(key); },
      onRemoteChange(cache, drop) { handlers.push({ node, cache, drop }); },
      share() {},
      onShared() {},
    });
    return { rows, store, coherence };
  }

  function node(shared: ReturnType<typeof cluster>, index: number, key = secret) {
    const sent: Element[] = [];
    const router = { send: async (stanza: Element) => void sent.push(stanza) } as unknown as Router;
    return { service: new EntityCapsService(shared.store, router, shared.coherence(index), log, key, 2_000), sent };
  }

  /** The service looks in the database before it asks: wait for the query to leave. */
  async function sentQuery(sent: Element[], count = 1): Promise<Element> {
    for (let i = 0; i < 100 && sent.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 2));
    return sent[count - 1]!;
  }

  function answer(query: Element, body = SIMPLE): Element {
    const reply = new Element('iq', { type: 'result', id: query.attrs.id, from: query.attrs.to, to: query.attrs.from });
    const info = parse(body);
    info.attrs.node = query.getChild('query')!.attrs.node;
    reply.cnode(info);
    return reply;
  }

  it('asks once per pair, trusts only an answer that verifies, and shares what it learnt', async function () {
    const shared = cluster();
    const { service, sent } = node(shared, 0);
    const entity = parseJid('juliet@capulet.example/balcony');
    const first = service.features(claim, entity, 'capulet.example');
    const second = service.features(claim, parseJid('romeo@montague.example/orchard'), 'capulet.example');
    await sentQuery(sent);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sent).to.have.length(1);
    expect(sent[0]!.attrs.to).to.equal('juliet@capulet.example/balcony');
    expect(sent[0]!.getChild('query')!.attrs.node).to.equal(`${claim.node}#${claim.ver}`);
    // Someone else answering with the right id is not the entity asked.
    expect(service.handleResponse(answer(sent[0]!), parseJid('mallory@evil.example/x'))).to.equal(false);
    expect(service.handleResponse(answer(sent[0]!), entity)).to.equal(true);
    expect([...(await first)!]).to.include('http://jabber.org/protocol/muc');
    expect(await second).to.equal(await first);
    expect(shared.rows.get(`sha-1:${claim.ver}`)).to.include('http://jabber.org/protocol/caps');
    // Known now: no query, answered at once.
    expect(service.known(claim)?.has('http://jabber.org/protocol/disco#items')).to.equal(true);
  });

  it('does not trust an answer whose features do not hash to the claim, and does not ask again soon', async function () {
    const { service, sent } = node(cluster(), 0);
    const entity = parseJid('liar@example.org/x');
    const pending = service.features(claim, entity, 'example.org');
    service.handleResponse(answer(await sentQuery(sent), SIMPLE.replace('muc', 'muc#owner')), entity);
    expect(await pending).to.equal(null);
    expect(service.features(claim, entity, 'example.org')).to.equal(null);
    expect(sent).to.have.length(1);
  });

  it('takes an answer that reached another node when it answers a signed query, and the asking node learns it', async function () {
    const shared = cluster();
    const asking = node(shared, 0);
    const receiving = node(shared, 1);
    const entity = parseJid('juliet@capulet.example/balcony');
    const pending = asking.service.features(claim, entity, 'capulet.example');
    const query = await sentQuery(asking.sent);
    // The answer arrives on node 1, which never asked.
    receiving.service.handleResponse(answer(query), entity);
    expect([...(await pending)!]).to.include('http://jabber.org/protocol/muc');

    // Unsigned, forged or misdirected answers are ignored there.
    const other = { ...claim, ver: 'q07IKJEyjvHSyhy//CH0CxmKi8w=' };
    const forged = answer(query, COMPLEX);
    forged.getChild('query')!.attrs.node = `${claim.node}#${other.ver}`;
    receiving.service.handleResponse(forged, entity);
    forged.attrs.id = 'caps-AAAAAAAAAAAA-AAAAAAAAAAAAAAAAAAAAAA';
    receiving.service.handleResponse(forged, entity);
    const stranger = node(shared, 2, Buffer.alloc(32, 9));
    stranger.service.features(other, entity, 'capulet.example');
    receiving.service.handleResponse(answer(await sentQuery(stranger.sent), COMPLEX), entity);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(shared.rows.has(`sha-1:${other.ver}`)).to.equal(false);
    stranger.service.close();
  });
});
