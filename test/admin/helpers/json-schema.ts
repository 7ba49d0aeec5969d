// A small JSON Schema (2020-12) checker for the keywords the admin API's OpenAPI document
// uses. It refuses keywords it does not know, so a schema it cannot check fails the test
// instead of passing unchecked.
const ANNOTATIONS = new Set(['description', 'default', 'title', 'examples', 'format']);
const KNOWN = new Set([
  ...ANNOTATIONS,
  'type', 'properties', 'required', 'additionalProperties', 'propertyNames', 'items', 'enum', 'const',
  'anyOf', 'oneOf', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength',
  'pattern', 'minItems', 'maxItems', '$ref',
]);

export type Schema = Record<string, unknown>;

/** Problems found, as "path: problem" lines; empty when `value` conforms. */
export function check(schema: Schema, value: unknown, resolve: (ref: string) => Schema, at = '$'): string[] {
  const problems: string[] = [];
  for (const keyword of Object.keys(schema)) {
    if (!KNOWN.has(keyword)) problems.push(`${at}: the checker does not know the keyword "${keyword}"`);
  }
  if (problems.length) return problems;
  if (typeof schema.$ref === 'string') return check(resolve(schema.$ref), value, resolve, at);

  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => hasType(value, t))) return [`${at}: expected ${types.join(' or ')}, got ${describe(value)}`];
  }
  if (schema.const !== undefined && value !== schema.const) problems.push(`${at}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (Array.isArray(schema.anyOf) && !(schema.anyOf as Schema[]).some((s) => check(s, value, resolve, at).length === 0)) {
    problems.push(`${at}: matches none of anyOf`);
  }
  if (Array.isArray(schema.oneOf) && (schema.oneOf as Schema[]).filter((s) => check(s, value, resolve, at).length === 0).length !== 1) {
    problems.push(`${at}: does not match exactly one of oneOf`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) problems.push(`${at}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) problems.push(`${at}: above ${schema.maximum}`);
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) problems.push(`${at}: not above ${schema.exclusiveMinimum}`);
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) problems.push(`${at}: not below ${schema.exclusiveMaximum}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (typeof schema.minLength === 'number' && length < schema.minLength) problems.push(`${at}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && length > schema.maxLength) problems.push(`${at}: longer than ${schema.maxLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${at}: does not match ${schema.pattern}`);
    if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) problems.push(`${at}: not a date-time`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) problems.push(`${at}: fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) problems.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.items && typeof schema.items === 'object') {
      value.forEach((item, i) => problems.push(...check(schema.items as Schema, item, resolve, `${at}[${i}]`)));
    }
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const name of (schema.required ?? []) as string[]) {
      if (!(name in object)) problems.push(`${at}: missing "${name}"`);
    }
    for (const [name, child] of Object.entries(object)) {
      if (schema.propertyNames) problems.push(...check(schema.propertyNames as Schema, name, resolve, `${at} (key ${name})`));
      if (name in properties) problems.push(...check(properties[name]!, child, resolve, `${at}.${name}`));
      else if (schema.additionalProperties === false) problems.push(`${at}: unexpected "${name}"`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        problems.push(...check(schema.additionalProperties as Schema, child, resolve, `${at}.${name}`));
      }
    }
  }
  return problems;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'boolean':
      return typeof value === 'boolean';
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'array':
      return Array.isArray(value);
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      throw new Error(`the checker does not know the type "${type}"`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
