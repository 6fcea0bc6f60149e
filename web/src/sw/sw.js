// The service worker (built to /sw.js by vite.config.ts, which fills in the file list): keeps
// the app shell — index.html and the built scripts and styles — so the app, and with the key in
// IndexedDB the pass, opens with the network off. GraphQL and everything else go to the network.
const SHELL = self.__SHELL_FILES__;
const CACHE = "gatehouse-shell-" + self.__SHELL_VERSION__;
const INDEX = "/"; // index.html, as the server answers the app's addresses
const APP_PAGES = [/^\/$/, /^\/invite\/[^/]+\/?$/, /^\/guard\/?$/];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("gatehouse-shell-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && APP_PAGES.some((p) => p.test(url.pathname))) {
    // The network first (a new version shows at once), the kept shell when it cannot answer.
    event.respondWith(fetch(request).catch(() => caches.match(INDEX)));
    return;
  }
  if (url.pathname !== INDEX && SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(request)));
  }
});
