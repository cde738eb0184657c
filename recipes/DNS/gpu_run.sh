#!/usr/bin/env bash
# The release on one GPU: teacher (Uformer-light), Distil-DCCRN with AT-KL and Distil-DCCRN alone,
# trained, evaluated and published, the trainings sized to a device-time budget (GPU_RUN_TRAIN_SECONDS).
#
#   bash recipes/DNS/gpu_run.sh pack   # HERE, once: wheels + corpus copy into .device_carry/ (git-ignored)
#   bash recipes/DNS/gpu_run.sh        # ON THE GPU MACHINE (device tool: carry [".device_carry"])
#   GPU_RUN_DEVICE=cpu GPU_RUN_BUDGET=micro bash recipes/DNS/gpu_run.sh   # the CPU test, seconds
#
# Steps: install missing packages from .device_carry/whl (the GPU machine has torch but no
# SpeechBrain and no internet); time one training step of each model (recipes.DNS.gpu_calibrate:
# audio-s/s and peak memory) and size the steps so the three trainings take GPU_RUN_TRAIN_SECONDS;
# run recipes.DNS.release (bf16 AMP, 12 DataLoader workers, held-out evaluation, publishing).
# Everything that matters lands in ${OUT:-results/gpu_run}: release_results.{md,json},
# spectrograms.png, calibration.json, gpu_run.log, the published folders and the runs (logs,
# per-utterance scores, nvidia-smi samples; no checkpoints), as folders or, with GPU_RUN_ARCHIVE=1
# (for transfers that bring back few files), as <published folder>.tar.gz and runs.tar.gz.
# The work folder (GPU_RUN_WORK) keeps the runs, so a second call on the same machine resumes
# instead of starting again.
#
# Environment: GPU_RUN_DEVICE (cuda), GPU_RUN_BUDGET (gpu | micro), GPU_RUN_PRECISION (bf16 on
# cuda, fp32 on cpu), GPU_RUN_TRAIN_SECONDS (300), GPU_RUN_STEPS (skip the sizing: steps of every
# model), GPU_RUN_DATA (corpus; default .device_carry/corpus when packed), GPU_RUN_WORK
# (results/gpu_run_work), GPU_RUN_ARCHIVE (0), OUT. Packing: GPU_RUN_DATA (the corpus to pack),
# PACK_NOISE_SECONDS (20), PACK_LIMIT_MIB (the most the trip may carry; 64).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CARRY=$REPO/.device_carry

if [ "${1:-}" = pack ]; then
    # Wheels for the GPU machine's Python 3.12 and a lossless FLAC copy of the corpus, whose
    # training noises are cut to PACK_NOISE_SECONDS (20) so that the carried tree stays under
    # PACK_LIMIT_MIB (the held-out test noises and every speech file are kept whole: same split, same test set).
    mkdir -p "$CARRY/whl"
    grep -qx '/.device_carry/' "$REPO/.git/info/exclude" 2>/dev/null || echo '/.device_carry/' >>"$REPO/.git/info/exclude"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$CARRY/whl" speechbrain==1.1.2 hyperpyyaml==1.2.3 ruamel.yaml ruamel.yaml.clib pystoi==0.4.1 \
        soundfile==0.14.0 cffi pycparser speechmos==0.0.1.1
    # pesq ships no wheels: build one with a local Python 3.12.
    PY312=${PY312:-python3.12}
    "$PY312" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null ||
        { echo "gpu_run.sh pack: needs Python 3.12 to build the pesq wheel (set PY312=/path/to/python3.12)" >&2; exit 1; }
    "$PY312" -m pip wheel -q --no-deps pesq==0.0.4 -w "$CARRY/whl"
    # speechmos: keep DNSMOS, drop its AECMOS and PLCMOS models (6 MB the recipe never uses).
    python3 - "$CARRY"/whl/speechmos-*.whl <<'SLIM'
