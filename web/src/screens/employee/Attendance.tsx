// My attendance days (MyAttendance, phone_app.graphql: `attendance(personId: me)`), a month at a time.
import { useEffect, useState } from "preact/hooks";
import { request } from "../../app/graphql";
import { ErrorNote } from "../../components/Shell";
import { lang, t } from "../../i18n";
import type { Me } from "./EmployeeApp";

interface Day {
  day: string;
  firstIn: string | null;
  lastOut: string | null;
  minutesInside: number;
  workday: boolean;
  scheduled: boolean;
  late: boolean;
  leftEarly: boolean;
  absent: boolean;
  missingExit: boolean;
  corrected: boolean;
}

function monthOf(date: Date): string {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}`;
}

function range(month: string): { from: string; to: string } {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(y, m, 0).getDate();
  return { from: `${month}-01`, to: `${month}-${String(last).padStart(2, "0")}` };
}

export function Attendance(props: { me: Me }) {
  const [month, setMonth] = useState(monthOf(new Date()));
  const [days, setDays] = useState<Day[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setDays(null);
    request("MyAttendance", { personId: props.me.id, ...range(month) })
      .then((data) => setDays(data.attendance))
      .catch((err: Error) => setError(t("common.error", { message: err.message })));
  }, [month]);

  const time = new Intl.DateTimeFormat(lang.value, { timeStyle: "short" });
  const day = new Intl.DateTimeFormat(lang.value, { month: "short", day: "numeric", weekday: "short" });
  const notes = (d: Day) =>
    [
      d.late && t("attendance.late"),
      d.leftEarly && t("attendance.leftEarly"),
      d.absent && t("attendance.absent"),
      d.missingExit && t("attendance.missingExit"),
      d.corrected && t("attendance.corrected"),
      d.scheduled && !d.workday && t("attendance.dayOff"),
    ]
      .filter(Boolean)
      .join(", ");

  return (
    <>
      <label class="field inline">
        <span>{t("attendance.month")}</span>
        <input type="month" value={month} onChange={(e) => setMonth((e.currentTarget as HTMLInputElement).value || month)} />
      </label>
      <ErrorNote text={error} />
      {days === null ? (
        <p>{t("common.loading")}</p>
      ) : days.length === 0 ? (
        <p>{t("attendance.empty")}</p>
      ) : (
        <table class="days">
          <thead>
            <tr>
              <th scope="col">{t("attendance.day")}</th>
              <th scope="col">{t("attendance.in")}</th>
              <th scope="col">{t("attendance.out")}</th>
              <th scope="col">{t("attendance.hours")}</th>
              <th scope="col">{t("attendance.notes")}</th>
            </tr>
          </thead>
          <tbody>
            {days.map((d) => (
              <tr key={d.day}>
                <td>{day.format(new Date(`${d.day}T12:00:00`))}</td>
                <td>{d.firstIn ? time.format(new Date(d.firstIn)) : "—"}</td>
                <td>{d.lastOut ? time.format(new Date(d.lastOut)) : "—"}</td>
                <td>{`${Math.floor(d.minutesInside / 60)}:${String(d.minutesInside % 60).padStart(2, "0")}`}</td>
                <td>{notes(d)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
