"""Installs speechbrain_atkl: DCCRN, Uformer, Distil-DCCRN and AT-KL for SpeechBrain."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="speechbrain-atkl",
    version="0.1.0",
    description=(
        "SpeechBrain plug-in: DCCRN, Uformer and Distil-DCCRN speech enhancement "
        "with AT-KL knowledge distillation"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["speechbrain_atkl", "speechbrain_atkl.*"]),
    install_requires=[
        "torch>=2.6",  # torch.load defaults to weights_only=True (we pass it explicitly too)
        "torchaudio>=2.6",
        "speechbrain>=1.1",
        "hyperpyyaml",
        "pesq",
        "pystoi",
        "soundfile",
        "numpy",
        "scipy",
        "tqdm",
        "onnxruntime",
        "speechmos",
        "webdataset",
        "huggingface_hub",
    ],
    entry_points={
        "console_scripts": [
            "speechbrain-atkl-enhance=speechbrain_atkl.inference.cli:main",
            "speechbrain-atkl-evaluate=speechbrain_atkl.evaluation.cli:main",
        ]
    },
)
