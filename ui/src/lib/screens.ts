import type { Component } from "svelte";
import ConnectionsScreen from "../connections/ConnectionsScreen.svelte";
import MappingScreen from "../mapping/MappingScreen.svelte";
import TestScreen from "../test/TestScreen.svelte";
import SyncScreen from "../sync/SyncScreen.svelte";
import RunsScreen from "../runs/RunsScreen.svelte";
import DataScreen from "../data/DataScreen.svelte";

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
  {
    id: "mapping",
    label: "Mapping",
    icon: "M4 6h6M4 12h6M4 18h6M14 6h6M14 12h6M14 18h6M10 6l4 6M10 12l4 6",
    component: MappingScreen,
  },
  {
    id: "test",
    label: "Test",
    icon: "M9 12l2 2 4-4M12 3l7 3v6c0 4.5-3 7.7-7 9-4-1.3-7-4.5-7-9V6z",
    component: TestScreen,
  },
  {
    id: "sync",
    label: "Sync",
    icon: "M21 12a9 9 0 0 1-15.5 6.2M3 12A9 9 0 0 1 18.5 5.8M18 2v4h-4M6 22v-4h4",
    component: SyncScreen,
  },
  {
    id: "data",
    label: "Data",
    icon: "M4 5h16v14H4zM4 10h16M4 15h16M10 5v14",
    component: DataScreen,
  },
  {
    id: "runs",
    label: "Runs",
    icon: "M3 3v18h18M7 15l4-4 3 3 5-6",
    component: RunsScreen,
  },
];

export function screenById(id: string): Screen {
  return screens.find((s) => s.id === id) ?? screens[0];
}
