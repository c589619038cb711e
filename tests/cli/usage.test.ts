/**
 * The command line itself: usage errors exit 2 with the usage on stderr, --help exits 0, errors
 * print `code: message` without a stack unless --verbose, and the package's bin starts the CLI.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cli, killAll } from '../fixtures/cli/run-cli.ts';

afterEach(killAll);

/** Runs `check` over `items`, a few at a time. */
async function inBatches<T>(items: T[], check: (item: T) => Promise<void>, size = 4): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(check));
}

describe('plugin-factory usage', () => {
  // Each case is its own process; they run side by side to keep the suite quick.
  it('usage errors exit 2 with the message and the usage on stderr', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /missing command/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['validate'], /missing <dir\|config>/],
      [['validate', 'a', 'b'], /expected one <dir\|config>/],
      [['validate', ''], /<dir\|config> is empty/],
      [['run', ' '], /<dir\|config> is empty/],
      [['validate', FIXTURES, '--nope'], /unknown option '--nope'/],
      // graph and chart print JSON through --format: an unknown --json says so.
      [['graph', FIXTURES, '--json'], /unknown option '--json'.*--format json/],
      [['chart', '--json'], /unknown option '--json'.*--format json/],
      [['run', FIXTURES, '--once', '--watch'], /--once and --watch cannot be combined/],
      [['run', FIXTURES, '--once=yes'], /--once/],
      [['graph', FIXTURES, '--format', 'png'], /--format must be mermaid, dot, json/],
      [['graph', FIXTURES, '--format'], /--format/],
      [['chart', '--format', 'svg'], /--format must be mermaid, json, scxml/],
      [['chart', '--machine', 'toaster'], /--machine must be lifecycle, manager/],
      [['chart', 'extra'], /chart takes no arguments/],
      // A port or URL given as a separate word: the hint shows it after '='.
      [['run', '--dashboard', '4400', FIXTURES], /--dashboard=4400\b/],
      [['run', FIXTURES, '--inspect', 'ws://127.0.0.1:1'], /--inspect=ws:\/\/127\.0\.0\.1:1\b/],
      [['run', FIXTURES, '--inspect=ws://127.0.0.1:99999'], /--inspect takes a WebSocket URL/],
      [['run', FIXTURES, '--inspect=ws://127.0.0.1:9/#frag'], /--inspect takes a WebSocket URL/],
      // Credentials in a URL that does not parse are not shown either.
      [['run', FIXTURES, '--inspect=ws://admin:hunter2@127.0.0.1:99999'], /^(?![\s\S]*hunter2)[\s\S]*--inspect takes a WebSocket URL/],
    ];
    await inBatches(cases, async ([args, message]) => {
      const { code, stdout, stderr } = await cli(args);
      const label = JSON.stringify(args);
      expect(code, label).toBe(2);
      expect(stdout, label).toBe('');
      expect(stderr, label).toMatch(message);
      expect(stderr, label).toMatch(/Usage: plugin-factory /);
    });
  });

  it('--help prints help on stdout and exits 0, for the CLI and each command', async () => {
    const cases = [['--help'], ['-h'], ['validate', '--help'], ['run', '-h'], ['graph', '--help'], ['chart', '--help']];
    await inBatches(cases, async (args) => {
      const { code, stdout, stderr } = await cli(args);
      const label = JSON.stringify(args);
      expect(code, label).toBe(0);
      expect(stderr, label).toBe('');
      expect(stdout, label).toMatch(/^Usage: plugin-factory /);
    });
  });

  it('a command help names its options', async () => {
    const { stdout } = await cli(['run', '--help']);
    for (const option of ['--once', '--json', '--watch', '--verbose']) expect(stdout).toContain(option);
  });

  it('prints a PluginFactoryError as `code: message`, with a stack only under --verbose', async () => {
    // A host file whose failurePolicy is valid but whose plugins field is not: OPTIONS_INVALID.
    const plain = await cli(['run', `${FIXTURES}/bad-host.json`, '--once']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/^✗ OPTIONS_INVALID: host file .*bad-host\.json: field 'plugins'/m);
    expect(plain.stderr).not.toMatch(/^\s+at /m);
    const verbose = await cli(['run', `${FIXTURES}/bad-host.json`, '--once', '--verbose']);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/^\s+at /m);
  });

  it('the bin (bin/plugin-factory.mjs) runs the CLI through tsx', async () => {
    const chart = await cli(['chart', '--format', 'json'], { entry: 'bin/plugin-factory.mjs' });
    expect(chart.code).toBe(0);
    expect(JSON.parse(chart.stdout)).toMatchObject({ id: 'plugin' });
    const validate = await cli(['validate', `${FIXTURES}/mixed`, '--json'], { entry: 'bin/plugin-factory.mjs' });
    expect(validate.code).toBe(1);
    const usage = await cli(['nope'], { entry: 'bin/plugin-factory.mjs' });
    expect(usage.code).toBe(2);
  });
});
