"""The `fraclab` command line: one thin command per pipeline stage.

Each command reads its settings, calls pure functions from the package and writes files.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
@click.version_option(package_name="fraclab")
def main() -> None:
    """Bone-fracture classification and localisation pipeline (see README.md)."""


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Directory to write the dataset to (must not exist or be empty).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--n-patients", type=int, default=None, help="Number of synthetic patients.")
@click.option("--size", type=int, default=None, help="Image side in pixels.")
@click.option("--difficulty", type=float, default=None,
              help="0 (obvious fractures) .. 1 (subtle fractures, heavy noise).")
def synth(out_dir: Path, seed: int, n_patients: int | None, size: int | None,
          difficulty: float | None) -> None:
    """Write deterministic synthetic radiographs in Roboflow YOLOv8 export layout."""
    from fraclab.data.synth import SynthConfig, generate_dataset

    overrides = {k: v for k, v in
                 {"n_patients": n_patients, "size": size, "difficulty": difficulty}.items()
                 if v is not None}
    try:
        summary = generate_dataset(out_dir, SynthConfig(seed=seed, **overrides))
    except (ValueError, FileExistsError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(summary)


@main.command()
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default="params.yaml", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              default="artifacts/prepared", show_default=True)
@click.option("--metrics", "metrics_file", type=click.Path(path_type=Path),
              default="metrics/data.json", show_default=True)
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path),
              default="plots/data", show_default=True)
def prepare(params_file: Path, out_dir: Path, metrics_file: Path, plots_dir: Path) -> None:
    """Import, check, audit and split the dataset; decode images once."""
    from fraclab.data.audit import summarize_audit
    from fraclab.data.records import DatasetError
    from fraclab.data.synth.dataset import is_synthetic_dataset
    from fraclab.io import atomic_write_json
    from fraclab.params import DataParams, DetectParams, ParamsError, load_params, section, seed
    from fraclab.prepare.plots import write_distribution_plots
    from fraclab.prepare.stage import prepare_dataset
    from fraclab.recipes import real_data_size_warning

    try:
        params = load_params(params_file)
        data = section(DataParams, params, "data")
        detect = params.get("detect") or {}
        warning = real_data_size_warning(is_synthetic_dataset(Path(data.path)),
                                         data.image_size,
                                         detect.get("imgsz", DetectParams.imgsz)
                                         if detect else None)
        if warning:
            click.echo(warning)
        audit = prepare_dataset(data, seed(params), out_dir, log=click.echo)
    except (DatasetError, ParamsError) as err:
        raise click.ClickException(str(err)) from None
    if warning:
        audit["settings_warning"] = warning
    atomic_write_json(metrics_file, audit)
    write_distribution_plots(audit, plots_dir)
    click.echo(summarize_audit(audit))



@main.command()
@click.option("--backbone", required=True, help="One of classify.backbones.")
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default="params.yaml", show_default=True)
def explain(backbone: str, params_file: Path) -> None:
    """Grad-CAM of BACKBONE's fold models on the test split, scored against the true boxes."""
    from fraclab.artifacts.manifest import ArtifactError
    from fraclab.explain.stage import run_explain
    from fraclab.params import ExplainParams, ParamsError, load_params, section

    try:
        params = load_params(params_file)
        if backbone not in params["classify"]["backbones"]:
            raise ParamsError(f"params.yaml: {backbone!r} is not in classify.backbones")
        run_explain(backbone, params, section(ExplainParams, params, "explain"), Path("."),
                    log=click.echo)
    except (ArtifactError, ParamsError, FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None


@main.command()
@click.option("--name", required=True, help="An entry of params.yaml: external.")
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default="params.yaml", show_default=True)
@click.option("--model", "bundle_dir", type=click.Path(path_type=Path), default="model",
              show_default=True, help="The bundle to score (the bundle stage's model/).")
