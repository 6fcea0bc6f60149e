// The guard console (`/guard`): to be built on this shell (issue 14). It signs in with the same
// Username / Password / Sign in controls (screens/SignIn.tsx) and lists "Gate events" live
// (GateEvents in mobile_contracts/guard.graphql, through app/graphql.ts `subscribe`).
import { Shell } from "../../components/Shell";
import { t } from "../../i18n";

export function GuardConsole() {
  return (
    <Shell title={t("coming.title")}>
      <p>{t("coming.guard")}</p>
    </Shell>
  );
}
