// RFC 6120 §4.9.3 (stream errors), §8.3.3 (stanza errors), §6.5 (SASL failures).
import { clone, Element } from 'ltx';

export const NS_STREAMS = 'http://etherx.jabber.org/streams';
export const NS_STREAM_ERRORS = 'urn:ietf:params:xml:ns:xmpp-streams';
export const NS_STANZA_ERRORS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';

export type StreamErrorCondition =
  | 'bad-format'
  | 'bad-namespace-prefix'
  | 'conflict'
  | 'connection-timeout'
  | 'host-gone'
  | 'host-unknown'
  | 'improper-addressing'
  | 'internal-server-error'
  | 'invalid-from'
  | 'invalid-namespace'
  | 'invalid-xml'
  | 'not-authorized'
  | 'not-well-formed'
  | 'policy-violation'
  | 'remote-connection-failed'
  | 'reset'
  | 'resource-constraint'
  | 'restricted-xml'
  | 'see-other-host'
  | 'system-shutdown'
  | 'undefined-condition'
  | 'unsupported-encoding'
  | 'unsupported-feature'
  | 'unsupported-stanza-type'
  | 'unsupported-version';

export type StanzaErrorCondition =
  | 'bad-request'
  | 'conflict'
  | 'feature-not-implemented'
  | 'forbidden'
  | 'gone'
  | 'internal-server-error'
  | 'item-not-found'
  | 'jid-malformed'
  | 'not-acceptable'
  | 'not-allowed'
  | 'not-authorized'
  | 'policy-violation'
  | 'recipient-unavailable'
  | 'redirect'
  | 'registration-required'
  | 'remote-server-not-found'
  | 'remote-server-timeout'
  | 'resource-constraint'
  | 'service-unavailable'
  | 'subscription-required'
  | 'undefined-condition'
  | 'unexpected-request';

export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

export type SaslFailureCondition =
  | 'aborted'
  | 'account-disabled'
  | 'credentials-expired'
  | 'encryption-required'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'mechanism-too-weak'
  | 'not-authorized'
  | 'temporary-auth-failure';

/** RFC 6120 §8.3.3: the error type each condition usually carries. */
const DEFAULT_STANZA_ERROR_TYPE: Record<StanzaErrorCondition, StanzaErrorType> = {
  'bad-request': 'modify',
  conflict: 'cancel',
  'feature-not-implemented': 'cancel',
  forbidden: 'auth',
  gone: 'cancel',
  'internal-server-error': 'cancel',
  'item-not-found': 'cancel',
  'jid-malformed': 'modify',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'not-authorized': 'auth',
  'policy-violation': 'modify',
  'recipient-unavailable': 'wait',
  redirect: 'modify',
  'registration-required': 'auth',
  'remote-server-not-found': 'cancel',
  'remote-server-timeout': 'wait',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
  'subscription-required': 'auth',
  'undefined-condition': 'cancel',
  'unexpected-request': 'wait',
};

/** A stanza-level error: thrown by handlers, turned into an error reply by the router. */
export class StanzaError extends Error {
  readonly condition: StanzaErrorCondition;
  readonly type: StanzaErrorType;
  readonly text?: string;
  /** RFC 6120 §8.3.2: an application-specific condition, e.g. XEP-0060 precondition-not-met. */
  readonly applicationCondition?: Element;

  constructor(condition: StanzaErrorCondition, text?: string, type?: StanzaErrorType, applicationCondition?: Element) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = 'StanzaError';
    this.condition = condition;
    this.type = type ?? DEFAULT_STANZA_ERROR_TYPE[condition];
    this.text = text;
    this.applicationCondition = applicationCondition;
  }

  /** The `<error/>` child of an error stanza (RFC 6120 §8.3.2). */
  toElement(by?: string): Element {
    const error = new Element('error', by ? { type: this.type, by } : { type: this.type });
    error.c(this.condition, { xmlns: NS_STANZA_ERRORS });
    if (this.text) {
      error.c('text', { xmlns: NS_STANZA_ERRORS, 'xml:lang': 'en' }).t(this.text);
    }
    if (this.applicationCondition) error.cnode(clone(this.applicationCondition));
    return error;
  }
}

/** A stream-level error: closes the stream (RFC 6120 §4.9). */
export class StreamError extends Error {
  readonly condition: StreamErrorCondition;
  readonly text?: string;
  /** RFC 6120 §4.9.4: an application-specific condition, e.g. XEP-0198 handled-count-too-high. */
  readonly applicationCondition?: Element;

  constructor(condition: StreamErrorCondition, text?: string, applicationCondition?: Element) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = 'StreamError';
    this.condition = condition;
    this.text = text;
    this.applicationCondition = applicationCondition;
  }

  toElement(): Element {
    const error = new Element('stream:error');
    error.c(this.condition, { xmlns: NS_STREAM_ERRORS });
    if (this.text) {
      error.c('text', { xmlns: NS_STREAM_ERRORS, 'xml:lang': 'en' }).t(this.text);
    }
    if (this.applicationCondition) error.cnode(this.applicationCondition);
    return error;
  }
}

/** A SASL failure (RFC 6120 §6.5): the stream stays open and the client may retry. */
export class SaslFailure extends Error {
  readonly condition: SaslFailureCondition;
  readonly text?: string;

  constructor(condition: SaslFailureCondition, text?: string) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = 'SaslFailure';
    this.condition = condition;
    this.text = text;
  }

  toElement(): Element {
    const failure = new Element('failure', { xmlns: NS_SASL });
    failure.c(this.condition);
    if (this.text) {
      failure.c('text', { 'xml:lang': 'en' }).t(this.text);
    }
    return failure;
  }
}
