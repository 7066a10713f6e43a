/** The schedule picker's form state ↔ the engine's `Schedule`, and how a next run reads. */
import type { Schedule } from "../lib/bindings";

export type Kind = Schedule["kind"];

export interface Form {
  kind: Kind;
  /** Minute past the hour (hourly). */
  minute: number;
  /** "HH:MM" local time (daily). */
  time: string;
}

export function toForm(s: Schedule | null | undefined): Form {
  const form: Form = { kind: s?.kind ?? "manual", minute: 0, time: "06:00" };
  if (s?.kind === "hourly") form.minute = s.minute;
  if (s?.kind === "daily") form.time = `${String(s.hour).padStart(2, "0")}:${String(s.minute).padStart(2, "0")}`;
  return form;
}

/** The schedule to save; daily times carry this computer's UTC offset (e.g. 60 for CET). */
export function toSchedule(form: Form, utcOffsetMinutes: number = -new Date().getTimezoneOffset()): Schedule {
  switch (form.kind) {
    case "hourly":
      return { kind: "hourly", minute: clamp(Math.round(form.minute), 0, 59) };
    case "daily": {
      const [h, m] = form.time.split(":").map((x) => Number.parseInt(x, 10));
      return { kind: "daily", hour: clamp(h || 0, 0, 23), minute: clamp(m || 0, 0, 59), utcOffsetMinutes };
    }
    default:
      return { kind: form.kind } as Schedule;
  }
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Number.isFinite(n) ? n : lo));
}

/** "in 4 min (14:05)", "in 3 h (Tue 06:00)", "now". */
export function nextRun(dueMs: number | null | undefined, now: number = Date.now()): string {
  if (dueMs === null || dueMs === undefined) return "only when you start it";
  const at = new Date(dueMs);
  const clock = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const diff = dueMs - now;
  if (diff <= 30_000) return `now (${clock})`;
  if (diff < 90 * 60_000) return `in ${Math.max(1, Math.round(diff / 60_000))} min (${clock})`;
  const sameDay = at.toDateString() === new Date(now).toDateString();
  const when = sameDay ? clock : `${at.toLocaleDateString([], { weekday: "short" })} ${clock}`;
  return `in ${Math.round(diff / 3_600_000)} h (${when})`;
}
