"""Every object-store key the service writes, built in one place.

Layout (one prefix per thing, so deleting a thing is deleting its prefix):
    uploads/{job_id}/{name}                   a request's inputs (image sets: uploads/{set_id}/images/)
    translations/{job_id}/result.png          a single-image translation
    detections/{job_id}/annotated.png         a single-image detection drawn
    datasets/{dataset_id}/...                 images/, labels/, depth/, the records file,
                                              thumbnails/{size}/{image_id}.jpg (made on first request) and
                                              quality/grid-{set}.png (a translation that measured itself)
    styles/{style_id}/{n:03d}.png             a style's reference images
    models/translator/{model_id}/...          generator/decoder weights, checkpoints, samples
    models/detector/{model_id}/...            best.pt, last.pt, history.json (trained), weights.pt (uploaded)
    models/{name}/v{n}/{name}.pth             operator-supplied weights, by version (e.g. vgg19; .pt for yolov5s …)
    evaluations/{evaluation_id}/...           detections, predictions, plot
    experiments/{experiment_id}/plot.png
    robustness/{robustness_id}/plot.png       a robustness curve's chart
    quality/{job_id}/grid-{set}.png           a translation-quality job's sample grids (translated, target,
                                              source)
"""

from __future__ import annotations


def _join(prefix: str, *parts: str) -> str:
    return prefix + "/".join(parts)


# Every request's inputs live under this prefix (retention sweeps it).
UPLOADS = "uploads/"


def upload_prefix(job_id: str) -> str:
    return f"{UPLOADS}{job_id}/"


def upload(job_id: str, name: str) -> str:
    return upload_prefix(job_id) + name


def image_set_prefix(set_id: str) -> str:
    return upload(set_id, "images/")


def translation_prefix(job_id: str) -> str:
    return f"translations/{job_id}/"


def translation_result(job_id: str) -> str:
    return translation_prefix(job_id) + "result.png"


def detection_prefix(job_id: str) -> str:
    return f"detections/{job_id}/"


def detection_annotated(job_id: str) -> str:
    return detection_prefix(job_id) + "annotated.png"


def dataset_prefix(dataset_id: str) -> str:
    return f"datasets/{dataset_id}/"


def dataset_file(dataset_id: str, name: str) -> str:
    return dataset_prefix(dataset_id) + name


def dataset_image(dataset_id: str, image_id: str, ext: str) -> str:
    return _join(dataset_prefix(dataset_id), "images", f"{image_id}{ext.lower()}")


def dataset_label(dataset_id: str, image_id: str) -> str:
    return _join(dataset_prefix(dataset_id), "labels", f"{image_id}.txt")


def dataset_label_chunk(dataset_id: str, number: int) -> str:
    """Labels of many images in one object (ingest writes them in bulk): {image_id: YOLO text}."""
    return _join(dataset_prefix(dataset_id), "labels", "chunks", f"{number:06d}.json")


def dataset_depth(dataset_id: str, image_id: str) -> str:
    return _join(dataset_prefix(dataset_id), "depth", f"{image_id}.png")


def dataset_thumbnail(dataset_id: str, image_id: str, size: int) -> str:
    """A cached JPEG thumbnail (longest side `size`); under the dataset's prefix, so it goes with it."""
    return _join(dataset_prefix(dataset_id), "thumbnails", str(size), f"{image_id}.jpg")


def dataset_quality_grid(dataset_id: str, which: str) -> str:
    """A sample grid of a dataset translation that measured its own quality; goes with the dataset."""
    return _join(dataset_prefix(dataset_id), "quality", f"grid-{which}.png")


def style_prefix(style_id: str) -> str:
    return f"styles/{style_id}/"


def style_image(style_id: str, n: int) -> str:
    return style_prefix(style_id) + f"{n:03d}.png"


def translator_prefix(model_id: str) -> str:
    return f"models/translator/{model_id}/"


def translator_file(model_id: str, *parts: str) -> str:
    """A file of a translator model, e.g. ("generator.pth",) or ("checkpoint", "state.pt")."""
    return _join(translator_prefix(model_id), *parts)


def translator_weights(model_id: str) -> str:
    """An imported model's weights (a trained one names its own file, e.g. its decoder)."""
    return translator_file(model_id, "generator.pth")


def detector_prefix(model_id: str) -> str:
    return f"models/detector/{model_id}/"


def detector_file(model_id: str, name: str) -> str:
    return detector_prefix(model_id) + name


def operator_weights(name: str, version: int | None = None, suffix: str = ".pth") -> str:
    """Version n of operator weights; without a version, where one was kept before versions existed."""
    if version is None:
        return f"models/{name}/{name}{suffix}"
    return f"models/{name}/v{version}/{name}{suffix}"


def quality_prefix(job_id: str) -> str:
    return f"quality/{job_id}/"


def quality_grid(job_id: str, which: str) -> str:
    """A sample grid of one set (translated, target, source) measured by a translation-quality job (or by
    a dataset translation that asked for the metric)."""
    return quality_prefix(job_id) + f"grid-{which}.png"


def evaluation_prefix(evaluation_id: str) -> str:
    return f"evaluations/{evaluation_id}/"


def evaluation_file(evaluation_id: str, name: str) -> str:
    return evaluation_prefix(evaluation_id) + name


def experiment_prefix(experiment_id: str) -> str:
    return f"experiments/{experiment_id}/"


def experiment_file(experiment_id: str, name: str) -> str:
    return experiment_prefix(experiment_id) + name


# The files inside those prefixes that more than one module reads or writes.
def evaluation_plot(evaluation_id: str) -> str:
    return evaluation_file(evaluation_id, "plot.png")


def evaluation_detections(evaluation_id: str) -> str:
    """The matched detections an evaluation (and any comparison of it) is computed from."""
    return evaluation_file(evaluation_id, "detections.npz")


def evaluation_predictions(evaluation_id: str, shard: int) -> str:
    """A detector's raw predictions over one shard of the evaluation's images, written by its child
    detect_shard job."""
    return evaluation_file(evaluation_id, f"predictions/{shard:05d}.npz")


def experiment_plot(experiment_id: str) -> str:
    return experiment_file(experiment_id, "plot.png")


def robustness_prefix(robustness_id: str) -> str:
    return f"robustness/{robustness_id}/"


def robustness_plot(robustness_id: str) -> str:
    return robustness_prefix(robustness_id) + "plot.png"


def detector_weights(model_id: str, which: str = "best") -> str:
    """A detector checkpoint: "best" or "last" of a training, "weights" of an upload."""
    return detector_file(model_id, f"{which}.pt")
