"""What the release makes of its finished runs: their results, the student to ship, the published folders.

``release.py`` trains and tests the runs; this module collects their test
results (:func:`collect`), chooses the student to ship on validation, never
on the test set (:func:`shipped_student`), and publishes the teacher and
that student (:func:`publish_models`, with :mod:`speechbrain_atkl.publishing`).
Each folder gets the "This release" section of its model card
(:func:`recipes.DNS.release_report.card_section`) and a new
``training_history.json`` (:func:`release_history`): a release trains from
scratch, so the history starts again with one ``release`` entry, which the
campaign then reads and extends (:mod:`recipes.DNS.training_history`). Both
are written with the folder, so it is never in place without them, and a
folder holding an earlier history (the campaign's) is replaced.
``published.json`` in the work folder records what each folder was made from
(:func:`publication`), so a folder is published again exactly when its run
changed or the folder was replaced.

Authors
 * speechbrain-atkl developers 2026
"""

import hashlib
import json
from pathlib import Path

from recipes.DNS.release_report import BY_SNR_METRICS, card_section
from recipes.DNS.study_data import corpus_root
from recipes.DNS.study_plan import STUDENT_ALONE, STUDENT_ATKL, TEACHER
from recipes.DNS.study_results import snr_breakdown
from recipes.DNS.training_history import HISTORY, history_entry, json_text
from speechbrain_atkl.data.atomic import write_text_atomically

#: What each published folder was made from.
PUBLISHED_RECORD = "published.json"
#: Published folder of each shipped system.
TEACHER_FOLDER, STUDENT_FOLDER = "uformer-light-shared16k", "distil-dccrn-shared16k"


def collect(entries, results_root, split, timings):
    """Overall and by-SNR test metrics of each finished run and of the noisy input.

    Arguments
    ---------
    entries : list of dict
        The release's plan (``release.plan``): each run with its steps and audio-hours.
    results_root : pathlib.Path
        The folder of the runs' outputs.
    split : dict
        The study split (its ``test_items`` give each test item's input SNR).
    timings : dict
        ``{run key: timing record}`` (``release.add_timing``); a run without one shows no wall time.

    Returns
    -------
    dict
        ``{"noisy": row, "systems": [row, ...], "test_items": count}``, one row per run in plan order.

    Example
    -------
    >>> import tempfile
    >>> from recipes.DNS.study_plan import SYSTEMS, Run
    >>> root, run = Path(tempfile.mkdtemp()), Run(SYSTEMS[0], 1986)
    >>> run.output(root).mkdir(parents=True)
    >>> _ = (run.output(root) / "test_metrics.json").write_text('{"enhanced": {"pesq_wb": 1.8}, "noisy": {}}')
    >>> results = collect([{"run": run, "steps": 4, "audio_hours": 0.01}], root, {"test_items": []}, {})
    >>> results["systems"][0]["metrics"], results["systems"][0]["audio_hours"], results["test_items"]
    ({'pesq_wb': 1.8}, 0.01, 0)
    """
    systems, noisy = [], None
    for entry in entries:
        run = entry["run"]
        output = run.output(results_root)
        record = json.loads((output / "test_metrics.json").read_text())
        if noisy is None:
            noisy = {
                "label": "noisy input",
                "metrics": record.get("noisy", {}),
                "by_snr": {m: snr_breakdown(output, split, m, "noisy") for m in BY_SNR_METRICS},
            }
        timing = timings.get(run.key, {})
        wall = timing.get("wall_s")
        audio_seconds = entry["audio_hours"] * 3600
        systems.append(
            {
                "name": run.system.name,
                "label": run.system.label,
                "output": str(output),
                "steps": entry["steps"],
                "audio_hours": round(entry["audio_hours"], 3),
                "wall_s": wall,
                "audio_s_per_s": round(audio_seconds / wall, 2) if wall else None,
                "concurrent_runs": timing.get("concurrent_runs", 1),
                "sessions": timing.get("sessions", 1),
                "threads": timing.get("threads"),
                "metrics": record.get("enhanced", {}),
                "by_snr": {m: snr_breakdown(output, split, m) for m in BY_SNR_METRICS},
            }
        )
    return {"noisy": noisy, "systems": systems, "test_items": len(split["test_items"])}


def best_checkpoint_meta(system, key):
    """The metadata of the best checkpoint on ``key`` of ``system``'s run: its validation scores.

    :func:`publish_models` reads it once per system and passes it on.

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> run = Path(tempfile.mkdtemp())
    >>> save = Checkpointer(run / "save", {"model": torch.nn.Linear(1, 1)})
    >>> for value in (9.5, 10.2):
    ...     _ = save.save_checkpoint(meta={"valid_si_snr": value}, name=str(value))
    >>> best_checkpoint_meta({"output": str(run)}, "valid_si_snr")["valid_si_snr"]
    10.2
    """
    from speechbrain_atkl.loading import best_checkpoint

    return best_checkpoint(Path(system["output"]) / "save", key).meta


