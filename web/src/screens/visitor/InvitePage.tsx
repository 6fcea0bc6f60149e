// A visitor's page (`/invite/{inviteCode}`): to be built on this shell (issue 14): registration
// (CompleteVisitorRegistration), waiting for approval, then the pass (screens/pass/PassScreen.tsx
// with a key of the visitor's own, or the custodial pass where Ed25519 is missing).
import { Shell } from "../../components/Shell";
import { t } from "../../i18n";

export function InvitePage(props: { params: string[] }) {
  return (
    <Shell title={t("coming.title")}>
      <p>{t("coming.invite", { code: props.params[0] ?? "" })}</p>
    </Shell>
  );
}
