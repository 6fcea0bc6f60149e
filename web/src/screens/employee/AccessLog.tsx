// My access log (MyAccessLog, employee.graphql), newest first, a page at a time.
import { useEffect, useState } from "preact/hooks";
import { request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { lang, t } from "../../i18n";

interface Passage {
  id: string;
  at: string;
  decision: string;
  reason: string | null;
  direction: string | null;
  gate: { id: string; name: string } | null;
}

const PAGE = 20;

export function AccessLog() {
  const [rows, setRows] = useState<Passage[] | null>(null);
  const [after, setAfter] = useState<string | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function load(cursor: string | null) {
    try {
      const data = await request("MyAccessLog", { first: PAGE, after: cursor });
      const log = data.me.accessLog;
      setRows((old) => [...(cursor ? (old ?? []) : []), ...log.edges.map((e: { node: Passage }) => e.node)]);
      setAfter(log.pageInfo.endCursor);
      setMore(log.pageInfo.hasNextPage);
    } catch (err) {
      setError(t("common.error", { message: (err as Error).message }));
    }
  }
  useEffect(() => {
    load(null);
  }, []);

  if (error) return <ErrorNote text={error} />;
  if (rows === null) return <p>{t("common.loading")}</p>;
  if (rows.length === 0) return <p>{t("log.empty")}</p>;
  const format = new Intl.DateTimeFormat(lang.value, { dateStyle: "medium", timeStyle: "short" });
  return (
    <>
      <ul class="rows" aria-label={t("log.title")}>
        {rows.map((r) => (
          <li key={r.id} class={r.decision === "GRANTED" ? "granted" : "refused"}>
            <time dateTime={r.at}>{format.format(new Date(r.at))}</time>
            <span>{r.gate?.name ?? "—"}</span>
            <span>
              {r.decision === "GRANTED" ? t("log.granted") : t("log.refused")}
              {r.direction ? ` · ${r.direction === "IN" ? t("log.in") : t("log.out")}` : ""}
              {r.reason && r.decision !== "GRANTED" ? ` · ${r.reason}` : ""}
            </span>
          </li>
        ))}
      </ul>
      {more ? (
        <button type="button" onClick={() => load(after)}>
          {t("log.more")}
        </button>
      ) : null}
    </>
  );
}
