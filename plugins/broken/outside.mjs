// Named by entry-outside-plugin's "main" ("../outside.mjs"). It exists, but it lies outside that
// plugin's folder, so the loader refuses it with ENTRY_OUTSIDE_PLUGIN and never imports it.
throw new Error('broken/outside.mjs must never be imported');
