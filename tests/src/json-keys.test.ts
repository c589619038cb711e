/**
 * JSON manifests and host files refuse a key given twice in one object, as YAML ones do
 * (`JSON.parse` would keep the last one silently). Checked against generated JSON: no text
 * `JSON.stringify` writes is refused, and one key written again anywhere always is.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJson } from '../../src/loading/plugin-folder.ts';

const refused = (text: string) => {
  try {
    parseJson(text);
    return false;
  } catch {
    return true;
  }
};

const keys = fc.string({ maxLength: 6, unit: fc.constantFrom('a', 'b', '"', '\\', '{', '}', ',', ':', '[', 'é', '\n') });
const json = fc.jsonValue({ maxDepth: 4 });
const object = fc.dictionary(keys, json, { minKeys: 1, maxKeys: 4 });

describe('JSON: a key given twice', () => {
  it('no text JSON.stringify writes is refused, whatever the keys and strings hold and however it is indented', () => {
    fc.assert(
      fc.property(json, fc.constantFrom(undefined, 2, '\t'), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        expect(refused(text)).toBe(false);
        expect(parseJson(text)).toEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it('a key of an object written again is refused, at the top and nested in arrays and objects', () => {
    fc.assert(
      fc.property(object, fc.nat(), fc.constantFrom('top', 'in-array', 'in-object'), (value, pick, where) => {
        const names = Object.keys(value);
        const again = names[pick % names.length]!;
        const own = JSON.stringify(value);
        const twice = `${own.slice(0, -1)},${JSON.stringify(again)}:null}`;
        const text = where === 'top' ? twice : where === 'in-array' ? `[1,${twice},{}]` : `{"x":${own},"y":${twice}}`;
        expect(refused(text)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('the same key in sibling or nested objects is no duplicate; an escaped spelling of a key is', () => {
    expect(refused('{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}')).toBe(false);
    expect(refused('{"x":"{\\"a\\":1,\\"a\\":2}"}')).toBe(false);
    expect(refused('{"\\u0061":1,"a":2}')).toBe(true);
  });
});
