// The client stream state machine (RFC 6120 §4–§7): header validation, features, STARTTLS,
// SASL, resource binding, then stanzas into the router. Framing-independent: TCP, WebSocket
// and BOSH hand it parsed headers and elements through a ClientFraming (framing.ts).
import { Element, escapeXML } from 'ltx';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { NS_SASL, NS_STREAMS, SaslFailure, StanzaError, StreamError } from '../core/errors.js';
import type { ServerEvents } from '../core/events.js';
import type { HookBus } from '../core/hooks.js';
import { Jid, makeJid, prepareResource, tryParseJid } from '../core/jid.js';
import { randomId } from '../core/random-id.js';
import type { Router } from '../core/router.js';
import type { StreamFeatures } from '../core/stream-features.js';
import type { DeliveryFilters } from '../core/delivery-filters.js';
import type { StreamElementHandlers } from '../core/stream-elements.js';
import type { PreAuthHandlers, PreAuthStream } from '../core/pre-auth.js';
import type { ClaimResult, SessionClaims } from '../core/session-handover.js';
import type { SessionRegistry } from '../core/sessions.js';
import { errorReply, iqResult, NS_CLIENT } from '../core/stanza.js';
import type { AuthCounters, StanzaTraffic } from '../metrics/counters.js';
import type { AuthThrottle } from './auth-throttle.js';
import { SaslNegotiation, type SaslNegotiationOptions, type SaslOutcome, type SaslProvider } from './sasl-negotiation.js';
import { authenticationFeature, bind2Resource, channelBindingFeature, fastMechanisms, NS_BIND2, NS_FAST, NS_SASL2, parseAuthenticate, sasl2Failure, type Sasl2Request } from './sasl2.js';
import type { ChannelBinding } from '../sasl/channel-binding.js';
import { BIND2_FLAG, type BindFeatures } from '../core/bind-features.js';
import type { FastTokens, IssuedToken } from '../services/fast-tokens.js';
import { C2sSession, type SessionContext, type SessionStream } from './session.js';
import { NS_SM, parseH, REQUEST_AFTER_MS, SmState } from './stream-management.js';
import type { ClientFraming, FramingEvents } from './framing.js';

export const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
export const NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session';

/** Bytes a client may leave unread before its stream is closed (slow reader protection). */
const MAX_PENDING_OUTPUT = 8 * 1024 * 1024;

export interface C2sContext extends SessionContext {
  readonly config: Config;
  readonly log: Logger;
  readonly domains: ReadonlySet<string>;
  readonly router: Router;
  readonly sessions: SessionRegistry;
  readonly hooks: HookBus<ServerEvents>;
  readonly sasl: SaslProvider;
  readonly features: StreamFeatures;
  readonly delivery: DeliveryFilters;
  readonly streamElements: StreamElementHandlers;
  /** Registration and invitations before authentication (src/core/pre-auth.ts). */
  readonly preAuth: PreAuthHandlers;
  /** XEP-0386 Bind 2 features modules enable inline. */
  readonly bindFeatures: BindFeatures;
  /** XEP-0484 FAST tokens. */
  readonly fast: FastTokens;
  readonly throttle: AuthThrottle;
  /** Plain counters of stanzas read and written (metrics; shared by every c2s stream). */
  readonly traffic: StanzaTraffic;
  readonly auth: AuthCounters;
  /** Called once when the stream is gone, whatever the reason. */
  readonly onStreamClosed: (stream: ClientStream) => void;
  /** Called once when the client authenticated (it no longer counts as a handshake). */
  readonly onAuthenticated: (stream: ClientStream) => void;
  /** In a cluster: resumption of sessions other nodes hold (src/core/session-handover.ts). */
  readonly claims: SessionClaims | null;
}

