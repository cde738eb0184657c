"""Publishing a trained model as a Hugging Face Hub model folder.

``python -m speechbrain_atkl.publishing TRAIN_OUTPUT_FOLDER --output DIR``
(:mod:`~speechbrain_atkl.publishing.cli`) or :func:`publish` turns a training
output folder into a model folder that ``EnhanceBatch.from_hparams`` loads;
``--push`` uploads it. One module per job:

* :mod:`~speechbrain_atkl.publishing.assembly`: :func:`publish`, which puts
  the parts below together in a temporary folder and moves it in place;
* :mod:`~speechbrain_atkl.publishing.checkpoint`: the best checkpoint of the
  training folder;
* :mod:`~speechbrain_atkl.publishing.model_files`: the inference
  ``hyperparams.yaml`` and ``config.json``;
* :mod:`~speechbrain_atkl.publishing.example`: ``example.wav``;
* :mod:`~speechbrain_atkl.publishing.verification`: the folder, loaded back,
  must reproduce the trained model's output;
* :mod:`~speechbrain_atkl.publishing.card`: the ``README.md`` model card and
  the measured metrics it shows;
* :mod:`~speechbrain_atkl.publishing.folder`: the output folder's safety
  rules (its marker file, what ``--overwrite`` may replace) and putting the
  finished folder in place;
* :mod:`~speechbrain_atkl.publishing.hub`: the upload to the Hub;
* :mod:`~speechbrain_atkl.publishing.cli`: the command line;
* :mod:`~speechbrain_atkl.publishing.errors`: :class:`PublishError`.

>>> from speechbrain_atkl.publishing import publish
>>> publish.__module__
'speechbrain_atkl.publishing.assembly'
"""

from speechbrain_atkl.publishing.assembly import publish
from speechbrain_atkl.publishing.checkpoint import load_best_model
from speechbrain_atkl.publishing.errors import PublishError
from speechbrain_atkl.publishing.hub import push_to_hub
from speechbrain_atkl.publishing.model_files import inference_hyperparams

__all__ = ["PublishError", "inference_hyperparams", "load_best_model", "publish", "push_to_hub"]
