// Username / Password / Sign in (PHONE_APP.md), for employees and (at /guard) gate staff.
import { useState } from "preact/hooks";
import { ok, request } from "../app/graphql";
import { session, type SessionData } from "../app/session";
import { ErrorNote, Field, Shell } from "../components/Shell";
import { t } from "../i18n";

/** The password just used, in memory only: the set-a-new-password screen needs it as the current
 *  one (changePassword asks for it) without asking the person twice. Cleared once used. */
export const passwordJustUsed = { value: "" };

export function SignIn() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const data = await request<{ login: { session: SessionData | null; errors: { code: string; message: string }[] } }>(
        "SignIn",
        { username, password },
      );
      const payload = ok(data.login);
      passwordJustUsed.value = password;
      await session.start(payload.session as SessionData);
    } catch (err) {
      setError(t("signIn.failed", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Shell title={t("signIn.title")}>
      <form class="form" onSubmit={submit}>
        <Field label={t("signIn.username")} value={username} onInput={setUsername} autocomplete="username" />
        <Field label={t("signIn.password")} type="password" value={password} onInput={setPassword} autocomplete="current-password" />
        <ErrorNote text={error} />
        <button type="submit" disabled={busy}>
          {busy ? t("signIn.working") : t("signIn.submit")}
        </button>
      </form>
    </Shell>
  );
}
