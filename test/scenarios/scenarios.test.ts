import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import * as All from "../../src/scenarios/all.js"
import * as Chat from "../../src/scenarios/chat.js"
import * as ConcurrentRequests from "../../src/scenarios/concurrent-requests.js"
import * as Echo from "../../src/scenarios/echo.js"
import * as GracefulShutdown from "../../src/scenarios/graceful-shutdown.js"
import * as Wire from "../../src/scenarios/internal/wire.js"
import * as JsonRpc from "../../src/scenarios/json-rpc.js"
import * as Output from "../../src/scenarios/Output.js"
import * as Scalability from "../../src/scenarios/scalability.js"
import * as StreamApi from "../../src/scenarios/stream-api.js"
import * as ThreadsVsFibers from "../../src/scenarios/threads-vs-fibers.js"
import * as Timeouts from "../../src/scenarios/timeouts.js"
import * as RpcServer from "../../src/server/RpcServer.js"

/** Runs a program with a capturing output; returns its result and what it printed. */
const captured = <A, E>(program: Effect.Effect<A, E, Output.Output>) =>
  Effect.gen(function*() {
    const out = Output.capture()
    const result = yield* Effect.provideService(program, Output.Output, out)
    return { result, out }
  })

describe("scenarios", { timeout: 60_000 }, () => {
  it.live("echo: three messages come back as ECHO: <message>", () =>
    Effect.gen(function*() {
      const { out, result } = yield* captured(Echo.run())
      expect(result.received).toEqual(["ECHO: Hello async!", "ECHO: Effect networking", "ECHO: Goodbye"])
      expect(result.allCorrect).toBe(true)
      expect(Echo.scenario.verdict(result).ok).toBe(true)
      expect(out.text()).toContain(`got "ECHO: Goodbye"`)
      expect(out.text()).toContain("[server] received \"Hello async!\"")
    }))

  it.live("stream-api: readExactly / readLine / read on the server, half-close and read-to-EOF on the client", () =>
    Effect.gen(function*() {
      const { out, result } = yield* captured(StreamApi.run)
      expect(result).toMatchObject({
        readExactly: "HDR!",
        readLine: "A line of text\n",
        read: "Remaining data",
        complete: true
      })
      expect(result.response).toBe(StreamApi.RESPONSE_PARTS.join(""))
      expect(result.serverPeer.port).toBe(result.clientLocal.port)
      expect(result.serverLocal.host).toBe("127.0.0.1")
      expect(out.text()).toContain(`readExactly(4) → "HDR!"`)
    }))

  it.live("chat: welcome counts, every message broadcast to all three, joins and leaves, clean removal", () =>
    Effect.gen(function*() {
      const { out, result } = yield* captured(Chat.run)
      expect(result.messagesSent).toBe(6)
      expect(result.deliveries).toBe(18)
      expect(result.clients.map((c) => c.welcomeCount).sort()).toEqual([1, 2, 3])
      for (const c of result.clients) {
        expect(c.messagesSeen).toBe(6)
        // A client hears of the clients who joined after it.
        expect(c.joinsSeen).toBe(3 - c.welcomeCount)
        expect(c.lines.filter((l) => /^\[\d\d:\d\d:\d\d\] 127\.0\.0\.1:\d+: /.test(l))).toHaveLength(6)
      }
      expect(result.clients.map((c) => c.leavesSeen)).toEqual([0, 1, 2])
      // Every message each client sent reached every client, with the sender's address.
      const alice = result.clients[0]!
      for (const c of result.clients) {
        expect(c.lines).toContainEqual(expect.stringMatching(new RegExp(`${alice.id}: Hello!$`)))
      }
      const left = result.events.filter((e) => e._tag === "Left")
      expect(left.map((e) => e.online)).toEqual([2, 1, 0])
      expect(result.onlineAtEnd).toBe(0)
      expect(out.text()).toContain("0 remaining")
    }))

  it.live("concurrent-requests: concurrent calls are more than twice as fast as sequential ones", () =>
    Effect.gen(function*() {
      const { result } = yield* captured(ConcurrentRequests.run())
      expect(result.sequential.map((c) => c.endpoint)).toEqual(ConcurrentRequests.ENDPOINTS.map(([e]) => e))
      expect(result.concurrent.every((c) => c.status === "ok")).toBe(true)
      // Sequential is at least the sum of the delays (2 s); concurrent at least the longest (0.6 s).
      expect(result.sequentialMillis).toBeGreaterThanOrEqual(2000)
      expect(result.speedup).toBeGreaterThan(2)
    }))

  it.live("timeouts: the slow calls are interrupted (finalizers run) and fail with typed errors", () =>
    Effect.gen(function*() {
      const { out, result } = yield* captured(Timeouts.run)
      const byName = new Map(result.calls.map((c) => [c.name, c]))
      expect(Either.isRight(byName.get("Fast API")!.outcome)).toBe(true)
      expect(Either.isRight(byName.get("Medium API")!.outcome)).toBe(true)
      for (const name of ["Slow API", "Dead API"]) {
        const c = byName.get(name)!
        expect(c.interrupted).toBe(true)
        const error = Either.getLeft(c.outcome)
        expect(error._tag).toBe("Some")
        if (error._tag === "Some") {
          expect(error.value).toBeInstanceOf(Timeouts.CallTimedOut)
          expect(error.value).toMatchObject({ call: name, timeoutMillis: c.timeoutMillis, neededMillis: c.workMillis })
        }
      }
      expect(byName.get("Fast API")!.interrupted).toBe(false)
      expect(Either.isLeft(result.batch)).toBe(true)
      if (Either.isLeft(result.batch)) {
        expect(result.batch.left).toBeInstanceOf(Timeouts.BatchTimedOut)
        expect(result.batch.left.unfinished).toEqual(["C"])
      }
      expect(result.batchFinished).toEqual(["A", "B"])
      expect(result.batchInterrupted).toEqual(["C"])
      expect(out.text()).toContain("[C] interrupted: finalizer ran")
    }))

  it.live("json-rpc: the typed client sends the chapter's four requests and gets the chapter's answers", () =>
    Effect.gen(function*() {
      const { out, result } = yield* captured(JsonRpc.run)
      expect(result.exchanges.map((x) => x.method)).toEqual(["add", "greet", "echo", "unknown_method"])
      // On the wire, both ways: exactly the chapter's frames.
      expect(result.exchanges.map((x) => x.request)).toEqual(JsonRpc.REQUESTS)
      expect(result.exchanges.map((x) => x.response)).toEqual(JsonRpc.EXPECTED)
      // Typed: three results, and the unknown method read as a remote METHOD_NOT_FOUND error.
      expect(result.exchanges.map((x) => x.outcome)).toEqual([
        { _tag: "Success", value: 42 },
        { _tag: "Success", value: "Hello, Effect!" },
        { _tag: "Success", value: { data: [1, 2, 3], nested: { key: "value" } } },
        { _tag: "RemoteError", code: -32601, message: "Unknown method: unknown_method" }
      ])
      expect(JsonRpc.scenario.verdict(result)).toEqual({ ok: true, summary: "4/4 responses as expected" })
      const text = out.text()
      expect(text).toContain(`→ sent     {"id":4,"method":"unknown_method","params":{}}`)
      expect(text).toContain(`← received {"id":4,"result":{"error":"Unknown method: unknown_method"}}`)
      expect(text).toContain("unknown_method: remote error -32601 (method not found): Unknown method: unknown_method")
    }))

  it.live("json-rpc: the chapter's server answers bad frames, bad params, defaults and unknown methods", () =>
    Effect.gen(function*() {
      const dispatch = yield* RpcServer.dispatcher(JsonRpc.Chapter, JsonRpc.handlers, { format: ChapterRpc.format })
      const reply = (text: string) =>
        Effect.map(dispatch(text), (r) => (r === undefined ? undefined : JSON.parse(r) as unknown))
      expect(yield* reply("{nope")).toEqual({ id: null, error: { code: -32700, message: expect.any(String) } })
      expect(yield* reply(`{"id":7,"method":"add","params":{"a":"x"}}`)).toEqual({
        id: 7,
        error: { code: -32602, message: expect.any(String), data: expect.stringContaining("Expected number") }
      })
      expect(yield* reply(`{"id":8,"method":"add","params":{"a":5}}`)).toEqual({ id: 8, result: 5 })
      expect(yield* reply(`{"method":"greet"}`)).toEqual({ id: 0, result: "Hello, World!" })
      expect(yield* reply(`{"id":9,"method":"nope"}`)).toEqual({ id: 9, result: { error: "Unknown method: nope" } })
    }).pipe(Effect.scoped))

  it.live("json-rpc: serve's format answers each request in its own dialect (the chapter's or JSON-RPC 2.0)", () =>
    Effect.gen(function*() {
      const frames: Array<string> = []
      const dispatch = yield* RpcServer.dispatcher(JsonRpc.Chapter, JsonRpc.handlers, {
        format: JsonRpc.servedFormat({ onFrame: (t) => frames.push(t) })
      })
      const reply = (text: string) =>
        Effect.map(dispatch(text), (r) => (r === undefined ? undefined : JSON.parse(r) as unknown))
      expect(yield* reply(`{"jsonrpc":"2.0","id":"a","method":"greet","params":{}}`)).toEqual({
        jsonrpc: "2.0",
        id: "a",
        result: "Hello, World!"
      })
      expect(yield* reply(`{"jsonrpc":"2.0","id":2,"method":"greet"}`)).toEqual({
        jsonrpc: "2.0",
        id: 2,
        result: "Hello, World!"
      })
      expect(yield* reply(`{"jsonrpc":"2.0","id":2,"method":"nope"}`)).toEqual({
        jsonrpc: "2.0",
        id: 2,
        error: { code: -32601, message: "Unknown method: nope" }
      })
      expect(yield* reply(`{"id":2,"method":"nope"}`)).toEqual({ id: 2, result: { error: "Unknown method: nope" } })
      expect(yield* reply(`{"jsonrpc":"2.0","method":"add"}`)).toBeUndefined()
      expect(
        yield* reply(
          `[{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":2}},{"jsonrpc":"2.0","method":"add"}]`
        )
      )
        .toEqual([{ jsonrpc: "2.0", id: 1, result: 3 }])
      expect(yield* reply(`{"id":3,"method":"add","params":{"a":1,"b":2}}`)).toEqual({ id: 3, result: 3 })
      expect(frames).toHaveLength(7)
    }).pipe(Effect.scoped))

  it.live("scalability: 0 failures at N = 1,000, and the chart is written", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "effect-wire-"))
      const chart = join(dir, "chart.svg")
      const { out, result } = yield* captured(Scalability.run({ sizes: [10, 1_000], chart, budgetSeconds: 600 }))
      expect(result.rounds.map((r) => [r.clients, r.succeeded, r.failed])).toEqual([[10, 10, 0], [1_000, 1_000, 0]])
      expect(result.skipped).toEqual([])
      expect(existsSync(chart)).toBe(true)
      const svg = readFileSync(chart, "utf8")
      expect(svg).toMatch(/^<svg /)
      expect(svg).toContain("req/s")
      expect(out.events.some((e) => e._tag === "Progress" && e.done === 1_000 && e.total === 1_000)).toBe(true)
      expect(out.text()).toContain("ulimit -n")
    }))

  it.live("scalability: past its time budget it stops early, skips the larger N and says why", () =>
    Effect.gen(function*() {
      const { out, result } = yield* captured(Scalability.run({ sizes: [10, 50, 100], budgetSeconds: 0 }))
      expect(result.rounds.map((r) => [r.clients, r.succeeded, r.failed])).toEqual([[10, 10, 0]])
      expect(result.skipped).toEqual([50, 100])
      expect(out.text()).toMatch(
        /stopped early, skipped N = 50, 100: .*N = 50 would take ~[\d.]+ s .*0 s budget.*--budget/
      )
      expect(Scalability.DEFAULT_BUDGET_SECONDS).toBeGreaterThan(20)
    }))

  it.live("threads-vs-fibers: both servers answer every connection", () =>
    Effect.gen(function*() {
      const { out, result } = yield* captured(ThreadsVsFibers.run([10]))
      expect(result.runs.map((r) => [r.model, r.connections, r.succeeded])).toEqual([["threads", 10, 10], [
        "fibers",
        10,
        10
      ]])
      expect(result.runs.find((r) => r.model === "threads")!.peakThreads).toBeGreaterThan(1)
      expect(result.ratios).toHaveLength(1)
      expect(out.text()).toContain("thread per connection")
    }))

  it.live("graceful-shutdown: every in-flight request answered, later connects refused, stats at zero", () =>
    Effect.gen(function*() {
      const { out, result } = yield* captured(GracefulShutdown.run)
      expect(result.answered).toBe(15)
      result.answers.forEach((answers, c) =>
        expect(answers).toEqual([0, 1, 2].map((i) => `processed: client-${c} msg-${i}`))
      )
      expect(result.laterConnect).toBe("refused")
      expect(result.stats).toMatchObject({ accepted: 5, active: 0, frames: 15, errors: 0, openSockets: 0, fibers: 0 })
      expect(out.text()).toContain("15/15 requests in flight were answered")
    }))

  it.live("all: a failing scenario gets a failed verdict line, not a crash", () =>
    Effect.gen(function*() {
      const broken: All.AnyScenario = {
        name: "broken",
        title: "Broken",
        description: "fails",
        run: () => Effect.fail(new Error("boom\n    at somewhere"))
      }
      const { out, result } = yield* captured(All.runOne(broken))
      expect(result).toMatchObject({ name: "broken", ok: false, summary: "failed: boom" })
      yield* Effect.provideService(All.printSummary([result]), Output.Output, out)
      expect(out.text()).toContain("✘ broken  failed: boom")
      expect(out.text()).not.toContain("at somewhere")
    }))
})

