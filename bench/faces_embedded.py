"""Faces benchmark: images boxed per second end to end in the embedded default.

`pixelmill serve` with no Redis and every setting at its default (SQLite under its data dir,
the pools sized from the CPUs), whose faces service takes the uploads, hands their pixel work
to the API's pools and writes the files and rows:

* throughput: 120 uploads of 640x480 JPEGs with a face (a detection costs tens of
  captions), posted by 8 client threads as fast as the API takes them; images/s =
  uploads / (last stored - first received), from the rows' own timestamps (created_at,
  updated_at), so polling does not count;
* latency: uploads at half that rate for 10 s; p50 and p99 of stored - received;
* CPU per image of the API process, its pools' worker processes and the clients.

The reference, measured in the same run before each round: detecting and drawing alone in
one process, the faces service's own pixel work (`pixels.box_faces` after the header is read:
decode, detect, draw the boxes, encode) on the same images, one after the other. The figure
is end-to-end images/s over that (goal >= 0.70, as for captions).

    .venv/bin/python bench/faces_embedded.py [--uploads 120] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.captions import (  # noqa: E402
    GOAL_END_TO_END_OVER_ALONE,
    Client,
    Deployment,
    latency,
    percentile,
    spread,
    throughput,
)
from bench.report import Row, record  # noqa: E402

from pixelmill.imaging import codec  # noqa: E402
from pixelmill.imaging.ops.faces import FacesParams  # noqa: E402
from pixelmill.services.pixels import box_faces  # noqa: E402

BOUNDARY = "pixelmill-bench-boundary"
TABLE = "face_images"


def images() -> list[bytes]:
    """8 JPEGs of 640x480: the astronaut's head and shoulders on a noisy gradient, moved."""
    from skimage import data

    face = cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (400, 400))
    rng = np.random.default_rng(0)
    out = []
    for i in range(8):
        y, x = np.mgrid[0:480, 0:640]
        canvas = np.stack([x * 255 // 640, y * 255 // 480, (x + y * i) % 256], -1)
        canvas = np.clip(canvas + rng.normal(0, 8, canvas.shape), 0, 255).astype(np.uint8)
        left = 20 + 25 * i
        canvas[40:440, left : left + 400] = face
        out.append(cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return out


def boxing_alone(payloads: list[bytes], count: int) -> float:
    """Images/s of the faces service's own pixel work in this process, one after the other."""
    params = FacesParams()

    def one(i: int) -> int:
        data = payloads[i % len(payloads)]
        info = codec.sniff(data, max_pixels=50_000_000, name=f"image {i}")
        return len(box_faces(data, info, params, f"image {i}").faces)

    assert all(one(i) >= 1 for i in range(len(payloads)))  # a face in each; warm
    began = time.perf_counter()
    for i in range(count):
        one(i)
    return count / (time.perf_counter() - began)


def post(client: Client, data: bytes, i: int) -> str:
    body = b"".join(
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{i}.jpg"'
            "\r\nContent-Type: image/jpeg\r\n\r\n".encode(),
            data,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        )
    )
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    return str(client.post("/api/v1/images", body, headers)["id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=120)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="40 uploads, 5 s, one round")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the server's database (sqlite: the embedded default's own)",
    )
    args = parser.parse_args()
    if args.quick:
        args.uploads, args.seconds, args.rounds = 40, 5.0, 1
    payloads = images()
    alone: list[float] = []
    rates: list[float] = []
    delays: list[float] = []
    shares: dict[str, float] = {}
    for round_ in range(args.rounds):
        alone.append(boxing_alone(payloads, args.uploads))
        with (
            tempfile.TemporaryDirectory(prefix="pixelmill-bench-") as tmp,
            Deployment(Path(tmp), 0, args.database) as deployment,
        ):
            throughput(deployment, payloads, 16, post, TABLE)  # warm-up
            before = deployment.cpu()
            rates.append(throughput(deployment, payloads, args.uploads, post, TABLE))
            after = deployment.cpu()
            if round_ == 0:
                shares = {role: after[role] - before[role] for role in after}
                delays = latency(deployment, payloads, rates[-1] / 2, args.seconds, post, TABLE)
        print(
            f"round {round_ + 1}: detecting and drawing alone {alone[-1]:.1f}/s; embedded end "
            f"to end {rates[-1]:.1f} images/s",
            flush=True,
        )
    reference = statistics.median(alone)
    print("\n640x480 JPEGs with a face; the API, its pools and the clients share the CPUs")
    print(f"detecting and drawing alone in one process: {spread(alone)} images/s")
    print(f"embedded end to end ({args.database}): {spread(rates)} images/s")
    print(
        f"at half rate: p50 {percentile(delays, 0.5):.0f} ms, "
        f"p99 {percentile(delays, 0.99):.0f} ms ({len(delays)} uploads)"
    )
    total = sum(shares.values())
    print(f"\nCPU per image, {args.uploads} uploads (ms; share):")
    for role, seconds in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {role:<22} {seconds / args.uploads * 1000:>6.2f} ms  {seconds / total:>5.0%}")
    print(f"  (detecting and drawing alone: {1000 / reference:.2f} ms per image)")
    record(
        Row(
            "faces",
            "images/s end to end, embedded (`pixelmill serve`, no Redis, "
            f"{args.database}) / detecting and drawing alone",
            f"{spread(rates)}/s",
            f"alone in one process: {spread(alone)}/s",
            statistics.median(rates) / reference,
            ">=",
            GOAL_END_TO_END_OVER_ALONE,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
