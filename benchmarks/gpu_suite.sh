#!/usr/bin/env bash
# One command for a machine with a GPU, within about 8 minutes on one GPU:
#   bash benchmarks/gpu_suite.sh
# 1. the AN cost table at the authors' shapes (batch 1, C = 32, 128^2 .. 1024^2);
# 2. the ImageNet-128 training step of SN-GAN, SA-GAN and AN in float32 and bfloat16 at
#    batch 64: compile time, step time, real images/s per device and MFU (XLA's FLOPs over
#    the device's peak);
# 3. FID feature extraction throughput, ours against pytorch-fid's network, both on the
#    GPU (torch needs CUDA);
# 4. imagenet128_sngan at 1 and 5 D steps, and the inpainting default at 1 and 5 critic
#    updates, those updates scanned (the default off the CPU) and unrolled: program size,
#    compile and step time;
# 5. the training steps of 2 in bfloat16 at batch 256, when it fits.
# The parts run in this order, the cheapest and most asked-for first, so a run cut short
# still leaves their files.
# Each writes benchmarks/results/<name>_gpu.md, which names the device, and each part's
# time in seconds goes to standard output. SMALL=1 runs the same commands at toy sizes on
# any machine (the test suite does, on the CPU), writing to $RESULTS (default:
# benchmarks/results). PYTHON (default .venv/bin/python) runs them; it needs jax with its
# GPU plugin, flax, optax, ml_collections, scipy, absl-py and torch, and not TensorFlow,
# TFDS, clu or orbax.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
RESULTS=${RESULTS:-benchmarks/results}
mkdir -p "$RESULTS"
if [ "${SMALL:-0}" = 1 ]; then
  sizes="16 32"; configs=default; dtypes=float32; batches="8"; big_batch=""
  updates="--d_steps_config=default --update_counts=2 --batch_size=2"; fid="--small"
  repeats=1
else
  sizes="128 256 512 1024"; configs=imagenet128_sngan,imagenet128_sagan,imagenet128_an
  dtypes=float32,bfloat16; batches="64"; big_batch=256
  updates="--batch_size=64"; fid="--batch_size 50"; repeats=3
fi

part() {  # part NAME COMMAND...: runs the command, prints its time, returns its status
  local start=$SECONDS status=0
  "${@:2}" || status=$?
  echo "gpu_suite: $1 took $((SECONDS - start)) s"
  return $status
}

part "AN cost" "$PYTHON" -m benchmarks.attention_cost --sizes $sizes \
  --output "$RESULTS/attention_cost_gpu.md"
for batch in $batches; do
  part "steps at batch $batch" "$PYTHON" benchmarks/train_step_time.py --configs=$configs \
    --dtypes=$dtypes --batch_size=$batch --repeats=$repeats \
    --output="$RESULTS/train_step_time_${batch}_gpu.md"
done
part "FID throughput" "$PYTHON" -m benchmarks.fid_throughput $fid \
  --output "$RESULTS/fid_throughput_gpu.md"
part "scanned and unrolled updates" "$PYTHON" benchmarks/train_step_time.py --skip_configs \
  --d_steps_study --inpainting_study $updates --repeats=$repeats \
  --output="$RESULTS/train_step_time_updates_gpu.md"
if [ -n "$big_batch" ]; then
  part "steps at batch $big_batch" "$PYTHON" benchmarks/train_step_time.py --configs=$configs \
    --dtypes=bfloat16 --batch_size=$big_batch --repeats=3 \
    --output="$RESULTS/train_step_time_${big_batch}_gpu.md" \
    || echo "batch $big_batch did not fit (or failed): see above"
fi
echo "gpu_suite: all parts took $SECONDS s"
