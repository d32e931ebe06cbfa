"""Smart-crop benchmark: how often a face-aware cover crop keeps every face whole, pixelmill's
`gravity=face` against thumbor 7.8's `/unsafe/WxH/smart/...` with its face detector.

The set is composed from scikit-image's sample photos, so the face boxes are known exactly:
the astronaut's head (her face from hairline to chin is the ground truth), feathered into
`coffee` and `chelsea` enlarged to a landscape, a portrait and a square frame:

* one face near each edge and each corner (a little in from it) and in the middle;
* two faces apart, at a distance some crops can hold and some cannot;
* small faces in a big frame (2400 px long, the face 5% of its height).

Every scene is cropped to five cover boxes (landscape 300x200, portrait 200x300, square
250x250, wide 400x150, tall 150x400). A crop is *feasible* when one window of the box's aspect
ratio can hold every face; the figure is the share of feasible crops whose window holds every
face whole. pixelmill's window is `focus.origin` (what `fit=WxH:cover:face` cuts); thumbor's is
found by matching its output, scaled back, against the source (`cv2.matchTemplate`).

thumbor runs from its own virtual environment (bench/thumbor_peer.py's, with
``opencv-python-headless`` added for its detectors), with ``DETECTORS`` = its face detector,
then its feature detector when no face is found, as its documentation sets smart cropping up.

    .venv/bin/python bench/smartcrop.py [--quick] [--no-thumbor]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.report import Row, record, skipped  # noqa: E402

from pixelmill.imaging.ops import focus  # noqa: E402
from pixelmill.imaging.ops.geometry import FitParams, fit_plan  # noqa: E402

# The astronaut's head, cut from her 512x512 photo, and her face inside it (hairline to chin,
# ear to ear), read by eye.
HEAD = (130, 20, 320, 230)  # left, top, right, bottom in the photo
FACE = (176, 62, 272, 182)
BOXES = [(300, 200), (200, 300), (250, 250), (400, 150), (150, 400)]
FRAMES = {"landscape": (1500, 1000), "portrait": (900, 1350), "square": (1100, 1100)}
PLACES = {
    "west": (0.03, 0.5),
    "east": (0.97, 0.5),
    "north": (0.5, 0.03),
    "south": (0.5, 0.97),
    "northwest": (0.03, 0.03),
    "northeast": (0.97, 0.03),
    "southwest": (0.03, 0.97),
    "southeast": (0.97, 0.97),
    "middle": (0.5, 0.5),
    "off-centre": (0.25, 0.7),
}
# thumbor's detectors need OpenCV; 4.12.0 is what the figures were measured with
OPENCV = "opencv-python-headless<4.13"
GOAL = 0.99


@dataclass(frozen=True)
class Scene:
    """A composed photo and the boxes (left, top, right, bottom) of every face in it."""

    name: str
    image: np.ndarray
    faces: tuple[tuple[int, int, int, int], ...]


@functools.cache
def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def _background(name: str, size: tuple[int, int]) -> np.ndarray:
    """`coffee` or `chelsea`, cut to the frame's aspect ratio and enlarged to it."""
    from skimage import data

    photo = np.ascontiguousarray(getattr(data, name)()[:, :, ::-1])
    height, width = photo.shape[:2]
    window = fit_plan((width, height), FitParams(width=size[0], height=size[1])).window
    assert window is not None
    left, top = (width - window[0]) // 2, (height - window[1]) // 2
    cut = photo[top : top + window[1], left : left + window[0]]
    return cv2.resize(cut, size, interpolation=cv2.INTER_CUBIC)


