// Translate one image (an upload or a dataset's image, with its depth map) and compare before/after.
import { blobUrl, enc, events, get, send } from "../api.js";
import { add, fill, h, errorBox, fmt } from "../ui.js";

function paramInput(name, prop, required) {
  const id = `param-${name}`;
  const opt = (prop.anyOf || []).find((p) => p.type && p.type !== "null") || prop;
  const type = opt.type || (prop.enum ? "string" : "string");
  const label = `${prop.title || name}${required ? "" : ""}`;
  const help = prop.description || "";
  let input;
  if (prop.enum || opt.enum) {
    // An optional choice (default null) starts on "default": the service decides, e.g. from the inputs sent.
    const choices = (prop.enum || opt.enum).map((v) => h("option", { value: v, selected: v === prop.default, text: v }));
    if (prop.default === null || prop.default === undefined) choices.unshift(h("option", { value: "", selected: true, text: "default" }));
    input = h("select", { id, name }, choices);
  } else if (type === "boolean") {
    input = h("input", { id, name, type: "checkbox", checked: prop.default === true });
  } else if (type === "number" || type === "integer") {
    const min = opt.minimum ?? (opt.exclusiveMinimum !== undefined ? opt.exclusiveMinimum : undefined);
    const max = opt.maximum ?? opt.exclusiveMaximum;
    input = h("input", { id, name, type: "number", step: type === "integer" ? 1 : "any", min, max, value: prop.default ?? "", placeholder: prop.default === null ? "default" : undefined, "data-kind": type });
  } else {
    input = h("input", { id, name, type: "text", value: prop.default ?? "" });
  }
  const range = [opt.minimum ?? opt.exclusiveMinimum, opt.maximum ?? opt.exclusiveMaximum];
  const rangeText = range[0] !== undefined || range[1] !== undefined ? ` [${fmt(range[0] ?? "…")} – ${fmt(range[1] ?? "…")}]` : "";
  return h("div", { class: "field" }, h("label", { for: id, text: label }), input, h("small", { class: "help", text: `${help}${rangeText}${prop.default !== undefined && prop.default !== null ? ` default ${prop.default}` : ""}` }));
}

function readParams(form, schema) {
  const out = {};
  for (const [name, prop] of Object.entries(schema?.properties || {})) {
    const el = form.querySelector(`[name="${name}"]`);
    if (!el) continue;
    if (el.type === "checkbox") {
      if (el.checked !== (prop.default === true)) out[name] = el.checked;
    } else if (el.value === "") continue;
    else if (el.dataset.kind) {
      const v = Number(el.value);
      if (v !== prop.default) out[name] = v;
    } else if (el.value !== prop.default) out[name] = el.value;
  }
  return out;
}

export function compare(beforeUrl, afterUrl, label) {
  const after = h("img", { src: afterUrl, alt: `${label}: after`, class: "after" });
  const before = h("img", { src: beforeUrl, alt: `${label}: before` });
  const clip = h("div", { class: "clip" }, after);
  const stage = h("div", { class: "stage" }, before, clip);
  const slider = h("input", { type: "range", min: 0, max: 100, value: 50, id: "compare-slider", "aria-label": "before/after split: left shows the result" });
  const set = () => (clip.style.width = `${slider.value}%`);
  slider.addEventListener("input", set);
  set();
  const zoom = h("select", { id: "compare-zoom" }, ["fit", "100%", "200%", "400%"].map((z) => h("option", { value: z, text: z })));
  zoom.addEventListener("change", () => {
    stage.style.width = zoom.value === "fit" ? "100%" : `${(before.naturalWidth * parseInt(zoom.value, 10)) / 100}px`;
  });
  return h(
    "div",
    { class: "compare" },
    h("div", { class: "toolbar" }, h("label", { for: "compare-slider", text: "Result ◀ ▶ original" }), slider, h("label", { for: "compare-zoom", text: "Zoom" }), zoom),
    h("div", { class: "viewport", tabindex: 0, "aria-label": "comparison, scroll to pan when zoomed" }, stage),
  );
}

