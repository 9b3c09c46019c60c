// The provider, agency and operator consoles arrive with issue 17; the shell already routes here.
import { Result } from "antd";
import { useTranslation } from "react-i18next";

export default function ConsolePlaceholder() {
  const { t } = useTranslation();
  return <Result status="info" title={t("consoles.comingTitle")} subTitle={t("consoles.comingText")} />;
}
