// Transform page: POST /v1/transform in place; an image answer is previewed, a ZIP (a chain
// that splits) is offered for download with the number of files in it.
import { formatBytes, formData, onSubmit, upload } from "./app.js";

const form = document.getElementById("transform-form");
const result = document.getElementById("transform-result");
const meta = document.getElementById("transform-meta");
const preview = document.getElementById("transform-preview");
const image = document.getElementById("transform-image");
const download = document.getElementById("transform-download");
const EXTENSIONS = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/webp": "webp",
  "image/avif": "avif",
  "image/gif": "gif",
  "application/zip": "zip",
};
let shown = null;

onSubmit(form, async (ui) => {
  const file = form.elements.file.files[0];
  const stem = (file?.name || "image").replace(/\.[^.]*$/, "") || "image";
  const started = performance.now();
  const answer = await upload("/v1/transform", formData(form), {
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
