#!/usr/bin/env python3
"""The training campaign: the shipped student trains on, stage after stage, across sessions.

One resumable command::

    nice -n 5 python -m recipes.DNS.campaign [--work-dir DIR] [--stage-hours 16] [--threads 1]

Each *stage* starts from the shipped student (``<publish-dir>/distil-dccrn-shared16k``,
whose ``training_history.json`` lists every stage it has been trained by and the
audio-hours it has seen) and trains it for ``--stage-hours`` audio-hours of
dynamically mixed speech (fresh mixtures: ``mixing_seed`` differs per stage)
with ``--recipe``: ``alone`` (``hparams/distil_dccrn.yaml``) or ``atkl_gtcrn``,
AT-KL distillation from GTCRN's published weights
(``hparams/distil_dccrn_atkl_gtcrn.yaml``, ``--teacher PATH/gtcrn_dns3.pt``),
which starts only if the teacher beats, on the validation mixtures, the
student trained alone from the shipped one (the last ``alone`` stage that
started from it), or the shipped student itself when no such stage exists
(the scores are kept in the ledger). Those are the stage's own,
prepared by train.py's data preparation with the stage's options before the
stage is recorded (the stage's ``train.py`` reuses them) and checked for
leaks (``study_data.check_prepared``). The stage's best checkpoint is tested
on the fixed held-out test set; the average of the stage's end-of-epoch
weights is one of its checkpoints (``average_checkpoints``), so it is the
candidate when it validates better. The candidate and the shipped model are then
both scored, by the same code, on the stage's own validation mixtures (found
from its recorded command: a stage recorded before the validation changed
keeps its own); when the candidate is better (validation SI-SNR), it is
published in place of the shipped model, its card gets the stage's figures
and ``training_history.json`` the stage. Either way ``campaign_results.md``
(the learning curve) is written in the work folder and beside the published
model (:mod:`recipes.DNS.campaign_card`).

With ``--variant KEY=VALUE ...`` each new stage trains a *variant* beside it
(``<stage>-variant``: the same command, start, seeds and mixtures, with those
``train.py`` overrides; :mod:`recipes.DNS.campaign_stages`), each with
``--threads`` threads. Both are tested; the one with the better validation
SI-SNR is the stage's candidate, published if it beats the shipped model (its
card and history entry then name the overrides). The ledger keeps both scores.

The work folder (``--work-dir``, else ``$SPEECHBRAIN_ATKL_WORK/campaign``, else
``~/.cache/speechbrain-atkl/campaign``) lies outside the repository, so a fresh
checkout resumes it: an unfinished stage resumes from its checkpoint with the
command recorded when it started. When the folder is lost, the next stage
simply starts from the shipped model again, numbered after the last stage of
its history: the history travels with it. When the code changes under a
training stage (a merge, a pull), the driver restarts itself on the code as it
is now once the training ends, and goes on from its records.

The data: the corpus's speaker- and noise-disjoint split with its fixed
40-mixture test set (``study_data.build_study_data``), plus ``--extra-clean``
folders for training and validation only (default: the corpus's
``clean_extra/``), laid by source in ``<work>/data_by_source`` (each extra
folder in its own subfolder of ``datasets/clean``) and prepared in
``<work>/runs/prepared_by_source``. The validation holds out whole speakers,
``--valid-fraction`` of each source's, as many mixtures from the corpus's
speakers as from each extra folder's (``--valid-balance subfolders``),
``--valid-noise-count`` noises (4) and SNRs in ``--valid-snr-range`` (the
test set's -5 to 15 dB): the earlier validation (91 of 100 mixtures from
speechocean762 speakers, 2 noises) was so weak a proxy that GTCRN scored
below the student on it, though far above it on the test set. Stages
recorded before keep ``<work>/data`` and ``<work>/runs/prepared``, never laid
or prepared anew; the test set of ``<work>/data`` is copied, byte for byte.

Authors
 * speechbrain-atkl developers 2026
"""

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from recipes.DNS.campaign_card import card_section, learning_curve
from recipes.DNS.campaign_stages import (  # noqa: F401 (default_work_dir, RECIPES...: the campaign's public names)
    DATA_SEED,
    PREPARED,
    RECIPES,
    REPO,
    STAGE,
    VARIANT,
    default_work_dir,
    next_stage_index,
    parse_args,
    stage_arms,
    stage_recipe,
    stage_steps,
    stages_left,
    train_command,
    variant_record,
)
from recipes.DNS.study_data import DATA_MARKER, StudyError, build_study_data, check_prepared, corpus_root
from recipes.DNS.training_history import HISTORY, audio_hours, audio_hours_seen, history_entry, json_text
from speechbrain_atkl.data.atomic import write_text_atomically
from speechbrain_atkl.training.children import code_fingerprint, restart_on_current_code, run_logged

