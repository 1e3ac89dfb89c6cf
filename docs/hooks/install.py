"""MkDocs hook: what the pages' install instructions name, made when the site is built.

- `downloads/paraminit-<version>-sources.tar.gz`: the sources the site was built from, the files
  git tracks in the working tree (and new files it does not ignore), as they are on disk, under
  one folder `paraminit-<version>/`. Everything `make test` needs is there. Outside a git checkout
  (a tree unpacked from this very archive, say) the files are those `.gitignore` does not ignore.
  Names are sorted and times, owners and modes fixed, so the same files give the same bytes.
- `{{ torch_version }}` on a page becomes the version of the torch that built the site, the one
  whose outputs the pages show and the tests check.
- When `mkdocs.yml` sets `repo_url`, every link to the source archive is followed by a link to the
  repository (none is set: the pages then offer the archive alone).
"""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import re
import subprocess
import tarfile
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).parents[2]
TORCH_VERSION = "{{ torch_version }}"
EPOCH = 315532800  # 1980-01-01, as in the wheel: a reproducible archive


def project_version(root: Path = ROOT) -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(), re.MULTILINE)
    if match is None:
        raise LookupError("pyproject.toml names no version")
    return match[1]


def archive_name(root: Path = ROOT) -> str:
    return f"paraminit-{project_version(root)}-sources.tar.gz"


def source_files(root: Path = ROOT) -> list[str]:
    """The files of the sources, relative to `root`, sorted: what git tracks or would track."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.decode()
        names = [name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # no git, or not a checkout
        names = _not_ignored(root)
    return sorted({name for name in names if (root / name).is_file() or (root / name).is_symlink()})


def _not_ignored(root: Path) -> list[str]:
    import pathspec

    ignore = root / ".gitignore"
    spec = pathspec.GitIgnoreSpec.from_lines(ignore.read_text().splitlines() if ignore.is_file() else [])
    names = []
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if ".git" not in path.relative_to(root).parts and not path.is_dir() and not spec.match_file(name):
            names.append(name)
    return names


def source_archive(root: Path = ROOT) -> bytes:
    """The sources as a gzipped tar, the same bytes for the same files."""
    prefix = f"paraminit-{project_version(root)}/"
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name in source_files(root):
            path = root / name
            info = tarfile.TarInfo(prefix + name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = EPOCH, 0, 0, "", ""
            if path.is_symlink():
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, str(path.readlink()), 0o777
                archive.addfile(info)
                continue
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def with_repository_links(html: str, name: str, repo_url: str | None) -> str:
    """Each link to the archive `name` followed by one to the repository, when there is one."""
    if not repo_url:
        return html
    link = re.compile(r'(<a href="[^"]*downloads/' + re.escape(name) + r'"[^>]*>.*?</a>)', re.DOTALL)
    return link.sub(lambda m: f'{m[1]} (or <a href="{repo_url}">the repository</a>)', html)


_archive: tuple[str, bytes] | None = None


def on_config(config):
    global _archive
    _archive = archive_name(), source_archive()
    return config


def on_files(files: Files, config) -> Files:
    name, data = _archive
    files.append(File.generated(config, f"downloads/{name}", content=data))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    return markdown.replace(TORCH_VERSION, importlib.metadata.version("torch"))


def on_page_content(html: str, page, config, files) -> str:
    return with_repository_links(html, _archive[0], config.get("repo_url"))
