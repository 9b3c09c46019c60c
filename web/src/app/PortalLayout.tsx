import { Button, Layout, Menu, Select, Space, Spin, Typography } from "antd";
import { Suspense } from "react";
import { useTranslation } from "react-i18next";
import { Link, Outlet, useLocation, useNavigate } from "react-router-dom";
import { useMe, useSignOut } from "../lib/auth";
import { chooseLanguage, type Language } from "../lib/i18n";
import { CONSOLE_MENUS, consoleHome, PUBLIC_MENU } from "./menu";

const { Header, Content, Sider, Footer } = Layout;
// Wide enough for the longest console menu label whole, in either language ("Top-ups, payouts,
// refunds", about 161 px at 14 px, plus the item's 48 px of padding and margin): at 200 px,
// antd cut "Receivables and payouts" to "Receivables and pay…". The e2e page check fails on
// any menu label cut off.
const SIDER_WIDTH = 232;
// A display name is the user's own and may run to 200 characters: one line, cut with "…"
// (the whole on hover), so the 64 px header keeps its height and its menu.
const USER_NAME_WIDTH = 180;

export function PortalLayout() {
  const { t, i18n } = useTranslation();
  const location = useLocation();
  const navigate = useNavigate();
  const me = useMe();
  const signOut = useSignOut();
  const user = me.data ?? null;
  const consoleMenu = user ? CONSOLE_MENUS[user.org_kind] ?? [] : [];
  const inConsole = location.pathname.startsWith("/console");
  const selected = [location.pathname === "/" ? "/" : "/" + location.pathname.split("/").slice(1, 3).join("/")];
  return (
    <Layout style={{ minHeight: "100vh" }}>
      <Header style={{ display: "flex", alignItems: "center", gap: 16, background: "#0b2a5b" }}>
        <Link to="/" style={{ color: "#fff", fontWeight: 600, fontSize: 18, whiteSpace: "nowrap" }}>
          {t("brand")}
        </Link>
        <Menu
          theme="dark"
          mode="horizontal"
          selectedKeys={selected}
          style={{ flex: 1, minWidth: 0, background: "transparent" }}
          items={PUBLIC_MENU.map((entry) => ({ key: entry.path, label: <Link to={entry.path}>{t(entry.label)}</Link> }))}
        />
        <Space style={{ flex: "none", minWidth: 0 }}>
          <Select
            aria-label={t("nav.language")}
            value={i18n.language as Language}
            onChange={(value: Language) => chooseLanguage(value)}
            options={[
              { value: "zh-CN", label: "中文" },
              { value: "en", label: "English" },
            ]}
            style={{ width: 110 }}
          />
          {user ? (
            <>
              <Button onClick={() => navigate(consoleHome(user.org_kind))}>{t("nav.console")}</Button>
              <Typography.Text style={{ color: "#fff", maxWidth: USER_NAME_WIDTH, display: "block", lineHeight: "32px" }} ellipsis={{ tooltip: user.display_name }} data-testid="user-name">
                {user.display_name}
              </Typography.Text>
              <Button onClick={async () => { await signOut(); navigate("/"); }}>{t("nav.signOut")}</Button>
            </>
          ) : (
            <Button type="primary" onClick={() => navigate("/sign-in")}>{t("nav.signIn")}</Button>
          )}
        </Space>
      </Header>
      <Layout>
        {inConsole && consoleMenu.length > 0 && (
          <Sider width={SIDER_WIDTH} theme="light" breakpoint="lg" collapsedWidth={0}>
            <nav aria-label={t("nav.console")}>
              <Menu
                mode="inline"
                selectedKeys={[location.pathname, ...selected]}
                items={consoleMenu.map((entry) => ({ key: entry.path, label: <Link to={entry.path}>{t(entry.label)}</Link> }))}
              />
            </nav>
          </Sider>
        )}
        <Content id="main" style={{ padding: 24 }}>
          <Suspense fallback={<Spin />}>
            <Outlet />
          </Suspense>
        </Content>
      </Layout>
      <Footer style={{ textAlign: "center" }}>{t("footer")}</Footer>
    </Layout>
  );
}
