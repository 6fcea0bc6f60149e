// The Gatehouse web bundle: the phone app (index.html: `/`, `/invite/…`, `/guard`) and GraphiQL
// (graphiql.html, served at /graphql where the settings allow it). Built into web/dist, which the
// server serves (api/web_routes.py); nothing here is fetched from a CDN at run time.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defineConfig, type Plugin } from "vite";

const here = import.meta.dirname;

// The service worker is a classic script at /sw.js (its scope must be `/`), so it is not a
// hashed chunk: this plugin emits it with the list of built files it must keep for offline use.
function serviceWorker(): Plugin {
  return {
    name: "gatehouse-service-worker",
    apply: "build",
    generateBundle(_options, bundle) {
      // Only what the app entry loads (its chunks, their imports and their CSS): GraphiQL's
      // megabytes stay out. The server answers the app's addresses, not /index.html, so the shell
      // document is kept as "/" (the HTML pages are not in the bundle yet when this hook runs).
      const files = new Set<string>();
      const visit = (name: string) => {
        const chunk = bundle[name];
        if (!chunk || files.has(name)) return;
        files.add(name);
        if (chunk.type === "chunk") {
          chunk.imports.forEach(visit);
          chunk.viteMetadata?.importedCss.forEach((css) => files.add(css));
          chunk.viteMetadata?.importedAssets.forEach((asset) => files.add(asset));
        }
      };
      for (const [name, chunk] of Object.entries(bundle)) if (chunk.type === "chunk" && chunk.isEntry && chunk.name === "app") visit(name);
      const shell = ["/", ...[...files].map((name) => "/" + name), "/manifest.webmanifest", "/icons/icon.svg"];
      const version = JSON.stringify(shell).length.toString(36) + "-" + hash(JSON.stringify(shell));
      const source = readFileSync(resolve(here, "src/sw/sw.js"), "utf8")
        .replace("self.__SHELL_FILES__", JSON.stringify(shell))
        .replace("self.__SHELL_VERSION__", JSON.stringify(version));
      this.emitFile({ type: "asset", fileName: "sw.js", source });
    },
  };
}

function hash(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h.toString(36);
}

export default defineConfig({
  root: here,
  base: "/",
  publicDir: "public",
  // The app reads the GraphQL documents from mobile_contracts/ (one level up) with `?raw`.
  server: { fs: { allow: [resolve(here, "..")] } },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // No inline polyfill script: the Content-Security-Policy allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    // Monaco (GraphiQL only, never the phone app) is one large chunk by nature.
    chunkSizeWarningLimit: 3000,
    rollupOptions: {
      // GraphiQL's dependencies mark React server/client modules with "use client": meaningless in
      // a browser bundle, and reported for every such file.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
      input: { app: resolve(here, "index.html"), graphiql: resolve(here, "graphiql.html") },
    },
  },
  plugins: [serviceWorker()],
});