STUDENT_FOLDER = "distil-dccrn-shared16k"
LEDGER = "campaign.json"
RESULTS = "campaign_results.md"
#: The study data of new stages (laid by source) and, in ``runs/``, their preparation (their validation).
DATA_FOLDER = "data_by_source"
#: The study data of the stages recorded before: left as it is; its test set is copied into DATA_FOLDER.
FIRST_DATA_FOLDER = "data"
#: The code a campaign runs on (the shipped models' YAML, which it rewrites, is not code).
CODE = [REPO / "speechbrain_atkl", REPO / "recipes", REPO / "hparams", REPO / "train.py"]


def read_json(path, default):
    """The JSON content of ``path``, or ``default`` when it does not exist."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default


def write_json(path, value):
    """Writes ``value`` to ``path`` as JSON (:func:`json_text`), whole or not at all."""
    write_text_atomically(path, json_text(value))


def run_stage(command, log_path, threads):
    """Runs a stage's ``train.py`` to the end (it dies with the campaign); raises StudyError on failure."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    status = run_logged(command, log_path, env=env, cwd=REPO)
    if status:
        raise StudyError(f"the stage's train.py failed (exit status {status}); see {log_path}")


def run_arms(runs, log_folder, threads):
    """Trains each ``(run name, command)`` of ``runs`` to its end, side by side (:func:`run_stage` each).

    Each logs to ``<log_folder>/<run name>.log`` and gets ``threads`` torch
    threads. Raises StudyError, naming every run that failed, once all have ended.
    """

    def train(run):
        name, command = run
        try:
            run_stage(command, Path(log_folder) / f"{name}.log", threads)
        except StudyError as error:
            return f"{name}: {error}"
        return None

    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        failed = [message for message in pool.map(train, runs) if message]
    if failed:
        raise StudyError("; ".join(failed))


def validation_scores(model_folder, valid_manifest):
    """Mean SI-SNR (dB) and wide-band PESQ of a model folder on the fixed validation mixtures."""
    from speechbrain_atkl.inference.enhance import EnhanceBatch

    enhancer = EnhanceBatch.from_hparams(source=str(model_folder))  # the folder's files, read in place
    return enhancer_scores(enhancer.enhance_batch, valid_manifest)


def enhancer_scores(enhance, valid_manifest):
    """Mean SI-SNR (dB) and wide-band PESQ of ``enhance`` (``(1, time)`` -> ``(1, time)``) on validation mixtures."""
    per_mixture = mixture_scores(enhance, valid_manifest).values()
    return {name: round(float(np.mean([scores[name] for scores in per_mixture])), 4) for name in ("si_snr", "pesq")}


def mixture_scores(enhance, valid_manifest, progress=False):
    """SI-SNR (dB) and wide-band PESQ of ``enhance`` on each validation mixture of ``valid_manifest``.

    Arguments
    ---------
    enhance : callable
        ``noisy (1, time) tensor -> enhanced (1, time) tensor``.
    valid_manifest : str or pathlib.Path
        The ``valid.json`` that ``train.py``'s data preparation writes.
    progress : bool
        Show a progress bar (on stderr).

    Returns
    -------
    dict
        ``{mixture id: {"si_snr": dB, "pesq": MOS}}``, in the manifest's order.

    Raises
    ------
    StudyError
        If the manifest is missing or holds no mixture.
    """
    import torch
    from tqdm import tqdm

    from speechbrain_atkl.data.audio import load_audio
    from speechbrain_atkl.evaluation.metrics import pesq_wb, si_snr

    if not Path(valid_manifest).is_file():
        raise StudyError(
            f"{valid_manifest}: missing; the validation mixtures are written by train.py's data preparation "
            "(speechbrain_atkl.data.prepare_dns, into <results_root>/prepared)."
        )
    scores = {}
    manifest = read_json(valid_manifest, {})
    for key, entry in tqdm(manifest.items(), desc="validation", disable=not progress, dynamic_ncols=True):
        noisy = load_audio(entry["noisy_wav"], 16000)
        clean = load_audio(entry["clean_wav"], 16000).numpy()
        with torch.no_grad():
            enhanced = enhance(noisy.unsqueeze(0))[0].numpy()
        scores[key] = {"si_snr": si_snr(enhanced, clean), "pesq": pesq_wb(enhanced, clean)}
    if not scores:
        raise StudyError(f"{valid_manifest}: no validation mixtures")
    return scores


