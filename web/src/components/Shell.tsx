// The frame of every screen: the app's name, the Language / 语言 control, an optional menu, and
// the screen below. Screens pass their own `nav` (a list of buttons) when they have one.
import type { ComponentChildren } from "preact";
import { LANGS, lang, setLang, t, type Lang } from "../i18n";

export function Shell(props: { title?: string; nav?: ComponentChildren; children: ComponentChildren }) {
  return (
    <div class="shell">
      <header class="bar">
        <span class="brand">{t("app.title")}</span>
        <label class="lang">
          <span class="visually-hidden">{t("lang.control")}</span>
          <select
            aria-label={t("lang.control")}
            value={lang.value}
            onChange={(e) => setLang((e.currentTarget as HTMLSelectElement).value as Lang)}
          >
            {LANGS.map((l) => (
              <option value={l.code} key={l.code}>
                {l.name}
              </option>
            ))}
          </select>
        </label>
      </header>
      {props.nav ? (
        <nav class="menu" aria-label={t("menu.label")}>
          {props.nav}
        </nav>
      ) : null}
      <main class="screen">
        {props.title ? <h1>{props.title}</h1> : null}
        {props.children}
      </main>
    </div>
  );
}

/** A labelled input: the label's text is the accessible name (PHONE_APP.md). */
export function Field(props: {
  label: string;
  type?: string;
  value: string;
  onInput: (value: string) => void;
  autocomplete?: string;
  required?: boolean;
}) {
  return (
    <label class="field">
      <span>{props.label}</span>
      <input
        type={props.type ?? "text"}
        value={props.value}
        autocomplete={props.autocomplete}
        required={props.required ?? true}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
    </label>
  );
}

export function ErrorNote(props: { text: string | null }) {
  return props.text ? (
    <p class="error" role="alert">
      {props.text}
    </p>
  ) : null;
}
