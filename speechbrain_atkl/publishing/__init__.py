"""Publishing a trained model as a Hugging Face Hub model folder.

The entry point is :mod:`speechbrain_atkl.publish` (``python -m
speechbrain_atkl.publish``, :func:`~speechbrain_atkl.publish.publish`); this
package holds its parts:

* :mod:`~speechbrain_atkl.publishing.folder`: the output folder's safety
  rules (its marker file, what ``--overwrite`` may replace) and putting the
  finished folder in place;
* :mod:`~speechbrain_atkl.publishing.card`: the ``README.md`` model card and
  the measured metrics it shows;
* :mod:`~speechbrain_atkl.publishing.hub`: the upload to the Hub.

Authors
 * speechbrain-atkl developers 2026
"""


class PublishError(RuntimeError):
    """The training folder cannot be published, or the push failed."""