def external(name: str, params_file: Path, bundle_dir: Path) -> None:
    """Score the study's bundle on the labelled dataset external.NAME, beside the test set."""
    from fraclab.artifacts.manifest import ArtifactError
    from fraclab.external.stage import run_external
    from fraclab.params import ParamsError, load_params

    try:
        run_external(name, Path("."), load_params(params_file), bundle_dir=bundle_dir,
                     out_dir=Path("artifacts") / "external" / name,
                     metrics_path=Path("metrics") / "external" / f"{name}.json",
                     plots_dir=Path("plots") / "external" / name, log=click.echo)
    except (ArtifactError, ParamsError, FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None


@main.command()
@click.argument("name", required=False)
@click.option("--data", "data_path", default=None,
              help="Dataset root to point data.path at (relative to the project root).")
@click.option("--recipes", "recipes_dir", type=click.Path(path_type=Path), default="recipes",
              show_default=True)
def recipe(name: str | None, data_path: str | None, recipes_dir: Path) -> None:
    """Print the `dvc exp run` command that applies recipe NAME (no NAME: list them)."""
    from fraclab.params import ParamsError
    from fraclab.recipes import available_recipes, exp_run_command, load_recipe

    try:
        if name is None:
            for known in available_recipes(recipes_dir):
                click.echo(f"{known}: {load_recipe(known, recipes_dir).description}")
            return
        click.echo(exp_run_command(load_recipe(name, recipes_dir), data_path))
    except ParamsError as err:
        raise click.ClickException(str(err)) from None


@main.command("classify-cv")
@click.option("--backbone", required=True, help="One of classify.backbones.")
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default="params.yaml", show_default=True)
@click.option("--prepared", "prepared_dir", type=click.Path(path_type=Path),
              default="artifacts/prepared", show_default=True)
@click.option("--executor", type=click.Choice(["auto", "serial", "local", "ray"]),
              default=None,
              help="Where the folds train (default: $FRACLAB_EXECUTOR, else auto: side by "
                   "side when two fit on the cores); the results do not depend on it.")
def classify_cv(backbone: str, params_file: Path, prepared_dir: Path,
                executor: str | None) -> None:
    """Repeated stratified group K-fold training of one backbone; OOF and test predictions."""
    from fraclab.classify.protocol import ProtocolError
    from fraclab.classify.stage import run_classify_cv
    from fraclab.params import ClassifyParams, ParamsError, load_params, section, seed
    from fraclab.runtime import PretrainedWeightsError

    try:
        params = load_params(params_file)
        cfg = section(ClassifyParams, params, "classify")
        run_classify_cv(backbone, cfg, seed(params), prepared_dir,
                        out_dir=Path("artifacts/classify") / backbone,
                        metrics_path=Path("metrics/classify") / f"{backbone}.json",
                        plots_dir=Path("plots/classify") / backbone, log=click.echo,
                        executor=executor)
    except (ParamsError, ProtocolError, PretrainedWeightsError, ValueError,
            FloatingPointError, RuntimeError) as err:
        where = "; ".join(getattr(err, "__notes__", ()))
        raise click.ClickException(f"{err}" + (f" ({where})" if where else "")) from None


@main.command()
@click.option("--backbone", required=True, help="One of classify.backbones.")
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default="params.yaml", show_default=True)
@click.option("--classified", "classify_root", type=click.Path(path_type=Path),
              default="artifacts/classify", show_default=True,
              help="Folder holding <backbone>/{inner_val,oof,test}.csv from classify-cv.")
@click.option("--prepared", "prepared_dir", type=click.Path(path_type=Path),
              default="artifacts/prepared", show_default=True)
def calibrate(backbone: str, params_file: Path, classify_root: Path,
              prepared_dir: Path) -> None:
    """Nested calibration: each fold model fitted on its own inner-validation logits."""
    from fraclab.calibrate.stage import run_calibrate
    from fraclab.params import CalibrateParams, ParamsError, load_params, section, seed

    try:
        params = load_params(params_file)
        cfg = section(CalibrateParams, params, "calibrate")
        run_calibrate(backbone, cfg, classify_root / backbone, prepared_dir / "manifest.csv",
                      out_dir=Path("artifacts/calibrate") / backbone,
                      metrics_path=Path("metrics/calibrate") / f"{backbone}.json",
                      plots_dir=Path("plots/calibrate") / backbone, log=click.echo,
                      seed=seed(params))
    except (ParamsError, ValueError) as err:
        raise click.ClickException(str(err)) from None


