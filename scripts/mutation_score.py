"""Print the mutation score of the last `mutmut run` and list the surviving mutants.

Run by `make mutation` after mutmut; exits non-zero when the score is below the floor (95%).
Score: mutants the tests detect (killed, timed out, or crashing the test process) over all
mutants that were checked. Each survivor is printed with the reason it survives when it is one
of the known ones in `EXPLAINED`; an unexplained survivor asks for a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FLOOR = 0.95


MUTMUT = str(Path(sys.executable).with_name("mutmut"))

# Survivors that no test in this process can kill: the mutant changes no value or error a caller
# can see (an equivalent mutant), or only what the tests mutmut leaves out see (several processes,
# CUDA). mutmut numbers the mutants of a function in order, so a name holds while its function's
# code is unchanged.
EXPLAINED = {
    "paraminit.counter.x__flushes_subnormals__mutmut_1": "5e-324 / 1.0 is flushed to zero exactly when "
    "5e-324 * 1.0 is",
    "paraminit.counter.x__check_tensor__mutmut_2": "a DTensor checked whole, not its shard: on one rank "
    "(the in-process meshes) they are the same tensor",
    "paraminit.counter.x__check_tensor__mutmut_4": "as x__check_tensor__mutmut_2",
    "paraminit.counter.x__may_overlap__mutmut_5": "zip(strict=None): a shape and its strides have the same "
    "length",
    "paraminit.counter.x__may_overlap__mutmut_8": "as x__may_overlap__mutmut_5",
    "paraminit.counter.x__may_overlap__mutmut_9": "as x__may_overlap__mutmut_5",
    "paraminit.counter.x__uniform__mutmut_59": "a = b = 1.0 skips a subnormal check that 1.0 passes",
    "paraminit.counter.x__normal__mutmut_62": "mean = 1.0 with std = 0 skips a subnormal check that 1.0 "
    "passes",
    "paraminit.counter.x__normal__mutmut_85": "mean = 1.0 drops the spacing of the mean from the bound: "
    "only a refusal of a fill whose values 1 + std z are all near 1 becomes a fill",
    "paraminit.counter.x__uniform_floor__mutmut_28": "one-sided U(a, b): the bound h 2^-53 alone also "
    "holds (|m + h c| >= |a| + h 2^-53), so only a needless refusal (U(1e-40, 1) in float32 under "
    "flush-to-zero) becomes a fill, with the same values",
    "paraminit.counter.x__uniform_floor__mutmut_35": "as x__uniform_floor__mutmut_28, for |a|, |b| <= 1",
    "paraminit.counter.x__mixture__mutmut_83": "differs only for inner below 2**-1021 with h past "
    "float64's range under flush-to-zero, where every nonzero value is above 1e292 either way",
    "paraminit.sharded.x__kind__mutmut_5": "getattr's default None is as false as False",
    "paraminit.sharded.x__kind__mutmut_25": "the kind 'deterministic' is only ever compared with 'counter'",
    "paraminit.sharded.x__kind__mutmut_26": "as x__kind__mutmut_25",
    "paraminit.sharded.x__plan__mutmut_42": "a prefix common to every stream makes no two of them equal",
    "paraminit.sharded.x__to_call__mutmut_19": "the dry run's empty block on the DTensor's device, its "
    "shard's device",
    "paraminit.sharded.x__to_call__mutmut_21": "as x__to_call__mutmut_19",
    "paraminit.sharded.x__to_call__mutmut_25": "the dry run's empty block on the default device: the "
    "argument checks do not depend on the device",
    "paraminit.sharded.x__to_call__mutmut_28": "as x__to_call__mutmut_25",
    "paraminit.sharded.x__to_call__mutmut_32": "the dry run without global_shape checks an empty global "
    "shape: it differs only past 2**63 elements, a parameter no machine holds",
    "paraminit.sharded.x__to_call__mutmut_35": "as x__to_call__mutmut_32",
    "paraminit.sharded.x__to_call__mutmut_33": "global_offset's default is the zeros passed",
    "paraminit.sharded.x__to_call__mutmut_36": "as x__to_call__mutmut_33",
    "paraminit.sharded.x__to_call__mutmut_42": "the dry run on the meta device holds no values: zeros_, "
    "ones_, constant_, eye_ and dirac_ raise the same for every dtype",
    "paraminit.sharded.x__to_call__mutmut_48": "eye_ or dirac_ on the DTensor itself, not its block: the "
    "same on one rank; the 8-rank test (other processes) tells them apart",
    "paraminit.sharded.x__to_call__mutmut_56": "as x__to_call__mutmut_48",
    "paraminit.sharded.x__to_call__mutmut_59": "only an exception of a subclass of the four would keep "
    "its own type, and no check raises one (LazyParameterError comes earlier, from _check_fillable)",
    "paraminit.sharded.x_apply_counter_rules__mutmut_55": "before_writing=None is as false as False",
    "paraminit.sharded.x_weights_digest__mutmut_16": "tensor.to(None) of a CPU tensor is the tensor: "
    "the same on CPU (test_devices.py pins the digest on CUDA)",
    "paraminit.sharded.x_weights_digest__mutmut_28": "codec names are not case-sensitive: 'UTF-8' is 'utf-8'",
}


def main() -> int:
    subprocess.run([MUTMUT, "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    detected = stats["killed"] + stats["timeout"] + stats["segfault"]
    verdicts = ("survived", "no_tests", "suspicious", "check_was_interrupted_by_user")
    checked = detected + sum(stats[verdict] for verdict in verdicts)  # a run of some modules: only theirs
    score = detected / checked if checked else 0.0
    print(json.dumps(stats, indent=1))
    survivors = subprocess.run([MUTMUT, "results"], check=True, capture_output=True, text=True).stdout
    print("surviving mutants (see each with: .venv/bin/mutmut show NAME):")
    lines = [line.strip() for line in survivors.splitlines() if line.strip()]
    unchecked = [line for line in lines if line.endswith(": not checked")]
    lines = [line for line in lines if line not in unchecked]
    if unchecked:
        print(f"  ({len(unchecked)} mutants not checked: a run of some of the modules)")
    for line in lines:
        name, status = (part.strip() for part in line.split(":", 1))
        why = "detected" if status in ("timeout", "segfault") else EXPLAINED.get(name, "unexplained")
        print(f"  {line}  ({why})")
    if not lines:
        print("  none")
    print(f"mutation score: {detected}/{checked} = {score:.1%} (floor {FLOOR:.0%})")
    return 0 if score >= FLOOR else 1


if __name__ == "__main__":
    sys.exit(main())
