// Translator models, detectors, evaluations (with a comparison of two) and experiments.
import { blobUrl, enc, encPath, get, send } from "../api.js";
import { add, fill, errorBox, fmt, h, intervalChart, json, labelledImage, lineChart, link, table, when } from "../ui.js";
import { pager } from "./jobs.js";

function flat(record) {
  const out = {};
  for (const [k, v] of Object.entries(record || {})) {
    if (v && typeof v === "object" && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v)) out[`${k}.${k2}`] = v2;
    else out[k] = v;
  }
  return out;
}

function withoutNulls(record) {
  return Object.fromEntries(Object.entries(record || {}).filter(([, v]) => v !== null && v !== undefined));
}

function image(path, alt) {
  const img = h("img", { alt });
  blobUrl(path).then((u) => (img.src = u)).catch(() => img.replaceWith(h("span", { class: "muted", text: "image unavailable" })));
  return img;
}

export async function renderModels(main) {
  const models = await get("/v1/translator-models");
  fill(main, 
    h("h1", { text: "Translator models" }),
    table(
      [
        { label: "Name", cell: (m) => link(`#/models/${m.id}`, m.name) },
        { label: "Method", key: "method" },
        { label: "Weather", key: "weather" },
        { label: "Epochs", cell: (m) => fmt((m.metrics.epochs || m.metrics.history || []).length) },
        { label: "Job", cell: (m) => (m.job_id ? link(`#/jobs/${m.job_id}`, m.job_id.slice(0, 8)) : "imported") },
      ],
      models,
    ),
  );
}

export async function renderModel(main, id) {
  const m = await get(`/v1/translator-models/${enc(id)}`);
  const epochs = (m.metrics.epochs || []).map(flat);
  const history = (m.metrics.history || []).map(flat);
  const perEpoch = epochs.length && m.samples.length % epochs.length === 0 ? m.samples.length / epochs.length : 0;
  const samples = perEpoch
    ? epochs.map((e, i) => h("figure", { class: "sample-row" }, h("figcaption", { text: `epoch ${e.epoch}` }), m.samples.slice(i * perEpoch, (i + 1) * perEpoch).map((p, j) => image(p, `epoch ${e.epoch} sample ${j + 1}`))))
    : m.samples.map((p, j) => image(p, `sample ${j + 1}`));
  fill(main, 
    h("p", {}, link("#/models", "← translator models")),
    h("h1", { text: m.name }),
    h("p", { class: "muted", text: `${m.method} · ${m.weather} · id ${m.id}` }),
    epochs.length ? lineChart("Training losses per epoch", epochs, "epoch") : null,
    history.length ? lineChart("Training losses", history, "iteration") : null,
    h("section", {}, h("h2", { text: "Samples" }), m.samples.length ? h("div", { class: "samples" }, samples) : h("p", { class: "muted", text: "no samples" })),
    h("div", { class: "two" }, h("section", {}, h("h2", { text: "Options" }), json(m.options)), h("section", {}, h("h2", { text: "Domains" }), json({ a: withoutNulls(m.domain_a), b: withoutNulls(m.domain_b) }))),
  );
}

export async function renderDetectors(main) {
  const models = await get("/v1/detector-models");
  fill(main, 
    h("h1", { text: "Detectors" }),
    table(
      [
        { label: "Name", cell: (m) => link(`#/detectors/${m.id}`, m.name) },
        { label: "Architecture", key: "architecture" },
        { label: "Origin", key: "origin" },
        { label: "Image size", key: "imgsz" },
        { label: "Trained on", cell: (m) => (m.dataset_id ? link(`#/datasets/${m.dataset_id}`, m.dataset_id.slice(0, 8)) : "–") },
      ],
      models,
    ),
  );
}

// What one epoch of GET /v1/detector-models/{id} `metrics.epochs` holds: `losses` and `val_losses`
// ({box_loss, cls_loss, dfl_loss}), the validation scores below, and lr/seconds/fitness (not charted).
const DETECTOR_SCORES = ["precision", "recall", "map50", "map50_95"];

export function detectorLosses(e) {
  const out = { epoch: e.epoch };
  for (const [group, prefix] of [["losses", "train"], ["val_losses", "val"]])
    for (const [k, v] of Object.entries(e[group] || {})) out[`${prefix} ${k.replace(/_loss$/, "")}`] = v;
  return out;
}

