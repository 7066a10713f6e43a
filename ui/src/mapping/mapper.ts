// Pure logic of the two-sided mapper: property search and ranking, where a validation problem
// points to, direction cycling, and plain-words names of transform steps.
import type { Direction, PropertyDef, Transform } from "../lib/ipc";

/** A property with its search keys computed once per catalog (keeps keystrokes cheap with 2,000). */
export type Indexed = { p: PropertyDef; name: string; label: string; words: string[] };

export function indexProperties(props: PropertyDef[]): Indexed[] {
  return props.map((p) => {
    const label = p.label.toLowerCase();
    return { p, name: p.name.toLowerCase(), label, words: label.split(/[^a-z0-9]+/).filter(Boolean) };
  });
}

/** How well a property matches the query (higher is better; 0 = no match). */
export function score(x: Indexed, q: string): number {
  if (!q) return 1;
  if (x.name === q || x.label === q) return 100;
  if (x.name.startsWith(q)) return 80;
  if (x.label.startsWith(q)) return 70;
  if (x.words.some((w) => w.startsWith(q))) return 60;
  if (x.name.includes(q)) return 40;
  if (x.label.includes(q)) return 30;
  // every part of a multi-word query somewhere ("first name" finds firstname)
  const parts = q.split(/\s+/).filter(Boolean);
  if (parts.length > 1 && parts.every((s) => x.name.includes(s) || x.label.includes(s))) return 20;
  if (parts.length > 1 && x.name.includes(parts.join(""))) return 20;
  return 0;
}

export type Show = "all" | "mapped" | "unmapped";

export type FilterOptions = {
  query: string;
  show: Show;
  type: string; // "" = any
  isMapped: (name: string) => boolean;
  limit: number;
};

/** The properties to list: matching ones best first (mapped before unmapped on ties, then by
 * label), at most `limit`, and how many matched in all. Archived properties only when mapped. */
export function filterProperties(index: Indexed[], o: FilterOptions): { shown: PropertyDef[]; total: number } {
  const q = o.query.trim().toLowerCase();
  const hits: { x: Indexed; s: number; m: boolean }[] = [];
  for (const x of index) {
    const m = o.isMapped(x.p.name);
    if (o.show === "mapped" && !m) continue;
    if (o.show === "unmapped" && m) continue;
    if (!m && (x.p.archived || x.p.removed)) continue;
    if (o.type && x.p.type !== o.type) continue;
    const s = score(x, q);
    if (s > 0) hits.push({ x, s, m });
  }
  hits.sort((a, b) => b.s - a.s || Number(b.m) - Number(a.m) || a.x.label.localeCompare(b.x.label));
  return { shown: hits.slice(0, o.limit).map((h) => h.x.p), total: hits.length };
}

/** What a validation problem's path (`fields[2].inbound[0]`, `criteria[1].value`, `matchKey`,
 * `destination.table`) points at in the editor. */
export type IssueTarget =
  | { kind: "field"; index: number; transform: boolean }
  | { kind: "criterion"; index: number }
  | { kind: "matchKey" }
  | { kind: "destination" }
  | { kind: "name" }
  | { kind: "fields" }
  | { kind: "none" };

export function issueTarget(path: string): IssueTarget {
  const field = /^fields\[(\d+)\](?:\.(\w+))?/.exec(path);
  if (field) return { kind: "field", index: Number(field[1]), transform: field[2] === "inbound" || field[2] === "outbound" };
  const crit = /^criteria\[(\d+)\]/.exec(path);
  if (crit) return { kind: "criterion", index: Number(crit[1]) };
  if (path.startsWith("criteria")) return { kind: "criterion", index: 0 };
  if (path.startsWith("matchKey")) return { kind: "matchKey" };
  if (path.startsWith("destination")) return { kind: "destination" };
  if (path === "name") return { kind: "name" };
  if (path === "fields") return { kind: "fields" };
  return { kind: "none" };
}

export const DIRECTION_ORDER: Direction[] = ["toLocal", "both", "toHubSpot"];
export const DIRECTION_LABEL: Record<Direction, string> = {
  toLocal: "HubSpot → local", toHubSpot: "local → HubSpot", both: "both ways",
};
export const DIRECTION_ARROW: Record<Direction, string> = { toLocal: "→", toHubSpot: "←", both: "⇄" };

/** The next direction for the toggle; read-only properties only flow HubSpot → local. */
export function nextDirection(d: Direction, readOnly: boolean): Direction {
  if (readOnly) return "toLocal";
  return DIRECTION_ORDER[(DIRECTION_ORDER.indexOf(d) + 1) % DIRECTION_ORDER.length];
}

