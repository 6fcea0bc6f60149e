// My face (issue 15, phone_app_faces.graphql): whether a face template is enrolled and since
// when; enrolment behind its own consent (PIPL art. 28–29: a face is sensitive personal
// information, so it needs a separate consent, never pre-ticked and never folded into another);
// withdrawal, which deletes the template at once. The photo is shrunk here so that what is sent
// stays well under the server's 512 KiB limit even from a 12-megapixel phone camera.
import { useEffect, useState } from "preact/hooks";
import { request } from "../../app/graphql";
import { online } from "../../app/network";
import { ErrorNote } from "../../components/Shell";
import { lang, t, type TextKey } from "../../i18n";

interface FaceStatus {
  enrolled: boolean;
  consentVersion: string | null;
  consentedAt: string | null;
}

interface Consent {
  version: string;
  text: string;
}

interface UserError {
  code: string;
  field: string | null;
  message: string;
}

interface Payload {
  face: FaceStatus | null;
  errors: UserError[];
}

/** Longest side of the photo sent; a face detector needs far less, the upload limit much more. */
const MAX_SIDE = 1024;
/** What the server accepts, decoded (the app aims below it with some margin). */
const LIMIT = 512 * 1024;
const QUALITIES = [0.85, 0.7, 0.55];

/** The photo as a JPEG of at most MAX_SIDE px on its longest side, as standard base64. */
export async function shrink(file: Blob): Promise<string> {
  // `from-image` turns a phone's portrait photo upright (its EXIF orientation), as the person saw it.
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  try {
    let side = MAX_SIDE;
    for (;;) {
      const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      const context = canvas.getContext("2d");
      if (context === null) throw new Error("no 2D canvas");
      // JPEG has no transparency: a transparent PNG becomes white, not black.
      context.fillStyle = "#fff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      for (const quality of QUALITIES) {
        const blob = await new Promise<Blob | null>((done) => canvas.toBlob(done, "image/jpeg", quality));
        if (blob === null) throw new Error("the photo could not be encoded");
        if (blob.size <= LIMIT * 0.9) return base64(blob);
      }
      side = Math.round(side * 0.75);
    }
  } finally {
    bitmap.close();
  }
}

async function base64(blob: Blob): Promise<string> {
  const url = await new Promise<string>((done, fail) => {
    const reader = new FileReader();
    reader.onload = () => done(String(reader.result));
    reader.onerror = () => fail(reader.error);
    reader.readAsDataURL(blob);
  });
  return url.slice(url.indexOf(",") + 1);
}

// The server's messages (English) for the refusals the person can act on, in the app's language;
// anything else is shown as the server wrote it.
const KNOWN: [RegExp, TextKey][] = [
  [/no face|not find a face|found no|\b0 faces|zero faces/i, "face.error.noFace"],
  [/several|more than one|multiple|\d+ faces/i, "face.error.severalFaces"],
  [/too large|too big|exceeds|512/i, "face.error.tooLarge"],
  [/not an image|not a (jpeg|png|picture)|cannot be (read|decoded)|base64/i, "face.error.notImage"],
];

export function errorText(error: UserError): string {
  if (error.field === "consentVersion") return t("face.error.outdated");
  for (const [pattern, key] of KNOWN) if (pattern.test(error.message)) return t(key);
  return error.message;
}

export function FaceScreen() {
  const [face, setFace] = useState<FaceStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [mode, setMode] = useState<"status" | "enrol" | "withdraw">("status");
  // A key, not a text: the message follows the Language / 语言 control.
  const [notice, setNotice] = useState<TextKey | null>(null);

  async function load() {
    setError(null);
    try {
      const data = await request<{ myFace: FaceStatus }>("MyFace");
      setFace(data.myFace);
    } catch (err) {
      setError(t("common.error", { message: (err as Error).message }));
    }
  }
  useEffect(() => {
    if (online.value) load();
  }, [online.value]);

  if (!online.value) {
    return (
      <p class="note" role="status">
        {t("face.offline")}
      </p>
    );
  }
  if (error) {
    return (
      <>
        <ErrorNote text={error} />
        <button type="button" onClick={load}>
          {t("face.retry")}
        </button>
      </>
    );
  }
  if (face === null) return <p>{t("common.loading")}</p>;

  if (mode === "enrol") {
    return (
      <Enrol
        onDone={(status) => {
          setFace(status);
          setNotice("face.enrolledNow");
          setMode("status");
        }}
        onCancel={() => setMode("status")}
      />
    );
  }
  if (mode === "withdraw") {
    return (
      <Withdraw
        onDone={(status) => {
          setFace(status);
          setNotice("face.withdrawnNow");
          setMode("status");
        }}
        onCancel={() => setMode("status")}
      />
    );
  }
  return (
    <section class="face" aria-labelledby="face-state">
      <FaceState face={face} />
      {notice ? (
        <p class="ok" role="status">
          {t(notice)}
        </p>
      ) : null}
      {face.enrolled ? (
        <button type="button" class="danger" onClick={() => (setNotice(null), setMode("withdraw"))}>
          {t("face.withdraw")}
        </button>
      ) : (
        <button type="button" class="primary" onClick={() => (setNotice(null), setMode("enrol"))}>
          {t("face.enrol")}
        </button>
      )}
    </section>
  );
}

