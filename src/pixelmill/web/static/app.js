// What every page of the pixelmill UI shares: the API key, requests to the API (uploads with
// progress), showing progress and errors in words, the upload limit the page publishes
// (body[data-max-upload-bytes], checked before anything is sent), and a drop zone with
// thumbnails on every file field. A plain ES module: no build step, nothing from outside.
// Each page's module imports it; base.html loads it too, for the API key and the file fields.

const KEY_STORAGE = "pixelmill.apiKey";

/** The API key kept in this browser, or "". */
export function apiKey() {
  try {
    return (localStorage.getItem(KEY_STORAGE) || "").trim();
  } catch {
    return ""; // storage disabled: no key
  }
}

function saveApiKey(value) {
  try {
    if (value.trim()) localStorage.setItem(KEY_STORAGE, value.trim());
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: the key lasts as long as the page
  }
}

/** HEADERS plus X-API-Key when a key is set; harmless when the server has no keys. */
export function withKey(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, "X-API-Key": key } : headers;
}

/** An answer of the API that is not a success, with its `detail` (a string or FastAPI's list). */
export class ApiError extends Error {
  constructor(status, statusText, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.statusText = statusText;
    this.detail = detail;
  }

  /** From a response body (a Blob or a string): its JSON `detail`, else its text. */
  static async from(status, statusText, body) {
    const text = typeof body === "string" ? body : body ? await body.text() : "";
    let detail = null;
    try {
      const parsed = JSON.parse(text);
      detail = parsed && typeof parsed === "object" && "detail" in parsed ? parsed.detail : parsed;
    } catch {
      detail = text.trim().slice(0, 300) || `the server answered ${status} ${statusText}`.trim();
    }
    return new ApiError(status, statusText, detail);
  }
}

/** GET URL as JSON; returns {data, response}. */
export async function getJSON(url) {
  const response = await request(url, { headers: withKey({ Accept: "application/json" }) });
  if (!response.ok) throw await ApiError.from(response.status, response.statusText, await response.text());
  return { data: await response.json(), response };
}

/** GET an image with the API key and return an object URL for it (revoke it when done). */
export async function imageURL(url) {
  const response = await request(url, { headers: withKey() });
  if (!response.ok) throw await ApiError.from(response.status, response.statusText, await response.text());
  return URL.createObjectURL(await response.blob());
}

/** An image (from an object URL) that opens full size in a new tab. */
export function linkedImage(url, alt) {
  const link = document.createElement("a");
  link.href = url;
  link.target = "_blank";
  link.rel = "noopener";
  link.title = "Open full size";
  const img = document.createElement("img");
  img.alt = alt;
  img.src = url;
  link.append(img);
  return link;
}

// Thumbnails through signed delivery URLs (/img): the server signs them as it serves the
// items (`images` in the captions list and in each faces event: src, srcset at 1x and 2x,
// full), and the browser loads them straight, cached by it and by any CDN, picking 1x or 2x
// by the screen (srcset) and AVIF or WebP by its Accept (format=auto). A server with no URL
// keys sends no `images`: the pages then show the stored images as before.

/** A delivered thumbnail (an item's `images`) that opens the full image in a new tab. */
export function deliveredImage(signed, alt) {
  const link = document.createElement("a");
  link.href = signed.full;
  link.target = "_blank";
  link.rel = "noopener";
  link.title = "Open full size";
  const img = document.createElement("img");
  img.alt = alt;
  img.decoding = "async";
  img.srcset = signed.srcset;
  img.src = signed.src;
  link.append(img);
  return link;
}

async function request(url, options) {
  try {
    return await fetch(url, options);
  } catch {
    throw new ApiError(0, "", "the server could not be reached");
  }
}

/**
 * POST a multipart form with XMLHttpRequest, which (unlike fetch) reports upload progress.
 * Resolves to {status, contentType, blob, header(name)} for a 2xx answer; rejects with ApiError.
 * onProgress gets {phase: "upload", loaded, total} while the body goes out, then {phase: "processing"}.
 */
export function upload(url, data, { accept = "application/json", onProgress = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.responseType = "blob";
    for (const [name, value] of Object.entries(withKey({ Accept: accept }))) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress({ phase: "upload", loaded: event.loaded, total: event.total });
    });
    xhr.upload.addEventListener("load", () => onProgress({ phase: "processing" }));
    xhr.addEventListener("load", async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({
          status: xhr.status,
          contentType: (xhr.getResponseHeader("Content-Type") || "").split(";")[0].trim(),
          blob: xhr.response,
          header: (name) => xhr.getResponseHeader(name),
        });
      } else {
        reject(await ApiError.from(xhr.status, xhr.statusText, xhr.response));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "", "the server could not be reached")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "", "the upload was cancelled")));
    xhr.send(data);
  });
}