export async function renderDetector(main, id) {
  const m = await get(`/v1/detector-models/${enc(id)}`);
  const epochs = m.metrics.epochs || [];
  const scores = epochs.map((e) => Object.fromEntries(["epoch", ...DETECTOR_SCORES].map((k) => [k, e[k]])));
  fill(main, 
    h("p", {}, link("#/detectors", "← detectors")),
    h("h1", { text: m.name }),
    h("p", { class: "muted", text: `${m.architecture} · ${m.origin}${m.options.initial_weights ? ` from ${m.options.initial_weights}` : ""} · imgsz ${m.imgsz} · classes ${m.class_names.join(", ")}` }),
    epochs.length
      ? h("div", { class: "halves" }, lineChart("Losses per epoch (training and validation)", epochs.map(detectorLosses), "epoch"), lineChart("Validation scores per epoch", scores, "epoch"))
      : h("p", { class: "muted", text: "no training history (an uploaded detector)" }),
    h("section", {}, h("h2", { text: "Final metrics" }), json(m.metrics.final ?? {})),
    h("section", {}, h("h2", { text: "Options" }), json(m.options)),
  );
}

// "low – high", or "–" where an interval is missing (n_boot 0, a single seed).
export function interval(low, high) {
  return typeof low === "number" && typeof high === "number" ? `${fmt(low)} – ${fmt(high)}` : "–";
}

// What was evaluated: the detector (linked) or the prediction files.
function scored(ev) {
  return ev.detector_model_id ? link(`#/detectors/${ev.detector_model_id}`, `detector ${ev.detector_model_id.slice(0, 8)}`) : `predictions ${ev.predictions_uri || "–"}`;
}

const EVAL_COLUMNS = [
  { label: "Slice", key: "slice" },
  { label: "Class", key: "class" },
  { label: "AP50", key: "ap50" },
  { label: "95% interval", cell: (r) => interval(r.ap50_low, r.ap50_high) },
  { label: "AP50-95", key: "ap50_95" },
  { label: "Precision", key: "precision" },
  { label: "Recall", key: "recall" },
  { label: "Images", key: "images" },
  { label: "Instances", key: "instances" },
];

export async function renderEvaluations(main, query) {
  const offset = Number(query.get("offset") || 0);
  const page = await get(`/v1/evaluations?limit=25&offset=${offset}`);
  const option = (e, selected) => h("option", { value: e.id, selected, text: `${e.id.slice(0, 8)} · ${e.detector_model_id ? `detector ${e.detector_model_id.slice(0, 8)}` : "prediction files"} · mAP50 ${fmt(e.ap50)}` });
  const a = h("select", { id: "cmp-a" }, page.items.map((e) => option(e, false)));
  const b = h("select", { id: "cmp-b" }, page.items.map((e, i) => option(e, i === 1)));
  const form = h("form", { class: "row card" }, h("div", { class: "field" }, h("label", { for: "cmp-a", text: "Reference (a)" }), a), h("div", { class: "field" }, h("label", { for: "cmp-b", text: "Compared (b)" }), b), h("button", { type: "submit", text: "Compare" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/evaluations/compare?a=${enc(a.value)}&b=${enc(b.value)}`;
  });
  fill(main, 
    h("h1", { text: "Evaluations" }),
    table(
      [
        { label: "Evaluation", cell: (e) => link(`#/evaluations/${e.id}`, e.id.slice(0, 8)) },
        { label: "Dataset", cell: (e) => link(`#/datasets/${e.dataset_id}`, e.dataset_id.slice(0, 8)) },
        { label: "Detector", cell: (e) => (e.detector_model_id ? link(`#/detectors/${e.detector_model_id}`, e.detector_model_id.slice(0, 8)) : e.predictions_uri || "–") },
        { label: "mAP50 (all)", key: "ap50" },
        { label: "95% interval", cell: (e) => interval(e.ap50_low, e.ap50_high) },
        { label: "Created", cell: (e) => when(e.created_at) },
      ],
      page.items,
      `${page.total} evaluations`,
    ),
    pager(page, (o) => `#/evaluations?offset=${o}`),
    page.items.length > 1 ? h("section", {}, h("h2", { text: "Compare two evaluations" }), form) : null,
  );
}

