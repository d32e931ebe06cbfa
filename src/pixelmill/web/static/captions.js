// Captions page: POST /api/images (202), then the gallery of GET /api/images, polled every
// second while an item is queued or processing (a third of that while this page's own upload
// is, so its "Stored ✓" and the time it took come promptly), every 15 s otherwise (while the
// tab is visible). Each card's picture box keeps its size whatever arrives in it.
import {
  ApiError,
  clearError,
  deliveredImage,
  formatTime,
  formData,
  getJSON,
  imageURL,
  linkedImage,
  onSubmit,
  showError,
  upload,
} from "./app.js";

const form = document.getElementById("captions-form");
const description = document.getElementById("caption-description");
const counter = document.getElementById("caption-count");
const gallery = document.getElementById("gallery");
const empty = document.getElementById("gallery-empty");
const state = document.getElementById("gallery-state");
const galleryError = document.getElementById("gallery-error");
const PAGE = 48;
const FAST = 1000;
const FASTER = 300;
const SLOW = 15000;
const images = new Map(); // id -> object URL of its stored image
const mine = new Map(); // id of an upload from this page -> {started, status}
let timer = null;

function count() {
  const max = Number(counter.dataset.max);
  const used = [...description.value].length;
  counter.textContent = `${used} / ${max} characters`;
}
description.addEventListener("input", count);
count();

onSubmit(form, async (ui) => {
  const answer = await upload("/api/images", formData(form), { accept: "application/json", onProgress: ui.progress });
  const body = JSON.parse(await answer.blob.text());
  ui.status(`Queued as ${body.id.slice(0, 8)}…; it appears in the gallery when stored.`);
  mine.set(body.id, { started: performance.now(), status: ui.status });
  form.reset();
  count();
  await refresh();
});

document.getElementById("gallery-refresh").addEventListener("click", () => refresh());

async function refresh() {
  clearTimeout(timer);
  let pending = false;
  try {
    const { data, response } = await getJSON(`/api/images?limit=${PAGE}`);
    clearError(galleryError);
    pending = data.some((item) => item.status === "queued" || item.status === "processing");
    render(data);
    settle(data);
    const total = Number(response.headers.get("X-Total-Count") ?? data.length);
    const waiting = data.filter((item) => item.status === "queued" || item.status === "processing").length;
    state.textContent =
      `${total} image${total === 1 ? "" : "s"}` +
      (total > data.length ? `, the newest ${data.length} shown` : "") +
      (waiting ? ` · ${waiting} in progress` : "");
  } catch (error) {
    showError(galleryError, error);
    if (!(error instanceof ApiError)) console.error(error);
  }
  timer = setTimeout(refresh, mine.size ? FASTER : pending ? FAST : SLOW);
}

/** This page's uploads that are done: "Stored ✓" with the time it took, or why it failed. */
function settle(items) {
  for (const item of items) {
    const upload = mine.get(item.id);
    if (!upload || item.status === "queued" || item.status === "processing") continue;
    mine.delete(item.id);
    if (item.status === "stored") {
      const seconds = ((performance.now() - upload.started) / 1000).toFixed(1);
      const done = document.createElement("span");
      done.className = "done";
      done.textContent = "Stored ✓";
      const line = document.createDocumentFragment();
      const text = [...item.description];
      const named = text.length > 40 ? `${text.slice(0, 39).join("")}…` : item.description;
      line.append(done, ` in ${seconds} s: “${named}”.`);
      upload.status(line);
    } else {
      upload.status(`Failed${item.error ? `: ${item.error}` : ""}.`);
    }
  }
}

function render(items) {
  const seen = new Set();
  let previous = null;
  for (const item of items) {
    seen.add(item.id);
    let node = gallery.querySelector(`li[data-id="${CSS.escape(item.id)}"]`);
    if (!node) node = card(item);
    update(node, item);
    // keep the server's order (newest first) without rebuilding the nodes
    const wanted = previous ? previous.nextElementSibling : gallery.firstElementChild;
    if (wanted !== node) gallery.insertBefore(node, wanted);
    previous = node;
  }
  for (const node of [...gallery.children]) {
    if (!seen.has(node.dataset.id)) {
      const url = images.get(node.dataset.id);
      if (url) URL.revokeObjectURL(url);
      images.delete(node.dataset.id);
      node.remove();
    }
  }
  empty.hidden = items.length > 0;
}

function card(item) {
  const node = document.createElement("li");
  node.dataset.id = item.id;
  node.innerHTML =
    '<div class="thumb"></div><div class="body"><span class="badge"></span>' +
    '<p class="description"></p><time class="when"></time></div>';
  node.querySelector(".description").textContent = item.description;
  const when = node.querySelector(".when");
  when.dateTime = item.received_at;
  when.textContent = formatTime(item.received_at);
  return node;
}

function update(node, item) {
  if (node.dataset.status === item.status) return;
  node.dataset.status = item.status;
  const badge = node.querySelector(".badge");
  badge.className = `badge ${item.status}`;
  badge.textContent = item.status;
  const thumb = node.querySelector(".thumb");
  if (item.status === "stored") {
    showImage(thumb, item);
  } else if (item.status === "failed") {
    thumb.textContent = item.error ? `failed: ${item.error}` : "failed";
  } else {
    thumb.textContent = `${item.status}…`;
  }
}

async function showImage(thumb, item) {
  const alt = `Captioned image: ${item.description}`;
  const sized = (link) => {
    // the picture's proportions before its pixels arrive
    const img = link.querySelector("img");
    if (item.width && item.height) {
      img.width = item.width;
      img.height = item.height;
    }
    return link;
  };
  if (item.images) {
    thumb.replaceChildren(sized(deliveredImage(item.images, alt)));
    return;
  }
  try {
    let url = images.get(item.id);
    if (!url) {
      url = await imageURL(item.url);
      images.set(item.id, url);
    }
    thumb.replaceChildren(sized(linkedImage(url, alt)));
  } catch (error) {
    thumb.textContent = error instanceof ApiError ? `image: ${error.message}` : "image unavailable";
  }
}

document.addEventListener("pixelmill:api-key", () => refresh());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refresh();
});
refresh();
