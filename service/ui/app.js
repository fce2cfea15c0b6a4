// The gradserve session page: a session's tensors, values and autograd graph.
//
// Plain ES module, no dependencies, nothing fetched but this server's API. The session id and
// token live in this tab's sessionStorage only: the token travels in the Authorization header,
// never in a URL, a query string or a log line.

const STORAGE_KEY = "gradserve.ui.session";
const REFRESH_MS = 2000;

const $ = (id) => document.getElementById(id);
const ui = {
  sessionId: $("session-id"),
  token: $("token"),
  status: $("status"),
  rows: document.querySelector("#tensors tbody"),
  previewName: $("preview-name"),
  dataPreview: $("data-preview"),
  gradPreview: $("grad-preview"),
  autoRefresh: $("auto-refresh"),
  showSaved: $("show-saved"),
  view: $("graph-view"),
  canvas: $("graph-canvas"),
};

let selected = null; // the tensor whose value is shown
let lastOverview = null; // the overview the page shows, as JSON text
let lastSaved = null;
let busy = false;

// ------------------------------------------------------------------ credentials
function loadCredentials() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (saved && typeof saved.id === "string" && typeof saved.token === "string") return saved;
  } catch (_) {
    sessionStorage.removeItem(STORAGE_KEY);
  }
  return null;
}

function saveCredentials(id, token) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ id, token }));
}

function setStatus(text, isError = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", isError);
}

// ------------------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, code, detail) {
    super(`${status} ${code}: ${detail}`);
    this.status = status;
    this.code = code;
  }
}

async function api(path, accept = "application/json") {
  const creds = loadCredentials();
  if (!creds) throw new ApiError(0, "no_session", "paste a session id and token first");
  const response = await fetch(`/v1/sessions/${encodeURIComponent(creds.id)}${path}`, {
    headers: { Authorization: `Bearer ${creds.token}`, Accept: accept },
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch (_) {
      // not a problem document: the status says enough
    }
    throw new ApiError(
      response.status,
      problem.code || "http_error",
      problem.detail || response.statusText,
    );
  }
  return response;
}

// --------------------------------------------------------------------- tensors
function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function renderTensors(tensors) {
  const body = document.createDocumentFragment();
  for (const t of tensors) {
    const tr = document.createElement("tr");
    tr.dataset.name = t.name;
    tr.append(
      cell(t.name),
      cell(`[${t.shape.join(", ")}]`),
      cell(t.dtype),
      cell(String(t.requires_grad)),
      cell(String(t.is_leaf)),
      cell(t.grad_fn ?? ""),
      cell(t.has_grad ? "yes" : ""),
      cell(String(t.bytes)),
    );
    if (t.name === selected) tr.classList.add("selected");
    tr.addEventListener("click", () => select(t.name));
    body.append(tr);
  }
  ui.rows.replaceChildren(body);
}

async function select(name) {
  selected = name;
  for (const tr of ui.rows.children) tr.classList.toggle("selected", tr.dataset.name === name);
  await showPreview();
}

async function showPreview() {
  if (selected === null) {
    ui.previewName.textContent = "";
    ui.dataPreview.textContent = "";
    ui.gradPreview.textContent = "";
    return;
  }
  const name = selected;
  const repr = await (await api(`/tensors/${encodeURIComponent(name)}/repr`)).json();
  if (name !== selected) return; // another row was clicked meanwhile
  ui.previewName.textContent = name;
  ui.dataPreview.textContent = repr.data;
  ui.gradPreview.textContent = repr.grad ?? "None";
}

// ----------------------------------------------------------------------- graph
async function showGraph() {
  const query = ui.showSaved.checked ? "?saved=true" : "";
  let svgText;
  try {
    svgText = await (await api(`/graph.svg${query}`, "image/svg+xml")).text();
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401 || err.status === 404) throw err;
    const message = document.createElement("div");
    message.className = "graph-message";
    message.textContent = err.message; // 501 renderer_unavailable says how to install dot
    ui.canvas.replaceChildren(message);
    return;
  }
  const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") throw new Error("the server sent something other than SVG");
  for (const bad of svg.querySelectorAll("script, foreignObject")) bad.remove();
  ui.canvas.replaceChildren(document.importNode(svg, true));
}

