import { Alert, Button, Spin, Typography } from "antd";
import { useTranslation } from "react-i18next";
import { Navigate, Outlet, useLocation, useNavigate } from "react-router-dom";
import { useMe } from "../lib/auth";
import { errorText } from "../lib/errors";
import { consoleHome, consoleKindOf } from "./menu";

/** Every console page needs a session, and each console is its own kind of organisation's
 * (the kind whose menu lists the page): an anonymous visitor goes to the sign-in page (and
 * comes back after), a signed-in user of another kind is told so, and no page of the wrong
 * console renders to fail every call it makes. */
export function RequireSignIn() {
  const me = useMe();
  const location = useLocation();
  if (me.isLoading) return <Spin />;
  if (me.isError) return <Alert type="error" title={errorText(me.error)} role="alert" />;
  if (!me.data) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/sign-in?next=${next}`} replace />;
  }
  const owner = consoleKindOf(location.pathname);
  if (owner !== null && owner !== me.data.org_kind) return <NotAllowed owner={owner} yours={me.data.org_kind} />;
  return <Outlet />;
}

function NotAllowed({ owner, yours }: { owner: string; yours: string }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  // Plain parts of the shell (antd's Result would bring its illustrations into the first page).
  return (
    <div data-testid="not-allowed" style={{ maxWidth: 640, margin: "48px auto" }}>
      <Typography.Title level={2}>{t("consoles.notAllowed.title")}</Typography.Title>
      <Alert
        type="warning"
        showIcon
        title={t("consoles.notAllowed.text", { owner: t(`consoles.kind.${owner}`), yours: t(`consoles.kind.${yours}`, { defaultValue: yours }) })}
        style={{ marginBottom: 24 }}
      />
      <Button type="primary" onClick={() => navigate(consoleHome(yours))}>{t("consoles.notAllowed.home")}</Button>
    </div>
  );
}

/** /console itself: the signed-in user's own console. */
export function ConsoleIndex() {
  const me = useMe();
  return <Navigate to={consoleHome(me.data?.org_kind ?? "")} replace />;
}
