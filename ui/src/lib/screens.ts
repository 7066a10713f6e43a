import type { Component } from "svelte";
import ConnectionsScreen from "../connections/ConnectionsScreen.svelte";

/** One entry per screen that exists. The navigation is built from this list, so a screen
 * appears in the app exactly when it is implemented. */
export interface Screen {
  id: string;
  label: string;
  /** SVG path data (24×24 viewBox) for the navigation icon. */
  icon: string;
  component: Component;
}

export const screens: Screen[] = [
  {
    id: "connections",
    label: "Connections",
    icon: "M10 13a5 5 0 0 0 7.07 0l3-3a5 5 0 0 0-7.07-7.07l-1.5 1.5M14 11a5 5 0 0 0-7.07 0l-3 3a5 5 0 0 0 7.07 7.07l1.5-1.5",
    component: ConnectionsScreen,
  },
];

export function screenById(id: string): Screen {
  return screens.find((s) => s.id === id) ?? screens[0];
}
