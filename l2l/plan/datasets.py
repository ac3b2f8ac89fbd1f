"""How each configured dataset is obtained: download file, prepare source and `l2l prepare` options.

Pure functions of ``config["datasets"][name]`` (torch-free); the data rules call them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from l2l.errors import UserError

PREPARED_SOURCES = ("lfwa", "pa100k", "clothing", "csv", "peta", "rapv1", "rapv2", "celeba", "petazs", "rapzs")  # sources `l2l prepare` reads (embedded: generated)
_PREPARE_OPTIONS = ("val_fraction", "train_size", "test_fraction", "csv_file", "image_column", "split_column",
                    "attributes", "partition", "uncertain")


def download_path(datasets: Mapping[str, Any], name: str, downloads: str) -> str:
    """Where the download rule puts the file at datasets.<name>.url (its file name from the URL)."""
    file = os.path.basename(urlparse(datasets[name]["url"]).path) or "download"
    return f"{downloads}/{name}/{file}"


def prepare_source(datasets: Mapping[str, Any], name: str, downloads: str) -> str:
    """The folder or archive `l2l prepare` reads: the downloaded file, or the configured local path."""
    d = datasets[name]
    if d.get("url"):
        return download_path(datasets, name, downloads)
    if not d.get("path"):
        raise UserError(f"config: datasets.{name} (source {d['source']}) needs a url or a path "
                        f"(the local folder or archive); see config/README.md")
    return d["path"]


def prepare_input(datasets: Mapping[str, Any], name: str, downloads: str) -> list[str]:
    """The source as a job input when it exists; a missing manual source is left to `l2l prepare`,
    which fails with the instructions (where to get the data, which files, where to put them)."""
    source = prepare_source(datasets, name, downloads)
    return [source] if datasets[name].get("url") or os.path.exists(source) else []


def prepare_args(datasets: Mapping[str, Any], name: str) -> list[str]:
    """Arguments of `l2l prepare` from datasets.<name> (null values: the preparer's defaults)."""
    d = datasets[name]
    args = [d["source"], "--seed", str(d.get("split_seed", 0)), "--name", name,
            "--check-images", d.get("check_images", "decode")]
    for key in _PREPARE_OPTIONS:
        if d.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", str(d[key])]
    return args  # the source URL reaches `l2l prepare` in a file (url_file), never on a command line


def download_args(datasets: Mapping[str, Any], name: str) -> list[str]:
    """Options of `l2l download` besides the URL, which it reads from a file (a token in it stays out of
    every printed shell command and Snakemake's log)."""
    d = datasets[name]
    return ["--sha256", d["sha256"]] if d.get("sha256") else []


def url_file_input(datasets: Mapping[str, Any], name: str, downloads: str) -> list[str]:
    """The file holding datasets.<name>.url that `l2l prepare` reads (none for a dataset without a url)."""
    return [f"{downloads}/{name}/source_url.txt"] if datasets[name].get("url") else []


def embedded_args(datasets: Mapping[str, Any], name: str) -> list[str]:
    """`l2l generate` options from datasets.<name>.embedded (the rest: l2l's defaults)."""
    settings = datasets[name].get("embedded", {}) or {}
    return [a for k, v in settings.items() for a in (f"--{k.replace('_', '-')}", str(int(v)))]


def datasets_of_source(datasets: Mapping[str, Any], *sources: str) -> list[str]:
    """Names of the datasets whose source is one of ``sources``."""
    return [n for n, d in datasets.items() if d["source"] in sources]


def datasets_with_url(datasets: Mapping[str, Any]) -> list[str]:
    return [n for n, d in datasets.items() if d.get("url")]


def write_url_file(url: str, path: str) -> None:
    """Write the URL (readable by the owner only: it may carry a token) for `l2l download --url-file`."""
    import os

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(url + "\n")
