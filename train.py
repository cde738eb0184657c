#!/usr/bin/env python3
"""Recipe: train DCCRN, Uformer or Distil-DCCRN (alone or with AT-KL) on DNS-style data.

Usage::

    python train.py hparams/uformer.yaml                 # the teacher
    python train.py hparams/distil_dccrn_atkl.yaml       # the student, distilled
    python train.py hparams/dccrn.yaml --data_folder /data/DNS-Challenge
    python train.py hparams/distil_dccrn_atkl.yaml --init_from pretrained/distil-dccrn-shared16k  # fine-tune
    torchrun --nproc_per_node=4 train.py hparams/distil_dccrn_atkl.yaml --data_folder ...

With ``data_folder: null`` (the default) a small synthetic demo corpus is
built and the YAML's ``demo_overrides`` apply; it only proves the pipeline.
Training ends with an evaluation of the best checkpoint on the test set
(``<output_folder>/test_results``, ``<output_folder>/test_metrics.json``).

The hyper-parameters are checked before any data work; an output folder
recorded with other hyper-parameters, or trained on another split of its data
(the corpus changed since), is refused (a larger ``number_of_epochs``
continues training) unless ``--allow_config_change``. One process at a time
trains an output folder: it is locked while trained (a second ``train.py``
on it is refused, naming the first one's pid; a killed run resumes).

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import contextlib
import gc
import logging
import sys
from pathlib import Path

import speechbrain as sb
import torch
import yaml
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import get_rank, run_on_main

from speechbrain_atkl.data import DynamicMixingDataset, paired_dataset, prepare_dns
from speechbrain_atkl.data.demo import create_demo_corpus
from speechbrain_atkl.data.prepare import PreparedDataInUse
from speechbrain_atkl.loading import MODEL_CONFIG, is_maximised, save_model_config
from speechbrain_atkl.training.averaging import add_averaged_checkpoint
from speechbrain_atkl.training.checkpoints import init_from_pretrained, load_teacher
from speechbrain_atkl.training.precision import choose_precision
from speechbrain_atkl.training.run_checks import (
    ConfigurationError,
    check_paths,
    require_checkpoint,
    run_lock,
    validate_hparams,
)
from speechbrain_atkl.training.run_records import check_configuration, check_data, data_record, has_results

logger = logging.getLogger(__name__)


def load_hparams(hparams_file, overrides):
    """Loads the YAML; with no ``data_folder``, reloads it with ``demo_overrides``.

    Command-line overrides always win over the demo values.
    """
    text = Path(hparams_file).read_text(encoding="utf-8")
    hparams = load_hyperpyyaml(text, overrides)
    if hparams.get("data_folder") is None and hparams.get("demo_overrides"):
        user = yaml.safe_load(overrides) if overrides else {}
        merged = {**hparams["demo_overrides"], **(user or {})}
        overrides = yaml.safe_dump(merged)
        hparams = load_hyperpyyaml(text, overrides)
    return hparams, overrides


def prepare_data(hparams):
    """Builds the demo corpus if needed, then the manifests (once, on the main process)."""
    data_folder = hparams["data_folder"]
    if data_folder is None:
        data_folder = hparams["demo_folder"]
        logger.info("No data_folder given: using the synthetic demo corpus in %s", data_folder)
        run_on_main(create_demo_corpus, kwargs={"folder": data_folder, "seed": hparams["data_seed"]})
    options = dict(
        data_folder=data_folder,
        save_folder=hparams["prepare_folder"],
        layout=hparams["layout"],
        test_subsets=hparams["test_subsets"],
        valid_count=hparams["valid_count"],
        valid_fraction=hparams["valid_fraction"],
        valid_split=hparams["valid_split"],
        valid_seconds=hparams.get("valid_seconds") or hparams["segment_seconds"],
        snr_range=hparams["snr_range"],
        level_range_db=hparams["level_range_db"],
        reverb_prob=hparams["reverb_prob"],
        reverberant_target=hparams["reverberant_target"],
        seed=hparams["data_seed"],
        sample_rate=hparams["sample_rate"],
        # Keys a recipe YAML may lack (added later): prepare_dns's defaults then.
        **{key: hparams[key] for key in ("valid_balance", "valid_noise_count", "valid_snr_range") if key in hparams},
    )
    run_on_main(prepare_dns, kwargs=options)
    return prepare_dns(**options)  # returns the record at once when already prepared


def make_datasets(hparams, preparation):
    """Training set (dynamic mixing, pairs or WebDataset shards), validation and test sets.

    The training noise is augmented (``noise_augmentation``) when ``noise_augment_prob`` > 0 and the
    run mixes dynamically (prepared pairs and shards are trained on as they are, with a warning); the
    validation and test sets are fixed mixtures, never augmented.
    """
    manifests = preparation["manifests"]
    dynamic_mixing = not hparams.get("train_shards") and preparation["training"] == "dynamic_mixing"
    if hparams.get("noise_augment_prob") and not dynamic_mixing:
        logger.warning(
            "noise_augment_prob: %s has no effect: this run trains on prepared pairs or shards, whose noise "
            "cannot be augmented apart from the speech (only dynamic mixing's can).",
            hparams["noise_augment_prob"],
        )
    if hparams.get("train_shards"):
        from speechbrain_atkl.data.webdataset import shard_dataset

        train = shard_dataset(
            hparams["train_shards"], segment_seconds=hparams["segment_seconds"], seed=hparams["mixing_seed"]
        )
    elif dynamic_mixing:
        train = DynamicMixingDataset(
            manifests["train_clean"],
            manifests["train_noise"],
            manifests.get("train_rir"),
            segment_seconds=hparams["segment_seconds"],
            snr_range=hparams["snr_range"],
            level_range_db=hparams["level_range_db"],
            reverb_prob=hparams["reverb_prob"],
            reverberant_target=hparams["reverberant_target"],
            epoch_size=hparams["epoch_size"],
            seed=hparams["mixing_seed"],
            sample_rate=hparams["sample_rate"],
            max_bad_files=hparams["max_bad_files"],
            noise_augmentation=hparams.get("noise_augmentation"),
        )
    else:
        train = paired_dataset(manifests["train"], hparams["sample_rate"], hparams["max_bad_files"])
    valid = paired_dataset(manifests["valid"], hparams["sample_rate"])
    test = paired_dataset(manifests["test"], hparams["sample_rate"])
    return train, valid, test


def parse_run(argv):
    """The run of a ``train.py`` command line (``argv``: its arguments after ``train.py``).

    Returns
    -------
    tuple
        ``(flags, hparams_file, hparams, overrides, run_opts)``: the hyper-parameters
        loaded as :func:`load_hparams` does, and checked (:func:`validate_hparams`).
    """
    flags = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    flags.add_argument("--allow_config_change", action="store_true")
    flags, argv = flags.parse_known_args(argv)
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    hparams, overrides = load_hparams(hparams_file, overrides)
    validate_hparams(hparams)
    return flags, hparams_file, hparams, overrides, run_opts


def prepare_run_data(argv):
    """Prepares the data of the run ``train.py argv`` would train, and does nothing else.

    The same :func:`prepare_data` with the same hyper-parameters as that run, so
    the run finds its ``prepare_folder`` prepared (``preparation.json``: same
    options, same corpus) and reuses it. Loading the YAML makes the run's empty
    ``save`` folder, as the run would. Returns the preparation record
    (:func:`~speechbrain_atkl.data.prepare.prepare_dns`).
    """
    return prepare_data(parse_run(argv)[2])


def main(argv):
    flags, hparams_file, hparams, overrides, run_opts = parse_run(argv)
    main_process = get_rank() in (None, 0)  # its lock stands for the whole DDP group
    with run_lock(hparams["output_folder"]) if main_process else contextlib.nullcontext():
        train(hparams_file, hparams, overrides, run_opts, flags.allow_config_change, main_process)


def train(hparams_file, hparams, overrides, run_opts, allow_config_change, main_process):
    """Checks the run against its folder's records, then trains and tests it."""
    output_folder = hparams["output_folder"]
    trained = has_results(output_folder, hparams["checkpointer"])
    check_configuration(output_folder, hparams_file, overrides, allow_config_change, trained)
    # Testing needs trained weights: a checkpoint of this run, or a model to start from.
    needs_checkpoint = not hparams.get("init_from")
    if needs_checkpoint and hparams["number_of_epochs"] == 0:
        require_checkpoint(hparams["checkpointer"], hparams["ckpt_key"])
    if main_process:
        check_paths(hparams)
    sb.utils.distributed.ddp_init_group(run_opts)
    sb.create_experiment_directory(
        experiment_directory=output_folder,
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    choose_precision(hparams, run_opts)
    # The models first: a bad teacher or init_from fails before the data work.
    if "teacher" in hparams:
        hparams["teacher"] = load_teacher(
            hparams["teacher_checkpoint"],
            hparams["teacher"],
            key=hparams["teacher_ckpt_key"],
            allow_other_architecture=hparams.get("teacher_any_architecture", False),
        )
    if hparams.get("init_from"):  # fine-tuning: a fresh run starts from trained weights
        init_from_pretrained(hparams["model"], hparams["init_from"], hparams["checkpointer"])
    preparation = prepare_data(hparams)
    check_data(output_folder, data_record(preparation), trained, allow_config_change, write=main_process)
    train_set, valid_set, test_set = make_datasets(hparams, preparation)
    brain = hparams["brain_class"](
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.train_dataset = train_set
    run_on_main(save_model_config, args=[hparams["model"], Path(hparams["save_folder"]) / MODEL_CONFIG])

    train_loader_kwargs = dict(hparams["train_dataloader_opts"])
    if isinstance(train_set, torch.utils.data.IterableDataset):
        train_loader_kwargs.pop("shuffle", None)  # shards are shuffled by the dataset itself
    brain.fit(
        brain.hparams.epoch_counter,
        train_set,
        valid_set,
        train_loader_kwargs=train_loader_kwargs,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if brain.hparams.average_checkpoints:
        add_averaged_checkpoint(brain, valid_set, brain.hparams.average_checkpoints, hparams["valid_dataloader_opts"])
    key = hparams["ckpt_key"]
    if needs_checkpoint:
        require_checkpoint(brain.checkpointer, key)
    best = {"max_key": key} if is_maximised(key) else {"min_key": key}
    brain.evaluate(test_set, test_loader_kwargs=hparams["test_dataloader_opts"], **best)
    if torch.distributed.is_initialized():
        # Let every process finish (the main one scores the test set) before the group goes away.
        torch.distributed.barrier()
        # The Brain's DDP wrappers (and, through their gradient hooks, the models in hparams) hold
        # the process group: release them first, so that gloo's worker threads are joined here
        # and not during interpreter shutdown, where they abort.
        del brain, hparams
        gc.collect()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (ConfigurationError, PreparedDataInUse) as error:
        sys.exit(f"train.py: error: {error}")
