/**
 * A small hand-written SVG line chart with two y axes (left and right) over a log-scale x axis,
 * for `scalability --chart FILE.svg`.
 */

export interface Series {
  readonly label: string
  readonly color: string
  readonly unit: string
  readonly values: ReadonlyArray<number>
}

export interface ChartSpec {
  readonly title: string
  readonly xLabel: string
  readonly xs: ReadonlyArray<number>
  readonly left: Series
  readonly right: Series
}

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const niceMax = (v: number): number => {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

const fmt = (v: number): string =>
  v >= 10_000 ? `${Math.round(v / 1000)}k` : v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10)

/** Renders the chart as a standalone SVG document. */
export const renderChart = (spec: ChartSpec): string => {
  const W = 720
  const H = 420
  const m = { top: 50, right: 80, bottom: 60, left: 80 }
  const w = W - m.left - m.right
  const h = H - m.top - m.bottom
  const lx = spec.xs.map((x) => Math.log10(Math.max(1, x)))
  const x0 = Math.min(...lx)
  const x1 = Math.max(...lx)
  const xAt = (i: number) => m.left + (x1 === x0 ? w / 2 : ((lx[i]! - x0) / (x1 - x0)) * w)
  const axis = (s: Series) => niceMax(Math.max(...s.values, 0))
  const yAt = (v: number, max: number) => m.top + h - (v / max) * h
  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`
  )
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">${escape(spec.title)}</text>`)
  const leftMax = axis(spec.left)
  const rightMax = axis(spec.right)
  for (let t = 0; t <= 4; t++) {
    const y = m.top + h - (t / 4) * h
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + w}" y2="${y}" stroke="#ddd"/>`)
    out.push(
      `<text x="${m.left - 8}" y="${y + 4}" text-anchor="end" fill="${spec.left.color}">${
        fmt((leftMax * t) / 4)
      }</text>`
    )
    out.push(`<text x="${m.left + w + 8}" y="${y + 4}" fill="${spec.right.color}">${fmt((rightMax * t) / 4)}</text>`)
  }
  spec.xs.forEach((x, i) => {
    out.push(`<line x1="${xAt(i)}" y1="${m.top + h}" x2="${xAt(i)}" y2="${m.top + h + 5}" stroke="#333"/>`)
    out.push(`<text x="${xAt(i)}" y="${m.top + h + 20}" text-anchor="middle">${x.toLocaleString("en-US")}</text>`)
  })
  out.push(`<line x1="${m.left}" y1="${m.top + h}" x2="${m.left + w}" y2="${m.top + h}" stroke="#333"/>`)
  out.push(`<text x="${m.left + w / 2}" y="${H - 16}" text-anchor="middle">${escape(spec.xLabel)}</text>`)
  const line = (s: Series, max: number) => {
    const pts = s.values.map((v, i) => `${xAt(i).toFixed(1)},${yAt(v, max).toFixed(1)}`)
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(" ")}"/>`)
    s.values.forEach((v, i) =>
      out.push(`<circle cx="${xAt(i).toFixed(1)}" cy="${yAt(v, max).toFixed(1)}" r="3" fill="${s.color}"/>`)
    )
  }
  line(spec.left, leftMax)
  line(spec.right, rightMax)
  out.push(
    `<text x="20" y="${m.top + h / 2}" transform="rotate(-90 20 ${
      m.top + h / 2
    })" text-anchor="middle" fill="${spec.left.color}">${escape(`${spec.left.label} (${spec.left.unit})`)}</text>`
  )
  out.push(
    `<text x="${W - 20}" y="${m.top + h / 2}" transform="rotate(90 ${W - 20} ${
      m.top + h / 2
    })" text-anchor="middle" fill="${spec.right.color}">${escape(`${spec.right.label} (${spec.right.unit})`)}</text>`
  )
  out.push(`</svg>`)
  return out.join("\n") + "\n"
}
