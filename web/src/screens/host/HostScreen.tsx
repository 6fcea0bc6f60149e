// The host's screen (an employee's "Visitors" menu entry): arrivals pushed live (VisitorArrivals),
// inviting a visitor (InviteVisitor over the zones the host may open, ZonesToInviteTo) and sharing
// the invitation as a link and a QR, the hosted visits to approve, reject or end (read again every
// few seconds: a visitor registering has no push of its own), and for heads and deputies one queue
// of what waits for their decision (emergency walk-ins, zone-access and item requests).
import QRCode from "qrcode";
import { useEffect, useRef, useState } from "preact/hooks";
import { ok, request, subscribe } from "../../app/graphql";
import { ErrorNote, Field } from "../../components/Shell";
import { t, type TextKey } from "../../i18n";
import { at, when } from "../visitor/format";
import "./visits.css";

interface HostedVisit {
  id: string;
  status: string;
  visitorName: string;
  expectedStart: string;
  expectedEnd: string;
}

const POLL_MS = 5000;

function usePolled<T>(load: () => Promise<T>, every: number, deps: unknown[] = []): [T | null, () => void, string | null] {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () =>
      load()
        .then((v) => {
          if (live) {
            setValue(v);
            setError(null);
          }
        })
        .catch((e: Error) => live && setError(t("common.error", { message: e.message })));
    run();
    const id = setInterval(run, every);
    return () => {
      live = false;
      clearInterval(id);
    };
  }, [tick, ...deps]);
  return [value, () => setTick((n) => n + 1), error];
}

export function HostScreen(props: { roles: string[] }) {
  const [inviting, setInviting] = useState(false);
  const [arrivals, setArrivals] = useState<{ at: string; name: string; id: string }[]>([]);
  const [visits, reload, error] = usePolled(async () => {
    const data = await request("MyHostedVisits", { first: 30, after: null });
    return data.me.hostedVisits.edges.map((e: { node: HostedVisit }) => e.node) as HostedVisit[];
  }, POLL_MS);

  useEffect(
    () =>
      subscribe<{ visitorArrivals: { at: string; visit: { id: string; visitorName: string } } }>(
        "VisitorArrivals",
        {},
        (data) => {
          const a = data.visitorArrivals;
          setArrivals((old) => [{ at: a.at, name: a.visit.visitorName, id: a.visit.id }, ...old].slice(0, 5));
          reload();
        },
        () => {
          // The socket retries by itself; the list below is polled all the same.
        },
      ),
    [],
  );

  return (
    <>
      {arrivals.length ? (
        <section class="arrivals" aria-label={t("host.arrivals")}>
          <ul role="log" aria-live="polite" class="plain">
            {arrivals.map((a) => (
              <li key={a.id + a.at}>{t("host.arrived", { name: a.name, time: at(a.at) })}</li>
            ))}
          </ul>
        </section>
      ) : null}
      {inviting ? (
        <InviteForm onDone={() => (setInviting(false), reload())} />
      ) : (
        <button type="button" class="primary" onClick={() => setInviting(true)}>
          {t("host.invite")}
        </button>
      )}
      <h2>{t("host.title")}</h2>
      <ErrorNote text={error} />
      {visits === null ? (
        <p>{t("common.loading")}</p>
      ) : visits.length === 0 ? (
        <p>{t("host.empty")}</p>
      ) : (
        <ul class="cards" aria-label={t("host.title")}>
          {visits.map((v) => (
            <HostedRow key={v.id} visit={v} onChanged={reload} />
          ))}
        </ul>
      )}
      <DecisionQueue roles={props.roles} />
    </>
  );
}

