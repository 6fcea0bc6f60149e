// "Use this phone as my pass" (PHONE_APP.md): a non-extractable Ed25519 key made here, its
// public key sent by BindPhone (employee.graphql), the key kept in IndexedDB. Where the browser
// has no Ed25519 (or no secure context), it says so and offers the custodial pass.
import { useEffect, useState } from "preact/hooks";
import { ok, request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { t } from "../../i18n";
import { ed25519Supported, newKeyPair, savePass, type StoredPass } from "../../pass/key";
import { DEFAULT_PERIOD } from "../../pass/token";
import type { Me } from "./EmployeeApp";

function deviceName(): string {
  const ua = navigator.userAgent;
  const kind = /iPhone|iPad/.test(ua) ? "iPhone" : /Android/.test(ua) ? "Android" : "browser";
  return `Web pass (${kind})`;
}

export function BindPhone(props: { me: Me; onBound: (pass: StoredPass) => void; onCustodial: (period: number) => void }) {
  const [supported, setSupported] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    ed25519Supported().then(setSupported);
  }, []);

  async function bind() {
    setBusy(true);
    setError(null);
    try {
      const pair = await newKeyPair();
      const data = await request("BindPhone", { publicKey: pair.publicKey, deviceName: deviceName() });
      const credential = ok(data.bindPhone).credential;
      const pass: StoredPass = {
        cid: credential.id,
        period: credential.periodSeconds,
        personId: props.me.id,
        privateKey: pair.privateKey,
        publicKey: pair.publicKey,
      };
      await savePass(pass);
      props.onBound(pass);
    } catch (err) {
      setError(t("bind.failed", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  async function custodial() {
    setBusy(true);
    setError(null);
    try {
      const data = await request("RequestCustodialPass", { deviceName: deviceName() });
      props.onCustodial(ok(data.requestCustodialPass).credential.periodSeconds);
    } catch (err) {
      setError(t("bind.failed", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="bind">
      <h1>{t("bind.title")}</h1>
      <p>{t("bind.why", { period: props.me.pass?.periodSeconds ?? DEFAULT_PERIOD })}</p>
      {props.me.pass && props.me.pass.kind === "PHONE" ? <p class="note">{t("bind.elsewhere")}</p> : null}
      {supported === false ? (
        <>
          <p class="note" role="status">{t("bind.noCrypto")}</p>
          <button type="button" disabled={busy} onClick={custodial}>
            {t("bind.custodial")}
          </button>
        </>
      ) : (
        <button type="button" class="primary" disabled={busy || supported === null} onClick={bind}>
          {t("bind.submit")}
        </button>
      )}
      <ErrorNote text={error} />
    </section>
  );
}
