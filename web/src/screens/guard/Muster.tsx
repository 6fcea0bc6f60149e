// The evacuation roll call (MusterRollCall): who is inside a zone (or the site) now, printable
// (guard.css's print rules keep only this list); "Confirm left" records that someone the list
// holds has gone (ConfirmLeft), with how the guard knows.
import { useEffect, useState } from "preact/hooks";
import { ok, request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { t } from "../../i18n";
import { Choice, coded, ConfirmDialog, message, type Site, when } from "./common";

interface Line {
  status: string;
  accessEndedAt: string | null;
  note: string | null;
  person: { id: string; displayName: string; kind: string };
  zones: { id: string; name: string }[];
}

export function Muster(props: { site: Site }) {
  const [zoneId, setZoneId] = useState("");
  const [lines, setLines] = useState<Line[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [leaving, setLeaving] = useState<Line | null>(null);
  const [note, setNote] = useState("");
  const [at, setAt] = useState(new Date().toISOString());

  async function load() {
    setError(null);
    try {
      const data = await request<{ muster: Line[] }>("MusterRollCall", { zoneId: zoneId || null });
      setLines(data.muster);
      setAt(new Date().toISOString());
    } catch (err) {
      setError(message(err));
    }
  }
  useEffect(() => {
    setLines(null);
    load();
  }, [zoneId]);

  const zoneName = zoneId ? (props.site.zones.find((z) => z.id === zoneId)?.name ?? "") : t("guard.wholeSite");
  return (
    <div class="muster">
      <div class="guard-toolbar no-print">
        <Choice
          label={t("guard.zone")}
          value={zoneId}
          onChange={setZoneId}
          options={[{ value: "", label: t("guard.wholeSite") }, ...props.site.zones.map((z) => ({ value: z.id, label: z.name }))]}
        />
        <button type="button" onClick={load}>
          {t("guard.muster.refresh")}
        </button>
        <button type="button" onClick={() => window.print()}>
          {t("guard.muster.print")}
        </button>
      </div>
      <p class="print-heading">
        {t("guard.muster.heading", { zone: zoneName, at: when(at), count: lines?.length ?? 0 })}
      </p>
      <ErrorNote text={error} />
      {lines === null ? (
        <p>{t("common.loading")}</p>
      ) : lines.length === 0 ? (
        <p>{t("guard.muster.empty")}</p>
      ) : (
        <table class="guard-table" aria-label={t("guard.muster.title")}>
          <thead>
            <tr>
              <th scope="col">{t("guard.muster.person")}</th>
              <th scope="col">{t("guard.muster.zones")}</th>
              <th scope="col">{t("guard.muster.status")}</th>
              <th scope="col" class="print-only">{t("guard.muster.seen")}</th>
              <th scope="col" class="no-print">
                <span class="visually-hidden">{t("guard.muster.actions")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {lines.map((l) => (
              <tr key={l.person.id}>
                <td>{l.person.displayName}</td>
                <td>{l.zones.map((z) => z.name).join(", ")}</td>
                <td>
                  {coded("guard.musterStatus", l.status)}
                  {l.note ? ` · ${l.note}` : ""}
                  {l.accessEndedAt ? ` · ${when(l.accessEndedAt)}` : ""}
                </td>
                <td class="print-only">☐</td>
                <td class="no-print">
                  <button type="button" aria-label={t("guard.muster.confirmLeftOf", { name: l.person.displayName })} onClick={() => setLeaving(l)}>
                    {t("guard.muster.confirmLeft")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {leaving ? (
        <ConfirmDialog
          title={t("guard.muster.confirmLeftOf", { name: leaving.person.displayName })}
          run={async () => {
            ok((await request("ConfirmLeft", { input: { personId: leaving.person.id, note } })).confirmLeft);
            setNote("");
            await load();
          }}
          onClose={() => setLeaving(null)}
        >
          <label class="field">
            <span>{t("guard.muster.how")}</span>
            <input value={note} required onInput={(e) => setNote((e.currentTarget as HTMLInputElement).value)} />
          </label>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
