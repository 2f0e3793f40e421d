// Lint as the Effect packages do: eslint's and typescript-eslint's recommended rules, and
// @effect/eslint-plugin's dprint rule with the Effect repositories' formatting options. On top of
// that, the layers of src/ as import rules: protocol (no I/O) → connection → server / client →
// scenarios; nothing imports upward or into another folder's internal/, and only the platform
// adapters import @effect/platform (effect-wire/platform, an optional peer dependency).
import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript"
import { importX } from "eslint-plugin-import-x"
import { defineConfig } from "eslint/config"
import tseslint from "typescript-eslint"

/** An import rule: `patterns` (gitignore-style groups, or regexes) the files may not import. */
const restrict = (files, patterns) => ({
  files,
  rules: {
    "no-restricted-imports": ["error", { patterns }]
  }
})

const upward = (names, why) => ({
  group: names.flatMap((name) => [`**/${name}/*`, `../${name}/*`]),
  message: why
})

const foreignInternal = (own) => ({
  // `./internal/x.js` (own folder) and `../internal/x.js` (src/internal, shared below every
  // layer) are fine; `../<other>/internal/x.js` is another folder's private code.
  regex: `^(?:\\.\\./)+(?!internal/)(?!${own}/)[^./][^/]*/internal/`,
  message: "another folder's internal/ is private to it: use its public module"
})

const platformOnly = {
  group: ["@effect/platform", "@effect/platform/*"],
  message:
    "only the platform adapters (effect-wire/platform) import @effect/platform: it is an optional peer dependency"
}

/** The files that may import @effect/platform: the adapters behind effect-wire/platform. */
const adapters = [
  "src/connection/PlatformSocket.ts",
  "src/connection/internal/platformDuplex.ts",
  "src/server/PlatformSocketServer.ts"
]

/** A folder of src/: no import of the layers above it or of another folder's internal/. */
const layer = (own, above, extra = []) => {
  const patterns = [
    upward(above, `src/${own} imports no layer above it (${above.join(", ")})`),
    foreignInternal(own),
    ...extra
  ]
  return [
    restrict([`src/${own}/**/*.ts`], [...patterns, platformOnly]),
    restrict(adapters.filter((file) => file.startsWith(`src/${own}/`)), patterns)
  ].filter((config) => config.files.length > 0)
}

export default defineConfig(
  { ignores: ["**/dist", "**/node_modules", "docs", ".scratch", ".bench-out", "cli/bin"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  ...effectEslint.configs.dprint,
  {
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": importX.flatConfigs.typescript.settings["import-x/extensions"],
      "import-x/parsers": importX.flatConfigs.typescript.settings["import-x/parsers"],
      "import-x/resolver-next": [createTypeScriptImportResolver({ project: "tsconfig.json" })]
    },
    rules: {
      "import-x/first": "error",
      "import-x/newline-after-import": "error",
      "import-x/no-duplicates": "error",
      // Runtime cycles only: a type-only import is erased and orders nothing at load time.
      "import-x/no-cycle": "error",
      "no-fallthrough": "off",
      "no-irregular-whitespace": "off",
      "object-shorthand": "error",
      "prefer-rest-params": "off",
      "prefer-spread": "off",
      // `Effect.gen(function*() { return x })` is a handler shape users write; benches and tests
      // exercise it on purpose.
      "require-yield": "off",
      "no-restricted-syntax": ["error", {
        selector: "CallExpression[callee.property.name='push'] > SpreadElement.arguments",
        message: "Do not use spread arguments in Array.push"
      }],
      "@typescript-eslint/array-type": ["warn", { default: "generic", readonly: "generic" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }]
    }
  },
  restrict(["src/internal/**/*.ts"], [
    upward(["protocol", "connection", "server", "client", "scenarios"], "src/internal is below every layer"),
    platformOnly
  ]),
  ...layer("protocol", ["connection", "server", "client", "scenarios"], [
    { group: ["node:net", "node:tls", "node:fs"], message: "the protocol core does no I/O" }
  ]),
  ...layer("connection", ["server", "client", "scenarios"]),
  ...layer("server", ["client", "scenarios"]),
  ...layer("client", ["server", "scenarios"]),
  restrict(["src/index.ts"], [platformOnly]),
  restrict(["src/scenarios/**/*.ts"], [foreignInternal("scenarios")])
)
