// An inbound server-to-server stream (RFC 6120 §4–§6): header, STARTTLS, then the peer
// authenticates with SASL EXTERNAL (XEP-0178) when its certificate is valid for its domain,
// or with Server Dialback (XEP-0220) as Receiving Server. The same stream answers dialback
// verification requests as Authoritative Server. Once a domain is authenticated its stanzas
// go to the router, each checked against what the stream proved (RFC 6120 §8.1.2.2).
import { Element, escapeXML } from 'ltx';
import { NS_SASL, NS_STANZA_ERRORS, NS_STREAMS, StreamError } from '../core/errors.js';
import { tryParseJid } from '../core/jid.js';
import type { Origin } from '../core/origin.js';
import type { StreamHeader } from '../xml/stream-parser.js';
import type { TcpTransport } from '../c2s/transport.js';
import { NS_TLS } from '../c2s/stream.js';
import type { AuthMethod, S2sContext } from './context.js';
import { dialbackKeyMatches } from './dialback-key.js';
import { PeerTls } from './peer-tls.js';
import { NS_DIALBACK, NS_DIALBACK_FEATURE, NS_SERVER, ServerStream } from './server-stream.js';

export interface InboundHooks {
  /** Called once when the stream is gone. */
  closed(stream: IncomingServerStream): void;
  /** Called once when the peer proved its first domain (it no longer counts as a handshake). */
  authenticated(stream: IncomingServerStream): void;
}

export class IncomingServerStream extends ServerStream {
  /** The domain the peer named in its header (`from`), if any. */
  private claimedDomain: string | null = null;
  /** Our domain the peer addressed (`to` of its header). */
  private localDomain: string | null = null;
  /** Remote domains this stream has proven, and how (SASL EXTERNAL or dialback), for `from` checks. */
  private readonly authenticated = new Map<string, AuthMethod>();
  /** Where this stream's stanzas come from, for the router (one object per stream). */
  private readonly origin: Origin = { kind: 's2s', domains: this.authenticated };
  /** Dialback requests waiting for the Authoritative Server. */
  private pendingDialback = 0;
  private saslDone = false;
  private unauthenticatedTimer: NodeJS.Timeout | null;

  constructor(
    private readonly tcp: TcpTransport,
    ctx: S2sContext,
    private readonly hooks: InboundHooks,
  ) {
    super(ctx);
    this.attachTransport(tcp);
    // RFC 6120 §4.9.3.4: a bounded time to authenticate.
    this.unauthenticatedTimer = setTimeout(() => {
      if (this.authenticated.size === 0) this.fail(new StreamError('connection-timeout', 'authentication took too long'));
    }, ctx.config.limits.unauthenticatedTimeoutS * 1000);
    this.unauthenticatedTimer.unref();
  }

  get logFields(): Record<string, unknown> {
    return { stream: this.id, ip: this.tcp.remoteAddress, direction: 'in', peer: this.claimedDomain };
  }

  get remoteAddress(): string {
    return this.tcp.remoteAddress;
  }

  /** Remote domains this stream may send from, with how each was proven. */
  get authenticatedDomains(): ReadonlyMap<string, AuthMethod> {
    return this.authenticated;
  }

  get secure(): boolean {
    return this.tcp.secure;
  }

  protected ensureHeader(): void {
    this.writeHeader({ from: this.localDomain ?? [...this.ctx.domains][0], id: this.id });
  }

  // ---- header and features --------------------------------------------------------------

  onStreamStart(header: StreamHeader): void {
    if (this.isClosed) return;
    const to = header.attrs.to !== undefined ? tryParseJid(header.attrs.to) : null;
    if (to && to.local === '' && to.resource === '' && this.ctx.domains.has(to.domain)) this.localDomain = to.domain;
    const from = header.attrs.from !== undefined ? tryParseJid(header.attrs.from) : null;
    // §4.9.1.1: our header goes first, even before an error.
    this.writeHeader({
      from: this.localDomain ?? [...this.ctx.domains][0],
      to: from && from.local === '' && from.resource === '' ? from.domain : undefined,
      id: this.id,
    });
    this.checkHeader(header);
    // §4.7.2: a `to` we do not serve is host-unknown. (A dialback-only peer may leave it out.)
    if (header.attrs.to !== undefined && !this.localDomain) throw new StreamError('host-unknown', 'this server does not serve that domain');
    if (header.attrs.from !== undefined) {
      if (!from || from.local !== '' || from.resource !== '') throw new StreamError('invalid-from', 'the from address must be a domain');
      this.claimedDomain = from.domain;
    }
    this.state = 'open';
    this.sendFeatures();
  }

