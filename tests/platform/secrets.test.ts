/**
 * The one-pass scrubber: what it replaces where secrets overlap, nest or repeat, and that a set
 * counts each secret so two owners may come and go apart.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecretSet, redactorOf, unionOf } from '../../src/platform/secrets.ts';
import { redactText } from '../../src/platform/logging.ts';

describe('SecretSet', () => {
  it('replaces every occurrence; where two start at one place the longer goes whole', () => {
    const set = new SecretSet(['abc', 'abcdef', 'xyz']);
    expect(set.text('abcdef abc xyzxyz ab')).toBe('[redacted] [redacted] [redacted][redacted] ab');
  });

  it('never matches inside the [redacted] it wrote, nor across the parts of a union', () => {
    const long = new SecretSet(['TOKEN-1234']);
    const short = new SecretSet(['act', 'd]']);
    expect(unionOf([long, short]).text('TOKEN-1234 act')).toBe('[redacted] [redacted]');
    expect(redactorOf(['TOKEN-1234', 'red']).text('TOKEN-1234')).toBe('[redacted]');
  });

  it('replaces overlapping secrets as one span, so no part of either shows', () => {
    expect(redactorOf(['d-secret-token', 'abcd']).text('abcd-secret-token!')).toBe('[redacted]!');
    expect(unionOf([new SecretSet(['LONGSECRET-XYZ']), new SecretSet(['ZL'])]).text('see ZLONGSECRET-XYZ.')).toBe('see [redacted].');
    expect(redactorOf(['abc', 'bcd', 'cde']).text('xabcdefx')).toBe('x[redacted]fx');
  });

  it('counts owners: a secret added twice stays until removed twice; empty strings are ignored', () => {
    const set = new SecretSet(['', 'shared']);
    set.add(['shared']);
    set.remove(['shared']);
    expect(set.text('a shared b')).toBe('a [redacted] b');
    set.remove(['shared']);
    expect(set.text('a shared b')).toBe('a shared b');
    expect(set.empty).toBe(true);
  });

  it('a union sees what its sets learn after it was made', () => {
    const host = new SecretSet();
    const own = new SecretSet();
    const both = unionOf([host, own]);
    expect(both.text('pin 42, key KEY-9')).toBe('pin 42, key KEY-9');
    own.add(['42']);
    host.add(['KEY-9']);
    expect(both.text('pin 42, key KEY-9')).toBe('pin [redacted], key [redacted]');
    expect(both.has('42')).toBe(true);
  });

  it('keeps exactly the characters no secret occurrence covers, whatever the secrets and the text', () => {
    const letter = fc.constantFrom('a', 'b', 'c');
    const word = fc.array(letter, { minLength: 1, maxLength: 4 }).map((chars) => chars.join(''));
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 5 }), fc.array(letter, { maxLength: 16 }), (secrets, chars) => {
        const text = chars.join('');
        const covered = new Array<boolean>(text.length).fill(false);
        for (const secret of secrets) {
          for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + 1)) covered.fill(true, at, at + secret.length);
        }
        const kept = [...text].filter((_, index) => !covered[index]).join('');
        expect(redactText(text, secrets).split('[redacted]').join('')).toBe(kept);
      }),
      { numRuns: 500 },
    );
  });

  it('leaves no secret in the text, whatever the secrets and the text', () => {
    const alphabet = fc.constantFrom('a', 'b', '[', ']', 'r', 'e', 'd');
    const word = fc.array(alphabet, { minLength: 1, maxLength: 5 }).map((chars) => chars.join(''));
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), fc.array(fc.oneof(word, alphabet), { maxLength: 12 }), (secrets, parts) => {
        // Secrets that are part of the replacement text itself cannot be scrubbed away by any scheme.
        const usable = secrets.filter((secret) => !'[redacted]'.includes(secret));
        const text = redactText(parts.join(''), usable);
        // What is left outside the replacements holds no secret.
        for (const piece of text.split('[redacted]')) for (const secret of usable) expect(piece).not.toContain(secret);
      }),
      { numRuns: 300 },
    );
  });
});