def teacher_scores(recipe, checkpoint, work, valid_manifest):
    """Validation scores (:func:`enhancer_scores`) of the teacher of ``hparams/<recipe>`` loaded from ``checkpoint``.

    The recipe's YAML is read with its ``results_root`` in ``<work>/gate``, so
    the folders its objects make stay in the work folder.
    """
    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_atkl.training.checkpoints import load_teacher

    text = (REPO / "hparams" / recipe).read_text(encoding="utf-8")
    hparams = load_hyperpyyaml(text, {"results_root": str(Path(work) / "gate"), "data_folder": None})
    return enhancer_scores(load_teacher(checkpoint, hparams["teacher"]), valid_manifest)


def prepare_stage_data(command):
    """Prepares the data of a stage's ``train.py`` ``command`` as that ``train.py`` will; returns its record.

    It is train.py's own preparation (``train.prepare_run_data``) of the
    command's arguments: the same YAML and options (data folder, layout,
    prepare folder, validation options, segment_seconds, seeds, sample
    rate...) into the same folder, so the stage's ``train.py`` finds its data
    prepared (``preparation.json``) and reuses it. Nothing is redone when it
    is prepared already.
    """
    import train

    try:
        return train.prepare_run_data(command[2:])
    except (OSError, ValueError) as error:
        raise StudyError(f"train.py's data preparation of the stage failed: {error}") from error


def stage_data(command):
    """``(valid.json path, split)`` of a stage's ``train.py`` ``command``, checked for leaks.

    The validation mixtures are the stage's own (:func:`prepare_stage_data`:
    a stage recorded before the validation changed keeps its own), the split
    is the ``split.json`` of the stage's data folder, and
    :func:`~recipes.DNS.study_data.check_prepared` raises if a training or
    validation file comes from a test speaker or a test noise.
    """
    preparation = prepare_stage_data(command)
    valid = Path(preparation["manifests"]["valid"])
    split = read_json(Path(preparation["options"]["data_folder"]) / "split.json", None)
    if split is None:
        raise StudyError(f"{preparation['options']['data_folder']}: no split.json; not a study data folder.")
    check_prepared(valid.parent, split)
    print(f"validation mixtures: {valid} (train.py's data preparation, {preparation['layout']} layout)", flush=True)
    return valid, split


def student_alone(ledger, history, valid_manifest):
    """The last stage of the ledger trained alone from the shipped student as it is now, or None.

    It must have been scored on ``valid_manifest``. A stage started from the
    shipped student when that had seen as many audio-hours as it has now
    (``starts_from_hours``): a published stage adds hours, so an earlier
    shipped model never matches.

    >>> ledger = {"stages": [
    ...     {"name": "student-alone-stage2", "starts_from_hours": 4.0, "valid": {"si_snr": 9.0}, "valid_manifest": "v"},
    ...     {"name": "student-alone-stage4", "starts_from_hours": 6.0, "valid": {"si_snr": 8.0}, "valid_manifest": "v"},
    ...     {"name": "student-atkl_gtcrn-stage5", "starts_from_hours": 6.0, "valid": {"si_snr": 9.5}}]}
    >>> student_alone(ledger, [{"audio_hours": 6.0}], "v")["name"]
    'student-alone-stage4'
    >>> student_alone(ledger, [{"audio_hours": 6.0}, {"audio_hours": 2.0}], "v") is None  # the shipped one moved on
    True
    """
    seen = audio_hours_seen(history)
    for stage in reversed(ledger["stages"]):
        if (stage["name"].startswith("student-alone-") and stage.get("valid")
                and stage.get("valid_manifest") == str(valid_manifest)
                and abs(stage.get("starts_from_hours", -1.0) - seen) < 1e-6):
            return stage
    return None


