"""The ``thinc-fast`` command line: train, evaluate, init-config, info."""
import functools
import platform
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import click

from .about import __version__
from .errors import ThincFastError, TrainingInterrupted


def _friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Show thinc_fast's errors (:class:`~thinc_fast.errors.ThincFastError`) as one
    paragraph and exit with their ``exit_code`` (1; 130 after Ctrl-C); a
    traceback only with --verbose. Other exceptions are shown with their type.
    Ctrl-C is not an error: its message says what was saved and how to go on."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = kwargs.get("verbose", False)
        try:
            return func(*args, **kwargs)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as err:  # noqa: BLE001 - the CLI's last line of defence
            if isinstance(err, TrainingInterrupted):
                click.echo(str(err), err=True)
                sys.exit(err.exit_code)
            if verbose:
                traceback.print_exc()
            known = isinstance(err, (ThincFastError, FileNotFoundError))
            text = str(err) if known else f"{type(err).__name__}: {err}"
            click.echo(f"Error: {text}", err=True)
            if not verbose:
                click.echo("(run with --verbose for the full traceback)", err=True)
            sys.exit(getattr(err, "exit_code", 1) if isinstance(err, ThincFastError) else 1)

    return wrapper


def _show_warning(message: Any, category: Any, filename: str, lineno: int,
                  file: Any = None, line: Any = None) -> None:
    """Warnings as one "Warning: ..." line on stderr (not Python's file:line form)."""
    click.echo(f"Warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="thinc-fast")
def main() -> None:
    """thinc_fast: Thinc-style training on fused Cython kernels."""
    warnings.showwarning = _show_warning


@main.command()
@click.argument("config", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--output", "-o", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for model-last/, model-best/, metrics.jsonl and config.cfg.")
@click.option("--resume", is_flag=True, help="Continue the run in --output from its model-last.")
@click.option("--overwrite", is_flag=True, help="Start over in an --output that holds an earlier run.")
@click.option("--seed", type=int, help="Random seed (overrides [system] seed).")
@click.option("--data", type=click.Path(path_type=Path, dir_okay=False),
              help="Train on this .npz file (arrays X, Y; optional X_dev, Y_dev) instead of "
                   "the config's [data]; a .jsonl or .conllu file: a text model's data (see "
                   "init-config --model).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value, e.g. --set training.max_epochs=2 (repeatable).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Train data-parallel on N Ray workers (0: in this process). Each worker "
                   "takes [training] batch_size examples a step, so a step sees N x batch_size.")
@click.option("--address", help="Join the Ray cluster at this address (default: start a local one).")
@click.option("--on-failure", type=click.Choice(["restart", "shrink"]), default="restart",
              show_default=True, help="When a Ray worker dies: replace it, or go on without it.")
@click.option("--allow-other-data", is_flag=True,
              help="With --resume: go on although the data differ from what the run was "
                   "trained on (refused otherwise, naming both).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars; metrics rows only.")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks on errors.")
@_friendly_errors
def train(config: Optional[Path], output: Optional[Path], resume: bool, overwrite: bool,
          seed: Optional[int], data: Optional[Path], overrides: Tuple[str, ...], workers: int,
          address: Optional[str], on_failure: str, allow_other_data: bool, quiet: bool,
          verbose: bool) -> None:
    """Train a model from CONFIG (default: an MLP on the 8x8 digits data set),
    on the config's data or on the .npz file given with --data."""
    from .training import RunOptions, parse_overrides, run_training

    options = RunOptions(config=config, output=output, resume=resume, overwrite=overwrite,
                         seed=seed, data=data, overrides=parse_overrides(list(overrides)),
                         workers=workers, address=address, on_failure=on_failure,
                         allow_other_data=allow_other_data, show_progress=not quiet)
    summary = run_training(options, log=click.echo, banner=options.banner())
    if summary["finished"] is not None:
        return  # a finished run: what to do was said, nothing changed
    best, score = summary["best_score"], summary["score"]
    what_best = {"dev_acc": "dev accuracy", "dev_loss": "dev loss"}.get(score, score)
    click.echo(f"Done: {summary['epochs']} epochs, {summary['steps']} steps"
               + (", stopped early (patience)" if summary["stopped_early"] else "")
               + (f"; best {what_best} {best:.4f} at step {summary['best_step']}" if best is not None else "")
               + (f"; saved in {summary['output']}" if summary["output"] else ""))
    click.echo(f"Why it stopped: {summary['why']}.")


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path, file_okay=False))
@click.argument("data", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--allow-other-data", is_flag=True,
              help="Without DATA: score the config's dev set even if the data differ from "
                   "what the run was trained on.")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks on errors.")