/** XEP-0198 §4: the client acknowledged more than the server sent (<failed/>, the session stays). */
function handledCountTooHigh(received: number, h: number, sent: number): string {
  return `<failed xmlns='${NS_SM}' h='${received}'><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
    `<handled-count-too-high xmlns='${NS_SM}' h='${h}' send-count='${sent}'/></failed>`;
}

/** XEP-0198 <failed/> with a stanza error condition (and h when known, §5). */
function smFailed(condition: 'unexpected-request' | 'item-not-found' | 'bad-request', h?: number): string {
  const hAttr = h === undefined ? '' : ` h='${h}'`;
  return `<failed xmlns='${NS_SM}'${hAttr}><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>`;
}

function resumedElement(previd: string, handled: number): string {
  return `<resumed xmlns='${NS_SM}' previd='${escapeXML(previd)}' h='${handled}'/>`;
}

/** A resumption attempt: the session now held by this stream, or the <failed/> to send ('' when the stream died). */
type ResumeAttempt = { ok: true; session: C2sSession; handled: number } | { ok: false; failed: string };

type State = 'header' | 'negotiating' | 'bound' | 'closing' | 'closed';

let streamCounter = 0;

export class ClientStream implements SessionStream, FramingEvents {
  readonly id: string;
  private readonly sinceMs = Date.now();
  /** The session once bound (or resumed); null again once the stream is done with it. */
  private session: C2sSession | null = null;
  /** When bytes last arrived, and when the liveness probe went out (0: none outstanding). */
  lastReadAt = Date.now();
  probeSentAt = 0;

  private state: State = 'header';
  private domain = '';
  private lang = 'en';
  private headerSent = false;
  /** Stream headers sent so far (each restart sends one with its own id). */
  private restarts = 0;
  private authenticatedAs: Jid | null = null;
  private sasl: SaslNegotiation | null = null;
  /** A SASL2 exchange in progress (XEP-0388): what the client asked for beside authentication. */
  private sasl2: { request: Sasl2Request; clientId: Buffer | null; channelBinding: ChannelBinding | null } | null = null;
  /** Stanzas for a session bound during SASL2, held until <success/> is out. */
  private heldOutput: Element[] | null = null;
  private saslFailures = 0;
  private unauthenticatedTimer: NodeJS.Timeout | null;

  constructor(
    private readonly framing: ClientFraming,
    private readonly ctx: C2sContext,
  ) {
    this.id = (++streamCounter).toString(36) + randomId(6);
    framing.attach(this);
    // RFC 6120 §4.9.3.4 connection-timeout: an unauthenticated stream gets a bounded time,
    // which also catches a header trickled byte by byte.
    this.unauthenticatedTimer = setTimeout(() => {
      this.fail(new StreamError('connection-timeout', 'authentication took too long'));
    }, ctx.config.limits.unauthenticatedTimeoutS * 1000);
    this.unauthenticatedTimer.unref();
  }

  get since(): Date {
    return new Date(this.sinceMs);
  }

  /** Log fields that identify this stream (no per-stream child logger: it costs memory). */
  private get logFields(): { stream: string; ip: string } {
    return { stream: this.id, ip: this.framing.remoteAddress };
  }

  onActivity(): void {
    this.lastReadAt = Date.now();
    this.probeSentAt = 0;
  }

  onTransportClose(): void {
    this.handleTransportClosed();
  }

  /** The bound session, if any. */
  get boundSession(): C2sSession | null {
    return this.session;
  }

  get remoteAddress(): string {
    return this.framing.remoteAddress;
  }

  get secure(): boolean {
    return this.framing.secure;
  }

  /** 'c2s', 'c2s_direct_tls', 'websocket' or 'bosh'. */
  get kind(): string {
    return this.framing.kind;
  }

  get isBound(): boolean {
    return this.state === 'bound';
  }

  get isAuthenticated(): boolean {
    return this.authenticatedAs !== null;
  }

  /** Closing or closed (a check after an await: the stream may have ended meanwhile). */
  private isOver(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  /** No input may throw out of the socket handler (design: safety at the edge). */
  private failFor(err: unknown): void {
    if (err instanceof StreamError) {
      this.fail(err);
    } else {
      this.ctx.log.error({ ...this.logFields, err }, 'unexpected error while handling client input');
      this.fail(new StreamError('internal-server-error'));
    }
  }

  onStreamStart(attrs: Readonly<Record<string, string | undefined>>, problem: StreamError | null): void {
    try {
      this.handleStreamStart(attrs, problem);
    } catch (err) {
      this.failFor(err);
    }
  }

  onElement(element: Element): void {
    try {
      this.handleElement(element);
    } catch (err) {
      this.failFor(err);
    }
  }

  onStreamEnd(): void {
    try {
      this.handleStreamEnd();
    } catch (err) {
      this.failFor(err);
    }
  }

  // ---- stream header (RFC 6120 §4.7, §4.8) ------------------------------------------

  private handleStreamStart(attrs: Readonly<Record<string, string | undefined>>, problem: StreamError | null): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const to = attrs.to !== undefined ? tryParseJid(attrs.to) : null;
    if (to && to.local === '' && to.resource === '' && this.ctx.domains.has(to.domain)) {
      this.domain = to.domain;
    }
    const lang = attrs['xml:lang'];
    if (lang && /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/.test(lang)) this.lang = lang;

    // §4.9.1.1: a stream error before our header still needs our header first.
    this.sendHeader(attrs.from);

    if (problem) throw problem;
    // §4.7.5: no version, or a major version below 1, is pre-RFC 3920 XMPP.
    const version = attrs.version;
    const match = version ? /^(\d+)\.(\d+)$/.exec(version) : null;
    if (!match || Number(match[1]) < 1) throw new StreamError('unsupported-version', 'XMPP 1.0 is required');
    if (attrs.to === undefined) throw new StreamError('host-unknown', 'the stream header needs a to address');
    if (!to || to.local !== '' || to.resource !== '' || !this.ctx.domains.has(to.domain)) {
      throw new StreamError('host-unknown', 'this server does not serve that domain');
    }
    if (attrs.from !== undefined) {
      // §4.7.1: a client may state its bare JID; it must be an address, and once
      // authenticated it must be its own.
      const from = tryParseJid(attrs.from);
      if (!from) throw new StreamError('invalid-from', 'the from address is not a valid JID');
      if (this.authenticatedAs && from.bareString() !== this.authenticatedAs.bareString()) {
        throw new StreamError('invalid-from', 'from does not match the authenticated account');
      }
    }
    this.state = 'negotiating';
    this.sendFeatures();
  }

  private sendHeader(clientFrom: string | undefined): void {
    if (this.headerSent) return;
    this.headerSent = true;
    const from = this.domain || [...this.ctx.domains][0] || 'localhost';
    const to = clientFrom && tryParseJid(clientFrom) ? clientFrom : undefined;
    // RFC 6120 §4.7.3: a stream ID is unique to each stream, a restarted one included.
    const id = this.restarts++ === 0 ? this.id : `${this.id}.${this.restarts}`;
    this.framing.openStream({ id, from, to });
  }

  private sendFeatures(): void {
    const features = new Element('stream:features');
    const tlsRequired = this.ctx.config.c2s.requireTls && !this.framing.secure;
    if (!this.authenticatedAs) {
      if (this.framing.canStartTls) {
        const starttls = features.c('starttls', { xmlns: NS_TLS });
        if (this.ctx.config.c2s.requireTls) starttls.c('required');
      }
      // §5.3.1 / issue: while TLS is mandatory-to-negotiate, no other feature is offered.
      if (!tlsRequired) {
        const channelBinding = this.framing.channelBinding();
        const offered = this.ctx.sasl.mechanisms(this.plaintextAllowed(), channelBinding);
        const mechanisms = features.c('mechanisms', { xmlns: NS_SASL });
        for (const name of offered) mechanisms.c('mechanism').t(name);
        // XEP-0388 §2.1 beside RFC 6120 SASL, with the same mechanisms.
        const bindInline = [...this.ctx.bindFeatures.features, NS_SM];
        features.cnode(authenticationFeature(offered, this.fastOffered(channelBinding), bindInline));
        if (channelBinding) features.cnode(channelBindingFeature(channelBinding));
        for (const feature of this.ctx.preAuth.features(this.preAuthView)) features.cnode(feature);
      }
    } else if (this.state === 'bound') {
      // XEP-0388 §2.6.1: after a SASL2 success that bound (Bind 2) or resumed the session.
      if (!this.session?.sm) features.c('sm', { xmlns: NS_SM });
      for (const feature of this.ctx.features.afterAuthentication) features.cnode(feature);
    } else {
      features.c('bind', { xmlns: NS_BIND });
      // RFC 6121 §… / RFC 3921 §3: legacy session establishment, optional (draft-cridland-xmpp-session).
      features.c('session', { xmlns: NS_SESSION }).c('optional');
      features.c('sm', { xmlns: NS_SM });
      for (const feature of this.ctx.features.afterAuthentication) features.cnode(feature);
    }
    this.framing.writeFeatures(features);
  }

  /**
   * XEP-0484 FAST mechanisms for this stream. A token, like a password, is only taken where
   * plaintext authentication is (§6: over a secure connection, or by the loopback-benchmark
   * switch); -EXPR/-ENDP only with their channel binding.
   */
  private fastOffered(channelBinding: ChannelBinding | null): string[] {
    return this.plaintextAllowed() ? fastMechanisms(channelBinding) : [];
  }

  /** Whether SASL may run on this stream now (TLS, or the loopback-benchmark switch). */
  private saslAllowed(): boolean {
    return this.framing.secure || !this.ctx.config.c2s.requireTls;
  }

  /** PLAIN sends the password itself: only over TLS unless explicitly allowed. */
  private plaintextAllowed(): boolean {
    return this.framing.secure || this.ctx.config.c2s.allowPlaintextAuth;
  }

  // ---- elements ------------------------------------------------------------------------

  private handleElement(element: Element): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const ns = element.attrs.xmlns;
    if (this.state === 'bound') {
      const session = this.session!;
      if (ns === NS_CLIENT && (element.name === 'message' || element.name === 'presence' || element.name === 'iq')) {
        this.ctx.traffic.received.add(element.name);
        delete element.attrs.xmlns;
        if (element.name === 'iq' && this.isLegacySessionRequest(element)) {
          session.sm?.countInbound(undefined);
          // A stanza like any other: stream management counts it.
          session.write(iqResult(element));
          return;
        }
        const work = this.ctx.router.route(element, session.origin);
        session.sm?.countInbound(work);
        return;
      }
      if (ns === NS_SM) return this.handleSm(element, session);
      const handler = ns !== undefined ? this.ctx.streamElements.get(ns) : undefined;
      if (handler) return handler(session, element);
      throw new StreamError('unsupported-stanza-type', `<${element.name} xmlns='${ns ?? ''}'/> is not supported here`);
    }

    if (element.name === 'starttls' && ns === NS_TLS) return this.handleStartTls();
    if (ns === NS_SASL) return this.handleSasl(element, 'sasl');
    if (ns === NS_SASL2) return this.handleSasl(element, 'sasl2');
    if (!this.authenticatedAs && this.state === 'negotiating' && this.saslAllowed() && this.handlePreAuth(element, ns)) return;
    if (this.authenticatedAs && ns === NS_CLIENT && element.name === 'iq') return this.handleNegotiationIq(element);
    if (ns === NS_SM) {
      // XEP-0198 §5: resumption instead of binding, once authenticated; §3: enable only after binding.
      if (this.authenticatedAs && element.name === 'resume') return this.resume(element);
      if (element.name === 'enable' || element.name === 'resume') {
        this.framing.writeElement(smFailed('unexpected-request'));
        return;
      }
    }
    if (this.authenticatedAs && ns === NS_CLIENT && (element.name === 'message' || element.name === 'presence')) {
      // RFC 6120 §7.1: no stanzas before a resource is bound.
      throw new StreamError('not-authorized', 'bind a resource first');
    }
    if (this.state === 'header') {
      // Only a framing that delivers elements by themselves (WebSocket, BOSH) gets here:
      // an element where the (re)opening of the stream is due.
      throw new StreamError('bad-format', 'open the stream first');
    }
    if (ns === NS_CLIENT || ns === NS_STREAMS) {
      throw new StreamError('not-authorized', 'authenticate first');
    }
    throw new StreamError('unsupported-stanza-type', `<${element.name}/> is not supported here`);
  }

  // ---- STARTTLS (RFC 6120 §5) ----------------------------------------------------------

  private handleStartTls(): void {
    if (!this.framing.canStartTls || this.authenticatedAs) {
      // §5.4.2.2: failure, then close.
      this.framing.writeElement(`<failure xmlns='${NS_TLS}'/>`);
      this.closeStream();
      return;
    }
    this.framing.writeElement(`<proceed xmlns='${NS_TLS}'/>`);
    this.state = 'header';
    this.framing.startTls(this.domain).then(
      () => {
        // §5.4.3.3: a fresh stream over TLS.
        this.headerSent = false;
      },
      (err: Error) => {
        this.ctx.log.debug({ ...this.logFields, err: err.message }, 'TLS negotiation failed');
        this.framing.destroy();
      },
    );
  }

  // ---- before authentication: registration, invitations (src/core/pre-auth.ts) -----------

  private preAuthState: PreAuthStream | null = null;

  private get preAuthView(): PreAuthStream {
    if (!this.preAuthState) {
      const stream = this;
      this.preAuthState = {
        get domain() { return stream.domain; },
        get remoteAddress() { return stream.framing.remoteAddress; },
        get secure() { return stream.framing.secure; },
        state: new Map(),
        writeElement: (xml) => this.framing.writeElement(xml),
      };
    }
    return this.preAuthState;
  }

  /** true when a pre-authentication handler takes the element. */
  private handlePreAuth(element: Element, ns: string | undefined): boolean {
    let work: Promise<void>;
    if (ns === NS_CLIENT && element.name === 'iq') {
      const type = element.attrs.type;
      const payload = element.getChildElements();
      const handler = payload.length === 1 ? this.ctx.preAuth.iq(payload[0]!.attrs.xmlns ?? '') : undefined;
      if (!handler || (type !== 'get' && type !== 'set')) return false;
      delete element.attrs.xmlns;
      if (element.attrs.to !== undefined && element.attrs.to !== this.domain) return false;
      work = handler(element, this.preAuthView).then(
        (reply) => this.framing.writeStanza(reply),
        (err: unknown) => {
          if (!(err instanceof StanzaError)) throw err;
          this.framing.writeStanza(errorReply(element, err));
        },
      );
    } else {
      const handler = ns !== undefined ? this.ctx.preAuth.element(ns) : undefined;
      if (!handler) return false;
      work = handler(element, this.preAuthView);
    }
    // One request at a time, in order: nothing more is read until this one is answered.
    this.framing.pauseInput();
    work
      .catch((err: unknown) => this.failFor(err))
      .finally(() => {
        if (this.state === 'closing' || this.state === 'closed') return;
        this.framing.resumeInput();
      });
    return true;
  }

  // ---- SASL (RFC 6120 §6) --------------------------------------------------------------

  private handleSasl(element: Element, profile: 'sasl' | 'sasl2'): void {
    if (this.authenticatedAs) {
      // §6.4.8 (no re-authentication on a stream).
      throw new StreamError('policy-violation', 'already authenticated');
    }
    const initiation = profile === 'sasl' ? 'auth' : 'authenticate';
    const failure = (condition: SaslFailure) => (profile === 'sasl' ? condition.toElement().toString() : sasl2Failure(condition));
    if (!this.saslAllowed()) {
      if (element.name === initiation) {
        // §5.3.1 / §6.4.?: TLS must come first.
        this.framing.writeElement(failure(new SaslFailure('encryption-required')));
        return;
      }
      throw new StreamError('not-authorized', 'negotiate TLS first');
    }
    let step: Promise<void>;
    if (element.name === initiation) {
      const channelBinding = this.framing.channelBinding();
      const options: SaslNegotiationOptions = {
        domain: this.domain,
        address: this.framing.remoteAddress,
        offered: this.ctx.sasl.mechanisms(this.plaintextAllowed(), channelBinding),
        throttle: this.ctx.throttle,
        channelBinding,
        channelBindingsAdvertised: channelBinding ? channelBinding.types : null,
      };
      if (profile === 'sasl') {
        this.sasl2 = null;
        this.sasl = new SaslNegotiation(this.ctx.sasl, options);
        step = this.sasl.start(element.attrs.mechanism, element.getText()).then((outcome) => this.applySaslOutcome(outcome));
      } else {
        const request = parseAuthenticate(element);
        // XEP-0484: tokens belong to a client, known by its user-agent id.
        const clientId = request.userAgentId !== null ? this.ctx.fast.clientId(request.userAgentId) : null;
        const fast = clientId ? this.fastOffered(channelBinding) : [];
        this.sasl = new SaslNegotiation(this.ctx.sasl, {
          ...options,
          offered: [...options.offered, ...fast],
          ...(clientId && fast.length > 0 ? { fastTokens: this.ctx.fast.lookup(this.domain, clientId) } : {}),
        });
        this.sasl2 = { request, clientId, channelBinding };
        // XEP-0388 §2.3: absent is no initial response, empty is a zero-length one.
        const initial = request.initialResponse === null ? '' : request.initialResponse === '' ? '=' : request.initialResponse;
        const outcome: Promise<SaslOutcome> = request.upgrade !== undefined
          // §2.3: an upgrade the server did not announce fails the authentication.
          ? Promise.resolve({ kind: 'failure', failure: new SaslFailure('invalid-mechanism', 'no upgrade tasks are offered') })
          : this.sasl.start(request.mechanism, initial);
        step = outcome.then((result) => this.applySasl2Outcome(result));
      }
    } else if (element.name === 'response') {
      if (!this.sasl || (profile === 'sasl2') !== (this.sasl2 !== null)) throw new StreamError('policy-violation', 'no SASL negotiation in progress');
      if (profile === 'sasl') step = this.sasl.respond(element.getText()).then((outcome) => this.applySaslOutcome(outcome));
      else step = this.sasl.respond(element.getText().trim()).then((outcome) => this.applySasl2Outcome(outcome));
    } else if (element.name === 'abort') {
      // §6.4.4: the client gives up; it may try again.
      this.sasl = null;
      this.sasl2 = null;
      this.framing.writeElement(failure(new SaslFailure('aborted')));
      return;
    } else {
      throw new StreamError('unsupported-stanza-type', `<${element.name}/> is not a SASL element`);
    }
    // Nothing after this element is read until the step is decided: after <success/> the
    // pipelined bytes belong to a new stream (§6.4.6 restart), or (SASL2) to the bound session.
    this.framing.pauseInput();
    step
      .catch((err: unknown) => {
        if (err instanceof StreamError) return this.fail(err);
        this.ctx.log.error({ ...this.logFields, err }, 'SASL step failed');
        this.fail(new StreamError('internal-server-error'));
      })
      .finally(() => {
        if (this.state === 'closing' || this.state === 'closed') return;
        this.framing.resumeInput();
      });
  }

  /** Counts a failed exchange; §6.4.5: a bounded number of retries (2..5) per stream. */
  private saslFailed(xml: string): void {
    this.ctx.auth.record(this.sasl?.mechanismName, false);
    this.sasl = null;
    this.sasl2 = null;
    this.framing.writeElement(xml);
    if (++this.saslFailures >= 5) this.fail(new StreamError('policy-violation', 'too many failed authentication attempts'));
  }

  private authenticated(jid: Jid): void {
    this.ctx.auth.record(this.sasl?.mechanismName, true);
    this.sasl = null;
    this.authenticatedAs = jid;
    this.ctx.onAuthenticated(this);
    if (this.unauthenticatedTimer) clearTimeout(this.unauthenticatedTimer);
    this.unauthenticatedTimer = null;
    this.ctx.log.info({ ...this.logFields, jid: jid.toString() }, 'authenticated');
  }

  private applySaslOutcome(outcome: SaslOutcome): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    switch (outcome.kind) {
      case 'challenge':
        this.framing.writeElement(`<challenge xmlns='${NS_SASL}'>${outcome.data}</challenge>`);
        return;
      case 'failure':
        this.saslFailed(outcome.failure.toElement().toString());
        return;
      case 'success':
        this.authenticated(outcome.jid);
        this.framing.writeElement(outcome.data ? `<success xmlns='${NS_SASL}'>${outcome.data}</success>` : `<success xmlns='${NS_SASL}'/>`);
        // §6.4.6: the stream restarts, without a closing tag.
        this.state = 'header';
        this.headerSent = false;
        this.framing.expectRestart(this.ctx.config.limits.stanzaBytes);
        return;
    }
  }

  /**
   * XEP-0388: challenges and failures as in RFC 6120 but in the SASL2 namespace (an empty
   * challenge is an empty element, §2.2). On success, before <success/> goes out: FAST
   * tokens (XEP-0484), then resumption (XEP-0198), else Bind 2 with its inline features
   * (XEP-0386 §3.2); then new stream features, and no stream restart (§2.6.1).
   */
  private async applySasl2Outcome(outcome: SaslOutcome): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    const exchange = this.sasl2;
    switch (outcome.kind) {
      case 'challenge':
        this.framing.writeElement(`<challenge xmlns='${NS_SASL2}'>${outcome.data === '=' ? '' : outcome.data}</challenge>`);
        return;
      case 'failure':
        this.saslFailed(sasl2Failure(outcome.failure));
        return;
      case 'success':
        break;
    }
    if (!exchange) throw new Error('SASL2 success without an exchange');
    this.sasl2 = null;
    this.authenticated(outcome.jid);
    // Stanzas for a session bound below wait until the client has read <success/>.
    this.heldOutput = [];
    const { request, clientId, channelBinding } = exchange;
    const account = outcome.jid;
    const parts: string[] = [];
    if (outcome.data) parts.push(`<additional-data>${outcome.data === '=' ? '' : outcome.data}</additional-data>`);
    if (clientId && request.userAgentId !== null) {
      this.ctx.fast.rememberClient(request.userAgentId, clientId);
      let token: IssuedToken | null = null;
      if (outcome.fastToken) {
        token = await this.ctx.fast.used(account.local, account.domain, clientId, outcome.fastToken, {
          invalidate: request.fast?.invalidate ?? false,
          requested: request.requestToken !== null,
        });
      }
      // §4.2: a token only for a mechanism offered here (it is bound to that mechanism).
      if (request.requestToken !== null && this.fastOffered(channelBinding).includes(request.requestToken)) {
        token = await this.ctx.fast.issue(account.local, account.domain, clientId, request.requestToken);
      }
      if (token) parts.push(new Element('token', { xmlns: NS_FAST, token: token.token, expiry: token.expiry.toISOString() }).toString());
    }
    let resumed: ResumeAttempt | null = null;
    if (request.resume) {
      // XEP-0386 §3.2: resumption first; when it works the bind request is ignored.
      resumed = await this.attemptResume(request.resume.previd, request.resume.h);
      if (this.isOver()) return;
      if (resumed.ok) parts.push(resumedElement(request.resume.previd, resumed.handled));
      else parts.push(resumed.failed);
    }
    let bound: C2sSession | null = null;
    if (!resumed?.ok && request.bind) {
      bound = this.bindSession(bind2Resource(this.ctx.sasl.serverSecret, account.bareString(), request.userAgentId, request.bind.getChildText('tag')));
      bound.flags.add(BIND2_FLAG);
      const answers: string[] = [];
      for (const child of request.bind.getChildElements()) {
        const ns = child.attrs.xmlns;
        if (ns === NS_SM && child.name === 'enable') {
          answers.push(this.enableSm(bound, child));
          continue;
        }
        const handler = ns !== undefined ? this.ctx.bindFeatures.handler(ns) : undefined;
        const answer = handler ? await handler(bound, child) : null;
        if (answer) answers.push(answer.toString());
      }
      for (const info of await this.ctx.bindFeatures.boundInfo(bound)) answers.push(info.toString());
      if (this.isOver()) return;
      parts.push(`<bound xmlns='${NS_BIND2}'>${answers.join('')}</bound>`);
    }
    // §2.6.1: a full JID once a resource is bound (or the session resumed).
    const identity = bound?.jid ?? (resumed?.ok ? resumed.session.jid : account);
    parts.unshift(`<authorization-identifier>${escapeXML(identity.toString())}</authorization-identifier>`);
    this.framing.writeElement(`<success xmlns='${NS_SASL2}'>${parts.join('')}</success>`);
    this.sendFeatures();
    const held = this.heldOutput;
    this.heldOutput = null;
    for (const stanza of held) this.writeStanza(stanza);
    if (resumed?.ok) this.finishResumption(resumed.session, request.resume!.previd, resumed.handled, false);
    if (bound) void this.ctx.hooks.emit('session-bound', { session: bound });
    this.framing.flush();
  }

  // ---- resource binding (RFC 6120 §7) and legacy session (RFC 3921 §3) ------------------

  private handleNegotiationIq(iq: Element): void {
    delete iq.attrs.xmlns;
    const type = iq.attrs.type;
    const child = iq.getChildElements()[0];
    if (type === 'set' && child?.name === 'bind' && child.attrs.xmlns === NS_BIND && iq.getChildElements().length === 1) {
      return this.bind(iq, child);
    }
    if (this.isLegacySessionRequest(iq)) {
      this.framing.writeStanza(iqResult(iq).toString());
      return;
    }
    if (type === 'error' || type === 'result') return;
    // §7.1: only binding is allowed before a resource is bound.
    this.writeElement(errorReply(iq, new StanzaError('not-authorized', 'bind a resource first')));
  }

  /**
   * RFC 3921 §3 session establishment, kept for old clients: a no-op that succeeds
   * (draft-cridland-xmpp-session), addressed to the server or to nobody.
   */
  private isLegacySessionRequest(iq: Element): boolean {
    if (iq.attrs.type !== 'set') return false;
    const children = iq.getChildElements();
    if (children.length !== 1 || children[0]!.name !== 'session' || children[0]!.attrs.xmlns !== NS_SESSION) return false;
    return iq.attrs.to === undefined || iq.attrs.to === this.domain;
  }

  private bind(iq: Element, bind: Element): void {
    const requested = bind.getChildText('resource');
    let resource: string;
    if (requested !== null && requested.trim() !== '') {
      try {
        resource = prepareResource(requested);
      } catch {
        // §7.7.2.1: a resourcepart that is not valid is bad-request.
        this.writeElement(errorReply(iq, new StanzaError('bad-request', 'the resource is not valid')));
        return;
      }
    } else {
      resource = `hearth-${randomId(6)}`;
    }
    const session = this.bindSession(resource);
    const result = iqResult(iq, new Element('bind', { xmlns: NS_BIND }).c('jid').t(session.jid.toString()).up());
    delete result.attrs.from;
    this.framing.writeStanza(result.toString());
    void this.ctx.hooks.emit('session-bound', { session });
  }

  /** Binds a resource to this stream (RFC 6120 §7, or Bind 2); the caller emits session-bound once the client knows. */
  private bindSession(resource: string): C2sSession {
    const account = this.authenticatedAs!;
    const jid = makeJid(account.local, account.domain, resource);
    const session = new C2sSession(jid, this, this.ctx);
    this.session = session;
    this.state = 'bound';
    const displaced = this.ctx.sessions.bind(session);
    if (displaced) {
      // §7.7.2.2: the new session wins; the old one is told why it ends (a hibernated one
      // just ends, its unacknowledged stanzas going to the new session).
      displaced.close(new StreamError('conflict', 'replaced by a new session with the same resource'));
    }
    this.ctx.log.debug({ ...this.logFields, jid: jid.toString() }, 'bound');
    return session;
  }

  // ---- stream management (XEP-0198) ----------------------------------------------------

  private handleSm(element: Element, session: C2sSession): void {
    const sm = session.sm;
    switch (element.name) {
      case 'enable': {
        this.framing.writeElement(this.enableSm(session, element));
        // Alone in its own write: a client that starts counting when it has handled
        // <enabled/> must not find stanzas counted before it in the same read.
        this.framing.flush();
        return;
      }
      case 'r': {
        if (!sm) throw new StreamError('unsupported-stanza-type', 'stream management is not enabled');
        // Acked means durable: h counts a stanza once what it stored is committed.
        const h = sm.handled();
        if (typeof h === 'number') this.framing.writeElement(`<a xmlns='${NS_SM}' h='${h}'/>`);
        else void h.then((value) => this.framing.writeElement(`<a xmlns='${NS_SM}' h='${value}'/>`));
        return;
      }
      case 'a': {
        if (!sm) throw new StreamError('unsupported-stanza-type', 'stream management is not enabled');
        const h = parseH(element.attrs.h);
        if (h === null) throw new StreamError('bad-format', 'h must be an unsigned 32-bit integer');
        if (!sm.acknowledge(h)) {
          // §4: the client acknowledged more than the server sent.
          throw new StreamError('undefined-condition', 'you acknowledged more stanzas than were sent',
            new Element('handled-count-too-high', { xmlns: NS_SM, h: String(h), 'send-count': String(sm.sent) }));
        }
        sm.answered();
        return;
      }
      default:
        throw new StreamError('unsupported-stanza-type', `<${element.name}/> is not a stream management element here`);
    }
  }

  /** XEP-0198 §3: enables stream management on the session; the <enabled/> or <failed/> to send. */
  private enableSm(session: C2sSession, element: Element): string {
    // §3: once per session.
    if (session.sm) return smFailed('unexpected-request');
    const timeoutS = this.ctx.config.c2s.smResumeTimeoutS;
    const wantsResume = element.attrs.resume === 'true' || element.attrs.resume === '1';
    const resumable = wantsResume && timeoutS > 0;
    const id = resumable ? SmState.newId() : null;
    session.sm = new SmState(id);
    const enabled = new Element('enabled', { xmlns: NS_SM });
    if (id) {
      this.ctx.resumable.add(id, session);
      // A cluster learns the id: the client may resume on any node.
      void this.ctx.sessions.changed(session);
      // §3: the server's maximum, never above what it is configured for.
      const asked = parseH(element.attrs.max);
      enabled.attrs.id = id;
      enabled.attrs.resume = 'true';
      enabled.attrs.max = String(asked !== null && asked > 0 ? Math.min(asked, timeoutS) : timeoutS);
    }
    return enabled.toString();
  }

  /**
   * Called about once a second by the listeners: asks for an acknowledgement of stanzas
   * that went out a while ago (batched, §4), and probes a silent connection so that a
   * client that vanished without closing TCP is noticed (then hibernated or ended).
   */
  checkLiveness(now: number, idleMs: number, timeoutMs: number): void {
    if (this.state !== 'bound') return;
    if (this.probeSentAt !== 0) {
      if (now - this.probeSentAt > timeoutMs) {
        this.ctx.log.debug(this.logFields, 'no answer to the liveness probe; dropping the connection');
        this.framing.destroy();
      }
      return;
    }
    const sm = this.session?.sm;
    if (sm && sm.unrequested > 0 && !sm.requestOutstanding && now - sm.firstUnrequestedAt >= REQUEST_AFTER_MS) this.requestAck();
    if (now - this.lastReadAt < idleMs) return;
    this.probeSentAt = now;
    if (this.framing.probe()) return;
    if (sm) {
      sm.requested();
      this.framing.writeElement(`<r xmlns='${NS_SM}'/>`);
    } else {
      // XEP-0199 §4.3 server-to-client ping; any answer (even an error) is a sign of life.
      const to = escapeXML(this.session!.jid.toString());
      this.framing.writeStanza(`<iq type='get' id='ping-${now.toString(36)}' from='${escapeXML(this.domain)}' to='${to}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    }
  }

  /** Asks the client how much it has handled (§4); one request outstanding at a time. */
  requestAck(): void {
    const sm = this.session?.sm;
    if (!sm || this.state !== 'bound') return;
    sm.requested();
    this.framing.writeElement(`<r xmlns='${NS_SM}'/>`);
  }

  /**
   * XEP-0198 §5: re-attaches a session to this stream. Only a session of the account that
   * authenticated here; an unknown id learns nothing about other accounts.
   */
  private resume(element: Element): void {
    const previd = element.attrs.previd ?? '';
    // Nothing further is read meanwhile: the client's stanzas come after <resumed/>.
    this.framing.pauseInput();
    void this.attemptResume(previd, element.attrs.h).then(
      (attempt) => {
        if (attempt.ok) return this.finishResumption(attempt.session, previd, attempt.handled, true);
        if (this.state !== 'negotiating') return;
        this.framing.writeElement(attempt.failed);
        this.framing.resumeInput();
      },
      (err: unknown) => this.failFor(err),
    );
  }

  /**
   * Takes over the session `previd` names, here or (in a cluster) from the node holding it.
   * On success this stream holds it, not yet attached: the caller tells the client, then
   * finishResumption() attaches it and resends what the client had not acknowledged.
   */
  private async attemptResume(previd: string, hText: string | undefined): Promise<ResumeAttempt> {
    const account = this.authenticatedAs!.bareString();
    const h = parseH(hText);
    if (h === null) return { ok: false, failed: smFailed('bad-request') };
    const local = this.ctx.resumable.get(previd);
    if (!local && this.ctx.claims) return this.claimResume(previd, account, h);
    if (!local || local.hasEnded || local.jid.bareString() !== account || !local.sm) {
      return { ok: false, failed: smFailed('item-not-found', this.ctx.resumable.endedH(previd, account)) };
    }
    const sm = local.sm;
    const sent = sm.sent;
    if (!sm.acknowledge(h)) return { ok: false, failed: handledCountTooHigh(sm.receivedCount, h, sent) };
    sm.answered();
    // §5: a stream still attached to the session loses it, with a conflict error.
    local.detachForResumption()?.replaced();
    this.takeSession(local);
    return { ok: true, session: local, handled: await sm.handled() };
  }

  /** Perhaps held by another node of the cluster: it hands the session over. */
  private async claimResume(previd: string, account: string, h: number): Promise<ResumeAttempt> {
    const claims = this.ctx.claims!;
    let result: ClaimResult;
    try {
      result = await claims.claim(account, previd, h);
    } catch (err) {
      this.ctx.log.error({ err }, 'resuming a session of another node failed');
      result = { ok: false, condition: 'item-not-found' };
    }
    let session: C2sSession | null = null;
    if (result.ok) {
      session = C2sSession.arrive(result.snapshot, this, this.ctx);
      if (session) {
        claims.adopt(session, result);
        // Bound on this node now: modules load what they keep for its account.
        void this.ctx.hooks.emit('session-bound', { session });
      } else {
        this.ctx.log.error({ account }, 'a session from another node could not be rebuilt');
      }
    }
    if (this.state !== 'negotiating') {
      // This stream died while waiting: the session waits for another try, here.
      session?.expireLater();
      return { ok: false, failed: '' };
    }
    if (!session) {
      const failed = !result.ok && result.condition === 'handled-count-too-high'
        ? handledCountTooHigh(result.received, h, result.sent)
        : smFailed('item-not-found', this.ctx.resumable.endedH(previd, account));
      return { ok: false, failed };
    }
    this.takeSession(session);
    return { ok: true, session, handled: session.sm!.receivedCount };
  }

  private takeSession(session: C2sSession): void {
    this.state = 'bound';
    this.session = session;
    if (this.unauthenticatedTimer) clearTimeout(this.unauthenticatedTimer);
  }

  /** <resumed/> (unless SASL2 carried it), then everything the client had not acknowledged, again, in order. */
  private finishResumption(session: C2sSession, previd: string, handled: number, writeResumed: boolean): void {
    const sm = session.sm;
    if (this.state !== 'bound' || this.session !== session || session.hasEnded || !sm) return;
    if (writeResumed) this.framing.writeElement(resumedElement(previd, handled));
    session.attach(this);
    for (const stanza of sm.pending()) this.writeStanza(stanza);
    if (sm.unacknowledged > 0) this.requestAck();
    this.ctx.log.debug({ ...this.logFields, jid: session.jid.toString() }, 'session resumed');
    void this.ctx.hooks.emit('session-resumed', { session });
    this.framing.resumeInput();
  }

  // ---- output --------------------------------------------------------------------------

  /** Writes a stanza of the bound session (C2sSession.write decides what reaches here). */
  writeStanza(stanza: Element): void {
    if (this.state !== 'bound') return;
    if (this.heldOutput) {
      this.heldOutput.push(stanza);
      return;
    }
    if (this.framing.pendingBytes > MAX_PENDING_OUTPUT) {
      this.fail(new StreamError('resource-constraint', 'the client does not read its stream'));
      return;
    }
    this.ctx.traffic.sent.add(stanza.name);
    this.framing.writeStanza(stanza);
  }

  private writeElement(stanza: Element): void {
    this.framing.writeStanza(stanza);
  }

  // ---- closing (RFC 6120 §4.4) ---------------------------------------------------------

  private handleStreamEnd(): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.teardown();
    // Our closing answers theirs (once: after our own close it is already out).
    this.framing.closeStream(null, 0);
  }

  /** Ends the stream: with a stream error when given, else a clean close. */
  close(error?: StreamError): void {
    if (error) this.fail(error);
    else this.closeStream();
  }

  private closeStream(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (!this.headerSent) this.sendHeader(undefined);
    this.state = 'closing';
    this.teardown();
    // §4.4: wait a little for the peer's closing tag, then close the connection.
    this.framing.closeStream(null, 2_000);
  }

  /** §4.9.1: send the error, close the stream, close the connection. */
  fail(error: StreamError): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (!this.headerSent) this.sendHeader(undefined);
    this.ctx.log.debug({ ...this.logFields, condition: error.condition, text: error.text }, 'stream error');
    this.state = 'closing';
    this.framing.closeStream(error, 1_000);
    this.teardown();
  }

  /**
   * The stream is done with its session: a closed or failed stream ends it; a lost
   * connection only hibernates a resumable one (XEP-0198 §5).
   */
  private teardown(connectionLost = false): void {
    if (this.unauthenticatedTimer) {
      clearTimeout(this.unauthenticatedTimer);
      this.unauthenticatedTimer = null;
    }
    const session = this.session;
    this.session = null;
    if (!session || session.hasEnded) return;
    if (session.stream === this) {
      if (connectionLost) session.hibernate();
      else void session.end();
    } else if (session.stream === null) {
      // This stream was resuming it and died before <resumed/>: it waits for another try.
      session.expireLater();
    }
  }

  replaced(): void {
    this.session = null;
    this.fail(new StreamError('conflict', 'the session was resumed on another stream'));
  }

  private handleTransportClosed(): void {
    if (this.state === 'closed') return;
    this.teardown(true);
    this.state = 'closed';
    this.framing.stopInput();
    this.ctx.onStreamClosed(this);
  }
}