def teacher_gate(args, shipped, work, valid_manifest, alone=None):
    """Validation scores of ``--teacher`` and of the student; raises unless the teacher is better.

    None for ``--recipe alone``. Distilling only makes sense from a teacher
    that knows more than the student learns alone: the teacher must beat
    ``alone`` (a stage trained alone from the shipped student,
    :func:`student_alone`) when there is one, else the shipped student
    itself. A distilled student may score above its teacher on validation
    and still learn from it: alone, it falls back. ``valid_manifest``: the
    validation mixtures of the stage (:func:`stage_data`), prepared before
    the gate, so that a campaign may start with a distillation stage.
    """
    if args.recipe == "alone":
        return None
    gate = {
        "teacher": teacher_scores(RECIPES[args.recipe][0], args.teacher, work, valid_manifest),
        "shipped": validation_scores(shipped, valid_manifest),
    }
    if alone is not None:
        gate["student_alone"] = {"stage": alone["name"], **alone["valid"]}
    print(f"teacher gate: {gate}", flush=True)
    reference = gate.get("student_alone", gate["shipped"])
    if gate["teacher"]["si_snr"] <= reference["si_snr"]:
        against = f"the student trained alone ({alone['name']})" if alone else "the shipped student"
        raise StudyError(f"the teacher {args.teacher} does not beat {against} on validation: {gate}")
    return gate


def candidate_folder(work, run, output):
    """``<work>/candidates/<run>``: the run's best checkpoint as a model folder, published once."""
    candidate = Path(work) / "candidates" / run
    if not candidate.is_dir():
        from speechbrain_atkl.publishing import publish

        publish(output, candidate, checkpoint_key="valid_si_snr", overwrite=True)
    return candidate