export async function renderEvaluation(main, id) {
  const ev = await get(`/v1/evaluations/${enc(id)}`);
  const overall = ev.rows.filter((r) => r.class === "all");
  fill(main, 
    h("p", {}, link("#/evaluations", "← evaluations")),
    h("h1", { text: `Evaluation ${ev.id.slice(0, 8)}` }),
    h("p", {}, "dataset ", link(`#/datasets/${ev.dataset_id}`, ev.dataset_id.slice(0, 8)), " · ", scored(ev), ev.job_id ? [" · ", link(`#/jobs/${ev.job_id}`, "job")] : null),
    intervalChart("mAP50 per slice (all classes), with 95% bootstrap intervals", overall.map((r) => ({ label: r.slice, value: r.ap50, low: r.ap50_low, high: r.ap50_high }))),
    table(EVAL_COLUMNS, ev.rows, "Per slice and class"),
    h("figure", {}, h("figcaption", { text: "Plot from the evaluator" }), image(ev.plot, "evaluation plot")),
    h("details", {}, h("summary", { text: "Settings" }), json(ev.settings)),
  );
}

export async function renderComparison(main, query) {
  const a = query.get("a");
  const b = query.get("b");
  const status = h("div", { role: "status", "aria-live": "polite" });
  fill(main, h("p", {}, link("#/evaluations", "← evaluations")), h("h1", { text: `Comparison ${a?.slice(0, 8)} → ${b?.slice(0, 8)}` }), status);
  let cmp;
  try {
    cmp = await get(`/v1/evaluations/compare?a=${enc(a)}&b=${enc(b)}`);
  } catch (err) {
    const run = h("button", { type: "button", text: "Run the comparison (a job)" });
    run.addEventListener("click", async () => {
      try {
        const job = await send("POST", "/v1/evaluations/compare", { a, b });
        status.replaceChildren(h("span", {}, "started ", link(`#/jobs/${job.id}`, `job ${job.id.slice(0, 8)}`), "; come back when it succeeds"));
      } catch (e) {
        status.replaceChildren(errorBox(e));
      }
    });
    status.replaceChildren(errorBox(err), run);
    return;
  }
  const [ea, eb] = await Promise.all([get(`/v1/evaluations/${enc(a)}`), get(`/v1/evaluations/${enc(b)}`)]);
  const side = (ev) => Object.fromEntries(ev.rows.filter((r) => r.class === "all").map((r) => [r.slice, r]));
  const sa = side(ea), sb = side(eb);
  add(main, 
    h("ul", { class: "plain" }, h("li", {}, "a: ", link(`#/evaluations/${ea.id}`, `evaluation ${ea.id.slice(0, 8)}`), " · ", scored(ea)), h("li", {}, "b: ", link(`#/evaluations/${eb.id}`, `evaluation ${eb.id.slice(0, 8)}`), " · ", scored(eb)), h("li", { class: "muted", text: `paired bootstrap over the same images: ${cmp.n_boot} resamples, seed ${cmp.seed}` })),
    intervalChart("mAP50(b) − mAP50(a) per slice, paired bootstrap 95% interval", cmp.rows.map((r) => ({ label: r.slice, value: r.diff, low: r.diff_low, high: r.diff_high }))),
    table(
      [
        { label: "Slice", key: "slice" },
        { label: "mAP50 a", cell: (r) => fmt(r.map50_a ?? sa[r.slice]?.ap50) },
        { label: "mAP50 b", cell: (r) => fmt(r.map50_b ?? sb[r.slice]?.ap50) },
        { label: "b − a", key: "diff" },
        { label: "95% interval", cell: (r) => interval(r.diff_low, r.diff_high) },
      ],
      cmp.rows,
    ),
  );
}

export async function renderExperiments(main, query) {
  const offset = Number(query.get("offset") || 0);
  const page = await get(`/v1/experiments?limit=25&offset=${offset}`);
  fill(main, 
    h("h1", { text: "Experiments" }),
    table(
      [
        { label: "Name", cell: (e) => link(`#/experiments/${e.id}`, e.name) },
        { label: "Status", key: "status" },
        { label: "Arms", cell: (e) => e.arms.join(", ") },
        { label: "Seeds", cell: (e) => e.seeds.join(", ") },
        { label: "Created", cell: (e) => when(e.created_at) },
      ],
      page.items,
      `${page.total} experiments`,
    ),
    pager(page, (o) => `#/experiments?offset=${o}`),
  );
}

