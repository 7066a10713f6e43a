/** Pure helpers of the mapping's write-back options (two-way fields, conflict policies, deletes). */
import type { ConflictPolicy, Mapping, TwoWay } from "../lib/bindings";

export const POLICIES: { id: ConflictPolicy; label: string; help: string }[] = [
  { id: "newestWins", label: "Newest wins", help: "The later change wins (HubSpot's property history against the time of the local edit; ties go to HubSpot)." },
  { id: "hubSpotWins", label: "HubSpot wins", help: "HubSpot's value replaces the local edit." },
  { id: "localWins", label: "Local wins", help: "The local edit is written to HubSpot." },
  { id: "ask", label: "Ask me", help: "Nothing changes on either side; the conflict waits on the Data screen until you keep one side." },
];

export function policyLabel(p: ConflictPolicy): string {
  return POLICIES.find((x) => x.id === p)?.label ?? p;
}

/** The mapping's settings with the defaults filled in (files leave defaults out). */
export function twoWayOf(m: Pick<Mapping, "twoWay">): Required<TwoWay> {
  const t = m.twoWay ?? ({} as Partial<TwoWay>);
  return { conflictPolicy: t.conflictPolicy ?? "newestWins", fieldPolicies: { ...(t.fieldPolicies ?? {}) }, localDeletes: t.localDeletes ?? "ignore" };
}

/** HubSpot properties of fields that flow both ways (the ones conflicts can happen on). */
export function twoWayProperties(m: Pick<Mapping, "fields">): string[] {
  return m.fields.filter((f) => f.direction === "both" && f.property).map((f) => f.property as string);
}

/** Properties written to HubSpot (both ways or local → HubSpot only). */
export function writtenProperties(m: Pick<Mapping, "fields">): string[] {
  return m.fields.filter((f) => f.direction !== "toLocal" && f.property).map((f) => f.property as string);
}

/** Sets (or, with null or the default policy, clears) one field's override. Overrides of
 * fields that no longer flow both ways are dropped. */
export function withFieldPolicy(m: Pick<Mapping, "fields" | "twoWay">, property: string, policy: ConflictPolicy | null): TwoWay {
  const t = twoWayOf(m);
  const live = new Set(twoWayProperties(m));
  const fieldPolicies: Partial<Record<string, ConflictPolicy>> = {};
  for (const [k, v] of Object.entries(t.fieldPolicies)) if (live.has(k) && v) fieldPolicies[k] = v;
  if (policy === null || policy === t.conflictPolicy) delete fieldPolicies[property];
  else fieldPolicies[property] = policy;
  return { ...t, fieldPolicies };
}
