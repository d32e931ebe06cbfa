// What every page of the pixelmill UI shares: the API key, requests to the API (uploads with
// progress), showing progress and errors. A plain ES module: no build step, nothing from
// outside. Each page's module imports it; base.html loads it too, for the API key field.

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

/** The readable form of an error: a status line, then the detail (a list becomes a list). */
export function renderError(error) {
  const fragment = document.createDocumentFragment();
  const head = document.createElement("p");
  const detail = error instanceof ApiError ? error.detail : String(error?.message || error);
  if (error instanceof ApiError && error.status) {
    const code = document.createElement("span");
    code.className = "status-code";
    code.textContent = `${error.status}${error.statusText ? " " + error.statusText : ""}: `;
    head.append(code);
  }
  if (Array.isArray(detail)) {
    head.append(detail.length === 1 ? "the request is not valid:" : "the request has problems:");
    const list = document.createElement("ul");
    for (const item of detail) list.append(validationItem(item));
    fragment.append(head, list);
  } else {
    const text = typeof detail === "string" ? detail : JSON.stringify(detail);
    head.append(text);
    fragment.append(head);
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

const LOCATIONS = new Set(["body", "query", "path", "header", "cookie"]);

function validationItem(item) {
  const li = document.createElement("li");
  if (item && typeof item === "object") {
    const loc = Array.isArray(item.loc) ? item.loc.filter((part, i) => !(i === 0 && LOCATIONS.has(part))) : [];
    if (loc.length) {
      const where = document.createElement("code");
      where.textContent = loc.join(".");
      li.append(where, ": ");
    }
    li.append(item.msg ?? JSON.stringify(item));
  } else {
    li.textContent = String(item);
  }
  return li;
}

export function showError(box, error) {
  box.replaceChildren(renderError(error));
  box.hidden = false;
}

export function clearError(box) {
  box.replaceChildren();
  box.hidden = true;
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
 * Run WORK(ui) when FORM is submitted, instead of the browser's own submission: the button is
 * disabled and spins while it runs, ui.progress(event) shows upload progress, and an error is
 * shown in the form's .error box as the API's detail; the result section named by the form's
 * data-result attribute is hidden then, so an old result does not pass for the new one's.
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
    form.classList.add("busy");
    form.setAttribute("aria-busy", "true");
    button.disabled = true;
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

setUpKeyField();
