// The GraphQL documents the app sends, read at build time from mobile_contracts/ (the same files
// tests/test_contracts.py validates against the schema), and sent exactly as written there.
// Screens ask for an operation by name: `op("SignIn")`.
import employee from "../../../mobile_contracts/employee.graphql?raw";
import gatehouse from "../../../mobile_contracts/gatehouse.graphql?raw";
import phoneApp from "../../../mobile_contracts/phone_app.graphql?raw";
import visitor from "../../../mobile_contracts/visitor.graphql?raw";
import host from "../../../mobile_contracts/host.graphql?raw";
import guard from "../../../mobile_contracts/guard.graphql?raw";
import phoneAppVisits from "../../../mobile_contracts/phone_app_visits.graphql?raw";
import guardConsole from "../../../mobile_contracts/guard_console.graphql?raw";
import phoneAppFaces from "../../../mobile_contracts/phone_app_faces.graphql?raw";
import phoneAppStocktakes from "../../../mobile_contracts/phone_app_stocktakes.graphql?raw";
import phoneAppPush from "../../../mobile_contracts/phone_app_push.graphql?raw";
import phoneAppNotifySettings from "../../../mobile_contracts/phone_app_notify_settings.graphql?raw";
import guardConsoleNotify from "../../../mobile_contracts/guard_console_notify.graphql?raw";

const FILES = [employee, gatehouse, phoneApp, visitor, host, guard, phoneAppVisits, guardConsole, phoneAppFaces, phoneAppStocktakes, phoneAppPush, phoneAppNotifySettings, guardConsoleNotify];

/** Operation name → its exact text (from its keyword to its closing brace). */
function split(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const start = /^(query|mutation|subscription)\s+([A-Za-z_]\w*)/gm;
  const found = [...text.matchAll(start)];
  found.forEach((match, i) => {
    const from = match.index ?? 0;
    const until = i + 1 < found.length ? (found[i + 1].index ?? text.length) : text.length;
    // Up to the last closing brace before the next operation (drops comments between them).
    const chunk = text.slice(from, until);
    out.set(match[2], chunk.slice(0, chunk.lastIndexOf("}") + 1));
  });
  return out;
}

const OPERATIONS = new Map<string, string>();
for (const file of FILES) for (const [name, text] of split(file)) OPERATIONS.set(name, text);

export function op(name: string): { query: string; operationName: string } {
  const query = OPERATIONS.get(name);
  if (query === undefined) throw new Error(`no operation ${name} in mobile_contracts/`);
  return { query, operationName: name };
}
