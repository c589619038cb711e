// The manifest next to this file has an unknown key ("dependecies"), so the loader reports
// MANIFEST_INVALID before anything is imported: this file must never run.
throw new Error('manifest-invalid/index.mjs must never be imported');
