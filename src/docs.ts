/**
 * `npm run docs`: rewrites the generated blocks of README.md and docs/lifecycle.md (the charts,
 * drawn from their definitions, and the error-code table). tests/docs/docs.test.ts fails when they
 * are out of date.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { ERROR_CODES } from '../machines/error-info.ts';
import { pluginLifecycle } from '../machines/plugin-lifecycle.ts';
import { pluginManager } from '../machines/plugin-manager.ts';
import { chartToMermaid } from './chart.ts';

/** Generated blocks, by marker name. */
export function generatedBlocks(): Record<string, string> {
  const codes = Object.entries(ERROR_CODES)
    .map(([code, meaning]) => `| \`${code}\` | ${meaning} |`)
    .join('\n');
  return {
    'lifecycle-chart': `\`\`\`mermaid\n${chartToMermaid(pluginLifecycle)}\`\`\``,
    'manager-chart': `\`\`\`mermaid\n${chartToMermaid(pluginManager)}\`\`\``,
    'error-codes': `| code | meaning |\n| --- | --- |\n${codes}`,
  };
}

/** Replaces every `<!-- generated:NAME -->…<!-- /generated:NAME -->` block in `text`. */
export function fillBlocks(text: string, blocks: Record<string, string>): string {
  return text.replace(
    /<!-- generated:([a-z-]+) -->[\s\S]*?<!-- \/generated:\1 -->/g,
    (whole, name: string) => (blocks[name] === undefined ? whole : `<!-- generated:${name} -->\n${blocks[name]}\n<!-- /generated:${name} -->`),
  );
}

export const DOC_FILES = ['README.md', 'docs/lifecycle.md'];

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = new URL('../', import.meta.url);
  for (const file of DOC_FILES) {
    const url = new URL(file, root);
    const before = await readFile(url, 'utf8');
    const after = fillBlocks(before, generatedBlocks());
    if (after !== before) await writeFile(url, after);
    process.stdout.write(`${file}: ${after === before ? 'up to date' : 'updated'}\n`);
  }
}
