#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The bundled model (models/gpt2-kjv): ptm's greedy continuation of the
# training script's prompt equals the one its PyTorch model produced
# (expected_greedy.json), and ptm's logits after the prompt match PyTorch's.
set -eu
PTM=$1; PY=$2; SRC=$3; OUT=$4
M=$SRC/models/gpt2-kjv
mkdir -p "$OUT"
ids=$($PY -c "import json;d=json.load(open('$M/expected_greedy.json'));print(','.join(map(str,d['prompt_ids'])))")
n=$($PY -c "import json;print(len(json.load(open('$M/expected_greedy.json'))['greedy_ids']))")
$PTM generate "$M" --ids "$ids" --max-new-tokens "$n" --greedy >"$OUT/gen.txt"
$PTM run "$M" --ids "$ids" --output "$OUT/logits.safetensors" >/dev/null
$PY - "$M/expected_greedy.json" "$OUT/gen.txt" "$OUT/logits.safetensors" <<'PYEOF'
import json, struct, sys
import numpy as np
exp = json.load(open(sys.argv[1]))
line = [l for l in open(sys.argv[2]) if l.startswith("ids:")][-1]
got = [int(x) for x in line[4:].split(",")]
want = exp["prompt_ids"] + exp["greedy_ids"]
if got != want:
    print("FAIL: greedy ids differ from PyTorch's at", next(i for i, (a, b) in enumerate(zip(got, want)) if a != b))
    sys.exit(1)
data = open(sys.argv[3], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
h = json.loads(data[8:8 + n])["logits"]
b, e = h["data_offsets"]
logits = np.frombuffer(data[8 + n + b:8 + n + e], "<f4").reshape(h["shape"])
diff = np.abs(logits[0, -1].astype(np.float64) - np.array(exp["prompt_last_logits"])).max()
print(f"greedy: {len(exp['greedy_ids'])} tokens equal PyTorch's; last-position logits max abs diff {diff:.3g}")
if diff > 1e-4:
    print("FAIL: logits differ by more than 1e-4")
    sys.exit(1)
PYEOF
echo "1 passed, 0 failed"
