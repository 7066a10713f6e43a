/** Small display helpers shared by screens. */

export function relativeExpiry(expiresAt: number | null, now: number = Date.now() / 1000): string {
  if (expiresAt === null) return "does not expire";
  const secs = Math.round(expiresAt - now);
  if (secs <= 0) return "expired";
  if (secs < 90) return `expires in ${secs} s`;
  const mins = Math.round(secs / 60);
  if (mins < 90) return `expires in ${mins} min`;
  return `expires in ${Math.round(mins / 60)} h`;
}

export function methodLabel(method: string): string {
  return method === "oauth" ? "OAuth" : "Private-app token";
}