def _paste(
    canvas: np.ndarray, face_height: int, at: tuple[float, float]
) -> tuple[int, int, int, int]:
    """The astronaut's head pasted (feathered) so that her face is `face_height` px tall and
    sits at `at` (fractions of the frame, held inside it); the face's box."""
    head = _astronaut()[HEAD[1] : HEAD[3], HEAD[0] : HEAD[2]]
    scale = face_height / (FACE[3] - FACE[1])
    head = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = head.shape[:2]
    face = [round((FACE[i] - HEAD[i % 2]) * scale) for i in range(4)]
    height, width = canvas.shape[:2]
    face_w, face_h = face[2] - face[0], face[3] - face[1]
    # the face's centre at `at`, the face itself inside the frame
    cx = min(max(at[0] * width, face_w / 2 + 2), width - face_w / 2 - 2)
    cy = min(max(at[1] * height, face_h / 2 + 2), height - face_h / 2 - 2)
    left = round(cx - (face[0] + face[2]) / 2)
    top = round(cy - (face[1] + face[3]) / 2)
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w / 40))[..., None]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + w), min(height, top + h)
    part = head[y0 - top : y1 - top, x0 - left : x1 - left].astype(np.float32)
    weight = mask[y0 - top : y1 - top, x0 - left : x1 - left]
    under = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.rint(part * weight + under * (1 - weight)).astype(np.uint8)
    return left + face[0], top + face[1], left + face[2], top + face[3]


def scenes(quick: bool = False) -> list[Scene]:
    """The composed set (`quick`: a fifth of it, every kind of scene still in)."""
    made: list[Scene] = []
    backgrounds = ["coffee"] if quick else ["coffee", "chelsea"]
    frames = {"landscape": FRAMES["landscape"]} if quick else FRAMES
    for background in backgrounds:
        for frame, size in frames.items():
            for place, at in PLACES.items():
                for share in (0.12,) if quick else (0.12, 0.2):
                    canvas = _background(background, size)
                    box = _paste(canvas, round(share * size[1]), at)
                    made.append(Scene(f"{background}-{frame}-{place}-{share}", canvas, (box,)))
            # two faces apart: side by side at several distances, and one above the other
            pairs = [
                ((0.2, 0.4), (0.8, 0.6)),
                ((0.35, 0.5), (0.65, 0.5)),
                ((0.1, 0.3), (0.45, 0.3)),
            ]
            pairs += [((0.5, 0.15), (0.5, 0.8)), ((0.3, 0.3), (0.6, 0.75))]
            for first, second in pairs[:2] if quick else pairs:
                canvas = _background(background, size)
                face_height = round(0.13 * size[1])
                boxes = (_paste(canvas, face_height, first), _paste(canvas, face_height, second))
                made.append(Scene(f"{background}-{frame}-two-{first}-{second}", canvas, boxes))
        # small faces in a big frame
        big = (2400, 1600)
        for place, at in list(PLACES.items())[:: 3 if quick else 1]:
            canvas = _background(background, big)
            box = _paste(canvas, round(0.05 * big[1]), at)
            made.append(Scene(f"{background}-big-{place}", canvas, (box,)))
    return made


def window_of(scene: Scene, box: tuple[int, int]) -> tuple[int, int]:
    height, width = scene.image.shape[:2]
    window = fit_plan((width, height), FitParams(width=box[0], height=box[1])).window
    assert window is not None
    return window


def feasible(scene: Scene, window: tuple[int, int]) -> bool:
    left = min(face[0] for face in scene.faces)
    top = min(face[1] for face in scene.faces)
    right = max(face[2] for face in scene.faces)
    bottom = max(face[3] for face in scene.faces)
    return right - left <= window[0] and bottom - top <= window[1]


def whole(scene: Scene, window: tuple[int, int], at: tuple[int, int]) -> bool:
    x, y = at
    return all(
        x <= face[0] and y <= face[1] and face[2] <= x + window[0] and face[3] <= y + window[1]
        for face in scene.faces
    )


# where a crop landed: its top-left corner (the window as planned), or its whole box
Placer = Callable[
    [Scene, tuple[int, int], tuple[int, int]],
    tuple[int, int] | tuple[int, int, int, int] | None,
]


@dataclass
class Tally:
    kept: int = 0
    feasible: int = 0
    missed: list[str] | None = None

    @property
    def share(self) -> float:
        return self.kept / self.feasible if self.feasible else 0.0


