// Whether the browser believes it is online (the pass screen says it works offline too).
import { signal } from "@preact/signals";

export const online = signal(navigator.onLine);
addEventListener("online", () => (online.value = true));
addEventListener("offline", () => (online.value = false));
