// A visitor's page (`/invite/{inviteCode}`): the invitation (VisitInvitation) with the
// registration form (CompleteVisitorRegistration, which signs the visitor in) → waiting for the
// host's approval (MyVisit, polled) → the pass (a key of the visitor's own, as the employee's, or
// the custodial pass where Ed25519 is missing) and the visit's details → "visit over".
// A reload after registering finds the visitor by the stored session: the code works only once.
import { useEffect, useState } from "preact/hooks";
import { ok, request } from "../../app/graphql";
import { session, signedIn, type SessionData } from "../../app/session";
import { ErrorNote, Field, Shell } from "../../components/Shell";
import { t } from "../../i18n";
import { forgetPass, loadPass } from "../../pass/key";
import { VisitDetails, VisitorPass } from "./VisitorPass";
import { when } from "./format";
import "../host/visits.css";

export interface Invitation {
  visitorName: string;
  phoneMasked: string;
  hostName: string;
  purpose: string;
  expectedStart: string;
  expectedEnd: string;
  zoneNames: string[];
}

export interface MyVisit {
  id: string;
  displayName: string;
  visit: {
    id: string;
    status: string;
    expectedStart: string;
    expectedEnd: string;
    hostName: string;
    zones: { id: string; name: string }[];
  } | null;
  pass: { credentialId: string; periodSeconds: number; status: string } | null;
}

const ENDED = ["REJECTED", "CHECKED_OUT", "CANCELLED", "EXPIRED"];
const PASSING = ["APPROVED", "CHECKED_IN"];
// Well inside the 30 s PHONE_APP.md allows between the host's approval and the pass on screen.
const POLL_MS = 4000;

async function loadMe(): Promise<MyVisit | null> {
  const data = await request<{ me: MyVisit }>("MyVisit");
  return data.me.visit ? data.me : null;
}

export function InvitePage(props: { params: string[] }) {
  const code = props.params[0] ?? "";
  const [me, setMe] = useState<MyVisit | null | undefined>(undefined);
  const [invitation, setInvitation] = useState<Invitation | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  // Who is here: a visitor signed in on this phone (registered before), or the invitation.
  useEffect(() => {
    (async () => {
      try {
        if (signedIn.value === null) await session.restore();
        const mine = signedIn.value ? await loadMe().catch(() => null) : null;
        if (mine && mine.visit && !ENDED.includes(mine.visit.status)) {
          setMe(mine);
          return;
        }
        const data = await request<{ invitation: Invitation | null }>("VisitInvitation", { inviteCode: code });
        if (data.invitation === null && mine) setMe(mine); // the code is spent: show how the visit ended
        else {
          setMe(null);
          setInvitation(data.invitation);
        }
      } catch (err) {
        setError(t("common.error", { message: (err as Error).message }));
      }
    })();
  }, [code]);

  // While the visit is on, its status is read again every few seconds (approval, check-in, end).
  const status = me?.visit?.status;
  useEffect(() => {
    if (!me || !status || ENDED.includes(status)) return;
    const id = setInterval(() => {
      loadMe()
        .then((next) => next && setMe(next))
        .catch(() => {
          // Offline or the server away: the page keeps what it shows, the pass included.
        });
    }, POLL_MS);
    return () => clearInterval(id);
  }, [me === null || me === undefined, status]);

  useEffect(() => {
    if (me && status && ENDED.includes(status)) {
      loadPass().then((stored) => (stored && stored.personId === me.id ? forgetPass() : undefined));
    }
  }, [status]);

  if (error) {
    return (
      <Shell title={t("visitor.title")}>
        <ErrorNote text={error} />
      </Shell>
    );
  }
  if (me === undefined) return <Shell>{t("common.loading")}</Shell>;
  if (me === null) {
    if (invitation === undefined) return <Shell>{t("common.loading")}</Shell>;
    if (invitation === null) {
      return (
        <Shell title={t("visitor.title")}>
          <p role="alert">{t("visitor.invalid")}</p>
        </Shell>
      );
    }
    return <Register code={code} invitation={invitation} onRegistered={setMe} />;
  }
  const visit = me.visit!;
  if (ENDED.includes(visit.status)) return <VisitOver status={visit.status} />;
  if (PASSING.includes(visit.status)) return <Visiting me={me} />;
  return (
    <Shell title={t("visitor.waitingTitle")}>
      <p role="status" class="waiting">
        {t("visitor.waiting", { name: me.displayName, host: visit.hostName })}
      </p>
      <VisitDetails visit={visit} />
    </Shell>
  );
}

