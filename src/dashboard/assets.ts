/**
 * The page's files, all served by the host itself (no CDN, nothing from the internet): the HTML,
 * the stylesheet, and the script, bundled with esbuild from src/dashboard/client/ once per
 * process (a few tens of ms) when the first dashboard starts. A built package (`npm run build`)
 * carries the script already bundled.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { PluginFactoryError, describeThrown } from '../errors.ts';
import { SECURITY_HEADERS } from './http.ts';
import type { Route } from './router.ts';

interface Asset {
  type: string;
  body: Buffer;
}

export interface Assets {
  page: Asset;
  script: Asset;
  style: Asset;
}

const client = (file: string) => fileURLToPath(new URL(`./client/${file}`, import.meta.url));

/** The files of the page in client/, and the name the package build gives the bundled script. */
export const CLIENT_FILES = ['index.html', 'dashboard.css'] as const;
export const CLIENT_SCRIPT = 'dashboard.js';

let loading: Promise<Assets> | null = null;

/** A build takes tens of milliseconds; one that takes this long will not finish. */
const BUILD_TIMEOUT_MS = 30_000;

/**
 * esbuild's TypeScript settings for the page, given here: by default it would read the nearest
 * tsconfig.json above the sources, which, in an installed package, is the project's that installed
 * it (one that does not parse would break every dashboard).
 */
const CLIENT_TSCONFIG = { compilerOptions: { target: 'ES2022', verbatimModuleSyntax: true } } as const;

/**
 * The page's script bundled from the client sources (the package build writes it out once);
 * `folder`: where they are (tests).
 */
export async function bundleClientScript(folder = client('')): Promise<string> {
  const { build } = await import('esbuild');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`esbuild did not finish within ${BUILD_TIMEOUT_MS} ms`)), BUILD_TIMEOUT_MS);
  });
  const building = build({
    entryPoints: [join(folder, 'main.ts')],
    tsconfigRaw: CLIENT_TSCONFIG,
    // The paths esbuild writes in the script's comments start from the package, not from wherever
    // the host was started (the layout of the machine is nobody's business on the page).
    absWorkingDir: resolve(folder, '..', '..', '..'),
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    legalComments: 'none',
    logLevel: 'silent',
  });
  try {
    const result = await Promise.race([building, timeout]);
    return result.outputFiles[0]!.text;
  } finally {
    clearTimeout(timer);
  }
}

/** The script prebuilt beside the page (a built package), or else bundled from the sources now. */
async function clientScript(): Promise<string> {
  const prebuilt = await readFile(client(CLIENT_SCRIPT), 'utf8').catch(() => null);
  return prebuilt ?? bundleClientScript();
}

/** The page's files, built on first use and shared by every dashboard of the process. */
export function loadAssets(): Promise<Assets> {
  loading ??= (async () => {
    const [html, css, js] = await Promise.all([readFile(client(CLIENT_FILES[0])), readFile(client(CLIENT_FILES[1])), clientScript()]);
    return {
      page: { type: 'text/html; charset=utf-8', body: html },
      style: { type: 'text/css; charset=utf-8', body: css },
      script: { type: 'text/javascript; charset=utf-8', body: Buffer.from(js) },
    };
  })().catch((error: unknown) => {
    loading = null;
    throw new PluginFactoryError('INTERNAL_ERROR', `dashboard: the page could not be built: ${describeThrown(error)}`, { cause: error });
  });
  return loading;
}

function send(res: ServerResponse, asset: Asset): void {
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'content-type': asset.type,
    'content-length': asset.body.length,
    'cache-control': 'no-cache',
  });
  res.end(asset.body);
}

export function assetRoutes(assets: Assets): Route[] {
  return [
    { method: 'GET', path: '/', handle: ({ res }) => send(res, assets.page) },
    { method: 'GET', path: '/assets/dashboard.js', handle: ({ res }) => send(res, assets.script) },
    { method: 'GET', path: '/assets/dashboard.css', handle: ({ res }) => send(res, assets.style) },
  ];
}
