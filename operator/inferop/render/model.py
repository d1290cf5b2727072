"""How the model reaches the server: a repo id, a mounted PVC, or an init container that fetches it.

- ``hf://org/name`` with a runtime that downloads from the Hub itself: the repo id is passed as is.
- ``pvc://claim/path``: the claim is mounted read-only at /mnt/models; the server reads the path.
- ``oci://image``: a KServe-style "modelcar": an init container copies the image's /models to /mnt/models.
- anything else (s3, gs, http(s), hf for other runtimes): the KServe storage initializer downloads the
  model into /mnt/models before the server starts (it reads credentials from the usual env/secrets).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from inferop.runtimes.profile import MODEL_DIR, RuntimeProfile

STORAGE_INITIALIZER_IMAGE = "kserve/storage-initializer:v0.15.2"
MODEL_VOLUME = "model-store"


@dataclass(frozen=True)
class ModelPlacement:
    ref: str
    is_repo: bool
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    init_containers: list[dict[str, Any]] = field(default_factory=list)


def place_model(uri: str, profile: RuntimeProfile, init_security: dict[str, Any]) -> ModelPlacement:
    scheme, _, rest = uri.partition("://")
    rest = rest.strip("/")
    if scheme == "hf" and profile.native_hf:
        return ModelPlacement(ref=rest, is_repo=True)
    if scheme == "pvc":
        claim, _, sub = rest.partition("/")
        return ModelPlacement(
            ref=f"{MODEL_DIR}/{sub}".rstrip("/"),
            is_repo=False,
            volumes=[{"name": MODEL_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}],
            mounts=[{"name": MODEL_VOLUME, "mountPath": MODEL_DIR, "readOnly": True}],
        )
    volume = {"name": MODEL_VOLUME, "emptyDir": {}}
    mount = {"name": MODEL_VOLUME, "mountPath": MODEL_DIR}
    if scheme == "oci":
        init = {
            "name": "modelcar",
            "image": rest,
            "command": ["sh", "-c", f"cp -r /models/. {MODEL_DIR}/"],
            "volumeMounts": [mount],
            "securityContext": copy.deepcopy(init_security),
        }
    else:
        init = {
            "name": "storage-initializer",
            "image": STORAGE_INITIALIZER_IMAGE,
            "args": [uri, MODEL_DIR],
            "volumeMounts": [mount],
            "securityContext": copy.deepcopy(init_security),
        }
    return ModelPlacement(
        ref=MODEL_DIR,
        is_repo=False,
        volumes=[volume],
        mounts=[{**mount, "readOnly": True}],
        init_containers=[init],
    )
