// XEP-0115 Entity Capabilities 1.6 §5: the verification string of a disco#info result and
// its hash, and the <c/> element a presence carries.
import { createHash } from 'node:crypto';
import type { Element } from 'ltx';
import { NS_DISCO_INFO } from './disco-registry.js';
import { NS_DATA } from './namespaces.js';

export const NS_CAPS = 'http://jabber.org/protocol/caps';

/** The hash functions Hearth verifies (IANA names, §5.1). */
const HASHES: Readonly<Record<string, string>> = { 'sha-1': 'sha1', 'sha-256': 'sha256', 'sha-512': 'sha512' };

/** What a presence's <c/> claims: the entity's features hash to `ver` with `hash`. */
export interface CapsClaim {
  readonly hash: string;
  readonly node: string;
  readonly ver: string;
}

/** One key per (hash function, verification string): the same features for every entity claiming it. */
export function capsKey(claim: CapsClaim): string {
  return `${claim.hash}:${claim.ver}`;
}

/**
 * The <c/> of a presence, when it names a hash Hearth can verify. Legacy caps (no 'hash',
 * §1.3) cannot be verified and are not trusted.
 */
export function capsClaimOf(presence: Element): CapsClaim | null {
  const c = presence.getChild('c', NS_CAPS);
  if (!c) return null;
  const { hash, node, ver } = c.attrs as Record<string, unknown>;
  if (typeof hash !== 'string' || typeof node !== 'string' || typeof ver !== 'string') return null;
  if (!(hash in HASHES) || ver === '' || ver.length > 200 || node.length > 1024) return null;
  return { hash, node, ver };
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * §5.1: the verification string of a disco#info <query/>, or null when the result is
 * ill-formed in a way §5.4 says makes it unusable (duplicate identities, features or form
 * types; a FORM_TYPE with several values). Forms whose FORM_TYPE is missing or not hidden
 * are left out, as §5.4 says.
 */
export function verificationString(query: Element): string | null {
  if (query.name !== 'query' || query.attrs.xmlns !== NS_DISCO_INFO) return null;
  const identities: string[] = [];
  for (const identity of query.getChildren('identity')) {
    const a = identity.attrs as Record<string, string | undefined>;
    identities.push(`${a.category ?? ''}/${a.type ?? ''}/${a['xml:lang'] ?? ''}/${a.name ?? ''}`);
  }
  const features = query.getChildren('feature').map((f) => String(f.attrs.var ?? ''));
  if (new Set(identities).size !== identities.length || new Set(features).size !== features.length) return null;

  const forms: { formType: string; text: string }[] = [];
  for (const x of query.getChildren('x', NS_DATA)) {
    const fields = x.getChildren('field');
    const formTypeField = fields.find((f) => f.attrs.var === 'FORM_TYPE');
    if (!formTypeField) continue;
    const formTypeValues = formTypeField.getChildren('value');
    if (formTypeValues.length !== 1) return null;
    if (formTypeField.attrs.type !== 'hidden') continue;
    const formType = formTypeValues[0]!.getText();
    let text = `${formType}<`;
    const others = fields.filter((f) => f !== formTypeField).map((f) => ({ name: String(f.attrs.var ?? ''), values: f.getChildren('value').map((v) => v.getText()).sort(byCodeUnits) }));
    others.sort((a, b) => byCodeUnits(a.name, b.name));
    for (const field of others) {
      text += `${field.name}<`;
      for (const value of field.values) text += `${value}<`;
    }
    forms.push({ formType, text });
  }
  if (new Set(forms.map((f) => f.formType)).size !== forms.length) return null;

  let s = '';
  for (const identity of identities.sort(byCodeUnits)) s += `${identity}<`;
  for (const feature of features.sort(byCodeUnits)) s += `${feature}<`;
  for (const form of forms.sort((a, b) => byCodeUnits(a.formType, b.formType))) s += form.text;
  return s;
}

/** §5.1 step 8: base64 of the hash of the verification string's UTF-8 bytes. */
export function capsHash(hash: string, verification: string): string | null {
  const algorithm = HASHES[hash];
  return algorithm ? createHash(algorithm).update(verification, 'utf8').digest('base64') : null;
}

/** §5.4: the result hashes to what the claim says. */
export function verifiesClaim(claim: CapsClaim, query: Element): boolean {
  const s = verificationString(query);
  return s !== null && capsHash(claim.hash, s) === claim.ver;
}

/** The features of a disco#info result (no duplicates: it verified). */
export function featuresOf(query: Element): string[] {
  return query.getChildren('feature').map((f) => String(f.attrs.var));
}