export async function renderExperiment(main, id) {
  const exp = await get(`/v1/experiments/${enc(id)}`);
  const rows = exp.table?.rows || [];
  // With one seed there is no seeds' interval: the chart shows the image bootstrap interval instead.
  const seedCi = rows.some((r) => typeof r.seed_ci_low === "number");
  const runs = exp.runs || [];
  fill(main, 
    h("p", {}, link("#/experiments", "← experiments")),
    h("h1", { text: exp.name }),
    h("p", {}, `${exp.status} · `, link(`#/experiments/${exp.id}/report`, "report"), " · ", link(`#/jobs/${exp.id}`, "job and its children"), ` · evaluated on `, link(`#/datasets/${exp.eval_dataset_id}`, exp.eval_dataset_id.slice(0, 8))),
    exp.error ? h("pre", { class: "error", text: exp.error }) : null,
    rows.length
      ? [
          intervalChart(
            seedCi ? "mAP50 mean over seeds, with the seeds' 95% interval" : "mAP50 (one seed), with the images' 95% bootstrap interval",
            rows.map((r) => ({ label: `${r.arm} · ${r.slice}`, value: r.mean, low: seedCi ? r.seed_ci_low : r.ci_low, high: seedCi ? r.seed_ci_high : r.ci_high })),
          ),
          table(
            [
              { label: "Arm", key: "arm" },
              { label: "Slice", key: "slice" },
              { label: "Mean ± std", cell: (r) => `${fmt(r.mean)} ± ${fmt(r.std)}` },
              { label: "Seeds' 95% interval", cell: (r) => (typeof r.seed_ci_low === "number" ? interval(r.seed_ci_low, r.seed_ci_high) : "– (needs 2+ seeds)") },
              { label: "Bootstrap interval", cell: (r) => interval(r.ci_low, r.ci_high) },
              { label: `Difference to ${exp.table.arms[0]}`, cell: (r) => (r.diff === undefined ? "reference" : `${fmt(r.diff)} (seeds ${interval(r.diff_seed_low, r.diff_seed_high)}; images ${interval(r.diff_low, r.diff_high)})`) },
            ],
            rows,
          ),
          h("p", { class: "muted", text: exp.table.note || "" }),
          h("figure", {}, h("figcaption", { text: "Plot from the evaluator" }), image(exp.plot, "experiment plot")),
        ]
      : h("p", { class: "muted", text: `no table yet (${exp.status}${exp.message ? `: ${exp.message}` : ""})` }),
    runs.length
      ? table(
          [
            { label: "Arm", key: "arm" },
            { label: "Seed", key: "seed" },
            { label: "Detector", cell: (r) => (r.train_job ? link(r.train_status === "succeeded" ? `#/detectors/${r.train_job}` : `#/jobs/${r.train_job}`, r.train_job.slice(0, 8)) : "–") },
            { label: "Training", cell: (r) => fmt(r.train_status) },
            { label: "Evaluation", cell: (r) => (r.evaluation_id ? link(`#/evaluations/${r.evaluation_id}`, r.evaluation_id.slice(0, 8)) : r.eval_job ? link(`#/jobs/${r.eval_job}`, r.eval_job.slice(0, 8)) : "–") },
            { label: "Evaluation status", cell: (r) => fmt(r.eval_status) },
          ],
          runs,
          "Runs (arm × seed)",
        )
      : null,
    h("details", {}, h("summary", { text: "Arms and settings" }), json({ arms: exp.arms, seeds: exp.seeds, settings: exp.settings })),
  );
}

// A difference counts as significant only when both its seeds' and its images' intervals exclude 0.
function verdict(r) {
  const seed = [r.diff_seed_low, r.diff_seed_high];
  const img = [r.diff_low, r.diff_high];
  if ([...seed, ...img].some((v) => typeof v !== "number")) return "no test (needs 2+ seeds)";
  return (seed[0] > 0 && img[0] > 0) || (seed[1] < 0 && img[1] < 0) ? "significant" : "no significant difference";
}

// Submission to finish: an orchestrating job waits (queued) for its children, so its started_at is late.
function minutes(job) {
  if (!job || !job.created_at || !job.finished_at) return "–";
  return `${((new Date(job.finished_at) - new Date(job.created_at)) / 60000).toFixed(1)} min`;
}

