/**
 * Text as a terminal or a log line may show it: control characters (a terminal escape, a line
 * break) and the characters that reorder text are written as `\u001b` and the like.
 */

/** The characters that reorder text (a right-to-left override …): a message could turn what follows it around. */
const REORDERING_CHARS = '\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';

/** Control characters (a terminal escape, a line break) and the characters that reorder text. */
export const UNPRINTABLE = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f${REORDERING_CHARS}]`, 'g');

/** The characters that reorder text alone (the dashboard page shows line breaks as they are). */
export const REORDERING = new RegExp(`[${REORDERING_CHARS}]`, 'g');

/** A character written as `\u001b` and the like. */
export const escapedChar = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * A name, a key or a message as it may be shown on one line. A manifest's name holding such
 * characters is invalid anyway; this keeps it, or a plugin's error message, from clearing a
 * terminal, forging a line or breaking a diagram.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapedChar);
}

/**
 * The first `max` UTF-16 units of a text, one fewer when the cut would fall inside a surrogate
 * pair: half a pair is not a character, and shows as a replacement sign once encoded as UTF-8.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = max > 0 && isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max;
  return text.slice(0, Math.max(0, end));
}

const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
