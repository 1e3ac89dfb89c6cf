# The commands the pages give a reader for installing paraminit; each page shows a section with
# `--8<-- "snippets/install.sh:NAME"`, and tests/test_fresh_install.py runs them in a fresh
# environment and then every block of every page there.

# --8<-- [start:cpu]
pip install torch --index-url https://download.pytorch.org/whl/cpu
pip install paraminit-0.1.0-py3-none-any.whl
# --8<-- [end:cpu]
