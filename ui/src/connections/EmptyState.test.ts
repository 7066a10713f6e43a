import { describe, expect, it, vi } from "vitest";
import { fireEvent, render } from "@testing-library/svelte";
import EmptyState from "./EmptyState.svelte";

describe("Connections empty state", () => {
  it("offers both first steps and calls the matching handler", async () => {
    const onconnect = vi.fn();
    const ondemo = vi.fn();
    const { getByRole } = render(EmptyState, { props: { onconnect, ondemo } });
    await fireEvent.click(getByRole("button", { name: "Connect a HubSpot portal" }));
    await fireEvent.click(getByRole("button", { name: "Try the demo portal" }));
    expect(onconnect).toHaveBeenCalledOnce();
    expect(ondemo).toHaveBeenCalledOnce();
  });
});
