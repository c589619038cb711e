/**
 * Reads the small text files the loader needs (manifests, host files). What is not a regular
 * file is refused rather than read: a FIFO would block the loader for good and a device never
 * ends. The file is opened non-blocking, so even opening a FIFO does not wait for a writer.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** Larger manifests and host files are refused (1 MiB). */
export const TEXT_FILE_LIMIT = 1024 * 1024;

/**
 * A file whose bytes are not UTF-8: decoded anyway, each bad byte would become U+FFFD, and a
 * value in it (a password in Latin-1) would change without a word. Its content is wrong, not its
 * place: callers answer it as they answer a file that does not parse.
 */
export class NotUtf8Error extends Error {}

/** Rejects with a plain Error saying what is wrong with the file (a NotUtf8Error for its bytes); callers wrap it in their code. */
export async function readTextFile(path: string, limit = TEXT_FILE_LIMIT): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error('it is not a regular file');
    if (info.size > limit) throw new Error(`it is larger than ${limit} bytes`);
    const bytes = await handle.readFile();
    try {
      // A byte-order mark (some editors write one) is not part of the text, as Node's require and
      // npm agree: the decoder drops it.
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new NotUtf8Error('it is not UTF-8 text (some bytes are not valid UTF-8); save it as UTF-8');
    }
  } finally {
    await handle.close();
  }
}
