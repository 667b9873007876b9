// Datasets: the list with stats charts, one dataset's filtered image grid with boxes drawn, one image
// with its labels (and, for a translated dataset, its source image and lineage).
import { blobUrl, enc, encPath, get } from "../api.js";
import { add, fill, barChart, errorBox, h, json, labelledImage, legend, link, table } from "../ui.js";
import { pager } from "./jobs.js";

const GRID = 24;

function charts(stats) {
  return h(
    "div",
    { class: "charts" },
    barChart("Boxes per class", stats.boxes_per_class),
    barChart("Images per weather", stats.weather),
    barChart("Images per time of day", stats.timeofday),
    barChart("Images per occluded-vehicle count", Object.fromEntries(Object.entries(stats.occluded_vehicles || {}).filter(([, v], i, all) => v || i < all.findLastIndex(([, x]) => x) + 1))),
  );
}

export async function renderList(main) {
  const items = await get("/v1/datasets?limit=200");
  fill(main, 
    h("h1", { text: "Datasets" }),
    items.length ? null : h("p", { class: "muted", text: "No datasets yet: POST /v1/datasets ingests one (see /docs)." }),
    ...items.map((d) =>
      h(
        "section",
        { class: "card dataset" },
        h("h2", {}, link(`#/datasets/${d.id}`, d.name)),
        h("p", { class: "muted", text: `${d.format} · ${d.stats?.images ?? 0} images (${d.stats?.images_with_pixels ?? 0} with pixels) · ${d.stats?.boxes ?? 0} boxes · classes ${d.class_names.join(", ")}${d.parent_id ? " · translated" : ""}` }),
        charts(d.stats || {}),
      ),
    ),
  );
}

function imageHref(datasetId, imageId) {
  return `#/datasets/${datasetId}/image/${encPath(imageId)}`;
}

