"""The same sweep on one Ray node and on two: what is parallel, what is per-trial overhead.

    ../shared/tools/loopback-ns .venv/bin/python bench/sweep_nodes.py     # Ray must stay on loopback

bench/sweep.py's (b) sweep (8 random trials, 3 epochs on 6,000 training images, all 10,000 test
images, 1 CPU each) on a ray.cluster_utils.Cluster of 1 node, then of 2 nodes, each node 1 CPU, on
this one machine (two nodes of one core each: the trials of one node never share a core with the
other's). Each cluster is started afresh with its workers warmed up, as a sweep's standby does, and
not counted. Prints, per cluster: wall time, trials per node, epoch compute summed over trials, and
each trial's start-up after the first ones (a reused actor), then the speed-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sweep import _Clock, _spec
from resnet_mnist import RunStore
from resnet_mnist.sweeps.process import warm_workers
from resnet_mnist.sweeps.ray_runtime import connect_ray, shutdown_ray


def _on_cluster(nodes: int, args: argparse.Namespace, data_root: str) -> dict:
    from ray.cluster_utils import Cluster

    from resnet_mnist.sweeps.trainable import prepare, run_sweep

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        connection = connect_ray(cluster.address)
        prepare()
        clock = _Clock()
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "runs"
            started = time.perf_counter()
            run_sweep(
                _spec("none", args), sweep_id=f"nodes-{nodes}", runs_dir=root, data_root=data_root, on_update=clock
            )
            seconds = time.perf_counter() - started
            store = RunStore(root)
            runs = store.runs()
            compute = sum(e.train_seconds + e.test_seconds for r in runs for e in store.run_metrics(r.id).epochs)
            startups = clock.startups(store, nodes)
        per_node = Counter(r.node.split()[1][:8] for r in runs)
        return {"nodes": nodes, "seconds": seconds, "per_node": dict(per_node), "compute": compute,
                "startups": startups, "where": connection.describe()}  # fmt: skip
    finally:
        shutdown_ray()
        cluster.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_root = os.environ.get("RESNET_MNIST_DATA", "data")
    warm_workers()  # every node's raylet, started from this process, warms its workers up
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    rows = [_on_cluster(nodes, args, data_root) for nodes in (1, 2)]
    print("\n| nodes (1 CPU each) | wall s | trials per node | epoch compute, all trials, s | trial start-up, s |")
    print("|---:|---:|---|---:|---:|")
    for row in rows:
        startup = (
            f"{statistics.median(row['startups']):.2f} (median of {len(row['startups'])})" if row["startups"] else "-"
        )
        print(f"| {row['nodes']} | {row['seconds']:.1f} | {row['per_node']} | {row['compute']:.1f} | {startup} |")
    print(f"\nspeed-up with 2 nodes: {rows[0]['seconds'] / rows[1]['seconds']:.2f}x")
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
