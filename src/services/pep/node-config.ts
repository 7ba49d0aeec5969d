// XEP-0060 1.26 §16.4.4 (pubsub#node_config) as XEP-0163 §8 defaults it: a node's
// configuration, its form (§8.2), what a submitted form changes (§8.2.5) and publish-options
// preconditions (§7.1.5).
import { Element } from 'ltx';
import { StanzaError } from '../../core/errors.js';
import { formElement, parseBoolean, readSubmittedForm, type FormField } from '../../xml/data-form.js';

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors';
export const NS_NODE_CONFIG = 'http://jabber.org/protocol/pubsub#node_config';
export const NS_PUBLISH_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options';

export type AccessModel = 'open' | 'presence' | 'roster' | 'whitelist';
export type SendLastPublished = 'never' | 'on_sub' | 'on_sub_and_presence';

export interface NodeConfig {
  readonly title: string;
  readonly description: string;
  /** pubsub#type: the payload namespace, as the owner says. */
  readonly type: string;
  readonly accessModel: AccessModel;
  readonly rosterGroupsAllowed: readonly string[];
  /** 'max': as many as the service allows (limits.pepItemsPerNode). */
  readonly maxItems: number | 'max';
  readonly persistItems: boolean;
  readonly sendLastPublishedItem: SendLastPublished;
  readonly notifyRetract: boolean;
  readonly notifyDelete: boolean;
  readonly notificationType: 'normal' | 'headline';
  readonly deliverPayloads: boolean;
  readonly deliverNotifications: boolean;
}

/** XEP-0163 §8: presence access, the last item sent on presence, payloads delivered. */
export const DEFAULT_NODE_CONFIG: NodeConfig = Object.freeze({
  title: '',
  description: '',
  type: '',
  accessModel: 'presence',
  rosterGroupsAllowed: [],
  maxItems: 1,
  persistItems: true,
  sendLastPublishedItem: 'on_sub_and_presence',
  notifyRetract: true,
  notifyDelete: true,
  notificationType: 'headline',
  deliverPayloads: true,
  deliverNotifications: true,
});

const ACCESS_MODELS: readonly AccessModel[] = ['open', 'presence', 'roster', 'whitelist'];
const SEND_LAST: readonly SendLastPublished[] = ['never', 'on_sub', 'on_sub_and_presence'];

/** A pubsub#errors condition (XEP-0060 §7, §8) to go with a stanza error. */
export function pubsubCondition(name: string, attrs?: Record<string, string>): Element {
  return new Element(name, { xmlns: NS_PUBSUB_ERRORS, ...attrs });
}

/** The number of items a node keeps. */
export function itemLimit(config: NodeConfig, serviceMax: number): number {
  return config.maxItems === 'max' ? serviceMax : config.maxItems;
}

type Setter = (config: Mutable<NodeConfig>, values: readonly string[], serviceMax: number) => void;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function one(name: string, values: readonly string[]): string {
  if (values.length !== 1) throw new StanzaError('not-acceptable', `${name} takes one value`);
  return values[0]!.trim();
}

function bool(name: string, values: readonly string[]): boolean {
  const value = parseBoolean(one(name, values));
  if (value === null) throw new StanzaError('not-acceptable', `${name} is a boolean`);
  return value;
}