@main.command()
@click.option("--backbone", required=True, help="One of classify.backbones.")
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default="params.yaml", show_default=True)
@click.option("--calibrated", "calibrate_root", type=click.Path(path_type=Path),
              default="artifacts/calibrate", show_default=True,
              help="Folder holding <backbone>/{inner_val,oof,test}.csv from calibrate.")
@click.option("--prepared", "prepared_dir", type=click.Path(path_type=Path),
              default="artifacts/prepared", show_default=True)
def threshold(backbone: str, params_file: Path, calibrate_root: Path,
              prepared_dir: Path) -> None:
    """Nested operating points: thresholds chosen per fold model on inner validation."""
    from fraclab.params import ParamsError, ThresholdParams, load_params, section, seed
    from fraclab.threshold.stage import run_threshold

    try:
        params = load_params(params_file)
        cfg = section(ThresholdParams, params, "threshold")
        run_threshold(backbone, cfg, seed(params), calibrate_root / backbone,
                      prepared_dir / "manifest.csv",
                      metrics_path=Path("metrics/threshold") / f"{backbone}.json",
                      plots_dir=Path("plots/threshold") / backbone, log=click.echo)
    except (ParamsError, ValueError) as err:
        raise click.ClickException(str(err)) from None


@main.command("compare-backbones")
@click.argument("backbone_a")
@click.argument("backbone_b")
@click.option("--calibrated", "calibrate_root", type=click.Path(path_type=Path),
              default="artifacts/calibrate", show_default=True)
@click.option("--prepared", "prepared_dir", type=click.Path(path_type=Path),
              default="artifacts/prepared", show_default=True)
@click.option("--n-boot", type=int, default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def compare_backbones_command(backbone_a: str, backbone_b: str, calibrate_root: Path,
                              prepared_dir: Path, n_boot: int, seed: int) -> None:
    """AUROC(A) - AUROC(B): DeLong's test and a paired grouped bootstrap, as JSON."""
    import json

    from fraclab.report.compare import compare_backbones

    try:
        result = compare_backbones(calibrate_root / backbone_a, calibrate_root / backbone_b,
                                   prepared_dir / "manifest.csv", n_boot=n_boot, seed=seed)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    click.echo(json.dumps(result, indent=2))


@main.command()
@click.option("--size", required=True, help="YOLOv8 size letter: n, s or m (also l, x).")
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default="params.yaml", show_default=True)
@click.option("--prepared", "prepared_dir", type=click.Path(path_type=Path),
              default="artifacts/prepared", show_default=True)
def detect(size: str, params_file: Path, prepared_dir: Path) -> None:
    """Train YOLOv8-SIZE on the prepared YOLO view; Ultralytics' metrics on val and test."""
    from fraclab.params import DetectParams, ParamsError, load_params, section, seed
    from fraclab.runtime import PretrainedWeightsError

    try:
        params = load_params(params_file)
        cfg = section(DetectParams, params, "detect")
        # Imported after the params are checked: importing Ultralytics takes seconds.
        from fraclab.detect.stage import run_detect

        run_detect(size, cfg, seed(params), prepared_dir,
                   out_dir=Path("artifacts/detect") / size,
                   metrics_path=Path("metrics/detect") / f"{size}.json",
                   plots_dir=Path("plots/detect") / size, log=click.echo)
    except (ParamsError, ValueError, PretrainedWeightsError) as err:
        raise click.ClickException(str(err)) from None


@main.command()
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default="params.yaml", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default="report",
              show_default=True, help="Folder for index.html, report.md and figures/.")
@click.option("--summary", "summary_path", type=click.Path(path_type=Path),
              default="metrics/summary.json", show_default=True)
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path),
              default="plots/report", show_default=True,
              help="Folder for the combined files behind dvc.yaml's top-level plots.")
