import { navigate } from "../app/routes";
import { Shell } from "../components/Shell";
import { t } from "../i18n";

export function NotFound() {
  return (
    <Shell title={t("notFound.title")}>
      <button type="button" onClick={() => navigate("/")}>
        {t("notFound.back")}
      </button>
    </Shell>
  );
}
