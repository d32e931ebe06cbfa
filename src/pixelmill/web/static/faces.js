// Faces page: POST /api/v1/images, and the live feed of the websocket /faces, where every
// processed image (from any client) appears without a reload. The socket reconnects by itself.
import {
  ApiError,
  apiKey,
  deliveredImage,
  formatTime,
  formData,
  imageURL,
  linkedImage,
  onSubmit,
  upload,
} from "./app.js";

const form = document.getElementById("faces-form");
const feed = document.getElementById("feed");
const empty = document.getElementById("feed-empty");
const state = document.getElementById("feed-state");
const KEEP = 50; // results kept in the feed
const PING_MS = 25000;
const mine = new Map(); // id of an upload from this page -> its status function

onSubmit(form, async (ui) => {
  const answer = await upload("/api/v1/images", formData(form), { accept: "application/json", onProgress: ui.progress });
  const body = JSON.parse(await answer.blob.text());
  const line = `Queued as ${body.id.slice(0, 8)}…; the result appears in the feed below.`;
  ui.status(line);
  mine.set(body.id, ui.status);
  form.reset();
});

function add(event) {
  const node = document.createElement("li");
  node.className = "new";
  node.dataset.id = event.id;
  node.dataset.faces = String(event.faces);
  const faces = Number(event.faces) || 0;
  const label = `${faces} face${faces === 1 ? "" : "s"}`;
  node.innerHTML =
    '<div class="thumb">loading…</div><div class="body"><span class="badge faces"></span>' +
    '<p class="description"></p><time class="when"></time></div>';
  node.querySelector(".badge").textContent = label;
  const size = event.width && event.height ? `${event.width}×${event.height}` : "";
  node.querySelector(".description").textContent = [size, mine.has(event.id) ? "your upload" : ""].filter(Boolean).join(" · ");
  const when = node.querySelector(".when");
  when.dateTime = event.stored_at || event.created_at || "";
  when.textContent = when.dateTime ? formatTime(when.dateTime) : "";
  feed.prepend(node);
  empty.hidden = true;

  const report = mine.get(event.id);
  if (report) {
    report(`Done: ${label} found.`);
    mine.delete(event.id);
  }

  while (feed.children.length > KEEP) {
    const last = feed.lastElementChild;
    const img = last.querySelector("img");
    if (img) URL.revokeObjectURL(img.src);
    last.remove();
  }

  const thumb = node.querySelector(".thumb");
  const alt = `Photo with ${label} boxed`;
  if (event.images) {
    thumb.replaceChildren(deliveredImage(event.images, alt));
    return;
  }
  imageURL(event.url)
    .then((url) => thumb.replaceChildren(linkedImage(url, alt)))
    .catch((error) => {
      thumb.textContent = error instanceof ApiError ? error.message : "image unavailable";
    });
}

function show(kind, text) {
  state.dataset.state = kind;
  state.querySelector(".label").textContent = text;
}

let delay = 1000;
function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // Browsers cannot set headers on a websocket: the API key travels as ?api_key=.
  const key = apiKey();
  const query = key ? `?api_key=${encodeURIComponent(key)}` : "";
  const socket = new WebSocket(`${scheme}//${location.host}/faces${query}`);
  let ping = null;
  show("connecting", "connecting…");
  socket.addEventListener("open", () => {
    delay = 1000;
    show("connected", "live");
    ping = setInterval(() => socket.send("ping"), PING_MS);
  });
  socket.addEventListener("message", (message) => {
    if (message.data === "pong") return;
    try {
      add(JSON.parse(message.data));
    } catch (error) {
      console.error("faces feed: unreadable message", error);
    }
  });
  socket.addEventListener("close", (event) => {
    clearInterval(ping);
    const seconds = Math.round(delay / 1000);
    const why = event.code === 1013 ? "the server is full" : "disconnected";
    show("closed", `${why}; reconnecting in ${seconds} s…`);
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  });
}

connect();
