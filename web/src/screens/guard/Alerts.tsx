// Alerts, live (GuardAlertFeed, held by GuardConsole so the menu counts open ones on any screen),
// and their workflow: acknowledge, assign to one of the gate staff, close with a note. Every step
// is a mutation the server audits.
import { useEffect, useState } from "preact/hooks";
import { ok, request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { t } from "../../i18n";
import { Choice, coded, message, Text, when } from "./common";

export interface Alert {
  id: string;
  at: string;
  kind: string;
  message: string;
  status: "OPEN" | "ACKNOWLEDGED" | "CLOSED";
  cursor?: string;
  acknowledgedAt: string | null;
  assignedAt: string | null;
  closedAt: string | null;
  closeNote: string | null;
  gate?: { id: string; name: string } | null;
  acknowledgedBy: { id: string; displayName: string } | null;
  assignee: { id: string; displayName: string } | null;
  closedBy: { id: string; displayName: string } | null;
}

interface Person {
  id: string;
  displayName: string;
}

export function Alerts(props: { alerts: Alert[] | null; onChanged: (alert: Partial<Alert> & { id: string }) => void; meId: string }) {
  const [people, setPeople] = useState<Person[]>([]);
  const [showClosed, setShowClosed] = useState(false);

  useEffect(() => {
    request<{ alertAssignees: Person[] }>("AlertAssignees")
      .then((d) => setPeople(d.alertAssignees))
      .catch(() => setPeople([]));
  }, []);

  if (props.alerts === null) return <p>{t("common.loading")}</p>;
  const shown = props.alerts.filter((a) => showClosed || a.status !== "CLOSED");
  return (
    <>
      <label class="field inline">
        <input type="checkbox" checked={showClosed} onChange={(e) => setShowClosed((e.currentTarget as HTMLInputElement).checked)} />
        <span>{t("guard.alerts.showClosed")}</span>
      </label>
      {shown.length === 0 ? <p>{t("guard.alerts.none")}</p> : null}
      <ul class="guard-cards" aria-label={t("guard.alerts.title")}>
        {shown.map((a) => (
          <AlertCard key={a.id} alert={a} people={people} meId={props.meId} onChanged={props.onChanged} />
        ))}
      </ul>
    </>
  );
}

function AlertCard(props: { alert: Alert; people: Person[]; meId: string; onChanged: (alert: Partial<Alert> & { id: string }) => void }) {
  const a = props.alert;
  const [assignee, setAssignee] = useState(a.assignee?.id ?? props.meId);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function step(name: string, field: string, variables: Record<string, unknown>) {
    setBusy(true);
    setError(null);
    try {
      const data = await request(name, { id: a.id, ...variables });
      props.onChanged(ok(data[field]).alert);
      setNote("");
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <li class={`alert ${a.status.toLowerCase()}`} aria-label={`${coded("guard.kind", a.kind)} · ${a.message}`}>
      <p>
        <strong>{coded("guard.kind", a.kind)}</strong> · {a.gate?.name ?? "—"} · <time dateTime={a.at}>{when(a.at)}</time>
      </p>
      <p>{a.message}</p>
      <p class="status">
        {coded("guard.alertStatus", a.status)}
        {a.acknowledgedBy ? ` · ${t("guard.alerts.acknowledgedBy", { name: a.acknowledgedBy.displayName })}` : ""}
        {a.assignee ? ` · ${t("guard.alerts.assignedTo", { name: a.assignee.displayName })}` : ""}
        {a.closedBy ? ` · ${t("guard.alerts.closedBy", { name: a.closedBy.displayName })}` : ""}
        {a.closeNote ? ` · ${a.closeNote}` : ""}
      </p>
      {a.status === "CLOSED" ? null : (
        <div class="guard-actions">
          {a.status === "OPEN" ? (
            <button type="button" disabled={busy} onClick={() => step("AcknowledgeAlert", "acknowledgeAlert", {})}>
              {t("guard.alerts.acknowledge")}
            </button>
          ) : null}
          <Choice
            label={t("guard.alerts.assignee")}
            value={assignee}
            onChange={setAssignee}
            options={props.people.map((p) => ({ value: p.id, label: p.displayName }))}
          />
          <button type="button" disabled={busy || !assignee} onClick={() => step("AssignAlert", "assignAlert", { personId: assignee })}>
            {t("guard.alerts.assign")}
          </button>
          <Text label={t("guard.alerts.note")} value={note} onInput={setNote} />
          <button type="button" disabled={busy || !note.trim()} onClick={() => step("CloseAlert", "closeAlert", { note })}>
            {t("guard.alerts.close")}
          </button>
        </div>
      )}
      <ErrorNote text={error} />
    </li>
  );
}