  private sendFeatures(): void {
    const features = new Element('stream:features');
    const tlsRequired = this.ctx.config.s2s.requireTls && !this.tcp.secure;
    if (this.saslDone) {
      // After SASL the stream is authenticated; nothing more to negotiate (RFC 6120 §6.4.6).
    } else if (tlsRequired) {
      features.c('starttls', { xmlns: NS_TLS }).c('required');
    } else {
      if (this.tcp.canStartTls && !this.tcp.secure) features.c('starttls', { xmlns: NS_TLS });
      if (this.externalAllowed()) features.c('mechanisms', { xmlns: NS_SASL }).c('mechanism').t('EXTERNAL');
      // XEP-0220 §2.4.1: dialback with error support.
      features.c('dialback', { xmlns: NS_DIALBACK_FEATURE }).c('errors');
    }
    this.write(features.toString());
  }

  /** XEP-0178 §3: EXTERNAL only when the certificate is valid for the claimed domain. */
  private externalAllowed(): boolean {
    return this.claimedDomain !== null && PeerTls.peerIsValidFor(this.tcp.tlsSocket, this.claimedDomain);
  }

  // ---- elements -------------------------------------------------------------------------

  onElement(element: Element): void {
    if (this.isClosed) return;
    const ns = element.attrs.xmlns;
    if (ns === NS_SERVER && (element.name === 'message' || element.name === 'presence' || element.name === 'iq')) {
      this.handleStanza(element);
      return;
    }
    if (ns === NS_DIALBACK && (element.name === 'result' || element.name === 'verify')) {
      if (this.ctx.config.s2s.requireTls && !this.tcp.secure) throw new StreamError('not-authorized', 'negotiate TLS first');
      if (element.name === 'result') this.receiveDialbackKey(element);
      else this.answerVerification(element);
      return;
    }
    if (element.name === 'starttls' && ns === NS_TLS) {
      this.startTls();
      return;
    }
    if (ns === NS_SASL && element.name === 'auth') {
      this.saslExternal(element);
      return;
    }
    if (ns === NS_STREAMS && element.name === 'error') {
      // RFC 6120 §4.9.1.1: the peer ends the stream with an error; never answer with another.
      const condition = element.getChildElements().find((c) => c.name !== 'text')?.name ?? 'undefined-condition';
      this.ctx.log.debug({ ...this.logFields, condition }, 'peer ended its s2s stream with an error');
      this.close();
      return;
    }
    if (ns === NS_SASL && element.name === 'abort') {
      this.write(`<failure xmlns='${NS_SASL}'><aborted/></failure>`);
      return;
    }
    throw new StreamError('unsupported-stanza-type', `<${element.name}/> is not supported on a server stream`);
  }

  private startTls(): void {
    if (!this.tcp.canStartTls || this.saslDone || this.authenticated.size > 0) {
      this.write(`<failure xmlns='${NS_TLS}'/>`);
      this.close();
      return;
    }
    this.write(`<proceed xmlns='${NS_TLS}'/>`);
    this.parser.end();
    this.state = 'header';
    this.tcp.startTls().then(
      () => {
        // RFC 6120 §5.4.3.3: a fresh stream, with a new ID, over TLS.
        this.id = ServerStream.newId();
        this.headerSent = false;
        this.parser = this.createParser(false);
      },
      (err: Error) => {
        this.ctx.log.debug({ ...this.logFields, err: err.message }, 's2s TLS negotiation failed');
        this.tcp.destroy();
      },
    );
  }

  /** XEP-0178 §3: SASL EXTERNAL with the certificate presented in TLS. */
  private saslExternal(auth: Element): void {
    if (this.saslDone) throw new StreamError('policy-violation', 'already authenticated');
    const failure = (condition: string) => this.write(`<failure xmlns='${NS_SASL}'><${condition}/></failure>`);
    if (auth.attrs.mechanism !== 'EXTERNAL') return failure('invalid-mechanism');
    if (!this.claimedDomain || !this.externalAllowed()) return failure('not-authorized');
    // The authorization identity: "=" or empty means the certificate's (claimed) domain.
    const text = auth.getText().trim();
    let authzid = '';
    if (text !== '' && text !== '=') {
      const decoded = Buffer.from(text, 'base64');
      if (decoded.toString('base64') !== text.replace(/\s/g, '')) return failure('incorrect-encoding');
      authzid = decoded.toString('utf8');
    }
    if (authzid !== '' && authzid !== this.claimedDomain) return failure('invalid-authzid');
    this.write(`<success xmlns='${NS_SASL}'/>`);
    this.saslDone = true;
    this.markAuthenticated(this.claimedDomain, 'SASL EXTERNAL');
    // RFC 6120 §6.4.6: the stream restarts without a closing tag.
    this.state = 'header';
    this.headerSent = false;
    this.id = ServerStream.newId();
    this.parser.reset();
    this.parser.setLimits({ maxStanzaBytes: this.ctx.config.limits.stanzaBytes });
  }