function HostedRow(props: { visit: HostedVisit; onChanged: () => void }) {
  const v = props.visit;
  const [error, setError] = useState<string | null>(null);
  async function run(name: string, variables: Record<string, unknown>) {
    setError(null);
    try {
      const data = await request(name, variables);
      ok(Object.values(data)[0] as { errors: { code: string; message: string }[] });
      props.onChanged();
    } catch (err) {
      setError(t("host.failed", { message: (err as Error).message }));
    }
  }
  return (
    <li class={`card status-${v.status.toLowerCase()}`}>
      <strong>{v.visitorName}</strong>
      <span class="status">{t(`host.status.${v.status}` as TextKey)}</span>
      <span class="note">{when(v.expectedStart, v.expectedEnd)}</span>
      {v.status === "PENDING_APPROVAL" ? (
        <Decide
          onApprove={() => run("ApproveVisit", { id: v.id })}
          onReject={(reason) => run("RejectVisit", { id: v.id, reason })}
        />
      ) : null}
      {["INVITED", "APPROVED", "CHECKED_IN"].includes(v.status) ? (
        <div class="actions">
          <button type="button" class="secondary" onClick={() => run("EndVisit", { id: v.id })}>
            {t("host.end")}
          </button>
        </div>
      ) : null}
      <ErrorNote text={error} />
    </li>
  );
}

/** Approve / Reject (contract names); rejecting asks for the reason first. */
function Decide(props: { onApprove: () => Promise<void>; onReject: (reason: string) => Promise<void> }) {
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const wrap = (f: () => Promise<void>) => async () => {
    setBusy(true);
    try {
      await f();
    } finally {
      setBusy(false);
    }
  };
  if (rejecting) {
    return (
      <form
        class="reject"
        onSubmit={(e) => {
          e.preventDefault();
          wrap(() => props.onReject(reason.trim()))();
        }}
      >
        <Field label={t("host.reason")} value={reason} onInput={setReason} />
        <div class="actions">
          <button type="submit" class="danger" disabled={busy || !reason.trim()}>
            {t("host.confirmReject")}
          </button>
          <button type="button" class="secondary" onClick={() => setRejecting(false)}>
            {t("host.cancel")}
          </button>
        </div>
      </form>
    );
  }
  return (
    <div class="actions">
      <button type="button" class="good" disabled={busy} onClick={wrap(props.onApprove)}>
        {t("host.approve")}
      </button>
      <button type="button" class="danger" disabled={busy} onClick={() => setRejecting(true)}>
        {t("host.reject")}
      </button>
    </div>
  );
}