/** The form's fields as FormData. */
export function formData(form) {
  return new FormData(form);
}

// Errors in words: the message first, with the form's field named by its label (not `image2`)
// and outlined; the HTTP code after it, small; sizes in MiB, as the page states its limit.

/** The label a person reads for the form field NAME (`image2`, `images[1]`), and the field. */
function fieldOf(form, name) {
  const base = String(name).replace(/\[\d+\]$/, "");
  const control = form?.elements?.namedItem?.(base);
  const element = control instanceof RadioNodeList ? control[0] : control;
  if (!element) return null;
  const label = element.id ? form.querySelector(`label[for="${CSS.escape(element.id)}"]`) : null;
  let text = base;
  if (label) {
    const copy = label.cloneNode(true);
    copy.querySelectorAll(".hint").forEach((hint) => hint.remove());
    text = copy.textContent.trim() || base;
  }
  const index = /\[(\d+)\]$/.exec(String(name));
  const files = element.files ? [...element.files] : [];
  const file = files[index ? Number(index[1]) : 0];
  return { label: file ? `${text} (${file.name})` : text, control: element };
}

const OVER_LIMIT = /(\d{1,3}(?:,\d{3})+|\d+) bytes; the limit is (\d{1,3}(?:,\d{3})+|\d+) bytes/g;
const BYTES = /(\d{1,3}(?:,\d{3})+|\d+) bytes/g;
const AT_LEAST = /\(got at least (\d{1,3}(?:,\d{3})+|\d+)\)/g;

/** Byte counts of a message in MiB (the unit the page states its limits in). */
function inMiB(text) {
  const number = (digits) => Number(digits.replaceAll(",", ""));
  const mib = (digits) => formatMiB(number(digits));
  return text
    .replace(OVER_LIMIT, (all, size, limit) => `${formatMiB(number(size), { over: number(limit) })}; the limit is ${mib(limit)}`)
    .replace(BYTES, (all, digits) => (Number(digits.replaceAll(",", "")) >= 1024 * 1024 ? mib(digits) : all))
    .replace(AT_LEAST, (all, digits) => `(got at least ${mib(digits)})`);
}

/** A server (or browser) message with its leading field name put as the field's label. */
function inWords(text, form, marked) {
  let message = inMiB(String(text));
  const lead = /^([A-Za-z_][\w-]*(?:\[\d+\])?)(?=[ :])/.exec(message);
  const field = lead && fieldOf(form, lead[1]);
  if (field) {
    marked.add(field.control);
    message = field.label + message.slice(lead[1].length);
  }
  return message;
}

const LOCATIONS = new Set(["body", "query", "path", "header", "cookie"]);

function validationItem(item, form, marked) {
  const li = document.createElement("li");
  if (item && typeof item === "object") {
    const loc = Array.isArray(item.loc) ? item.loc.filter((part, i) => !(i === 0 && LOCATIONS.has(part))) : [];
    const field = loc.length ? fieldOf(form, loc[0]) : null;
    if (field) marked.add(field.control);
    if (loc.length) {
      const where = document.createElement("strong");
      where.textContent = field ? field.label : loc.join(".");
      li.append(where, ": ");
    }
    li.append(inMiB(item.msg ?? JSON.stringify(item)));
  } else {
    li.textContent = inWords(item, form, marked);
  }
  return li;
}

/**
 * The readable form of an error: the message in words (a list becomes a list), then the HTTP
 * code, small. With FORM, field names become their labels; the fields named are returned in
 * `marked` so the caller can outline them.
 */
export function renderError(error, form = null, marked = new Set()) {
  const fragment = document.createDocumentFragment();
  const head = document.createElement("p");
  const detail = error instanceof ApiError ? error.detail : String(error?.message || error);
  if (Array.isArray(detail)) {
    head.append(detail.length === 1 ? "The request is not valid:" : "The request has problems:");
    const list = document.createElement("ul");
    for (const item of detail) list.append(validationItem(item, form, marked));
    fragment.append(head, list);
  } else {
    const text = inWords(typeof detail === "string" ? detail : JSON.stringify(detail), form, marked);
    head.append(text.charAt(0).toUpperCase() + text.slice(1));
    fragment.append(head);
  }
  if (error instanceof ApiError && (error.status || error.local)) {
    const code = document.createElement("small");
    code.className = "status-code";
    code.textContent = error.local
      ? "checked in this browser: nothing was sent"
      : `${error.status}${error.statusText ? " " + error.statusText : ""}`;
    head.append(" ", code);
  }
  if (error instanceof ApiError && error.status === 401) {
    const hint = document.createElement("p");
    hint.textContent = apiKey()
      ? "The server did not accept the API key: check it under “API key” at the top of the page."
      : "This server asks for an API key: enter it under “API key” at the top of the page.";
    fragment.append(hint);
  }
  return fragment;
}

