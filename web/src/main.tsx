// The app's entry: the screen for the current address (app/routes.tsx) in the page language, and
// the service worker that keeps the app shell and the pass available offline (sw/sw.js).
import { render } from "preact";
import { useEffect } from "preact/hooks";
import { path, resolve } from "./app/routes";
import { lang } from "./i18n";
import "./styles.css";

function App() {
  useEffect(() => {
    document.documentElement.lang = lang.value;
  }, [lang.value]);
  const { screen: Screen, params } = resolve(path.value);
  return <Screen params={params} />;
}

render(<App />, document.getElementById("app") as HTMLElement);

if ("serviceWorker" in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    // No service worker (a private window, an old browser): the app works, only not offline.
  });
}
