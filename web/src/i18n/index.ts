// The page language: from the browser (`zh*` → zh-CN, anything else → en, PHONE_APP.md), or the
// person's choice with the Language / 语言 control, remembered on this device.
import { signal } from "@preact/signals";
import en, { type TextKey } from "./en";
import zh from "./zh-CN";

export type Lang = "en" | "zh-CN";
export const LANGS: { code: Lang; name: string }[] = [
  { code: "zh-CN", name: "简体中文" },
  { code: "en", name: "English" },
];
const DICTIONARIES: Record<Lang, Record<TextKey, string>> = { en, "zh-CN": zh };
const STORED = "gatehouse.lang";

export function fromBrowser(languages: readonly string[]): Lang {
  const first = languages[0] ?? "en";
  return first.toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

function initial(): Lang {
  const stored = globalThis.localStorage?.getItem(STORED);
  if (stored === "en" || stored === "zh-CN") return stored;
  return fromBrowser(navigator.languages?.length ? navigator.languages : [navigator.language]);
}

export const lang = signal<Lang>(initial());

export function setLang(next: Lang): void {
  localStorage.setItem(STORED, next);
  lang.value = next;
}

/** The text of `key` in the current language, `{name}` placeholders filled from `values`. */
export function t(key: TextKey, values: Record<string, string | number> = {}): string {
  const text = DICTIONARIES[lang.value][key] ?? en[key];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? `{${name}}`));
}

export type { TextKey };
