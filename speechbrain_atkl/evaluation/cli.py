"""Command line: score a folder of enhanced files against clean references.

Run as ``python -m speechbrain_atkl.evaluation --help``.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import os
import sys
from pathlib import Path

from speechbrain_atkl.allocator import tune_allocator
from speechbrain_atkl.data.atomic import FileWriteError, check_writable
from speechbrain_atkl.evaluation.noisy_cache import NoisyScoreCache
from speechbrain_atkl.evaluation.pairing import pair_folders
from speechbrain_atkl.evaluation.report import format_summary, write_report
from speechbrain_atkl.evaluation.scoring import score_utterances
from speechbrain_atkl.evaluation.utterance_scorer import METRICS

EPILOG = """\
Files are paired by identical relative name (extension ignored) or, failing
that, by the DNS Challenge 'fileid_N' suffix, e.g. for the DNS-2020 synthetic
test set with enhanced files named like the noisy ones:

  python -m speechbrain_atkl.evaluation \\
      --enhanced results/enhanced \\
      --clean test_set/synthetic/no_reverb/clean \\
      --noisy test_set/synthetic/no_reverb/noisy \\
      --output results/scores --num-workers 8

Writes per_utterance.csv, summary.csv, summary.md and skipped.csv to --output.
An enhanced file that is unreadable, NaN, silent, too short or of the wrong
length gets the worst score of every metric and is counted as failed; only
problems of the clean or noisy files exclude an utterance. Exit status 1 when
no utterance was scored, when utterances were lost to a dead worker, or when
the report could not be written (the message names the file).
"""


def build_parser():
    """The argument parser of the evaluation command.

    Returns
    -------
    argparse.ArgumentParser
        The parser.

    Example
    -------
    >>> argv = ["--enhanced", "e", "--clean", "c", "--output", "o"]
    >>> args = build_parser().parse_args(argv)
    >>> args.noisy is None, args.metrics is None
    (True, True)
    """
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_atkl.evaluation",
        description=(
            "Score enhanced speech against clean references: wide-band PESQ "
            "(P.862.2), STOI, eSTOI, SI-SNR, SI-SNR improvement and DNSMOS "
            "(P.835 SIG/BAK/OVRL, P.808), for the enhanced files and, with "
            "--noisy, for the noisy inputs too. Audio is mixed to mono and "
            "resampled to 16 kHz."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--enhanced",
        required=True,
        metavar="DIR",
        help="folder of enhanced audio files (searched recursively)",
    )
    parser.add_argument(
        "--clean",
        required=True,
        metavar="DIR",
        help="folder of the clean reference files",
    )
    parser.add_argument(
        "--noisy",
        metavar="DIR",
        help="folder of the noisy inputs; scored as the 'noisy' system and "
        "needed for si_snr_i",
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="folder for the report files (created if missing)",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        choices=METRICS,
        metavar="METRIC",
        help="metrics to compute, from: "
        + ", ".join(METRICS)
        + " (default: all; si_snr_i only with --noisy)",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=os.cpu_count(),
        metavar="N",
        help="worker processes; 0 or 1 scores in the main process "
        "(default: the number of CPU cores, %(default)s here)",
    )
    parser.add_argument(
        "--dnsmos-threads",
        type=int,
        metavar="N",
        help="threads per DNSMOS ONNX session (default: 1 per worker, "
        "ONNX Runtime's choice without workers)",
    )
    parser.add_argument(
        "--noisy-cache",
        metavar="FILE",
        help="SQLite file of the noisy inputs' scores: reused when the same noisy and "
        "clean files were scored before (by content and library versions), stored otherwise",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bar",
    )
    return parser


def main(argv=None):
    """Scores the folders named on the command line and prints the summary.

    Arguments
    ---------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0, or 1 when no utterance was scored, some were lost to
        a dead worker process (the report of the others is still written) or
        the report could not be written (the message names the file); bad
        arguments exit with status 2 and a message.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    tune_allocator()  # fewer page faults on large temporaries (speechbrain_atkl.allocator)
    if args.num_workers < 0:
        parser.error(f"--num-workers must be >= 0, got {args.num_workers}")
    if args.dnsmos_threads is not None and args.dnsmos_threads < 1:
        parser.error(f"--dnsmos-threads must be >= 1, got {args.dnsmos_threads}")
    if args.metrics and "si_snr_i" in args.metrics and args.noisy is None:
        parser.error("metric si_snr_i needs the noisy inputs: give --noisy DIR")
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        parser.error(f"--output {output} is an existing file; give a folder for the report")
    try:
        check_writable(output)
    except FileWriteError as err:
        parser.error(f"--output: {err}")
    try:
        pairing = pair_folders(args.enhanced, args.clean, args.noisy)
        noisy_cache = NoisyScoreCache(args.noisy_cache) if args.noisy_cache else None
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))

    results = score_utterances(
        pairing.items,
        metrics=args.metrics,
        num_workers=args.num_workers,
        dnsmos_threads=args.dnsmos_threads,
        progress=not args.no_progress,
        noisy_cache=noisy_cache,
    )
    n_scored = len({row["id"] for row in results.rows})
    results.skipped.extend(pairing.missing)
    try:
        summary = write_report(results, output)
    except FileWriteError as err:
        print(f"error: the report could not be written: {err}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    failed = {row["id"] for row in results.rows if row["failed"]}
    skipped_csv = output / "skipped.csv"
    print(
        f"\n{n_scored} utterances scored ({len(failed)} with a failed output, scored with the "
        f"worst value), {len(results.skipped)} skipped or unpaired, {len(results.lost)} lost "
        f"(reasons in {skipped_csv})."
    )
    if results.lost:
        print(
            f"error: {len(results.lost)} utterances were lost: a scoring worker process died "
            f"(killed, e.g. for lack of memory). The report covers the other {n_scored}; "
            f"the lost ones are listed in {skipped_csv}. Run again with fewer --num-workers.",
            file=sys.stderr,
        )
        return 1
    if n_scored == 0:
        print(
            f"error: no utterance was scored: {len(results.skipped)} skipped or unpaired "
            f"(reasons in {skipped_csv}). Check that --enhanced {args.enhanced} and --clean "
            f"{args.clean} hold files of the same names (or DNS fileid_N suffixes).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