def report(params_file: Path, out_dir: Path, summary_path: Path, plots_dir: Path) -> None:
    """Read every metrics and plots file; write the HTML and Markdown report and the headline."""
    from fraclab.params import ParamsError, load_params
    from fraclab.report.stage import run_report

    try:
        run_report(Path.cwd(), load_params(params_file), out_dir=out_dir,
                   summary_path=summary_path, plots_dir=plots_dir, log=click.echo)
    except (ParamsError, ValueError) as err:
        raise click.ClickException(str(err)) from None


@main.command()
@click.option("--params", "params_file", type=click.Path(path_type=Path),
              default="params.yaml", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default="model",
              show_default=True)
def bundle(params_file: Path, out_dir: Path) -> None:
    """Write the study's chosen models as one self-contained folder with a model card."""
    from fraclab.bundle.stage import run_bundle
    from fraclab.params import ParamsError, load_params

    try:
        run_bundle(Path.cwd(), load_params(params_file), out_dir, log=click.echo)
    except (ParamsError, ValueError, KeyError) as err:
        raise click.ClickException(str(err)) from None


@main.command()
@click.argument("inputs", nargs=-1)
@click.option("--model", "model_dir", type=click.Path(path_type=Path), default="model",
              show_default=True, help="A bundle written by the bundle stage.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default="predictions",
              show_default=True)
@click.option("--operating-point", default=None,
              help="The decision to report as `decision` (default: the bundle's).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or mps.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--no-overlays", is_flag=True, help="Skip overlays/ and the page's thumbnails.")
@click.option("--explain", is_flag=True,
              help="Also write explain/: the fold models' Grad-CAM where the decision is "
                   "positive (and saliency_peak in predictions.jsonl).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict(inputs: tuple[str, ...], model_dir: Path, out_dir: Path,
            operating_point: str | None, device: str, batch_size: int, no_overlays: bool,
            explain: bool, quiet: bool) -> None:
    """Calibrated fracture probability, decision and boxes for every INPUT (files, folders,
    globs; PNG, JPEG, BMP, TIFF, 16-bit PNG, DICOM). Exit 0: all predicted; 1: some inputs
    failed (their rows say why); 2: usage error."""
    from fraclab.predict.cli import run_predict

    raise SystemExit(run_predict(inputs, model_dir, out_dir, operating_point, device,
                                 batch_size, overlays=not no_overlays, explain=explain,
                                 quiet=quiet))


@main.command("check-metrics")
@click.option("--baseline", default="HEAD", show_default=True,
              help="Git revision (branch, tag, commit or DVC experiment) to compare with.")
@click.option("--rules", "rules_file", type=click.Path(path_type=Path),
              default="metrics_rules.yaml", show_default=True)
@click.option("--show", type=click.Choice(["gated", "changed", "all"]), default="gated",
              show_default=True, help="Rows in the table: the checked metrics, only those "
              "that moved (and failures), or every metric.")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Also write the Markdown table to this file (e.g. for a PR comment).")
def check_metrics(baseline: str, rules_file: Path, show: str, output: Path | None) -> None:
    """Regression gate: workspace metrics vs BASELINE; exit 1 on a regression.

    Fails when a checked metric moves the wrong way beyond its tolerance, disappears or is
    no longer a number, or when a metrics file cannot be read (rules: --rules).
    """
    from fraclab.gate.compare import compare, markdown_table
    from fraclab.gate.dvcread import GateError, read_snapshots
    from fraclab.gate.rules import RulesError, load_rules

    try:
        rules = load_rules(rules_file)
        old, new, commit = read_snapshots(Path.cwd(), baseline)
    except (RulesError, GateError) as err:
        raise click.ClickException(str(err)) from None
    rows = compare(old, new, rules)
    table = markdown_table(rows, f"{baseline} ({commit[:12]})", show=show)
    click.echo(table, nl=False)
    if output is not None:
        output.write_text(table)
    if any(r.failed for r in rows):
        raise SystemExit(1)
