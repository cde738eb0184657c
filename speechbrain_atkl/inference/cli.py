"""Command-line speech enhancer: ``speechbrain-atkl-enhance``.

Enhances one audio file or every audio file of a folder tree with a
published model (a local folder or a Hugging Face Hub id)::

    speechbrain-atkl-enhance noisy.flac enhanced.wav --model user/distil-dccrn
    speechbrain-atkl-enhance noisy_dir/ enhanced_dir/ --model ./published_model

A folder is mirrored: ``noisy_dir/a/b.flac`` becomes ``enhanced_dir/a/b.wav``
(``--output-format`` picks the extension). Outputs are at the model's rate
(16 kHz; ``--output-rate input``: resampled back to each input's rate,
band-limited to 8 kHz) and written atomically. Existing outputs are skipped
unless ``--overwrite``. A file that fails (missing, not audio, empty, NaN
samples, ...) is reported at the end with the reason and does not stop the
others; the exit status is 0 only if every file was enhanced or skipped.

``--jobs N`` enhances N files at once in worker processes (default: one per
core for a folder, 1 for a single file), each on ``--threads`` torch threads
(default: the cores shared among the jobs, so 1 per job for a folder); the
outputs do not depend on ``--jobs``. ``--atten-lim-db L`` keeps at least
``10 ** (-L / 20)`` of the input in every time-frequency bin
(:mod:`~speechbrain_atkl.models.attenuation`).

Also runs as ``python -m speechbrain_atkl.inference.cli``. It keeps large
temporaries allocated between chunks (fewer page faults, see
:mod:`speechbrain_atkl.allocator`; ``SPEECHBRAIN_ATKL_MALLOC_MIB=off`` disables it).

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import contextlib
import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from tqdm import tqdm

from speechbrain_atkl.data.atomic import FileWriteError, check_writable
from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS
from speechbrain_atkl.inference.chunking import check_chunking

OUTPUT_FORMATS = ("wav", "flac")
OUTPUT_RATES = ("16000", "input")
#: Why a file was not enhanced when its worker process died.
LOST_REASON = (
    "not enhanced: a worker process died (killed, e.g. for lack of memory) before this file was done; "
    "run again (existing outputs are skipped), with fewer --jobs"
)


def plan_outputs(input_path, output_path, output_format="wav"):
    """Pairs every input audio file with its output file.

    Arguments
    ---------
    input_path : pathlib.Path
        An audio file or a folder searched recursively for files with an
        extension in :data:`~speechbrain_atkl.data.audio.AUDIO_EXTENSIONS`
        (hidden files and anything under ``output_path`` excluded).
    output_path : pathlib.Path
        For a file input: the output file if it has an audio extension and is
        not an existing folder, else the folder to write it in. For a folder
        input: the output folder.
    output_format : str
        Extension of the outputs written into folders.

    Returns
    -------
    list of (pathlib.Path, pathlib.Path)
        ``(input, output)`` pairs, sorted by input.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "in" / "sub").mkdir(parents=True)
    >>> (root / "in" / "sub" / "a.flac").touch()
    >>> (root / "in" / "notes.txt").touch()
    >>> [(i.relative_to(root), o.relative_to(root)) for i, o in plan_outputs(root / "in", root / "out")]
    [(PosixPath('in/sub/a.flac'), PosixPath('out/sub/a.wav'))]
    """
    suffix = "." + output_format
    if input_path.is_dir():
        output_root = output_path.resolve()
        inputs = sorted(
            path
            for path in input_path.rglob("*")
            if path.suffix.lower() in AUDIO_EXTENSIONS
            and path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(input_path).parts)
            and output_root not in path.resolve().parents
        )
        return [(path, output_path / path.relative_to(input_path).with_suffix(suffix)) for path in inputs]
    if output_path.suffix.lower() in AUDIO_EXTENSIONS and not output_path.is_dir():
        return [(input_path, output_path)]
    return [(input_path, output_path / (input_path.stem + suffix))]


def enhance_all(enhancer, pairs, overwrite=False, progress=None, jobs=1, threads=None, **options):
    """Enhances each ``(input, output)`` pair, collecting failures, in ``jobs`` processes.

    Arguments
    ---------
    enhancer : speechbrain_atkl.inference.enhance.EnhanceBatch
        The loaded model.
    pairs : list of (pathlib.Path, pathlib.Path)
        From :func:`plan_outputs`.
    overwrite : bool
        Re-enhance files whose output exists (otherwise they are skipped).
    progress : bool or None
        Show a progress bar counting files, whichever job did them
        (``None``: only on a terminal).
    jobs : int
        Files enhanced at once: 1 in this process, more in as many worker
        processes (spawned, each with its own copy of the model), never more
        than there are files to do. Outputs are the same either way, for
        the same ``threads``. As with any spawned pool, a script calling
        this with ``jobs > 1`` must guard its top-level code with
        ``if __name__ == "__main__":``.
    threads : int or None
        Torch threads of each job (restored afterwards in this process);
        None: this process's number for one job, 1 per worker process.
    **options
        ``chunk_seconds``, ``context_seconds``, ``crossfade_seconds``,
        ``atten_lim_db`` and ``output_rate`` for ``enhance_file``.

    Returns
    -------
    enhanced, skipped : list of pathlib.Path
        Inputs enhanced, and inputs skipped because their output exists.
    failed : list of (pathlib.Path, str)
        Inputs that failed, with the reason; a file that fails does not
        stop the others.
    """
    skipped, failed, todo = [], [], []
    claimed = {}
    for source, target in pairs:
        if target in claimed:
            failed.append((source, f"its output {target} is also the output of {claimed[target]}"))
        elif target.resolve() == source.resolve():
            failed.append((source, "the output would replace the input; choose another output folder"))
        elif target.is_dir():
            failed.append((source, f"its output {target} is an existing folder; move it away"))
        else:
            claimed[target] = source
            if target.exists() and not overwrite:
                skipped.append(source)
            else:
                todo.append((source, target))
    bar = tqdm(total=len(pairs), unit="file", disable=None if progress is None else not progress)
    bar.update(len(pairs) - len(todo))
    if min(jobs, len(todo)) <= 1:
        with _torch_threads(threads):
            outcomes = []
            for source, target in todo:
                outcomes.append(_enhance_pair(enhancer, source, target, options))
                bar.update()
    else:
        outcomes = _enhance_in_workers(enhancer, todo, min(jobs, len(todo)), threads, options, bar)
    bar.close()
    enhanced = [source for (source, _), reason in zip(todo, outcomes) if reason is None]
    failed += [(source, reason) for (source, _), reason in zip(todo, outcomes) if reason is not None]
    order = {source: position for position, (source, _) in enumerate(pairs)}
    return enhanced, skipped, sorted(failed, key=lambda failure: order[failure[0]])


def _enhance_pair(enhancer, source, target, options):
    """Enhances one file: None, or why it failed."""
    try:
        enhancer.enhance_file(source, target, return_signal=False, **options)
    except Exception as error:  # noqa: BLE001 - one bad file must not stop the others
        return str(error) if isinstance(error, (ValueError, RuntimeError, OSError)) else repr(error)
    return None


@contextlib.contextmanager
def _torch_threads(threads):
    """Runs the block with ``threads`` torch threads (None: as many as now), then restores the number."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _enhance_in_workers(enhancer, todo, jobs, threads, options, bar):
    """Enhances ``todo`` in ``jobs`` worker processes; the reasons, in ``todo``'s order."""
    outcomes = [LOST_REASON] * len(todo)
    model_setup = (enhancer.mods.enhance_model, enhancer.sample_rate, str(enhancer.device), threads or 1)
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=model_setup,
    )
    try:
        futures = {
            pool.submit(_enhance_in_worker, source, target, options): position
            for position, (source, target) in enumerate(todo)
        }
        for future in as_completed(futures):
            try:
                outcomes[futures[future]] = future.result()
            except BrokenProcessPool:
                pass  # the file keeps LOST_REASON
            bar.update()
    finally:
        pool.shutdown(cancel_futures=True)
    return outcomes


