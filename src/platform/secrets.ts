/**
 * Scrubbing secret values out of text in one pass, however many there are.
 *
 * A host of thousands of plugins, each with a secret, must not pay for every secret on every
 * log line: `SecretSet` keeps the secrets by length and, at each position of a text, looks up
 * only the lengths it holds (a set lookup each), so a line costs its length times the number of
 * distinct secret lengths, not times the number of secrets. Adding or removing one plugin's
 * secrets costs that plugin's secrets only.
 *
 * Short secrets (under `HOST_WIDE_MIN_LENGTH` characters: a PIN, a port) are scrubbed from their
 * own plugin's output only: scrubbing every `5` out of every plugin's lines would corrupt them
 * and hide nothing.
 */

/** What a secret value is replaced with. */
export const REDACTED = '[redacted]';

/** A secret shorter than this is scrubbed from its own plugin's output only. */
export const HOST_WIDE_MIN_LENGTH = 4;

/** Whether `secret` is scrubbed from every plugin's output, not only its own plugin's. */
export const isHostWide = (secret: string): boolean => secret.length >= HOST_WIDE_MIN_LENGTH;

/** Scrubs secrets out of text; `has` says whether a whole value (a number's text) is one. */
export interface Redactor {
  text(input: string): string;
  has(value: string): boolean;
  /** True when there is nothing to scrub (so callers may skip copying). */
  readonly empty: boolean;
}

/** A multiset of secrets (each counted, so two plugins sharing a value may come and go apart). */
export class SecretSet implements Redactor {
  private readonly counts = new Map<string, number>();
  private readonly lengthCounts = new Map<number, number>();
  private readonly firstCounts = new Map<number, number>();
  private changes = 0;

  /** Changes whenever the distinct secrets do (see `unionOf`). */
  get version(): number {
    return this.changes;
  }

  constructor(secrets: Iterable<string> = []) {
    this.add(secrets);
  }

  get empty(): boolean {
    return this.counts.size === 0;
  }

  add(secrets: Iterable<string>): void {
    for (const secret of secrets) {
      if (secret.length === 0) continue;
      const count = this.counts.get(secret) ?? 0;
      this.counts.set(secret, count + 1);
      if (count > 0) continue;
      bump(this.lengthCounts, secret.length, 1);
      bump(this.firstCounts, secret.charCodeAt(0), 1);
      this.changes++;
    }
  }

  remove(secrets: Iterable<string>): void {
    for (const secret of secrets) {
      const count = this.counts.get(secret);
      if (count === undefined) continue;
      if (count > 1) {
        this.counts.set(secret, count - 1);
        continue;
      }
      this.counts.delete(secret);
      bump(this.lengthCounts, secret.length, -1);
      bump(this.firstCounts, secret.charCodeAt(0), -1);
      this.changes++;
    }
  }

  has(value: string): boolean {
    return this.counts.has(value);
  }

  /** Whether some secret starts with this UTF-16 code unit. */
  startsWith(code: number): boolean {
    return this.firstCounts.has(code);
  }

  /** The distinct lengths of the secrets. */
  lengths(): Iterable<number> {
    return this.lengthCounts.keys();
  }

  private scrubber: Redactor | null = null;

  text(input: string): string {
    return (this.scrubber ??= unionOf([this])).text(input);
  }
}

/**
 * One redactor over several sets, scrubbing in a single pass (so a short secret of one set never
 * matches inside the `[redacted]` another set wrote): at each position the longest secret of any
 * set starting there wins, and secrets that overlap are replaced as one span.
 */
export function unionOf(sets: readonly SecretSet[]): Redactor {
  const seen = sets.map(() => -1);
  let lengths: number[] = [];
  const has = (value: string) => sets.some((set) => set.has(value));
  const starts = (code: number) => sets.some((set) => set.startsWith(code));
  return {
    has,
    get empty() {
      return sets.every((set) => set.empty);
    },
    text(input: string): string {
      if (input.length === 0 || sets.every((set) => set.empty)) return input;
      if (sets.some((set, index) => set.version !== seen[index])) {
        const all = new Set<number>();
        for (const set of sets) for (const length of set.lengths()) all.add(length);
        lengths = [...all].sort((a, b) => b - a);
        sets.forEach((set, index) => (seen[index] = set.version));
      }
      const shortest = lengths[lengths.length - 1]!;
      let out = '';
      let copied = 0;
      let i = 0;
      while (i + shortest <= input.length) {
        let matched = 0;
        if (starts(input.charCodeAt(i))) {
          for (const length of lengths) {
            if (i + length <= input.length && has(input.slice(i, i + length))) {
              matched = length;
              break;
            }
          }
        }
        if (matched === 0) {
          i++;
          continue;
        }
        // A secret starting inside the match and running past it is covered too: the span
        // grows until no secret crosses its end (else the rest of that one would show).
        let end = i + matched;
        for (let j = i + 1; j < end; j++) {
          if (!starts(input.charCodeAt(j))) continue;
          for (const length of lengths) {
            if (j + length <= end) break;
            if (j + length <= input.length && has(input.slice(j, j + length))) {
              end = j + length;
              break;
            }
          }
        }
        out += input.slice(copied, i) + REDACTED;
        i = end;
        copied = i;
      }
      return copied === 0 ? input : out + input.slice(copied);
    },
  };
}

function bump(map: Map<number, number>, key: number, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next === 0) map.delete(key);
  else map.set(key, next);
}

const NOTHING: Redactor = { text: (input) => input, has: () => false, empty: true };

/** A redactor for a fixed list of secrets (empty strings ignored). */
export function redactorOf(secrets: readonly string[]): Redactor {
  const set = new SecretSet(secrets);
  return set.empty ? NOTHING : set;
}

export function isRedactor(value: unknown): value is Redactor {
  return typeof value === 'object' && value !== null && typeof (value as Redactor).text === 'function' && typeof (value as Redactor).has === 'function';
}
