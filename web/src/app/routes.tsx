// Addresses → screens. The server answers each of these addresses with the same index.html
// (api/web_routes.py); which screen opens is decided here. The fixed addresses are in
// PHONE_APP.md: `/`, `/invite/{inviteCode}`, `/guard`. To add an area, add a row here (and, for
// a new top-level address, a pattern in APP_PATHS of api/web_routes.py so the server serves it).
import type { ComponentType } from "preact";
import { signal } from "@preact/signals";
import { EmployeeApp } from "../screens/employee/EmployeeApp";
import { GuardConsole } from "../screens/guard/GuardConsole";
import { InvitePage } from "../screens/visitor/InvitePage";
import { NotFound } from "../screens/NotFound";

export interface Route {
  pattern: RegExp;
  screen: ComponentType<{ params: string[] }>;
}

export const ROUTES: Route[] = [
  { pattern: /^\/$/, screen: EmployeeApp },
  { pattern: /^\/invite\/([^/]+)\/?$/, screen: InvitePage },
  { pattern: /^\/guard\/?$/, screen: GuardConsole },
];

export const path = signal(location.pathname);

/** Go to another address of the app without a reload. */
export function navigate(to: string): void {
  history.pushState(null, "", to);
  path.value = location.pathname;
}

addEventListener("popstate", () => {
  path.value = location.pathname;
});

export function resolve(pathname: string): { screen: ComponentType<{ params: string[] }>; params: string[] } {
  for (const route of ROUTES) {
    const match = route.pattern.exec(pathname);
    if (match) return { screen: route.screen, params: match.slice(1).map(decodeURIComponent) };
  }
  return { screen: NotFound, params: [] };
}
