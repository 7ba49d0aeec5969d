import { expect } from 'chai';
import { parseStanza } from '../../src/xml/parse-stanza.js';
import { worthStoring } from '../../src/modules/offline.js';

const message = (inner: string) => parseStanza(`<message type="chat">${inner}</message>`)!;

describe('offline: which messages are worth storing (XEP-0160 §3, XEP-0334)', function () {
  it('stores messages with something to read', function () {
    expect(worthStoring(message('<body>hi</body>'))).to.equal(true);
    expect(worthStoring(message('<subject>s</subject>'))).to.equal(true);
    expect(worthStoring(message('<encrypted xmlns="eu.siacs.conversations.axolotl"/>'))).to.equal(true);
  });
  it('skips chat states alone, and honours no-store hints', function () {
    expect(worthStoring(message('<composing xmlns="http://jabber.org/protocol/chatstates"/>'))).to.equal(false);
    expect(worthStoring(message('<body>x</body><no-store xmlns="urn:xmpp:hints"/>'))).to.equal(false);
    expect(worthStoring(message('<body>x</body><no-permanent-store xmlns="urn:xmpp:hints"/>'))).to.equal(false);
    expect(worthStoring(message('<store xmlns="urn:xmpp:hints"/><active xmlns="http://jabber.org/protocol/chatstates"/>'))).to.equal(true);
    expect(worthStoring(message(''))).to.equal(false);
  });
});
