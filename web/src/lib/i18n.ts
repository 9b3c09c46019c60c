// zh-CN by default, en on request; the choice (only the language) persists in localStorage.
import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import en from "../locales/en.json";
import zhCN from "../locales/zh-CN.json";

export const LANGUAGES = ["zh-CN", "en"] as const;
export type Language = (typeof LANGUAGES)[number];
const STORAGE_KEY = "suanli.language";

function storedLanguage(): Language {
  const stored = window.localStorage.getItem(STORAGE_KEY);
  return stored === "en" ? "en" : "zh-CN";
}

export function currentLanguage(): Language {
  return i18n.language === "en" ? "en" : "zh-CN";
}

export function chooseLanguage(language: Language): void {
  window.localStorage.setItem(STORAGE_KEY, language);
  void i18n.changeLanguage(language);
}

/** The document's language and its title (the tab, bookmarks, the window list) follow the
 * chosen language: index.html's Chinese title would otherwise stay on English pages. */
function labelDocument(): void {
  document.documentElement.lang = currentLanguage();
  document.title = i18n.t("documentTitle");
}

export function startI18n(): void {
  const language = storedLanguage();
  document.documentElement.lang = language;
  i18n.on("languageChanged", labelDocument);
  void i18n.use(initReactI18next).init({
    resources: { "zh-CN": { translation: zhCN }, en: { translation: en } },
    lng: language,
    fallbackLng: false, // a missing key shows as the key, and the browser test catches it
    interpolation: { escapeValue: false },
    returnNull: false,
  }).then(labelDocument);
}

export default i18n;
