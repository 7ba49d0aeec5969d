// Minimal declarations for the parts of @xmpp/client and @xmpp/xml the tests use.
declare module '@xmpp/xml' {
  export class Element {
    name: string;
    attrs: Record<string, string>;
    children: Array<Element | string>;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    toString(): string;
  }
  export default function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: Array<Element | string>): Element;
}

declare module '@xmpp/client' {
  import type { Element } from '@xmpp/xml';
  export { Element };
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: Array<Element | string>): Element;
  export interface Client {
    jid: { toString(): string; bare(): { toString(): string }; local: string; domain: string; resource: string } | null;
    status: string;
    reconnect: { stop(): void };
    iqCaller: { request(el: Element, timeout?: number): Promise<Element>; get(el: Element, to?: string, timeout?: number): Promise<Element> };
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(...elements: Element[]): Promise<void>;
    write(data: string): Promise<void>;
    on(event: string, listener: (...args: any[]) => void): this;
    once(event: string, listener: (...args: any[]) => void): this;
    removeListener(event: string, listener: (...args: any[]) => void): this;
  }
  export function client(options: Record<string, unknown>): Client;
}

declare module '@xmpp/component' {
  import type { Element } from '@xmpp/xml';
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: Array<Element | string>): Element;
  export interface Component {
    reconnect: { stop(): void };
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
    on(event: 'stanza', listener: (el: Element) => void): void;
    on(event: 'error', listener: (err: Error) => void): void;
    removeListener(event: string, listener: (...args: never[]) => void): void;
  }
  export function component(options: { service: string; domain: string; password: string }): Component;
}
