"""The campaign's report: the learning curve of the shipped student and its model card's training section.

Authors
 * speechbrain-atkl developers 2026
"""

from pathlib import Path

from recipes.DNS.release_report import CAVEAT, licence_summary
from recipes.DNS.training_history import audio_hours_seen

#: How the card describes a stage trained without a teacher.
ALONE = "Distil-DCCRN alone"


def learning_curve(history):
    """``campaign_results.md``: each stage of the shipped student's history, metric against audio-hours seen.

    Example
    -------
    >>> print(learning_curve([{"stage": "release", "date": "2026-11-30", "steps": 1600, "audio_hours": 10.67,
    ...     "test": {"si_snr_i": 2.63, "pesq_wb": 1.798}, "by_snr": {"si_snr_i": {"-5": 4.5}}}]).splitlines()[4])
    | release | 2026-11-30 | 1600 | 10.67 | 10.67 | - | - | 2.63 | 1.798 | - | - | - | -5 dB: +4.50 |
    """
    lines = [
        "# The shipped student's learning curve",
        "",
        "| stage | date | steps | audio-hours | audio-hours seen | valid SI-SNR | valid PESQ-WB | "
        "test SI-SNR-i | test PESQ-WB | STOI | DNSMOS BAK | DNSMOS OVRL | SI-SNR-i by input SNR |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    seen = 0.0
    for stage in history:
        seen += stage["audio_hours"]
        test, valid = stage.get("test", {}), stage.get("valid", {})

        def cell(values, key, digits):
            return "-" if values.get(key) is None else f"{values[key]:.{digits}f}"

        by_snr = stage.get("by_snr", {}).get("si_snr_i", {})
        lines.append(
            f"| {stage['stage']} | {stage.get('date', '-')} | {stage['steps']} | {stage['audio_hours']:.2f} | "
            f"{seen:.2f} | {cell(valid, 'si_snr', 2)} | {cell(valid, 'pesq', 3)} | {cell(test, 'si_snr_i', 2)} | "
            f"{cell(test, 'pesq_wb', 3)} | {cell(test, 'stoi', 3)} | {cell(test, 'dnsmos_bak', 3)} | "
            f"{cell(test, 'dnsmos_ovrl', 3)} | "
            + (", ".join(f"{snr} dB: {value:+.2f}" for snr, value in by_snr.items()) or "-")
            + " |"
        )
    lines += [
        "",
        "Valid: the campaign's fixed validation mixtures (whole speakers held out), scored when the stage "
        "was published; models of earlier stages were scored on the validation set of their time (a release: "
        "its own validation mixtures, at its best checkpoint; stages 1-4: 100 mixtures, mostly of the extra speech's "
        "speakers, and 2 noises; stages 5 on: 100 mixtures balanced between the corpus's speakers and the extra "
        "speech, 4 noises, -5 to 15 dB). Test: the fixed 40 held-out mixtures at -5 to 15 dB.",
    ]
    return "\n".join(lines) + "\n"


def card_section(entry, history, split, corpus, extra_clean):
    """The training section of the published card: the stage, its scores by input SNR, the history, credits."""
    by_snr = entry["by_snr"]
    snrs = sorted(by_snr.get("si_snr_i", {}), key=float)
    lines = [
        "",
        "## Training",
        "",
        f"**Note: {CAVEAT}.** {entry.get('method', ALONE)}, trained by `recipes/DNS/campaign.py` "
        "of speechbrain-atkl, "
        f"stage after stage: the last stage ({entry['stage']}, {entry['date']}) trained the previous shipped "
        f"model on for {entry['steps']} steps of batch {entry['batch']} ({entry['audio_hours']:.2f} audio-hours; "
        f"{audio_hours_seen(history):.2f} audio-hours seen in all) with {entry['recipe']}, on "
        f"{entry['training_speech']} (speaker- and noise-disjoint from the test set); its validation SI-SNR "
        f"{entry['valid']['si_snr']:.2f} dB beat the previous model's {entry['valid_previous']['si_snr']:.2f} dB "
        "on the same mixtures.",
        "",
        "Held-out test set (40 mixtures of unseen speakers and noises, -5 to 15 dB):",
        "",
        "| input SNR | " + " | ".join(f"{s} dB" for s in snrs) + " |",
        "|---|" + "---:|" * len(snrs),
    ]
    for metric, label in (("si_snr_i", "SI-SNR-i (dB)"), ("pesq_wb", "PESQ-WB")):
        values = by_snr.get(metric, {})
        if values:
            lines.append(f"| {label} | " + " | ".join(f"{values[s]:.2f}" for s in snrs) + " |")
    lines += ["", *learning_curve(history).splitlines()[2:]]
    sources = Path(corpus) / "SOURCES.md"
    if sources.is_file():
        lines += ["", "### Licences of the training audio", "", *licence_summary(sources)]
    if extra_clean:
        lines += ["", *EXTRA_CREDITS]
    lines += ["", "Every file's origin and licence: the corpus's `SOURCES.md` and `clean_extra/SOURCES.csv`. "
              "`example.wav` is synthetic: no audio of the corpus is shipped."]
    return "\n".join(lines) + "\n"


EXTRA_CREDITS = (
    "- clean_extra/ (training and validation only): speechocean762 (Zhang et al., Interspeech 2021; "
    "Xiaomi / SpeechOcean), free for commercial and non-commercial use, Apache-2.0 dataset card; "
    "CSTR VCTK corpus, speakers p225-p228 at 16 kHz, CC BY 4.0.",
)
