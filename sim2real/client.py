"""`Client`: every public route of the sim2real API as a Python method, on httpx.

Answers are the API's own response models (`sim2real.models`); long work comes back as a `Job`, whose
`wait()` follows the server-sent events and raises `JobFailed` when the job fails or is cancelled. Images go
up from paths, bytes or numpy arrays and come back as numpy arrays or saved files. Imports no torch and no
FastAPI.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import numpy as np
from PIL import Image
from pydantic import BaseModel

from sim2real.config import resolve
from sim2real.models import (
    TERMINAL,
    ComparisonOut,
    DatasetOut,
    DetectorModelOut,
    EvaluationOut,
    EvaluationSummary,
    ExperimentOut,
    ExperimentPlan,
    ExperimentSummary,
    ImageOut,
    ImageSetOut,
    JobEvent,
    JobOut,
    RobustnessOut,
    RobustnessSummary,
    StyleOut,
    TranslatorModelOut,
    WeatherRow,
    WeightsList,
    WeightsStatus,
    WeightsUploaded,
)

M = TypeVar("M", bound=BaseModel)
# What an upload may be: a file path, encoded bytes (PNG, JPEG, a checkpoint), or pixels.
Upload = str | os.PathLike | bytes | np.ndarray
Progress = Callable[[JobEvent], None]


class Sim2RealError(Exception):
    """The service refused a request (the server's message), or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class JobFailed(Sim2RealError):
    """A job ended failed or cancelled; `job` is its final state."""

    def __init__(self, job: JobOut) -> None:
        reason = job.error or job.message or "no message"
        super().__init__(f"job {job.id} ({job.kind}) {job.status}: {reason}")
        self.job = job


def encode_upload(data: Upload, name: str = "image.png") -> tuple[str, bytes]:
    """(filename, bytes) of an upload: a path is read, bytes pass through, an array becomes a PNG (uint16
    2-D arrays as 16-bit PNGs, so depth maps keep their centimetres)."""
    if isinstance(data, np.ndarray):
        buf = io.BytesIO()
        if data.dtype == np.uint16 and data.ndim == 2:
            Image.fromarray(data).save(buf, format="PNG")
        else:
            Image.fromarray(np.ascontiguousarray(data, dtype=np.uint8)).save(buf, format="PNG")
        return name, buf.getvalue()
    if isinstance(data, bytes | bytearray):
        return name, bytes(data)
    path = Path(data)
    return path.name, path.read_bytes()


def decode_image(data: bytes) -> np.ndarray:
    """Pixels of an encoded image: H×W×3 uint8, or H×W uint16 for a 16-bit PNG."""
    img = Image.open(io.BytesIO(data))
    if img.mode in ("I;16", "I;16B", "I"):
        return np.asarray(img).astype(np.uint16)
    return np.asarray(img.convert("RGB"))


def _save_or_decode(data: bytes, save_to: str | os.PathLike | None) -> np.ndarray | Path:
    if save_to is None:
        return decode_image(data)
    path = Path(save_to)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


class Job:
    """A job of the service: its last known state (`job.status`, `job.progress`, `job.eta_s`, …, the
    fields of `JobOut`) and what can be done with it."""

    def __init__(self, client: Client, state: JobOut) -> None:
        self._client = client
        self.state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.state, name)

    def __repr__(self) -> str:
        return f"<Job {self.state.id} {self.state.kind} {self.state.status} {self.state.progress:.0%}>"

    def refresh(self) -> Job:
        self.state = self._client.job(self.state.id).state
        return self

    def cancel(self) -> Job:
        self.state = self._client.cancel_job(self.state.id).state
        return self

    def events(self) -> Iterator[JobEvent]:
        return self._client.job_events(self.state.id)

    def wait(
        self, progress: Progress | bool | None = None, timeout: float | None = None, raise_on_failure=True
    ) -> Job:
        """Follow the job's server-sent events until it finishes; `progress` is called with each event
        (`True`: a progress bar, a notebook widget in Jupyter). Returns the finished job; raises
        `JobFailed` when it failed or was cancelled (unless `raise_on_failure=False`) and `TimeoutError`
        after `timeout` seconds."""
        callback, close = _progress_callback(progress, self.state)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self.state.finished:
                try:
                    for event in self._client.job_events(self.state.id, deadline=deadline):
                        if callback is not None:
                            callback(event)
                        if event.status in TERMINAL:
                            break
                except (httpx.TransportError, Sim2RealError) as exc:
                    # A dropped stream (proxy timeout, restart): poll, then follow again.
                    if isinstance(exc, Sim2RealError) and exc.status is not None and exc.status < 500:
                        raise
                    time.sleep(0.5)
                self.refresh()
                if deadline is not None and time.monotonic() > deadline and not self.state.finished:
                    raise TimeoutError(f"job {self.state.id} still {self.state.status} after {timeout}s")
        finally:
            if close is not None:
                close()
        if raise_on_failure and self.state.status != "succeeded":
            raise JobFailed(self.state)
        return self