/** Show ERROR in BOX; the fields it names (in BOX's form) are outlined until they change. */
export function showError(box, error) {
  const form = box.closest("form");
  const marked = new Set();
  box.replaceChildren(renderError(error, form, marked));
  box.hidden = false;
  for (const control of marked) {
    control.setAttribute("aria-invalid", "true");
    control.closest(".field")?.classList.add("invalid");
  }
}

export function clearError(box) {
  box.replaceChildren();
  box.hidden = true;
  for (const control of box.closest("form")?.querySelectorAll('[aria-invalid="true"]') ?? []) {
    unmark(control);
  }
}

function unmark(control) {
  control.removeAttribute("aria-invalid");
  control.closest(".field")?.classList.remove("invalid");
}

// A field the person changes is no longer the one in the error.
document.addEventListener("input", (event) => {
  if (event.target?.getAttribute?.("aria-invalid") === "true") unmark(event.target);
});
document.addEventListener("change", (event) => {
  if (event.target?.getAttribute?.("aria-invalid") === "true") unmark(event.target);
});

/** The server's upload limit in bytes, as the page publishes it (0: not published). */
export function uploadLimit() {
  return Number(document.body?.dataset.maxUploadBytes) || 0;
}

/** BYTES in MiB: "25 MiB", "30.5 MiB"; never rounded to the limit it exceeds. */
export function formatMiB(bytes, { over = 0 } = {}) {
  const mib = bytes / (1024 * 1024);
  for (const digits of [1, 2, 3]) {
    const text = Number(mib.toFixed(digits));
    if (!over || text * 1024 * 1024 > over) return `${text.toLocaleString("en")} MiB`;
  }
  return `${mib} MiB`;
}

/**
 * The first file of FORM over the upload limit, refused as the server would refuse it (the
 * same words: `<name> is N bytes; the limit is N bytes`), before anything is sent.
 */
function checkSizes(form) {
  const limit = uploadLimit();
  if (!limit) return;
  for (const input of form.querySelectorAll('input[type="file"]')) {
    const files = [...(input.files || [])];
    files.forEach((file, i) => {
      if (file.size <= limit) return;
      const name = input.multiple ? `${input.name}[${i}]` : input.name;
      const bytes = (n) => n.toLocaleString("en");
      const error = new ApiError(
        413,
        "Content Too Large",
        `${name} is ${bytes(file.size)} bytes; the limit is ${bytes(limit)} bytes`,
      );
      error.local = true;
      throw error;
    });
  }
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

/** A status line with a progress bar: "Uploading… 42%". */
function progressLine(label, fraction) {
  const fragment = document.createDocumentFragment();
  fragment.append(label);
  if (fraction !== undefined) {
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = Math.round(fraction * 100);
    bar.setAttribute("aria-label", label);
    fragment.append(" ", bar, ` ${Math.round(fraction * 100)}%`);
  }
  return fragment;
}

/**
 * Run WORK(ui) when FORM is submitted, instead of the browser's own submission: files over the
 * server's limit are refused first (nothing is sent), the button is disabled and spins while
 * it runs, ui.progress(event) shows upload progress, and an error is shown in the form's .error
 * box in words. The result section named by the form's data-result attribute is dimmed and
 * inert (its links and buttons do nothing) while the work runs, and hidden after an error, so
 * an old result does not pass for the new one's.
 */
export function onSubmit(form, work) {
  const button = form.querySelector('button[type="submit"]');
  const status = form.querySelector(".status");
  const errorBox = form.querySelector(".error");
  const result = form.dataset.result ? document.getElementById(form.dataset.result) : null;
  const ui = {
    status(text) {
      status.replaceChildren(text);
    },
    progress(event) {
      if (event.phase === "upload") {
        ui.status(progressLine("Uploading…", event.total ? event.loaded / event.total : 0));
      } else {
        ui.status("Processing on the server…");
      }
    },
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.classList.contains("busy")) return;
    clearError(errorBox);
    try {
      checkSizes(form);
    } catch (error) {
      ui.status("");
      showError(errorBox, error);
      return;
    }
    form.classList.add("busy");
    form.setAttribute("aria-busy", "true");
    button.disabled = true;
    result?.classList.add("stale");
    result?.setAttribute("aria-busy", "true");
    if (result) result.inert = true;
    ui.status("Sending…");
    try {
      await work(ui);
    } catch (error) {
      ui.status("");
      if (result) result.hidden = true;
      showError(errorBox, error);
      if (!(error instanceof ApiError)) console.error(error);
    } finally {
      form.classList.remove("busy");
      form.removeAttribute("aria-busy");
      button.disabled = false;
      result?.classList.remove("stale");
      result?.removeAttribute("aria-busy");
      if (result) result.inert = false;
    }
  });
}