describe("scenarios over TLS (the Wire of scenario --tls)", { timeout: 120_000 }, () => {
  // One certificate for the file, as `scenario all --tls` makes one for the run.
  let certificate: Wire.SelfSigned
  beforeAll(() => {
    certificate = Effect.runSync(Wire.selfSigned)
  })
  const overTls = <A, E>(program: Effect.Effect<A, E, Output.Output>) =>
    captured(Effect.provideService(program, Wire.Wire, Wire.tls(certificate)))

  it("the certificate is self-signed for localhost and 127.0.0.1, with its SHA-256 fingerprint", () => {
    expect(certificate.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1")
    expect(certificate.fingerprint256).toMatch(/^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/)
  })

  it.live("echo, stream-api, concurrent-requests, json-rpc, graceful-shutdown, scalability and threads-vs-fibers pass over TLS", () =>
    Effect.gen(function*() {
      // A client on the wrong wire cannot talk to a server on the other: each passing shows both ends on TLS.
      const echo = yield* overTls(Echo.run())
      expect(Echo.scenario.verdict(echo.result).ok).toBe(true)
      expect(echo.out.text()).toMatch(/\[client\] connected from 127\.0\.0\.1:\d+ over TLSv1\.[23] \(/)
      const streamApi = yield* overTls(StreamApi.run)
      expect(StreamApi.scenario.verdict(streamApi.result).ok).toBe(true)
      const concurrent = yield* overTls(ConcurrentRequests.run())
      expect(concurrent.result.concurrent.every((c) => c.status === "ok")).toBe(true)
      const jsonRpc = yield* overTls(JsonRpc.run)
      expect(JsonRpc.scenario.verdict(jsonRpc.result).ok).toBe(true)
      const shutdown = yield* overTls(GracefulShutdown.run)
      expect(shutdown.result).toMatchObject({ answered: 15, laterConnect: "refused" })
      expect(shutdown.result.stats).toMatchObject({ accepted: 5, active: 0, errors: 0 })
      const scalability = yield* overTls(Scalability.run({ sizes: [10, 50], budgetSeconds: 600 }))
      expect(scalability.result.rounds.map((r) => [r.clients, r.failed])).toEqual([[10, 0], [50, 0]])
      const threads = yield* overTls(ThreadsVsFibers.run([10]))
      expect(threads.result.runs.map((r) => [r.model, r.connections, r.succeeded])).toEqual([["threads", 10, 10], [
        "fibers",
        10,
        10
      ]])
    }))

  it.live("chat and timeouts pass over TLS (their clients leave by abort, which destroys a TLS socket)", () =>
    Effect.gen(function*() {
      const chat = yield* overTls(Chat.run)
      const timeouts = yield* overTls(Timeouts.run)
      expect([Chat.scenario.verdict(chat.result).ok, Timeouts.scenario.verdict(timeouts.result).ok]).toEqual([
        true,
        true
      ])
    }))
})

describe("Output", () => {
  it("aligns tables, numbers to the right, and colours only when asked", () => {
    const lines = Output.renderTable([{ header: "name" }, { header: "n" }], [["a", "1"], ["bbb", "100"]])
    expect(lines).toEqual(["  name    n", "  ────  ───", "  a       1", "  bbb   100"])
    expect(Output.render({ _tag: "Line", text: "x", tone: "ok" }, false)).toEqual(["x"])
    expect(Output.render({ _tag: "Line", text: "x", tone: "ok" }, true)[0]).toContain("\x1b[32m")
  })
})
