// OCR page: POST /ocr in place (Accept: application/json), then the text, the lines and their
// boxes drawn over the uploaded image. The boxes are in the upload's pixels, upright by its EXIF
// orientation as the browser shows it, even when the page was read turned (`rotation`): they
// land on the image as shown. A file the browser cannot show (TIFF, HEIC, AVIF, BMP, ...) is
// shown by its preview from POST /api/preview (PNG or WebP, at most 1,600 px long, upright):
// the boxes' viewBox is the upload's size, stretched over the picture, so they scale with it
// whatever its pixels and whatever the window's width.
import { ApiError, formData, onSubmit, upload } from "./app.js";

const form = document.getElementById("ocr-form");
const result = document.getElementById("ocr-result");
const meta = document.getElementById("ocr-meta");
const text = document.getElementById("ocr-text");
const image = document.getElementById("ocr-image");
const boxes = document.getElementById("ocr-boxes");
const rows = document.querySelector("#ocr-lines tbody");
const copy = document.getElementById("ocr-copy");
const figure = document.getElementById("ocr-figure");
const SVG = "http://www.w3.org/2000/svg";
// what every browser shows as it is; anything else is shown by its preview
const SHOWN_AS_IS = new Set(["jpeg", "png", "gif", "webp"]);
let shown = null; // object URL of the image on display
let file = null; // the file the result is of, for a preview if the browser cannot show it

onSubmit(form, async (ui) => {
  const chosen = form.elements.file.files[0];
  const answer = await upload("/ocr", formData(form), { accept: "application/json", onProgress: ui.progress });
  const body = JSON.parse(await answer.blob.text());
  render(body);
  const lines = body.lines?.length ?? 0;
  ui.status(`Done: ${lines} line${lines === 1 ? "" : "s"} found.`);
  await picture(chosen, await shownAsIs(chosen, String(body.format)));
});

/** Whether browsers show FILE (of FORMAT, as the server read it) as it is: not a CMYK JPEG,
 * whose inks each browser turns into colours its own way, without the file's profile. */
async function shownAsIs(chosen, format) {
  if (!SHOWN_AS_IS.has(format)) return false;
  if (format !== "jpeg" || !chosen) return true;
  return jpegComponents(new Uint8Array(await chosen.slice(0, 256 * 1024).arrayBuffer())) !== 4;
}

/** The number of colour components in a JPEG's frame header (SOFn), or 0 if not found. */
function jpegComponents(bytes) {
  let at = 2; // after SOI
  while (at + 9 < bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    const frame = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
    if (frame) return bytes[at + 9];
    at += 2 + length;
  }
  return 0;
}

/** Show FILE under the boxes: as it is when the browser shows its format, else its preview. */
async function picture(chosen, asIs) {
  file = chosen || null;
  figure.classList.remove("unavailable");
  if (!file) return;
  if (asIs) {
    display(URL.createObjectURL(file));
  } else {
    await showPreview();
  }
}

async function showPreview() {
  const chosen = file;
  const data = new FormData();
  data.append("file", chosen, chosen.name);
  figure.classList.add("loading");
  try {
    const answer = await upload("/api/preview", data, { accept: "image/webp, image/png" });
    if (chosen === file) display(URL.createObjectURL(answer.blob));
  } catch (error) {
    figure.classList.add("unavailable");
    figure.dataset.why = error instanceof ApiError ? error.message : "the picture could not be made";
    if (!(error instanceof ApiError)) console.error(error);
  } finally {
    figure.classList.remove("loading");
  }
}

function display(url) {
  if (shown) URL.revokeObjectURL(shown);
  shown = url;
  image.src = url;
  figure.hidden = false;
}

// a file whose name said JPEG or PNG but which the browser cannot show after all
image.addEventListener("error", () => {
  if (file && shown && !image.dataset.previewed) {
    image.dataset.previewed = "1";
    showPreview();
  }
});

function render(body) {
  const lines = Array.isArray(body.lines) ? body.lines : [];
  const facts = [
    body.filename,
    body.width && body.height ? `${body.width}×${body.height}` : null,
    body.format ? String(body.format).toUpperCase() : null,
    `${lines.length} line${lines.length === 1 ? "" : "s"}`,
    body.engine ? `engine: ${body.engine}` : null,
    body.rotation ? `turned ${body.rotation}° clockwise to read` : null,
    typeof body.elapsed_ms === "number" ? `${Math.round(body.elapsed_ms)} ms` : null,
  ];
  meta.textContent = facts.filter(Boolean).join(" · ");
  text.textContent = body.text && body.text.trim() ? body.text : "(no text found)";

  if (shown) URL.revokeObjectURL(shown);
  shown = null;
  image.removeAttribute("src");
  delete image.dataset.previewed;
  // the picture's box takes the upload's proportions before any pixel arrives
  image.width = body.width || 1;
  image.height = body.height || 1;
  figure.hidden = false;
  boxes.setAttribute("viewBox", `0 0 ${body.width || 1} ${body.height || 1}`);
  boxes.setAttribute("preserveAspectRatio", "none");
  boxes.replaceChildren();
  rows.replaceChildren();
  lines.forEach((line, i) => {
    const [x, y, w, h] = Array.isArray(line.box) ? line.box : [0, 0, 0, 0];
    const rect = document.createElementNS(SVG, "rect");
    for (const [name, value] of Object.entries({ x, y, width: w, height: h })) rect.setAttribute(name, value);
    boxes.append(rect);

    const row = document.createElement("tr");
    row.append(
      cell(String(i + 1), "num"),
      cell(line.text ?? "", "line"),
      cell(typeof line.confidence === "number" ? `${Math.round(line.confidence * 100)}%` : "–", "num"),
      boxCell(x, y, w, h),
    );
    const highlight = (on) => {
      rect.classList.toggle("active", on);
      row.classList.toggle("active", on);
    };
    row.addEventListener("mouseenter", () => highlight(true));
    row.addEventListener("mouseleave", () => highlight(false));
    rows.append(row);
  });
  result.hidden = false;
  result.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

function boxCell(x, y, w, h) {
  const td = cell("", "box");
  const at = document.createElement("span");
  at.textContent = `${x}, ${y}`;
  const size = document.createElement("span");
  size.textContent = `${w}×${h}`;
  td.append(at, " ", size);
  td.title = `x ${x}, y ${y}, width ${w}, height ${h}`;
  return td;
}

function cell(content, className) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = content;
  return td;
}

copy.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(text.textContent);
    copy.textContent = "Copied";
  } catch {
    // no clipboard (plain http off localhost): select the text for Ctrl+C instead
    getSelection().selectAllChildren(text);
    copy.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => (copy.textContent = "Copy text"), 2000);
});
