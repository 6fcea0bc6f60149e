// The signed-in session. The access token lives in memory only; the refresh token in this
// origin's IndexedDB (no other origin can read it, and no cookie carries it to anyone). A page
// load trades the refresh token for a fresh session (RefreshSession: each refresh token works
// once). Signing out ends the session on the server and forgets both.
import { signal } from "@preact/signals";
import { del, get, set } from "idb-keyval";

export interface SessionData {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
  mustChangePassword?: boolean;
}

const REFRESH = "gatehouse.refreshToken";
let access: string | null = null;
let refreshing: Promise<boolean> | null = null;

/** null: not known yet (restoring); false: signed out; true: signed in. */
export const signedIn = signal<boolean | null>(null);
export const mustChangePassword = signal(false);

// Set by graphql.ts (which imports this module): trades a refresh token for a session.
let trade: ((refreshToken: string) => Promise<SessionData | null>) | null = null;

export function setRefresher(refresher: (refreshToken: string) => Promise<SessionData | null>): void {
  trade = refresher;
}

async function refreshWith(refreshToken: string): Promise<boolean> {
  if (trade === null) throw new Error("no GraphQL client to refresh the session with");
  const next = await trade(refreshToken);
  if (next === null) return false;
  await adopt(next);
  return true;
}

async function adopt(next: SessionData): Promise<void> {
  access = next.accessToken;
  await set(REFRESH, next.refreshToken);
  if (next.mustChangePassword !== undefined) mustChangePassword.value = next.mustChangePassword;
  signedIn.value = true;
}

export const session = {
  accessToken: (): string | null => access,

  async start(next: SessionData): Promise<void> {
    await adopt(next);
  },

  /** A new session from the stored refresh token; false when there is none or it is spent. */
  refresh(): Promise<boolean> {
    refreshing ??= (async () => {
      try {
        const stored = await get<string>(REFRESH);
        if (!stored) return false;
        const done = await refreshWith(stored);
        if (!done) await this.forget();
        return done;
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  },

  /** On page load: signed in again from the stored refresh token, or signed out. Offline, the
   *  stored token is kept (the pass does not need a session) and the state is "offline". */
  async restore(): Promise<"signed-in" | "signed-out" | "offline"> {
    try {
      const done = await this.refresh();
      signedIn.value = done;
      return done ? "signed-in" : "signed-out";
    } catch {
      signedIn.value = false;
      return (await get<string>(REFRESH)) ? "offline" : "signed-out";
    }
  },

  async forget(): Promise<void> {
    access = null;
    mustChangePassword.value = false;
    await del(REFRESH);
    signedIn.value = false;
  },
};