export async function renderOne(main, id, query) {
  const dataset = await get(`/v1/datasets/${enc(id)}`);
  const filter = query.get("filter") || "";
  const offset = Number(query.get("offset") || 0);
  const params = new URLSearchParams({ limit: GRID, offset });
  for (const term of filter.split(";").map((t) => t.trim()).filter(Boolean)) params.append("filter", term);
  const input = h("input", { id: "filter", name: "filter", type: "text", value: filter, placeholder: "weather=foggy; occluded_vehicles<=5", size: 40 });
  const form = h("form", { class: "row filters", role: "search" }, h("div", { class: "field" }, h("label", { for: "filter", text: "Filter (as the API: field op value, ';' between terms)" }), input), h("button", { type: "submit", text: "Apply" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/datasets/${id}?${new URLSearchParams({ filter: input.value.trim() })}`;
  });
  const grid = h("div", { class: "grid", id: "grid" });
  const gridStatus = h("div", { role: "status", "aria-live": "polite" });
  fill(main, 
    h("p", {}, link("#/datasets", "← datasets")),
    h("h1", { text: dataset.name }),
    h("p", { class: "muted", text: `${dataset.format} · ${dataset.stats?.images ?? 0} images · id ${dataset.id}` }),
    dataset.lineage ? lineage(dataset) : null,
    h("details", {}, h("summary", { text: "Statistics" }), charts(dataset.stats || {}), dataset.stats?.warnings?.length ? h("ul", {}, dataset.stats.warnings.map((w) => h("li", { text: w }))) : null),
    form,
    legend(dataset.class_names),
    gridStatus,
    grid,
  );
  let page;
  try {
    page = await get(`/v1/datasets/${enc(id)}/images?${params}`);
  } catch (err) {
    gridStatus.replaceChildren(errorBox(err));
    return;
  }
  gridStatus.replaceChildren(h("span", { text: `${page.total} images match` }));
  for (const item of page.items) {
    const cell = h("a", { href: imageHref(id, item.image_id), class: "cell", "aria-label": `image ${item.image_id}` });
    grid.append(cell);
    const base = `/v1/datasets/${enc(id)}/images/${encPath(item.image_id)}`;
    get(`${base}/labels`)
      .then((labels) => {
        const src = item.image_key ? blobUrl(`${base}/thumbnail?size=256`) : Promise.reject(new Error("label-only"));
        cell.append(labelledImage(src, labels), h("span", { class: "caption", text: `${item.image_id} · ${item.num_boxes} boxes${item.weather ? ` · ${item.weather}` : ""}` }));
      })
      .catch((err) => cell.append(errorBox(err)));
  }
  add(main, pager(page, (o) => `#/datasets/${id}?${new URLSearchParams({ filter, offset: o })}`));
}

function lineage(dataset) {
  const l = dataset.lineage;
  return h(
    "section",
    { class: "card lineage", "aria-label": "lineage" },
    h("h2", { text: "Lineage" }),
    h(
      "dl",
      { class: "facts" },
      h("dt", { text: "Translated from" }),
      h("dd", {}, dataset.parent_id ? link(`#/datasets/${dataset.parent_id}`, dataset.parent_id) : "–"),
      h("dt", { text: "Method" }),
      h("dd", { text: `${l.method ?? "–"} · ${l.weather ?? "–"}` }),
      l.model_id ? [h("dt", { text: "Model" }), h("dd", {}, link(`#/models/${l.model_id}`, l.model_id))] : null,
      l.style_id ? [h("dt", { text: "Style" }), h("dd", { text: l.style_id })] : null,
      h("dt", { text: "Filter" }),
      h("dd", { text: (l.filter || []).join("; ") || "all images" }),
    ),
    h("details", {}, h("summary", { text: "Parameters" }), json(l.params ?? l)),
  );
}

export async function renderImage(main, id, imageId) {
  const dataset = await get(`/v1/datasets/${enc(id)}`);
  const base = `/v1/datasets/${enc(id)}/images/${encPath(imageId)}`;
  const labels = await get(`${base}/labels`);
  const toggle = h("input", { type: "checkbox", id: "show-boxes", checked: true });
  const views = h("div", { class: dataset.parent_id ? "pair" : "single" });
  const draw = () => {
    views.replaceChildren(
      h("figure", {}, labelledImage(labels.has_pixels ? blobUrl(base) : Promise.reject(new Error("label-only")), labels, { boxes: toggle.checked }), h("figcaption", { text: dataset.parent_id ? "translated" : imageId })),
    );
    if (dataset.parent_id) {
      get(`${base}/source/labels`)
        .then((src) => views.prepend(h("figure", {}, labelledImage(blobUrl(`${base}/source`), src, { boxes: toggle.checked, alt: `source of ${imageId}` }), h("figcaption", {}, "source: ", link(imageHref(dataset.parent_id, imageId), dataset.parent_id.slice(0, 8))))))
        .catch((err) => views.prepend(errorBox(err)));
    }
  };
  toggle.addEventListener("change", draw);
  draw();
  fill(main, 
    h("p", {}, link(`#/datasets/${id}`, `← ${dataset.name}`)),
    h("h1", { text: imageId }),
    h("div", { class: "row" }, h("label", { for: "show-boxes" }, toggle, " Draw boxes"), legend(dataset.class_names)),
    views,
    dataset.lineage ? lineage(dataset) : null,
    h("div", { class: "two" },
      h("section", {}, h("h2", { text: "Metadata" }), h("dl", { class: "facts" }, Object.entries(labels.metadata).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v ?? "–" })]))),
      h("section", {}, h("h2", { text: `Boxes (${labels.boxes.length})` }), table(
        [
          { label: "Class", key: "class_name" },
          { label: "x1", cell: (b) => b.x1.toFixed(0) },
          { label: "y1", cell: (b) => b.y1.toFixed(0) },
          { label: "x2", cell: (b) => b.x2.toFixed(0) },
          { label: "y2", cell: (b) => b.y2.toFixed(0) },
          { label: "Occluded", cell: (b) => (b.occluded ? "yes" : "no") },
          { label: "Truncated", cell: (b) => String(b.truncated) },
          { label: "Track", cell: (b) => (b.track_id ?? "–") },
        ],
        labels.boxes,
      )),
    ),
  );
}
