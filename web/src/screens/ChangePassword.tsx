// The first screen after signing in with an issued password (Session.mustChangePassword):
// New password / Repeat new password / Save password (PHONE_APP.md). changePassword ends the
// person's other sessions, not this one.
import { useState } from "preact/hooks";
import { ok, request } from "../app/graphql";
import { mustChangePassword } from "../app/session";
import { ErrorNote, Field, Shell } from "../components/Shell";
import { t } from "../i18n";

export function ChangePassword(props: { currentPassword: string }) {
  const [current, setCurrent] = useState(props.currentPassword);
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    if (next !== repeat) {
      setError(t("changePassword.mismatch"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const data = await request("ChangePassword", { currentPassword: current, newPassword: next });
      ok(data.changePassword);
      mustChangePassword.value = false;
    } catch (err) {
      setError(t("changePassword.failed", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Shell title={t("changePassword.title")}>
      <p>{t("changePassword.why")}</p>
      <form class="form" onSubmit={submit}>
        {/* Asked only when the page was reloaded since signing in (the app keeps no password). */}
        {props.currentPassword ? null : (
          <Field label={t("signIn.password")} type="password" value={current} onInput={setCurrent} autocomplete="current-password" />
        )}
        <Field label={t("changePassword.new")} type="password" value={next} onInput={setNext} autocomplete="new-password" />
        <Field label={t("changePassword.repeat")} type="password" value={repeat} onInput={setRepeat} autocomplete="new-password" />
        <ErrorNote text={error} />
        <button type="submit" disabled={busy}>
          {t("changePassword.submit")}
        </button>
      </form>
    </Shell>
  );
}
