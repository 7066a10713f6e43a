import { describe, expect, it } from "vitest";
import { nextRun, toForm, toSchedule } from "./schedule";

describe("schedule picker", () => {
  it("round-trips each kind through the form", () => {
    expect(toSchedule(toForm({ kind: "realtime" }))).toEqual({ kind: "realtime" });
    expect(toSchedule(toForm({ kind: "hourly", minute: 15 }))).toEqual({ kind: "hourly", minute: 15 });
    expect(toSchedule(toForm({ kind: "daily", hour: 7, minute: 5, utcOffsetMinutes: 60 }), 60)).toEqual({
      kind: "daily", hour: 7, minute: 5, utcOffsetMinutes: 60,
    });
    expect(toForm(null).kind).toBe("manual");
    expect(toForm({ kind: "daily", hour: 7, minute: 5, utcOffsetMinutes: 0 }).time).toBe("07:05");
  });

  it("keeps minutes and hours in range and records the local offset", () => {
    expect(toSchedule({ kind: "hourly", minute: 75, time: "" })).toEqual({ kind: "hourly", minute: 59 });
    expect(toSchedule({ kind: "daily", minute: 0, time: "25:99" }, -300)).toEqual({
      kind: "daily", hour: 23, minute: 59, utcOffsetMinutes: -300,
    });
  });

  it("says when the next run is", () => {
    const now = Date.UTC(2026, 10, 24, 10, 0, 0);
    expect(nextRun(null, now)).toBe("only when you start it");
    expect(nextRun(now + 10_000, now)).toMatch(/^now/);
    expect(nextRun(now + 4 * 60_000, now)).toMatch(/^in 4 min/);
    expect(nextRun(now + 5 * 3_600_000, now)).toMatch(/^in 5 h/);
  });
});