def publish_stage(stage, output, shipped, args, split, valid, valid_previous, history, arm=STAGE):
    """Publishes a better stage in place of the shipped student; its card shows the whole history.

    ``output``: the run of the stage's ``arm`` that won; when it is the
    variant, the card's method and the history entry name its overrides.
    """
    from speechbrain_atkl.publishing import publish

    method = RECIPES[stage_recipe(stage["name"])][1]
    more = {}
    if arm == VARIANT:
        overrides = stage[VARIANT]["overrides"]
        method, more = f"{method}; variant: {', '.join(overrides)}", {"variant": overrides}
    entry = history_entry(
        stage["name"], output, split, stage["steps"], args.batch_size, args.segment_seconds,
        method, valid, valid_previous=valid_previous, **more,
    )
    history = history + [entry]
    publish(
        output, shipped, checkpoint_key="valid_si_snr", datasets=["speechbrain-atkl-shared16k"], overwrite=True,
        card_extra=card_section(entry, history, split, corpus_root(args.data_dir), args.extra_clean),
        extra_files={HISTORY: json_text(history)},
    )
    return history


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    code = code_fingerprint(CODE)
    args = parse_args(argv)
    if args.recipe != "alone" and (args.teacher is None or not args.teacher.is_file()):
        raise StudyError(f"--recipe {args.recipe} needs --teacher PATH/gtcrn_dns3.pt (a file), got {args.teacher}")
    if args.extra_clean is None:
        default_extra = corpus_root(args.data_dir) / "clean_extra"
        args.extra_clean = [default_extra] if default_extra.is_dir() else []
    for option, items in (("--override", args.override), ("--variant", args.variant)):
        if any("=" not in item for item in items):
            raise StudyError(f"{option} takes KEY=VALUE items, got {items}")

    work = args.work_dir.resolve()
    shipped = args.publish_dir.resolve() / STUDENT_FOLDER
    if not (shipped / HISTORY).is_file():
        raise StudyError(
            f"{shipped / HISTORY}: missing; the campaign trains on from a shipped student with its history."
        )
    data_folder, first_data = work / DATA_FOLDER, work / FIRST_DATA_FOLDER
    build_study_data(args.data_dir, data_folder, test_count=40, test_seconds=8.0, extra_clean=args.extra_clean,
                     by_source=True, test_set_from=first_data if (first_data / DATA_MARKER).is_file() else None)
    ledger = read_json(work / LEDGER, {"stages": []})
    for done in range(args.stages):
        history = read_json(shipped / HISTORY, [])
        if ledger["stages"] and ledger["stages"][-1]["status"] == "training":
            stage = ledger["stages"][-1]
            logs = ", ".join(f"{work / 'logs' / run}.log" for _, run, _ in stage_arms(stage))
            print(f"{stage['name']}: resuming (log: {logs})", flush=True)
        else:
            index = next_stage_index(ledger, history)
            name = f"student-{args.recipe}-stage{index}"
            steps = stage_steps(args.stage_hours, args.batch_size, args.segment_seconds, args.valid_every)
            seed = DATA_SEED + index - 1
            command = train_command(args, name, seed, data_folder, work / "runs", shipped)
            valid_manifest = stage_data(command)[0]  # prepared and checked before the stage is recorded
            gate = teacher_gate(args, shipped, work, valid_manifest, student_alone(ledger, history, valid_manifest))
            variant = variant_record(args, name, seed, data_folder, work / "runs", shipped)
            stage = {
                "name": name,
                **({"teacher_gate": gate} if gate else {}),
                "status": "training",
                "steps": steps,
                "audio_hours": audio_hours(steps, args.batch_size, args.segment_seconds),
                "starts_from_hours": audio_hours_seen(history),
                "command": command,
                **({VARIANT: variant} if variant else {}),
            }
            ledger["stages"].append(stage)
            write_json(work / LEDGER, ledger)
            print(f"{name}: {steps} steps ({stage['audio_hours']:.2f} audio-hours) from the shipped student "
                  f"({stage['starts_from_hours']:.2f} audio-hours seen)"
                  + (f"; beside it {variant['name']}: {' '.join(variant['overrides'])}" if variant else ""), flush=True)
        arms = stage_arms(stage)
        outputs = {arm: work / "runs" / run / "1986" for arm, run, _ in arms}
        unfinished = [(run, command) for arm, run, command in arms
                      if not (outputs[arm] / "test_metrics.json").is_file()]
        if unfinished:
            run_arms(unfinished, work / "logs", args.threads)
            if code_fingerprint(CODE) != code:  # what follows imports and reads YAML: on the code as it is now
                restart_on_current_code("recipes.DNS.campaign", stages_left(argv, args.stages - done), REPO)
        valid_manifest, split = stage_data(stage["command"])
        scores = {arm: validation_scores(candidate_folder(work, run, outputs[arm]), valid_manifest)
                  for arm, run, _ in arms}
        chosen = max(scores, key=lambda arm: scores[arm]["si_snr"])  # a tie: the stage, listed first
        valid = scores[chosen]
        previous = validation_scores(shipped, valid_manifest)
        better = valid["si_snr"] > previous["si_snr"]
        arm_scores = "".join(f"; {run} {scores[arm]['si_snr']:.2f} dB" for arm, run, _ in arms) if len(arms) > 1 else ""
        print(f"{stage['name']}: validation SI-SNR {valid['si_snr']:.2f} dB, PESQ {valid['pesq']:.3f}{arm_scores}; "
              f"shipped {previous['si_snr']:.2f} dB, {previous['pesq']:.3f}: "
              + (f"published ({chosen})" if better else "not better"), flush=True)
        if better:
            history = publish_stage(stage, outputs[chosen], shipped, args, split, valid, previous, history, chosen)
        stage.update(status="published" if better else "not better", valid=valid, valid_shipped=previous,
                     valid_manifest=str(valid_manifest))
        if len(arms) > 1:
            stage.update(valid_arms=scores, chosen=chosen)
        write_json(work / LEDGER, ledger)
        curve = learning_curve(history)
        (work / RESULTS).write_text(curve, encoding="utf-8")
        print(curve, flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StudyError as error:
        sys.exit(f"campaign.py: error: {error}")
