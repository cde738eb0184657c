"""The one error of publishing.

Authors
 * speechbrain-atkl developers 2026
"""


class PublishError(RuntimeError):
    """The training folder cannot be published, or the push failed."""