export async function render(main) {
  const [rows, datasets] = await Promise.all([get("/v1/weathers"), get("/v1/datasets?limit=200")]);
  // Every method is listed; one that cannot run yet is disabled with its reason, and the fix is shown below.
  const options = rows.map((r, i) => h("option", { value: i, disabled: !r.available, text: `${r.method} · ${r.weather ?? "any weather"}${r.name ? ` · ${r.name}` : ""}${r.available ? "" : ` (${r.reason})`}` }));
  const choice = h("select", { id: "choice", name: "choice", required: true }, options);
  const blocked = rows.filter((r) => !r.available);
  const unavailable = blocked.length
    ? h("details", { class: "unavailable" }, h("summary", { text: `Not available yet (${blocked.length})` }), h("ul", {}, blocked.map((r) => h("li", {}, h("strong", { text: `${r.method}${r.name ? ` · ${r.name}` : ""}: ${r.reason}. ` }), r.fix))))
    : null;
  const paramsBox = h("fieldset", { class: "params" });
  const showParams = () => {
    const row = rows[Number(choice.value)];
    const schema = row?.params_schema;
    paramsBox.replaceChildren(h("legend", { text: `Parameters of ${row ? row.method : ""}` }));
    if (row) paramsBox.append(h("p", { class: "muted", text: row.description }));
    const required = new Set(schema?.required || []);
    for (const [name, prop] of Object.entries(schema?.properties || {})) paramsBox.append(paramInput(name, prop, required.has(name)));
  };
  choice.addEventListener("change", showParams);
  // Rows come in the registry's order: the default method's first weather leads.
  const first = rows.findIndex((r) => r.available);
  choice.value = String(first >= 0 ? first : Math.max(0, rows.findIndex((r) => r.available)));

  const file = h("input", { type: "file", id: "image", name: "image", accept: "image/png,image/jpeg" });
  const dsSelect = h("select", { id: "dataset" }, h("option", { value: "", text: "— choose a dataset —" }), datasets.map((d) => h("option", { value: d.id, text: `${d.name} (${d.stats?.images ?? "?"} images)` })));
  const imgSelect = h("select", { id: "dataset-image", disabled: true }, h("option", { value: "", text: "— choose an image —" }));
  dsSelect.addEventListener("change", async () => {
    imgSelect.replaceChildren(h("option", { value: "", text: "— choose an image —" }));
    imgSelect.disabled = !dsSelect.value;
    if (!dsSelect.value) return;
    const page = await get(`/v1/datasets/${enc(dsSelect.value)}/images?limit=500`);
    for (const it of page.items.filter((i) => i.image_key)) imgSelect.append(h("option", { value: it.image_id, text: it.image_id }));
  });
  const sourceUpload = h("input", { type: "radio", name: "source", id: "source-upload", value: "upload", checked: true });
  const sourceDataset = h("input", { type: "radio", name: "source", id: "source-dataset", value: "dataset" });
  const uploadBox = h("div", { class: "field" }, h("label", { for: "image", text: "Image (PNG or JPEG)" }), file);
  const datasetBox = h("div", { class: "row", hidden: true }, h("div", { class: "field" }, h("label", { for: "dataset", text: "Dataset" }), dsSelect), h("div", { class: "field" }, h("label", { for: "dataset-image", text: "Image (its depth map is used when the dataset has one)" }), imgSelect));
  const toggle = () => {
    uploadBox.hidden = !sourceUpload.checked;
    datasetBox.hidden = sourceUpload.checked;
  };
  sourceUpload.addEventListener("change", toggle);
  sourceDataset.addEventListener("change", toggle);

  const status = h("div", { class: "status", role: "status", "aria-live": "polite" });
  const result = h("section", { class: "result", "aria-label": "result" });
  const submit = h("button", { type: "submit", text: "Translate" });
  const form = h(
    "form",
    { class: "card" },
    h("fieldset", {}, h("legend", { text: "Image" }), h("div", { class: "row" }, h("label", {}, sourceUpload, " Upload"), h("label", {}, sourceDataset, " From a dataset")), uploadBox, datasetBox),
    h("div", { class: "field" }, h("label", { for: "choice", text: "Method and weather" }), choice, unavailable),
    paramsBox,
    h("div", { class: "row" }, submit, status),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const row = rows[Number(choice.value)];
    const body = new FormData();
    let beforeUrl;
    if (sourceUpload.checked) {
      if (!file.files[0]) return status.replaceChildren(errorBox("image: choose a file to upload"));
      body.append("image", file.files[0]);
      beforeUrl = URL.createObjectURL(file.files[0]);
    } else {
      if (!dsSelect.value || !imgSelect.value) return status.replaceChildren(errorBox("choose a dataset and one of its images"));
      body.append("dataset_id", dsSelect.value);
      body.append("image_id", imgSelect.value);
      beforeUrl = `/v1/datasets/${enc(dsSelect.value)}/images/${imgSelect.value.split("/").map(enc).join("/")}`;
    }
    body.append("method", row.method);
    if (row.weather) body.append("weather", row.weather);
    if (row.model_id) body.append("model_id", row.model_id);
    if (row.style_id) body.append("style_id", row.style_id);
    body.append("params", JSON.stringify(readParams(form, row.params_schema)));
    submit.disabled = true;
    result.replaceChildren();
    try {
      const job = await send("POST", "/v1/translations", body);
      const bar = h("progress", { max: 1, value: 0, "aria-label": "translation progress" });
      status.replaceChildren(bar, h("span", { text: ` job ${job.id.slice(0, 8)} queued` }));
      let last = job;
      await events(`/v1/jobs/${enc(job.id)}/events`, (_name, snap) => {
        last = snap;
        bar.value = snap.progress;
        status.lastChild.textContent = ` ${snap.status} ${snap.message || ""}`;
      });
      if (last.status !== "succeeded") throw new Error(`translation ${last.status}: ${last.error || ""}`);
      await showResult(result, job.id, beforeUrl.startsWith("blob:") ? beforeUrl : await blobUrl(beforeUrl), `${row.method} ${row.weather}`);
      status.replaceChildren(h("span", { text: "done" }));
      recent();
    } catch (err) {
      status.replaceChildren(errorBox(err));
    } finally {
      submit.disabled = false;
    }
  });
  showParams();
  const recentBox = h("section", { class: "recent", "aria-label": "recent results" });
  const recent = async () => {
    const page = await get("/v1/jobs?kind=translate&status=succeeded&limit=8");
    recentBox.replaceChildren(
      h("h2", { text: "Recent results" }),
      h("div", { class: "thumbs" }, page.items.map((j) => {
        const img = h("img", { alt: `translation ${j.id.slice(0, 8)}` });
        blobUrl(`/v1/translations/${enc(j.id)}/image`).then((u) => (img.src = u)).catch(() => {});
        return h("a", { href: `#/jobs/${j.id}`, class: "thumb" }, img, h("span", { text: `${j.result?.method} · ${j.result?.weather}` }));
      })),
    );
  };
  fill(main, h("h1", { text: "Translate an image" }), h("div", { class: "two" }, form, result), recentBox);
  recent();
}

async function showResult(box, jobId, beforeUrl, label) {
  const afterUrl = await blobUrl(`/v1/translations/${enc(jobId)}/image`);
  box.replaceChildren(
    h("h2", { text: "Result" }),
    compare(beforeUrl, afterUrl, label),
    h("p", {}, h("a", { href: afterUrl, download: `${jobId}.png`, class: "button", id: "download", text: "Download PNG" }), " ", h("a", { href: `#/jobs/${jobId}`, text: "job details" })),
  );
}