_worker_enhancer = None


def _start_worker(model, sample_rate, device, threads):
    """Process-pool initializer: the worker's own enhancer, on ``threads`` torch threads."""
    global _worker_enhancer
    import torch

    from speechbrain_atkl.allocator import tune_allocator
    from speechbrain_atkl.inference.enhance import EnhanceBatch

    tune_allocator()
    torch.set_num_threads(threads)
    _worker_enhancer = EnhanceBatch(
        modules={"enhance_model": model}, hparams={"sample_rate": sample_rate}, run_opts={"device": device}
    )


def _enhance_in_worker(source, target, options):
    return _enhance_pair(_worker_enhancer, source, target, options)


def build_parser():
    """The argument parser of ``speechbrain-atkl-enhance``."""
    parser = argparse.ArgumentParser(
        prog="speechbrain-atkl-enhance",
        description="Enhance noisy speech files with a speechbrain-atkl model (output at 16 kHz).",
    )
    parser.add_argument("input", type=Path, help="an audio file or a folder tree of audio files")
    parser.add_argument("output", type=Path, help="output file, or folder (mirrors an input folder)")
    parser.add_argument("--model", required=True, help="published model: local folder or Hub id user/name")
    parser.add_argument("--savedir", help="where the model's files are linked or downloaded")
    parser.add_argument(
        "--device", help="torch device, e.g. cpu or cuda:0 (default: CUDA if available, else CPU)"
    )
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="load a model whose hyperparams.yaml holds tags that can run code (only from authors you trust)",
    )
    parser.add_argument("--overwrite", action="store_true", help="redo files whose output exists")
    parser.add_argument(
        "--chunk-seconds", type=float, default=10.0, help="audio per model call (s); 10 s keeps peak memory under 1 GiB"
    )
    parser.add_argument("--context-seconds", type=float, default=2.0, help="overlap before each chunk (s)")
    parser.add_argument(
        "--crossfade-seconds", type=float, default=0.05, help="cross-fade between chunks (s), at most --chunk-seconds"
    )
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="wav", help="for folder outputs")
    parser.add_argument(
        "--output-rate",
        choices=OUTPUT_RATES,
        default="16000",
        help="16000 (the model's rate) or input: resampled back to each input's rate (band-limited to 8 kHz)",
    )
    parser.add_argument(
        "--atten-lim-db",
        type=float,
        default=None,
        help="attenuation limit: every time-frequency bin keeps >= 10^(-dB/20) of its input "
        "(12: a quarter; default: no limit)",
    )
    parser.add_argument(
        "--jobs", type=int, help="files enhanced at once (default: the number of cores for a folder, 1 for a file)"
    )
    parser.add_argument(
        "--threads", type=int, help="torch threads per job (default: the cores divided among the jobs)"
    )
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="show a progress bar"
    )
    progress.add_argument(
        "--no-progress", dest="progress", action="store_false", help="hide the progress bar"
    )
    return parser