def _progress_callback(
    progress: Progress | bool | None, state: JobOut
) -> tuple[Progress | None, Callable[[], None] | None]:
    if progress is None or progress is False:
        return None, None
    if progress is not True:
        return progress, None
    from tqdm.auto import tqdm  # a notebook widget under Jupyter, text elsewhere

    bar = tqdm(total=100, desc=f"{state.kind} {state.id[:8]}", unit="%")

    def update(event: JobEvent) -> None:
        if event.progress is not None:
            bar.n = round(100 * event.progress)
        postfix = {"status": event.status}
        if event.eta_s is not None:
            postfix["eta"] = format_eta(event.eta_s)
        bar.set_postfix(postfix, refresh=False)
        bar.set_description(f"{state.kind} {(event.message or state.id[:8])[:40]}", refresh=False)
        bar.refresh()

    return update, bar.close


def format_eta(seconds: float | None) -> str:
    """A short ETA: 42s, 3m05s, 1h02m; '' when unknown."""
    if seconds is None:
        return ""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _jsonable(value: Any) -> Any:
    return {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value


class Client:
    """The sim2real API. `url` and `api_key` default to SIM2REAL_URL / SIM2REAL_API_KEY, then the config
    file (`sim2real.config.config_path()`), then http://127.0.0.1:8000 without a key."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, self.api_key = resolve(url, api_key)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------------

    def _request(self, method: str, route: str, *, params: Any = None, **kwargs: Any) -> httpx.Response:
        """One call of `route` (the API's path template, filled from `params`' path values)."""
        path = _fill(route, kwargs.pop("path", {}))
        try:
            r = self._http.request(method, path, params=params, **kwargs)
        except httpx.TransportError as exc:
            raise Sim2RealError(
                f"cannot reach the sim2real service at {self.url} ({exc}); start it with `sim2real up` or "
                "set SIM2REAL_URL"
            ) from exc
        if r.status_code >= 400:
            raise Sim2RealError(_error_message(r), r.status_code)
        return r

    def _json(self, method: str, route: str, model: type[M] | None = None, **kwargs: Any) -> Any:
        data = self._request(method, route, **kwargs).json()
        return model.model_validate(data) if model is not None else data

    def _job(self, method: str, route: str, **kwargs: Any) -> Job:
        return Job(self, self._json(method, route, JobOut, **kwargs))

    def _pages(
        self, method: str, route: str, model: type[M], params: dict[str, Any], page_size: int, **kwargs: Any
    ) -> Iterator[M]:
        """Every item of a paginated list (`{items, total, limit, offset}`), fetched page by page."""
        offset = 0
        while True:
            page = self._json(
                method, route, params={**_jsonable(params), "limit": page_size, "offset": offset}, **kwargs
            )
            for item in page["items"]:
                yield model.model_validate(item)
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return

    # -- health --------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/healthz")

    def ready(self) -> dict[str, Any]:
        """The database, broker and store checks (raises with the failing one's message)."""
        return self._json("GET", "/readyz")

    # -- weathers, translations ---------------------------------------------------------------------

    def weathers(self) -> list[WeatherRow]:
        return [WeatherRow.model_validate(r) for r in self._json("GET", "/v1/weathers")]

    def translate(
        self,
        image: Upload | None = None,
        weather: str | None = None,
        method: str | None = None,
        params: dict[str, Any] | None = None,
        depth: Upload | None = None,
        model_id: str | None = None,
        style_id: str | None = None,
        dataset_id: str | None = None,
        image_id: str | None = None,
    ) -> Job:
        """Translate one image (or a dataset's stored image, with `dataset_id` + `image_id`); `depth` is a
        16-bit PNG or a uint16 array in centimetres (65535 = sky)."""
        form = _jsonable(
            {
                "weather": weather,
                "method": method,
                "model_id": model_id,
                "style_id": style_id,
                "dataset_id": dataset_id,
                "image_id": image_id,
                "params": json.dumps(params) if params else None,
            }
        )
        files = {}
        if image is not None:
            files["image"] = encode_upload(image)
        if depth is not None:
            files["depth"] = encode_upload(depth, "depth.png")
        return self._job("POST", "/v1/translations", data=form, files=files or None)

    def translation_image(self, job_id: str, save_to: str | os.PathLike | None = None) -> np.ndarray | Path:
        """The translated PNG: pixels, or the saved file's path with `save_to`."""
        return _save_or_decode(self.translation_png(job_id), save_to)

    def translation_png(self, job_id: str) -> bytes:
        """The translated image's PNG bytes."""
        return self._request("GET", "/v1/translations/{job_id}/image", path={"job_id": job_id}).content

    # -- jobs ----------------------------------------------------------------------------------------

    def jobs(self, kind: str | None = None, status: str | None = None, page_size: int = 100) -> Iterator[Job]:
        """Every job (newest first), optionally of one kind and status."""
        for state in self._pages("GET", "/v1/jobs", JobOut, {"kind": kind, "status": status}, page_size):
            yield Job(self, state)

    def job(self, job_id: str) -> Job:
        return self._job("GET", "/v1/jobs/{job_id}", path={"job_id": job_id})

    def cancel_job(self, job_id: str) -> Job:
        return self._job("DELETE", "/v1/jobs/{job_id}", path={"job_id": job_id})

    def job_events(self, job_id: str, deadline: float | None = None) -> Iterator[JobEvent]:
        """The job's server-sent events: one per change, the last when it finished."""
        timeout = httpx.Timeout(30.0, read=60.0)
        try:
            with self._http.stream(
                "GET",
                _fill("/v1/jobs/{job_id}/events", {"job_id": job_id}),
                timeout=timeout,
                headers={"Accept": "text/event-stream"},
            ) as r:
                if r.status_code >= 400:
                    r.read()
                    raise Sim2RealError(_error_message(r), r.status_code)
                event, data = "message", []
                for line in r.iter_lines():
                    if deadline is not None and time.monotonic() > deadline:
                        return
                    if line.startswith(":"):
                        continue
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        payload = json.loads("\n".join(data))
                        data = []
                        if payload.get("status") == "deleted":
                            raise Sim2RealError(f"job {job_id} was deleted", 404)
                        yield JobEvent.model_validate(payload)
                        if event == "end":
                            return
        except httpx.ConnectError as exc:
            raise Sim2RealError(f"cannot reach the sim2real service at {self.url} ({exc})") from exc

    # -- datasets ------------------------------------------------------------------------------------

    def ingest_dataset(
        self,
        name: str,
        format: str,
        uri: str | os.PathLike,
        options: dict[str, Any] | None = None,
        strict: bool = False,
    ) -> Job:
        """Ingest a dataset in its original layout; a local path becomes a file:// URI (it must lie under
        the service's SIM2REAL_DATA_ROOTS)."""
        body = {
            "name": name,
            "format": format,
            "uri": as_uri(uri),
            "options": options or {},
            "strict": strict,
        }
        return self._job("POST", "/v1/datasets", json=body)

    def datasets(self) -> list[DatasetOut]:
        return [DatasetOut.model_validate(d) for d in self._json("GET", "/v1/datasets")]

    def dataset(self, dataset_id: str) -> DatasetOut:
        return self._json("GET", "/v1/datasets/{dataset_id}", DatasetOut, path={"dataset_id": dataset_id})

    def delete_dataset(self, dataset_id: str) -> None:
        self._request("DELETE", "/v1/datasets/{dataset_id}", path={"dataset_id": dataset_id})

    def dataset_images(
        self,
        dataset_id: str,
        filter: str | list[str] | None = None,
        split: str | None = None,
        page_size: int = 500,
    ) -> Iterator[ImageOut]:
        """Every image of a dataset matching `filter` (e.g. "weather=foggy;occluded_vehicles<=5")."""
        filters = [filter] if isinstance(filter, str) else list(filter or [])
        params = {"filter": filters or None, "split": split}
        return self._pages(
            "GET",
            "/v1/datasets/{dataset_id}/images",
            ImageOut,
            params,
            page_size,
            path={"dataset_id": dataset_id},
        )

    def dataset_image(
        self, dataset_id: str, image_id: str, save_to: str | os.PathLike | None = None
    ) -> np.ndarray | Path:
        path = {"dataset_id": dataset_id, "image_id": image_id}
        r = self._request("GET", "/v1/datasets/{dataset_id}/images/{image_id}", path=path)
        return _save_or_decode(r.content, save_to)

    def dataset_image_thumbnail(
        self, dataset_id: str, image_id: str, size: int = 256, source: bool = False
    ) -> np.ndarray:
        path = {"dataset_id": dataset_id, "image_id": image_id}
        if source:
            r = self._request(
                "GET",
                "/v1/datasets/{dataset_id}/images/{image_id}/source/thumbnail",
                path=path,
                params={"size": size},
            )
        else:
            r = self._request(
                "GET",
                "/v1/datasets/{dataset_id}/images/{image_id}/thumbnail",
                path=path,
                params={"size": size},
            )
        return decode_image(r.content)

    def dataset_image_labels(self, dataset_id: str, image_id: str, source: bool = False) -> dict[str, Any]:
        path = {"dataset_id": dataset_id, "image_id": image_id}
        if source:
            return self._json("GET", "/v1/datasets/{dataset_id}/images/{image_id}/source/labels", path=path)
        return self._json("GET", "/v1/datasets/{dataset_id}/images/{image_id}/labels", path=path)

    def dataset_image_source(
        self, dataset_id: str, image_id: str, save_to: str | os.PathLike | None = None
    ) -> np.ndarray | Path:
        """A translated image's source image."""
        path = {"dataset_id": dataset_id, "image_id": image_id}
        r = self._request("GET", "/v1/datasets/{dataset_id}/images/{image_id}/source", path=path)
        return _save_or_decode(r.content, save_to)

    def export_dataset(self, dataset_id: str, save_to: str | os.PathLike) -> Path:
        """The dataset as a YOLO folder in a zip, streamed to `save_to`."""
        path = Path(save_to)
        path.parent.mkdir(parents=True, exist_ok=True)
        r = self._request("GET", "/v1/datasets/{dataset_id}/export", path={"dataset_id": dataset_id})
        path.write_bytes(r.content)
        return path

    def translate_dataset(self, dataset_id: str, **body: Any) -> Job:
        """A translated copy of a dataset (method, weather, model_id, style_id, params, filter, name)."""
        return self._job(
            "POST",
            "/v1/datasets/{dataset_id}/translations",
            path={"dataset_id": dataset_id},
            json=_jsonable(body),
        )

    def compose_dataset(self, **body: Any) -> Job:
        """The study's training sets (`composition`: baseline | translated) from a kitti_tracking and a
        vkitti2 dataset."""
        return self._job("POST", "/v1/datasets/compositions", json=_jsonable(body))

    # -- image sets, styles, operator weights --------------------------------------------------------

    def upload_image_set(self, archive: Upload) -> ImageSetOut:
        """A zip or tar(.gz) of images, e.g. a translator's training domain."""
        files = {"archive": encode_upload(archive, "images.zip")}
        return self._json("POST", "/v1/image-sets", ImageSetOut, files=files)

    def delete_image_set(self, set_id: str) -> None:
        self._request("DELETE", "/v1/image-sets/{set_id}", path={"set_id": set_id})

    def create_style(self, images: list[Upload], name: str, weather: str) -> StyleOut:
        files = [("images", encode_upload(img, f"style{n}.png")) for n, img in enumerate(images)]
        return self._json(
            "POST", "/v1/styles", StyleOut, data={"name": name, "weather": weather}, files=files
        )

    def style_from_dataset(self, **body: Any) -> StyleOut:
        """A style sampled from a dataset filter (name, weather, dataset_id, filter, n, seed)."""
        return self._json("POST", "/v1/styles/from-dataset", StyleOut, json=_jsonable(body))

    def styles(self) -> list[StyleOut]:
        return [StyleOut.model_validate(s) for s in self._json("GET", "/v1/styles")]

    def style(self, style_id: str) -> StyleOut:
        return self._json("GET", "/v1/styles/{style_id}", StyleOut, path={"style_id": style_id})

    def delete_style(self, style_id: str) -> None:
        self._request("DELETE", "/v1/styles/{style_id}", path={"style_id": style_id})

    def weights(self) -> WeightsList:
        return self._json("GET", "/v1/weights", WeightsList)

    def weights_status(self, name: str) -> WeightsStatus:
        return self._json("GET", "/v1/weights/{name}", WeightsStatus, path={"name": name})

    def upload_weights(self, name: str, file: Upload) -> WeightsUploaded:
        """A new version of an operator weights file (e.g. vgg19); needs the operator key when keys are set."""
        files = {"file": encode_upload(file, f"{name}.pth")}
        return self._json("POST", "/v1/weights/{name}", WeightsUploaded, path={"name": name}, files=files)

    # -- translator models ---------------------------------------------------------------------------

    def train_translator(
        self,
        name: str,
        weather: str,
        domain_a: dict[str, Any],
        domain_b: dict[str, Any],
        method: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> Job:
        """Train a translator from domain A to B (each `{"dataset_id", "filter"}` or `{"prefix"}`)."""
        body = {"name": name, "weather": weather, "domain_a": domain_a, "domain_b": domain_b}
        body.update(_jsonable({"method": method, "options": options}))
        return self._job("POST", "/v1/translator-models", json=body)

    def import_translator(
        self, file: Upload, name: str, weather: str, method: str | None = None, **options: Any
    ) -> TranslatorModelOut:
        """Import a checkpoint (e.g. pytorch-CycleGAN-and-pix2pix latest_net_G_A.pth); `options` are the
        method's import options (n_blocks, ngf for CycleGAN)."""
        form = _jsonable({"name": name, "weather": weather, "method": method})
        form.update({k: str(v) for k, v in options.items()})
        files = {"file": encode_upload(file, "model.pth")}
        return self._json("POST", "/v1/translator-models/import", TranslatorModelOut, data=form, files=files)

    def translators(self) -> list[TranslatorModelOut]:
        return [TranslatorModelOut.model_validate(m) for m in self._json("GET", "/v1/translator-models")]

    def translator(self, model_id: str) -> TranslatorModelOut:
        return self._json(
            "GET", "/v1/translator-models/{model_id}", TranslatorModelOut, path={"model_id": model_id}
        )

    def delete_translator(self, model_id: str) -> None:
        self._request("DELETE", "/v1/translator-models/{model_id}", path={"model_id": model_id})

    def translator_weights(self, model_id: str, save_to: str | os.PathLike) -> Path:
        r = self._request("GET", "/v1/translator-models/{model_id}/weights", path={"model_id": model_id})
        return _save_or_decode(r.content, save_to)  # type: ignore[return-value]

    def translator_sample(self, model_id: str, index: int = 0) -> np.ndarray:
        path = {"model_id": model_id, "index": index}
        return decode_image(
            self._request("GET", "/v1/translator-models/{model_id}/samples/{index}", path=path).content
        )

    # -- detectors -----------------------------------------------------------------------------------

    def train_detector(self, dataset_id: str, **settings: Any) -> Job:
        """Train a YOLOv5 detector (model, imgsz, epochs, batch, val_dataset_id, weights_id, seed, name,
        hyperparameters, …: any field of POST /v1/detector-trainings)."""
        return self._job(
            "POST", "/v1/detector-trainings", json={"dataset_id": dataset_id, **_jsonable(settings)}
        )

    def upload_detector(self, file: Upload, name: str) -> DetectorModelOut:
        """An ultralytics YOLOv5 checkpoint (.pt), read without executing it."""
        files = {"file": encode_upload(file, "weights.pt")}
        return self._json("POST", "/v1/detector-weights", DetectorModelOut, data={"name": name}, files=files)

    def detectors(self) -> list[DetectorModelOut]:
        return [DetectorModelOut.model_validate(m) for m in self._json("GET", "/v1/detector-models")]

    def detector(self, model_id: str) -> DetectorModelOut:
        return self._json(
            "GET", "/v1/detector-models/{model_id}", DetectorModelOut, path={"model_id": model_id}
        )

    def delete_detector(self, model_id: str) -> None:
        self._request("DELETE", "/v1/detector-models/{model_id}", path={"model_id": model_id})

    def detector_weights(self, model_id: str, save_to: str | os.PathLike, which: str = "best") -> Path:
        """The ultralytics checkpoint, usable anywhere as YOLO(path)."""
        r = self._request(
            "GET",
            "/v1/detector-models/{model_id}/weights",
            path={"model_id": model_id},
            params={"which": which},
        )
        return _save_or_decode(r.content, save_to)  # type: ignore[return-value]

    def detect(
        self,
        image: Upload,
        model_id: str,
        conf: float = 0.25,
        iou: float = 0.7,
        imgsz: int | None = None,
        annotate: bool = False,
        wait: float = 0,
    ) -> Job:
        """Boxes for one image; the job's result has `boxes` when it succeeded (`wait` seconds of waiting
        on the server, then `job.wait()`)."""
        form = _jsonable(
            {
                "model_id": model_id,
                "conf": conf,
                "iou": iou,
                "imgsz": imgsz,
                "annotate": annotate,
                "wait": wait,
            }
        )
        form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in form.items()}
        return self._job("POST", "/v1/detections", data=form, files={"image": encode_upload(image)})

    def detection(self, job_id: str) -> Job:
        return self._job("GET", "/v1/detections/{job_id}", path={"job_id": job_id})

    def detection_image(self, job_id: str, save_to: str | os.PathLike | None = None) -> np.ndarray | Path:
        """The image with its boxes drawn (a detection requested with annotate=True)."""
        r = self._request("GET", "/v1/detections/{job_id}/image", path={"job_id": job_id})
        return _save_or_decode(r.content, save_to)

    # -- evaluations ---------------------------------------------------------------------------------

    def evaluate(self, dataset_id: str, detector_model_id: str | None = None, **settings: Any) -> Job:
        """mAP50 of a detector (or of `predictions_uri`) on a dataset, by slice (classes, slice_by, buckets,
        n_boot, conf, iou, imgsz, split)."""
        body = {"dataset_id": dataset_id, "detector_model_id": detector_model_id, **settings}
        return self._job("POST", "/v1/evaluations", json=_jsonable(body))

    def evaluations(
        self, dataset_id: str | None = None, detector_model_id: str | None = None, page_size: int = 100
    ) -> Iterator[EvaluationSummary]:
        params = {"dataset_id": dataset_id, "detector_model_id": detector_model_id}
        return self._pages("GET", "/v1/evaluations", EvaluationSummary, params, page_size)

    def evaluation(self, evaluation_id: str) -> EvaluationOut:
        return self._json(
            "GET", "/v1/evaluations/{evaluation_id}", EvaluationOut, path={"evaluation_id": evaluation_id}
        )

    def delete_evaluation(self, evaluation_id: str) -> None:
        self._request("DELETE", "/v1/evaluations/{evaluation_id}", path={"evaluation_id": evaluation_id})

    def evaluation_plot(
        self, evaluation_id: str, save_to: str | os.PathLike | None = None
    ) -> np.ndarray | Path:
        r = self._request(
            "GET", "/v1/evaluations/{evaluation_id}/plot.png", path={"evaluation_id": evaluation_id}
        )
        return _save_or_decode(r.content, save_to)

    def compare_evaluations(self, a: str, b: str, n_boot: int | None = None, seed: int | None = None) -> Job:
        """A paired bootstrap of mAP50(b) − mAP50(a) per slice, as a job; then `comparison(job.id)`."""
        body = _jsonable({"a": a, "b": b, "n_boot": n_boot, "seed": seed})
        return self._job("POST", "/v1/evaluations/compare", json=body)

    def comparison(self, comparison_id: str) -> ComparisonOut:
        return self._json(
            "GET",
            "/v1/evaluations/comparisons/{comparison_id}",
            ComparisonOut,
            path={"comparison_id": comparison_id},
        )

    def latest_comparison(
        self, a: str, b: str, n_boot: int | None = None, seed: int | None = None
    ) -> ComparisonOut:
        params = _jsonable({"a": a, "b": b, "n_boot": n_boot, "seed": seed})
        return self._json("GET", "/v1/evaluations/compare", ComparisonOut, params=params)

    # -- experiments ---------------------------------------------------------------------------------

    def run_experiment(self, **body: Any) -> Job:
        """A seeded multi-arm experiment (name, arms, eval_dataset_id, model, seeds, classes, …)."""
        return self._job("POST", "/v1/experiments", json=_jsonable(body))

    def experiments(
        self, eval_dataset_id: str | None = None, page_size: int = 100
    ) -> Iterator[ExperimentSummary]:
        params = {"eval_dataset_id": eval_dataset_id}
        return self._pages("GET", "/v1/experiments", ExperimentSummary, params, page_size)

    def experiment(self, experiment_id: str) -> ExperimentOut:
        return self._json(
            "GET", "/v1/experiments/{experiment_id}", ExperimentOut, path={"experiment_id": experiment_id}
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._request("DELETE", "/v1/experiments/{experiment_id}", path={"experiment_id": experiment_id})

    def experiment_plot(
        self, experiment_id: str, save_to: str | os.PathLike | None = None
    ) -> np.ndarray | Path:
        r = self._request(
            "GET", "/v1/experiments/{experiment_id}/plot.png", path={"experiment_id": experiment_id}
        )
        return _save_or_decode(r.content, save_to)

    def plan_experiment(self, **body: Any) -> ExperimentPlan:
        """Seeds a difference needs, before training: from a pilot experiment (`experiment_id`, `arm`,
        `slice`) or from `seed_variance` and `image_variance`; `target_differences`, `seeds`."""
        return self._json("POST", "/v1/experiments/plan", ExperimentPlan, json=_jsonable(body))

    # -- translation quality -------------------------------------------------------------------------

    def translation_quality(
        self,
        translated: dict[str, Any],
        target: dict[str, Any],
        source: dict[str, Any] | None = None,
        **body: Any,
    ) -> Job:
        """KID and FID of a translated set (and of its source) against a target set, each
        `{dataset_id, filter}`; `max_images`, `seed`. Needs the operator's `inception` weights (409)."""
        payload = {"translated": translated, "target": target, "source": source, **body}
        return self._job("POST", "/v1/translation-quality", json=_jsonable(payload))

    def quality_grid(
        self, job_id: str, which: str = "translated", save_to: str | os.PathLike | None = None
    ) -> np.ndarray | Path:
        """A sample grid (`translated`, `target` or `source`) of a quality job or of a dataset translation
        that asked for quality."""
        r = self._request(
            "GET",
            "/v1/translation-quality/{job_id}/grids/{which}.png",
            path={"job_id": job_id, "which": which},
        )
        return _save_or_decode(r.content, save_to)

    def audit_dataset(self, dataset_id: str) -> Job:
        """The label-safety audit of a translated dataset (per box: did the object survive?)."""
        return self._job("POST", "/v1/datasets/{dataset_id}/audit", path={"dataset_id": dataset_id})

    # -- robustness ----------------------------------------------------------------------------------

    def run_robustness(self, detector_model_id: str, dataset_id: str, weather: str, **body: Any) -> Job:
        """mAP50 against a weather's intensity (`levels`, `classes`, `slice_by`, `buckets`, `n_boot`,
        `seed`), as a job; its result names the curve: `robustness(job.result['robustness_id'])`."""
        payload = {"detector_model_id": detector_model_id, "dataset_id": dataset_id, "weather": weather}
        return self._job("POST", "/v1/robustness", json=_jsonable({**payload, **body}))

    def robustness_curves(
        self, dataset_id: str | None = None, detector_model_id: str | None = None, page_size: int = 100
    ) -> Iterator[RobustnessSummary]:
        params = {"dataset_id": dataset_id, "detector_model_id": detector_model_id}
        return self._pages("GET", "/v1/robustness", RobustnessSummary, params, page_size)

    def robustness(self, robustness_id: str) -> RobustnessOut:
        return self._json(
            "GET", "/v1/robustness/{robustness_id}", RobustnessOut, path={"robustness_id": robustness_id}
        )

    def delete_robustness(self, robustness_id: str) -> None:
        self._request("DELETE", "/v1/robustness/{robustness_id}", path={"robustness_id": robustness_id})

    def robustness_plot(
        self, robustness_id: str, save_to: str | os.PathLike | None = None
    ) -> np.ndarray | Path:
        r = self._request(
            "GET", "/v1/robustness/{robustness_id}/plot.png", path={"robustness_id": robustness_id}
        )
        return _save_or_decode(r.content, save_to)


def _fill(route: str, values: dict[str, Any]) -> str:
    """A route template with its path values filled in, quoted (slashes kept: image ids are paths)."""
    return route.format(**{k: quote(str(v), safe="/") for k, v in values.items()})


def as_uri(uri: str | os.PathLike) -> str:
    """A dataset location: URIs pass through, local paths become absolute file:// URIs."""
    text = os.fspath(uri)
    if "://" in text:
        return text
    return Path(text).expanduser().resolve().as_uri()


def _error_message(r: httpx.Response) -> str:
    """The server's own message: FastAPI's `detail` (a string, or validation errors with their field
    paths), else the body's text."""
    try:
        body = r.json()
    except ValueError:
        return f"HTTP {r.status_code}: {r.text.strip()[:500] or r.reason_phrase}"
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for err in detail:
            if isinstance(err, dict):
                loc = ".".join(
                    str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")
                )
                parts.append(f"{loc}: {err.get('msg', err)}" if loc else str(err.get("msg", err)))
            else:
                parts.append(str(err))
        detail = "; ".join(parts)
    return f"HTTP {r.status_code}: {detail}"
