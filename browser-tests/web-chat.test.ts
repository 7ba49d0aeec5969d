// The web chat in a real browser: Chromium (Debian's package) driven by playwright-core opens
// /chat, logs in through converse.js's login form, and chats with an @xmpp/client user over
// TCP. http://127.0.0.1xx is a secure context, so the browser computes SCRAM itself.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../test/helpers/server.js';
import { connect, nextStanza, stopQuietly, xml, type Client } from '../test/helpers/xmpp-client.js';

const SCREENSHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
const PASSWORD = 'browser-secret';

describe('web chat in Chromium', function () {
  let ts: TestServer;
  let browser: Browser;
  let page: Page | null = null;
  const clients: Client[] = [];
  /** What the page logged, shown when a test fails. */
  const consoleLines: string[] = [];

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.145' });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const file = path.join(SCREENSHOTS, `${this.currentTest.title.replace(/[^a-z0-9]+/gi, '-')}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
      console.log(`screenshot: ${file}\npage console:\n${consoleLines.join('\n')}`);
    }
    await page?.context().close();
    page = null;
    consoleLines.length = 0;
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await browser?.close();
    await ts?.stop();
  });

  async function openChat(options: { blockWebSocket?: boolean } = {}): Promise<Page> {
    const context = await browser.newContext();
    page = await context.newPage();
    if (options.blockWebSocket) {
      // The WebSocket cannot be opened (as behind a proxy without WebSocket support): the page
      // sees an abnormal close (1006), as when a handshake fails.
      await page.routeWebSocket(/\/xmpp-websocket$/, (ws) => ws.close({ code: 1006, reason: 'no WebSocket here' }));
    }
    page.on('console', (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
    page.on('requestfailed', (request) => consoleLines.push(`failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
    page.on('response', (response) => {
      if (response.status() >= 400) consoleLines.push(`HTTP ${response.status()}: ${response.url()}`);
    });
    const response = await page.goto(`${ts.httpUrl}/chat`);
    expect(response?.status()).to.equal(200);
    return page;
  }

  async function logIn(chat: Page, local: string): Promise<void> {
    await chat.locator('#converse-login-jid').fill(local);
    await chat.locator('converse-login-form input[name="password"]').fill(PASSWORD);
    await chat.locator('converse-login-form button[type="submit"]').click();
  }

  async function chatWith(local: string, transport: 'websocket' | 'bosh', chat: Page): Promise<void> {
    const tcpUser = `tcp-${local}`;
    await ts.addUser(local, PASSWORD);
    await ts.addUser(tcpUser, PASSWORD);
    const tcp = await connect(ts, tcpUser, PASSWORD, { resource: 'desktop' });
    clients.push(tcp);
    await tcp.send(xml('presence'));

    await logIn(chat, local);
    // Logged in: converse's roster/controlbox replaces the form, and Hearth has the session.
    const bare = `${local}@${ts.domain}`;
    const sessionsOf = () => ts.server.services.sessions.list({}).sessions.filter((s) => s.jid.startsWith(`${bare}/`));
    await waitUntil(async () => sessionsOf().length > 0, `${bare} to log in`, 20_000);
    const sessions = sessionsOf();
    expect(sessions.map((s) => s.transport)).to.deep.equal([transport]);
    const browserJid = sessions[0]!.jid;

    // A message from the TCP user shows up as unread at that contact; the user opens the chat.
    await tcp.send(xml('message', { to: bare, type: 'chat', id: 'm1' }, xml('body', {}, `Hello from TCP to ${local}`)));
    await chat.locator('a.open-chat.unread-msgs', { hasText: tcpUser }).first().click({ timeout: 20_000 });
    await chat.getByText(`Hello from TCP to ${local}`).waitFor({ timeout: 20_000 });

    // The browser user answers in that chat.
    const answer = nextStanza(tcp, (el) => el.is('message') && el.getChildText('body') === `Answer from ${local}`, 20_000);
    const textarea = chat.locator('textarea.chat-textarea');
    await textarea.fill(`Answer from ${local}`);
    await textarea.press('Enter');
    const received = await answer;
    expect(received.attrs.from).to.equal(browserJid);
    expect(received.attrs.to).to.match(new RegExp(`^${tcpUser}@${ts.domain.replace(/\./g, '\\.')}`));
  }

  it('logs in over WebSocket through the converse.js form and chats with a TCP user both ways', async function () {
    const chat = await openChat();
    await chatWith('webuser', 'websocket', chat);
  });

  it('falls back to BOSH when the WebSocket cannot connect', async function () {
    const chat = await openChat({ blockWebSocket: true });
    await chatWith('boshuser', 'bosh', chat);
  });
});

async function waitUntil(condition: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
