// Who is signed in, read once there is a session whose password need not change first; each
// screen names the query that asks for what it shows (PhoneAppMe, GuardConsoleMe). A person
// whose password turns out to be issued is sent to set a new one.
import { useEffect, useState } from "preact/hooks";
import { request } from "./graphql";
import { mustChangePassword, signedIn } from "./session";

export function useMe<T extends { mustChangePassword: boolean }>(
  operation: string,
): [T | null, (me: T | null) => void] {
  const [me, setMe] = useState<T | null>(null);
  useEffect(() => {
    if (!signedIn.value || mustChangePassword.value) return;
    request<{ me: T }>(operation)
      .then((data) => {
        setMe(data.me);
        if (data.me.mustChangePassword) mustChangePassword.value = true;
      })
      .catch(() => setMe(null));
  }, [signedIn.value, mustChangePassword.value]);
  return [me, setMe];
}
