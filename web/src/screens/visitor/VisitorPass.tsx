// The visitor's pass and the visit's details. The pass is made as the employee's is (BindPhone with
// a non-extractable Ed25519 key kept on this phone, screens/pass/PassScreen.tsx draws it); where
// the browser has no Ed25519, the server signs it (RequestCustodialPass, then PassTokens). The
// visitor is not asked: the pass appears as soon as the host approves.
import { useEffect, useState } from "preact/hooks";
import { ok, request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { t } from "../../i18n";
import { ed25519Supported, loadPass, newKeyPair, savePass, type StoredPass } from "../../pass/key";
import { CustodialPass, OwnPass } from "../pass/PassScreen";
import type { MyVisit } from "./InvitePage";
import { at } from "./format";

type PassState = { kind: "preparing" } | { kind: "own"; pass: StoredPass } | { kind: "custodial"; period: number; note: boolean };

function deviceName(): string {
  const ua = navigator.userAgent;
  return `Visitor web pass (${/iPhone|iPad/.test(ua) ? "iPhone" : /Android/.test(ua) ? "Android" : "browser"})`;
}

async function preparePass(me: MyVisit): Promise<PassState> {
  const stored = await loadPass();
  if (stored && stored.personId === me.id && me.pass?.credentialId === stored.cid) return { kind: "own", pass: stored };
  if (await ed25519Supported()) {
    const pair = await newKeyPair();
    const data = await request("BindPhone", { publicKey: pair.publicKey, deviceName: deviceName() });
    const credential = ok(data.bindPhone).credential;
    const pass: StoredPass = {
      cid: credential.id,
      period: credential.periodSeconds,
      personId: me.id,
      privateKey: pair.privateKey,
      publicKey: pair.publicKey,
    };
    await savePass(pass);
    return { kind: "own", pass };
  }
  const data = await request("RequestCustodialPass", { deviceName: deviceName() });
  return { kind: "custodial", period: ok(data.requestCustodialPass).credential.periodSeconds, note: true };
}

export function VisitorPass(props: { me: MyVisit }) {
  const [state, setState] = useState<PassState>({ kind: "preparing" });
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    preparePass(props.me)
      .then(setState)
      .catch((err: Error) => setError(t("bind.failed", { message: err.message })));
    // Once per person: the polled visit must not make a new key each time.
  }, [props.me.id]);

  if (error) return <ErrorNote text={error} />;
  if (state.kind === "preparing") return <p role="status">{t("visitor.binding")}</p>;
  return (
    <>
      {state.kind === "own" ? <OwnPass pass={state.pass} /> : <CustodialPass period={state.period} />}
      {state.kind === "custodial" ? <p class="note" role="status">{t("visitor.noCrypto")}</p> : null}
      <p class="note">{t("visitor.checkIn")}</p>
    </>
  );
}

interface Details {
  purpose: string;
  company: string;
  emergency: boolean;
  escorted: boolean;
  checkedInAt: string | null;
}

/** Host, zones, times and the escort rule. */
export function VisitDetails(props: { visit: NonNullable<MyVisit["visit"]> }) {
  const visit = props.visit;
  const [details, setDetails] = useState<Details | null>(null);
  useEffect(() => {
    request("MyVisitDetails")
      .then((data) => setDetails(data.me.visit))
      .catch(() => setDetails(null));
  }, [visit.id, visit.status]);
  return (
    <dl class="facts">
      <dt>{t("visitor.host")}</dt>
      <dd>{visit.hostName}</dd>
      <dt>{t("visitor.zones")}</dt>
      <dd>{visit.zones.map((z) => z.name).join(", ")}</dd>
      <dt>{t("visitor.from")}</dt>
      <dd>{at(visit.expectedStart)}</dd>
      <dt>{t("visitor.until")}</dt>
      <dd>{at(visit.expectedEnd)}</dd>
      {details ? (
        <>
          <dt>{t("visitor.purpose")}</dt>
          <dd>{details.purpose}</dd>
          {details.company ? (
            <>
              <dt>{t("visitor.company")}</dt>
              <dd>{details.company}</dd>
            </>
          ) : null}
          <dt>{t("visitor.escortRule")}</dt>
          <dd>{details.escorted ? t("visitor.escorted") : t("visitor.notEscorted")}</dd>
        </>
      ) : null}
    </dl>
  );
}
