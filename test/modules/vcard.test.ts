// XEP-0054 vcard-temp with @xmpp/client: set one's own, read anyone's, the photo cap.
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connect, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';

const NS = 'vcard-temp';
const PASSWORD = 'vcard-secret';

describe('vCards (XEP-0054)', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.166', config: { limits: { vcardPhotoBytes: 2048 } } });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function user(): Promise<{ local: string; bare: string; client: Client }> {
    const local = `card${++users}`;
    await ts.addUser(local, PASSWORD);
    const client = await connect(ts, local, PASSWORD);
    clients.push(client);
    return { local, bare: `${local}@${ts.domain}`, client };
  }

  const getVcard = (client: Client, to?: string) => client.iqCaller.request(xml('iq', { type: 'get', to }, xml('vCard', { xmlns: NS })));
  const setVcard = (client: Client, ...children: ReturnType<typeof xml>[]) => client.iqCaller.request(xml('iq', { type: 'set' }, xml('vCard', { xmlns: NS }, ...children)));
  const condition = (promise: Promise<unknown>) => promise.then(() => null, (err: { condition?: string }) => err.condition ?? String(err));

  it('returns an empty vCard before one is set, then what was set, to the owner and to others', async function () {
    const alice = await user();
    const bob = await user();
    const empty = (await getVcard(alice.client)).getChild('vCard', NS);
    expect(empty?.getChildElements()).to.have.length(0);

    const photo = Buffer.alloc(1000, 7).toString('base64');
    await setVcard(alice.client, xml('FN', {}, 'Alice Liddell'), xml('NICKNAME', {}, 'alice'), xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, photo)));
    const own = (await getVcard(alice.client)).getChild('vCard', NS)!;
    expect(own.getChildText('FN')).to.equal('Alice Liddell');
    const seen = (await getVcard(bob.client, alice.bare)).getChild('vCard', NS)!;
    expect(seen.getChildText('NICKNAME')).to.equal('alice');
    expect(seen.getChild('PHOTO')?.getChildText('BINVAL')).to.equal(photo);

    // Replaced whole.
    await setVcard(alice.client, xml('FN', {}, 'Alice'));
    const replaced = (await getVcard(bob.client, alice.bare)).getChild('vCard', NS)!;
    expect(replaced.getChildText('FN')).to.equal('Alice');
    expect(replaced.getChild('PHOTO')).to.equal(undefined);
  });

  it('refuses to set another account\'s vCard, a photo over the cap, and a non-vCard payload; unknown accounts are service-unavailable', async function () {
    const alice = await user();
    const mallory = await user();
    const forged = mallory.client.iqCaller.request(xml('iq', { type: 'set', to: alice.bare }, xml('vCard', { xmlns: NS }, xml('FN', {}, 'Mallory was here'))));
    expect(await condition(forged)).to.equal('forbidden');
    const big = Buffer.alloc(3000, 1).toString('base64');
    expect(await condition(setVcard(alice.client, xml('PHOTO', {}, xml('BINVAL', {}, big))))).to.equal('not-acceptable');
    expect(await condition(alice.client.iqCaller.request(xml('iq', { type: 'set' }, xml('card', { xmlns: NS }))))).to.equal('bad-request');
    expect(await condition(getVcard(alice.client, `nobody@${ts.domain}`))).to.equal('service-unavailable');
    expect((await getVcard(alice.client)).getChild('vCard', NS)?.getChildElements()).to.have.length(0);
  });
});