function FaceState(props: { face: FaceStatus }) {
  const { face } = props;
  if (!face.enrolled) {
    return (
      <p id="face-state" class="face-state">
        {t("face.notEnrolled")}
      </p>
    );
  }
  const format = new Intl.DateTimeFormat(lang.value, { dateStyle: "medium", timeStyle: "short" });
  return (
    <p id="face-state" class="face-state enrolled">
      {face.consentedAt ? (
        <>
          {t("face.enrolledSince")} <time dateTime={face.consentedAt}>{format.format(new Date(face.consentedAt))}</time>
        </>
      ) : (
        t("face.enrolled")
      )}
      {face.consentVersion ? <span class="note"> · {t("face.version", { version: face.consentVersion })}</span> : null}
    </p>
  );
}

function Enrol(props: { onDone: (face: FaceStatus) => void; onCancel: () => void }) {
  const [consent, setConsent] = useState<Consent | null>(null);
  const [consentError, setConsentError] = useState<string | null>(null);
  const [agreed, setAgreed] = useState(false);
  const [photo, setPhoto] = useState<File | null>(null);
  const [photoError, setPhotoError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function loadConsent() {
    setConsentError(null);
    try {
      const data = await request<{ faceConsent: Consent }>("FaceConsent", { language: lang.value });
      // Agreeing counts for one version of the text: a different version must be read again.
      if (consent && consent.version !== data.faceConsent.version) setAgreed(false);
      setConsent(data.faceConsent);
    } catch (err) {
      setConsentError(t("face.consentFailed", { message: (err as Error).message }));
    }
  }
  // The text in the app's language, again when the Language / 语言 control changes it.
  useEffect(() => {
    loadConsent();
  }, [lang.value]);

  async function enrol(event: Event) {
    event.preventDefault();
    if (!consent || !agreed || !photo) return;
    setBusy(true);
    setPhotoError(null);
    try {
      let encoded: string;
      try {
        encoded = await shrink(photo);
      } catch {
        setPhotoError(t("face.error.notImage"));
        return;
      }
      const data = await request<{ enrolMyFace: Payload }>("EnrolMyFace", { photo: encoded, consentVersion: consent.version });
      const payload = data.enrolMyFace;
      if (payload.errors.length > 0) {
        setPhotoError(payload.errors.map(errorText).join(" "));
        if (payload.errors.some((e) => e.field === "consentVersion")) {
          setAgreed(false);
          await loadConsent();
        }
        return;
      }
      if (payload.face) props.onDone(payload.face);
    } catch (err) {
      setPhotoError(t("common.error", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  if (consentError) {
    return (
      <section class="face">
        <ErrorNote text={consentError} />
        <button type="button" onClick={loadConsent}>
          {t("face.retry")}
        </button>{" "}
        <button type="button" onClick={props.onCancel}>
          {t("face.cancel")}
        </button>
      </section>
    );
  }
  if (consent === null) return <p>{t("common.loading")}</p>;

  const missing = !agreed ? t("face.needConsent") : !photo ? t("face.needPhoto") : null;
  return (
    <form class="form face" onSubmit={enrol}>
      <section class="consent" aria-labelledby="consent-title">
        <h2 id="consent-title">{t("face.consentTitle")}</h2>
        <div class="consent-text" lang={lang.value}>
          {consent.text.split(/\n\s*\n/).map((paragraph, i) => (
            <p key={i}>{paragraph}</p>
          ))}
        </div>
        <p class="note">{t("face.version", { version: consent.version })}</p>
      </section>
      <label class="check">
        <input type="checkbox" checked={agreed} onChange={(e) => setAgreed((e.currentTarget as HTMLInputElement).checked)} />
        <span>{t("face.agree")}</span>
      </label>
      <label class="field">
        <span>{t("face.photo")}</span>
        <input
          type="file"
          accept="image/*"
          capture="user"
          aria-describedby="face-photo-error"
          aria-invalid={photoError ? "true" : undefined}
          onChange={(e) => {
            setPhotoError(null);
            setPhoto((e.currentTarget as HTMLInputElement).files?.[0] ?? null);
          }}
        />
      </label>
      <div id="face-photo-error">
        <ErrorNote text={photoError} />
      </div>
      {missing ? <p class="note">{missing}</p> : null}
      <button type="submit" class="primary" disabled={busy || missing !== null}>
        {busy ? t("face.sending") : t("face.submit")}
      </button>
      <button type="button" onClick={props.onCancel}>
        {t("face.cancel")}
      </button>
    </form>
  );
}

function Withdraw(props: { onDone: (face: FaceStatus) => void; onCancel: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function withdraw() {
    setBusy(true);
    setError(null);
    try {
      const data = await request<{ withdrawFaceConsent: Payload }>("WithdrawFaceConsent");
      const payload = data.withdrawFaceConsent;
      if (payload.errors.length > 0) setError(payload.errors.map(errorText).join(" "));
      else props.onDone(payload.face ?? { enrolled: false, consentVersion: null, consentedAt: null });
    } catch (err) {
      setError(t("common.error", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="face" role="alertdialog" aria-labelledby="withdraw-title" aria-describedby="withdraw-why">
      <h2 id="withdraw-title">{t("face.withdrawTitle")}</h2>
      <p id="withdraw-why">{t("face.withdrawWhy")}</p>
      <ErrorNote text={error} />
      <div class="actions">
        <button type="button" class="danger" disabled={busy} onClick={withdraw}>
          {t("face.withdrawConfirm")}
        </button>
        <button type="button" disabled={busy} onClick={props.onCancel}>
          {t("face.cancel")}
        </button>
      </div>
    </section>
  );
}
