// Stream features modules announce after authentication (RFC 6120 §4.3.2), such as roster
// versioning (RFC 6121 §2.6.1) and subscription pre-approval (RFC 6121 §3.4.1).
import type { Element } from 'ltx';

export class StreamFeatures {
  private readonly authenticated: Array<Element | (() => Element)> = [];

  /**
   * Announced in the features after SASL, beside resource binding. A function is asked each
   * time (a feature that depends on what every module registered: XEP-0115 caps).
   */
  addAuthenticated(feature: Element | (() => Element)): void {
    this.authenticated.push(feature);
  }

  get afterAuthentication(): readonly Element[] {
    return this.authenticated.map((feature) => (typeof feature === 'function' ? feature() : feature));
  }
}
