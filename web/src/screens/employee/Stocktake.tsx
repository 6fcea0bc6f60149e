// Stocktakes on the phone (issue 18, phone_app_stocktakes.graphql, README "Stocktakes"): the
// warehouse, asset management and the supervision team open a count of one location or all,
// scan labels with the camera (or type them), count unlabelled stock, close the count and read
// the variance report. Labels are QR codes: the browser's BarcodeDetector reads them where it
// exists (Chromium on Android); elsewhere jsQR does, on the same frames or photo.
import jsQR from "jsqr";
import { useEffect, useRef, useState } from "preact/hooks";
import { request } from "../../app/graphql";
import { online } from "../../app/network";
import { ErrorNote } from "../../components/Shell";
import { lang, t, type TextKey } from "../../i18n";

/** Who may count (schema/core/permissions.py STOCKTAKERS); the server decides, this only hides the menu. */
export const STOCKTAKER_ROLES = ["WAREHOUSE", "ADMIN", "ASSET_MANAGER", "SUPERVISOR"];

interface Place {
  id: string;
  name: string;
}

interface ItemRow {
  id: string;
  name: string;
  unit: string;
  serialized: boolean;
}

interface Stocktake {
  id: string;
  status: "OPEN" | "COUNTED" | "CLOSED";
  openedAt: string;
  scanned: number;
  location: Place | null;
}

interface Variance {
  id: string;
  kind: "MISSING" | "UNEXPECTED" | "WRONG_PLACE" | "QUANTITY";
  expected: number;
  counted: number;
  difference: number;
  item: { id: string; name: string; unit: string } | null;
  asset: { id: string; labelCode: string } | null;
  location: Place | null;
  recordedLocation: Place | null;
}

interface Report extends Stocktake {
  countedAt: string | null;
  variances: Variance[];
}

interface UserError {
  code: string;
  field: string | null;
  message: string;
}

function nodes<T>(connection: { edges: { node: T }[] }): T[] {
  return connection.edges.map((e) => e.node);
}