import sys, zipfile
from pathlib import Path
wheel = Path(sys.argv[1]); slim = wheel.with_suffix(".slim")
with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as target:
    for item in source.infolist():
        if not item.filename.startswith(("speechmos/aecmos_models/", "speechmos/plcmos_models/")):
            target.writestr(item, source.read(item))
slim.replace(wheel)
SLIM
    [ -n "${GPU_RUN_DATA:-}" ] || { echo "gpu_run.sh pack: set GPU_RUN_DATA to the corpus to pack (e.g. ../shared/data)" >&2; exit 1; }
    (cd "$REPO" && python3 - "$GPU_RUN_DATA" "$CARRY/corpus" "${PACK_NOISE_SECONDS:-20}" <<'EOF'
import shutil, sys
from pathlib import Path
import soundfile
from recipes.DNS.study_data import corpus_root, split_corpus
source, target, noise_seconds = corpus_root(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
split = split_corpus(source)
keep_whole = {Path(p).name for p in split["test_noise"]}
for path in sorted(source.glob("*/*.wav")):
    data, rate = soundfile.read(path, dtype="int16")
    if path.parent.name == "noise" and path.name not in keep_whole:
        data = data[: int(noise_seconds * rate)]
    out = target / path.parent.name / (path.stem + ".flac")
    out.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(out, data, rate, subtype="PCM_16")
shutil.copy(source / "SOURCES.md", target / "SOURCES.md")
copy = split_corpus(target)
same = all([Path(p).stem for p in split[k]] == [Path(p).stem for p in copy[k]] for k in ("train_clean", "test_clean", "train_noise", "test_noise"))
assert same, "the packed corpus splits differently from the original"
EOF
    )
    # The shipped pretrained/ folders (~19 MiB) are not needed on the GPU (it publishes under its work
    # folder): the trip is counted without them, and they are moved aside during the device call.
    TRIP=$(( ($(cd "$REPO" && git ls-files -z --cached --others --exclude-standard -- . ':!pretrained' | xargs -0 cat 2>/dev/null | wc -c) \
              + $(du -sb "$CARRY" | cut -f1)) / 1048576 ))
    LIMIT=${PACK_LIMIT_MIB:-64}
    echo "carried: $(du -sh "$CARRY" | cut -f1) in .device_carry; the whole trip without pretrained/ about $TRIP MiB (limit $LIMIT)"
    [ "$TRIP" -lt "$LIMIT" ] || { echo "over PACK_LIMIT_MIB=$LIMIT MiB: lower PACK_NOISE_SECONDS" >&2; exit 1; }
    echo "Now: mv pretrained /tmp/pretrained.aside; device run, command 'bash recipes/DNS/gpu_run.sh', carry ['.device_carry'], timeout_s 600; then mv /tmp/pretrained.aside pretrained"
    exit 0
fi

DEVICE=${GPU_RUN_DEVICE:-cuda}
BUDGET=${GPU_RUN_BUDGET:-gpu}
OUT_DIR=${OUT:-$REPO/results/gpu_run}
WORK=${GPU_RUN_WORK:-$REPO/results/gpu_run_work}
DATA=${GPU_RUN_DATA:-$([ -d "$CARRY/corpus" ] && echo "$CARRY/corpus" || true)}
[ -n "$DATA" ] || { echo "gpu_run.sh: set GPU_RUN_DATA to the corpus (or pack one into .device_carry/)" >&2; exit 1; }
mkdir -p "$OUT_DIR" "$WORK"
exec > >(tee -a "$OUT_DIR/gpu_run.log") 2>&1
echo "gpu_run.sh: device $DEVICE, budget $BUDGET, data $DATA, work $WORK, out $OUT_DIR ($(date -u))"

if ! python3 -c "import speechbrain, hyperpyyaml, pesq, pystoi, soundfile, speechmos" 2>/dev/null; then
    [ -d "$CARRY/whl" ] || { echo "missing Python packages and no $CARRY/whl: run 'bash recipes/DNS/gpu_run.sh pack' first" >&2; exit 1; }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_run_site "$CARRY"/whl/*.whl
    export PYTHONPATH=/tmp/gpu_run_site:${PYTHONPATH:-}
fi
export PYTHONPATH=$REPO:${PYTHONPATH:-} PYTHONUNBUFFERED=1
cd "$REPO"

if [ "$BUDGET" = micro ]; then
    PRECISION=${GPU_RUN_PRECISION:-fp32}
    SIZE=(--batch-size 2 --segment-seconds 0.5 --valid-count 2 --test-count 5 --test-seconds 1
          --metrics pesq_wb,stoi,si_snr,si_snr_i --ckpt-minutes 0 --num-workers 0 --eval-num-workers 0 --threads 1)
    CALIBRATE=(--batch-size 2 --segment-seconds 0.5 --repeats 1 --train-seconds 1)
    STEPS=${GPU_RUN_STEPS:-2}
else
    PRECISION=${GPU_RUN_PRECISION:-$([ "$DEVICE" = cpu ] && echo fp32 || echo bf16)}
    SIZE=(--batch-size 32 --segment-seconds 4 --valid-count 40 --test-count 40 --test-seconds 8
          --ckpt-minutes 2 --num-workers 12 --eval-num-workers 12)
    CALIBRATE=(--batch-size 32 --segment-seconds 4 --repeats 5 --train-seconds "${GPU_RUN_TRAIN_SECONDS:-300}")
    STEPS=${GPU_RUN_STEPS:-}
fi
if [ "$DEVICE" != cpu ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv -l 2 >"$WORK/nvidia_smi.csv" &
    SMI=$!
    trap 'kill $SMI 2>/dev/null || true' EXIT
fi

# Sized once per work folder: a resumed call must train the same steps (release.json checks it).
[ -f "$WORK/calibration.json" ] || python3 -m recipes.DNS.gpu_calibrate --device "$DEVICE" \
    --precision "$PRECISION" "${CALIBRATE[@]}" --output "$WORK/calibration.json"
cp "$WORK/calibration.json" "$OUT_DIR/"
STEPS=${STEPS:-$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['steps'])" "$WORK/calibration.json")}
VALID_EVERY=$(( STEPS >= 4 ? STEPS / 4 : 1 ))   # 4 validations (and checkpoints) per model
python3 -m recipes.DNS.release --data-dir "$DATA" --work-dir "$WORK" --publish-dir "$WORK/pretrained" \
    --teacher-steps "$STEPS" --student-steps "$STEPS" --valid-every "$VALID_EVERY" \
    --device "$DEVICE" --precision "$PRECISION" "${SIZE[@]}"

cp "$WORK"/release_results.md "$WORK"/release_results.json "$WORK"/spectrograms.png "$OUT_DIR"/
pack_runs() {   # tar "$@" of the runs' logs and scores (no checkpoints, no audio)
    (cd "$WORK" && tar "$@" --exclude='save' --exclude='*.wav' runs/*/*/ logs timings.json data_check.json \
        release.json $(ls nvidia_smi.csv 2>/dev/null))
}
if [ "${GPU_RUN_ARCHIVE:-0}" = 1 ]; then   # one archive per model folder, one for the runs
    for folder in "$WORK"/pretrained/*/; do
        tar -czf "$OUT_DIR/$(basename "$folder").tar.gz" -C "$WORK/pretrained" "$(basename "$folder")"
    done
    pack_runs -czf "$OUT_DIR/runs.tar.gz"
else
    cp -r "$WORK"/pretrained/*/ "$OUT_DIR"/
    mkdir -p "$OUT_DIR/runs" && pack_runs -cf - | tar -xf - -C "$OUT_DIR/runs"
fi
if [ -f "$WORK/nvidia_smi.csv" ]; then
    echo "peak GPU memory used (nvidia-smi): $(tail -n +2 "$WORK/nvidia_smi.csv" | cut -d, -f2 | sort -n | tail -1)"
fi
echo "gpu_run.sh: done ($(date -u)); outputs in $OUT_DIR: $(ls "$OUT_DIR" | tr '\n' ' ')"