// ------------------------------------------------------------------ pan & zoom
const view = { x: 0, y: 0, scale: 1 };

function applyView() {
  ui.canvas.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
}

function fit() {
  view.x = 0;
  view.y = 0;
  view.scale = 1;
  applyView();
}

function installPanZoom() {
  let drag = null;
  ui.view.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX - view.x, y: e.clientY - view.y };
    ui.view.setPointerCapture(e.pointerId);
    ui.view.classList.add("dragging");
  });
  ui.view.addEventListener("pointermove", (e) => {
    if (!drag) return;
    view.x = e.clientX - drag.x;
    view.y = e.clientY - drag.y;
    applyView();
  });
  const stop = () => {
    drag = null;
    ui.view.classList.remove("dragging");
  };
  ui.view.addEventListener("pointerup", stop);
  ui.view.addEventListener("pointercancel", stop);
  ui.view.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      const box = ui.view.getBoundingClientRect();
      const px = e.clientX - box.left;
      const py = e.clientY - box.top;
      const factor = Math.exp(-e.deltaY * 0.0015);
      const scale = Math.min(8, Math.max(0.1, view.scale * factor));
      // keep the point under the cursor where it is
      view.x = px - ((px - view.x) * scale) / view.scale;
      view.y = py - ((py - view.y) * scale) / view.scale;
      view.scale = scale;
      applyView();
    },
    { passive: false },
  );
  $("fit").addEventListener("click", fit);
}

// --------------------------------------------------------------------- refresh
async function refresh(force = false) {
  if (busy || !loadCredentials()) return;
  busy = true;
  try {
    const overview = await (await api("/overview")).json();
    const text = JSON.stringify(overview);
    const saved = ui.showSaved.checked;
    if (force || text !== lastOverview || saved !== lastSaved) {
      lastOverview = text;
      lastSaved = saved;
      if (selected !== null && !overview.tensors.some((t) => t.name === selected)) selected = null;
      if (selected === null && overview.tensors.length > 0) selected = overview.tensors[0].name;
      renderTensors(overview.tensors);
      await Promise.all([showGraph(), showPreview()]);
    }
    const count = overview.tensors.length;
    setStatus(`${count} tensor${count === 1 ? "" : "s"}; updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    busy = false;
  }
}

function connect() {
  const id = ui.sessionId.value.trim();
  const token = ui.token.value.trim();
  if (!id || !token) {
    setStatus("both the session id and the token are needed", true);
    return;
  }
  saveCredentials(id, token);
  ui.token.value = ""; // kept in sessionStorage only
  ui.token.placeholder = "(kept for this tab)";
  selected = null;
  lastOverview = null;
  fit();
  refresh(true);
}

function forget() {
  sessionStorage.removeItem(STORAGE_KEY);
  selected = null;
  lastOverview = null;
  ui.sessionId.value = "";
  ui.token.value = "";
  ui.token.placeholder = "";
  ui.rows.replaceChildren();
  ui.canvas.replaceChildren();
  showPreview();
  setStatus("Forgotten. Paste a session id and its token.");
}

function main() {
  $("connect").addEventListener("click", connect);
  $("forget").addEventListener("click", forget);
  for (const input of [ui.sessionId, ui.token]) {
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") connect();
    });
  }
  ui.showSaved.addEventListener("change", () => refresh(true));
  installPanZoom();
  const creds = loadCredentials();
  if (creds) {
    ui.sessionId.value = creds.id;
    ui.token.placeholder = "(kept for this tab)";
    refresh(true);
  }
  setInterval(() => {
    if (ui.autoRefresh.checked) refresh();
  }, REFRESH_MS);
}

main();
