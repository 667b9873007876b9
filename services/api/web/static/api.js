// The one way the app and the docs shells talk to the REST API: every call carries the key (if one is
// kept), images become blob URLs (an <img src> cannot carry a header), job events are read over fetch.
const KEY = "sim2real.apiKey";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail, null, 1));
    this.status = status;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

let askKey = null; // set by the page: resolves once the user has entered a key
export function onKeyNeeded(fn) {
  askKey = fn;
}

export function headers(extra = {}) {
  const key = getKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

export async function request(path, options = {}, retried = false) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (response.status === 401 && askKey && !retried) {
    await askKey(await detail(response));
    return request(path, options, true);
  }
  if (!response.ok) throw new ApiError(response.status, await detail(response));
  return response;
}

async function detail(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (Array.isArray(body.detail)) {
      return body.detail.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("\n");
    }
    return body.detail ?? text;
  } catch {
    return text || `${response.status} ${response.statusText}`;
  }
}

export async function get(path) {
  return (await request(path)).json();
}

export async function send(method, path, body) {
  const options = { method };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers = { "Content-Type": "application/json" };
  }
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

const blobs = new Map(); // path -> Promise<object URL>; the app shows the same images again and again
export function blobUrl(path) {
  if (!blobs.has(path)) {
    const made = request(path).then(async (r) => URL.createObjectURL(await r.blob()));
    made.catch(() => blobs.delete(path));
    blobs.set(path, made);
    if (blobs.size > 600) {
      const [oldest, url] = blobs.entries().next().value;
      blobs.delete(oldest);
      url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
    }
  }
  return blobs.get(path);
}

// Server-sent events over fetch (EventSource cannot send the key). Calls onEvent(name, data) until the
// stream ends or `signal` aborts it.
export async function events(path, onEvent, signal) {
  const response = await request(path, { signal, headers: { Accept: "text/event-stream" } });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of chunk.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

export function enc(value) {
  return encodeURIComponent(value);
}

// Image ids may contain '/': keep the slashes, encode the rest.
export function encPath(value) {
  return value.split("/").map(encodeURIComponent).join("/");
}