def measure(made: list[Scene], place: Placer) -> Tally:
    """The share of feasible crops whose window `place` puts over every face."""
    tally = Tally(missed=[])
    for scene in made:
        for box in BOXES:
            window = window_of(scene, box)
            if not feasible(scene, window):
                continue
            placed = place(scene, box, window)
            if placed is None:
                continue
            at = placed[:2]
            if len(placed) == 4:  # a crop of its own size (thumbor rounds up)
                window = (placed[2], placed[3])
            tally.feasible += 1
            if whole(scene, window, (at[0], at[1])):
                tally.kept += 1
            else:
                assert tally.missed is not None
                tally.missed.append(f"{scene.name} {box[0]}x{box[1]} at {at}")
    return tally


def ours(gravity: str) -> Placer:
    def place(scene: Scene, box: tuple[int, int], window: tuple[int, int]) -> tuple[int, int]:
        return focus.origin(scene.image, window, gravity)

    return place


@contextlib.contextmanager
def faces_found_once() -> Iterator[list[float]]:
    """`focus.faces_in` looks at each scene once, not once per box (the figure is about where
    the window lands; the seconds each look took are collected)."""
    real = focus.faces_in
    found: dict[int, list[focus.Box]] = {}
    seconds: list[float] = []

    def once(image: np.ndarray) -> list[focus.Box]:
        if id(image) not in found:
            began = time.perf_counter()
            found[id(image)] = real(image)
            seconds.append(time.perf_counter() - began)
        return found[id(image)]

    focus.faces_in = once  # type: ignore[assignment]
    try:
        yield seconds
    finally:
        focus.faces_in = real  # type: ignore[assignment]


# --------------------------------------------------------------------------- thumbor


