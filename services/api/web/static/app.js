// The router: hash routes (only `/` is served), one render function per page, the API key dialog.
import { onKeyNeeded, setKey } from "./api.js";
import * as datasets from "./pages/datasets.js";
import * as jobs from "./pages/jobs.js";
import * as results from "./pages/results.js";
import * as translate from "./pages/translate.js";
import { errorBox, h } from "./ui.js";

const ROUTES = [
  [/^#\/translate$/, (m) => translate.render(m)],
  [/^#\/jobs$/, (m, q) => jobs.renderList(m, q)],
  [/^#\/jobs\/([^/]+)$/, (m, q, id) => jobs.renderOne(m, id)],
  [/^#\/datasets$/, (m) => datasets.renderList(m)],
  [/^#\/datasets\/([^/]+)$/, (m, q, id) => datasets.renderOne(m, id, q)],
  [/^#\/datasets\/([^/]+)\/image\/(.+)$/, (m, q, id, img) => datasets.renderImage(m, id, img.split("/").map(decodeURIComponent).join("/"))],
  [/^#\/models$/, (m) => results.renderModels(m)],
  [/^#\/models\/([^/]+)$/, (m, q, id) => results.renderModel(m, id)],
  [/^#\/detectors$/, (m) => results.renderDetectors(m)],
  [/^#\/detectors\/([^/]+)$/, (m, q, id) => results.renderDetector(m, id)],
  [/^#\/evaluations$/, (m, q) => results.renderEvaluations(m, q)],
  [/^#\/evaluations\/compare$/, (m, q) => results.renderComparison(m, q)],
  [/^#\/evaluations\/([^/]+)$/, (m, q, id) => results.renderEvaluation(m, id)],
  [/^#\/experiments$/, (m, q) => results.renderExperiments(m, q)],
  [/^#\/experiments\/([^/]+)$/, (m, q, id) => results.renderExperiment(m, id)],
  [/^#\/experiments\/([^/]+)\/report$/, (m, q, id) => results.renderExperimentReport(m, id)],
];

const main = document.getElementById("main");
let cleanup = null;

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const [path, search] = (location.hash || "#/translate").split("?");
  const query = new URLSearchParams(search || "");
  for (const a of document.querySelectorAll("nav.top a")) {
    const here = path === a.getAttribute("href") || path.startsWith(`${a.getAttribute("href")}/`);
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const found = ROUTES.find(([re]) => re.test(path));
  main.setAttribute("aria-busy", "true");
  main.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  try {
    if (!found) throw new Error(`no page at ${path}`);
    const args = path.match(found[0]).slice(1);
    const done = await found[1](main, query, ...args);
    if (typeof done === "function") cleanup = done;
  } catch (err) {
    main.replaceChildren(h("h1", { text: "Something went wrong" }), errorBox(err));
  } finally {
    main.removeAttribute("aria-busy");
    main.dataset.ready = path;
  }
}

// A 401 opens the key dialog; the call is retried once the user has entered a key.
const dialog = document.getElementById("key-dialog");
onKeyNeeded(
  (why) =>
    new Promise((resolve) => {
      document.getElementById("key-why").textContent = why;
      dialog.showModal();
      dialog.addEventListener(
        "close",
        () => {
          setKey(document.getElementById("key-input").value.trim());
          resolve();
        },
        { once: true },
      );
    }),
);
document.getElementById("forget-key").addEventListener("click", () => {
  setKey("");
  location.reload();
});

window.addEventListener("hashchange", route);
if (!location.hash) history.replaceState(null, "", "#/translate");
route();