/** One step in plain words, for chips and the editor's list. */
export function describeStep(t: Transform): string {
  switch (t.op) {
    case "trim": return "trim spaces";
    case "case": return `${t.to === "title" ? "Title Case" : `${t.to} case`}`;
    case "parseNumber": return `number (decimal "${t.decimal ?? "."}"${t.thousands ? `, thousands "${t.thousands}"` : ""})`;
    case "formatNumber": return `format number${t.decimals != null ? `, ${t.decimals} decimals` : ""}`;
    case "parseDate": return `date from ${t.format}`;
    case "formatDate": return `date as ${t.format}`;
    case "parseDatetime": return `date-time${t.format ? ` from ${t.format}` : ""}${t.zone ? ` in ${t.zone}` : ""}`;
    case "formatDatetime": return `date-time as ${t.format ?? "RFC 3339"}${t.zone ? ` in ${t.zone}` : ""}`;
    case "valueMap": return `value map (${Object.keys(t.values).length})`;
    case "default": return `default "${t.value ?? ""}"`;
    case "constant": return `always "${t.value ?? ""}"`;
    case "concat": return `join ${t.fields.join(" + ")}`;
    case "split": return `split on "${t.separator}", part ${t.index + 1}${t.rest ? " and after" : ""}`;
  }
}

/** A new step of the given kind with sensible starting values. */
export function newStep(op: Transform["op"]): Transform {
  switch (op) {
    case "trim": return { op };
    case "case": return { op, to: "lower" };
    case "parseNumber": return { op, decimal: ".", thousands: null };
    case "formatNumber": return { op, decimals: 2, decimal: null };
    case "parseDate": return { op, format: "%d/%m/%Y" };
    case "formatDate": return { op, format: "%Y-%m-%d" };
    case "parseDatetime": return { op, format: null, zone: null };
    case "formatDatetime": return { op, format: null, zone: null };
    case "valueMap": return { op, values: {}, strict: false };
    case "default": return { op, value: "" };
    case "constant": return { op, value: "" };
    case "concat": return { op, fields: [], separator: " " };
    case "split": return { op, separator: " ", index: 0, rest: false };
  }
}

export const STEP_KINDS: { op: Transform["op"]; label: string }[] = [
  { op: "trim", label: "Trim spaces" }, { op: "case", label: "Letter case" },
  { op: "parseNumber", label: "Text → number" }, { op: "formatNumber", label: "Number → text" },
  { op: "parseDate", label: "Text → date" }, { op: "formatDate", label: "Date → text" },
  { op: "parseDatetime", label: "Text → date-time" }, { op: "formatDatetime", label: "Date-time → text" },
  { op: "default", label: "Default when empty" }, { op: "constant", label: "Constant" },
  { op: "concat", label: "Join fields" }, { op: "split", label: "Split" },
];

/** Which of a field's two step chains: `inbound` runs HubSpot → local, `outbound` local → HubSpot. */
export type ChainSide = "inbound" | "outbound";
export const CHAIN_LABEL: Record<ChainSide, string> = { inbound: "HubSpot → local", outbound: "local → HubSpot" };

/** The chains a field's direction runs (both for two-way fields, inbound first). */
export function chainSides(d: Direction): ChainSide[] {
  return d === "toLocal" ? ["inbound"] : d === "toHubSpot" ? ["outbound"] : ["inbound", "outbound"];
}

/** The side to keep editing after the direction changed: the current one while it still runs. */
export function keepSide(current: ChainSide, d: Direction): ChainSide {
  const sides = chainSides(d);
  return sides.includes(current) ? current : sides[0];
}

/** The local rows the write-back preview runs on: the typed "try a value" first (as the mapped
 * column's value), then up to `max` rows of the table. */
export function outboundSamples<R extends Record<string, unknown>>(
  rows: R[], column: string | null | undefined, tryValue: string, max = 5,
): { label: string; row: Record<string, unknown> }[] {
  const list: { label: string; row: Record<string, unknown> }[] = rows.slice(0, max).map((row, k) => ({ label: `row ${k + 1}`, row }));
  if (tryValue !== "" && column) list.unshift({ label: "your value", row: { [column]: tryValue } });
  return list;
}

/** The property picker's matches: the mapper's ranking over every property, best first. */
export function pickProperties(index: Indexed[], query: string, limit = 40): { shown: PropertyDef[]; total: number } {
  return filterProperties(index, { query, show: "all", type: "", isMapped: () => false, limit });
}

/** The highlighted option after a key press in a list of `count` options (-1 = none). Arrows
 * wrap; Home/End/PageUp/PageDown jump; any other key leaves it where it is. */
export function moveActive(active: number, key: string, count: number, page = 8): number {
  if (count <= 0) return -1;
  switch (key) {
    case "ArrowDown": return active < 0 || active >= count - 1 ? 0 : active + 1;
    case "ArrowUp": return active <= 0 ? count - 1 : active - 1;
    case "Home": return 0;
    case "End": return count - 1;
    case "PageDown": return Math.min(count - 1, Math.max(0, active) + page);
    case "PageUp": return Math.max(0, active - page);
    default: return Math.min(active, count - 1);
  }
}
