import { describe, expect, it } from "vitest";
import { CommandError, toIpcError, unwrap } from "./ipc";

describe("unwrap", () => {
  it("returns the data of an ok result", () => {
    expect(unwrap({ status: "ok", data: 42 })).toBe(42);
  });

  it("throws a CommandError carrying code, message and hint", () => {
    const err = { code: "connect.keychain_unavailable", message: "no keychain", hint: "unlock it" };
    try {
      unwrap({ status: "error", error: err });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CommandError);
      expect(toIpcError(e)).toEqual(err);
    }
  });
});

describe("toIpcError", () => {
  it("keeps a raw {code, message} object from the backend", () => {
    expect(toIpcError({ code: "a.b", message: "m" })).toEqual({ code: "a.b", message: "m", hint: null });
  });

  it("wraps anything else as ui.unexpected", () => {
    expect(toIpcError(new Error("boom"))).toEqual({ code: "ui.unexpected", message: "boom", hint: null });
  });
});
