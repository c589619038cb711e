/**
 * The generated parts of the docs (charts drawn from their definitions, the error-code table)
 * must match the code; `npm run docs` rewrites them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_FILES, fillBlocks, generatedBlocks } from '../../src/docs.ts';
import { ERROR_CODES } from '../../src/index.ts';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

describe('docs', () => {
  it.each(DOC_FILES)('%s is up to date with the charts (run `npm run docs`)', (file) => {
    const text = read(file);
    expect(text).toContain('<!-- generated:lifecycle-chart -->');
    expect(fillBlocks(text, generatedBlocks())).toBe(text);
  });

  it('the README lists every error code', () => {
    const readme = read('README.md');
    for (const code of Object.keys(ERROR_CODES)) expect(readme).toContain(`\`${code}\``);
  });

  it('the lifecycle chart in the README names every top-level state', () => {
    const readme = read('README.md');
    for (const state of ['validating', 'invalid', 'created', 'initializing', 'initialized', 'starting', 'running', 'stopping', 'stopped', 'failed', 'disposing', 'disposed']) {
      expect(readme).toMatch(new RegExp(`\\b${state}\\b`));
    }
  });
});
