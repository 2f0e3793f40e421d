#!/usr/bin/env node
// Launcher of the `effect-wire` command. The published effect-wire-cli package runs the compiled
// CLI in cli/dist; a clone without `npm run build -w cli` runs the TypeScript sources
// (src/scenarios/cli.ts) through tsx, a devDependency of the root package, so `npx effect-wire …`
// works right after `npm install`.
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const built = new URL("../dist/scenarios/cli.js", import.meta.url)
if (existsSync(fileURLToPath(built))) {
  await import(built.href)
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import(new URL("../../src/scenarios/cli.ts", import.meta.url).href)
}
