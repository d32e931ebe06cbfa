// Transform page: POST /v1/transform in place; an image answer is shown over the original
// with a divider to drag (before on its left, after on its right), a ZIP (a chain that
// splits) is offered for download with the number of files in it. The chips add a step to
// the chain.
import { formatBytes, formData, onSubmit, upload } from "./app.js";

const form = document.getElementById("transform-form");
const result = document.getElementById("transform-result");
const meta = document.getElementById("transform-meta");
const preview = document.getElementById("transform-preview");
const image = document.getElementById("transform-image");
const download = document.getElementById("transform-download");
const before = document.getElementById("transform-before");
const frame = document.getElementById("transform-compare");
const divider = document.getElementById("transform-divider");
const ops = document.getElementById("transform-ops");
const chips = document.getElementById("transform-chips");
const EXTENSIONS = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/webp": "webp",
  "image/avif": "avif",
  "image/gif": "gif",
  "application/zip": "zip",
};
let shown = null;
let original = null; // object URL of the chosen file: the "before"

chips.hidden = false;
chips.addEventListener("click", (event) => {
  const chip = event.target.closest("button.chip");
  if (!chip) return;
  const chain = ops.value.trim().replace(/,\s*$/, "");
  ops.value = chain ? `${chain}, ${chip.dataset.step}` : chip.dataset.step;
  ops.dispatchEvent(new Event("input", { bubbles: true }));
  ops.focus();
});

form.elements.file.addEventListener("change", () => {
  if (original) URL.revokeObjectURL(original);
  const file = form.elements.file.files[0];
  original = file ? URL.createObjectURL(file) : null;
});

function moveDivider() {
  frame.style.setProperty("--position", `${divider.value}%`);
  divider.setAttribute("aria-valuetext", `${divider.value}% before, ${100 - divider.value}% after`);
}
divider.addEventListener("input", moveDivider);
moveDivider();

/** The before image, when the browser can show the chosen file; else only the result. */
async function showBefore(width, height) {
  let comparable = false;
  if (original) {
    before.src = original;
    comparable = await before.decode().then(
      () => true,
      () => false,
    );
  }
  frame.classList.toggle("comparing", comparable);
  if (!comparable) before.removeAttribute("src");
  // the frame takes the result's proportions; the original is fitted into it
  const widest = Math.max(width, comparable ? before.naturalWidth : 0);
  frame.style.aspectRatio = `${width} / ${height}`;
  frame.style.width = `${widest}px`;
}

onSubmit(form, async (ui) => {
  const file = form.elements.file.files[0];
  const stem = (file?.name || "image").replace(/\.[^.]*$/, "") || "image";
  const started = performance.now();
  const data = formData(form);
  for (const name of ["format", "quality"]) if (!data.get(name)) data.delete(name); // left empty: the default
  const answer = await upload("/v1/transform", data, {
    accept: "image/png, image/jpeg, image/webp, image/avif, image/gif, application/zip",
    onProgress: ui.progress,
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  if (shown) URL.revokeObjectURL(shown);
  shown = URL.createObjectURL(answer.blob);
  const extension = EXTENSIONS[answer.contentType] || "bin";
  const name = attachmentName(answer.header("Content-Disposition")) || `${stem}_transformed.${extension}`;
  download.href = shown;
  download.download = name;

  if (answer.contentType === "application/zip") {
    preview.hidden = true;
    image.removeAttribute("src");
    const count = await zipEntries(answer.blob);
    const files = count === null ? "" : `${count} image${count === 1 ? "" : "s"} · `;
    meta.textContent = `ZIP archive · ${files}${formatBytes(answer.blob.size)} · ${seconds} s`;
    download.textContent = `Download ${name}`;
  } else {
    image.src = shown;
    await image.decode().catch(() => {});
    await showBefore(image.naturalWidth, image.naturalHeight);
    preview.hidden = false;
    meta.textContent = `${image.naturalWidth}×${image.naturalHeight} px · ${extension.toUpperCase()} · ${formatBytes(answer.blob.size)} · ${seconds} s`;
    download.textContent = `Download ${name}`;
  }
  result.hidden = false;
  ui.status(`Done in ${seconds} s.`);
  result.scrollIntoView({ behavior: "smooth", block: "nearest" });
});

function attachmentName(disposition) {
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(disposition || "");
  if (encoded) return decodeURIComponent(encoded[1]);
  const match = /filename="?([^";]+)"?/i.exec(disposition || "");
  return match ? match[1] : null;
}

// The entry count from the ZIP's end-of-central-directory record (its last 22 bytes when the
// archive has no comment, which pixelmill's never do).
async function zipEntries(blob) {
  if (blob.size < 22) return null;
  const tail = new DataView(await blob.slice(blob.size - 22).arrayBuffer());
  return tail.getUint32(0, true) === 0x06054b50 ? tail.getUint16(10, true) : null;
}
