// Notifications (issue 16; phone_app_push.graphql, phone_app_notify_settings.graphql): the switch
// that makes this phone receive Web Push — it asks the browser's permission, subscribes with the
// server's VAPID key and registers the subscription (or removes it) — and the person's own
// preferences: per kind the channels, quiet hours, the language of messages, their email address.
//
// Many browsers have no push at all (iOS outside an installed web app, many Android browsers in
// mainland China, headless test browsers): the switch then says so instead of failing, and the
// preferences (email, robots, SMS) still work.
import { useEffect, useState } from "preact/hooks";
import { request } from "../../app/graphql";
import { online } from "../../app/network";
import { ErrorNote } from "../../components/Shell";
import { t, type TextKey } from "../../i18n";
import en from "../../i18n/en";

interface KindSetting {
  kind: string;
  alarm: boolean;
  channels: string[];
  availableChannels: string[];
}

interface NotificationSettings {
  emailMasked: string | null;
  phoneMasked: string | null;
  quietHoursStart: string | null;
  quietHoursEnd: string | null;
  language: string;
  channels: string[];
  kinds: KindSetting[];
}

interface UserError {
  code: string;
  field: string | null;
  message: string;
}

const MESSAGE_LANGUAGES = [
  { code: "zh-CN", name: "简体中文" },
  { code: "en", name: "English" },
];

/** A kind's or a channel's label in the app's language; an unknown one as the server names it. */
function label(prefix: "notify.kind." | "notify.channel.", name: string): string {
  const key = `${prefix}${name}`;
  return key in en ? t(key as TextKey) : name;
}

/** Whether this browser can receive Web Push at all. */
export function pushSupported(): boolean {
  return (
    typeof window !== "undefined" &&
    "serviceWorker" in navigator &&
    "PushManager" in window &&
    "Notification" in window &&
    window.isSecureContext
  );
}

/** The VAPID public key (base64url) as the bytes pushManager.subscribe() wants. */
function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  const raw = atob(padded);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

async function registration(): Promise<ServiceWorkerRegistration> {
  const existing = await navigator.serviceWorker.getRegistration("/");
  if (existing) return existing;
  await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  return navigator.serviceWorker.ready;
}

async function currentSubscription(): Promise<PushSubscription | null> {
  const reg = await navigator.serviceWorker.getRegistration("/");
  return reg ? reg.pushManager.getSubscription() : null;
}

export function NotificationsScreen() {
  if (!online.value) {
    return (
      <p class="note" role="status">
        {t("notify.offline")}
      </p>
    );
  }
  return (
    <section class="notifications">
      <PushSwitch />
      <Preferences />
    </section>
  );
}

function PushSwitch() {
  const supported = pushSupported();
  // undefined: still asking the server; null: Web Push not configured there.
  const [publicKey, setPublicKey] = useState<string | null | undefined>(undefined);
  const [on, setOn] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<TextKey | null>(null);

  useEffect(() => {
    request<{ pushPublicKey: string | null }>("PushPublicKey")
      .then((data) => setPublicKey(data.pushPublicKey))
      .catch((err) => {
        setPublicKey(null);
        setError(t("common.error", { message: (err as Error).message }));
      });
    if (supported) currentSubscription().then((s) => setOn(s !== null), () => setOn(false));
  }, []);

  async function turnOn(key: string) {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      setNote("notify.denied");
      return;
    }
    const reg = await registration();
    const subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
    const json = subscription.toJSON();
    const data = await request<{ registerPushSubscription: { ok: boolean; errors: UserError[] } }>("RegisterPushSubscription", {
      input: { endpoint: json.endpoint, p256dh: json.keys?.p256dh ?? "", auth: json.keys?.auth ?? "", userAgent: navigator.userAgent },
    });
    if (!data.registerPushSubscription.ok) {
      await subscription.unsubscribe().catch(() => {});
      throw new Error(data.registerPushSubscription.errors.map((e) => e.message).join("; "));
    }
    setOn(true);
  }

  async function turnOff() {
    const subscription = await currentSubscription();
    if (subscription) {
      await request("RemovePushSubscription", { endpoint: subscription.endpoint });
      await subscription.unsubscribe();
    }
    setOn(false);
  }

  async function toggle(want: boolean) {
    if (!publicKey) return;
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      if (want) await turnOn(publicKey);
      else await turnOff();
    } catch (err) {
      setError(t("notify.pushFailed", { message: (err as Error).message || String(err) }));
    } finally {
      setBusy(false);
    }
  }

  const usable = supported && !!publicKey;
  return (
    <div class="push-switch">
      <label class="check">
        <input
          type="checkbox"
          role="switch"
          checked={on}
          disabled={!usable || busy}
          aria-checked={on ? "true" : "false"}
          aria-describedby="push-state"
          onChange={(e) => toggle((e.currentTarget as HTMLInputElement).checked)}
        />
        <span>{t("notify.push")}</span>
      </label>
      <p id="push-state" class="note" role="status">
        {!supported
          ? t("notify.unsupported")
          : publicKey === null
            ? t("notify.notConfigured")
            : publicKey === undefined
              ? t("common.loading") // not "off" before the switch can be used
              : busy
              ? t("notify.working")
              : note
                ? t(note)
                : on
                  ? t("notify.pushOn")
                  : t("notify.pushOff")}
      </p>
      <ErrorNote text={error} />
    </div>
  );
}

