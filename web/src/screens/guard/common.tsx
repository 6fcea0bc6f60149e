// Pieces the guard console's screens share: texts for server codes (reasons, alert kinds), the
// confirmation dialog of dangerous actions, and running a mutation that may first need the
// guard to confirm who they are (CONFIRMATION_REQUIRED → password → confirmIdentity → retry).
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ok, request, UserErrors } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { lang, t, type TextKey } from "../../i18n";
import en from "../../i18n/en";

export interface Zone {
  id: string;
  name: string;
}
export interface Gate {
  id: string;
  name: string;
  direction: string;
  zone: Zone;
}
export interface Site {
  zones: Zone[];
  gates: Gate[];
}

/** The text of `prefix.code` when the dictionaries have it, else the code itself (a new code the
 *  console does not know yet still shows). */
export function coded(prefix: string, code: string | null | undefined): string {
  if (!code) return "—";
  const key = `${prefix}.${code}`;
  return key in en ? t(key as TextKey) : code;
}

export function when(at: string | null | undefined): string {
  if (!at) return "—";
  return new Intl.DateTimeFormat(lang.value, { dateStyle: "short", timeStyle: "medium" }).format(new Date(at));
}

export function message(err: unknown): string {
  return t("common.error", { message: (err as Error).message });
}

/** A payload's first error code, when the mutation refused. */
function refusedWith(err: unknown, code: string): boolean {
  return err instanceof UserErrors && err.errors.some((e) => e.code === code);
}

/**
 * A dialog around a dangerous action: it says what will happen, asks "Confirm", and when the
 * server wants a fresh identity confirmation it asks for the password (or the authenticator code)
 * and tries again. `run` does the mutation and throws UserErrors on refusal (use `ok`).
 */
export function ConfirmDialog(props: {
  title: string;
  children: ComponentChildren;
  run: () => Promise<void>;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [needIdentity, setNeedIdentity] = useState(false);
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);

  async function confirm(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (needIdentity) {
        const data = await request("ConfirmIdentity", { password: password || null, totpCode: code || null });
        ok(data.confirmIdentity);
        setPassword("");
        setCode("");
      }
      await props.run();
      props.onClose();
    } catch (err) {
      if (refusedWith(err, "CONFIRMATION_REQUIRED")) {
        setNeedIdentity(true);
        setError(t("guard.confirm.identityWhy"));
      } else setError(message(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <dialog ref={ref} class="guard-dialog" aria-labelledby="guard-dialog-title" onCancel={props.onClose}>
      <form method="dialog" class="form" onSubmit={confirm}>
        <h2 id="guard-dialog-title">{props.title}</h2>
        {props.children}
        {needIdentity ? (
          <>
            <label class="field">
              <span>{t("guard.confirm.password")}</span>
              <input
                type="password"
                autocomplete="current-password"
                value={password}
                onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
              />
            </label>
            <label class="field">
              <span>{t("guard.confirm.code")}</span>
              <input
                inputMode="numeric"
                autocomplete="one-time-code"
                value={code}
                onInput={(e) => setCode((e.currentTarget as HTMLInputElement).value)}
              />
            </label>
          </>
        ) : null}
        <ErrorNote text={error} />
        <div class="guard-buttons">
          <button type="submit" disabled={busy}>
            {t("guard.confirm.ok")}
          </button>
          <button type="button" class="secondary" onClick={props.onClose}>
            {t("guard.confirm.cancel")}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A labelled select (the label's text is the accessible name). */
export function Choice(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: { value: string; label: string }[];
}) {
  return (
    <label class="field">
      <span>{props.label}</span>
      {/* Named by aria-label too: a label wrapping a select would add the chosen option to the name. */}
      <select
        aria-label={props.label}
        value={props.value}
        onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}
      >
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A labelled one-line text input that may be left empty. */
export function Text(props: { label: string; value: string; onInput: (value: string) => void; required?: boolean }) {
  return (
    <label class="field">
      <span>{props.label}</span>
      <input
        type="text"
        value={props.value}
        required={props.required ?? false}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
    </label>
  );
}