  /** XEP-0220 §2.2.1: the Initiating Server presents a key for (from, to). */
  private receiveDialbackKey(result: Element): void {
    const from = result.attrs.from ?? '';
    const to = result.attrs.to ?? '';
    const reply = (type: 'valid' | 'invalid' | 'error', condition?: string) => {
      const payload = condition ? `<error type='cancel'><${condition} xmlns='${NS_STANZA_ERRORS}'/></error>` : '';
      this.write(`<db:result from='${escapeXML(to)}' to='${escapeXML(from)}' type='${type}'${payload ? `>${payload}</db:result>` : '/>'}`);
    };
    const target = tryParseJid(to);
    const sender = tryParseJid(from);
    // §2.4.2: dialback errors are not stream errors; other domain pairs may be in use.
    if (!target || target.local !== '' || target.resource !== '' || !this.ctx.domains.has(target.domain)) return reply('error', 'item-not-found');
    if (!sender || sender.local !== '' || sender.resource !== '' || this.ctx.domains.has(sender.domain)) return reply('error', 'item-not-found');
    if (this.authenticated.has(sender.domain)) return reply('valid');
    const key = result.getText().trim();
    if (key === '') return reply('error', 'bad-request');

    // XEP-0344 §2.4: a certificate valid for the sender domain proves it without a callback.
    if (PeerTls.peerIsValidFor(this.tcp.tlsSocket, sender.domain)) {
      this.markAuthenticated(sender.domain, 'dialback with certificate');
      return reply('valid');
    }
    this.pendingDialback++;
    const streamId = this.id;
    this.ctx
      .verifyDialback({ receiving: target.domain, originating: sender.domain, streamId, key })
      .catch(() => 'error' as const)
      .then((outcome) => {
        this.pendingDialback--;
        if (this.isClosed || this.id !== streamId) return;
        if (outcome === 'valid') {
          this.markAuthenticated(sender.domain, 'dialback');
          reply('valid');
        } else if (outcome === 'invalid') {
          // §2.2.1: a spoofing attempt; log it and close the stream.
          this.ctx.log.warn({ ...this.logFields, domain: sender.domain }, 'dialback key rejected by the authoritative server');
          reply('invalid');
          this.close(new StreamError('not-authorized', 'dialback verification failed'));
        } else {
          reply('error', 'remote-server-not-found');
        }
      });
  }

  /** XEP-0220 §2.2.2: as Authoritative Server, is this key one we generated? */
  private answerVerification(verify: Element): void {
    const from = verify.attrs.from ?? '';
    const to = verify.attrs.to ?? '';
    const id = verify.attrs.id ?? '';
    const answer = (type: string, payload = '') =>
      this.write(`<db:verify from='${escapeXML(to)}' to='${escapeXML(from)}' id='${escapeXML(id)}' type='${type}'${payload ? `>${payload}</db:verify>` : '/>'}`);
    if (!this.ctx.domains.has(to)) return answer('error', `<error type='cancel'><item-not-found xmlns='${NS_STANZA_ERRORS}'/></error>`);
    const valid = id !== '' && from !== '' && dialbackKeyMatches(this.ctx.secret, from, to, id, verify.getText());
    answer(valid ? 'valid' : 'invalid');
  }

  private markAuthenticated(domain: string, method: AuthMethod): void {
    if (this.authenticated.size === 0 && this.unauthenticatedTimer) {
      clearTimeout(this.unauthenticatedTimer);
      this.unauthenticatedTimer = null;
      this.parser.setLimits({ maxStanzaBytes: this.ctx.config.limits.stanzaBytes });
    }
    this.authenticated.set(domain, method);
    if (this.authenticated.size === 1) this.hooks.authenticated(this);
    this.ctx.log.info({ ...this.logFields, domain, method }, 'inbound s2s stream authenticated');
  }

  // ---- stanzas (RFC 6120 §8.1.1.2, §8.1.2.2) ---------------------------------------------

  private handleStanza(stanza: Element): void {
    if (this.authenticated.size === 0) throw new StreamError('not-authorized', 'authenticate first');
    this.touch();
    this.ctx.traffic.received.add(stanza.name);
    delete stanza.attrs.xmlns;
    // The router checks `from` against this stream's domains and `to` against ours (stream errors).
    this.ctx.router.route(stanza, this.origin);
  }

  protected override idleCloseAllowed(): boolean {
    return this.pendingDialback === 0;
  }

  protected override onClosing(): void {
    if (this.unauthenticatedTimer) clearTimeout(this.unauthenticatedTimer);
    this.unauthenticatedTimer = null;
  }

  protected onClosed(): void {
    this.onClosing();
    this.hooks.closed(this);
  }
}
