// `/`: an employee's phone app. Signed out → sign in; an issued password → set a new one;
// no pass key on this phone → bind it; then the pass, the access log, attendance days and the face.
// Offline with a key on this phone, the pass shows without any sign-in (the key is enough).
import { useEffect, useState } from "preact/hooks";
import { closeSubscriptions, request } from "../../app/graphql";
import { online } from "../../app/network";
import { useMe } from "../../app/me";
import { mustChangePassword, session, signedIn } from "../../app/session";
import { Shell } from "../../components/Shell";
import { t } from "../../i18n";
import { forgetPass, loadPass, type StoredPass } from "../../pass/key";
import { ChangePassword } from "../ChangePassword";
import { CustodialPass, OwnPass } from "../pass/PassScreen";
import { SignIn, passwordJustUsed } from "../SignIn";
import { AccessLog } from "./AccessLog";
import { Attendance } from "./Attendance";
import { HostScreen } from "../host/HostScreen";
import { BindPhone } from "./BindPhone";
import { FaceScreen } from "./Face";
import { NotificationsScreen } from "./Notifications";
import { STOCKTAKER_ROLES, StocktakeScreen } from "./Stocktake";

export interface Me {
  id: string;
  displayName: string;
  username: string | null;
  kind: "EMPLOYEE" | "VISITOR";
  roles?: string[];
  mustChangePassword: boolean;
  pass: { credentialId: string; periodSeconds: number; status: string; kind: "PHONE" | "CUSTODIAL" | string } | null;
}

type View = "pass" | "log" | "attendance" | "face" | "visitors" | "stocktake" | "notifications";

export function EmployeeApp() {
  const [restored, setRestored] = useState<"signed-in" | "signed-out" | "offline" | null>(null);
  const [stored, setStored] = useState<StoredPass | null | undefined>(undefined);
  const [me, setMe] = useMe<Me>("PhoneAppMe");
  const [view, setView] = useState<View>("pass");
  const [custodial, setCustodial] = useState(false);

  useEffect(() => {
    loadPass().then((p) => setStored(p ?? null));
    if (signedIn.value === null) session.restore().then(setRestored);
    else setRestored(signedIn.value ? "signed-in" : "signed-out");
  }, []);

  async function signOut() {
    try {
      await request("SignOut");
    } catch {
      // Offline or already ended: the session is forgotten here all the same.
    }
    closeSubscriptions();
    await forgetPass();
    await session.forget();
    setStored(null);
    setMe(null);
    setCustodial(false);
  }

  if (restored === null || stored === undefined) return <Shell>{t("common.loading")}</Shell>;

  // Offline (or the server unreachable) with a key on this phone: the pass, nothing else.
  if (!signedIn.value && stored && (restored === "offline" || !online.value)) {
    return (
      <Shell title={t("pass.title")}>
        <OwnPass pass={stored} />
      </Shell>
    );
  }
  if (!signedIn.value) return <SignIn />;
  if (mustChangePassword.value) return <ChangePassword currentPassword={passwordJustUsed.value} />;
  if (me === null) {
    return stored ? (
      <Shell title={t("pass.title")}>
        <OwnPass pass={stored} />
      </Shell>
    ) : (
      <Shell>{t("common.loading")}</Shell>
    );
  }

  // The key on this phone counts only if it is this person's live pass.
  const mine = stored && stored.personId === me.id && me.pass?.credentialId === stored.cid ? stored : null;
  // The stocktake is for those who count stock (the server refuses anyone else all the same).
  const counts = (me.roles ?? []).some((role) => STOCKTAKER_ROLES.includes(role));
  const views: View[] = ["pass", "visitors", "log", "attendance", "face", ...(counts ? (["stocktake"] as View[]) : []), "notifications"];
  const nav = (
    <>
      {views.map((v) => (
        <button type="button" key={v} aria-current={view === v ? "page" : undefined} onClick={() => setView(v)}>
          {v === "visitors" ? t("host.menu") : t(`menu.${v}` as "menu.pass")}
        </button>
      ))}
      <button type="button" onClick={signOut}>
        {t("menu.signOut")}
      </button>
    </>
  );

  if (view === "visitors") return <Shell nav={nav} title={t("host.menu")}><HostScreen roles={me.roles ?? []} /></Shell>;
  if (view === "log") return <Shell nav={nav} title={t("log.title")}><AccessLog /></Shell>;
  if (view === "attendance") return <Shell nav={nav} title={t("attendance.title")}><Attendance me={me} /></Shell>;
  if (view === "stocktake" && counts) return <Shell nav={nav} title={t("stocktake.title")}><StocktakeScreen /></Shell>;
  if (view === "notifications") return <Shell nav={nav} title={t("notify.title")}><NotificationsScreen /></Shell>;
  if (view === "face") return <Shell nav={nav} title={t("face.title")}><FaceScreen /></Shell>;
  return (
    <Shell nav={nav}>
      <p class="who">{me.displayName}</p>
      {mine ? (
        <OwnPass pass={mine} />
      ) : custodial ? (
        <CustodialPass period={me.pass?.periodSeconds ?? 15} />
      ) : (
        <BindPhone
          me={me}
          onBound={(pass) => {
            setStored(pass);
            setMe({ ...me, pass: { credentialId: pass.cid, periodSeconds: pass.period, status: "ACTIVE", kind: "PHONE" } });
          }}
          onCustodial={(period) => {
            setMe({ ...me, pass: me.pass && { ...me.pass, periodSeconds: period } });
            setCustodial(true);
          }}
        />
      )}
    </Shell>
  );
}
