// XEP-0004 Data Forms 2.13: reading a submitted form into its fields, and writing forms.
import { Element } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { NS_DATA } from '../core/namespaces.js';

/** A form's fields by var (FORM_TYPE apart), each with its values in order. */
export interface SubmittedForm {
  /** XEP-0068: the value of the hidden FORM_TYPE field, or null. */
  readonly formType: string | null;
  readonly fields: ReadonlyMap<string, readonly string[]>;
}

/**
 * The fields of a form a client submitted (§3.1: type "submit"). A field without a var or
 * named twice is a bad request.
 */
export function readSubmittedForm(x: Element): SubmittedForm {
  if (x.attrs.type !== 'submit') throw new StanzaError('bad-request', 'the form must be of type submit');
  let formType: string | null = null;
  const fields = new Map<string, string[]>();
  for (const field of x.getChildren('field')) {
    const name = field.attrs.var;
    if (typeof name !== 'string' || name === '') throw new StanzaError('bad-request', 'a form field needs a var');
    const values = field.getChildren('value').map((v) => v.getText());
    if (name === 'FORM_TYPE') {
      if (formType !== null || values.length !== 1) throw new StanzaError('bad-request', 'FORM_TYPE takes exactly one value');
      formType = values[0]!.trim();
      continue;
    }
    if (fields.has(name)) throw new StanzaError('bad-request', `field ${name} appears twice`);
    fields.set(name, values);
  }
  return { formType, fields };
}

/** §3.3 boolean: "0", "1", "false", "true"; null for anything else. */
export function parseBoolean(value: string | undefined): boolean | null {
  const v = value?.trim();
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  return null;
}

export interface FormField {
  readonly var: string;
  readonly type?: string;
  readonly label?: string;
  readonly values: readonly string[];
  /** list-single / list-multi options. */
  readonly options?: readonly string[];
}

/** A form of `type` with the hidden FORM_TYPE first (XEP-0068 §4). */
export function formElement(type: 'form' | 'submit' | 'result', formType: string, fields: readonly FormField[]): Element {
  const x = new Element('x', { xmlns: NS_DATA, type });
  x.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(formType);
  for (const field of fields) {
    const f = x.c('field', { var: field.var, type: field.type, label: field.label });
    for (const option of field.options ?? []) f.c('option').c('value').t(option);
    for (const value of field.values) f.c('value').t(value);
  }
  return x;
}
