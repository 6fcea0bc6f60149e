// A guard's gate actions: a manual entry (someone who cannot scan, after a document check), a
// remote open, and lockdown / evacuation / release. The last ones go through a confirmation
// dialog, which also asks for the password when the server wants a fresh confirmation.
import { useEffect, useState } from "preact/hooks";
import { ok, request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { t } from "../../i18n";
import { Choice, coded, ConfirmDialog, message, type Site, Text, when } from "./common";

interface Person {
  id: string;
  displayName: string;
  username: string | null;
  kind: string;
}
interface Lockdown {
  id: string;
  mode: string;
  reason: string;
  startedAt: string;
  zone: { id: string; name: string } | null;
  gate: { id: string; name: string } | null;
}

type Pending =
  | { kind: "remoteOpen"; gateId: string; reason: string }
  | { kind: "lockdown" | "evacuate"; zoneId: string; reason: string }
  | { kind: "release"; lockdown: Lockdown };

export function Actions(props: { site: Site }) {
  const { site } = props;
  const gateOptions = site.gates.map((g) => ({ value: g.id, label: `${g.name} (${g.zone.name})` }));
  const [pending, setPending] = useState<Pending | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [lockdowns, setLockdowns] = useState<Lockdown[]>([]);

  async function loadLockdowns() {
    try {
      setLockdowns((await request<{ lockdowns: Lockdown[] }>("Lockdowns")).lockdowns);
    } catch {
      setLockdowns([]);
    }
  }
  useEffect(() => {
    loadLockdowns();
  }, []);

  // Remote open
  const [openGate, setOpenGate] = useState(site.gates[0]?.id ?? "");
  const [openReason, setOpenReason] = useState("");
  // Lockdown / evacuation
  const [scope, setScope] = useState("");
  const [emergencyReason, setEmergencyReason] = useState("");

  async function run(p: Pending): Promise<void> {
    if (p.kind === "remoteOpen") {
      ok((await request("RemoteOpen", { gateId: p.gateId, reason: p.reason })).remoteOpen);
      setDone(t("guard.actions.opened"));
      setOpenReason("");
    } else if (p.kind === "release") {
      ok((await request("ReleaseLockdown", { id: p.lockdown.id })).releaseLockdown);
      setDone(t("guard.actions.released"));
    } else {
      const name = p.kind === "lockdown" ? "Lockdown" : "Evacuate";
      ok((await request(name, { reason: p.reason, zoneId: p.zoneId || null, gateId: null }))[p.kind]);
      setDone(p.kind === "lockdown" ? t("guard.actions.lockedDown") : t("guard.actions.evacuating"));
      setEmergencyReason("");
    }
    await loadLockdowns();
  }

  const scopeName = (zoneId: string) => (zoneId ? (site.zones.find((z) => z.id === zoneId)?.name ?? zoneId) : t("guard.wholeSite"));

  return (
    <div class="guard-columns">
      <section aria-labelledby="manual-title">
        <h2 id="manual-title">{t("guard.manual.title")}</h2>
        <ManualEntry site={site} />
      </section>

      <section aria-labelledby="remote-title">
        <h2 id="remote-title">{t("guard.remote.title")}</h2>
        <form
          class="form"
          onSubmit={(e) => {
            e.preventDefault();
            setDone(null);
            setPending({ kind: "remoteOpen", gateId: openGate, reason: openReason });
          }}
        >
          <Choice label={t("guard.gate")} value={openGate} onChange={setOpenGate} options={gateOptions} />
          <Text label={t("guard.reasonField")} value={openReason} onInput={setOpenReason} required />
          <button type="submit">{t("guard.remote.submit")}</button>
        </form>
      </section>

      <section aria-labelledby="emergency-title">
        <h2 id="emergency-title">{t("guard.emergency.title")}</h2>
        <form class="form" onSubmit={(e) => e.preventDefault()}>
          <Choice
            label={t("guard.emergency.scope")}
            value={scope}
            onChange={setScope}
            options={[{ value: "", label: t("guard.wholeSite") }, ...site.zones.map((z) => ({ value: z.id, label: z.name }))]}
          />
          <Text label={t("guard.reasonField")} value={emergencyReason} onInput={setEmergencyReason} required />
          <div class="guard-buttons">
            <button
              type="button"
              class="danger"
              disabled={!emergencyReason.trim()}
              onClick={() => {
                setDone(null);
                setPending({ kind: "lockdown", zoneId: scope, reason: emergencyReason });
              }}
            >
              {t("guard.emergency.lockdown")}
            </button>
            <button
              type="button"
              class="danger"
              disabled={!emergencyReason.trim()}
              onClick={() => {
                setDone(null);
                setPending({ kind: "evacuate", zoneId: scope, reason: emergencyReason });
              }}
            >
              {t("guard.emergency.evacuate")}
            </button>
          </div>
        </form>
        <h3>{t("guard.emergency.inForce")}</h3>
        {lockdowns.length === 0 ? <p>{t("guard.emergency.none")}</p> : null}
        <ul class="guard-rows" aria-label={t("guard.emergency.inForce")}>
          {lockdowns.map((l) => (
            <li key={l.id}>
              <span>
                {coded("guard.mode", l.mode)} · {l.zone?.name ?? l.gate?.name ?? t("guard.wholeSite")}
              </span>
              <span>
                {l.reason} · {when(l.startedAt)}
              </span>
              <button type="button" onClick={() => setPending({ kind: "release", lockdown: l })}>
                {t("guard.emergency.release")}
              </button>
            </li>
          ))}
        </ul>
      </section>

      {done ? (
        <p class="done" role="status">
          {done}
        </p>
      ) : null}

      {pending ? (
        <ConfirmDialog
          title={
            pending.kind === "remoteOpen"
              ? t("guard.remote.confirm")
              : pending.kind === "release"
                ? t("guard.emergency.confirmRelease")
                : pending.kind === "lockdown"
                  ? t("guard.emergency.confirmLockdown")
                  : t("guard.emergency.confirmEvacuate")
          }
          run={() => run(pending)}
          onClose={() => setPending(null)}
        >
          <p>
            {pending.kind === "remoteOpen"
              ? `${site.gates.find((g) => g.id === pending.gateId)?.name ?? ""} · ${pending.reason}`
              : pending.kind === "release"
                ? `${coded("guard.mode", pending.lockdown.mode)} · ${pending.lockdown.zone?.name ?? pending.lockdown.gate?.name ?? t("guard.wholeSite")}`
                : `${scopeName(pending.zoneId)} · ${pending.reason}`}
          </p>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}

const DOCUMENTS = ["ID_CARD", "PASSPORT", "WORK_BADGE", "OTHER"];

function ManualEntry(props: { site: Site }) {
  const [people, setPeople] = useState<Person[]>([]);
  const [personId, setPersonId] = useState("");
  const [gateId, setGateId] = useState(props.site.gates[0]?.id ?? "");
  const [direction, setDirection] = useState("IN");
  const [documentType, setDocumentType] = useState("ID_CARD");
  const [last4, setLast4] = useState("");
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);

  useEffect(() => {
    request<{ people: { edges: { node: Person }[] } }>("GuardPeople")
      .then((d) => {
        const list = d.people.edges.map((e) => e.node);
        setPeople(list);
        setPersonId((old) => old || (list[0]?.id ?? ""));
      })
      .catch((err) => setError(message(err)));
  }, []);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const data = await request("RecordManualEntry", {
        input: { personId, gateId, direction, documentType, documentNumberLast4: last4, note: note || null },
      });
      const event = ok(data.recordManualEntry).event;
      setResult(
        `${event.person?.displayName ?? ""} · ${event.decision === "GRANTED" ? t("log.granted") : t("log.refused")} · ${
          event.direction === "IN" ? t("log.in") : t("log.out")
        }`,
      );
      setLast4("");
      setNote("");
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="form" onSubmit={submit}>
      <Choice
        label={t("guard.manual.person")}
        value={personId}
        onChange={setPersonId}
        options={people.map((p) => ({ value: p.id, label: p.username ? `${p.displayName} (${p.username})` : p.displayName }))}
      />
      <Choice
        label={t("guard.gate")}
        value={gateId}
        onChange={setGateId}
        options={props.site.gates.map((g) => ({ value: g.id, label: `${g.name} (${g.zone.name})` }))}
      />
      <Choice
        label={t("guard.manual.direction")}
        value={direction}
        onChange={setDirection}
        options={[
          { value: "IN", label: t("log.in") },
          { value: "OUT", label: t("log.out") },
        ]}
      />
      <Choice
        label={t("guard.manual.document")}
        value={documentType}
        onChange={setDocumentType}
        options={DOCUMENTS.map((d) => ({ value: d, label: coded("guard.document", d) }))}
      />
      <label class="field">
        <span>{t("guard.manual.last4")}</span>
        <input value={last4} maxLength={4} required onInput={(e) => setLast4((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <Text label={t("guard.manual.note")} value={note} onInput={setNote} />
      <ErrorNote text={error} />
      {result ? (
        <p class="done" role="status">
          {result}
        </p>
      ) : null}
      <button type="submit" disabled={busy || !personId}>
        {t("guard.manual.submit")}
      </button>
    </form>
  );
}
