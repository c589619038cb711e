// This folder has no plugin.json or plugin.yaml: the loader reports MANIFEST_NOT_FOUND and never
// imports this file.
throw new Error('manifest-not-found/index.mjs must never be imported');