@_friendly_errors
def evaluate(model_dir: Path, data: Optional[Path], allow_other_data: bool,
             verbose: bool) -> None:
    """Print accuracy and loss of a trained model (MODEL_DIR: a run folder or a
    model-* folder) on DATA or on its config's dev set.

    DATA: an .npz file; every row of its X, Y is scored (integer labels may
    use only some of the model's classes), and its X_dev, Y_dev on a line of
    their own when it has them. A text model's DATA: a .jsonl (classifier)
    or .conllu (tagger) file, read as training reads it; every document is
    scored against the label names the run recorded (a tagger's accuracy is
    over tokens), and a label the model never saw is an error naming the
    file, the line and the label."""
    from .training import (evaluate as score, find_model_dir, load_config, load_model,
                           resolve_config, resolve_loss)

    folder = find_model_dir(model_dir)
    # a data file is scored with the loss the run trained and reported with
    run_loss = None if data is None else resolve_loss(load_config(folder / "config.cfg", {}),
                                                      str(folder / "config.cfg"))
    if data is not None and data.suffix.lower() in (".jsonl", ".conllu"):
        from .training.labels import text_eval_data

        model = load_model(folder)
        X, Y, _ = text_eval_data(folder, data, model)
        accuracy, loss = score(model, X, Y, loss=run_loss)
        what = (f"{len(X)} documents" if hasattr(Y, "shape") else
                f"{sum(len(doc) for doc in X)} tokens ({len(X)} sentences)")
        click.echo(f"{folder}: accuracy {accuracy:.4f}, loss {loss:.4f} on all {what} of {data}")
        return
    if data is not None:
        from .datasets import DataError, load_npz

        model = load_model(folder)
        try:
            width = int(model.predict(load_npz(data)["X"][:1]).shape[1])
        except (ValueError, TypeError) as err:
            if isinstance(err, DataError):
                raise
            raise DataError(f"{data} does not fit the model in {folder}: {err}") from None
        arrays = load_npz(data, n_classes=width)
        parts = [("X", "Y")] + ([("X_dev", "Y_dev")] if "X_dev" in arrays else [])
        for x_key, y_key in parts:
            X, Y = arrays[x_key], arrays[y_key]
            accuracy, loss = score(model, X, Y, loss=run_loss)
            click.echo(f"{folder}: accuracy {accuracy:.4f}, loss {loss:.4f} on all {len(X)} rows "
                       f"of {data} ({x_key!r}, {y_key!r})")
        return
    config = load_config(folder / "config.cfg", {})
    resolved = resolve_config(config, str(folder / "config.cfg"))
    if not allow_other_data:  # the config's relative paths resolve against this folder
        from .training.provenance import (check_same_data, data_fingerprint, data_sources,
                                          read_data_record)

        check_same_data(read_data_record(folder), data_fingerprint(resolved["data"]),
                        data_sources(dict(config.get("data", {}))), "evaluate", folder)
    model = resolved["model"]
    model.from_disk(folder / "model.bin")
    _, _, X, Y = resolved["data"]
    accuracy, loss = score(model, X, Y, loss=resolved["training"]["loss"])
    click.echo(f"{folder}: accuracy {accuracy:.4f}, loss {loss:.4f} on the config's dev set "
               f"({len(X)} examples)")