def thumbor_placer(url: str, folder: Path) -> Placer:
    """thumbor's smart crop of each scene (written once as a JPEG), found in the source."""
    client = httpx.Client(timeout=120)
    written: set[str] = set()

    def place(
        scene: Scene, box: tuple[int, int], window: tuple[int, int]
    ) -> tuple[int, int, int, int] | None:
        name = f"{scene.name}.jpg".replace(" ", "").replace("(", "").replace(")", "")
        name = name.replace(",", "_")
        if name not in written:
            cv2.imwrite(str(folder / name), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            written.add(name)
        response = client.get(f"{url}/unsafe/{box[0]}x{box[1]}/smart/{name}")
        if response.status_code != 200:
            print(f"thumbor answered {response.status_code} for {name}", flush=True)
            return None
        out = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        height, width = scene.image.shape[:2]
        theirs = thumbor_window((width, height), box)
        return (*locate(scene.image, out, theirs), *theirs)

    return place


def thumbor_window(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The part of the image thumbor 7.8 crops before scaling (transformer.auto_crop): the
    short side rounded, the long one rounded up."""
    width, height = size
    if box[0] / width > box[1] / height:
        return width, round(width * box[1] / box[0])
    return math.ceil(box[0] * height / box[1]), height


def locate(source: np.ndarray, out: np.ndarray, window: tuple[int, int]) -> tuple[int, int]:
    """Where `out` (a crop of `source` of `window`'s size, scaled) was cut. The crop spans
    the whole image one way, so one coordinate is free: found coarsely by matching `out`
    against a quarter-size source, then exactly by scaling each candidate crop within 12 px
    of it to `out`'s size and keeping the one nearest `out`."""
    gray = cv2.cvtColor(source, cv2.COLOR_BGR2GRAY)
    target = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.float32)
    height, width = gray.shape
    small = cv2.resize(gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    size = (small.shape[1] - (width - window[0]) // 4, small.shape[0] - (height - window[1]) // 4)
    template = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
    scores = cv2.matchTemplate(small, cv2.cvtColor(template, cv2.COLOR_BGR2GRAY), cv2.TM_CCOEFF)
    _, _, _, (cx, cy) = cv2.minMaxLoc(scores)
    free_x = window[0] < width
    start = (cx if free_x else cy) * 4
    last = (width - window[0]) if free_x else (height - window[1])
    best, found = float("inf"), (0, 0)
    for offset in range(max(0, start - 12), min(last, start + 12) + 1):
        x, y = (offset, 0) if free_x else (0, offset)
        crop = gray[y : y + window[1], x : x + window[0]]
        scaled = cv2.resize(crop, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
        difference = float(np.abs(scaled.astype(np.float32) - target).mean())
        if difference < best:
            best, found = difference, (x, y)
    return found


@contextlib.contextmanager
def thumbor_server(images: Path, work: Path) -> Iterator[str]:
    from bench.thumbor_peer import Server, running, thumbor_conf, thumbor_venv
    from tests.server import free_port

    venv = thumbor_venv()
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", OPENCV]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pip install {OPENCV} into thumbor's venv failed: {done.stderr}")
    conf = thumbor_conf(work, images)
    with conf.open("a") as extra:
        extra.write(
            "DETECTORS = ['thumbor.detectors.face_detector', "
            "'thumbor.detectors.feature_detector']\n"
        )
    port = free_port()
    command = [str(venv / "bin" / "thumbor"), "--ip", "127.0.0.1", "--conf", str(conf)]
    server = Server("thumbor", [*command, "--port", str(port), "-l", "warning"], {},
                    "/healthcheck", work / "thumbor.log", port)  # fmt: skip
    with running(server):
        yield server.url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of the set")
    parser.add_argument("--no-thumbor", action="store_true", help="pixelmill only")
    parser.add_argument("--thumbor-only", action="store_true", help="thumbor only (no figure)")
    args = parser.parse_args()
    made = scenes(args.quick)
    print(f"{len(made)} scenes, {len(BOXES)} cover boxes each", flush=True)
    figure = "face-aware cover crops keeping every face whole (share of feasible crops)"
    if args.thumbor_only:
        with tempfile.TemporaryDirectory(prefix="pixelmill-smartcrop-") as tmp:
            images = Path(tmp) / "images"
            images.mkdir()
            with thumbor_server(images, Path(tmp)) as url:
                theirs = measure(made, thumbor_placer(url, images))
        print(f"thumbor smart:   {theirs.kept}/{theirs.feasible} = {theirs.share:.1%}")
        for missed in theirs.missed or []:
            print(f"  thumbor missed: {missed}")
        return 0
    with faces_found_once() as seconds:
        face = measure(made, ours("face"))
    took = statistics.median(seconds)
    smart = measure(made, ours("smart"))
    centre = measure(made, ours("center"))
    print(f"pixelmill face:  {face.kept}/{face.feasible} = {face.share:.1%}")
    print(f"  face search: median {took * 1000:.0f} ms a scene")
    print(f"pixelmill smart: {smart.kept}/{smart.feasible} = {smart.share:.1%}")
    print(f"centre crop:     {centre.kept}/{centre.feasible} = {centre.share:.1%}")
    for missed in face.missed or []:
        print(f"  face missed: {missed}")
    theirs: Tally | None = None
    if not args.no_thumbor:
        try:
            with tempfile.TemporaryDirectory(prefix="pixelmill-smartcrop-") as tmp:
                images = Path(tmp) / "images"
                images.mkdir()
                with thumbor_server(images, Path(tmp)) as url:
                    theirs = measure(made, thumbor_placer(url, images))
        except Exception as error:  # thumbor missing or failing: say so, keep our figure
            print(f"thumbor not measured: {error}", flush=True)
    if theirs is not None:
        print(f"thumbor smart:   {theirs.kept}/{theirs.feasible} = {theirs.share:.1%}")
        for missed in theirs.missed or []:
            print(f"  thumbor missed: {missed}")
        reference = f"thumbor 7.8 smart: {theirs.share:.1%} ({theirs.kept}/{theirs.feasible})"
    else:
        reference = "thumbor not measured"
        skipped("smartcrop", "thumbor smart crop, same set", "thumbor could not run")
    record(
        Row(
            "smartcrop",
            figure,
            f"{face.share:.1%} ({face.kept}/{face.feasible}); smart alone {smart.share:.1%}; "
            f"centre {centre.share:.1%}",
            reference,
            face.share,
            ">=",
            GOAL,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
