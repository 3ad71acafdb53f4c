// The build lands in api/static, which the FastAPI app serves at / and /assets; it is committed
// so that installing emotrace needs no Node toolchain.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../api/static",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 700,
  },
  server: {
    // `npm run dev` against `emotrace serve` on port 8000 (embedded mode: no Postgres or Redis needed).
    proxy: { "/v1": "http://127.0.0.1:8000" },
  },
});
