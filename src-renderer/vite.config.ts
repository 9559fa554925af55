/**
 * Builds the renderer into dist/renderer. `base: './'` makes every asset URL
 * relative, so the same files load from file:// in Electron and from
 * http://127.0.0.1:PORT/ in the browser.
 */
import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The renderer may use src-main only through `import type`, which leaves no
 * import behind. A runtime import would drag zod and Node code into the
 * bundle; fail the build instead.
 */
function typeOnlyMainImports(): Plugin {
  return {
    name: 'studio:type-only-main-imports',
    enforce: 'pre',
    resolveId(source, importer) {
      if (!importer || importer.includes('/node_modules/')) return null;
      if (/(^|\/)src-main\//.test(source) || source === 'zod' || source.startsWith('zod/')) {
        this.error(`${importer} imports "${source}" at runtime; the renderer may import src-main only with \`import type\``);
      }
      return null;
    },
  };
}

/**
 * V8 compiles a function lazily, the first time it runs; for this app that
 * is the first click on Compare (charts, diff, ranking: about 50 ms of
 * compilation in a trace of the first open). Chromium's explicit compile
 * hint (`//# allFunctionsCalledOnLoad` as the first line of a script) asks
 * for eager compilation while the bundle loads instead.
 */
function compileHintOnEntry(): Plugin {
  return {
    name: 'studio:compile-hint',
    apply: 'build',
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type === 'chunk' && chunk.isEntry) chunk.code = `//# allFunctionsCalledOnLoad\n${chunk.code}`;
      }
    },
  };
}

export default defineConfig({
  root,
  base: './',
  // No svelte.config.js: Svelte 5 strips TypeScript in <script lang="ts"> by itself.
  plugins: [typeOnlyMainImports(), svelte({ configFile: false }), compileHintOnEntry()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    // Electron 45's Chromium and any current browser.
    target: 'es2022',
    // No inlined data: URLs for small assets; the CSP keeps scripts to 'self'.
    assetsInlineLimit: 0,
  },
  server: { host: '127.0.0.1' },
});