function Preferences() {
  const [settings, setSettings] = useState<NotificationSettings | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [chosen, setChosen] = useState<Record<string, string[]>>({});
  const [quietStart, setQuietStart] = useState("");
  const [quietEnd, setQuietEnd] = useState("");
  const [language, setLanguage] = useState("zh-CN");
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);

  function show(s: NotificationSettings) {
    setSettings(s);
    setChosen(Object.fromEntries(s.kinds.map((k) => [k.kind, [...k.channels]])));
    setQuietStart(s.quietHoursStart ?? "");
    setQuietEnd(s.quietHoursEnd ?? "");
    setLanguage(s.language);
  }

  async function load() {
    setLoadError(null);
    try {
      const data = await request<{ myNotificationSettings: NotificationSettings }>("MyNotificationSettings");
      show(data.myNotificationSettings);
    } catch (err) {
      setLoadError(t("notify.settingsFailed", { message: (err as Error).message }));
    }
  }
  useEffect(() => {
    load();
  }, []);

  async function save(event: Event) {
    event.preventDefault();
    if (!settings) return;
    setSaved(false);
    setSaveError(null);
    if (!quietStart !== !quietEnd) {
      setSaveError(t("notify.quietBoth"));
      return;
    }
    setBusy(true);
    try {
      const input: Record<string, unknown> = {
        quietHoursStart: quietStart || null,
        quietHoursEnd: quietEnd || null,
        language,
        kinds: settings.kinds.map((k) => ({ kind: k.kind, channels: chosen[k.kind] ?? [] })),
      };
      if (email.trim()) input.email = email.trim();
      const data = await request<{ setMyNotificationSettings: { settings: NotificationSettings | null; errors: UserError[] } }>(
        "SetMyNotificationSettings",
        { input },
      );
      const payload = data.setMyNotificationSettings;
      if (payload.errors.length > 0) {
        setSaveError(t("notify.saveFailed", { message: payload.errors.map((e) => e.message).join(" ") }));
        return;
      }
      if (payload.settings) show(payload.settings);
      setEmail("");
      setSaved(true);
    } catch (err) {
      setSaveError(t("notify.saveFailed", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  if (loadError) {
    return (
      <div class="notify-settings">
        <ErrorNote text={loadError} />
        <button type="button" onClick={load}>
          {t("notify.retry")}
        </button>
      </div>
    );
  }
  if (settings === null) return <p>{t("common.loading")}</p>;

  function toggle(kind: string, channel: string, checked: boolean) {
    setSaved(false);
    const now = chosen[kind] ?? [];
    setChosen({ ...chosen, [kind]: checked ? [...now.filter((c) => c !== channel), channel] : now.filter((c) => c !== channel) });
  }

  return (
    <form class="form notify-settings" onSubmit={save}>
      <h2>{t("notify.kinds")}</h2>
      {settings.kinds.map((k) => (
        <fieldset class="notify-kind" key={k.kind}>
          <legend>{label("notify.kind.", k.kind)}</legend>
          {k.alarm ? <p class="note">{t("notify.alarmNote")}</p> : null}
          {settings.channels.map((channel) => (
            <label class="check" key={channel}>
              <input
                type="checkbox"
                checked={(chosen[k.kind] ?? []).includes(channel)}
                disabled={!k.availableChannels.includes(channel)}
                onChange={(e) => toggle(k.kind, channel, (e.currentTarget as HTMLInputElement).checked)}
              />
              <span>{label("notify.channel.", channel)}</span>
            </label>
          ))}
        </fieldset>
      ))}
      <fieldset class="notify-quiet">
        <legend>{t("notify.quiet")}</legend>
        <p class="note">{t("notify.quietWhy")}</p>
        <label class="field">
          <span>{t("notify.quietStart")}</span>
          <input type="time" value={quietStart} onInput={(e) => (setSaved(false), setQuietStart((e.currentTarget as HTMLInputElement).value))} />
        </label>
        <label class="field">
          <span>{t("notify.quietEnd")}</span>
          <input type="time" value={quietEnd} onInput={(e) => (setSaved(false), setQuietEnd((e.currentTarget as HTMLInputElement).value))} />
        </label>
      </fieldset>
      <label class="field">
        <span>{t("notify.language")}</span>
        <select value={language} onChange={(e) => (setSaved(false), setLanguage((e.currentTarget as HTMLSelectElement).value))}>
          {MESSAGE_LANGUAGES.map((l) => (
            <option value={l.code} key={l.code}>
              {l.name}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>{t("notify.email")}</span>
        <input
          type="email"
          autocomplete="email"
          value={email}
          aria-describedby="notify-email-now"
          onInput={(e) => (setSaved(false), setEmail((e.currentTarget as HTMLInputElement).value))}
        />
      </label>
      <p id="notify-email-now" class="note">
        {settings.emailMasked ? t("notify.emailNow", { email: settings.emailMasked }) : t("notify.emailNone")}
      </p>
      <ErrorNote text={saveError} />
      {saved ? (
        <p class="ok" role="status">
          {t("notify.saved")}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy}>
        {t("notify.save")}
      </button>
    </form>
  );
}
