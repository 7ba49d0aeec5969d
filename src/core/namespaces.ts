// XML namespaces of payloads that several modules look at in the same messages (hints,
// chat states, receipts, forwarding, delay, stanza ids, data forms, group chat).
export const NS_DELAY = 'urn:xmpp:delay'; // XEP-0203
export const NS_HINTS = 'urn:xmpp:hints'; // XEP-0334
export const NS_CHAT_STATES = 'http://jabber.org/protocol/chatstates'; // XEP-0085
export const NS_RECEIPTS = 'urn:xmpp:receipts'; // XEP-0184
export const NS_FORWARD = 'urn:xmpp:forward:0'; // XEP-0297
export const NS_CARBONS = 'urn:xmpp:carbons:2'; // XEP-0280
export const NS_SID = 'urn:xmpp:sid:0'; // XEP-0359
export const NS_DATA = 'jabber:x:data'; // XEP-0004
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user'; // XEP-0045
