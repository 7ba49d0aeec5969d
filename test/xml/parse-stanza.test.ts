import { expect } from 'chai';
import { parseStanza, StanzaReader } from '../../src/xml/parse-stanza.js';

describe('parseStanza (stored stanzas)', function () {
  it('round-trips a stored message with namespaces, entities and unicode', function () {
    const xml = `<message from="a@x.example/r" to="b@x.example" type="chat" id="m1"><body>5 &lt; 6 &amp; café 🎉</body><delay xmlns="urn:xmpp:delay" from="x.example" stamp="2026-01-01T00:00:00.000Z"/></message>`;
    const el = parseStanza(xml)!;
    expect(el.name).to.equal('message');
    expect(el.attrs.xmlns).to.equal(undefined);
    expect(el.getChildText('body')).to.equal('5 < 6 & café 🎉');
    expect(el.getChild('delay', 'urn:xmpp:delay')!.attrs.stamp).to.equal('2026-01-01T00:00:00.000Z');
    expect(el.toString()).to.equal(xml);
  });

  it('refuses anything but exactly one well-formed element', function () {
    expect(parseStanza('<a/><b/>')).to.equal(null);
    expect(parseStanza('<a>')).to.equal(null);
    expect(parseStanza('<!DOCTYPE x><a/>')).to.equal(null);
    expect(parseStanza('')).to.equal(null);
  });

  it('keeps __proto__ an ordinary attribute', function () {
    const el = parseStanza(`<message __proto__="p"><body>x</body></message>`)!;
    expect(el.attrs.__proto__).to.equal('p');
    expect(({} as Record<string, unknown>).p).to.equal(undefined);
  });
});

describe('StanzaReader (stanzas of other cluster nodes, one tokenizer for all)', function () {
  it('reads stanza after stanza, each with its own namespaces', function () {
    const reader = new StanzaReader();
    const first = reader.read(`<message to="b@x.example" id="1"><body>one</body></message>`)!;
    const second = reader.read(`<iq type="get" id="2"><ping xmlns="urn:xmpp:ping"/></iq>`)!;
    expect(first.getChildText('body')).to.equal('one');
    expect(second.name).to.equal('iq');
    expect(second.getChild('ping', 'urn:xmpp:ping')).to.not.equal(undefined);
    expect(second.attrs.xmlns).to.equal(undefined);
  });

  it('refuses what is not exactly one whole element and reads the next one fine', function () {
    const reader = new StanzaReader();
    expect(reader.read('<message><body>cut')).to.equal(null);
    expect(reader.read('<a/><b/>')).to.equal(null);
    expect(reader.read('</stream:stream>')).to.equal(null);
    expect(reader.read('not xml <')).to.equal(null);
    expect(reader.read(`<message id="after"/>`)!.attrs.id).to.equal('after');
  });
});
