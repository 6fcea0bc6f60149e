// Talking to /graphql: HTTP POST for queries and mutations, graphql-transport-ws (graphql-ws) for
// subscriptions, both with the session's access token. A 401-like answer (UNAUTHENTICATED) makes
// the session refresh once and retry.
import { createClient, type Client } from "graphql-ws";
import { op } from "./documents";
import { session, setRefresher, type SessionData } from "./session";

export class GraphQLError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** A payload's `errors` (user errors: wrong password, …) as one exception. */
export class UserErrors extends Error {
  constructor(readonly errors: { code: string; message: string; field?: string | null }[]) {
    super(errors.map((e) => e.message).join("; "));
  }
}

type Variables = Record<string, unknown>;

async function post(name: string, variables: Variables, token: string | null): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ ...op(name), variables }) });
}

/** Run operation `name` (from mobile_contracts/) and return its `data`. */
export async function request<T = any>(name: string, variables: Variables = {}, retried = false): Promise<T> {
  const response = await post(name, variables, session.accessToken());
  const body = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
  const error = body.errors?.[0];
  if (error) {
    const code: string | undefined = error.extensions?.code;
    if (code === "UNAUTHENTICATED" && !retried && (await session.refresh())) return request(name, variables, true);
    throw new GraphQLError(error.message, code);
  }
  return body.data as T;
}

/** `payload.errors` non-empty → UserErrors; otherwise the payload. */
export function ok<P extends { errors?: { code: string; message: string }[] }>(payload: P): P {
  if (payload.errors && payload.errors.length > 0) throw new UserErrors(payload.errors);
  return payload;
}

let wsClient: Client | null = null;

function ws(): Client {
  if (wsClient === null) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    wsClient = createClient({
      url: `${scheme}//${location.host}/graphql`,
      lazy: true,
      retryAttempts: Infinity,
      connectionParams: () => ({ authorization: `Bearer ${session.accessToken() ?? ""}` }),
    });
  }
  return wsClient;
}

/** Subscribe to operation `name`; returns the function that ends the subscription. */
export function subscribe<T = any>(
  name: string,
  variables: Variables,
  onData: (data: T) => void,
  onError: (error: Error) => void,
): () => void {
  return ws().subscribe<T>(
    { ...op(name), variables },
    {
      next: (result) => {
        if (result.errors?.length) onError(new GraphQLError(result.errors[0].message, undefined));
        else if (result.data) onData(result.data as T);
      },
      error: (e) => onError(e instanceof Error ? e : new Error(String((e as CloseEvent)?.reason ?? e))),
      complete: () => {},
    },
  );
}

/** Close the WebSocket (sign-out: the next person must not ride on this connection). */
export function closeSubscriptions(): void {
  wsClient?.dispose();
  wsClient = null;
}

setRefresher(async (refreshToken) => {
  const data = await request<{ refreshSession: { session: SessionData | null } }>("RefreshSession", { refreshToken }, true);
  return data.refreshSession.session;
});