@main.command("init-config")
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.option("--model", "model_kind", type=click.Choice(["mlp", "textcat", "tagger"]),
              default="mlp", show_default=True,
              help="mlp: the default MLP (8x8 digits, .npz data); textcat: a text classifier "
                   "(.jsonl of {\"text\", \"label\"}); tagger: a tagger (.conllu).")
def init_config(path: Optional[Path], force: bool, model_kind: str) -> None:
    """Write a training config to PATH (or print it): the default, or a text model's."""
    from .training import DEFAULT_CONFIG
    from .training.text_configs import TEXT_CONFIGS

    text = TEXT_CONFIGS.get(model_kind, DEFAULT_CONFIG)
    if path is None:
        click.echo(text, nl=False)
        return
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to replace it")
    path.write_text(text, encoding="utf8")
    click.echo(f"Wrote {path}")


@main.command()
def info() -> None:
    """Version, backend, blis kernels, threads and GPU: paste this into bug reports."""
    import numpy

    from .backends import get_current_ops, get_num_threads

    try:
        import blis

        blis_version = getattr(blis, "__version__", None) or _dist_version("blis")
    except ImportError:  # pragma: no cover
        blis_version = None
    from .backends import _blis_arch
    from .distributed import exchange_info

    lines = {
        "thinc_fast": __version__,
        "python": f"{platform.python_version()} ({platform.platform()})",
        "numpy": f"{numpy.__version__} (BLAS: {_blis_arch.numpy_blas_line()})",
        "blis": f"{blis_version}",
        "ops": type(get_current_ops()).__name__,
        "threads": get_num_threads(),
        "gpu": _gpu_status(),
        "ray": exchange_info(),
    }
    lines["FMA peak"] = _fma_peak_line(get_num_threads())
    lines["Thinc"] = _thinc_backend_line()
    for key, value in lines.items():
        click.echo(f"{key:>11}: {value}")
    for line in _blis_arch.info_lines():  # the CPU, its flags and the kernels chosen, and why
        click.echo(f"{'':>11}  {line}")


def _fma_peak_line(threads: int) -> str:
    """The CPU's float32 FMA peak, measured now (about 0.3 s)."""
    from .backends.numpy_ops import fma_peak

    one = fma_peak(1)
    if one is None:
        return "not measured (needs x86-64 with AVX2/FMA)"
    text = f"{one['gflops']:.0f} GFLOP/s on 1 thread"
    if threads > 1:
        text += f", {fma_peak(threads)['gflops']:.0f} on {threads}"
    return text + f" ({one['isa']}, independent FMA chains)"


def _thinc_backend_line() -> str:
    """Whether Thinc is installed and finds thinc_fast's backend."""
    version = _dist_version("thinc")
    if version is None:
        return "not installed (the Thinc backend needs Thinc 8.3 or 9.1)"
    try:
        from .backends.thinc_backend import cblas_status
        from thinc.api import get_ops

        name = type(get_ops("thinc_fast")).__name__
        return f"{version}; get_ops('thinc_fast') -> {name}; {cblas_status()}"
    except Exception as err:  # a Thinc we cannot run beside: say why
        return f"{version}; the backend does not load: {type(err).__name__}: {err}"


def _dist_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # pragma: no cover
        return None


def _gpu_status() -> str:
    try:
        import cupy
    except ImportError:
        return "CuPy not installed (CPU only)"
    try:  # pragma: no cover - needs a GPU
        count = cupy.cuda.runtime.getDeviceCount()
        return f"CuPy {cupy.__version__}, {count} device(s)"
    except Exception as err:  # pragma: no cover
        return f"CuPy {cupy.__version__}, no usable device ({err})"


if __name__ == "__main__":  # pragma: no cover
    main()
