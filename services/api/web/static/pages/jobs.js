// Jobs: a filtered list, and one job with live progress (server-sent events), cancel, errors in full,
// warnings, and links to its parent, its children and what it made.
import { enc, events, get, send } from "../api.js";
import { add, fill, errorBox, etaText, h, json, link, progressBar, statusBadge, table, when } from "../ui.js";

const KINDS = ["translate", "translate_dataset", "translate_shard", "compose_dataset", "compose_shard", "train_translator", "ingest_dataset", "train_detector", "detect", "detect_shard", "evaluate", "experiment", "compare_evaluations", "robustness", "translation_quality", "audit_dataset"];
const STATES = ["queued", "running", "succeeded", "failed", "cancelled"];
const PAGE = 25;

export async function renderList(main, query) {
  const kind = query.get("kind") || "";
  const status = query.get("status") || "";
  const offset = Number(query.get("offset") || 0);
  const params = new URLSearchParams({ limit: PAGE, offset });
  if (kind) params.set("kind", kind);
  if (status) params.set("status", status);
  const page = await get(`/v1/jobs?${params}`);
  const select = (id, label, values, current) =>
    h("div", { class: "field" }, h("label", { for: id, text: label }), h("select", { id, name: id }, h("option", { value: "", text: "any" }), values.map((v) => h("option", { value: v, selected: v === current, text: v }))));
  const form = h("form", { class: "row filters", role: "search" }, select("kind", "Kind", KINDS, kind), select("status", "Status", STATES, status), h("button", { type: "submit", text: "Filter" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const n of ["kind", "status"]) if (form.elements[n].value) q.set(n, form.elements[n].value);
    location.hash = `#/jobs?${q}`;
  });
  const rows = page.items;
  const bars = new Map();
  const tbl = table(
    [
      { label: "Job", cell: (j) => link(`#/jobs/${j.id}`, j.id.slice(0, 8)) },
      { label: "Kind", key: "kind" },
      { label: "Status", cell: (j) => statusBadge(j.status) },
      { label: "Progress", cell: (j) => { const b = progressBar(j); const e = h("span", { class: "eta", text: etaText(j.eta_s) }); bars.set(j.id, [b, e]); return h("span", {}, b, " ", e); } },
      { label: "Message", cell: (j) => h("span", { class: "clip-text", title: j.error || j.message, text: j.error || j.message }) },
      { label: "Parent", cell: (j) => (j.parent_id ? link(`#/jobs/${j.parent_id}`, j.parent_id.slice(0, 8)) : "–") },
      { label: "Created", cell: (j) => when(j.created_at) },
    ],
    rows,
    `${page.total} jobs`,
  );
  const nav = pager(page, (o) => { params.set("offset", o); params.delete("limit"); return `#/jobs?${params}`; });
  fill(main, h("h1", { text: "Jobs" }), form, tbl, nav);
  // Unfinished jobs on this page follow their events.
  const controller = new AbortController();
  for (const j of rows.filter((r) => r.status === "queued" || r.status === "running")) {
    events(`/v1/jobs/${enc(j.id)}/events`, (_n, snap) => {
      const shown = bars.get(j.id);
      if (!shown) return;
      shown[0].value = snap.progress;
      shown[1].textContent = ["succeeded", "failed", "cancelled"].includes(snap.status) ? "" : etaText(snap.eta_s);
    }, controller.signal).catch(() => {});
  }
  return () => controller.abort();
}

export function pager(page, hrefFor) {
  const prev = page.offset > 0 ? link(hrefFor(Math.max(0, page.offset - page.limit)), "← previous") : null;
  const next = page.offset + page.limit < page.total ? link(hrefFor(page.offset + page.limit), "next →") : null;
  return h("nav", { class: "pager", "aria-label": "pages" }, prev, h("span", { text: ` ${page.total ? page.offset + 1 : 0}–${Math.min(page.total, page.offset + page.limit)} of ${page.total} ` }), next);
}

function madeLinks(result) {
  if (!result) return [];
  const out = [];
  if (result.dataset_id) out.push(link(`#/datasets/${result.dataset_id}`, "dataset"));
  if (result.model_id) out.push(link(`#/models/${result.model_id}`, "translator or detector model"));
  if (result.evaluation_id) out.push(link(`#/evaluations/${result.evaluation_id}`, "evaluation"));
  if (result.image_key && result.method) out.push(link(`#/translate`, "translate page"));
  return out;
}

