#!/usr/bin/env python
"""The docs/api.md walkthrough as a script: runs each notebook cell and prints its source and output.

    python tools/api_walkthrough.py        # (with the package importable, e.g. pip install -e .)
"""
import os, warnings
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
warnings.filterwarnings("ignore")
CELLS = []
def cell(src):
    CELLS.append(src)
    print(f"### In [{len(CELLS)}]:\n{src.strip()}\n### Out:")
    exec(compile(src, f"cell{len(CELLS)}", "exec"), globals())
    print("### end")

cell('''
import keras
from keras import layers
from lrcn_advisor import advise

def lrcn(pool: int) -> keras.Model:
    td = layers.TimeDistributed
    return keras.Sequential([
        keras.Input((16, 64, 64, 3)),                       # 16 frames of 64x64 RGB
        td(layers.Conv2D(16, 3, padding="same", activation="relu")), td(layers.MaxPooling2D(pool)),
        td(layers.Conv2D(32, 3, padding="same", activation="relu")), td(layers.MaxPooling2D(pool)),
        td(layers.Flatten()),
        layers.LSTM(32),
        layers.Dropout(0.5),
        layers.Dense(4, activation="softmax"),
    ], name=f"lrcn_pool{pool}")

model = lrcn(pool=8)
report = advise(model)          # reads model.get_config(); the model is neither saved nor called
print(report.totals)
for finding in report.findings:
    print(finding.severity, finding.rule, finding.layers, "-", finding.message)
    print("    fix:", finding.fix)
''')
cell('''
for block in report.blocks:
    print(f"{block.id:10} {block.params:>7,} params {block.macs:>12,} MACs")
print("exit code at fail-on=warning:", report.exit_code(fail_on="warning"))
''')
cell('''
fixed = advise(lrcn(pool=4))    # the fix POL001 proposes: 4x4 windows, a 4x4 map
print(fixed.totals)
print([f.rule for f in fixed.findings], "exit code at fail-on=warning:", fixed.exit_code(fail_on="warning"))
''')
cell('''
import json
document = json.loads(fixed.to_json())                      # the CLI's JSON contract
print(document["schema_version"], document["model"]["path"], document["totals"]["macs"])
sarif = json.loads(fixed.to_sarif())
print(sarif["version"], len(sarif["runs"][0]["tool"]["driver"]["rules"]), "rules")
print(len(fixed.to_html("lrcn_pool4.html")), "bytes of HTML written to lrcn_pool4.html")
print(fixed._repr_html_()[:60], "...")                      # what a notebook shows
''')
cell('''
import torch
from torch import nn

class TorchLRCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4))
        self.lstm = nn.LSTM(32 * 4 * 4, 32, batch_first=True)
        self.head = nn.Linear(32, 4)

    def forward(self, x):                                   # x: (B, T, C, H, W)
        b, t = x.shape[:2]
        y = self.features(x.reshape(b * t, *x.shape[2:])).flatten(1).reshape(b, t, -1)
        out, _ = self.lstm(y)
        return self.head(out[:, -1])

torch_report = advise(TorchLRCN(), example_input=torch.zeros(1, 16, 3, 64, 64))
print(torch_report.totals)
for layer in torch_report.layers:
    if layer.params:
        print(f"{layer.name:12} {layer.class_name:16} {layer.params:>9,} params {layer.macs:>12,} MACs  {layer.note[:60]}")
''')
cell('''
from lrcn_advisor.testing import assert_lrcn_ok

assert_lrcn_ok(lrcn(pool=4), fail_on="warning", max_macs=100_000_000)   # passes: returns the Report
try:
    assert_lrcn_ok(lrcn(pool=8), fail_on="warning")
except AssertionError as error:
    print(error)
''')
