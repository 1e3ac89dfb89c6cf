"""Print the mutation score of the last `mutmut run` and list the surviving mutants.

Run by `make mutation` after mutmut; exits non-zero when the score is below the floor (95%).
Score: mutants the tests detect (killed, or timed out) over all mutants that were checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FLOOR = 0.95


MUTMUT = str(Path(sys.executable).with_name("mutmut"))


def main() -> int:
    subprocess.run([MUTMUT, "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    detected = stats["killed"] + stats["timeout"]
    checked = stats["total"] - stats["skipped"]
    score = detected / checked if checked else 0.0
    print(json.dumps(stats, indent=1))
    survivors = subprocess.run([MUTMUT, "results"], check=True, capture_output=True, text=True).stdout
    print("surviving mutants (see each with: .venv/bin/mutmut show NAME):")
    print(survivors.rstrip() or "  none")
    print(f"mutation score: {detected}/{checked} = {score:.1%} (floor {FLOOR:.0%})")
    return 0 if score >= FLOOR else 1


if __name__ == "__main__":
    sys.exit(main())
