// Stream features modules announce after authentication (RFC 6120 §4.3.2), such as roster
// versioning (RFC 6121 §2.6.1) and subscription pre-approval (RFC 6121 §3.4.1).
import type { Element } from 'ltx';

export class StreamFeatures {
  private readonly authenticated: Element[] = [];

  /** Announced in the features after SASL, beside resource binding. */
  addAuthenticated(feature: Element): void {
    this.authenticated.push(feature);
  }

  get afterAuthentication(): readonly Element[] {
    return this.authenticated;
  }
}