// The server's refusals (English) the person can act on, in the app's language; anything else
// is shown as the server wrote it.
const KNOWN: [RegExp, TextKey][] = [
  [/forged or damaged|not a valid asset label/i, "stocktake.error.forged"],
  [/no such asset/i, "stocktake.error.unknown"],
  [/stock item's label/i, "stocktake.error.stockLabel"],
  [/not the one this stocktake counts/i, "stocktake.error.outOfScope"],
  [/of this location is open/i, "stocktake.error.openAlready"],
  [/nothing more is counted|is (COUNTED|CLOSED) already/i, "stocktake.error.notOpen"],
  [/labelled: scan each label/i, "stocktake.error.labelledItem"],
  [/counted quantity is/i, "stocktake.error.quantity"],
];

function errorText(error: UserError): string {
  for (const [pattern, key] of KNOWN) if (pattern.test(error.message)) return t(key);
  return error.message;
}

function placeName(place: Place | null): string {
  return place ? place.name : t("stocktake.allLocations");
}

// --- reading a QR code --------------------------------------------------------------------------

interface Detector {
  detect(source: CanvasImageSource): Promise<{ rawValue: string }[]>;
}

let detector: Promise<Detector | null> | null = null;

/** The browser's QR detector, or null when it has none (then jsQR reads the pixels). */
function nativeDetector(): Promise<Detector | null> {
  if (detector === null) {
    const Native = (globalThis as { BarcodeDetector?: any }).BarcodeDetector;
    detector = Native
      ? Promise.resolve(Native.getSupportedFormats?.() ?? ["qr_code"])
          .then((formats: string[]) => (formats.includes("qr_code") ? (new Native({ formats: ["qr_code"] }) as Detector) : null))
          .catch(() => null)
      : Promise.resolve(null);
  }
  return detector;
}

/** Longest side jsQR is given: enough for a label filling part of the frame, cheap on a phone. */
const DECODE_SIDE = 1024;

async function readQr(source: ImageBitmap | HTMLVideoElement, width: number, height: number): Promise<string | null> {
  const native = await nativeDetector();
  if (native) {
    try {
      const found = await native.detect(source);
      if (found.length > 0) return found[0].rawValue;
    } catch {
      // A detector that fails on this frame: jsQR tries the same pixels.
    }
  }
  if (width === 0 || height === 0) return null;
  const scale = Math.min(1, DECODE_SIDE / Math.max(width, height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const context = canvas.getContext("2d", { willReadFrequently: true });
  if (context === null) return null;
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  return jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: "attemptBoth" })?.data ?? null;
}

async function readQrPhoto(file: Blob): Promise<string | null> {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  try {
    return await readQr(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

// --- the screen ---------------------------------------------------------------------------------

export function StocktakeScreen() {
  const [open, setOpen] = useState<Stocktake[] | null>(null);
  const [places, setPlaces] = useState<Place[]>([]);
  const [stockItems, setStockItems] = useState<ItemRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [counting, setCounting] = useState<Stocktake | null>(null);
  const [report, setReport] = useState<Report | null>(null);

  async function load() {
    setError(null);
    try {
      const [list, where] = await Promise.all([
        request<{ stocktakes: { edges: { node: Stocktake }[] } }>("StocktakesToCount"),
        request<{ stockLocations: { edges: { node: Place }[] }; items: { edges: { node: ItemRow }[] } }>("StocktakePlaces"),
      ]);
      setOpen(nodes(list.stocktakes));
      setPlaces(nodes(where.stockLocations));
      setStockItems(nodes(where.items).filter((i) => !i.serialized));
    } catch (err) {
      setError(t("common.error", { message: (err as Error).message }));
    }
  }
  useEffect(() => {
    if (online.value) load();
  }, [online.value]);

  if (!online.value) {
    return (
      <p class="note" role="status">
        {t("stocktake.offline")}
      </p>
    );
  }
  if (error) {
    return (
      <>
        <ErrorNote text={error} />
        <button type="button" onClick={load}>
          {t("stocktake.retry")}
        </button>
      </>
    );
  }
  if (report) {
    return (
      <ReportView
        report={report}
        onBack={() => {
          setReport(null);
          load();
        }}
      />
    );
  }
  if (counting) {
    return (
      <Counting
        stocktake={counting}
        places={places}
        stockItems={stockItems}
        onClosed={(r) => {
          setCounting(null);
          setReport(r);
        }}
        onBack={() => {
          setCounting(null);
          load();
        }}
      />
    );
  }
  if (open === null) return <p>{t("common.loading")}</p>;
  return (
    <section class="stocktake" aria-labelledby="stocktake-open-title">
      <h2 id="stocktake-open-title">{t("stocktake.openList")}</h2>
      {open.length === 0 ? (
        <p class="note">{t("stocktake.noneOpen")}</p>
      ) : (
        <ul class="stocktakes">
          {open.map((s) => (
            <li key={s.id}>
              <button type="button" onClick={() => setCounting(s)}>
                {t("stocktake.countAt", { place: placeName(s.location) })}
              </button>
              <span class="note">
                {" "}
                {t("stocktake.scanned", { n: String(s.scanned) })} · <Opened at={s.openedAt} />
              </span>
            </li>
          ))}
        </ul>
      )}
      <OpenForm places={places} onOpened={setCounting} />
    </section>
  );
}

function Opened(props: { at: string }) {
  const format = new Intl.DateTimeFormat(lang.value, { dateStyle: "medium", timeStyle: "short" });
  return <time dateTime={props.at}>{format.format(new Date(props.at))}</time>;
}

function OpenForm(props: { places: Place[]; onOpened: (s: Stocktake) => void }) {
  const [where, setWhere] = useState(props.places[0]?.id ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const data = await request<{ openStocktake: { stocktake: Stocktake | null; errors: UserError[] } }>("OpenStocktake", {
        locationId: where === "" ? null : where,
      });
      const payload = data.openStocktake;
      if (payload.errors.length > 0) setError(payload.errors.map(errorText).join(" "));
      else if (payload.stocktake) props.onOpened(payload.stocktake);
    } catch (err) {
      setError(t("common.error", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="form stocktake" onSubmit={submit} aria-labelledby="stocktake-new-title">
      <h2 id="stocktake-new-title">{t("stocktake.new")}</h2>
      <div class="field">
        <label for="stocktake-location">{t("stocktake.location")}</label>
        <select id="stocktake-location" value={where} onChange={(e) => setWhere((e.currentTarget as HTMLSelectElement).value)}>
          {props.places.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
          <option value="">{t("stocktake.allLocations")}</option>
        </select>
      </div>
      <ErrorNote text={error} />
      <button type="submit" class="primary" disabled={busy}>
        {t("stocktake.open")}
      </button>
    </form>
  );
}

interface ScanLine {
  n: number;
  label: string;
  // Keys, not texts: the lines follow the Language / 语言 control; a server text stays as written.
  key: TextKey | null;
  text: string | null;
  good: boolean;
  /** The asset's item name as the server has it (any script). */
  name: string | null;
}

function Counting(props: {
  stocktake: Stocktake;
  places: Place[];
  stockItems: ItemRow[];
  onClosed: (r: Report) => void;
  onBack: () => void;
}) {
  const { stocktake } = props;
  const [scanned, setScanned] = useState(stocktake.scanned);
  // Counting everywhere: the person says where they stand; one location: that one.
  const [where, setWhere] = useState(stocktake.location?.id ?? props.places[0]?.id ?? "");
  const [lines, setLines] = useState<ScanLine[]>([]);
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [closing, setClosing] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const counter = useRef(0);

  function note(label: string, key: TextKey | null, text: string | null, good: boolean, name: string | null = null) {
    counter.current += 1;
    const line = { n: counter.current, label, key, text, good, name };
    setLines((old) => [line, ...old].slice(0, 20));
  }

  async function scan(label: string) {
    const code = label.trim();
    if (code === "") return;
    setBusy(true);
    try {
      const data = await request<{
        recordStocktakeScan: { counted: boolean; asset: { id: string; item: { name: string } | null } | null; errors: UserError[] };
      }>("ScanStocktakeLabel", {
        stocktakeId: stocktake.id,
        label: code,
        locationId: where,
      });
      const payload = data.recordStocktakeScan;
      if (payload.errors.length > 0) {
        const known = payload.errors.length === 1 ? KNOWN.find(([p]) => p.test(payload.errors[0].message)) : undefined;
        note(code, known ? known[1] : null, known ? null : payload.errors.map(errorText).join(" "), false);
      } else if (payload.counted) {
        setScanned((n) => n + 1);
        note(code, "stocktake.counted", null, true, payload.asset?.item?.name ?? null);
      } else {
        note(code, "stocktake.countedBefore", null, false, payload.asset?.item?.name ?? null);
      }
    } catch (err) {
      note(code, null, t("common.error", { message: (err as Error).message }), false);
    } finally {
      setBusy(false);
    }
  }

  async function photo(file: File | undefined) {
    if (!file) return;
    let code: string | null = null;
    try {
      code = await readQrPhoto(file);
    } catch {
      code = null;
    }
    if (code === null) note("—", "stocktake.noCode", null, false);
    else await scan(code);
  }

  async function close() {
    setBusy(true);
    setError(null);
    try {
      const data = await request<{ closeStocktake: { stocktake: Report | null; errors: UserError[] } }>("CloseStocktake", {
        id: stocktake.id,
      });
      const payload = data.closeStocktake;
      if (payload.errors.length > 0) setError(payload.errors.map(errorText).join(" "));
      else if (payload.stocktake) props.onClosed(payload.stocktake);
    } catch (err) {
      setError(t("common.error", { message: (err as Error).message }));
    } finally {
      setBusy(false);
      setClosing(false);
    }
  }

  return (
    <section class="stocktake" aria-labelledby="stocktake-counting">
      <h2 id="stocktake-counting">{t("stocktake.countAt", { place: placeName(stocktake.location) })}</h2>
      <p class="progress" role="status">
        {t("stocktake.scanned", { n: String(scanned) })}
      </p>
      {stocktake.location ? null : (
        <div class="field">
          <label for="stocktake-here">{t("stocktake.here")}</label>
          <select id="stocktake-here" value={where} onChange={(e) => setWhere((e.currentTarget as HTMLSelectElement).value)}>
            {props.places.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
      )}

      <h3>{t("stocktake.labels")}</h3>
      <Camera onCode={scan} />
      <label class="field">
        <span>{t("stocktake.photo")}</span>
        <input
          type="file"
          accept="image/*"
          capture="environment"
          onChange={(e) => {
            const input = e.currentTarget as HTMLInputElement;
            photo(input.files?.[0]).finally(() => (input.value = ""));
          }}
        />
      </label>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          // Emptied at once, so the next label can be typed while this one is being checked.
          const code = typed;
          setTyped("");
          scan(code);
        }}
      >
        <label class="field">
          <span>{t("stocktake.typed")}</span>
          <input
            type="text"
            autocomplete="off"
            autocapitalize="off"
            spellcheck={false}
            value={typed}
            onInput={(e) => setTyped((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" disabled={busy || typed.trim() === ""}>
          {t("stocktake.record")}
        </button>
      </form>
      <ol class="scans" role="log" aria-label={t("stocktake.results")}>
        {lines.map((line) => (
          <li key={line.n} class={line.good ? "ok" : "error"}>
            {line.name ? (
              <>
                <b class="asset-name">{line.name}</b>{" "}
              </>
            ) : null}
            {line.key ? t(line.key) : line.text} <span class="note code">{line.label.slice(0, 24)}</span>
          </li>
        ))}
      </ol>

      <StockCount stocktakeId={stocktake.id} where={where} stockItems={props.stockItems} />

      <ErrorNote text={error} />
      {closing ? (
        <div class="confirm" role="alertdialog" aria-labelledby="stocktake-close-title" aria-describedby="stocktake-close-why">
          <h3 id="stocktake-close-title">{t("stocktake.closeTitle")}</h3>
          <p id="stocktake-close-why">{t("stocktake.closeWhy")}</p>
          <div class="actions">
            <button type="button" class="danger" disabled={busy} onClick={close}>
              {t("stocktake.closeConfirm")}
            </button>
            <button type="button" disabled={busy} onClick={() => setClosing(false)}>
              {t("stocktake.cancel")}
            </button>
          </div>
        </div>
      ) : (
        <div class="actions">
          <button type="button" class="primary" onClick={() => setClosing(true)}>
            {t("stocktake.close")}
          </button>
          <button type="button" onClick={props.onBack}>
            {t("stocktake.back")}
          </button>
        </div>
      )}
    </section>
  );
}

/** The live camera: frames are read a few times a second until a code is found. */
function Camera(props: { onCode: (code: string) => Promise<void> }) {
  const [on, setOn] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const video = useRef<HTMLVideoElement>(null);
  // The latest handler (it knows where the person now stands), not the one of when the camera began.
  const onCode = useRef(props.onCode);
  onCode.current = props.onCode;

  useEffect(() => {
    if (!on) return;
    let stream: MediaStream | null = null;
    let timer = 0;
    let stopped = false;
    const stop = () => {
      stopped = true;
      window.clearTimeout(timer);
      stream?.getTracks().forEach((track) => track.stop());
    };
    const look = async () => {
      const v = video.current;
      if (stopped || !v) return;
      const code = v.readyState >= 2 ? await readQr(v, v.videoWidth, v.videoHeight).catch(() => null) : null;
      if (stopped) return;
      if (code !== null) {
        // One label per look: the person points at the next one and looks again.
        stop();
        setOn(false);
        await onCode.current(code);
        return;
      }
      timer = window.setTimeout(look, 250);
    };
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then((s) => {
        stream = s;
        if (stopped) return stop();
        if (video.current) {
          video.current.srcObject = s;
          video.current.play().catch(() => undefined);
        }
        look();
      })
      .catch(() => {
        setProblem(t("stocktake.noCamera"));
        setOn(false);
      });
    return stop;
  }, [on]);

  return (
    <div class="camera">
      {on ? <video ref={video} class="viewfinder" muted playsInline aria-label={t("stocktake.viewfinder")} /> : null}
      <button
        type="button"
        aria-pressed={on}
        disabled={!navigator.mediaDevices?.getUserMedia}
        onClick={() => {
          setProblem(null);
          setOn(!on);
        }}
      >
        {on ? t("stocktake.cameraStop") : t("stocktake.camera")}
      </button>
      <ErrorNote text={problem} />
    </div>
  );
}

function StockCount(props: { stocktakeId: string; where: string; stockItems: ItemRow[] }) {
  const [item, setItem] = useState(props.stockItems[0]?.id ?? "");
  const [quantity, setQuantity] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<{ name: string; quantity: string } | null>(null);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const data = await request<{ recordStocktakeCount: { errors: UserError[] } }>("CountStocktakeStock", {
        stocktakeId: props.stocktakeId,
        itemId: item,
        locationId: props.where,
        quantity: Number(quantity),
      });
      const errors = data.recordStocktakeCount.errors;
      if (errors.length > 0) setError(errors.map(errorText).join(" "));
      else setDone({ name: props.stockItems.find((i) => i.id === item)?.name ?? "", quantity });
    } catch (err) {
      setError(t("common.error", { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  if (props.stockItems.length === 0) return null;
  const valid = /^\d{1,9}$/.test(quantity);
  return (
    <form class="form stocktake" onSubmit={submit} aria-labelledby="stocktake-stock-title">
      <h3 id="stocktake-stock-title">{t("stocktake.stock")}</h3>
      <div class="field">
        <label for="stocktake-item">{t("stocktake.item")}</label>
        <select id="stocktake-item" value={item} onChange={(e) => setItem((e.currentTarget as HTMLSelectElement).value)}>
          {props.stockItems.map((i) => (
            <option key={i.id} value={i.id}>
              {i.name}
            </option>
          ))}
        </select>
      </div>
      <label class="field">
        <span>{t("stocktake.quantity")}</span>
        <input
          type="number"
          inputMode="numeric"
          min={0}
          step={1}
          value={quantity}
          onInput={(e) => setQuantity((e.currentTarget as HTMLInputElement).value)}
        />
      </label>
      <ErrorNote text={error} />
      {done ? (
        <p class="ok" role="status">
          {t("stocktake.countedStock", { item: done.name, n: done.quantity })}
        </p>
      ) : null}
      <button type="submit" disabled={busy || !valid}>
        {t("stocktake.recordCount")}
      </button>
    </form>
  );
}

const KINDS: Record<Variance["kind"], TextKey> = {
  MISSING: "stocktake.kind.MISSING",
  UNEXPECTED: "stocktake.kind.UNEXPECTED",
  WRONG_PLACE: "stocktake.kind.WRONG_PLACE",
  QUANTITY: "stocktake.kind.QUANTITY",
};

function ReportView(props: { report: Report; onBack: () => void }) {
  const { report } = props;
  return (
    <section class="stocktake" aria-labelledby="stocktake-report-title">
      <h2 id="stocktake-report-title">{t("stocktake.report", { place: placeName(report.location) })}</h2>
      <p class="note">{t("stocktake.scanned", { n: String(report.scanned) })}</p>
      {report.variances.length === 0 ? (
        <p class="ok" role="status">
          {t("stocktake.noVariances")}
        </p>
      ) : (
        <table class="days variances">
          <caption class="visually-hidden">{t("stocktake.variances")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("stocktake.col.kind")}</th>
              <th scope="col">{t("stocktake.col.item")}</th>
              <th scope="col">{t("stocktake.col.where")}</th>
              <th scope="col">{t("stocktake.col.counted")}</th>
            </tr>
          </thead>
          <tbody>
            {report.variances.map((v) => (
              <tr key={v.id} data-kind={v.kind}>
                <td>{t(KINDS[v.kind])}</td>
                <td>
                  {v.item?.name ?? "—"}
                  {/* Which unit: the label's printed number, without its signature. */}
                  {v.asset ? <span class="note code"> {v.asset.labelCode.split(":").slice(0, 2).join(":")}</span> : null}
                </td>
                <td>
                  {v.location?.name ?? "—"}
                  {v.kind === "WRONG_PLACE" && v.recordedLocation ? ` (${t("stocktake.recordedAt", { place: v.recordedLocation.name })})` : ""}
                </td>
                <td>{t("stocktake.expectedCounted", { expected: String(v.expected), counted: String(v.counted) })}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <button type="button" onClick={props.onBack}>
        {t("stocktake.back")}
      </button>
    </section>
  );
}