function Register(props: { code: string; invitation: Invitation; onRegistered: (me: MyVisit) => void }) {
  const inv = props.invitation;
  const [documentType, setDocumentType] = useState("ID_CARD");
  const [idNumber, setIdNumber] = useState("");
  const [company, setCompany] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const data = await request("CompleteVisitorRegistration", {
        inviteCode: props.code,
        input: { idNumber: idNumber.trim(), documentType, company: company.trim() || null },
      });
      const payload = ok<{ session: SessionData; errors: { code: string; message: string }[] }>(
        data.completeVisitorRegistration,
      );
      await session.start(payload.session);
      const me = await loadMe();
      if (me) props.onRegistered(me);
    } catch (err) {
      setError(t("visitor.failed", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Shell title={t("visitor.title")}>
      <p class="lead">{t("visitor.invitedBy", { host: inv.hostName })}</p>
      <dl class="facts">
        <dt>{t("visitor.you")}</dt>
        <dd>{inv.visitorName}</dd>
        <dt>{t("visitor.phone")}</dt>
        <dd>{inv.phoneMasked}</dd>
        <dt>{t("visitor.when")}</dt>
        <dd>{when(inv.expectedStart, inv.expectedEnd)}</dd>
        <dt>{t("visitor.where")}</dt>
        <dd>{inv.zoneNames.join(", ")}</dd>
        <dt>{t("visitor.purpose")}</dt>
        <dd>{inv.purpose}</dd>
      </dl>
      <form class="form" onSubmit={submit}>
        <label class="field">
          <span>{t("visitor.documentType")}</span>
          <select value={documentType} onChange={(e) => setDocumentType((e.currentTarget as HTMLSelectElement).value)}>
            {(["ID_CARD", "PASSPORT", "OTHER"] as const).map((d) => (
              <option value={d} key={d}>
                {t(`visitor.doc.${d}` as const)}
              </option>
            ))}
          </select>
        </label>
        <Field label={t("visitor.documentNumber")} value={idNumber} onInput={setIdNumber} autocomplete="off" />
        <label class="field">
          <span>
            {t("visitor.company")} <small class="note">({t("visitor.optional")})</small>
          </span>
          <input
            type="text"
            aria-label={t("visitor.company")}
            value={company}
            autocomplete="organization"
            onInput={(e) => setCompany((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <p class="note">{t("visitor.privacy")}</p>
        <ErrorNote text={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t("visitor.working") : t("visitor.submit")}
        </button>
      </form>
    </Shell>
  );
}

function Visiting(props: { me: MyVisit }) {
  const [view, setView] = useState<"pass" | "details">("pass");
  const nav = (
    <>
      {(["pass", "details"] as const).map((v) => (
        <button type="button" key={v} aria-current={view === v ? "page" : undefined} onClick={() => setView(v)}>
          {v === "pass" ? t("visitor.menuPass") : t("visitor.menuDetails")}
        </button>
      ))}
    </>
  );
  return (
    <Shell nav={nav} title={view === "details" ? t("visitor.detailsTitle") : undefined}>
      {view === "pass" ? (
        <>
          <p class="who">
            {props.me.displayName} · {t(`visitor.status.${props.me.visit!.status as "APPROVED" | "CHECKED_IN"}`)}
          </p>
          <VisitorPass me={props.me} />
        </>
      ) : (
        <VisitDetails visit={props.me.visit!} />
      )}
    </Shell>
  );
}

function VisitOver(props: { status: string }) {
  const key = `visitor.over.${props.status}` as "visitor.over.CHECKED_OUT";
  return (
    <Shell title={t("visitor.overTitle")}>
      <section class="over" role="status">
        <p class="lead">{t(key)}</p>
        <p class="note">{t("visitor.overNote")}</p>
      </section>
    </Shell>
  );
}
