// Today's expected visitors (ExpectedVisitors, guard.graphql): an approved visitor is checked in
// after the document check (the last 4 characters of the ID number they show), a checked-in one
// checked out.
import { useEffect, useState } from "preact/hooks";
import { ok, request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { t } from "../../i18n";
import { coded, message, when } from "./common";

interface Visit {
  id: string;
  status: string;
  visitorName: string;
  hostName: string;
  expectedStart: string;
  expectedEnd: string;
}

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export function Visitors() {
  const [visits, setVisits] = useState<Visit[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function load() {
    try {
      const data = await request<{ expectedVisitors: Visit[] }>("ExpectedVisitors", { day: today() });
      setVisits(data.expectedVisitors);
    } catch (err) {
      setError(message(err));
    }
  }
  useEffect(() => {
    load();
  }, []);

  if (error) return <ErrorNote text={error} />;
  if (visits === null) return <p>{t("common.loading")}</p>;
  if (visits.length === 0) return <p>{t("guard.visitors.none")}</p>;
  return (
    <ul class="guard-cards" aria-label={t("guard.visitors.title")}>
      {visits.map((v) => (
        <VisitCard key={v.id} visit={v} onChanged={(status) => setVisits((old) => (old ?? []).map((o) => (o.id === v.id ? { ...o, status } : o)))} />
      ))}
    </ul>
  );
}

function VisitCard(props: { visit: Visit; onChanged: (status: string) => void }) {
  const v = props.visit;
  const [last4, setLast4] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function run(name: string, field: string, variables: Record<string, unknown>) {
    setBusy(true);
    setError(null);
    try {
      const data = await request(name, { id: v.id, ...variables });
      props.onChanged(ok(data[field]).visit.status);
      setLast4("");
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <li aria-label={v.visitorName}>
      <p>
        <strong>{v.visitorName}</strong> · {t("guard.visitors.host", { name: v.hostName })}
      </p>
      <p>
        {when(v.expectedStart)} – {when(v.expectedEnd)} · {coded("guard.visitStatus", v.status)}
      </p>
      {v.status === "APPROVED" ? (
        <form
          class="guard-actions"
          onSubmit={(e) => {
            e.preventDefault();
            run("CheckInVisitor", "checkInVisitor", { idNumberLast4: last4 });
          }}
        >
          <label class="field">
            <span>{t("guard.visitors.last4")}</span>
            <input value={last4} maxLength={4} required onInput={(e) => setLast4((e.currentTarget as HTMLInputElement).value)} />
          </label>
          <button type="submit" disabled={busy}>
            {t("guard.visitors.checkIn")}
          </button>
        </form>
      ) : null}
      {v.status === "CHECKED_IN" ? (
        <button type="button" disabled={busy} onClick={() => run("CheckOutVisitor", "checkOutVisitor", {})}>
          {t("guard.visitors.checkOut")}
        </button>
      ) : null}
      <ErrorNote text={error} />
    </li>
  );
}
