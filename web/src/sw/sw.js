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

// Web Push (issue 16; resolvers/notifications/channels/webpush.py sends JSON {title, body, link,
// kind, key, alarm}). Every push shows a notification (userVisibleOnly); one kind replaces the
// last of its kind (tag), an alarm stays until the person acts on it.
self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = { body: event.data ? event.data.text() : "" };
  }
  const title = typeof message.title === "string" && message.title ? message.title : "Gatehouse";
  const alarm = message.alarm === true;
  event.waitUntil(
    self.registration.showNotification(title, {
      body: typeof message.body === "string" ? message.body : "",
      tag: typeof message.kind === "string" ? message.kind : "gatehouse",
      renotify: alarm,
      requireInteraction: alarm,
      icon: "/icons/icon.svg",
      data: { link: typeof message.link === "string" ? message.link : null, key: message.key ?? null },
    }),
  );
});

// A tap opens the notification's link in the app: an open window of the app is focused and sent
// there, otherwise a new one opens. Only this origin's addresses are opened (anything else: "/").
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  let target = new URL("/", self.location.origin);
  try {
    const link = new URL(event.notification.data?.link ?? "/", self.location.origin);
    if (link.origin === self.location.origin) target = link;
  } catch {
    // a malformed link: the app's home
  }
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const same = windows.find((w) => w.url === target.href) ?? windows.find((w) => new URL(w.url).origin === target.origin);
      if (same) return same.focus().then((w) => (w && w.url !== target.href && "navigate" in w ? w.navigate(target.href) : w));
      return self.clients.openWindow(target.href);
    }),
  );
});
