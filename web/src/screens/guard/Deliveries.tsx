// The outbox as site admins see it (ADMIN, SECURITY_ADMIN; issue 16): each configured channel's
// health on top (GuardNotificationChannels), then the deliveries of one status, newest first
// (GuardNotificationDeliveries, paged by cursor), each failed or suppressed one with a Retry
// (GuardRetryNotification) whose refusal is shown on its card. Addresses arrive masked; the
// messages themselves never leave the server. Read again on Refresh and every 15 s.
import { useEffect, useState } from "preact/hooks";
import { ok, request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { t } from "../../i18n";
import { Choice, coded, message, when } from "./common";
import "./notify.css";

export const NOTIFY_ROLES = ["ADMIN", "SECURITY_ADMIN"];

interface Channel {
  name: string;
  configured: boolean;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastError: string | null;
  pending: number;
  failed: number;
}

interface Delivery {
  id: string;
  kind: string;
  channel: string;
  status: string;
  addressMasked: string;
  attempts: number;
  lastError: string;
  cause: string;
  createdAt: string;
  nextAttemptAt: string;
  sentAt: string | null;
}

interface Page {
  notificationDeliveries: {
    edges: { cursor: string; node: Delivery }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

const STATUSES = ["failed", "suppressed", "pending", "sending", "sent"] as const;
const RETRIABLE = ["failed", "suppressed"];
const WAITING = ["pending", "sending"];
const PAGE = 30;
const REFRESH_MS = 15_000;

export function Deliveries() {
  const [status, setStatus] = useState<string>("failed");
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [rows, setRows] = useState<Delivery[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  // The first page of the chosen status and the channels, on open, on Refresh and every 15 s.
  useEffect(() => {
    let live = true;
    const load = () =>
      Promise.all([
        request<{ notificationChannels: Channel[] }>("GuardNotificationChannels"),
        request<Page>("GuardNotificationDeliveries", { status: status || null, first: PAGE, after: null }),
      ])
        .then(([health, page]) => {
          if (!live) return;
          setChannels(health.notificationChannels);
          const found = page.notificationDeliveries;
          setRows(found.edges.map((e) => e.node));
          setNext(found.pageInfo.hasNextPage ? found.pageInfo.endCursor : null);
          setError(null);
        })
        .catch((err) => live && setError(message(err)));
    load();
    const id = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(id);
    };
  }, [status, tick]);

  async function more() {
    try {
      const page = await request<Page>("GuardNotificationDeliveries", { status: status || null, first: PAGE, after: next });
      const found = page.notificationDeliveries;
      setRows((old) => [...(old ?? []), ...found.edges.map((e) => e.node).filter((n) => !(old ?? []).some((o) => o.id === n.id))]);
      setNext(found.pageInfo.hasNextPage ? found.pageInfo.endCursor : null);
    } catch (err) {
      setError(message(err));
    }
  }

  return (
    <div class="notify-admin">
      <ErrorNote text={error} />
      <section aria-labelledby="notify-channels">
        <h2 id="notify-channels">{t("guard.notify.channels")}</h2>
        {channels === null ? (
          <p>{t("common.loading")}</p>
        ) : channels.length === 0 ? (
          <p>{t("guard.notify.noChannels")}</p>
        ) : (
          <ul class="notify-cards" aria-label={t("guard.notify.channels")}>
            {channels.map((c) => (
              <ChannelCard key={c.name} channel={c} />
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="notify-deliveries">
        <h2 id="notify-deliveries">{t("guard.notify.deliveries")}</h2>
        <div class="guard-toolbar">
          <Choice
            label={t("guard.notify.status")}
            value={status}
            onChange={(value) => {
              setRows(null);
              setStatus(value);
            }}
            options={[
              ...STATUSES.map((s) => ({ value: s, label: coded("guard.notify.statusName", s) })),
              { value: "", label: t("guard.notify.all") },
            ]}
          />
          <button type="button" class="secondary" onClick={() => setTick((n) => n + 1)}>
            {t("guard.notify.refresh")}
          </button>
        </div>
        {rows === null ? (
          <p>{t("common.loading")}</p>
        ) : rows.length === 0 ? (
          <p>{t("guard.notify.none")}</p>
        ) : (
          <ul class="notify-cards" aria-label={t("guard.notify.deliveries")}>
            {rows.map((d) => (
              <DeliveryCard
                key={d.id}
                delivery={d}
                onChanged={(changed) => setRows((old) => (old ?? []).map((o) => (o.id === changed.id ? changed : o)))}
              />
            ))}
          </ul>
        )}
        {next ? (
          <button type="button" class="secondary" onClick={more}>
            {t("guard.notify.more")}
          </button>
        ) : null}
      </section>
    </div>
  );
}

function ChannelCard(props: { channel: Channel }) {
  const c = props.channel;
  const name = coded("guard.notify.channel", c.name);
  return (
    <li class={c.lastError && (c.lastFailureAt ?? "") > (c.lastSuccessAt ?? "") ? "failing" : "healthy"} aria-label={name}>
      <p>
        <strong>{name}</strong> · {c.configured ? t("guard.notify.configured") : t("guard.notify.notConfigured")}
      </p>
      <p>{t("guard.notify.counts", { pending: c.pending, failed: c.failed })}</p>
      {c.lastSuccessAt ? <p>{t("guard.notify.lastSuccess", { time: when(c.lastSuccessAt) })}</p> : null}
      {c.lastFailureAt ? <p>{t("guard.notify.lastFailure", { time: when(c.lastFailureAt) })}</p> : null}
      {c.lastError ? <p class="notify-error">{t("guard.notify.lastError", { error: c.lastError })}</p> : null}
    </li>
  );
}

function DeliveryCard(props: { delivery: Delivery; onChanged: (delivery: Delivery) => void }) {
  const d = props.delivery;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [retried, setRetried] = useState(false);
  const kind = coded("notify.kind", d.kind);

  async function retry() {
    setBusy(true);
    setError(null);
    setRetried(false);
    try {
      const data = await request("GuardRetryNotification", { id: d.id });
      props.onChanged(ok(data.retryNotification).delivery);
      setRetried(true);
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <li class={`delivery ${d.status}`} aria-label={`${kind} · ${d.addressMasked}`}>
      <p>
        <strong>{kind}</strong> · {coded("guard.notify.channel", d.channel)} ·{" "}
        <span class="delivery-status">{coded("guard.notify.statusName", d.status)}</span>
      </p>
      <p class="notify-address">{t("guard.notify.to", { address: d.addressMasked })}</p>
      <p>
        {t("guard.notify.attempts", { count: d.attempts })} · {t("guard.notify.cause", { cause: d.cause || "—" })}
      </p>
      {d.lastError ? <p class="notify-error">{t("guard.notify.error", { error: d.lastError })}</p> : null}
      <p class="notify-times">
        <span>{t("guard.notify.created", { time: when(d.createdAt) })}</span>
        {d.sentAt ? <span>{t("guard.notify.sent", { time: when(d.sentAt) })}</span> : null}
        {/* Only a delivery still to be sent has a time it is due (after quiet hours, or a retry). */}
        {WAITING.includes(d.status) ? <span>{t("guard.notify.next", { time: when(d.nextAttemptAt) })}</span> : null}
      </p>
      {RETRIABLE.includes(d.status) ? (
        <div class="guard-actions">
          <button type="button" disabled={busy} onClick={retry}>
            {t("guard.notify.retry")}
          </button>
        </div>
      ) : null}
      {retried ? (
        <p role="status" class="done">
          {t("guard.notify.retried")}
        </p>
      ) : null}
      <ErrorNote text={error} />
    </li>
  );
}
