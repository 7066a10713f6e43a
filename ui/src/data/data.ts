/** Pure helpers of the Data screen: how values, row states, push results and dead letters read. */
import type { DeadLetter, LocalValue, RowState, WriteProgress, WriteSummary } from "../lib/bindings";

/** A cell as text (what the editor shows and starts from). */
export function cellText(v: LocalValue): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "true" : "false";
  return String(v);
}

/** What the editor sends for typed text: empty is null; the engine converts to the column type. */
export function inputValue(text: string): LocalValue {
  const t = text.trim();
  return t === "" ? null : t;
}

export const STATE_LABELS: Record<RowState, string> = {
  synced: "In HubSpot",
  changed: "Changed here, not sent yet",
  new: "New here, not in HubSpot yet",
  refused: "Refused by HubSpot",
  conflict: "Changed on both sides; waits for you under Conflicts",
  archived: "Archived in HubSpot",
};

/** "1–50 of 512" */
export function pageLabel(offset: number, shown: number, total: number): string {
  if (total === 0) return "No rows";
  return `${(offset + 1).toLocaleString()}–${(offset + shown).toLocaleString()} of ${total.toLocaleString()}`;
}

/** A reason to filter dead letters by: HubSpot's category (or Spoke's own refusal). */
export const REASON_LABELS: Record<string, string> = {
  VALIDATION_ERROR: "Invalid value",
  CONFLICT: "Duplicate or conflicting record",
  OBJECT_NOT_FOUND: "Record not found",
  WRITE_REFUSED: "Not writable (Spoke's checks)",
  NO_RESULT: "No answer from HubSpot",
  RATE_LIMITS: "Rate limited",
};

export function reasonLabel(category: string): string {
  return REASON_LABELS[category] ?? category.replace(/_/g, " ").toLowerCase().replace(/^\w/, (c) => c.toUpperCase());
}

export interface Reason {
  category: string;
  label: string;
  count: number;
}

/** Reasons present in `list`, most frequent first. */
export function reasons(list: DeadLetter[]): Reason[] {
  const counts = new Map<string, number>();
  for (const d of list) counts.set(d.category, (counts.get(d.category) ?? 0) + 1);
  return [...counts.entries()]
    .map(([category, count]) => ({ category, label: reasonLabel(category), count }))
    .sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
}

export function byReason(list: DeadLetter[], category: string | null): DeadLetter[] {
  return category ? list.filter((d) => d.category === category) : list;
}

interface PropertyError {
  name?: string;
  message?: string;
  error?: string;
}

/** HubSpot's "Property values were not valid: [{…}]" as its parts. */
function propertyErrors(message: string): PropertyError[] {
  const at = message.indexOf("[");
  if (!message.startsWith("Property values were not valid") || at < 0) return [];
  try {
    const parsed = JSON.parse(message.slice(at));
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

/** HubSpot's message in plain words ("Email address x is invalid" rather than the JSON list). */
export function plainMessage(message: string): string {
  const parts = propertyErrors(message).map((p) => p.message).filter((m): m is string => !!m);
  return parts.length ? parts.join("; ") : message;
}

/** The properties HubSpot named as invalid (to open the right cell when fixing the row). */
export function badProperties(d: Pick<DeadLetter, "message" | "context">): string[] {
  const names = new Set<string>();
  for (const p of propertyErrors(d.message)) if (p.name) names.add(p.name);
  if (d.context) {
    try {
      const ctx = JSON.parse(d.context) as Record<string, unknown>;
      const props = ctx.propertyName ?? ctx.properties;
      if (Array.isArray(props)) for (const p of props) if (typeof p === "string") names.add(p);
    } catch {
      /* context is free-form */
    }
  }
  return [...names];
}

/** "in 4 min", "in 2 h", "now" */
export function retryIn(iso: string, now: number = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (!Number.isFinite(ms)) return "—";
  if (ms <= 0) return "on the next push";
  const mins = Math.round(ms / 60_000);
  if (mins < 1) return "in under a minute";
  if (mins < 90) return `in ${mins} min`;
  return `in ${Math.round(mins / 60)} h`;
}

/** Share of the push done, or null before the first batch. */
export function pushPercent(p: WriteProgress): number | null {
  if (!p.pending) return null;
  return Math.min(100, Math.round((100 * (p.written + p.rejected)) / p.pending));
}

/** One sentence for a finished push. */
export function pushHeadline(s: WriteSummary): string {
  if (s.pending === 0 && s.deferred === 0 && !s.archived) return "Nothing to send: every row matches HubSpot.";
  const parts = [];
  if (s.updated) parts.push(`${s.updated.toLocaleString()} updated`);
  if (s.created) parts.push(`${s.created.toLocaleString()} created`);
  if (s.archived) parts.push(`${s.archived.toLocaleString()} archived`);
  if (s.rejected) parts.push(`${s.rejected.toLocaleString()} refused`);
  const done = parts.length ? parts.join(", ") : "Nothing written";
  const waiting = s.deferred ? ` ${s.deferred} refused row${s.deferred === 1 ? "" : "s"} wait for their retry.` : "";
  return `${s.status === "cancelled" ? "Cancelled: " : ""}${done} in HubSpot.${waiting}`;
}
