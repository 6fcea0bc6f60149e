// Held item checks (itemChecks with status HELD): what was declared against what the scanner
// read, and why it was held; the guard lets it pass or refuses it (DecideItemCheck).
import { useEffect, useState } from "preact/hooks";
import { ok, request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { t } from "../../i18n";
import { coded, message, Text } from "./common";

/** "Laptop: not_yours" → "Laptop: not yours (in words)"; a sentence the server wrote stays as is. */
function problem(text: string): string {
  const at = text.lastIndexOf(": ");
  if (at < 0) return text;
  return `${text.slice(0, at)}: ${coded("guard.problem", text.slice(at + 2))}`;
}

interface Check {
  id: string;
  direction: string;
  declared: { description?: string; quantity?: number; labelCode?: string }[];
  scanned: { labelCode?: string; name?: string; problem?: string | null }[];
  problems: string[];
  status: string;
  person: { id: string; displayName: string } | null;
  gate: { id: string; name: string } | null;
}

export function ItemChecks() {
  const [checks, setChecks] = useState<Check[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function load() {
    try {
      const data = await request<{ itemChecks: { edges: { node: Check }[] } }>("HeldItemChecks");
      setChecks(data.itemChecks.edges.map((e) => e.node));
    } catch (err) {
      setError(message(err));
    }
  }
  useEffect(() => {
    load();
  }, []);

  if (error) return <ErrorNote text={error} />;
  if (checks === null) return <p>{t("common.loading")}</p>;
  return (
    <>
      <button type="button" onClick={load}>
        {t("guard.muster.refresh")}
      </button>
      {checks.length === 0 ? <p>{t("guard.items.none")}</p> : null}
      <ul class="guard-cards" aria-label={t("guard.items.title")}>
        {checks.map((c) => (
          <CheckCard key={c.id} check={c} onDone={() => setChecks((old) => (old ?? []).filter((o) => o.id !== c.id))} />
        ))}
      </ul>
    </>
  );
}

function CheckCard(props: { check: Check; onDone: () => void }) {
  const c = props.check;
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function decide(allow: boolean) {
    setBusy(true);
    setError(null);
    try {
      ok((await request("DecideItemCheck", { id: c.id, allow, note: note || null })).decideItemCheck);
      props.onDone();
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  }

  const who = c.person?.displayName ?? "—";
  return (
    <li aria-label={`${who} · ${c.gate?.name ?? ""}`}>
      <p>
        <strong>{who}</strong> · {c.gate?.name ?? "—"} · {c.direction === "IN" ? t("log.in") : t("log.out")}
      </p>
      <p>
        {t("guard.items.declared")}: {c.declared.map((d) => `${d.description ?? d.labelCode ?? "?"} ×${d.quantity ?? 1}`).join(", ") || "—"}
      </p>
      <p>
        {t("guard.items.scanned")}: {c.scanned.map((s) => (s.name ? `${s.name} (${s.labelCode ?? "?"})` : (s.labelCode ?? "?"))).join(", ") || "—"}
      </p>
      <p class="error">
        {t("guard.items.problems")}: {c.problems.map(problem).join("; ") || "—"}
      </p>
      <div class="guard-actions">
        <Text label={t("guard.items.note")} value={note} onInput={setNote} />
        <button type="button" disabled={busy} onClick={() => decide(true)}>
          {t("guard.items.allow")}
        </button>
        <button type="button" class="danger" disabled={busy} onClick={() => decide(false)}>
          {t("guard.items.refuse")}
        </button>
      </div>
      <ErrorNote text={error} />
    </li>
  );
}
