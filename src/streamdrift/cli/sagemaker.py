"""``streamdrift sagemaker``: export a baseline to SageMaker Model Monitor files and import them."""

from __future__ import annotations

from pathlib import Path

import click

from streamdrift.cli.baseline import exit_on_error


@click.group(name="sagemaker")
def sagemaker() -> None:
    """Convert between streamdrift baselines and SageMaker statistics.json / constraints.json."""


@sagemaker.command("export")
@click.argument("baseline_path", metavar="BASELINE", type=click.Path(path_type=Path))
@click.option("--output-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for statistics.json and constraints.json.")
@exit_on_error
def export(baseline_path: Path, output_dir: Path) -> None:
    """Write BASELINE as SageMaker statistics.json and constraints.json."""
    from streamdrift.baseline.baseline import Baseline
    from streamdrift.baseline.sagemaker import export_monitor_sections, export_sagemaker

    loaded = Baseline.load(baseline_path)
    written = [*export_sagemaker(loaded, output_dir, sections=False), *export_monitor_sections(loaded, output_dir)]
    click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)


@sagemaker.command("import")
@click.option("--statistics", "statistics_path", required=True, type=click.Path(path_type=Path),
              help="SageMaker statistics.json.")
@click.option("--constraints", "constraints_path", default=None, type=click.Path(path_type=Path),
              help="SageMaker constraints.json (default: constraints suggested from the statistics).")
@click.option("--model-id", required=True, help="Model the baseline belongs to.")
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Baseline JSON to write.")
@click.option("--kll-k", type=click.IntRange(8, 65535), default=200, show_default=True, help="KLL sketch k.")
@click.option("--model-quality-statistics", default=None, type=click.Path(path_type=Path),
              help="Model-quality monitor statistics.json.")
@click.option("--model-quality-constraints", default=None, type=click.Path(path_type=Path),
              help="Model-quality monitor constraints.json (needs --model-quality-statistics).")
@click.option("--clarify-analysis", default=None, type=click.Path(path_type=Path),
              help="Clarify analysis.json (bias metrics and global SHAP values).")
@exit_on_error
def import_(statistics_path: Path, constraints_path: Path | None, model_id: str, output: Path, kll_k: int,
            model_quality_statistics: Path | None, model_quality_constraints: Path | None,
            clarify_analysis: Path | None) -> None:
    """Build a streamdrift baseline from SageMaker baseline files."""
    from streamdrift.baseline.sagemaker import import_sagemaker
    from streamdrift.profile.profiles import ProfileParams

    result = import_sagemaker(statistics_path, constraints_path, model_id=model_id,
                              params=ProfileParams(kll_k=kll_k), model_quality_statistics=model_quality_statistics,
                              model_quality_constraints=model_quality_constraints,
                              clarify_analysis=clarify_analysis)
    result.save(output)
    click.echo(f"wrote {output}: {result.profile.n_records} records, {len(result.profile.features)} features, "
               f"baseline_id {result.baseline_id}", err=True)
