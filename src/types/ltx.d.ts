// Type declarations for ltx 3.1 (it ships none). Only what Hearth uses.
declare module 'ltx' {
  export type Node = Element | string;
  export type Attributes = Record<string, string>;

  export class Element {
    constructor(name: string, attrs?: Record<string, string | number | undefined | null> | string);
    name: string;
    parent: Element | null;
    children: Node[];
    attrs: Attributes;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    findNS(prefix?: string): string | undefined;
    getAttr(name: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getText(): string;
    getChildText(name: string, xmlns?: string): string | null;
    root(): Element;
    up(): Element;
    c(name: string, attrs?: Record<string, string | number | undefined | null> | string): Element;
    cnode<T extends Node>(child: T): T;
    append(...nodes: Node[]): void;
    prepend(...nodes: Node[]): void;
    t(text: string): Element;
    remove(el: Element | string, xmlns?: string): Element;
    attr(name: string): string | undefined;
    attr(name: string, value: string | number | null): Element;
    toString(): string;
    write(writer: (chunk: string) => void): void;
  }

  export function escapeXML(s: string): string;
  export function escapeXMLText(s: string): string;
  export function unescapeXML(s: string): string;
  export function unescapeXMLText(s: string): string;
  export function clone<T extends Element>(el: T): T;
  export function parse(xml: string): Element;
  export function createElement(name: string, attrs?: Record<string, string> | null, ...children: Node[]): Element;
  export function isElement(x: unknown): x is Element;
  export function isText(x: unknown): x is string;
  export function equal(a: Element, b: Element): boolean;
}
