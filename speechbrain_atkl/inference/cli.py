"""Command-line speech enhancer: ``speechbrain-atkl-enhance``.

Enhances one audio file or every audio file of a folder tree with a
published model (a local folder or a Hugging Face Hub id)::

    speechbrain-atkl-enhance noisy.flac enhanced.wav --model user/distil-dccrn
    speechbrain-atkl-enhance noisy_dir/ enhanced_dir/ --model ./published_model

A folder is mirrored: ``noisy_dir/a/b.flac`` becomes ``enhanced_dir/a/b.wav``
(``--output-format`` picks the extension). Outputs are at the model's rate
(16 kHz) and written atomically. Existing outputs are skipped unless
``--overwrite``. A file that fails (missing, not audio, empty, NaN samples,
...) is reported at the end with the reason and does not stop the others;
the exit status is 0 only if every file was enhanced or skipped.

Also runs as ``python -m speechbrain_atkl.inference.cli``. It keeps large
temporaries allocated between chunks (fewer page faults, see
:mod:`speechbrain_atkl.allocator`; ``SPEECHBRAIN_ATKL_MALLOC_MIB=off`` disables it).

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import logging
import math
import sys
from pathlib import Path

from tqdm import tqdm

from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS

OUTPUT_FORMATS = ("wav", "flac")


def plan_outputs(input_path, output_path, output_format="wav"):
    """Pairs every input audio file with its output file.

    Arguments
    ---------
    input_path : pathlib.Path
        An audio file or a folder searched recursively for files with an
        extension in :data:`~speechbrain_atkl.data.audio.AUDIO_EXTENSIONS`
        (hidden files and anything under ``output_path`` excluded).
    output_path : pathlib.Path
        For a file input: the output file if it has an audio extension, else
        the folder to write it in. For a folder input: the output folder.
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
    if output_path.suffix.lower() in AUDIO_EXTENSIONS:
        return [(input_path, output_path)]
    return [(input_path, output_path / (input_path.stem + suffix))]


def enhance_all(enhancer, pairs, overwrite=False, progress=None, **chunking):
    """Enhances each ``(input, output)`` pair, collecting failures.

    Arguments
    ---------
    enhancer : speechbrain_atkl.inference.enhance.EnhanceBatch
        The loaded model.
    pairs : list of (pathlib.Path, pathlib.Path)
        From :func:`plan_outputs`.
    overwrite : bool
        Re-enhance files whose output exists (otherwise they are skipped).
    progress : bool or None
        Show a progress bar (``None``: only on a terminal).
    **chunking
        ``chunk_seconds`` and ``context_seconds`` for ``enhance_file``.

    Returns
    -------
    enhanced, skipped : list of pathlib.Path
        Inputs enhanced, and inputs skipped because their output exists.
    failed : list of (pathlib.Path, str)
        Inputs that failed, with the reason.
    """
    enhanced, skipped, failed = [], [], []
    claimed = {}
    for source, target in tqdm(pairs, unit="file", disable=None if progress is None else not progress):
        if target in claimed:
            failed.append((source, f"its output {target} is also the output of {claimed[target]}"))
            continue
        if target.resolve() == source.resolve():
            failed.append((source, "the output would replace the input; choose another output folder"))
            continue
        claimed[target] = source
        if target.exists() and not overwrite:
            skipped.append(source)
            continue
        try:
            enhancer.enhance_file(source, target, return_signal=False, **chunking)
        except Exception as error:  # noqa: BLE001 - one bad file must not stop the others
            reason = str(error) if isinstance(error, (ValueError, RuntimeError, OSError)) else repr(error)
            failed.append((source, reason))
        else:
            enhanced.append(source)
    return enhanced, skipped, failed


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
    parser.add_argument("--chunk-seconds", type=float, default=10.0, help="audio per model call (s); 10 s keeps peak memory under 1 GiB")
    parser.add_argument("--context-seconds", type=float, default=2.0, help="overlap before each chunk (s)")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="wav", help="for folder outputs")
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
    if not (0 < args.chunk_seconds < math.inf and 0 <= args.context_seconds < math.inf):
        print(
            "error: --chunk-seconds must be a finite number > 0 and --context-seconds a finite "
            f"number >= 0; got {args.chunk_seconds} and {args.context_seconds}.",
            file=sys.stderr,
        )
        return 2
    if not args.input.exists():
        print(f"error: {args.input}: no such file or folder.", file=sys.stderr)
        return 1
    pairs = plan_outputs(args.input, args.output, args.output_format)
    if not pairs:
        print(f"error: no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {args.input}.", file=sys.stderr)
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
    enhanced, skipped, failed = enhance_all(
        enhancer,
        pairs,
        overwrite=args.overwrite,
        progress=args.progress,
        chunk_seconds=args.chunk_seconds,
        context_seconds=args.context_seconds,
    )
    summary = f"Enhanced {len(enhanced)} file(s), skipped {len(skipped)} with existing output"
    summary += " (--overwrite redoes them)" if skipped else ""
    print(f"{summary}, {len(failed)} failed.")
    for source, reason in failed:
        print(f"FAILED {source}: {reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