def main(argv=None):
    """Runs the enhancer; returns the exit status (0 only if no file failed)."""
    args = build_parser().parse_args(argv)
    try:
        check_chunking(args.chunk_seconds, args.context_seconds, args.crossfade_seconds)
    except ValueError as error:
        print(f"error: --chunk-seconds, --context-seconds, --crossfade-seconds: {error}", file=sys.stderr)
        return 2
    for name, value in (("--jobs", args.jobs), ("--threads", args.threads)):
        if value is not None and value < 1:
            print(f"error: {name} must be at least 1, got {value}.", file=sys.stderr)
            return 2
    if not args.input.exists():
        print(f"error: {args.input}: no such file or folder.", file=sys.stderr)
        return 1
    pairs = plan_outputs(args.input, args.output, args.output_format)
    if not pairs:
        print(f"error: no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {args.input}.", file=sys.stderr)
        return 1
    try:  # before the model is loaded and any file enhanced
        check_writable(args.output if args.input.is_dir() else pairs[0][1].parent)
    except FileWriteError as error:
        print(f"error: the output cannot be written: {error}", file=sys.stderr)
        return 1

    from speechbrain_atkl.allocator import tune_allocator
    from speechbrain_atkl.inference.enhance import EnhanceBatch

    tune_allocator()
    logging.getLogger("speechbrain").setLevel(logging.WARNING)
    try:
        enhancer = EnhanceBatch.from_hparams(
            source=args.model,
            savedir=args.savedir,
            trust_remote_code=args.trust_remote_code,
            run_opts={"device": args.device} if args.device else None,
        )
    except Exception as error:  # noqa: BLE001 - report any loading failure plainly
        print(
            f"error: could not load the model {args.model!r}: {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return 1
    try:
        enhancer.attenuation_kwargs(args.atten_lim_db)
    except (ValueError, TypeError) as error:
        print(f"error: --atten-lim-db: {error}", file=sys.stderr)
        return 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    jobs = args.jobs or (cores if args.input.is_dir() else 1)
    enhanced, skipped, failed = enhance_all(
        enhancer,
        pairs,
        overwrite=args.overwrite,
        progress=args.progress,
        jobs=jobs,
        threads=args.threads or max(1, cores // min(jobs, len(pairs))),
        chunk_seconds=args.chunk_seconds,
        context_seconds=args.context_seconds,
        crossfade_seconds=args.crossfade_seconds,
        atten_lim_db=args.atten_lim_db,
        output_rate=None if args.output_rate == "16000" else args.output_rate,
    )
    summary = f"Enhanced {len(enhanced)} file(s), skipped {len(skipped)} with existing output"
    summary += " (--overwrite redoes them)" if skipped else ""
    print(f"{summary}, {len(failed)} failed.")
    for source, reason in failed:
        print(f"FAILED {source}: {reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
