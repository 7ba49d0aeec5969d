// XEP-0157: Contact Addresses for XMPP Services, version 1.1.1 — config.contactAddresses as a XEP-0128 form in the server's disco#info.
import { Element } from 'ltx';
import type { Config } from '../config.js';
import { defineModule } from '../core/module.js';
import { NS_DATA } from '../core/namespaces.js';

export const SERVERINFO_FORM_TYPE = 'http://jabber.org/network/serverinfo';

/** The config keys, in the order of the fields XEP-0157 §7 registers (`<key>-addresses`). */
const ROLES = ['abuse', 'admin', 'feedback', 'sales', 'security', 'status', 'support'] as const;

/** The serverinfo form, or null when no address is configured. */
export function serverInfoForm(addresses: Config['contactAddresses']): Element | null {
  if (ROLES.every((role) => addresses[role].length === 0)) return null;
  const form = new Element('x', { xmlns: NS_DATA, type: 'result' });
  form.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(SERVERINFO_FORM_TYPE);
  for (const role of ROLES) {
    const values = addresses[role];
    if (values.length === 0) continue;
    const field = form.c('field', { var: `${role}-addresses`, type: 'list-multi' });
    for (const uri of values) field.c('value').t(uri);
  }
  return form;
}

export const contactAddressesModule = defineModule({
  name: 'contact-addresses',
  implements: 'XEP-0157 Contact Addresses for XMPP Services 1.1.1 (XEP-0128 Service Discovery Extensions 1.0.1)',
  setup(ctx) {
    const form = serverInfoForm(ctx.config.contactAddresses);
    if (form) ctx.disco.addHostExtension(form);
  },
});
