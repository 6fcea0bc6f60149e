// The guard console (`/guard`, tablet and desktop): sign in with the same Username / Password /
// Sign in controls as the phone app (and set a new password first when the one used was issued),
// then live gate events, alerts with their workflow, today's visitors, gate actions (manual
// entry, remote open, lockdown / evacuation / release), the muster list and held item checks.
import { useEffect, useState } from "preact/hooks";
import { closeSubscriptions, request, subscribe } from "../../app/graphql";
import { useMe } from "../../app/me";
import { mustChangePassword, session, signedIn } from "../../app/session";
import { Shell } from "../../components/Shell";
import { t } from "../../i18n";
import { ChangePassword } from "../ChangePassword";
import { passwordJustUsed, SignIn } from "../SignIn";
import { Actions } from "./Actions";
import { type Alert, Alerts } from "./Alerts";
import { message, type Site } from "./common";
import { Deliveries, NOTIFY_ROLES } from "./Deliveries";
import { Events } from "./Events";
import { ItemChecks } from "./ItemChecks";
import { Muster } from "./Muster";
import { Visitors } from "./Visitors";
import "./guard.css";

interface Me {
  id: string;
  displayName: string;
  roles: string[];
  mustChangePassword: boolean;
}

const GATE_STAFF = ["GUARD", "SECURITY_ADMIN", "ADMIN"];
const VIEWS = ["events", "alerts", "visitors", "actions", "muster", "items", "notify"] as const;
type View = (typeof VIEWS)[number];

export function GuardConsole() {
  const [restored, setRestored] = useState(signedIn.value !== null);
  const [me, setMe] = useMe<Me>("GuardConsoleMe");

  useEffect(() => {
    if (signedIn.value === null) session.restore().then(() => setRestored(true));
  }, []);

  async function signOut() {
    try {
      await request("SignOut");
    } catch {
      // Already ended or unreachable: forgotten here all the same.
    }
    closeSubscriptions();
    await session.forget();
    setMe(null);
  }

  if (!restored) return <Shell>{t("common.loading")}</Shell>;
  if (!signedIn.value) return <SignIn />;
  if (mustChangePassword.value) return <ChangePassword currentPassword={passwordJustUsed.value} />;
  if (me === null) return <Shell>{t("common.loading")}</Shell>;
  if (!me.roles.some((r) => GATE_STAFF.includes(r))) {
    return (
      <Shell title={t("guard.title")}>
        <p>{t("guard.notStaff")}</p>
        <button type="button" onClick={signOut}>
          {t("menu.signOut")}
        </button>
      </Shell>
    );
  }
  return <Console me={me} onSignOut={signOut} />;
}

function Console(props: { me: Me; onSignOut: () => void }) {
  const [view, setView] = useState<View>("events");
  const [site, setSite] = useState<Site | null>(null);
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    request<Site>("GuardSite")
      .then(setSite)
      .catch((err) => setError(message(err)));
  }, []);

  // Alerts are followed on every screen: the menu shows how many are open.
  useEffect(() => {
    let stop: (() => void) | null = null;
    let ended = false;
    request<{ deviceAlerts: Alert[] }>("GuardAlerts")
      .then((data) => {
        if (ended) return;
        setAlerts(data.deviceAlerts);
        stop = subscribe<{ deviceAlerts: Alert }>(
          "GuardAlertFeed",
          { after: data.deviceAlerts[0]?.cursor ?? null },
          (live) =>
            setAlerts((old) => {
              const rows = old ?? [];
              if (rows.some((a) => a.id === live.deviceAlerts.id)) return rows;
              return [live.deviceAlerts, ...rows];
            }),
          (err) => setError(message(err)),
        );
      })
      .catch((err) => setError(message(err)));
    return () => {
      ended = true;
      stop?.();
    };
  }, []);

  // The feed brings new alerts; steps other guards took on older ones are read again whenever
  // the alerts screen opens.
  useEffect(() => {
    if (view !== "alerts" || alerts === null) return;
    request<{ deviceAlerts: Alert[] }>("GuardAlerts")
      .then((data) =>
        setAlerts((old) => {
          const fresh = new Set(data.deviceAlerts.map((a) => a.id));
          const newest = Math.max(0, ...data.deviceAlerts.map((a) => Number(a.id)));
          const arrivedSince = (old ?? []).filter((a) => !fresh.has(a.id) && Number(a.id) > newest);
          return [...arrivedSince, ...data.deviceAlerts];
        }),
      )
      .catch((err) => setError(message(err)));
  }, [view]);

  const open = (alerts ?? []).filter((a) => a.status !== "CLOSED").length;
  // The outbox is for site admins only (the server refuses anyone else): no tab for the others.
  const admin = props.me.roles.some((r) => NOTIFY_ROLES.includes(r));
  const nav = (
    <>
      {VIEWS.filter((v) => v !== "notify" || admin).map((v) => (
        <button type="button" key={v} aria-current={view === v ? "page" : undefined} onClick={() => setView(v)}>
          {t(`guard.menu.${v}` as const)}
          {v === "alerts" && open > 0 ? <span class="badge">{` ${open}`}</span> : null}
        </button>
      ))}
      <button type="button" onClick={props.onSignOut}>
        {t("menu.signOut")}
      </button>
    </>
  );

  const titles: Record<View, string> = {
    events: t("guard.events"),
    alerts: t("guard.alerts.title"),
    visitors: t("guard.visitors.title"),
    actions: t("guard.actions.title"),
    muster: t("guard.muster.title"),
    items: t("guard.items.title"),
    notify: t("guard.notify.title"),
  };
  return (
    <Shell nav={nav} title={titles[view]}>
      <div class="guard">
        <p class="who no-print">{t("guard.signedInAs", { name: props.me.displayName })}</p>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        {site === null ? (
          <p>{t("common.loading")}</p>
        ) : view === "events" ? (
          <Events site={site} />
        ) : view === "alerts" ? (
          <Alerts
            alerts={alerts}
            meId={props.me.id}
            onChanged={(changed) => setAlerts((old) => (old ?? []).map((a) => (a.id === changed.id ? { ...a, ...changed } : a)))}
          />
        ) : view === "visitors" ? (
          <Visitors />
        ) : view === "actions" ? (
          <Actions site={site} />
        ) : view === "muster" ? (
          <Muster site={site} />
        ) : view === "notify" && admin ? (
          <Deliveries />
        ) : (
          <ItemChecks />
        )}
      </div>
    </Shell>
  );
}
