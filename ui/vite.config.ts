import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// Tauri serves ui/dist from tauri://localhost; nothing is fetched from the network.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  build: { target: "safari15", outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: { port: 5173, strictPort: true },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
  },
  resolve: process.env.VITEST ? { conditions: ["browser"] } : undefined,
});