def shipped_student(results, key):
    """The student to ship: the better of the two on the validation ``key`` (the distilled one on a tie).

    Selection uses validation, never the test set.

    Returns
    -------
    tuple
        ``(system, {name: best checkpoint's metadata})``: the chosen row of
        ``results["systems"]`` and, for each student, the metadata of its
        best checkpoint on ``key`` (:func:`best_checkpoint_meta`).

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> root, systems = Path(tempfile.mkdtemp()), []
    >>> for name, value in ((STUDENT_ATKL, 9.5), (STUDENT_ALONE, 10.2)):
    ...     save = Checkpointer(root / name / "save", {"model": torch.nn.Linear(1, 1)})
    ...     _ = save.save_checkpoint(meta={"valid_si_snr": value})
    ...     systems.append({"name": name, "output": str(root / name)})
    >>> chosen, metas = shipped_student({"systems": systems}, "valid_si_snr")
    >>> chosen["name"], {name: meta["valid_si_snr"] for name, meta in metas.items()}
    ('distil_dccrn', {'distil_dccrn_atkl': 9.5, 'distil_dccrn': 10.2})
    """
    from speechbrain_atkl.loading import is_maximised

    students = [s for s in results["systems"] if s["name"] in (STUDENT_ATKL, STUDENT_ALONE)]
    metas = {s["name"]: best_checkpoint_meta(s, key) for s in students}
    sign = 1 if is_maximised(key) else -1
    chosen = max(students, key=lambda s: (sign * metas[s["name"]].get(key), s["name"] == STUDENT_ATKL))
    return chosen, metas


def release_history(system, meta, split, args):
    """The ``training_history.json`` of a folder the release publishes from ``system``'s run: one entry.

    The ``release`` entry (:func:`recipes.DNS.training_history.history_entry`):
    the run's steps of ``--batch-size`` x ``--segment-seconds``, its label
    as the method, and as ``valid`` the mean validation SI-SNR and PESQ-WB
    of its checkpoint published, the best on ``--ckpt-key``, whose metadata
    is ``meta`` (:func:`best_checkpoint_meta`).

    Example
    -------
    >>> import tempfile
    >>> from types import SimpleNamespace
    >>> system = {"output": tempfile.mkdtemp(), "label": "Distil-DCCRN alone", "steps": 1600}
    >>> meta = {"valid_si_snr": 10.17, "valid_pesq": 1.5}
    >>> args = SimpleNamespace(ckpt_key="valid_si_snr", batch_size=8, segment_seconds=3.0)
    >>> [entry] = release_history(system, meta, {"train_clean": [], "train_speakers": [], "test_items": []}, args)
    >>> entry["stage"], entry["audio_hours"], entry["method"], entry["valid"]
    ('release', 10.667, 'Distil-DCCRN alone', {'si_snr': 10.17, 'pesq': 1.5})
    """
    output = Path(system["output"])
    valid = {name: round(float(meta[f"valid_{name}"]), 4) for name in ("si_snr", "pesq") if f"valid_{name}" in meta}
    entry = history_entry(
        "release", output, split, system["steps"], args.batch_size, args.segment_seconds, system["label"], valid
    )
    return [entry]


def _digest(path):
    """SHA-256 of a file's bytes, or None when it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def publication(system, folder):
    """What a published folder holds when made from ``system``'s run: ``published.json``'s entry.

    The run, a digest of its ``test_metrics.json`` (an extended run is
    tested again) and digests of the folder's model card and training
    history as written (a folder replaced since, by hand, by the campaign or
    by another release, differs).

    Example
    -------
    >>> import tempfile
    >>> run, folder = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> _ = (run / "test_metrics.json").write_text("{}")
    >>> before = publication({"output": str(run)}, folder)
    >>> before["card_sha256"] is None, before["history_sha256"] is None
    (True, True)
    >>> _ = (folder / "README.md").write_text("# a model card")
    >>> publication({"output": str(run)}, folder) == before
    False
    """
    return {
        "run": str(system["output"]),
        "test_metrics_sha256": _digest(Path(system["output"]) / "test_metrics.json"),
        "card_sha256": _digest(Path(folder) / "README.md"),
        "history_sha256": _digest(Path(folder) / HISTORY),
    }


def publish_models(results, split, work_dir, args):
    """Publishes the teacher and the better student, unless ``published.json`` shows their folders made from them.

    Each folder is written whole by :func:`speechbrain_atkl.publishing.publish`
    (replacing an earlier one, even one holding a training history), with
    its card's release section and its new history (:func:`release_history`).

    Arguments
    ---------
    results : dict
        The collected results (:func:`collect`).
    split : dict
        The study split the runs trained and were tested on.
    work_dir : pathlib.Path
        The release's work folder (its ``published.json``).
    args : argparse.Namespace
        The release's options (``release.build_parser``).

    Returns
    -------
    tuple
        ``([teacher folder, student folder], the shipped student's row of results["systems"])``.
    """
    from speechbrain_atkl.publishing import publish

    student, student_metas = shipped_student(results, args.ckpt_key)
    teacher = next(s for s in results["systems"] if s["name"] == TEACHER)
    labels = {s["name"]: s["label"] for s in results["systems"]}
    choice = (
        f"Of the release's two Distil-DCCRN students, trained with the same steps, this is the one with the "
        f"better validation {args.ckpt_key}: "
        + ", ".join(f"{labels[name]} {meta.get(args.ckpt_key):.3f}" for name, meta in student_metas.items())
        + ".\n"
    )
    record_path = work_dir / PUBLISHED_RECORD
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    published = []
    for system, name in ((teacher, TEACHER_FOLDER), (student, STUDENT_FOLDER)):
        folder = args.publish_dir.resolve() / name
        if record.get(str(folder)) != publication(system, folder):
            section = card_section(system, results, split, corpus_root(args.data_dir), args)
            # the student's best checkpoint was read to choose it; the teacher's is read only when published
            meta = student_metas[student["name"]] if system is student else best_checkpoint_meta(system, args.ckpt_key)
            publish(
                system["output"], folder, checkpoint_key=args.ckpt_key, datasets=["speechbrain-atkl-shared16k"],
                overwrite=True, card_extra=section + ("\n" + choice if system is student else ""),
                extra_files={HISTORY: json_text(release_history(system, meta, split, args))},
            )
            record[str(folder)] = publication(system, folder)
            write_text_atomically(record_path, json.dumps(record, indent=2))
        published.append(folder)
    return published, student
