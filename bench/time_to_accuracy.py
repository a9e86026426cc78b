"""Training seconds for the hard-sharing LeNet, with the book's recipe, to reach a digit test accuracy (99.0%).

``fit`` evaluates on the test set after every (part of an) epoch; the time reported is ``fit``'s training clock,
which stops while it evaluates. ``--evals-per-epoch k`` splits each epoch into k parts for a finer reading (the
one-cycle schedule then spans ``epochs × k`` parts of ``ceil(steps / k)`` steps, within k steps of the original).

    MTL_DATA_DIR=/path/to/data python bench/time_to_accuracy.py --evals-per-epoch 4
"""
from __future__ import annotations

import argparse
import math
from dataclasses import replace

from train_speed import machine

from mtl_utils import (
    BOOK_RECIPE,
    HardSharingNet,
    TaskData,
    fit,
    load_mnist,
    seed_everything,
)
from mtl_utils.foundations.tasks import digit_task, parity_task

TASKS = [digit_task(), parity_task()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=0.99, help="digit test accuracy to reach (default 0.99)")
    parser.add_argument("--epochs", type=int, default=BOOK_RECIPE.epochs, help="length of the one-cycle schedule")
    parser.add_argument("--evals-per-epoch", type=int, default=1, help="test-set evaluations per epoch (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 0 < args.target < 1 or args.epochs < 1 or args.evals_per_epoch < 1:
        parser.error("--target must be in (0, 1); --epochs and --evals-per-epoch must be positive")
    mnist = load_mnist(verbose=False)
    train, test = (TaskData.from_split(s, TASKS) for s in (mnist.train, mnist.test))
    k = args.evals_per_epoch
    recipe = replace(BOOK_RECIPE, epochs=args.epochs * k)
    steps = math.ceil(math.ceil(len(train) / recipe.batch_size) / k)
    print(machine())
    print(f"hard sharing, {recipe.optimizer} {recipe.schedule} lr {recipe.lr} batch {recipe.batch_size}, "
          f"{args.epochs} epochs, {k} evaluation(s) per epoch, seed {args.seed}")
    seed_everything(args.seed)
    net = HardSharingNet.for_tasks(TASKS)
    frame = fit(net, TASKS, train, recipe=recipe, seed=args.seed, eval_data=test, steps_per_epoch=steps,
                progress=False).frame()
    for part, row in frame.iterrows():
        print(f"epoch {part / k:5.2f}: {row['seconds']:6.2f} s training, digit test accuracy "
              f"{row['digit_eval_accuracy']:.4f}")
    reached = frame[frame["digit_eval_accuracy"] >= args.target]
    if reached.empty:
        print(f"time to {args.target:.1%} digit accuracy = not reached "
              f"(best {frame['digit_eval_accuracy'].max():.2%} after {frame['seconds'].iloc[-1]:.1f} s)")
    else:
        print(f"time to {args.target:.1%} digit accuracy = {reached['seconds'].iloc[0]:.1f} s "
              f"(epoch {reached.index[0] / k:.2f})")


if __name__ == "__main__":
    main()
