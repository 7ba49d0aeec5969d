// limits.blocklistItems: a blocklist is bounded; blocking beyond it is refused and changes nothing.
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connect, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';

const NS_BLOCKING = 'urn:xmpp:blocking';

describe('limits.blocklistItems', function () {
  let ts: TestServer;
  let alice: Client | undefined;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.159', domain: 'blocklimit.hearth.example', config: { limits: { blocklistItems: 3 } } });
    await ts.addUser('alice', 'limit-secret');
    alice = await connect(ts, 'alice', 'limit-secret', { mechanism: 'PLAIN' });
  });

  after(async function () {
    await stopQuietly(alice);
    await ts?.stop();
  });

  const block = (...jids: string[]) =>
    alice!.iqCaller.request(xml('iq', { type: 'set' }, xml('block', { xmlns: NS_BLOCKING }, ...jids.map((jid) => xml('item', { jid })))), 3_000);
  const list = async () => {
    const reply = await alice!.iqCaller.request(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: NS_BLOCKING })), 3_000);
    return reply.getChild('blocklist')!.getChildren('item').map((item) => item.attrs.jid as string).sort();
  };

  it('accepts up to the limit, then refuses with not-allowed and keeps the list as it was', async function () {
    await block('one@spam.example', 'two@spam.example');
    await block('three@spam.example');
    let error: unknown;
    try {
      await block('four@spam.example');
    } catch (err) {
      error = err;
    }
    expect((error as { condition?: string } | undefined)?.condition).to.equal('not-allowed');
    expect(await list()).to.deep.equal(['one@spam.example', 'three@spam.example', 'two@spam.example']);
  });
});
