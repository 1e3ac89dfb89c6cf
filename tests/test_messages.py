"""Every error of the samplers and the rules, word for word: each names the bad value and what was
expected. A changed message is a changed interface (users match on them), so it fails here first."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

from paraminit import (
    InitError,
    LazyParameterError,
    Mixture,
    Rule,
    apply_counter_rules,
    apply_rules,
    counter_mixture_,
    counter_normal_,
    counter_uniform_,
    mixture_,
)
from paraminit import require_materialized as require

ones = functools.partial(nn.init.constant_, val=1.0)


def tied() -> nn.ModuleDict:
    model = nn.ModuleDict({"embed": nn.Embedding(5, 4), "head": nn.Linear(4, 5, bias=False)})
    model["head"].weight = model["embed"].weight
    return model


def three_paths() -> nn.Sequential:
    shared = nn.Linear(2, 2)
    return nn.Sequential(shared, shared, shared)


def no_write(tensor: torch.Tensor) -> None:
    pass


def divide_by_zero(tensor: torch.Tensor) -> None:
    tensor.fill_(1 / 0)


def wrapper_with_a_parameter_of_its_own() -> nn.DataParallel:
    wrapper = nn.DataParallel(nn.Linear(2, 2))  # module.weight: canonical name "weight"
    wrapper.register_parameter("weight", nn.Parameter(torch.zeros(2, 2)))
    return wrapper


H16 = torch.float16
CASES = [
    (
        lambda: Rule(nn.Linear),
        TypeError,
        "Rule init must fill a tensor in place, got the class torch.nn.modules.linear.Linear; to select "
        "modules of a type, pass it as module=...",
    ),
    (lambda: Rule(3), TypeError, "Rule init must be callable, got 3"),
    (
        lambda: Rule(nn.init.constant_),
        TypeError,
        "Rule init constant_ cannot be called as init(tensor): missing a required argument: "
        "'val'. Bind its other arguments first: functools.partial(constant_, name=value, ...)",
    ),
    (
        lambda: Rule(nn.init.zeros_, module=int),
        TypeError,
        "Rule module must be nn.Module subclass(es), got <class 'int'>",
    ),
    (lambda: Rule(nn.init.zeros_, param=1), TypeError, "Rule param must be a pattern string, got 1"),
    (lambda: Rule(nn.init.zeros_, path=None), TypeError, "Rule path must be a pattern string, got None"),
    (lambda: apply_rules(torch.zeros(3), []), TypeError, "apply_rules() expects an nn.Module, got Tensor"),
    (
        lambda: apply_rules(nn.Linear(2, 2), [Rule(functools.partial(counter_normal_, std=0.1))]),
        TypeError,
        "rule 'counter_normal_(std=0.1) on *' uses a counter-based sampler, which needs a seed: pass "
        "the rules to apply_counter_rules(model, rules, seed=...), or bind a seed with "
        "functools.partial(sampler, seed=...); apply_rules then gives each parameter its own "
        "stream, named after it, as apply_counter_rules does",
    ),
    (
        lambda: apply_rules(nn.Linear(2, 2), [], lazy="later"),
        ValueError,
        "lazy must be 'defer' or 'error', got 'later'",
    ),
    (
        lambda: apply_rules(nn.Linear(2, 2), ["rule"]),
        TypeError,
        "apply_rules() expects Rule objects, got 'rule'",
    ),
    (
        lambda: apply_rules(nn.Sequential(nn.Linear(2, 2)), [Rule(nn.init.zeros_, module=nn.Conv2d)]),
        ValueError,
        "rule(s) matched no parameter of Sequential: ['zeros_ on Conv2d']. Check the module type, the "
        "param and path patterns, or pass allow_unused=True",
    ),
    (
        lambda: apply_rules(
            tied(), [Rule(nn.init.zeros_, module=nn.Linear), Rule(ones, module=nn.Embedding)]
        ),
        ValueError,
        "parameter 'embed.weight' is tied to 'head.weight' (one tensor), and different rules select its "
        "names: 'zeros_ on Linear' for 'head.weight', 'constant_(val=1.0) on Embedding' for "
        "'embed.weight'. Make one rule select them all, or pass allow_conflicts=True to let the first of "
        "these rules win",
    ),
    (
        lambda: apply_rules(three_paths(), [Rule(ones, path="0"), Rule(nn.init.zeros_, path="2")]),
        ValueError,
        "parameter '0.weight' is tied to '1.weight', '2.weight' (one tensor), and different rules select "
        "its names: \"constant_(val=1.0) on * at '0'\" for '0.weight', \"zeros_ on * at '2'\" for "
        "'2.weight'. Make one rule select them all, or pass allow_conflicts=True to let the first of "
        "these rules win",
    ),
    (
        lambda: apply_rules(nn.Sequential(nn.Linear(2, 2), nn.LazyLinear(2)), [Rule(ones)], lazy="error"),
        LazyParameterError,
        "parameter '1.weight' of LazyLinear is not materialized yet, so rule 'constant_(val=1.0) on *' "
        "cannot fill it: run the model on an example input first, or pass lazy='defer'",
    ),
    (
        lambda: apply_rules(nn.Sequential(nn.Linear(2, 2)), [Rule(no_write, path="0", param="bias")]),
        InitError,
        "rule \"no_write on *.bias at '0'\" did not write into parameter '0.bias': its version counter "
        "did not move, so the init returned a new tensor, filled a copy, did nothing, or wrote through "
        "tensor.data, which hides the write. An init must fill the tensor it is given in place (e.g. "
        "tensor.uniform_(...) or a torch.nn.init function); drop .data, the init already runs under "
        "torch.no_grad(); nothing else was changed",
    ),
    (
        lambda: apply_rules(nn.Linear(2, 2), [Rule(ones, param="weight"), Rule(divide_by_zero)]),
        InitError,
        "rule 'divide_by_zero on *' failed on parameter 'bias' (ZeroDivisionError: division by zero); "
        "already changed: ['weight']",
    ),
    (
        lambda: require(nn.LazyLinear(3)),
        LazyParameterError,
        "LazyLinear has un-materialized parameters ['weight', 'bias']: run the model on an example input "
        "(one forward pass) before initializing it",
    ),
    (
        lambda: mixture_(torch.empty(3, dtype=H16), 5.0, 7e4),
        ValueError,
        "mixture_() outer=70000.0 is beyond the largest float16 value 65504: the weights would be "
        "infinite. Keep the bounds within [0, 65504] or use a wider dtype",
    ),
    (
        lambda: mixture_(torch.empty(3, dtype=H16), 0.0, 1e-7),
        ValueError,
        "mixture_() outer=1e-07 is below the smallest normal float16 value 6.10352e-05: slab values this "
        "small lose precision and round to zero. Use larger bounds or a wider dtype",
    ),
    (
        lambda: mixture_(torch.empty(3, dtype=H16), 1000.0, 1000.2),
        ValueError,
        "mixture_() inner=1000.0 and outer=1000.2 are the same float16 value 1000: the slabs would have "
        "no width in float16. Widen the bounds or use a wider dtype",
    ),
    (
        lambda: counter_uniform_(torch.empty(3, device="meta"), seed=0, stream="w"),
        ValueError,
        "counter_uniform_() got a tensor on the meta device: it has no storage, so there is nothing "
        "to fill. Allocate it first (model.to_empty(device=...)), then initialize",
    ),
    (
        lambda: counter_uniform_(torch.empty(3).expand(2, 3), seed=0, stream="w"),
        ValueError,
        "counter_uniform_() got a tensor of shape (2, 3) with strides (0, 1), in which more than one "
        "element refers to the same memory (an expand()ed or as_strided view): filling it would write "
        "several values into one place. Fill a tensor that owns its memory (e.g. .clone() it first)",
    ),
    (
        lambda: counter_normal_(torch.empty(4), seed=1.5, stream="w"),
        TypeError,
        "counter_normal_() seed must be an int in [0, 2**64), got 1.5",
    ),
    (
        lambda: counter_normal_(torch.empty(4), seed=2**64, stream="w"),
        ValueError,
        "counter_normal_() seed must be in [0, 2**64), got 18446744073709551616",
    ),
    (
        lambda: counter_normal_(torch.empty(4), seed=0),
        TypeError,
        "counter_normal_() stream is required: the same seed and stream give the same numbers, so "
        "name what you fill (e.g. stream='layer1.weight', its parameter's name); "
        "apply_counter_rules() names every parameter's stream itself",
    ),
    (
        lambda: counter_normal_(torch.empty(4), stream="w"),
        TypeError,
        "counter_normal_() seed is required: pass seed=... (an int in [0, 2**64))",
    ),
    (
        lambda: counter_normal_(torch.empty(4), seed=0, stream="\ud800"),
        ValueError,
        "counter_normal_() stream must be text that UTF-8 can encode (no lone surrogates), got "
        "'\\ud800': surrogates not allowed at position 0",
    ),
    (
        lambda: counter_uniform_(torch.empty(3, dtype=H16), -1e5, 1e5, seed=0, stream="w"),
        ValueError,
        "counter_uniform_() a=-100000.0 is beyond the largest float16 value 65504: the weights would "
        "be infinite. Keep the bounds within [-65504, 65504] or use a wider dtype",
    ),
    (
        lambda: counter_uniform_(torch.empty(3), np.bool_(True), 1.0, seed=0, stream="w"),
        TypeError,
        "counter_uniform_() a must be a real number, got np.True_ (bool)",
    ),
    (
        lambda: counter_uniform_(torch.empty(3), 0.0, 10**400, seed=0, stream="w"),
        ValueError,
        "counter_uniform_() b must be finite, got an int of 1329 bits (beyond float64)",
    ),
    (
        lambda: counter_uniform_(
            torch.empty(1, 8), seed=0, stream="w", global_shape=(2**62, 8), global_offset=(0, 0)
        ),
        ValueError,
        "counter_uniform_() global_shape (4611686018427387904, 8) has 2**65 elements; the counter "
        "samplers number the elements of a tensor with int64 indices, so it may have at most "
        "2**63 - 1 (a larger one would repeat the numbers of its first elements)",
    ),
    (
        lambda: counter_uniform_(
            torch.empty(1, 8), seed=0, stream="w", global_shape=(3 * 2**61, 8), global_offset=(0, 0)
        ),
        ValueError,
        "counter_uniform_() global_shape (6917529027641081856, 8) has 55340232221128654848 (about "
        "2**65) elements; the counter samplers number the elements of a tensor with int64 indices, so "
        "it may have at most 2**63 - 1 (a larger one would repeat the numbers of its first elements)",
    ),
    (
        lambda: counter_uniform_(torch.empty(2), seed=0, stream="w", global_shape=[2.0]),
        TypeError,
        "counter_uniform_() global_shape must be a sequence of ints, got [2.0]",
    ),
    (
        lambda: counter_uniform_(torch.empty(2), seed=0, stream="w", global_shape=(5,), global_offset=(1.0,)),
        TypeError,
        "counter_uniform_() global_offset must be a sequence of ints, got (1.0,)",
    ),
    (
        lambda: counter_uniform_(
            torch.empty(2, 4), seed=0, stream="w", global_shape=(5, 4), global_offset=(0,)
        ),
        ValueError,
        "counter_uniform_() global_shape (5, 4) and global_offset (0,) need one entry per dimension of "
        "the tensor's shape (2, 4)",
    ),
    (
        lambda: counter_normal_(torch.empty(3, dtype=H16), 0.0, 1e4, seed=0, stream="w"),
        ValueError,
        "counter_normal_() mean=0.0, std=10000.0 give values up to 126200 in magnitude (|mean| + "
        "12.62 std), beyond the largest float16 value 65504: some weights could be infinite. Use a "
        "smaller mean or std, or a wider dtype",
    ),
    (
        lambda: counter_mixture_(torch.empty(3, dtype=H16), 5.0, 7e4, seed=0, stream="w"),
        ValueError,
        "counter_mixture_() outer=70000.0 is beyond the largest float16 value 65504: the weights would "
        "be infinite. Keep the bounds within [0, 65504] or use a wider dtype",
    ),
    (
        lambda: apply_counter_rules(
            nn.Linear(2, 2), [Rule(functools.partial(counter_uniform_, a="x"))], seed=0
        ),
        TypeError,
        "rule \"counter_uniform_(a='x') on *\" cannot fill parameter 'weight' (2, 2): counter_uniform_() a "
        "must be a real number, got 'x' (str)",
    ),
    (
        lambda: apply_counter_rules(nn.Sequential(nn.LazyLinear(3)), [Rule(counter_normal_)], seed=0),
        LazyParameterError,
        "parameter '0.weight' is not materialized yet, so rule 'counter_normal_ on *' cannot fill it: run "
        "the model once on an example input, or build it on the meta device and call to_empty()",
    ),
    (
        lambda: apply_counter_rules(torch.empty(3), [Rule(counter_normal_)], seed=0),
        TypeError,
        "apply_counter_rules() expects an nn.Module, got Tensor",
    ),
    (
        lambda: apply_counter_rules(
            nn.Linear(2, 2), [Rule(functools.partial(counter_normal_, stream="w"))], seed=0
        ),
        ValueError,
        "rule \"counter_normal_(stream='w') on *\" fixes ['stream'] itself; apply_counter_rules() gives "
        "every parameter the call's seed and its own name as stream, so leave them out",
    ),
    (
        lambda: apply_counter_rules(nn.Linear(2, 2), [Rule(no_write)], seed=0),
        TypeError,
        "rule 'no_write on *': apply_counter_rules() cannot tell whether no_write draws random numbers, and "
        "one that draws from a torch generator gives numbers that depend on the device and on how the model "
        "is sharded. apply_counter_rules() takes the counter samplers (counter_uniform_, counter_normal_, "
        "counter_mixture_) and the torch.nn.init functions that draw nothing (zeros_, ones_, constant_, "
        "eye_, dirac_)",
    ),
    (
        lambda: apply_counter_rules(nn.Linear(2, 2), [Rule(counter_normal_)], seed=-1),
        ValueError,
        "apply_counter_rules() seed must be in [0, 2**64), got -1",
    ),
    (
        lambda: apply_counter_rules(nn.Linear(2, 2), [counter_normal_], seed=0),
        TypeError,
        f"apply_counter_rules() expects Rule objects, got {counter_normal_!r}",
    ),
    (
        lambda: apply_counter_rules(
            nn.Linear(2, 2), [Rule(counter_normal_, param="weight")], seed=0, require_all=True
        ),
        ValueError,
        "no rule selects ['bias']: after to_empty() they hold uninitialized memory. Add a rule for them, or "
        "pass require_all=False if they are set elsewhere",
    ),
    (
        lambda: apply_counter_rules(wrapper_with_a_parameter_of_its_own(), [Rule(counter_normal_)], seed=0),
        ValueError,
        "different parameters of DataParallel have the same canonical name ['weight'] (a wrapper holds "
        "modules besides the one it wraps), so they would draw the same numbers; give them distinct names",
    ),
    (
        lambda: counter_normal_(torch.empty(3), 0.0, "1", seed=0, stream="w"),
        TypeError,
        "counter_normal_() std must be a real number, got '1' (str)",
    ),
    (
        lambda: counter_normal_(torch.empty(3), "0", seed=0, stream="w"),
        TypeError,
        "counter_normal_() mean must be a real number, got '0' (str)",
    ),
    (
        lambda: counter_uniform_(torch.empty(3, dtype=H16), 0.0, 1e5, seed=0, stream="w"),
        ValueError,
        "counter_uniform_() b=100000.0 is beyond the largest float16 value 65504: the weights would be "
        "infinite. Keep the bounds within [-65504, 65504] or use a wider dtype",
    ),
    (
        lambda: counter_mixture_(torch.empty(3), "1", seed=0, stream="w"),
        TypeError,
        "counter_mixture_() inner must be a real number, got '1' (str)",
    ),
    (
        lambda: counter_mixture_(torch.empty(3), 1.0, "2", seed=0, stream="w"),
        TypeError,
        "counter_mixture_() outer must be a real number, got '2' (str)",
    ),
    (
        lambda: counter_mixture_(torch.empty(3), 1.0, 2.0, "0.5", seed=0, stream="w"),
        TypeError,
        "counter_mixture_() p_zero must be a real number, got '0.5' (str)",
    ),
    (
        lambda: counter_mixture_(torch.zeros(3, dtype=torch.int32), seed=0, stream="w"),
        TypeError,
        "counter_mixture_() fills floating-point tensors (float16, bfloat16, float32, float64); got "
        "dtype int32",
    ),
    (
        lambda: mixture_(torch.zeros(3, dtype=torch.int32)),
        TypeError,
        "mixture_() fills floating-point tensors (float16, bfloat16, float32, float64); got dtype int32",
    ),
    (
        lambda: apply_rules(nn.Linear(2, 2), [Rule(divide_by_zero)]),
        InitError,
        "rule 'divide_by_zero on *' failed on parameter 'weight' (ZeroDivisionError: division by zero); "
        "nothing else was changed",
    ),
    (lambda: Mixture(inner="5"), TypeError, "Mixture inner must be a real number, got '5'"),
    (lambda: Mixture(outer=math.inf), ValueError, "Mixture outer must be finite, got inf"),
    (
        lambda: Mixture(inner=-1.0),
        ValueError,
        "Mixture inner must be >= 0 (it is a magnitude), got inner=-1.0",
    ),
    (
        lambda: Mixture(inner=10.0, outer=5.0),
        ValueError,
        "Mixture bounds are in the wrong order: expected 0 <= inner < outer, got inner=10.0, outer=5.0",
    ),
    (lambda: Mixture(p_zero=1.5), ValueError, "Mixture p_zero is a probability in [0, 1], got p_zero=1.5"),
    (
        lambda: apply_rules(nn.Linear(2, 2), [Rule(functools.partial(counter_normal_, seed=5, stream="w"))]),
        ValueError,
        "rule \"counter_normal_(seed=5, stream='w') on *\" fixes ['stream'] itself, so every parameter it "
        "selects would get the same numbers: leave stream out, and each parameter draws from the stream "
        "of its own name",
    ),
    (
        lambda: apply_counter_rules(nn.Linear(2, 2), [Rule(nn.init.xavier_uniform_, param="weight")], seed=0),
        TypeError,
        "rule 'xavier_uniform_ on *.weight': xavier_uniform_ draws from a torch generator, whose numbers "
        "depend on the device and on how the model is sharded. apply_counter_rules() takes the counter "
        "samplers (counter_uniform_, counter_normal_, counter_mixture_) and the torch.nn.init functions "
        "that draw nothing (zeros_, ones_, constant_, eye_, dirac_)",
    ),
    (
        lambda: apply_counter_rules(nn.Linear(2, 2), [Rule(nn.init.dirac_, param="weight")], seed=0),
        ValueError,
        "rule 'dirac_ on *.weight' cannot fill parameter 'weight' (2, 2): Only tensors with 3, 4, or 5 "
        "dimensions are supported",
    ),
    (
        lambda: apply_counter_rules(nn.Linear(2, 2), [Rule(counter_normal_)], seed=0, prefix="encoder."),
        ValueError,
        "apply_counter_rules() prefix must be a qualified module name such as 'encoder' or 'blocks.0' "
        "(no empty component, no leading or trailing dot), got 'encoder.'",
    ),
]


@pytest.mark.parametrize(("call", "kind", "message"), CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_error_message_word_for_word(call, kind, message):
    with pytest.raises(kind) as caught:
        call()
    assert str(caught.value) == message


def test_deferred_error_messages_word_for_word():
    net = nn.Sequential(nn.LazyLinear(2))
    apply_rules(net, [Rule(ones, param="weight"), Rule(divide_by_zero, param="bias")])
    with pytest.raises(InitError) as caught:
        net(torch.rand(1, 3))
    assert str(caught.value) == (
        "rule 'divide_by_zero on *.bias' failed on parameter '0.bias' at the first forward pass "
        "(ZeroDivisionError: division by zero); it stays pending and runs again at the next forward "
        "pass; already initialized in this pass: ['0.weight']"
    )
    net = nn.Sequential(nn.LazyLinear(2))
    apply_rules(net, [Rule(no_write, param="bias")])
    with pytest.raises(InitError) as caught:
        net(torch.rand(1, 3))
    assert str(caught.value).startswith(
        "rule 'no_write on *.bias' did not write into parameter '0.bias' at the first forward pass: "
    )
    assert str(caught.value).endswith("; it stays pending and runs again at the next forward pass")
