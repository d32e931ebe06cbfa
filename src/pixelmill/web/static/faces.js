// Faces page: POST /api/v1/images; the recent results from GET /api/v1/images when the page
// opens, then the live feed of the websocket /faces, where every processed image (from any
// client) appears without a reload. The socket opens first and its events wait until the list
// is shown, so nothing stored in between is missed; a result is shown once, by its id, however
// it arrives. After a reconnect the list is read again for what passed while the socket was
// down. Each thumbnail has its face boxes drawn over it (from the list, or the event's meta)
// at a width that does not shrink with the picture.
import {
  ApiError,
  apiKey,
  deliveredImage,
  formatTime,
  formData,
  getJSON,
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
const RECENT = 24; // results loaded when the page opens
const PING_MS = 25000;
const SVG = "http://www.w3.org/2000/svg";
const mine = new Map(); // id of an upload from this page -> its status function
const objectURLs = new Map(); // id -> object URL of its image (no signed URLs)
let waiting = []; // events that came before the list was shown
let listed = false;

onSubmit(form, async (ui) => {
  const answer = await upload("/api/v1/images", formData(form), { accept: "application/json", onProgress: ui.progress });
  const body = JSON.parse(await answer.blob.text());
  const started = performance.now();
  ui.status(`Queued as ${body.id.slice(0, 8)}…; the result appears in the feed below.`);
  mine.set(body.id, (label) => {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const done = document.createElement("span");
    done.className = "done";
    done.textContent = "Stored ✓";
    const line = document.createDocumentFragment();
    line.append(done, ` ${label} found, in ${seconds} s.`);
    ui.status(line);
  });
  form.reset();
  if (feed.querySelector(`li[data-id="${CSS.escape(body.id)}"]`)) report(body.id);
});

function report(id) {
  const node = feed.querySelector(`li[data-id="${CSS.escape(id)}"]`);
  const done = mine.get(id);
  if (!node || !done) return;
  mine.delete(id);
  done(node.querySelector(".badge").textContent);
}

/** Show RESULT (a list item or a /faces event) once, in its place: newest upload first. */
function show(result, live) {
  if (feed.querySelector(`li[data-id="${CSS.escape(result.id)}"]`)) return;
  const node = document.createElement("li");
  if (live) node.className = "new";
  node.dataset.id = result.id;
  node.dataset.at = String(Date.parse(result.created_at) || Date.now());
  node.dataset.faces = String(result.faces);
  const faces = Number(result.faces) || 0;
  const label = `${faces} face${faces === 1 ? "" : "s"}`;
  node.innerHTML =
    '<div class="thumb">loading…</div><div class="body"><span class="badge faces"></span>' +
    '<p class="description"></p><p class="filename"></p><time class="when"></time></div>';
  node.querySelector(".badge").textContent = label;
  const size = result.width && result.height ? `${result.width}×${result.height}` : "";
  node.querySelector(".description").textContent = [size, mine.has(result.id) ? "your upload" : ""].filter(Boolean).join(" · ");
  node.querySelector(".filename").textContent = result.filename || "";
  const when = node.querySelector(".when");
  when.dateTime = result.stored_at || result.created_at || "";
  when.textContent = when.dateTime ? formatTime(when.dateTime) : "";
  const after = [...feed.children].find((other) => Number(other.dataset.at) < Number(node.dataset.at));
  feed.insertBefore(node, after || null);
  empty.hidden = true;
  report(result.id);

  while (feed.children.length > KEEP) {
    const last = feed.lastElementChild;
    const url = objectURLs.get(last.dataset.id);
    if (url) URL.revokeObjectURL(url);
    objectURLs.delete(last.dataset.id);
    last.remove();
  }
  picture(node.querySelector(".thumb"), result, `Photo with ${label} boxed`);
  if (Array.isArray(result.boxes)) {
    drawBoxes(node, result, result.boxes);
  } else if (faces > 0 && result.meta_url) {
    getJSON(result.meta_url)
      .then(({ data }) => {
        drawBoxes(node, result, data.faces || []);
        if (data.filename) node.querySelector(".filename").textContent = data.filename;
      })
      .catch((error) => console.warn("faces feed: no boxes for", result.id, error.message));
  }
}

function picture(thumb, result, alt) {
  const placed = (link) => {
    const img = link.querySelector("img");
    // the picture's proportions before its pixels arrive
    if (result.width && result.height) {
      img.width = result.width;
      img.height = result.height;
    }
    const boxes = thumb.querySelector("svg.boxes"); // drawn before the picture came
    thumb.replaceChildren(link);
    if (boxes) thumb.append(boxes);
  };
  if (result.images) {
    placed(deliveredImage(result.images, alt));
    return;
  }
  imageURL(result.url)
    .then((url) => {
      objectURLs.set(result.id, url);
      placed(linkedImage(url, alt));
    })
    .catch((error) => {
      thumb.textContent = error instanceof ApiError ? error.message : "image unavailable";
    });
}

/** The boxes (in the image's pixels) over the thumbnail, where object-fit: contain puts it. */
function drawBoxes(node, result, boxes) {
  if (!result.width || !result.height || !boxes.length) return;
  const svg = document.createElementNS(SVG, "svg");
  svg.classList.add("boxes");
  svg.setAttribute("viewBox", `0 0 ${result.width} ${result.height}`);
  svg.setAttribute("aria-hidden", "true");
  for (const box of boxes) {
    for (const kind of ["halo", "box"]) {
      const rect = document.createElementNS(SVG, "rect");
      rect.classList.add(kind);
      for (const name of ["x", "y", "width", "height"]) rect.setAttribute(name, box[name]);
      svg.append(rect);
    }
  }
  node.querySelector(".thumb").append(svg);
}

/** The recent stored results, each in its place (those shown already are kept). */
async function recent(live) {
  try {
    const { data } = await getJSON(`/api/v1/images?status=stored&limit=${RECENT}`);
    for (const item of data) show(item, live);
  } catch (error) {
    console.warn("faces feed: the recent results could not be loaded:", error.message);
  }
}

/** The recent results when the page opens; then the events that waited for them. */
async function loadRecent() {
  await recent(false);
  listed = true;
  empty.textContent = "No results yet: they appear here as they are processed.";
  empty.hidden = feed.children.length > 0;
  const early = waiting;
  waiting = [];
  for (const event of early) show(event, true);
}

function setState(kind, text) {
  state.dataset.state = kind;
  state.querySelector(".label").textContent = text;
}

let delay = 1000;
let connectedBefore = false;
function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // Browsers cannot set headers on a websocket: the API key travels as ?api_key=.
  const key = apiKey();
  const query = key ? `?api_key=${encodeURIComponent(key)}` : "";
  const socket = new WebSocket(`${scheme}//${location.host}/faces${query}`);
  let ping = null;
  setState("connecting", "connecting…");
  socket.addEventListener("open", () => {
    delay = 1000;
    setState("connected", "live");
    ping = setInterval(() => socket.send("ping"), PING_MS);
    if (connectedBefore && listed) recent(true); // what passed while the socket was down
    connectedBefore = true;
  });
  socket.addEventListener("message", (message) => {
    if (message.data === "pong") return;
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (error) {
      console.error("faces feed: unreadable message", error);
      return;
    }
    if (listed) show(event, true);
    else waiting.push(event);
  });
  socket.addEventListener("close", (event) => {
    clearInterval(ping);
    const seconds = Math.round(delay / 1000);
    const why = event.code === 1013 ? "the server is full" : "disconnected";
    setState("closed", `${why}; reconnecting in ${seconds} s…`);
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  });
}

connect();
loadRecent();
document.addEventListener("pixelmill:api-key", () => listed && recent(true));
