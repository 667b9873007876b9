// DOM helpers and the small hand-written SVG charts the pages share.
const SVG = "http://www.w3.org/2000/svg";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

export function fmt(v, digits = 3) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  return String(v);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

export function errorBox(err) {
  return h("pre", { class: "error", role: "alert" }, err && err.message ? err.message : String(err));
}

export function table(columns, rows, caption) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", { text: caption }) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: c.label })))),
      h(
        "tbody",
        {},
        rows.length
          ? rows.map((r) => h("tr", {}, columns.map((c) => h("td", {}, c.cell ? c.cell(r) : fmt(r[c.key])))))
          : h("tr", {}, h("td", { colspan: columns.length, class: "muted", text: "nothing yet" })),
      ),
    ),
  );
}

export function link(href, text) {
  return h("a", { href, text });
}

export const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#808000", "#000075"];

// Horizontal bars: one row per label (readable however long the labels are).
export function barChart(title, counts) {
  const entries = Object.entries(counts || {});
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const row = 18;
  const width = 320;
  const labelW = 110;
  const svg = s("svg", { viewBox: `0 0 ${width} ${entries.length * row + 4}`, role: "img", class: "chart" });
  svg.append(s("title", {}, title));
  entries.forEach(([label, value], i) => {
    const y = i * row + 2;
    const w = ((width - labelW - 48) * value) / max;
    svg.append(
      s("text", { x: labelW - 4, y: y + 12, "text-anchor": "end", class: "axis" }, label.length > 16 ? label.slice(0, 15) + "…" : label),
      s("rect", { x: labelW, y: y + 2, width: Math.max(w, value ? 1 : 0), height: row - 5, class: "bar" }),
      s("text", { x: labelW + w + 4, y: y + 12, class: "axis" }, String(value)),
    );
  });
  return h("figure", { class: "chart-box" }, h("figcaption", { text: title }), entries.length ? svg : h("p", { class: "muted", text: "no data" }));
}

// Lines of several series over x (epochs or iterations); every numeric field but x becomes a series.
export function lineChart(title, points, xKey) {
  const keys = [...new Set(points.flatMap((p) => Object.keys(p).filter((k) => k !== xKey && typeof p[k] === "number")))];
  const W = 560, H = 220, L = 48, R = 130, T = 10, B = 28;
  const xs = points.map((p, i) => (typeof p[xKey] === "number" ? p[xKey] : i + 1));
  const ys = points.flatMap((p) => keys.map((k) => p[k]).filter((v) => typeof v === "number" && Number.isFinite(v)));
  if (!points.length || !ys.length) return h("figure", { class: "chart-box" }, h("figcaption", { text: title }), h("p", { class: "muted", text: "no data" }));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = axisRange(ys);
  // One epoch is one point: in the middle, not on the y axis.
  const X = (x) => (x1 === x0 ? (L + W - R) / 2 : L + ((x - x0) / (x1 - x0)) * (W - L - R));
  const Y = (y) => T + (1 - (y - y0) / (y1 - y0 || 1)) * (H - T - B);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart wide" });
  svg.append(s("title", {}, `${title}: ${keys.join(", ")} over ${xKey}`));
  svg.append(s("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis-line" }), s("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis-line" }));
  for (const v of [y0, (y0 + y1) / 2, y1]) svg.append(s("text", { x: L - 4, y: Y(v) + 4, "text-anchor": "end", class: "axis" }, fmt(v, 2)));
  for (const v of new Set([x0, x1])) svg.append(s("text", { x: X(v), y: H - B + 16, "text-anchor": "middle", class: "axis" }, String(v)));
  svg.append(s("text", { x: (L + W - R) / 2, y: H - 2, "text-anchor": "middle", class: "axis" }, xKey));
  keys.forEach((k, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const d = points
      .map((p, j) => (typeof p[k] === "number" ? `${j && typeof points[j - 1][k] === "number" ? "L" : "M"}${X(xs[j]).toFixed(1)},${Y(p[k]).toFixed(1)}` : ""))
      .join("");
    svg.append(s("path", { d, stroke: colour, fill: "none", "stroke-width": 2 }));
    points.forEach((p, j) => typeof p[k] === "number" && svg.append(s("circle", { cx: X(xs[j]), cy: Y(p[k]), r: 2.5, fill: colour })));
    svg.append(s("rect", { x: W - R + 10, y: T + i * 16, width: 10, height: 10, fill: colour }), s("text", { x: W - R + 24, y: T + i * 16 + 9, class: "axis" }, k));
  });
  return h("figure", { class: "chart-box" }, h("figcaption", { text: title }), svg);
}

