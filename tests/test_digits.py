"""The handwritten digits that paraminit.training learns ship inside the package: they are
scikit-learn's `load_digits()` value for value, load with torch and the standard library alone,
and carry their source and licences with them.

The comparison with scikit-learn needs scikit-learn (the `test` extra), not a device: the device
run (scripts/device_run.py) leaves this module out and the CPU job runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from paraminit import training as T
from paraminit.training import load_digits

ROOT = Path(__file__).parents[1]
DATA = ROOT / "src" / "paraminit" / "datasets" / "digits.csv.gz"
LICENSES = ROOT / "LICENSES"
DOI = "https://doi.org/10.24432/C50P49"


def test_the_shipped_digits_are_scikit_learns_load_digits_value_for_value():
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    table = T._digits_table()
    assert table.shape == (1797, 65) and table.dtype == torch.float64
    assert torch.equal(table[:, :64], torch.from_numpy(bunch.data))
    assert torch.equal(table[:, 64].long(), torch.from_numpy(bunch.target))


def test_the_digits_are_standardized_pixel_by_pixel():
    pixels = T._digits_table()[:, :64]
    x, y = load_digits(dtype=torch.float64)
    assert x.shape == (1797, 64) and y.dtype == torch.int64 and sorted(set(y.tolist())) == list(range(10))
    assert pixels.min() == 0 and pixels.max() == 16 and torch.equal(pixels, pixels.round())
    varying = pixels.std(0) > 0
    torch.testing.assert_close(x.mean(0), torch.zeros(64, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(x[:, varying].std(0), torch.ones(int(varying.sum()), dtype=torch.float64))
    assert (x[:, ~varying] == 0).all() and int((~varying).sum()) >= 1
    assert load_digits()[0].dtype == torch.float32


@pytest.mark.processes
def test_the_digits_load_with_scikit_learn_out_of_reach():
    """In a process where scikit-learn cannot be imported, as in an environment that holds only
    torch and the wheel with what it declares (NumPy)."""
    code = (
        "import sys\n"
        "class Blocked:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'sklearn':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Blocked())\n"
        "from paraminit.training import load_digits\n"
        "x, y = load_digits()\n"
        "print(tuple(x.shape), int(y.sum()), sorted(m for m in sys.modules if m.startswith('sklearn')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[0] == f"(1797, 64) {int(load_digits()[1].sum())} []"


def test_the_digits_name_their_source_and_licences_where_they_are_shipped():
    assert DATA.is_file()
    notice = (LICENSES / "README.md").read_text()
    assert "src/paraminit/datasets/digits.csv.gz" in notice and DOI in notice
    assert "CC-BY-4.0.txt" in notice and "BSD-3-Clause-scikit-learn.txt" in notice
    assert (LICENSES / "CC-BY-4.0.txt").read_text().startswith("Attribution 4.0 International")
    assert "The scikit-learn developers" in (LICENSES / "BSD-3-Clause-scikit-learn.txt").read_text()
    docstring = " ".join(T.__doc__.split())
    assert "E. Alpaydin and C. Kaynak" in docstring and DOI in docstring and "CC BY 4.0" in docstring
    assert "BSD-3-Clause" in docstring and "LICENSES/" in docstring
