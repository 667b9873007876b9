"""The `sim2real` command (Typer + Rich), built on `sim2real.client`.

The service is found through --url / --api-key, SIM2REAL_URL / SIM2REAL_API_KEY, or the config file
(`sim2real.config`). Every command takes --json; exit code 0 on success, 1 on any error or failed job.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sim2real.cli import datasets, evaluations, models, service, study
from sim2real.cli.common import State
from sim2real.cli.translate import translate

app = typer.Typer(
    name="sim2real",
    help="Translate synthetic driving images into real weather, train detectors, measure mAP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    epilog="The service: --url/--api-key, else SIM2REAL_URL/SIM2REAL_API_KEY, else the config file "
    '($SIM2REAL_CONFIG, default ~/.config/sim2real/config.toml: url = "…", api_key = "…").',
)


@app.callback()
def main(
    url: Annotated[
        str | None, typer.Option(envvar="SIM2REAL_URL", help="The service (default http://127.0.0.1:8000).")
    ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="SIM2REAL_API_KEY", help="Its API key.")] = None,
) -> None:
    State.url, State.api_key, State._client = url, api_key, None


app.command("up")(service.up)
app.command("translate")(translate)
app.command("weathers")(service.weathers)
app.add_typer(service.styles, name="styles")
app.add_typer(service.weights, name="weights")
app.add_typer(datasets.app, name="datasets")
app.add_typer(models.translators, name="translators")
app.add_typer(models.detectors, name="detectors")
app.add_typer(evaluations.evals, name="eval")
app.add_typer(evaluations.experiments, name="experiments")
app.add_typer(service.jobs, name="jobs")
service.demo.command("study")(study.study)
app.add_typer(service.demo, name="demo")

__all__ = ["app"]
