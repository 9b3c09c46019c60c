import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { App as AntApp, ConfigProvider } from "antd";
import enUS from "antd/locale/en_US";
import zhCN from "antd/locale/zh_CN";
import { useTranslation } from "react-i18next";
import { RouterProvider } from "react-router-dom";
import { ApiError, onSessionEnded, rememberCsrf } from "../lib/api";
import i18next from "../lib/i18n";
import { router } from "./router";

// Ant Design's default grey texts fall short of WCAG AA contrast (axe-core checks every page).
const THEME = {
  token: {
    colorPrimary: "#1456d8",
    colorLink: "#1456d8",
    colorLinkHover: "#0b3ea8",
    colorTextSecondary: "rgba(0, 0, 0, 0.68)",
    colorTextTertiary: "rgba(0, 0, 0, 0.62)",
    colorTextDescription: "rgba(0, 0, 0, 0.62)",
    colorTextPlaceholder: "rgba(0, 0, 0, 0.58)",
    colorError: "#cf1322", // danger buttons and field errors: 5.6:1 on white (the default is 3.3:1)
  },
};

const queryClient = new QueryClient({
  defaultOptions: { queries: { refetchOnWindowFocus: false, retry: retryUnlessSignedOut } },
});

// Answers the server words (an industry, a stage's name, a refusal) follow a language switch:
// every query is asked again, now with the new Accept-Language.
i18next.on("languageChanged", () => void queryClient.invalidateQueries());

/** Asking again cannot bring an ended session back (and would only delay the sign-in page). */
function retryUnlessSignedOut(failures: number, error: unknown): boolean {
  return failures < 1 && !(error instanceof ApiError && error.status === 401);
}

// A session ended elsewhere (signed out everywhere, expired, disabled) ends here too: nothing
// cached for that user stays on screen, and a console page gives way to the sign-in page,
// which says why and leads back. (A public page stays: it needs no session.)
onSessionEnded((reason) => {
  const { pathname, search } = window.location;
  if (pathname === "/sign-in") return; // already there: the first refused call took the user
  rememberCsrf(null);
  if (pathname.startsWith("/console")) {
    void router.navigate(`/sign-in?reason=${reason}&next=${encodeURIComponent(pathname + search)}`, { replace: true });
  }
  queryClient.clear();
  queryClient.setQueryData(["me"], null);
});

export function App() {
  const { i18n } = useTranslation();
  return (
    <ConfigProvider locale={i18n.language === "en" ? enUS : zhCN} theme={THEME}>
      <AntApp>
        <QueryClientProvider client={queryClient}>
          <RouterProvider router={router} />
        </QueryClientProvider>
      </AntApp>
    </ConfigProvider>
  );
}
