// Parses one stored stanza (serialised by Hearth itself) back into an element, through the
// same restricted-XML tokenizer the network uses: stored text came from the network once.
import type { Element } from 'ltx';
import { XmlStreamParser } from './stream-parser.js';

const OPEN = Buffer.from("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");

/** The single top-level element of `xml`, or null when it is not exactly one well-formed element. */
export function parseStanza(xml: string, maxBytes = 1024 * 1024): Element | null {
  let result: Element | null = null;
  let count = 0;
  let failed = false;
  const parser = new XmlStreamParser(
    {
      streamStart() {},
      element(el) {
        count++;
        result = el;
      },
      streamEnd() {},
      error() {
        failed = true;
      },
    },
    { maxStanzaBytes: maxBytes, maxDepth: 256, maxAttributes: 1024 },
  );
  parser.write(OPEN);
  parser.write(Buffer.from(xml, 'utf8'));
  parser.end();
  if (failed || count !== 1 || result === null) return null;
  const el = result as Element;
  // Stored stanzas are namespace-neutral, like routed ones: the stream supplies jabber:client.
  if (el.attrs.xmlns === 'jabber:client') delete el.attrs.xmlns;
  return el;
}

/**
 * parseStanza for many stanzas in a row (another cluster node's, one at a time): one
 * tokenizer kept open between them, which saves building one per stanza. Anything but
 * exactly one whole element starts a fresh tokenizer.
 */
export class StanzaReader {
  private parser: XmlStreamParser | null = null;
  private parsed: Element | null = null;
  private count = 0;
  private failed = false;

  constructor(private readonly maxBytes = 1024 * 1024) {}

  read(xml: string): Element | null {
    const parser = this.parser ?? this.open();
    this.parsed = null;
    this.count = 0;
    this.failed = false;
    parser.write(Buffer.from(xml, 'utf8'));
    const el = this.parsed as Element | null;
    if (this.failed || this.count !== 1 || el === null) {
      this.parser = null;
      return null;
    }
    if (el.attrs.xmlns === 'jabber:client') delete el.attrs.xmlns;
    return el;
  }

  private open(): XmlStreamParser {
    const parser = new XmlStreamParser(
      {
        streamStart: () => {},
        element: (el) => {
          this.count++;
          this.parsed = el;
        },
        streamEnd: () => {
          this.failed = true;
        },
        error: () => {
          this.failed = true;
        },
      },
      { maxStanzaBytes: this.maxBytes, maxDepth: 256, maxAttributes: 1024 },
    );
    parser.write(OPEN);
    this.parser = parser;
    return parser;
  }
}
