// The landing page of an invitation (XEP-0401 §4.2, the XEP-0379 §3.3 page) at
// /invite/<token> on the client HTTP listener: what the invitation is for, a button that opens
// the xmpp: URI in an installed client, the URI as a QR code (for a phone's camera), and how
// to join with a few common clients. Anyone holding the link may see it (the token is the
// authority); an unknown, used, revoked or expired token gets 404, and the page is never cached
// nor given away in a Referer header.
import type { Express, Request, Response } from 'express';
import { escapeXML as escapeHtml } from 'ltx';
import { renderSVG } from 'uqr';
import type { InviteView } from '../../services/invites.js';

export const INVITE_PATH = '/invite';

/** What the page needs of the invitation service. */
export interface InviteLookup {
  view(token: string): Promise<InviteView | null>;
}

/** No script, no outside resource: the QR code is inline SVG, the style inline CSS. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface ClientAdvice {
  name: string;
  platforms: string;
  site: string;
  /** How to join with it; `{domain}` and `{token}` are filled in. */
  how: string;
}

// Clients that understand invitation links (XEP-0401) open the button's link themselves; the
// others register through the form the server offers, whose token field takes the token.
const CLIENTS: readonly ClientAdvice[] = [
  {
    name: 'Conversations',
    platforms: 'Android',
    site: 'https://conversations.im/',
    how: 'Install it, then tap the button above on your phone or scan the code with its camera. Conversations offers to create your account on {domain}.',
  },
  {
    name: 'Monal',
    platforms: 'iPhone, iPad, Mac',
    site: 'https://monal-im.org/',
    how: 'Install it, then open the button’s link or scan the code with the camera. Monal creates your account on {domain}.',
  },
  {
    name: 'Gajim',
    platforms: 'Windows, Linux',
    site: 'https://gajim.org/',
    how: 'Add an account, choose to sign up on the server {domain}, and enter the invitation token {token} when the form asks for it.',
  },
  {
    name: 'Dino',
    platforms: 'Linux',
    site: 'https://dino.im/',
    how: 'Add an account, choose to create one on {domain}, and enter the invitation token {token} when the form asks for it.',
  },
];

export function mountInvitePage(app: Express, invites: InviteLookup): void {
  app.get(`${INVITE_PATH}/:token`, async (request: Request, response: Response) => {
    const token = String(request.params.token ?? '');
    response.setHeader('Cache-Control', 'no-store');
    response.setHeader('Referrer-Policy', 'no-referrer');
    response.setHeader('X-Robots-Tag', 'noindex');
    let invite: InviteView | null;
    try {
      invite = await invites.view(token);
    } catch {
      // The database did not answer: nothing about the invitation is known, nothing is shown.
      response.status(503).type('text/plain').send('The invitation cannot be looked up right now; try again in a moment.\n');
      return;
    }
    if (!invite) {
      response.status(404).type('text/plain').send('This invitation is not valid: it was used, revoked or has expired, or the link is incomplete.\n');
      return;
    }
    response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    response.setHeader('X-Frame-Options', 'DENY');
    response.type('text/html; charset=utf-8').send(invitePage(invite, token));
  });
}

export function invitePage(invite: InviteView, token: string): string {
  const domain = escapeHtml(invite.domain);
  const title = invite.contact ? `${escapeHtml(invite.contact)} invites you to chat` : `You are invited to ${domain}`;
  const account = invite.account
    ? `<p>Your address will be <strong>${escapeHtml(invite.account)}</strong>.</p>`
    : `<p>You choose your own address on ${domain}.</p>`;
  const contact = invite.contact
    ? `<p>Once you have joined, you and ${escapeHtml(invite.contact)} see each other in your contact lists. Already have an XMPP address elsewhere? Add ${escapeHtml(invite.contact)} as a contact from it.</p>`
    : '';
  const qr = renderSVG(invite.uri, { ecc: 'M', border: 2, pixelSize: 8 });
  const clients = CLIENTS.map((client) => {
    const how = escapeHtml(client.how).replace('{domain}', domain).replace('{token}', `<code>${escapeHtml(token)}</code>`);
    return `<li><a href="${escapeHtml(client.site)}" rel="noreferrer noopener">${escapeHtml(client.name)}</a> (${escapeHtml(client.platforms)}): ${how}</li>`;
  }).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #222; }
.join { display: inline-block; padding: .75rem 1.5rem; background: #2a6ebb; color: #fff; border-radius: .4rem; text-decoration: none; font-weight: bold; }
.qr { width: 16rem; max-width: 100%; margin: 1rem 0; }
.qr svg { width: 100%; height: auto; display: block; }
code { background: #f2f2f2; padding: 0 .25rem; word-break: break-all; }
small { color: #555; }
</style>
</head>
<body>
<h1>${title}</h1>
<p>${domain} is a chat server of the XMPP network: you can talk with people on it and on any other XMPP server.</p>
${account}
${contact}
<p><a class="join" href="${escapeHtml(invite.uri)}">Open in your XMPP app</a></p>
<div class="qr" role="img" aria-label="QR code of the invitation link">${qr}</div>
<p><small>The link: <code>${escapeHtml(invite.uri)}</code></small></p>
<h2>No XMPP app yet?</h2>
<p>Install one of these, then come back to this page:</p>
<ul>
${clients}
</ul>
<p><small>This invitation works once and expires on ${escapeHtml(invite.expiresAt.toUTCString())}. Keep the link to yourself: whoever has it can use it.</small></p>
</body>
</html>
`;
}