// The API key field in the header of every page.
function setUpKeyField() {
  const input = document.getElementById("api-key");
  const box = document.getElementById("api-key-box");
  if (!input || input.dataset.ready) return;
  input.dataset.ready = "1";
  input.value = apiKey();
  box?.classList.toggle("set", Boolean(apiKey()));
  input.addEventListener("input", () => {
    saveApiKey(input.value);
    box?.classList.toggle("set", Boolean(apiKey()));
  });
  // pages that load by themselves (the captions gallery) load again with the new key
  input.addEventListener("change", () => document.dispatchEvent(new Event("pixelmill:api-key")));
  // Enter in the field closes the box instead of submitting anything
  input.form?.addEventListener("submit", (event) => {
    event.preventDefault();
    if (box) box.open = false;
  });
}

// Every file field: a drop zone, and a thumbnail of each chosen file as soon as it is chosen
// (a neutral card with its name and size when the browser cannot show the format, as TIFF).
function setUpFileFields() {
  const inputs = document.querySelectorAll('input[type="file"]');
  for (const input of inputs) {
    if (input.dataset.ready) continue;
    input.dataset.ready = "1";
    const zone = document.createElement("div");
    zone.className = "dropzone";
    input.before(zone);
    const hint = document.createElement("p");
    hint.className = "drop-hint";
    const limit = uploadLimit();
    hint.textContent = `or drop ${input.multiple ? "images" : "an image"} here${limit ? ` · up to ${formatMiB(limit)} each` : ""}`;
    const chosen = document.createElement("ul");
    chosen.className = "chosen";
    chosen.setAttribute("aria-live", "polite");
    zone.append(input, hint, chosen);
    input.addEventListener("change", () => showChosen(input, chosen));
    zone.addEventListener("dragover", (event) => {
      if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const dropped = [...(event.dataTransfer?.files || [])];
      if (!dropped.length) return;
      const files = new DataTransfer();
      for (const file of input.multiple ? dropped : dropped.slice(0, 1)) files.items.add(file);
      input.files = files.files;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }
  if (inputs.length) {
    // a file dropped beside a zone is not opened in place of the page
    document.addEventListener("dragover", (event) => event.preventDefault());
    document.addEventListener("drop", (event) => event.preventDefault());
  }
}

const shownFiles = new WeakMap(); // list -> object URLs of its thumbnails

function showChosen(input, list) {
  for (const url of shownFiles.get(list) || []) URL.revokeObjectURL(url);
  const urls = [];
  const limit = uploadLimit();
  list.replaceChildren(
    ...[...(input.files || [])].map((file) => {
      const item = document.createElement("li");
      const thumb = document.createElement("span");
      thumb.className = "thumb";
      const url = URL.createObjectURL(file);
      urls.push(url);
      const img = document.createElement("img");
      img.alt = "";
      img.decoding = "async";
      img.addEventListener("error", () => thumb.replaceChildren(placeholder(file)), { once: true });
      img.src = url;
      thumb.append(img);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = file.name;
      const size = document.createElement("span");
      size.className = "size";
      size.textContent = formatBytes(file.size);
      if (limit && file.size > limit) {
        item.classList.add("too-large");
        size.textContent += ` · over the ${formatMiB(limit)} limit`;
      }
      item.append(thumb, name, size);
      return item;
    }),
  );
  shownFiles.set(list, urls);
}

function placeholder(file) {
  const card = document.createElement("span");
  card.className = "placeholder";
  const extension = /\.([^.]+)$/.exec(file.name)?.[1] || file.type.split("/")[1] || "file";
  card.textContent = extension.toUpperCase().slice(0, 5);
  card.title = "No preview in this browser";
  return card;
}

setUpKeyField();
setUpFileFields();
