"""Uploading a published model folder to the Hugging Face Hub.

Authors
 * speechbrain-atkl developers 2026
"""

import socket
from pathlib import Path
from urllib.parse import urlparse

from speechbrain_atkl.publishing.errors import PublishError


def push_to_hub(folder, repo_id, token=None, private=False, timeout=10.0):
    """Uploads a model folder to the Hugging Face Hub.

    The token comes from ``token``, else ``HF_TOKEN`` or a stored
    ``hf auth login``. Before uploading, the Hub endpoint must answer a TCP
    connection within ``timeout`` seconds. Any failure raises
    :class:`PublishError`; the local folder is never modified.

    Arguments
    ---------
    folder : str or pathlib.Path
        The model folder written by :func:`~.assembly.publish`.
    repo_id : str
        ``user/name`` of the model repository (created if missing).
    token : str or None
        Hub token.
    private : bool
        Create the repository as private.
    timeout : float
        Connection timeout in seconds for the reachability check.

    Returns
    -------
    str
        The repository URL.
    """
    import huggingface_hub
    from huggingface_hub import constants

    folder = Path(folder)
    later = f"The model folder {folder} is complete; upload it later with `hf upload {repo_id} {folder}`."
    if constants.HF_HUB_OFFLINE:
        raise PublishError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set. {later}")
    token = token or huggingface_hub.get_token()
    if not token:
        raise PublishError(
            f"cannot push to {repo_id}: no Hugging Face token (set HF_TOKEN or run `hf auth login`). {later}"
        )
    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError as error:
        raise PublishError(
            f"cannot push to {repo_id}: {constants.ENDPOINT} is not reachable within {timeout:g} s "
            f"({error}). {later}"
        ) from error
    api = huggingface_hub.HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, commit_message="Upload speechbrain-atkl model"
        )
    except Exception as error:  # noqa: BLE001 - any Hub failure becomes one clear message
        raise PublishError(
            f"pushing to {repo_id} failed: {type(error).__name__}: {error}. {later}"
        ) from error
    return str(url)