export async function renderOne(main, id) {
  const job = await get(`/v1/jobs/${enc(id)}`);
  const bar = h("progress", { id: "job-progress", max: 1, value: job.progress, "aria-label": "job progress" });
  const pct = h("span", { id: "job-percent", text: `${Math.round(job.progress * 100)}%` });
  const eta = h("span", { id: "job-eta", text: etaText(job.eta_s) });
  const badge = h("span", { id: "job-status" }, statusBadge(job.status));
  const message = h("p", { id: "job-message", text: job.message || "" });
  const error = h("div", { id: "job-error" }, job.error ? h("pre", { class: "error", text: job.error }) : null);
  const warnings = h("div", { id: "job-warnings" });
  const showWarnings = (list) => warnings.replaceChildren(...(list && list.length ? [h("h2", { text: `Warnings (${list.length})` }), h("ul", {}, list.map((w) => h("li", { text: w })))] : []));
  showWarnings(job.warnings);
  const cancel = h("button", { type: "button", class: "danger", text: "Cancel job", disabled: ["succeeded", "failed", "cancelled"].includes(job.status) });
  const note = h("div", { role: "status", "aria-live": "polite" });
  cancel.addEventListener("click", async () => {
    try {
      await send("DELETE", `/v1/jobs/${enc(id)}`);
      note.replaceChildren(h("span", { text: "cancel requested" }));
    } catch (err) {
      note.replaceChildren(errorBox(err));
    }
  });
  const children = await get(`/v1/jobs?parent_id=${enc(id)}&limit=100`);
  const related = h("ul", {}, job.parent_id ? h("li", {}, "parent: ", link(`#/jobs/${job.parent_id}`, job.parent_id)) : null, madeLinks(job.result).map((a) => h("li", {}, a)));
  if (job.kind === "experiment") related.append(h("li", {}, link(`#/experiments/${job.id}`, "experiment table")));
  fill(main, 
    h("h1", { text: `Job ${job.id}` }),
    h("dl", { class: "facts" }, h("dt", { text: "Kind" }), h("dd", { text: job.kind }), h("dt", { text: "Status" }), h("dd", {}, badge), h("dt", { text: "Attempts" }), h("dd", { text: `${job.attempts} of ${job.max_attempts}` }), h("dt", { text: "Created" }), h("dd", { text: when(job.created_at) }), h("dt", { text: "Finished" }), h("dd", { id: "job-finished", text: when(job.finished_at) })),
    h("div", { class: "row" }, bar, pct, eta, cancel, note),
    message,
    error,
    warnings,
    related,
    children.total ? h("section", {}, h("h2", { text: `Children (${children.total})` }), table([{ label: "Job", cell: (j) => link(`#/jobs/${j.id}`, j.id.slice(0, 8)) }, { label: "Kind", key: "kind" }, { label: "Status", cell: (j) => statusBadge(j.status) }, { label: "Progress", cell: progressBar }], children.items)) : null,
    h("details", {}, h("summary", { text: "Parameters" }), json(job.params)),
    h("details", { open: !!job.result }, h("summary", { text: "Result" }), json(job.result)),
  );
  const controller = new AbortController();
  if (!["succeeded", "failed", "cancelled"].includes(job.status)) {
    events(`/v1/jobs/${enc(id)}/events`, (_name, snap) => {
      bar.value = snap.progress;
      pct.textContent = `${Math.round(snap.progress * 100)}%`;
      eta.textContent = ["succeeded", "failed", "cancelled"].includes(snap.status) ? "" : etaText(snap.eta_s);
      badge.replaceChildren(statusBadge(snap.status));
      message.textContent = snap.message || "";
      if (snap.error) error.replaceChildren(h("pre", { class: "error", text: snap.error }));
      showWarnings(snap.warnings);
      if (["succeeded", "failed", "cancelled"].includes(snap.status)) {
        cancel.disabled = true;
        get(`/v1/jobs/${enc(id)}`).then((full) => {
          related.replaceChildren(...madeLinks(full.result).map((a) => h("li", {}, a)));
          document.getElementById("job-finished").textContent = when(full.finished_at);
        }).catch(() => {});
      }
    }, controller.signal).catch((err) => { if (err.name !== "AbortError") note.replaceChildren(errorBox(err)); });
  }
  return () => controller.abort();
}
