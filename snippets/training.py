"""Code of the "why" page's sections on training a deep network and on the checks to run before
training, and of the chapter's exercises on them, one section per block. Each section runs alone.

`#>` lines are what the line above prints; tests/test_snippets.py checks them, and
`pytest tests/test_snippets.py --update-outputs` rewrites them after an intended change.
"""

# --8<-- [start:train_one]
from paraminit.training import train_digits

run = train_digits("Kaiming")  # 20 layers of width 64, SGD, 300 steps
print(f"loss {run.initial_loss:.3f} -> {run.final_loss:.3f}, "
      f"accuracy {run.accuracy:.1%}")
#> loss 2.960 -> 0.289, accuracy 93.0%
# --8<-- [end:train_one]


# --8<-- [start:train_all]
from paraminit.training import compare_training

runs = compare_training()  # the figure's runs: one seed, the same batches
print(f"{'init':16}{'start':>10}{'end':>7}{'right':>7}{'spread':>8}")
#> init                 start    end  right  spread
for name, run in runs.items():
    print(f"{name:16}{run.initial_loss:10.4g}{run.final_loss:7.3f}"
          f"{run.accuracy:7.1%}{max(run.unit_spread):8.1g}")
#> N(0, 0.01²)          2.303  2.303   9.8%       2
#> N(0, 1)          2.131e+15    nan   9.9%     nan
#> constant 1/64        2.303  2.154  18.6%   2e-09
#> PyTorch default      2.304  2.303   9.8%       2
#> Xavier               2.303  2.301   9.8%       2
#> Kaiming               2.96  0.289  93.0%       2
# --8<-- [end:train_all]


# --8<-- [start:checks]
import torch
from paraminit import check_init
from paraminit.training import TRAINING_INITS, digits_mlp, load_digits

x, y = load_digits()
for name in ["Kaiming", "PyTorch default"]:
    torch.manual_seed(0)  # the runs' seed: their networks before step 1
    net = digits_mlp()
    for layer in net[::2]:  # the 20 linear layers
        TRAINING_INITS[name](layer)
    report = check_init(net, x[:256], y[:256], lr=0.03)
    print(name)
    print(report.table(rows=[0, 9, 18, 19]))
#> Kaiming
#> loss 2.818; log(10) = 2.3026 for 10 balanced classes
#>   #  module      kind           out RMS  grad RMS  dead    update
#>   1  0           Linear+ReLU   8.90e-01  1.20e-02  0.00  2.02e-03
#>  10  18          Linear+ReLU   6.66e-01  3.17e-02  0.12  5.26e-03
#>  19  36          Linear+ReLU   7.99e-01  2.91e-02  0.33  4.88e-03
#>  20  38          Linear        1.44e+00  7.42e-02     -  1.22e-02
#> PyTorch default
#> loss 2.304; log(10) = 2.3026 for 10 balanced classes
#>   #  module      kind           out RMS  grad RMS  dead    update
#>   1  0           Linear+ReLU   3.72e-01  9.03e-10  0.00  7.66e-11
#>  10  18          Linear+ReLU   5.71e-02  2.10e-08  0.36  8.05e-09
#>  19  36          Linear+ReLU   7.11e-02  7.26e-05  0.42  3.01e-05
#>  20  38          Linear        5.04e-02  4.18e-04     -  1.70e-04
# --8<-- [end:checks]


# --8<-- [start:ex_adam]
from paraminit.training import compare_training

adam = compare_training(optimizer="adam")  # lr 0.001; else as on the why page
print(f"{'init':16}{'loss':>10}{'right':>7}")
#> init                  loss  right
for name, run in adam.items():
    print(f"{name:16}{run.final_loss:10.4g}{run.accuracy:7.1%}")
#> N(0, 0.01²)          2.303   9.8%
#> N(0, 1)          1.234e+13  42.1%
#> constant 1/64        1.895  21.3%
#> PyTorch default      1.724  19.9%
#> Xavier              0.5964  66.9%
#> Kaiming             0.1585  95.5%
# --8<-- [end:ex_adam]


# --8<-- [start:ex_dead]
import torch
from torch import nn
from paraminit import check_init
from paraminit.training import digits_mlp, load_digits

torch.manual_seed(0)
net = digits_mlp()
for layer in net[::2]:
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    nn.init.constant_(layer.bias, -100.0 if layer is not net[-1] else 0.0)
x, y = load_digits()
report = check_init(net, x[:256], y[:256])
print(report.table(rows=[0, 18, 19]))
#> loss 2.303; log(10) = 2.3026 for 10 balanced classes
#>   #  module      kind           out RMS  grad RMS  dead    update
#>   1  0           Linear+ReLU   0.00e+00  0.00e+00  1.00  0.00e+00
#>  19  36          Linear+ReLU   0.00e+00  0.00e+00  1.00  0.00e+00
#>  20  38          Linear        0.00e+00  0.00e+00     -  0.00e+00
print({layer.dead for layer in report.layers[:-1]},
      {layer.update_ratio for layer in report.layers})
#> {1.0} {0.0}
# --8<-- [end:ex_dead]


# --8<-- [start:ex_constant]
import torch
from paraminit.training import (TRAINING_INITS, compare_training,
                                digits_mlp, load_digits)

x, _ = load_digits()
net = digits_mlp()
for layer in net[::2]:
    TRAINING_INITS["constant 1/64"](layer)
h = net[:-1](x)  # what the last hidden layer gives every digit
one_number = x.mean(1, keepdim=True).relu()  # relu(mean pixel)
print(torch.allclose(h, one_number.expand_as(h), atol=1e-6))
#> True
run = compare_training(optimizer="adam")["constant 1/64"]
print(f"Adam: loss {run.final_loss:.3f}, {run.accuracy:.1%} right, "
      f"units apart by {max(run.unit_spread):.0e}")
#> Adam: loss 1.895, 21.3% right, units apart by 7e-07
# --8<-- [end:ex_constant]
