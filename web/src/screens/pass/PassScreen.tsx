// The pass: the rotating QR of the GH1 token (PASS_TOKEN.md) with a countdown. With a key on
// this phone, each step's token is signed here (pass/key.ts) — no network needed; otherwise the
// server's custodial tokens arrive over the `PassTokens` subscription. The image encodes exactly
// the token text and is named "Pass QR code" / "通行二维码" (role img).
import QRCode from "qrcode";
import { useEffect, useRef, useState } from "preact/hooks";
import { subscribe } from "../../app/graphql";
import { online } from "../../app/network";
import { currentToken, type StoredPass } from "../../pass/key";
import { secondsLeft } from "../../pass/token";
import { t } from "../../i18n";

function QrImage(props: { text: string | null }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (canvas.current && props.text) {
      // Version 6 at level M holds the 134 alphanumeric characters (PASS_TOKEN.md); a 4-module
      // quiet zone and 6 px per module keep it readable from a screenshot.
      QRCode.toCanvas(canvas.current, props.text, { errorCorrectionLevel: "M", margin: 4, scale: 6 });
    }
  }, [props.text]);
  return (
    <canvas
      ref={canvas}
      class="qr"
      role="img"
      aria-label={t("pass.qr")}
      data-token={props.text ?? ""}
    />
  );
}

function useTick(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(id);
  }, []);
  return now;
}

/** The pass signed on this phone. */
export function OwnPass(props: { pass: StoredPass }) {
  const now = useTick();
  const [token, setToken] = useState<{ token: string; step: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const period = props.pass.period;
  const step = Math.floor(now / 1000 / period);

  useEffect(() => {
    let live = true;
    currentToken(props.pass, now)
      .then((next) => live && setToken(next))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
    // A new signature once per step, not per tick.
  }, [props.pass, step]);

  return (
    <section class="pass">
      {error ? <p class="error" role="alert">{t("pass.error", { message: error })}</p> : null}
      <QrImage text={token?.token ?? null} />
      <p class="countdown" aria-live="off">
        {t("pass.countdown", { seconds: secondsLeft(now / 1000, period) })}
      </p>
      {online.value ? null : <p class="note">{t("pass.offline")}</p>}
    </section>
  );
}

/** The custodial pass: the server signs each step's token and pushes it (PassTokens). */
export function CustodialPass(props: { period: number }) {
  const now = useTick();
  const [token, setToken] = useState<{ token: string; validUntil: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(
    () =>
      subscribe<{ passTokens: { token: string; validUntil: string } }>(
        "PassTokens",
        {},
        (data) => setToken(data.passTokens),
        (e) => setError(e.message),
      ),
    [],
  );
  return (
    <section class="pass">
      {error ? <p class="error" role="alert">{t("pass.error", { message: error })}</p> : null}
      <QrImage text={token?.token ?? null} />
      <p class="countdown">{token ? t("pass.countdown", { seconds: secondsLeft(now / 1000, props.period) }) : t("pass.custodialWaiting")}</p>
      <p class="note">{t("pass.custodialNote")}</p>
    </section>
  );
}