// One labelled image of a dataset (its first), with a caption; a dataset without images says so.
async function sample(datasetId, caption) {
  const page = await get(`/v1/datasets/${enc(datasetId)}/images?limit=1`);
  const first = page.items[0];
  if (!first) return h("figure", {}, h("p", { class: "muted", text: "no images" }), h("figcaption", { text: caption }));
  const base = `/v1/datasets/${enc(datasetId)}/images/${encPath(first.image_id)}`;
  const labels = await get(`${base}/labels`);
  return h("figure", {}, labelledImage(labels.has_pixels ? blobUrl(base) : Promise.reject(new Error("label-only")), labels), h("figcaption", {}, `${caption}: `, link(`#/datasets/${datasetId}`, datasetId.slice(0, 8))));
}

// The study report of an experiment: table with verdicts, gap closure, power, plot, a labelled sample of each
// arm's training set and of the evaluation set, and the time the experiment took (`sim2real demo study` links here).
export async function renderExperimentReport(main, id) {
  const exp = await get(`/v1/experiments/${enc(id)}`);
  const job = await get(`/v1/jobs/${enc(id)}`).catch(() => null);
  const t = exp.table || {};
  const base = t.baseline_arm || (t.arms || [])[0];
  const samples = await Promise.all([
    ...exp.arms.map((a) => sample(a.train_dataset_id, `arm ${a.name}`).catch((err) => errorBox(err))),
    sample(exp.eval_dataset_id, "evaluation set").catch((err) => errorBox(err)),
  ]);
  fill(main,
    h("p", {}, link(`#/experiments/${id}`, "← experiment")),
    h("h1", { text: `Report: ${exp.name}` }),
    h("p", {}, `${exp.status} · the experiment took ${minutes(job)} · arms ${exp.arms.map((a) => a.name).join(", ")} · seeds ${exp.seeds.join(", ")}`),
    t.rows
      ? [
          h("h2", { text: "mAP50 on the evaluation set" }),
          table(
            [
              { label: "Arm", key: "arm" },
              { label: "Slice", key: "slice" },
              { label: "Mean ± std", cell: (r) => `${fmt(r.mean)} ± ${fmt(r.std)}` },
              { label: "Seeds' 95% interval", cell: (r) => interval(r.seed_ci_low, r.seed_ci_high) },
              { label: "Images' 95% interval", cell: (r) => interval(r.ci_low, r.ci_high) },
              { label: `Difference to ${base}`, cell: (r) => (r.diff === undefined ? "reference" : `${fmt(r.diff)} (seeds ${interval(r.diff_seed_low, r.diff_seed_high)}; images ${interval(r.diff_low, r.diff_high)})`) },
              { label: "Verdict", cell: (r) => (r.diff === undefined ? "" : verdict(r)) },
            ],
            t.rows,
          ),
          h("h2", { text: `Gap closure: (arm − ${base}) / (${t.oracle_arm || "oracle"} − ${base})` }),
          t.gap_closure && t.gap_closure.length
            ? table(
                [
                  { label: "Arm", key: "arm" },
                  { label: "Slice", key: "slice" },
                  { label: "Gap closed", cell: (g) => fmt(g.gap) },
                  { label: "95% interval", cell: (g) => interval(g.gap_low, g.gap_high) },
                  { label: "Oracle − baseline", cell: (g) => `${fmt(g.denominator)} (${interval(g.denominator_low, g.denominator_high)})` },
                  { label: "Note", cell: (g) => g.note || "" },
                ],
                t.gap_closure,
              )
            : h("p", { class: "muted", text: "no oracle arm: no gap closure" }),
          h("h2", { text: "Power: seeds for the target difference" }),
          t.power && t.power.length
            ? table(
                [
                  { label: "Arm", key: "arm" },
                  { label: "Slice", key: "slice" },
                  { label: "Detectable difference now", cell: (p) => fmt(p.detectable_difference) },
                  { label: "Seeds needed", cell: (p) => (p.seeds_needed == null ? "–" : String(p.seeds_needed)) },
                  { label: "Target", cell: (p) => fmt(p.target_difference) },
                  { label: "Note", cell: (p) => p.note || "" },
                ],
                t.power,
              )
            : h("p", { class: "muted", text: "no power analysis" }),
          exp.plot ? h("figure", {}, h("figcaption", { text: "Plot from the evaluator" }), image(exp.plot, "experiment plot")) : null,
        ]
      : h("p", { class: "muted", text: `no table yet (${exp.status})` }),
    h("h2", { text: "Samples (labelled boxes)" }),
    h("div", { class: "samples" }, samples),
  );
}
