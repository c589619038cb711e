/**
 * The generated parts of the docs (charts drawn from their definitions, the error-code table)
 * must match the code; `npm run docs` rewrites them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_FILES, fillBlocks, generatedBlocks } from '../../src/docs.ts';
import { ERROR_CODES } from '../../src/index.ts';
import { lifecyclePaths } from '../../src/testing/index.ts';
import { TEST_USAGE } from '../../src/cli/usage.ts';

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

  it("the path counts the docs give are the kit's", () => {
    const count = (cover: 'transitions' | 'simple', dependency: boolean, dispose: boolean) =>
      lifecyclePaths(
        {
          manifest: { name: 'p', version: '1.0.0', ...(dependency ? { dependencies: { d: '*' } } : {}) },
          module: { init() {}, start() {}, stop() {}, ...(dispose ? { dispose() {} } : {}) },
        },
        { cover },
      ).length;
    const [plain, needing, disposing, both] = [count('transitions', false, false), count('transitions', true, false), count('transitions', false, true), count('transitions', true, true)];
    const simple = [count('simple', false, false), count('simple', true, false), count('simple', false, true), count('simple', true, true)];
    const testing = read('docs/testing.md');
    expect(testing).toContain(`${plain} paths for a plugin with \`init\`, \`start\` and \`stop\` only (${needing} with a required dependency; ${disposing} and ${both} with a \`dispose\` hook too`);
    expect(testing).toContain(`${simple[0]} shorter paths for the same plugin (${simple[1]} with a required dependency; ${simple[2]} and ${simple[3]} with \`dispose\`)`);
    expect(read('README.md')).toContain(`${plain} to ${both} of them`);
    expect(TEST_USAGE).toContain(`${plain} to ${both} a plugin`);
  });

  it('the lifecycle chart in the README names every top-level state', () => {
    const readme = read('README.md');
    for (const state of ['validating', 'invalid', 'created', 'initializing', 'initialized', 'starting', 'running', 'stopping', 'stopped', 'failed', 'disposing', 'disposed']) {
      expect(readme).toMatch(new RegExp(`\\b${state}\\b`));
    }
  });
});