// A rounded axis range that holds 0 and every value: [0, 1] for scores in it (mAP, precision), and a
// non-empty range when every value is 0 (an untrained detector), so ticks never read "0.00 0.00".
export function axisRange(vals) {
  let lo = Math.min(0, ...vals), hi = Math.max(0, ...vals);
  if (lo >= 0 && hi <= 1) return [0, 1];
  const nice = (v) => {
    if (v === 0) return 0;
    const step = 10 ** Math.floor(Math.log10(Math.abs(v)));
    const m = [1, 2, 2.5, 5, 10].find((k) => k * step >= Math.abs(v) - 1e-12);
    return Math.sign(v) * m * step;
  };
  lo = lo < 0 ? -nice(-lo) : 0;
  hi = hi > 0 ? nice(hi) : 0;
  if (lo < 0 && hi <= 0) hi = 0;
  return hi > lo ? [lo, hi] : [0, 1];
}

// Points with interval whiskers, one row per label: evaluation slices, experiment arms.
export function intervalChart(title, rows) {
  const W = 560, row = 22, L = 170, R = 60;
  const vals = rows.flatMap((r) => [r.value, r.low, r.high]).filter((v) => typeof v === "number" && Number.isFinite(v));
  const [lo, hi] = axisRange(vals);
  const X = (v) => L + ((v - lo) / (hi - lo || 1)) * (W - L - R);
  const H = rows.length * row + 26;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart wide" });
  svg.append(s("title", {}, title));
  rows.forEach((r, i) => {
    const y = i * row + 14;
    svg.append(s("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "axis" }, r.label.length > 26 ? r.label.slice(0, 25) + "…" : r.label));
    if (typeof r.low === "number" && typeof r.high === "number") svg.append(s("line", { x1: X(r.low), x2: X(r.high), y1: y, y2: y, class: "whisker" }));
    if (typeof r.value === "number") svg.append(s("circle", { cx: X(r.value), cy: y, r: 4, class: "dot" }), s("text", { x: W - R + 6, y: y + 4, class: "axis" }, fmt(r.value)));
  });
  const y = rows.length * row + 8;
  svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, class: "axis-line" }));
  for (const v of [lo, (lo + hi) / 2, hi]) svg.append(s("text", { x: X(v), y: y + 14, "text-anchor": "middle", class: "axis" }, fmt(v, 2)));
  if (lo < 0) svg.append(s("line", { x1: X(0), x2: X(0), y1: 4, y2: y, class: "zero" }));
  return h("figure", { class: "chart-box" }, h("figcaption", { text: title }), svg);
}

export function progressBar(job) {
  return h("progress", { max: 1, value: job.progress ?? 0, "aria-label": `progress of job ${job.id}` });
}

// A job's `eta_s` (seconds left, from the rate of its countable work) as words; "" when it has none.
export function etaText(etaS) {
  if (etaS === null || etaS === undefined || !Number.isFinite(etaS)) return "";
  if (etaS < 60) return `about ${Math.max(1, Math.round(etaS))} s left`;
  if (etaS < 3600) return `about ${Math.round(etaS / 60)} min left`;
  const hours = Math.floor(etaS / 3600);
  return `about ${hours} h ${Math.round((etaS - hours * 3600) / 60)} min left`;
}

export function statusBadge(status) {
  return h("span", { class: `badge ${status}`, text: status });
}

// An image with its boxes drawn over it: colour per class, occluded boxes dashed and marked "occ".
// `labels` is GET …/labels; the SVG's viewBox is the stored image's size, so boxes scale with the image.
export function labelledImage(srcPromise, labels, { alt = "", boxes = true } = {}) {
  const img = h("img", { alt: alt || `image ${labels.image_id}` });
  srcPromise.then((url) => (img.src = url)).catch(() => img.replaceWith(h("div", { class: "noimg", text: "no pixels" })));
  const { width, height } = labels.metadata;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "boxes", "aria-hidden": "true" });
  if (boxes) {
    for (const b of labels.boxes) {
      const colour = PALETTE[b.class_id % PALETTE.length];
      const rect = s("rect", { x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1, stroke: colour, fill: "none", "vector-effect": "non-scaling-stroke", "stroke-width": 2, class: b.occluded ? "occluded" : "" });
      rect.append(s("title", {}, `${b.class_name}${b.occluded ? " (occluded)" : ""}`));
      svg.append(rect);
      if (b.occluded) svg.append(s("text", { x: b.x1 + 2, y: b.y1 + Math.max(10, height / 30), fill: colour, "font-size": Math.max(10, height / 30), class: "occ" }, "occ"));
    }
  }
  return h("div", { class: "labelled", "data-boxes": String(boxes ? labels.boxes.length : 0) }, img, svg);
}

export function legend(classNames) {
  return h(
    "ul",
    { class: "legend", "aria-label": "box colours" },
    classNames.map((n, i) => h("li", {}, h("span", { class: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` }), n)),
    h("li", {}, h("span", { class: "swatch dashed" }), "occluded"),
  );
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

// replaceChildren / append that skip null, undefined and false (optional parts of a page).
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export function add(el, ...children) {
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}
