#!/usr/bin/env node
// Launcher of the `effect-wire` CLI. An installed package runs the compiled CLI in dist/; a
// checkout without a build runs the TypeScript sources through tsx (a devDependency), so
// `npx effect-wire …` works right after `npm install`.
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const built = new URL("../dist/src/scenarios/cli.js", import.meta.url)
if (existsSync(fileURLToPath(built))) {
  await import(built.href)
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import(new URL("../src/scenarios/cli.ts", import.meta.url).href)
}