/** A `datetime-local` value for a moment, in this device's time zone. */
function localInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function InviteForm(props: { onDone: () => void }) {
  const now = new Date();
  now.setSeconds(0, 0);
  const [name, setName] = useState("");
  const [phone, setPhone] = useState("");
  const [email, setEmail] = useState("");
  const [purpose, setPurpose] = useState("");
  const [start, setStart] = useState(localInput(now));
  const [end, setEnd] = useState(localInput(new Date(now.getTime() + 2 * 3600_000)));
  const [zones, setZones] = useState<{ id: string; name: string }[] | null>(null);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [invited, setInvited] = useState<{ code: string; name: string; email: string | null } | null>(null);

  useEffect(() => {
    request("ZonesToInviteTo")
      .then((data) => setZones(data.zonesToInviteTo))
      .catch((e: Error) => setError(t("common.error", { message: e.message })));
  }, []);

  async function submit(e: Event) {
    e.preventDefault();
    // A light check only (the browser's type=email check ran already); the server validates it.
    const address = email.trim();
    if (address && !looksLikeEmail(address)) {
      setError(t("host.emailInvalid"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const input = {
        visitorName: name.trim(),
        phone: phone.trim(),
        purpose: purpose.trim(),
        expectedStart: new Date(start).toISOString(),
        expectedEnd: new Date(end).toISOString(),
        zoneIds: [...chosen],
        // Optional: the server emails the invitation there (when it has an email channel).
        ...(address ? { email: address } : {}),
      };
      const data = await request("InviteVisitor", { input });
      const visit = ok(data.inviteVisitor).visit;
      setInvited({ code: visit.inviteCode, name: input.visitorName, email: address || null });
    } catch (err) {
      setError(t("host.inviteFailed", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  if (invited) return <Share code={invited.code} name={invited.name} email={invited.email} onDone={props.onDone} />;
  return (
    <form class="form invite" onSubmit={submit}>
      <h2>{t("host.inviteTitle")}</h2>
      <Field label={t("host.visitorName")} value={name} onInput={setName} autocomplete="off" />
      <Field label={t("host.visitorPhone")} type="tel" value={phone} onInput={setPhone} autocomplete="off" />
      <Field label={t("host.visitorEmail")} type="email" value={email} onInput={setEmail} autocomplete="off" required={false} />
      <p class="note">{t("host.emailWhy")}</p>
      <Field label={t("host.purpose")} value={purpose} onInput={setPurpose} autocomplete="off" />
      <div class="two">
        <Field label={t("host.start")} type="datetime-local" value={start} onInput={setStart} />
        <Field label={t("host.until")} type="datetime-local" value={end} onInput={setEnd} />
      </div>
      <fieldset class="zones">
        <legend>{t("host.zones")}</legend>
        {zones === null ? (
          <p>{t("common.loading")}</p>
        ) : zones.length === 0 ? (
          <p class="note">{t("host.noZones")}</p>
        ) : (
          zones.map((z) => (
            <label class="check" key={z.id}>
              <input
                type="checkbox"
                checked={chosen.has(z.id)}
                onChange={(e) => {
                  const next = new Set(chosen);
                  if ((e.currentTarget as HTMLInputElement).checked) next.add(z.id);
                  else next.delete(z.id);
                  setChosen(next);
                }}
              />
              <span>{z.name}</span>
            </label>
          ))
        )}
      </fieldset>
      <ErrorNote text={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy || chosen.size === 0}>
          {t("host.send")}
        </button>
        <button type="button" class="secondary" onClick={props.onDone}>
          {t("host.cancel")}
        </button>
      </div>
    </form>
  );
}

/** One "@" with something on both sides and a dot in the domain: enough to catch a typo here. */
function looksLikeEmail(address: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(address) && address.length <= 254;
}

/** The invitation as a link (`<origin>/invite/<code>`, PHONE_APP.md) and as a QR of that link. */
function Share(props: { code: string; name: string; email?: string | null; onDone: () => void }) {
  const link = `${location.origin}/invite/${encodeURIComponent(props.code)}`;
  const canvas = useRef<HTMLCanvasElement>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (canvas.current) QRCode.toCanvas(canvas.current, link, { errorCorrectionLevel: "M", margin: 4, scale: 6 });
  }, [link]);
  const nav = navigator as Navigator & { share?: (data: ShareData) => Promise<void> };
  return (
    <section class="share">
      <h2>{t("host.invited", { name: props.name })}</h2>
      {props.email ? (
        <p role="status" class="sent-to">
          {t("host.emailed", { email: props.email })}
        </p>
      ) : null}
      <p class="note">{t("host.shareHow")}</p>
      <label class="field">
        <span>{t("host.link")}</span>
        <input type="url" readOnly value={link} onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
      </label>
      <canvas ref={canvas} class="qr invite-qr" role="img" aria-label={t("host.linkQr")} data-link={link} />
      <div class="actions">
        <button
          type="button"
          class="secondary"
          onClick={() => navigator.clipboard?.writeText(link).then(() => setCopied(true), () => setCopied(false))}
        >
          {t("host.copy")}
        </button>
        {nav.share ? (
          <button type="button" class="secondary" onClick={() => nav.share!({ title: t("host.invited", { name: props.name }), url: link }).catch(() => {})}>
            {t("host.share")}
          </button>
        ) : (
          <a class="button secondary" href={`sms:?&body=${encodeURIComponent(link)}`}>
            {t("host.share")}
          </a>
        )}
        <button type="button" onClick={props.onDone}>
          {t("host.done")}
        </button>
      </div>
      {copied ? <p role="status" class="note">{t("host.copied")}</p> : null}
    </section>
  );
}

interface Queue {
  pendingEmergencyVisits: { edges: { node: { id: string; visitorName: string; purpose: string; hostName: string; expectedEnd: string } }[] };
  accessRequestsToDecide: { edges: { node: { id: string; reason: string; days: number; person: { displayName: string } | null; zone: { name: string } | null } }[] };
  approvalQueue: { edges: { node: { id: string; kind: string; quantity: number; details: { name?: string; purpose?: string; reason?: string }; requester: { displayName: string } | null; item: { name: string } | null } }[] };
}

/** Heads and deputies: everything that waits for their decision, in one list. */
function DecisionQueue(props: { roles: string[] }) {
  const [queue, reload, error] = usePolled(async (): Promise<Queue> => {
    const [emergencies, access, items] = await Promise.all(
      ["EmergencyVisitsToDecide", "AccessRequestsToDecide", "ItemRequestsToDecide"].map((name) => request(name, { first: 30 })),
    );
    return { ...emergencies, ...access, ...items };
  }, POLL_MS * 2);
  const [failure, setFailure] = useState<string | null>(null);
  if (queue === null) return null;
  const emergencies = queue.pendingEmergencyVisits.edges.map((e) => e.node);
  const access = queue.accessRequestsToDecide.edges.map((e) => e.node);
  const items = queue.approvalQueue.edges.map((e) => e.node);
  const empty = emergencies.length + access.length + items.length === 0;
  if (empty && !props.roles.includes("DEPARTMENT_HEAD")) return null;

  async function run(name: string, variables: Record<string, unknown>) {
    setFailure(null);
    try {
      const data = await request(name, variables);
      ok(Object.values(data)[0] as { errors: { code: string; message: string }[] });
      reload();
    } catch (err) {
      setFailure(t("host.failed", { message: (err as Error).message }));
    }
  }

  return (
    <section class="queue">
      <h2>{t("host.queue")}</h2>
      <ErrorNote text={error ?? failure} />
      {empty ? <p>{t("host.queueEmpty")}</p> : null}
      <ul class="cards" aria-label={t("host.queue")}>
        {emergencies.map((v) => (
          <li class="card" key={`v${v.id}`}>
            <strong>{t("host.emergency", { host: v.hostName, name: v.visitorName })}</strong>
            <span class="note">
              {v.purpose} · {t("visitor.until")} {at(v.expectedEnd)}
            </span>
            <Decide
              onApprove={() => run("ApproveVisit", { id: v.id })}
              onReject={(reason) => run("RejectVisit", { id: v.id, reason })}
            />
          </li>
        ))}
        {access.map((r) => (
          <li class="card" key={`a${r.id}`}>
            <strong>
              {t("host.zoneRequest", { name: r.person?.displayName ?? "—", zone: r.zone?.name ?? "—", days: r.days })}
            </strong>
            <span class="note">{r.reason}</span>
            <Decide
              onApprove={() => run("ApproveAccessRequest", { id: r.id, note: null })}
              onReject={(note) => run("RejectAccessRequest", { id: r.id, note })}
            />
          </li>
        ))}
        {items.map((r) => (
          <li class="card" key={`i${r.id}`}>
            <strong>
              {t("host.itemRequest", {
                name: r.requester?.displayName ?? "—",
                kind: t(`host.kind.${r.kind}` as TextKey),
                quantity: r.quantity,
                // A purchase of something new names it in its details only.
                item: r.item?.name ?? r.details?.name ?? "—",
              })}
            </strong>
            {r.details?.purpose || r.details?.reason ? <span class="note">{r.details.purpose ?? r.details.reason}</span> : null}
            <Decide
              onApprove={() => run("ApproveItemRequest", { id: r.id, comment: null })}
              onReject={(comment) => run("RejectItemRequest", { id: r.id, comment })}
            />
          </li>
        ))}
      </ul>
    </section>
  );
}
