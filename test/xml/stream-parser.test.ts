import { expect } from 'chai';
import {
  DEFAULT_LIMITS,
  HEADER,
  NS_STREAMS,
  expectBodyError,
  expectError,
  feed,
  harness,
  parse,
  stanza,
  stanzas,
  summarize,
  toBuf,
} from './helpers.js';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);
const cat = (...parts: (string | Buffer)[]): Buffer => Buffer.concat(parts.map(toBuf));

describe('XmlStreamParser', () => {
  describe('UTF-8 input', () => {
    it('decodes multi-byte characters split across writes (text, attribute values, names)', () => {
      const xml = "<message id='é日本🎉'><café 日本='🎉x'>é日本🎉 mixed ünïcödé</café></message>";
      const el = stanza(xml); // stanza() also checks that byte-by-byte feeding gives the same result
      expect(el.attrs.id).to.equal('é日本🎉');
      const child = el.getChild('café');
      expect(child).to.not.equal(undefined);
      expect(child!.attrs['日本']).to.equal('🎉x');
      expect(child!.getText()).to.equal('é日本🎉 mixed ünïcödé');
    });

    it('keeps a character intact when each of its bytes comes in a separate write', () => {
      const h = harness();
      feed(h, HEADER + '<m>');
      for (const byte of Buffer.from('🎉')) h.parser.write(b(byte));
      feed(h, '</m>');
      const el = h.events.find((e) => e.type === 'element');
      expect(el && el.type === 'element' && el.el.getText()).to.equal('🎉');
    });

    it('accepts the extremes of the allowed ranges (TAB, LF, U+E000, U+FFFD, U+10000, U+10FFFF)', () => {
      const el = stanza(cat('<m>', b(0x09, 0x0a), b(0xee, 0x80, 0x80), b(0xef, 0xbf, 0xbd), b(0xf0, 0x90, 0x80, 0x80), b(0xf4, 0x8f, 0xbf, 0xbf), '</m>'));
      expect(el.getText()).to.equal('\t\n\u{E000}\u{FFFD}\u{10000}\u{10FFFF}');
    });

    const invalid: [string, Buffer][] = [
      ['overlong 2-byte (C0 AF)', b(0xc0, 0xaf)],
      ['overlong 2-byte (C1 BF)', b(0xc1, 0xbf)],
      ['overlong 3-byte (E0 80 AF)', b(0xe0, 0x80, 0xaf)],
      ['overlong 4-byte (F0 80 80 AF)', b(0xf0, 0x80, 0x80, 0xaf)],
      ['UTF-8 encoded surrogate (ED A0 80)', b(0xed, 0xa0, 0x80)],
      ['UTF-8 encoded low surrogate (ED BF BF)', b(0xed, 0xbf, 0xbf)],
      ['code point above U+10FFFF (F4 90 80 80)', b(0xf4, 0x90, 0x80, 0x80)],
      ['byte F5', b(0xf5, 0x80, 0x80, 0x80)],
      ['byte FF', b(0xff)],
      ['stray continuation byte', b(0x80)],
      ['truncated 3-byte sequence followed by ASCII', b(0xe6, 0x97, 0x41)],
      ['truncated 2-byte sequence followed by <', b(0xc3)],
      ['truncated 4-byte sequence followed by a new lead byte', b(0xf0, 0x9f, 0x8e, 0xc3, 0xa9)],
    ];
    for (const [what, bytes] of invalid) {
      it(`rejects ${what} in text with not-well-formed`, () => {
        expectBodyError(cat('<m>', bytes, '</m>'), 'not-well-formed');
      });
    }
    it('rejects invalid UTF-8 in attribute values, element names and attribute names', () => {
      expectBodyError(cat("<m a='", b(0xc0, 0xaf), "'/>"), 'not-well-formed');
      expectBodyError(cat('<m', b(0xed, 0xa0, 0x80), '/>'), 'not-well-formed');
      expectBodyError(cat('<m a', b(0xff), "='1'/>"), 'not-well-formed');
      expectBodyError(cat('</m', b(0xe6, 0x41), '>'), 'not-well-formed');
    });
    it('rejects invalid UTF-8 in the stream header', () => {
      expectError(cat("<stream:stream xmlns:stream='", b(0xf8), "'>"), 'not-well-formed');
    });
    it('waits for the rest of a character at the end of a write', () => {
      const h = harness();
      feed(h, cat(HEADER, '<m>', b(0xe6, 0x97)));
      expect(h.events.filter((e) => e.type === 'error')).to.deep.equal([]);
      h.parser.write(b(0x41)); // not a continuation byte
      expect(summarize(h.events).pop()).to.equal('error not-well-formed');
    });

    const forbidden: [string, Buffer][] = [
      ['U+0000', b(0x00)],
      ['U+0001', b(0x01)],
      ['U+0008', b(0x08)],
      ['U+000B', b(0x0b)],
      ['U+000C', b(0x0c)],
      ['U+000E', b(0x0e)],
      ['U+001F', b(0x1f)],
      ['U+FFFE', b(0xef, 0xbf, 0xbe)],
      ['U+FFFF', b(0xef, 0xbf, 0xbf)],
    ];
    for (const [what, bytes] of forbidden) {
      it(`rejects ${what} in text and in attribute values with not-well-formed`, () => {
        expectBodyError(cat('<m>', bytes, '</m>'), 'not-well-formed');
        expectBodyError(cat("<m a='x", bytes, "'/>"), 'not-well-formed');
      });
    }
    it('rejects control characters between stanzas, in tags and in the prolog', () => {
      expectBodyError(b(0x00), 'not-well-formed');
      expectBodyError(cat('<m', b(0x0c), '/>'), 'not-well-formed');
      expectError(cat(b(0x01), HEADER), 'not-well-formed');
    });
  });

  describe('XML declaration, processing instructions, comments, DTDs, CDATA', () => {
    for (const decl of [
      "<?xml version='1.0'?>",
      '<?xml version="1.0"?>',
      "<?xml version='1.0' encoding='UTF-8'?>",
      '<?xml version="1.0" encoding="utf-8" standalone="yes"?>',
      "<?xml version = '1.0'  encoding = 'UTF-8'  standalone = 'no' ?>",
    ]) {
      it(`accepts ${decl} at the start of the stream`, () => {
        const events = parse(decl + '\n' + HEADER + '<m/>');
        expect(summarize(events).map((s) => s.split(' ')[0])).to.deep.equal(['start', 'element']);
      });
    }
    it('accepts a leading UTF-8 byte order mark', () => {
      const events = parse(cat(b(0xef, 0xbb, 0xbf), "<?xml version='1.0'?>", HEADER), {}, 1);
      expect(events.map((e) => e.type)).to.deep.equal(['start']);
    });
    it('rejects a declared encoding other than UTF-8 with unsupported-encoding', () => {
      expectError("<?xml version='1.0' encoding='ISO-8859-1'?>" + HEADER, 'unsupported-encoding');
      expectError('<?xml version="1.0" encoding="UTF-16"?>' + HEADER, 'unsupported-encoding');
    });
    it('rejects a malformed XML declaration with not-well-formed', () => {
      expectError('<?xml?>' + HEADER, 'not-well-formed');
      expectError("<?xml encoding='UTF-8'?>" + HEADER, 'not-well-formed');
      expectError("<?xml version='2.0'?>" + HEADER, 'not-well-formed');
      expectError("<?xml version='1.0' standalone='maybe'?>" + HEADER, 'not-well-formed');
    });
    it('rejects an XML declaration that is not at the very start with restricted-xml', () => {
      expectError(" <?xml version='1.0'?>" + HEADER, 'restricted-xml');
      expectError("<?xml version='1.0'?><?xml version='1.0'?>" + HEADER, 'restricted-xml');
      expectBodyError("<?xml version='1.0'?>", 'restricted-xml');
    });
    it('rejects processing instructions anywhere with restricted-xml', () => {
      expectError("<?xml-stylesheet href='a'?>" + HEADER, 'restricted-xml');
      expectError('<?foo bar?>' + HEADER, 'restricted-xml');
      expectBodyError('<?foo bar?>', 'restricted-xml');
      expectBodyError('<m><?foo bar?></m>', 'restricted-xml');
    });
    it('rejects comments anywhere with restricted-xml', () => {
      expectError('<!-- hi -->' + HEADER, 'restricted-xml');
      expectBodyError('<!-- keepalive -->', 'restricted-xml');
      expectBodyError('<m><!-- x --></m>', 'restricted-xml');
    });
    it('rejects DOCTYPE, ENTITY and other markup declarations with restricted-xml', () => {
      expectError('<!DOCTYPE stream [<!ENTITY lol "lol">]>' + HEADER, 'restricted-xml');
      expectBodyError('<!ENTITY x "y">', 'restricted-xml');
      expectBodyError('<m><!DOCTYPE m></m>', 'restricted-xml');
      expectBodyError('<m><!ATTLIST m a CDATA #IMPLIED></m>', 'restricted-xml');
    });
    it('supports CDATA sections inside stanzas as character data (RFC 6120 §11.1 does not forbid them)', () => {
      const el = stanza('<m><body>a<![CDATA[<b>&amp; ]] ]>]]]]>z</body></m>');
      expect(el.getChildText('body')).to.equal('a<b>&amp; ]] ]>]]z');
      expect(stanza('<m><![CDATA[]]></m>').children).to.deep.equal([]);
      expect(stanza('<m>x<![CDATA[y]]><c/>w</m>').children[0]).to.equal('xy');
    });
    it('rejects CDATA outside stanzas and malformed CDATA openers with not-well-formed', () => {
      expectBodyError('<![CDATA[ ]]>', 'not-well-formed');
      expectError('<![CDATA[x]]>' + HEADER, 'not-well-formed');
      expectBodyError('<m><![CDATX[x]]></m>', 'not-well-formed');
      expectBodyError("<m><![CDATA[\u0001]]></m>", 'not-well-formed');
    });
  });

  describe('entities and character references', () => {
    it('decodes the five predefined entities in text and attribute values', () => {
      const el = stanza(`<m a='&lt;&gt;&amp;&quot;&apos;'>&lt;&gt;&amp;&quot;&apos;</m>`);
      expect(el.attrs.a).to.equal(`<>&"'`);
      expect(el.getText()).to.equal(`<>&"'`);
    });
    it('decodes decimal and hexadecimal character references, including astral and zero-padded ones', () => {
      const el = stanza(`<m a='&#65;&#x42;&#x1F389;'>&#233;&#x65E5;&#x1f389;&#0000065;&#x0000000041;</m>`);
      expect(el.attrs.a).to.equal('AB🎉');
      expect(el.getText()).to.equal('é日🎉AA');
    });
    const bad = [
      '&nbsp;',
      '&foo;',
      '&#0;',
      '&#x0;',
      '&#x1;',
      '&#8;',
      '&#xB;',
      '&#xFFFE;',
      '&#xFFFF;',
      '&#xD800;',
      '&#xDFFF;',
      '&#x110000;',
      '&#99999999999;',
      '&#;',
      '&#x;',
      '&#X41;',
      '&#12a;',
      '&#xZZ;',
      '&;',
      '&amp',
      '& ',
      '&',
      '&am p;',
      '&#x1F389',
      '&' + 'a'.repeat(40) + ';',
    ];
    for (const ref of bad) {
      it(`rejects ${JSON.stringify(ref)} in text and attribute values with not-well-formed`, () => {
        expectBodyError(`<m>${ref}</m>`, 'not-well-formed');
        expectBodyError(`<m a='${ref}'/>`, 'not-well-formed');
      });
    }
    it('rejects a bare < in attribute values with not-well-formed', () => {
      expectBodyError("<m a='<'/>", 'not-well-formed');
      expectBodyError('<m a="x<y"/>', 'not-well-formed');
    });
    it('requires quoted attribute values and accepts both quote styles', () => {
      expectBodyError('<m a=1/>', 'not-well-formed');
      expectBodyError('<m a=/>', 'not-well-formed');
      const el = stanza(`<m a='say "hi"' b="it's" c = 'spaced' />`);
      expect(el.attrs.a).to.equal('say "hi"');
      expect(el.attrs.b).to.equal("it's");
      expect(el.attrs.c).to.equal('spaced');
    });
    it('normalises TAB, LF and CR in attribute values to spaces, but keeps character references', () => {
      const el = stanza("<m a='x\ty\nz\r\nw' b='&#10;&#9;'/>");
      expect(el.attrs.a).to.equal('x y z w');
      expect(el.attrs.b).to.equal('\n\t');
    });
    it('normalises CR and CRLF line ends in text to LF', () => {
      expect(stanza('<m>a\r\nb\rc&#13;</m>').getText()).to.equal('a\nb\nc\r');
    });
    it("accepts '>' in text but rejects ']]>'", () => {
      expect(stanza('<m>a > b ]] > ]&gt;</m>').getText()).to.equal('a > b ]] > ]>');
      expectBodyError('<m>x]]>y</m>', 'not-well-formed');
    });
  });

  describe('well-formedness', () => {
    it('rejects mismatched end tags', () => {
      expectBodyError('<a><b></a></b>', 'not-well-formed');
      expectBodyError('<a></A>', 'not-well-formed');
      expectBodyError('<p:a xmlns:p="u"></a>', 'not-well-formed');
      expectBodyError('<a></a b>', 'not-well-formed');
    });
    it('accepts white space before > in end tags', () => {
      expect(stanza('<a><b></b \n></a\t>').toString()).to.equal('<a xmlns="jabber:client"><b/></a>');
    });
    it('rejects an end tag with no open element', () => {
      expectError('</stream:stream>', 'not-well-formed');
      expectError('</x>' + HEADER, 'not-well-formed');
    });
    it('rejects a wrong closing tag for the stream root', () => {
      expectBodyError('</stream>', 'not-well-formed');
      expectBodyError('</stream:features>', 'not-well-formed');
    });
    it('rejects duplicate attributes (same qualified name, or same namespace + local name)', () => {
      expectBodyError("<m a='1' a='2'/>", 'not-well-formed');
      expectBodyError("<m id='1' to='x' type='t' from='f' b='b' c='c' d='d' e='e' id='2'/>", 'not-well-formed');
      expectBodyError("<m xmlns:p='u' xmlns:q='u' p:a='1' q:a='2'/>", 'not-well-formed');
      expectBodyError("<m xmlns='a' xmlns='b'/>", 'not-well-formed');
      // same local name in different namespaces is fine
      expect(stanza("<m xmlns:p='u' xmlns:q='v' p:a='1' q:a='2' a='3'/>").attrs['q:a']).to.equal('2');
    });
    it('rejects attributes without a value', () => {
      expectBodyError('<m a/>', 'not-well-formed');
      expectBodyError('<m a>', 'not-well-formed');
      expectBodyError('<m a b="1"/>', 'not-well-formed');
    });
    it('requires white space between attributes', () => {
      expectBodyError(`<m a='1'b='2'/>`, 'not-well-formed');
    });
    const badNames = ['<1a/>', '<-a/>', '<.a/>', '<:a/>', '<a:/>', '<a:b:c/>', '<a:1b xmlns:a="u"/>', '<a b:="1"/>', "<a :b='1'/>", '<a·/>'.replace('a', '\u00B7'), '<a\u00D7/>', '<a!/>', '< a/>', "<a 1b='x'/>"];
    for (const x of badNames) {
      it(`rejects the invalid name in ${JSON.stringify(x)}`, () => {
        expectBodyError(x, 'not-well-formed');
      });
    }
    it('accepts XML names with non-ASCII characters, digits, dots, dashes and underscores', () => {
      const el = stanza("<_x.y-z9 é·x='1'><日本/><ünï:cödé xmlns:ünï='urn:u'/></_x.y-z9>");
      expect(el.name).to.equal('_x.y-z9');
      expect(el.attrs['é·x']).to.equal('1');
      expect(el.getChild('cödé', 'urn:u')).to.not.equal(undefined);
    });
    it('rejects non-white-space text between stanzas', () => {
      expectBodyError('hello', 'not-well-formed');
      expectBodyError('<m/> x <m/>', 'not-well-formed');
      expectBodyError('&amp;', 'not-well-formed');
      expectBodyError('&#32;', 'not-well-formed');
    });
    it('accepts white space between stanzas (keepalives) without producing events', () => {
      const h = harness();
      feed(h, HEADER + ' \n\t\r ');
      feed(h, '   ');
      feed(h, '<m/>\n \n');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element']);
    });
    it('rejects garbage inside tags', () => {
      expectBodyError('<m =/>', 'not-well-formed');
      expectBodyError('<m/ >', 'not-well-formed');
      expectBodyError('<m a="1"x/>', 'not-well-formed');
      expectBodyError('<m><>', 'not-well-formed');
      expectBodyError('<m></>', 'not-well-formed');
    });
    it('ignores everything after </stream:stream>', () => {
      const h = harness();
      feed(h, cat(HEADER, '<m/></stream:stream>garbage<<&', b(0xff, 0x00), "<?pi?><!-- -->"));
      h.parser.write(Buffer.from('more garbage <x>'));
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'end']);
    });
  });

  describe('prototype-safe attributes', () => {
    it('stores __proto__, constructor, hasOwnProperty and toString as ordinary attributes', () => {
      const el = stanza("<m __proto__='x' constructor='c' hasOwnProperty='h' toString='t' valueOf='v'><c __proto__='y'/></m>");
      expect(Object.getPrototypeOf(el.attrs)).to.equal(null);
      expect(Object.prototype.hasOwnProperty.call(el.attrs, '__proto__')).to.equal(true);
      expect(el.attrs.__proto__).to.equal('x');
      expect(typeof el.attrs.__proto__).to.equal('string');
      expect(el.attrs.constructor).to.equal('c');
      expect(el.attrs.hasOwnProperty).to.equal('h');
      expect(el.attrs.toString).to.equal('t');
      expect(el.getChild('c')!.attrs.__proto__).to.equal('y');
      expect(el.toString()).to.equal(
        '<m xmlns="jabber:client" __proto__="x" constructor="c" hasOwnProperty="h" toString="t" valueOf="v"><c __proto__="y"/></m>',
      );
      // Object.prototype is untouched.
      expect(({} as Record<string, unknown>).x).to.equal(undefined);
      expect(Object.prototype.toString).to.be.a('function');
      expect(Object.prototype.hasOwnProperty).to.be.a('function');
      expect(Object.keys(Object.prototype)).to.deep.equal([]);
    });
    it('keeps stream header attributes in a null-prototype object too', () => {
      const events = parse("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' __proto__='p' toString='s'>");
      const start = events[0];
      expect(start.type).to.equal('start');
      if (start.type !== 'start') return;
      expect(Object.getPrototypeOf(start.header.attrs)).to.equal(null);
      expect(start.header.attrs.__proto__).to.equal('p');
      expect(start.header.attrs.toString).to.equal('s');
    });
  });

  describe('namespaces', () => {
    it('gives top-level stanzas the default namespace inherited from the stream header', () => {
      const el = stanza("<message to='a@b'><body>x</body></message>");
      expect(el.name).to.equal('message');
      expect(el.attrs.xmlns).to.equal('jabber:client');
      expect(el.getNS()).to.equal('jabber:client');
      expect(el.getChild('body')!.attrs.xmlns).to.equal(undefined); // same namespace as the parent
      expect(el.getChild('body')!.getNS()).to.equal('jabber:client');
      expect(el.toString()).to.equal('<message xmlns="jabber:client" to="a@b"><body>x</body></message>');
    });
    it('strips prefixes and makes the namespace explicit', () => {
      const el = stanza("<iq type='get' id='r1'><foo:query xmlns:foo='jabber:iq:roster'><foo:item jid='a@b'/></foo:query></iq>");
      const q = el.getChild('query', 'jabber:iq:roster');
      expect(q).to.not.equal(undefined);
      expect(q!.name).to.equal('query');
      expect(q!.attrs.xmlns).to.equal('jabber:iq:roster');
      expect(q!.getChild('item', 'jabber:iq:roster')!.attrs.xmlns).to.equal(undefined);
      expect(q!.toString()).to.equal('<query xmlns="jabber:iq:roster" xmlns:foo="jabber:iq:roster"><item jid="a@b"/></query>');
    });
    it('resolves prefixed top-level elements (e.g. jabber:client as a prefix)', () => {
      const el = stanza("<c:message xmlns:c='jabber:client' to='x'/>");
      expect(el.name).to.equal('message');
      expect(el.getNS()).to.equal('jabber:client');
    });
    it('handles default namespace declarations and undeclarations in nested scopes', () => {
      const el = stanza("<m><q xmlns='urn:q'><r/><s xmlns=''/></q><t/></m>");
      const q = el.getChild('q', 'urn:q')!;
      expect(q.getChild('r', 'urn:q')).to.not.equal(undefined);
      expect(q.getChild('s')!.attrs.xmlns).to.equal('');
      expect(el.getChild('t', 'jabber:client')).to.not.equal(undefined);
    });
    it('keeps xml:lang (the predefined xml prefix) as an attribute', () => {
      const el = stanza("<message xml:lang='en'><body xml:lang='de'>x</body></message>");
      expect(el.attrs['xml:lang']).to.equal('en');
      expect(el.getChild('body')!.attrs['xml:lang']).to.equal('de');
      expect(stanza("<m xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>").attrs['xml:lang']).to.equal('en');
    });
    it('keeps xmlns:p declarations so prefixed attributes stay resolvable', () => {
      const el = stanza("<m xmlns:p='urn:p' p:a='1'><c p:b='2'/></m>");
      expect(el.attrs['xmlns:p']).to.equal('urn:p');
      expect(el.attrs['p:a']).to.equal('1');
      expect(el.getChild('c')!.findNS('p')).to.equal('urn:p');
    });
    it('copies a prefix declared on the stream header onto elements whose attributes use it', () => {
      const header = "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'>";
      const events = parse(header + "<db:result from='a' to='b'>key</db:result><message db:x='1'/>");
      const els = events.flatMap((e) => (e.type === 'element' ? [e.el] : []));
      expect(els[0].toString()).to.equal('<result xmlns="jabber:server:dialback" from="a" to="b">key</result>');
      expect(els[1].toString()).to.equal('<message xmlns="jabber:server" db:x="1" xmlns:db="jabber:server:dialback"/>');
    });
    it('resolves <stream:error> and <stream:features> to the streams namespace', () => {
      const els = stanzas(
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>" +
          "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
      );
      expect(els[0].name).to.equal('features');
      expect(els[0].getNS()).to.equal(NS_STREAMS);
      expect(els[0].getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')).to.not.equal(undefined);
      expect(els[1].is('error', NS_STREAMS)).to.equal(true);
    });
    it('rejects undeclared prefixes on elements and attributes inside stanzas with not-well-formed', () => {
      expectBodyError('<foo:m/>', 'not-well-formed');
      expectBodyError("<m foo:a='1'/>", 'not-well-formed');
      expectBodyError("<m><p:a xmlns:p='u'/><p:b/></m>", 'not-well-formed'); // scope ended
    });
    it('rejects an undeclared prefix on the stream header with bad-namespace-prefix', () => {
      expectError("<stream:stream xmlns='jabber:client'>", 'bad-namespace-prefix');
      expectError("<stream xmlns='jabber:client' foo:bar='x'>", 'bad-namespace-prefix');
    });
    it('rejects misuse of the xml and xmlns prefixes and namespaces', () => {
      expectBodyError("<m xmlns:xml='urn:other'/>", 'not-well-formed');
      expectBodyError("<m xmlns:xmlns='urn:x'/>", 'not-well-formed');
      expectBodyError("<m xmlns:p='http://www.w3.org/XML/1998/namespace'/>", 'not-well-formed');
      expectBodyError("<m xmlns:p='http://www.w3.org/2000/xmlns/'/>", 'not-well-formed');
      expectBodyError("<m xmlns='http://www.w3.org/2000/xmlns/'/>", 'not-well-formed');
      expectBodyError("<m xmlns:p=''/>", 'not-well-formed');
      expectBodyError("<xmlns:m xmlns:m='u'/>", 'not-well-formed');
      expectError("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns:xmlns='x'>", 'not-well-formed');
    });
  });

  describe('stream header', () => {
    it('fires streamStart when the start tag is complete, with the header details', () => {
      const h = harness();
      feed(h, "<?xml version='1.0'?>\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'");
      expect(h.events).to.deep.equal([]);
      feed(h, '>');
      expect(h.events).to.have.length(1);
      const e = h.events[0];
      if (e.type !== 'start') throw new Error('expected start');
      expect(e.header.prefix).to.equal('stream');
      expect(e.header.localName).to.equal('stream');
      expect(e.header.namespace).to.equal(NS_STREAMS);
      expect(e.header.defaultNamespace).to.equal('jabber:client');
      expect({ ...e.header.attrs }).to.deep.equal({
        xmlns: 'jabber:client',
        'xmlns:stream': NS_STREAMS,
        to: 'example.com',
        version: '1.0',
        'xml:lang': 'en',
      });
    });
    it('does not validate the header name or namespace (left to the c2s layer)', () => {
      const events = parse("<foo xmlns='urn:bar' version='2'>");
      expect(events).to.have.length(1);
      const e = events[0];
      if (e.type !== 'start') throw new Error('expected start');
      expect(e.header.prefix).to.equal(null);
      expect(e.header.localName).to.equal('foo');
      expect(e.header.namespace).to.equal('urn:bar');
    });
    it('allows white space before the header', () => {
      expect(parse('\n  \r\n\t' + HEADER).map((e) => e.type)).to.deep.equal(['start']);
    });
    it('rejects input that does not start with an optional declaration / white space and <', () => {
      expectError('hello' + HEADER, 'not-well-formed');
      expectError('&amp;' + HEADER, 'not-well-formed');
      expectError('<>', 'not-well-formed');
      expectError('< stream>', 'not-well-formed');
      expectError(cat(b(0xef, 0xbb), 'x'), 'not-well-formed');
    });
    it('treats a self-closed root as stream start followed by stream end', () => {
      const events = parse("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/><m/>");
      expect(events.map((e) => e.type)).to.deep.equal(['start', 'end']);
    });
    it('fires streamEnd on </stream:stream>', () => {
      const events = parse(HEADER + "<m/> </stream:stream >");
      expect(events.map((e) => e.type)).to.deep.equal(['start', 'element', 'end']);
    });
  });

  describe('limits', () => {
    const body = (n: number): string => {
      // A stanza of exactly n bytes: <m>xxx…</m>
      return '<m>' + 'x'.repeat(n - 7) + '</m>';
    };
    it('accepts a stanza of exactly maxStanzaBytes bytes and rejects one byte more with policy-violation', () => {
      expect(HEADER.length).to.be.below(200);
      expect(stanzas(body(200) + body(200), { maxStanzaBytes: 200 })).to.have.length(2);
      expectBodyError(body(201), 'policy-violation', { maxStanzaBytes: 200 });
      expectBodyError(`<m a='${'é'.repeat(110)}'/>`, 'policy-violation', { maxStanzaBytes: 200 });
    });
    it('reports policy-violation as soon as the byte crossing the limit is read', () => {
      const h = harness({ maxStanzaBytes: 1000 });
      feed(h, HEADER);
      const input = Buffer.from("<message to='x'><body>" + 'y'.repeat(5000));
      let fed = 0;
      for (; fed < input.length && h.events.length < 2; fed++) h.parser.write(input.subarray(fed, fed + 1));
      expect(summarize(h.events).pop()).to.equal('error policy-violation');
      expect(fed).to.equal(1001);
    });
    it('does not buffer an oversized unterminated token (attribute value)', () => {
      const h = harness({ maxStanzaBytes: 4096 });
      feed(h, HEADER + "<m a='");
      const chunk = Buffer.alloc(1024, 0x61);
      let writes = 0;
      while (h.events.length < 2 && writes < 100) {
        h.parser.write(chunk);
        writes++;
      }
      expect(summarize(h.events).pop()).to.equal('error policy-violation');
      expect(writes).to.equal(4);
    });
    it('limits the stream header (and XML declaration) to maxStanzaBytes', () => {
      expectError(`<stream:stream xmlns:stream='${NS_STREAMS}' to='${'x'.repeat(200)}'>`, 'policy-violation', { maxStanzaBytes: 150 });
      expectError(`<?xml version='1.0' ${' '.repeat(200)}?>`, 'policy-violation', { maxStanzaBytes: 150 });
      expectError(`<?xml version='1.0'?>${' '.repeat(100)}${HEADER}`, 'policy-violation', { maxStanzaBytes: 150 });
      expect(parse(HEADER, { maxStanzaBytes: HEADER.length }).map((e) => e.type)).to.deep.equal(['start']);
      expectError(HEADER, 'policy-violation', { maxStanzaBytes: HEADER.length - 1 });
    });
    it('does not count white space between stanzas (10 MB of keepalives in well under a second)', function () {
      this.timeout(5000);
      const h = harness({ maxStanzaBytes: 1000 });
      feed(h, HEADER);
      const ws = Buffer.alloc(64 * 1024, 0x20);
      const t0 = performance.now();
      for (let i = 0; i < 160; i++) h.parser.write(ws); // 10 MiB
      h.parser.write(Buffer.alloc(1024 * 1024, 0x0a)); // one more MiB in a single write
      feed(h, '<m/>');
      const ms = performance.now() - t0;
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element']);
      expect(ms).to.be.below(1000);
    });
    it('parses a 200 KB stanza fed one byte per write in well under a second', function () {
      this.timeout(5000);
      const h = harness({ maxStanzaBytes: 1_000_000 });
      feed(h, HEADER);
      const big = Buffer.from(
        `<message a='${'v'.repeat(50_000)}' b='x&amp;y'><body>${'t&lt;'.repeat(20_000)}${'日本'.repeat(10_000)}</body><x>${'z'.repeat(40_000)}</x></message>`,
      );
      expect(big.length).to.be.above(200_000);
      const t0 = performance.now();
      for (let i = 0; i < big.length; i++) h.parser.write(big.subarray(i, i + 1));
      const ms = performance.now() - t0;
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element']);
      const el = (h.events[1] as { el: import('ltx').Element }).el;
      expect(el.attrs.a).to.have.length(50_000);
      expect(el.getChildText('body')).to.equal('t<'.repeat(20_000) + '日本'.repeat(10_000));
      expect(ms).to.be.below(1000);
    });
    it('handles a 1 MB attribute value and a 1 MB text node fed one byte per write', function () {
      this.timeout(10_000);
      const h = harness({ maxStanzaBytes: 3_000_000 });
      feed(h, HEADER);
      const big = Buffer.from(`<m a='${'v'.repeat(1_000_000)}'>${'t'.repeat(1_000_000)}</m>`);
      const t0 = performance.now();
      for (let i = 0; i < big.length; i++) h.parser.write(big.subarray(i, i + 1));
      const ms = performance.now() - t0;
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element']);
      expect(ms).to.be.below(3000);
    });
    it('rejects nesting deeper than maxDepth with policy-violation (the stanza is depth 1)', () => {
      expect(stanza('<a><b><c/></b></a>', { maxDepth: 3 }).toString()).to.equal('<a xmlns="jabber:client"><b><c/></b></a>');
      expectBodyError('<a><b><c><d/></c></b></a>', 'policy-violation', { maxDepth: 3 });
      expect(stanza('<a/>', { maxDepth: 1 }).name).to.equal('a');
      expectBodyError('<a><b/></a>', 'policy-violation', { maxDepth: 1 });
    });
    it('rejects more than maxAttributes attributes with policy-violation', () => {
      // HEADER has 4 attributes, so 4 is the smallest usable limit here.
      expect(Object.keys(stanza("<m a='1' b='2' c='3' d='4'/>", { maxAttributes: 4 }).attrs)).to.have.length(5); // + xmlns
      expectBodyError("<m a='1' b='2' c='3' d='4' e='5'/>", 'policy-violation', { maxAttributes: 4 });
      expectBodyError("<m><c a='1' b='2' c='3' d='4' e='5'/></m>", 'policy-violation', { maxAttributes: 4 });
      expectError(`<stream:stream xmlns:stream='${NS_STREAMS}' a='1' b='2'>`, 'policy-violation', { maxAttributes: 2 });
    });
    it('applies setLimits() immediately, including from inside a callback', () => {
      const h = harness({ maxStanzaBytes: 200 });
      h.on.element = (el) => {
        if (el.name === 'success') h.parser.setLimits({ maxStanzaBytes: 1000 });
      };
      feed(h, HEADER + '<success/>' + body(500));
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'element']);
      h.parser.setLimits({ maxStanzaBytes: 200 });
      feed(h, body(201));
      expect(summarize(h.events).pop()).to.equal('error policy-violation');
    });
    it('ignores invalid values passed to setLimits()', () => {
      const h = harness({ maxStanzaBytes: 200 });
      h.parser.setLimits({ maxStanzaBytes: Number.NaN, maxDepth: -1 });
      feed(h, HEADER + body(200) + '<a><b/></a>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'element']);
      feed(h, body(201));
      expect(summarize(h.events).pop()).to.equal('error policy-violation');
    });
  });

  describe('robustness', () => {
    it('ignores all input after an error until reset()', () => {
      const h = harness();
      feed(h, HEADER + '<m>&bogus;</m><m/>');
      feed(h, '<m/>');
      expect(summarize(h.events)).to.deep.equal([summarize(h.events)[0], 'error not-well-formed']);
      h.parser.reset();
      feed(h, HEADER + '<m/>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'error', 'start', 'element']);
    });
    it('discards the rest of the chunk that contained an error even if the error handler calls reset()', () => {
      const h = harness();
      h.on.error = () => h.parser.reset();
      feed(h, HEADER + '<m>&bogus;</m>' + HEADER + '<m/>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'error']);
      feed(h, HEADER + '<m/>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'error', 'start', 'element']);
    });
    it('end() drops state; later writes are ignored', () => {
      const h = harness();
      feed(h, HEADER + '<m>partial');
      h.parser.end();
      feed(h, '</m><m/>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start']);
    });
    it('never throws for non-Buffer or empty input', () => {
      const h = harness();
      expect(() => h.parser.write(Buffer.alloc(0))).to.not.throw();
      expect(() => h.parser.write(new Uint8Array(Buffer.from(HEADER)) as Buffer)).to.not.throw();
      expect(() => h.parser.write(undefined as unknown as Buffer)).to.not.throw();
      expect(() => h.parser.write(42 as unknown as Buffer)).to.not.throw();
      expect(h.events.map((e) => e.type)).to.deep.equal(['start']);
    });
    it('lets exceptions thrown by event handlers propagate and then ignores input until reset()', () => {
      const h = harness();
      h.on.element = () => {
        throw new Error('handler bug');
      };
      expect(() => feed(h, HEADER + '<m/><m/>')).to.throw('handler bug');
      feed(h, '<m/>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element']);
    });
    it('queues write() calls made from inside a handler after the rest of the current chunk', () => {
      const h = harness();
      h.on.element = (el) => {
        if (el.name === 'a') h.parser.write(Buffer.from('<c/>'));
      };
      feed(h, HEADER + '<a/><b/>');
      expect(h.events.flatMap((e) => (e.type === 'element' ? [e.el.name] : []))).to.deep.equal(['a', 'b', 'c']);
    });
  });

  describe('reset() and pipelining', () => {
    const authHeader = HEADER;
    const pipelined =
      "<?xml version='1.0'?>" +
      authHeader +
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>" +
      "<?xml version='1.0'?>" +
      HEADER.replace("to='example.com'", "to='example.org'") +
      "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>";

    for (const chunk of [Infinity, 1, 5, 64]) {
      it(`parses a restarted stream pipelined after <auth/> (reset() in the element callback, chunk size ${chunk})`, () => {
        const h = harness();
        h.on.element = (el) => {
          if (el.name === 'auth') h.parser.reset();
        };
        feed(h, pipelined, chunk);
        expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'start', 'element']);
        const [, , start2, iq] = h.events;
        if (start2.type !== 'start' || iq.type !== 'element') throw new Error('unexpected events');
        expect(start2.header.attrs.to).to.equal('example.org');
        expect(iq.el.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')!.getChildText('resource')).to.equal('r');
        expect(iq.el.getNS()).to.equal('jabber:client');
      });
    }
    it('forgets partial input and the old stream on reset() outside callbacks', () => {
      const h = harness();
      feed(h, HEADER + '<message><body>unfinished');
      h.parser.reset();
      feed(h, "<?xml version='1.0'?>" + HEADER + '<m/>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'start', 'element']);
    });
    it('stops parsing the current chunk when end() is called from a callback', () => {
      const h = harness();
      h.on.element = () => h.parser.end();
      feed(h, HEADER + '<a/><b/>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element']);
    });
    it('supports reset() from the streamStart and streamEnd callbacks', () => {
      const h = harness();
      let n = 0;
      h.on.streamStart = () => {
        if (n++ === 0) h.parser.reset();
      };
      h.on.streamEnd = () => h.parser.reset();
      feed(h, HEADER + HEADER + '<m/></stream:stream>' + HEADER);
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'start', 'element', 'end', 'start']);
    });
    it('pause() in a handler holds the rest of the chunk and later writes until resume()', () => {
      const h = harness();
      h.on.element = (el) => {
        if (el.name === 'a') h.parser.pause();
      };
      feed(h, HEADER + '<a/><b/>');
      feed(h, '<c/>');
      expect(h.events.flatMap((e) => (e.type === 'element' ? [e.el.name] : []))).to.deep.equal(['a']);
      h.parser.resume();
      expect(h.events.flatMap((e) => (e.type === 'element' ? [e.el.name] : []))).to.deep.equal(['a', 'b', 'c']);
      feed(h, '<d/>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'element', 'element', 'element']);
    });
    for (const chunk of [Infinity, 1, 9]) {
      it(`pause(), then reset() and resume() outside handlers parse pipelined input as the new stream (async SASL, chunk size ${chunk})`, async () => {
        const h = harness();
        h.on.element = (el) => {
          if (el.name !== 'auth') return;
          h.parser.pause();
          // The SASL step completes later; then the stream restarts.
          setImmediate(() => {
            h.parser.reset();
            h.parser.setLimits({ maxStanzaBytes: 50_000 });
            h.parser.resume();
          });
        };
        feed(h, pipelined, chunk);
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
        expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'start', 'element']);
        const iq = h.events[3];
        if (iq.type !== 'element') throw new Error('expected element');
        expect(iq.el.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')!.getChildText('resource')).to.equal('r');
      });
    }
    it('resume() without reset() continues the same stream (e.g. after a SASL failure)', () => {
      const h = harness();
      h.on.element = (el) => {
        if (el.name === 'auth') h.parser.pause();
      };
      feed(h, HEADER + "<auth mechanism='PLAIN'>x</auth><auth mechanism='PLAIN'>y</auth>");
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element']);
      h.on.element = undefined;
      h.parser.resume();
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'element']);
    });
    it('pause() followed by resume() in the same handler changes nothing; resume() when not paused is a no-op', () => {
      const h = harness();
      h.on.element = () => {
        h.parser.pause();
        h.parser.resume();
      };
      h.parser.resume();
      feed(h, HEADER + '<a/><b/>');
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'element']);
    });
    it('limits input held while paused (policy-violation)', () => {
      const h = harness({ maxStanzaBytes: 1000 });
      feed(h, HEADER);
      h.parser.pause();
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 20; i++) h.parser.write(chunk);
      expect(summarize(h.events).pop()).to.equal('error policy-violation');
    });
    it('uses the limits given to the constructor when reset', () => {
      const events = parse(HEADER, DEFAULT_LIMITS);
      expect(events).to.have.length(1);
    });
  });

  describe('stream restarts and stream headers (issue 9)', () => {
    const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
    // What go-sendxmpp writes: the <auth/> element followed by a newline in the same write,
    // then, after <success/>, a new XML declaration and header.
    const auth = `<auth xmlns='${SASL}' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>`;
    const header2 = HEADER.replace("to='example.com'", "to='example.org'");
    const bind = "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>";

    type Mode = 'reset in the element callback' | 'pause, then reset and resume outside callbacks';
    const modes: Mode[] = ['reset in the element callback', 'pause, then reset and resume outside callbacks'];

    /**
     * Feeds `input` in two writes split at byte `cut`, restarting the stream after <auth/>
     * either synchronously (reset() in the callback) or as c2s does for asynchronous SASL
     * (pause() in the callback; reset() and resume() once the write returned).
     */
    function restartAt(input: string | Buffer, cut: number, mode: Mode): string[] {
      const buf = toBuf(input);
      const h = harness();
      let pending = false;
      h.on.element = (el) => {
        if (el.name !== 'auth') return;
        if (mode === 'reset in the element callback') h.parser.reset();
        else {
          h.parser.pause();
          pending = true;
        }
      };
      const settle = () => {
        if (!pending) return;
        pending = false;
        h.parser.reset();
        h.parser.resume();
      };
      for (const part of [buf.subarray(0, cut), buf.subarray(cut)]) {
        if (part.length > 0) h.parser.write(part);
        settle();
      }
      return summarize(h.events);
    }

    /** The events for `input` with the restart, identical at every split point and in both modes. */
    function restartEverywhere(input: string | Buffer): string[] {
      const buf = toBuf(input);
      const whole = restartAt(buf, buf.length, modes[0]!);
      for (const mode of modes) {
        for (let cut = 0; cut <= buf.length; cut++) {
          expect(restartAt(buf, cut, mode), `${mode}, split at byte ${cut}`).to.deep.equal(whole);
        }
      }
      return whole;
    }

    /** 'start <to>' for stream starts, 'element <name' for elements, errors as they are. */
    const kinds = (events: string[]) =>
      events.map((e) => (e.startsWith('start ') ? `start ${/"to":"([^"]*)"/.exec(e)?.[1]}` : e.split(' ').slice(0, 2).join(' ')));

    for (const decl of [
      "<?xml version='1.0'?>",
      "<?xml version='1.0' encoding='UTF-8'?>",
      '<?xml version="1.0" encoding="utf-8" standalone="yes"?>',
      "<?xml version='1.0' standalone='no'?>",
    ]) {
      for (const before of ['', '\n', ' \r\n\t ']) {
        it(`accepts ${decl} opening a restarted stream after ${JSON.stringify(before)} (every split point)`, () => {
          const events = restartEverywhere("<?xml version='1.0'?>" + HEADER + auth + before + decl + '\n' + header2 + bind);
          expect(kinds(events)).to.deep.equal(['start example.com', 'element <auth', 'start example.org', 'element <iq']);
          expect(events[3]).to.include('<resource>r</resource>');
        });
      }
    }

    it('accepts a declaration on every restart (STARTTLS-like, then SASL) and on a stream after reset() outside callbacks', () => {
      const h = harness();
      h.on.element = (el) => {
        if (el.name === 'auth' || el.name === 'starttls') h.parser.reset();
      };
      feed(h, `<?xml version='1.0'?>${HEADER}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n<?xml version='1.0'?>${HEADER}${auth}\n<?xml version='1.0'?>${header2}`);
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'start', 'element', 'start']);
      h.parser.reset();
      for (const byte of Buffer.from(`\n<?xml version='1.0' encoding='UTF-8'?>${HEADER}<m/>`)) h.parser.write(Buffer.from([byte]));
      expect(h.events.map((e) => e.type)).to.deep.equal(['start', 'element', 'start', 'element', 'start', 'start', 'element']);
      expect(h.events.filter((e) => e.type === 'error')).to.deep.equal([]);
    });

    it('accepts a declaration at the start of the first stream at every split point', () => {
      const input = toBuf("<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n" + HEADER + '<m/>');
      for (let cut = 0; cut <= input.length; cut++) {
        const h = harness();
        h.parser.write(input.subarray(0, cut));
        h.parser.write(input.subarray(cut));
        expect(h.events.map((e) => e.type), `split at byte ${cut}`).to.deep.equal(['start', 'element']);
      }
    });

    it('rejects a non-UTF-8 encoding declared on a restart with unsupported-encoding (every split point)', () => {
      for (const decl of ["<?xml version='1.0' encoding='ISO-8859-1'?>", '<?xml version="1.0" encoding="UTF-16"?>']) {
        const events = restartEverywhere(HEADER + auth + '\n' + decl + header2 + bind);
        expect(events).to.deep.equal([...events.slice(0, 2), 'error unsupported-encoding']);
        expect(kinds(events.slice(0, 2))).to.deep.equal(['start example.com', 'element <auth']);
      }
    });

    it('rejects a malformed declaration on a restart with not-well-formed', () => {
      const events = restartEverywhere(HEADER + auth + "<?xml version='2.0'?>" + header2);
      expect(events.pop()).to.equal('error not-well-formed');
    });

    const forbiddenAfterRestart: [string, string][] = [
      ['another processing instruction', "<?xml-stylesheet href='a'?>" + header2],
      ['a processing instruction after white space', " <?foo bar?>" + header2],
      ['a second XML declaration', "<?xml version='1.0'?><?xml version='1.0'?>" + header2],
      ['a second XML declaration after white space', "\n<?xml version='1.0'?>\n<?xml version='1.0'?>" + header2],
      ['a declaration after the new header', "<?xml version='1.0'?>" + header2 + "<?xml version='1.0'?>"],
      ['a declaration inside a stanza of the new stream', header2 + "<m><?xml version='1.0'?></m>"],
      ['a processing instruction between stanzas of the new stream', header2 + bind + '<?php echo 1; ?>'],
    ];
    for (const [what, after] of forbiddenAfterRestart) {
      it(`rejects ${what} on a restarted stream with restricted-xml (every split point)`, () => {
        const events = restartEverywhere(HEADER + auth + after);
        expect(events.pop()).to.equal('error restricted-xml');
        expect(events.filter((e) => e.startsWith('error'))).to.deep.equal([]);
      });
    }

    it('still rejects a declaration in the middle of a stream, after the header or before it after white space', () => {
      expectBodyError("<m/>\n<?xml version='1.0'?>", 'restricted-xml');
      expectBodyError("<m><?xml version='1.0'?></m>", 'restricted-xml');
      expectError(HEADER + "<?xml version='1.0'?>", 'restricted-xml');
      expectError("\n<?xml version='1.0'?>" + HEADER, 'restricted-xml');
      expectError("<?xml version='1.0'?>\n<?xml-stylesheet href='a'?>" + HEADER, 'restricted-xml');
    });

    const secondHeaders: [string, string][] = [
      ['the same header again', HEADER],
      ['a self-closed header', "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>"],
      ['a header with another prefix', "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' version='1.0'>"],
      ['an unprefixed header in the streams namespace', "<stream xmlns='http://etherx.jabber.org/streams'>"],
      ['a server-to-server header', "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0'>"],
    ];
    for (const [what, second] of secondHeaders) {
      it(`reports ${what} inside an open stream at once with unsupported-stanza-type`, () => {
        expectBodyError('<m/>' + second, 'unsupported-stanza-type');
        // Nothing after the start tag is needed: the error comes with its '>'.
        const h = harness();
        feed(h, HEADER + '<m/>\n' + second);
        expect(summarize(h.events)).to.deep.equal([summarize(h.events)[0], 'element <m xmlns="jabber:client"/>', 'error unsupported-stanza-type']);
        const error = h.events[2];
        expect(error.type === 'error' && error.text).to.match(/stream header/);
        // And the parser is done with this stream.
        feed(h, '<m/></stream:stream>');
        expect(h.events).to.have.length(3);
      });
    }

    it('refuses a second header that comes with an XML declaration for the declaration (restricted-xml)', () => {
      expectBodyError("<m/><?xml version='1.0'?>" + HEADER, 'restricted-xml');
    });

    it('reports a second header split at every point, with white space and stanzas around it, once', () => {
      const input = toBuf(HEADER + '<m/> \n' + HEADER + '<m/>');
      const errorAfter = toBuf(HEADER + '<m/> \n' + HEADER).length;
      for (let cut = 0; cut <= input.length; cut++) {
        const h = harness();
        h.parser.write(input.subarray(0, cut));
        const early = summarize(h.events);
        h.parser.write(input.subarray(cut));
        expect(summarize(h.events), `split at byte ${cut}`).to.deep.equal([summarize(h.events)[0], 'element <m xmlns="jabber:client"/>', 'error unsupported-stanza-type']);
        // The error is reported as soon as the start tag is complete.
        if (cut >= errorAfter) expect(early.pop(), `split at byte ${cut}`).to.equal('error unsupported-stanza-type');
      }
    });

    it('reports a second header in a restarted stream, but not the header that opens it', () => {
      const events = restartEverywhere(HEADER + auth + header2 + bind + header2);
      expect(kinds(events)).to.deep.equal(['start example.com', 'element <auth', 'start example.org', 'element <iq', 'error unsupported-stanza-type']);
    });

    it('leaves stream elements and elements named stream in other namespaces alone', () => {
      const els = stanzas(
        "<stream:features><stream:stream/></stream:features><stream xmlns='urn:other'/><m><stream:stream/></m><stream:error/>",
      );
      expect(els.map((el) => `${el.name} ${el.attrs.xmlns}`)).to.deep.equal([
        `features ${NS_STREAMS}`,
        'stream urn:other',
        'm jabber:client',
        `error ${NS_STREAMS}`,
      ]);
    });
  });
});
