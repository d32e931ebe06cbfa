// Collage page: POST /process in place, then the PNG it answers.
import { formatBytes, formData, onSubmit, upload } from "./app.js";

const form = document.getElementById("collage-form");
const result = document.getElementById("collage-result");
const meta = document.getElementById("collage-meta");
const image = document.getElementById("collage-image");
const download = document.getElementById("collage-download");
let shown = null;

onSubmit(form, async (ui) => {
  const started = performance.now();
  const answer = await upload("/process", formData(form), { accept: "image/png", onProgress: ui.progress });
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  if (shown) URL.revokeObjectURL(shown);
  shown = URL.createObjectURL(answer.blob);
  image.src = shown;
  download.href = shown;
  await image.decode().catch(() => {});
  meta.textContent = `${image.naturalWidth}×${image.naturalHeight} px · PNG · ${formatBytes(answer.blob.size)} · ${seconds} s`;
  result.hidden = false;
  ui.status(`Done in ${seconds} s.`);
  result.scrollIntoView({ behavior: "smooth", block: "nearest" });
});