function oneOf<T extends string>(name: string, values: readonly string[], allowed: readonly T[]): T {
  const value = one(name, values);
  if (!(allowed as readonly string[]).includes(value)) throw new StanzaError('not-acceptable', `${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function parseMaxItems(values: readonly string[], serviceMax: number): number | 'max' {
  const value = one('pubsub#max_items', values);
  if (value === 'max') return 'max';
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw new StanzaError('not-acceptable', 'pubsub#max_items is a positive number or "max"');
  const n = Number(value);
  // Beyond what the service allows (limits.pepItemsPerNode).
  if (n > serviceMax) throw new StanzaError('not-acceptable', `pubsub#max_items is at most ${serviceMax} here`);
  return n;
}

/** The fields Hearth understands, by var. */
const SETTERS: Readonly<Record<string, Setter>> = {
  'pubsub#title': (c, v) => (c.title = v.join('\n').slice(0, 1024)),
  'pubsub#description': (c, v) => (c.description = v.join('\n').slice(0, 4096)),
  'pubsub#type': (c, v) => (c.type = (v[0] ?? '').trim().slice(0, 1024)),
  'pubsub#access_model': (c, v) => (c.accessModel = oneOf('pubsub#access_model', v, ACCESS_MODELS)),
  'pubsub#roster_groups_allowed': (c, v) => (c.rosterGroupsAllowed = [...new Set(v.map((g) => g.trim()).filter((g) => g !== ''))].slice(0, 100)),
  'pubsub#max_items': (c, v, max) => (c.maxItems = parseMaxItems(v, max)),
  'pubsub#persist_items': (c, v) => (c.persistItems = bool('pubsub#persist_items', v)),
  'pubsub#send_last_published_item': (c, v) => (c.sendLastPublishedItem = oneOf('pubsub#send_last_published_item', v, SEND_LAST)),
  'pubsub#notify_retract': (c, v) => (c.notifyRetract = bool('pubsub#notify_retract', v)),
  'pubsub#notify_delete': (c, v) => (c.notifyDelete = bool('pubsub#notify_delete', v)),
  'pubsub#notification_type': (c, v) => (c.notificationType = oneOf('pubsub#notification_type', v, ['normal', 'headline'] as const)),
  'pubsub#deliver_payloads': (c, v) => (c.deliverPayloads = bool('pubsub#deliver_payloads', v)),
  'pubsub#deliver_notifications': (c, v) => (c.deliverNotifications = bool('pubsub#deliver_notifications', v)),
  // One publisher per node (XEP-0163 §3.2): the owner.
  'pubsub#publish_model': (_c, v) => void oneOf('pubsub#publish_model', v, ['publishers'] as const),
};

/**
 * The configuration a submitted form makes of `base` (§8.2.5: fields not in the form keep
 * their values). Throws not-acceptable for a field Hearth does not know or a bad value.
 */
export function applyConfigForm(base: NodeConfig, x: Element, formType: string, serviceMax: number): NodeConfig {
  const form = readSubmittedForm(x);
  if (form.formType !== null && form.formType !== formType) throw new StanzaError('bad-request', `FORM_TYPE must be ${formType}`);
  const config: Mutable<NodeConfig> = { ...base };
  for (const [name, values] of form.fields) {
    const set = SETTERS[name];
    if (!set) throw new StanzaError('not-acceptable', `${name} is not a node option Hearth supports`);
    set(config, values, serviceMax);
  }
  return config;
}

/**
 * §7.1.5: publish-options are preconditions on an existing node. Returns the first field
 * whose value the node does not have, or null when all match (a field Hearth does not know
 * cannot be met).
 */
export function unmetPrecondition(config: NodeConfig, x: Element, serviceMax: number): string | null {
  const form = readSubmittedForm(x);
  for (const [name, values] of form.fields) {
    const set = SETTERS[name];
    if (!set) return name;
    const wanted: Mutable<NodeConfig> = { ...config };
    try {
      set(wanted, values, serviceMax);
    } catch {
      return name;
    }
    if (!sameConfig(config, wanted, serviceMax)) return name;
  }
  return null;
}

function sameConfig(a: NodeConfig, b: NodeConfig, serviceMax: number): boolean {
  for (const key of Object.keys(a) as (keyof NodeConfig)[]) {
    if (key === 'maxItems') {
      if (itemLimit(a, serviceMax) !== itemLimit(b, serviceMax)) return false;
    } else if (key === 'rosterGroupsAllowed') {
      if ([...a.rosterGroupsAllowed].sort().join('\n') !== [...b.rosterGroupsAllowed].sort().join('\n')) return false;
    } else if (a[key] !== b[key]) {
      return false;
    }
  }
  return true;
}

/** The form of §8.2.1 (or §8.3 defaults): every option, its current value, the choices. */
export function configFormElement(config: NodeConfig, rosterGroups: readonly string[]): Element {
  const fields: FormField[] = [
    { var: 'pubsub#title', type: 'text-single', label: 'A friendly name for the node', values: [config.title] },
    { var: 'pubsub#description', type: 'text-single', label: 'A description of the node', values: [config.description] },
    { var: 'pubsub#type', type: 'text-single', label: 'The type of node data, usually a namespace', values: [config.type] },
    { var: 'pubsub#access_model', type: 'list-single', label: 'Who may see the items', options: ACCESS_MODELS, values: [config.accessModel] },
    {
      var: 'pubsub#roster_groups_allowed', type: 'list-multi', label: 'Roster groups allowed (access model roster)',
      options: [...new Set([...rosterGroups, ...config.rosterGroupsAllowed])], values: config.rosterGroupsAllowed,
    },
    { var: 'pubsub#max_items', type: 'text-single', label: 'Items to keep ("max": as many as allowed)', values: [String(config.maxItems)] },
    { var: 'pubsub#persist_items', type: 'boolean', label: 'Keep items in storage', values: [config.persistItems ? '1' : '0'] },
    { var: 'pubsub#send_last_published_item', type: 'list-single', label: 'When to send the last item', options: SEND_LAST, values: [config.sendLastPublishedItem] },
    { var: 'pubsub#notify_retract', type: 'boolean', label: 'Notify when items are retracted', values: [config.notifyRetract ? '1' : '0'] },
    { var: 'pubsub#notify_delete', type: 'boolean', label: 'Notify when the node is deleted', values: [config.notifyDelete ? '1' : '0'] },
    { var: 'pubsub#notification_type', type: 'list-single', label: 'Message type of notifications', options: ['normal', 'headline'], values: [config.notificationType] },
    { var: 'pubsub#deliver_payloads', type: 'boolean', label: 'Deliver payloads with notifications', values: [config.deliverPayloads ? '1' : '0'] },
    { var: 'pubsub#deliver_notifications', type: 'boolean', label: 'Deliver notifications', values: [config.deliverNotifications ? '1' : '0'] },
    { var: 'pubsub#publish_model', type: 'list-single', label: 'Who may publish', options: ['publishers'], values: ['publishers'] },
  ];
  return formElement('form', NS_NODE_CONFIG, fields);
}

/** The stored form of a configuration (JSON text); unknown or missing keys take defaults. */
export function serializeConfig(config: NodeConfig): string {
  return JSON.stringify(config);
}

export function parseStoredConfig(text: string): NodeConfig {
  let stored: Partial<NodeConfig> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') stored = parsed as Partial<NodeConfig>;
  } catch {
    // A row Hearth did not write: defaults.
  }
  const config: Mutable<NodeConfig> = { ...DEFAULT_NODE_CONFIG };
  for (const key of Object.keys(DEFAULT_NODE_CONFIG) as (keyof NodeConfig)[]) {
    const value = stored[key];
    if (value !== undefined && (typeof value === typeof DEFAULT_NODE_CONFIG[key] || key === 'maxItems')) (config as Record<string, unknown>)[key] = value;
  }
  return config;
}
