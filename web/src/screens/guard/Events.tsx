// Live gate events ("Gate events" / 通行记录, PHONE_APP.md): the newest page, then the live feed
// resumed after its newest cursor, so nothing stored in between is missed and nothing shows twice.
// A zone filter narrows both; the reason is shown in words.
import { useEffect, useState } from "preact/hooks";
import { request, subscribe } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { t } from "../../i18n";
import { Choice, coded, type Site, when } from "./common";

export interface GateEvent {
  id: string;
  at: string;
  decision: string | null;
  reason: string;
  method: string | null;
  direction: string | null;
  offline: boolean;
  cursor: string;
  gate: { id: string; name: string; zone: { id: string; name: string } };
  person: { id: string; displayName: string } | null;
}

const SHOWN = 100;

export function Events(props: { site: Site }) {
  const [zoneId, setZoneId] = useState("");
  const [events, setEvents] = useState<GateEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stop: (() => void) | null = null;
    let ended = false;
    setEvents(null);
    setError(null);
    const zone = zoneId || null;
    request<{ gateEvents: { edges: { node: GateEvent }[] } }>("GuardRecentEvents", { zoneId: zone, first: 50 })
      .then((data) => {
        if (ended) return;
        const page = data.gateEvents.edges.map((e) => e.node);
        setEvents(page);
        stop = subscribe<{ gateEvents: GateEvent }>(
          "GuardGateEvents",
          { zoneId: zone, after: page[0]?.cursor ?? null },
          (live) =>
            setEvents((old) => {
              const rows = old ?? [];
              if (rows.some((r) => r.id === live.gateEvents.id)) return rows; // a resumed replay
              return [live.gateEvents, ...rows].slice(0, SHOWN);
            }),
          (err) => setError(t("common.error", { message: err.message })),
        );
      })
      .catch((err) => setError(t("common.error", { message: (err as Error).message })));
    return () => {
      ended = true;
      stop?.();
    };
  }, [zoneId]);

  return (
    <>
      <div class="guard-toolbar">
        <Choice
          label={t("guard.zone")}
          value={zoneId}
          onChange={setZoneId}
          options={[{ value: "", label: t("guard.allZones") }, ...props.site.zones.map((z) => ({ value: z.id, label: z.name }))]}
        />
      </div>
      <ErrorNote text={error} />
      {events === null ? <p>{t("common.loading")}</p> : null}
      <ul class="guard-rows" role="log" aria-live="polite" aria-label={t("guard.events")}>
        {(events ?? []).map((e) => (
          <li key={e.id} class={e.decision === "GRANTED" ? "granted" : e.decision === null ? "alarm" : "refused"}>
            <time dateTime={e.at}>{when(e.at)}</time>
            <span>
              {e.gate.name} · {e.gate.zone.name}
            </span>
            <span>{e.person?.displayName ?? "—"}</span>
            <span class="decision">
              {e.decision === null ? t("guard.alarm") : e.decision === "GRANTED" ? t("log.granted") : t("log.refused")}
              {e.direction ? ` · ${e.direction === "IN" ? t("log.in") : t("log.out")}` : ""}
              {e.method ? ` · ${coded("guard.method", e.method)}` : ""}
            </span>
            <span class="reason">
              {coded("guard.reason", e.reason)}
              {e.offline ? ` · ${t("guard.offline")}` : ""}
            </span>
          </li>
        ))}
      </ul>
      {events !== null && events.length === 0 ? <p>{t("guard.noEvents")}</p> : null}
    </>
  );
}
