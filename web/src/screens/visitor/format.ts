// Times as people read them, in the page language.
import { lang } from "../../i18n";

export function at(iso: string): string {
  return new Intl.DateTimeFormat(lang.value, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

/** "30 Nov 2026, 16:00 – 18:00" (the day once when both ends fall on it). */
export function when(startIso: string, endIso: string): string {
  const start = new Date(startIso);
  const end = new Date(endIso);
  const sameDay = start.toDateString() === end.toDateString();
  const endText = sameDay
    ? new Intl.DateTimeFormat(lang.value, { timeStyle: "short" }).format(end)
    : at(endIso);
  return `${at(startIso)} – ${endText}`;
}
