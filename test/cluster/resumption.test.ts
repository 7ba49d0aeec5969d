// XEP-0198 resumption on another node of a cluster: the node that held the session hands it
// over with its unacknowledged stanzas, the old stream (if still open) ends with a conflict,
// and nobody sees the resource go offline. Raw sockets for the resuming phone.
import { expect } from 'chai';
import { PASSWORD, RawClient, waitAfter } from '../helpers/raw-client.js';
import type { RawConnection } from '../helpers/raw.js';
import type { TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';
import { skipWithoutClusterServices, startTestCluster, type TestCluster } from './helpers.js';

const NS_SM = 'urn:xmpp:sm:3';

describe('cluster: stream management resumption on another node', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let a: TestServer;
  let b: TestServer;
  let users = 0;
  const clients: Client[] = [];
  const raws: RawConnection[] = [];

  before(async function () {
    await skipWithoutClusterServices(this);
    cluster = await startTestCluster(['127.0.0.187', '127.0.0.188'], {
      config: { c2s: { requireTls: false, allowPlaintextAuth: true } },
    });
    [a, b] = cluster.nodes as [TestServer, TestServer];
  });

  afterEach(async () => {
    for (const connection of raws.splice(0)) connection.destroy();
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async () => {
    await cluster?.stop();
  });

  async function account(name: string): Promise<string> {
    const local = `${name}${++users}`;
    await a.addUser(local, PASSWORD);
    return local;
  }

  /** alice (raw, resumable, available, on node a) and bob (@xmpp/client on `bobNode`), mutual contacts. */
  async function online(bobNode: TestServer): Promise<{ alice: RawClient; aliceUser: string; id: string; bob: Client; bobInbox: Element[] }> {
    const aliceUser = await account('alice');
    const bobUser = await account('bob');
    await a.server.services.rosters.add(`${aliceUser}@${a.domain}`, { jid: `${bobUser}@${a.domain}`, subscription: 'both' });
    await a.server.services.rosters.add(`${bobUser}@${a.domain}`, { jid: `${aliceUser}@${a.domain}`, subscription: 'both' });
    const login = await RawClient.login(a, aliceUser);
    raws.push(login.raw);
    const alice = login.client!;
    const { id } = await alice.enable();
    alice.raw.send('<presence/>');
    const bob = await connect(bobNode, bobUser, PASSWORD, { resource: 'desk', mechanism: 'PLAIN' });
    clients.push(bob);
    const bobInbox = collectStanzas(bob);
    await bob.send(xml('presence'));
    await waitForStanza(bobInbox, (el) => el.is('presence') && el.attrs.from === alice.jid && el.attrs.type === undefined, 'alice online at bob');
    return { alice, aliceUser, id: id!, bob, bobInbox };
  }

  async function chat(from: Client, to: string, id: string): Promise<void> {
    await from.send(xml('message', { to, type: 'chat', id }, xml('body', {}, `text of ${id}`)));
  }

  function messageIds(raw: RawConnection): string[] {
    return [...raw.text.matchAll(/<message [^>]*id="([^"]+)"/g)].map((m) => m[1]!);
  }

  it('hands a hibernated session over: unacknowledged messages resent once, the same full JID, no presence flap', async () => {
    const { alice, aliceUser, id, bob, bobInbox } = await online(a);
    const start = alice.raw.text.length;
    await chat(bob, alice.jid, 'r1');
    await chat(bob, alice.jid, 'r2');
    await waitAfter(alice.raw, start, /id="r2"/);
    // The phone had handled everything before r1; then its connection dies.
    const handledBefore = alice.stanzaCount() - 2;
    alice.raw.send(`<iq type='get' id='ping-1' to='${a.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await waitAfter(alice.raw, start, /id=["']ping-1["']/);
    alice.raw.destroy();
    await delay(200);
    await chat(bob, alice.jid, 'r3');
    await roundTrip(bob);

    // It comes back through another node.
    const resumed = await RawClient.login(b, aliceUser, { resume: { previd: id, h: handledBefore } });
    raws.push(resumed.raw);
    // h: the presence and the ping the phone sent before it died.
    expect(resumed.reply).to.match(new RegExp(`^<resumed xmlns='${NS_SM}' previd='${id}' h='2'/>$`));
    await waitAfter(resumed.raw, 0, /id="r3"/);
    await delay(100);
    expect(messageIds(resumed.raw)).to.deep.equal(['r1', 'r2', 'r3']);

    // Still the same session, now on node b: a user of node a reaches it by its full JID, and
    // its own stanzas go out from it.
    const after = resumed.raw.text.length;
    await chat(bob, alice.jid, 'r4');
    await waitAfter(resumed.raw, after, /id="r4"/);
    resumed.raw.send(`<message to='${bob.jid!.bare().toString()}' type='chat' id='back'><body>from node b</body></message>`);
    const back = await waitForStanza(bobInbox, (el) => el.is('message') && el.attrs.id === 'back', 'alice → bob after the move');
    expect(back.attrs.from).to.equal(alice.jid);
    const client = new RawClient(resumed.raw, alice.jid);
    expect(await client.serverH()).to.equal(3);
    expect(bobInbox.filter((el) => el.is('presence') && el.attrs.from === alice.jid && el.attrs.type === 'unavailable')).to.deep.equal([]);
    // Both nodes' admin views have it once, on node b.
    for (const node of [a, b]) {
      const { sessions } = await node.server.services.sessions.ofAccount(`${aliceUser}@${a.domain}`);
      expect(sessions.map((s) => s.node)).to.deep.equal([b.server.cluster!.node]);
    }
  });

  it('ends a stream still open on the old node with conflict, and the session carries on from the new one', async () => {
    const { alice, aliceUser, id, bob } = await online(b);
    const h = alice.stanzaCount();
    const second = await RawClient.login(b, aliceUser, { resume: { previd: id, h } });
    raws.push(second.raw);
    expect(second.reply).to.match(/^<resumed /);
    expect(await alice.raw.streamErrorAndClose()).to.equal('conflict');
    const after = second.raw.text.length;
    await chat(bob, alice.jid, 'after-move');
    await waitAfter(second.raw, after, /id="after-move"/);
  });

  it('refuses another account the session, and its owner still resumes it', async () => {
    const { alice, aliceUser, id } = await online(a);
    const h = alice.stanzaCount();
    alice.raw.destroy();
    await delay(200);
    const mallory = await account('mallory');
    const stolen = await RawClient.login(b, mallory, { resume: { previd: id, h } });
    raws.push(stolen.raw);
    expect(stolen.client).to.equal(null);
    expect(stolen.reply).to.contain('<item-not-found ');
    const own = await RawClient.login(b, aliceUser, { resume: { previd: id, h } });
    raws.push(own.raw);
    expect(own.reply).to.match(/^<resumed /);
  });

  it('answers a resumption that acknowledges more than was sent with handled-count-too-high; the session waits on', async () => {
    const { alice, aliceUser, id } = await online(a);
    const h = alice.stanzaCount();
    alice.raw.destroy();
    await delay(200);
    const tooHigh = await RawClient.login(b, aliceUser, { resume: { previd: id, h: h + 5 } });
    raws.push(tooHigh.raw);
    expect(tooHigh.reply).to.contain('<handled-count-too-high ');
    expect(tooHigh.reply).to.contain(`send-count='${h}'`);
    const own = await RawClient.login(b, aliceUser, { resume: { previd: id, h } });
    raws.push(own.raw);
    expect(own.reply).to.match(/^<resumed /);
  });
});
