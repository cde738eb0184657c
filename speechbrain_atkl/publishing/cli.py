"""Command line: publish a training output folder as a Hub-ready model folder.

Run as ``python -m speechbrain_atkl.publishing --help``::

    python -m speechbrain_atkl.publishing TRAIN_OUTPUT_FOLDER --output DIR \\
        [--checkpoint-key valid_pesq] [--license apache-2.0] [--example WAV] \\
        [--push --repo-id user/name]

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import sys

from speechbrain_atkl.publishing.assembly import publish
from speechbrain_atkl.publishing.errors import PublishError
from speechbrain_atkl.publishing.hub import push_to_hub


def build_parser():
    """The argument parser of the publishing command.

    Returns
    -------
    argparse.ArgumentParser
        The parser.

    Example
    -------
    >>> args = build_parser().parse_args(["results/distil_dccrn_atkl/1986", "--output", "hub/model"])
    >>> args.checkpoint_key is None, args.license, args.push
    (True, 'apache-2.0', False)
    """
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_atkl.publishing",
        description="Turn a speechbrain-atkl training output folder into a Hub-ready model folder.",
    )
    parser.add_argument(
        "train_dir", help="training output folder (hyperparams.yaml, save/, test_metrics.json)"
    )
    parser.add_argument("--output", required=True, help="model folder to write")
    parser.add_argument(
        "--checkpoint-key",
        help="CKPTINFO meta key ranking checkpoints (maximised for pesq/stoi/si_snr/dnsmos, else minimised; "
        "default: the run's ckpt_key, the checkpoint its test measured)",
    )
    parser.add_argument("--license", default="apache-2.0", help="licence identifier for the model card")
    parser.add_argument("--example", help="noisy recording to ship as example.wav (default: a synthetic one)")
    parser.add_argument("--name", help="model name for the card (default: the output folder's name)")
    parser.add_argument("--dataset", action="append", default=[], help="training data name (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--push", action="store_true", help="upload the folder to the Hub (needs --repo-id)")
    parser.add_argument("--repo-id", help="Hub repository user/name")
    parser.add_argument("--private", action="store_true", help="create the Hub repository as private")
    parser.add_argument("--timeout", type=float, default=10.0, help="Hub connection timeout (s)")
    return parser


def main(argv=None):
    """Command-line entry point; returns the exit status.

    Arguments
    ---------
    argv : list of str or None
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when the folder was written (and pushed, with ``--push``), else 1.

    Example
    -------
    >>> import contextlib, tempfile
    >>> from pathlib import Path
    >>> with contextlib.redirect_stderr(sys.stdout):  # doctest: +ELLIPSIS
    ...     main([str(Path(tempfile.mkdtemp()) / "nowhere"), "--output", "model"])
    error: .../nowhere: training output folder not found.
    1
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.push and not args.repo_id:
        parser.error("--push needs --repo-id user/name")
    try:
        folder = publish(
            args.train_dir,
            args.output,
            checkpoint_key=args.checkpoint_key,
            license=args.license,
            example=args.example,
            name=args.name or (args.repo_id.split("/")[-1] if args.repo_id else None),
            datasets=args.dataset,
            source=args.repo_id,
            overwrite=args.overwrite,
        )
        print(f"Model folder written: {folder}")
        if args.push:
            print(f"Pushed: {push_to_hub(folder, args.repo_id, private=args.private, timeout=args.timeout)}")
    except (PublishError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
