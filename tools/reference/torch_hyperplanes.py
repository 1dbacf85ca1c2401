"""Class-pair hyperplanes in PyTorch, timed: the rate `deno task bench --only hyperplanes` compares with.

Two ways, same maths (full-batch SGD on mean BCE-with-logits, lr 0.01, class i's rows label 0, j's label 1):
- loop: the reference's per-pair loop (core/linear_classifier.py): a fresh nn.Linear(C, 1), SGD, autograd,
  one pair after the other;
- batched: every pair of K classes at once as batched GEMMs (torch.bmm), as protoscope's GPU and native CPU
  trainers do (a row block of class i against all partners' weights).
Random rows (the rate does not depend on the values). Prints one JSON line; pairsPerSecond is scaled to the
reference's 100 epochs when fewer were run (every epoch does the same work).

Dev/bench only (Debian: apt-get install python3-torch). Usage:
  python3 torch_hyperplanes.py loop|batched --channels C --rows N --classes K --epochs E --threads T
"""
import argparse
import json
import os
import time

# Idle OpenMP threads sleep rather than spin (set before torch loads), as protoscope's native sessions do: on a
# busy machine spinning threads starve the working ones (measured here: the loop ran 6x slower with them).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402


def loop(xs, epochs):
    """The reference's loop over ordered pairs (i, j), i != j."""
    k = len(xs)
    pairs = 0
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            x = torch.cat([xs[i], xs[j]])
            y = torch.cat([torch.zeros(len(xs[i])), torch.ones(len(xs[j]))])
            model = torch.nn.Linear(x.shape[1], 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            for _ in range(epochs):
                out = model(x).squeeze(1)
                loss = loss_fn(out, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            _ = ((out > 0).float() == y).float().mean().item()
            pairs += 1
    return pairs


def batched(xs, epochs):
    """All K x K pairs (the diagonal too, as a tile does) with bmm: class i's rows against W[i, :]."""
    k = len(xs)
    n, c = xs[0].shape
    x = torch.stack([torch.cat([xi, torch.ones(n, 1)], 1) for xi in xs])  # K x n x (C + 1)
    w = (torch.rand(k, k, c + 1) * 2 - 1) / c**0.5
    inv_n = 1.0 / (2 * n)
    for _ in range(epochs):
        za = torch.bmm(x, w.transpose(1, 2))  # [i, row, j]: i's rows against pair (i, j)
        zb = torch.bmm(x, w.permute(1, 2, 0))  # [j, row, i]: j's rows against pair (i, j)
        sa = torch.sigmoid(za)
        sb = torch.sigmoid(zb) - 1
        grad = torch.bmm(sa.transpose(1, 2), x) + torch.bmm(sb.transpose(1, 2), x).transpose(0, 1)
        w -= 0.01 * inv_n * grad
    return k * (k - 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["loop", "batched"])
    p.add_argument("--channels", type=int, default=1024)
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    xs = [torch.rand(a.rows, a.channels) + torch.nn.functional.one_hot(torch.tensor(c % a.channels), a.channels)
          for c in range(a.classes)]
    with torch.set_grad_enabled(a.mode == "loop"):
        start = time.perf_counter()
        pairs = (loop if a.mode == "loop" else batched)(xs, a.epochs)
        seconds = time.perf_counter() - start
    rate = pairs / (seconds * 100 / a.epochs)
    print(json.dumps({"torch": torch.__version__, "mode": a.mode, "threads": a.threads, "classes": a.classes,
                      "pairs": pairs, "epochs": a.epochs, "measuredSeconds": seconds, "pairsPerSecond": rate}))


if __name__ == "__main__":
    main()
