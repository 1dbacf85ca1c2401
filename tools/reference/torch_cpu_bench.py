"""The reference stack's CPU speed for `deno task bench --compare`: torchvision's ResNet-50 (random weights, eval
mode) in eager torch, as the reference implementation runs it. Two numbers, each timed like protoscope's bench
(one warm-up batch, then `--batches` batches) with `--threads` intra-op threads:

- forward: whole images, `--batch` random 3 x 224 x 224 inputs per batch;
- head: the shifting test's head passes, layer4 + avgpool + fc on random non-negative layer3.5 activations
  (1024 x 14 x 14), `--head-batch` rows per batch.

Prints one JSON object. Run with Debian's python3-torch / python3-torchvision (/usr/bin/python3); the bench
skips it where torch is missing. Dev-time only: protoscope never runs Python.
"""
import argparse
import json
import time

import torch
import torchvision


def rate(fn, x, batches: int) -> float:
    """Rows per second of fn(x) over `batches` calls after one warm-up call."""
    fn(x)
    t0 = time.perf_counter()
    for _ in range(batches):
        fn(x)
    return x.shape[0] * batches / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--head-batch", type=int, default=8)
    parser.add_argument("--head-batches", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["forward", "head"], help="measure one of the two")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = torchvision.models.resnet50(weights=None).eval()

    def head(a: torch.Tensor) -> torch.Tensor:
        return model.fc(torch.flatten(model.avgpool(model.layer4(a)), 1))

    out = {
        "stack": f"torch {torch.__version__} eager",
        "threads": torch.get_num_threads(),
    }
    with torch.inference_mode():
        if args.only in (None, "forward"):
            forward = rate(model, torch.randn(args.batch, 3, 224, 224), args.batches)
            out["forward"] = {"batch": args.batch, "batches": args.batches, "imagesPerSecond": forward}
        if args.only in (None, "head"):
            rows = rate(head, torch.relu(torch.randn(args.head_batch, 1024, 14, 14)), args.head_batches)
            out["head"] = {"batch": args.head_batch, "batches": args.head_batches, "rowsPerSecond": rows}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
