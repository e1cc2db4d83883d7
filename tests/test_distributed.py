"""Scale-out on one machine, loopback only: the Ray engine answers exactly like the local engine (order,
format, exit code), on a local Ray and on a 2-node mini-cluster, and nothing listens or connects beyond
127.0.0.1."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import digitrec
from renderings import black_on_white_png

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray is imported: a loopback-only Ray here
ray = pytest.importorskip("ray", reason="the [distributed] extra is not installed")


@pytest.fixture(scope="module")
def inputs(mnist, tmp_path_factory) -> list[str]:
    from digitrec.data.idx import write_idx

    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(2)
    for i in range(3):
        (folder / f"digit-{i}.png").write_bytes(black_on_white_png(mnist.x_test[20 + i], rng))
    write_idx(folder / "many.idx.gz", mnist.x_test[:5000])
    some = mnist.x_test[5000:5300].copy()
    some[10] = 0  # an empty canvas: a failure at its index, the file's other rows answered
    pd.DataFrame(some.reshape(300, -1), columns=[f"pixel{i}" for i in range(784)]).to_csv(
        folder / "some.csv", index=False
    )
    (folder / "bad.png").write_bytes(b"not an image")
    names = ["digit-0.png", "many.idx.gz", "bad.png", "digit-1.png", "some.csv", "missing.png", "digit-2.png"]
    return [str(folder / name) for name in names]


@pytest.fixture
def ray_tmp(monkeypatch):
    """Ray's temporary directory: short, since its Unix socket paths must fit in 107 bytes. Also the
    default one ($RAY_TMPDIR/ray), where a local cluster writes its address: on a fresh machine /tmp/ray
    does not exist and `Cluster` failed writing /tmp/ray/ray_current_cluster."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    os.makedirs(os.path.join(folder, "ray"))
    monkeypatch.setenv("RAY_TMPDIR", folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


LOOPBACK = re.compile(r"^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):\d+$")


def ray_sockets() -> tuple[int, list[str]]:
    """How many TCP sockets Ray's processes have (listening or connected), and those on anything but the
    loopback address."""
    out = subprocess.run(["ss", "-tanpH"], capture_output=True, text=True, check=True).stdout
    seen, wrong = 0, []
    for line in out.splitlines():
        if not re.search(r'"(raylet|gcs_server|ray::[^"]*)"', line):
            continue
        seen += 1
        state, _, _, local, peer = line.split()[:5]
        if not LOOPBACK.match(local) or (state != "LISTEN" and not LOOPBACK.match(peer)):
            wrong.append(line)
    return seen, wrong


@pytest.mark.parametrize("output", ["--json", "--csv"])
def test_the_ray_engine_answers_exactly_like_the_local_engine(inputs, ray_tmp, output):
    local = digitrec("predict", output, *inputs)
    distributed = digitrec(
        "predict", output, "--engine", "ray", "--workers", "2", *inputs, env={**os.environ, "RAY_TMPDIR": ray_tmp}
    )
    assert local.returncode == distributed.returncode == 1  # bad.png, missing.png, some.csv's image 10
    assert distributed.stdout == local.stdout
    assert len(local.stdout.splitlines()) == 3 + 5000 + 299 + (1 if output == "--csv" else 0)
    errors = [line for line in distributed.stderr.splitlines() if line.startswith("digitrec: error:")]
    assert errors == [line for line in local.stderr.splitlines() if line.startswith("digitrec: error:")]
    assert len(errors) == 3
    assert errors[1].endswith("some.csv: 1 image with no ink (one value in every pixel) not answered, at index 10")


def test_a_two_node_mini_cluster_answers_like_the_local_engine(inputs, ray_tmp, predictor):
    from ray.cluster_utils import Cluster

    from digitrec.predict import recognize
    from digitrec.predict.ray import iter_recognize_ray

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
            "temp_dir": ray_tmp,
        },
    )
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        assert len([node for node in ray.nodes() if node["Alive"]]) == 2
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        distributed = list(iter_recognize_ray(inputs, None, workers=2, address=cluster.address))
        seen, wrong = ray_sockets()
        assert seen >= 4 and wrong == []  # GCS, two raylets, workers: all on 127.0.0.1
    finally:
        ray.shutdown()
        cluster.shutdown()
    local = recognize(inputs, predictor)
    assert [getattr(r, "to_dict", lambda r=r: r)() for r in distributed] == [
        getattr(r, "to_dict", lambda r=r: r)() for r in local
    ]


def test_the_ray_engine_refuses_what_it_cannot_ship():
    from digitrec.errors import DataError
    from digitrec.predict.jobs import UserImage
    from digitrec.predict.ray import _piece

    with pytest.raises(DataError, match="reads image files and bytes"):
        _piece(0, UserImage("<array #0>", np.zeros((28, 28), np.uint8)))


def test_a_model_the_workers_cannot_load_is_one_line_not_rays_pages(inputs, ray_tmp, tmp_path):
    """The driver checks only that the file is there; a loading error raised in the actors made Ray log
    pages of "actors died" and the CLI end with an internal error (ActorDiedError)."""
    (tmp_path / "garbage.onnx").write_bytes(b"garbage")
    result = digitrec(
        "predict", "--engine", "ray", "--workers", "1", "--model", str(tmp_path / "garbage.onnx"), inputs[0],
        env={**os.environ, "RAY_TMPDIR": ray_tmp},
    )  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"digitrec: error: {tmp_path / 'garbage.onnx'}: cannot load ONNX model")
    assert result.stderr.count("\n") == 1


def test_an_address_where_no_cluster_answers_is_one_line_at_once():
    """ray.init retried it for minutes without a word."""
    result = digitrec("predict", "--engine", "ray", "--address", "127.0.0.1:1", "x.png", timeout=60)
    assert result.returncode == 1
    assert result.stderr == "digitrec: error: cannot reach Ray at 127.0.0.1:1: Connection refused\n"


def test_without_ray_the_engine_says_how_to_get_it(tmp_path):
    script = (
        "import sys; sys.modules['ray'] = None\n"
        "from digitrec.cli import main\n"
        f"sys.exit(main(['predict', '--engine', 'ray', {str(tmp_path / 'x.png')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "pip install 'digitrec[distributed]'" in result.stderr


def test_mirrored_training_over_two_cpu_devices(shared_data, mnist, tmp_path):
    """MirroredStrategy over 2 logical CPU devices: the same run directory, the strategy in config.json,
    a model that learned; resuming a finished run says so (the strategy is read back)."""
    import json

    from digitrec.inference import load_predictor

    run = tmp_path / "mirrored"
    result = digitrec(
        "train",
        "--data",
        f"mnist:{shared_data / 'mnist'}",
        "--preset",
        "fast",
        "--epochs",
        "2",
        "--limit",
        "3000",
        "--distribute",
        "mirrored",
        "--devices",
        "2",
        "--out",
        str(run),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((run / "config.json").read_text())
    assert config["distribute"] == {"strategy": "mirrored", "devices": 2}
    assert [int(r["epoch"]) for r in __import__("csv").DictReader((run / "history.csv").open())] == [1, 2]
    accuracy = (load_predictor(run).predict_proba(mnist.x_test[:1000]).argmax(1) == mnist.y_test[:1000]).mean()
    assert accuracy > 0.8
    again = digitrec("train", "--resume", str(run))
    assert again.returncode == 1 and "already finished" in again.stderr


def test_an_address_that_answers_but_is_not_ray_is_one_line_within_seconds(monkeypatch):
    """A port that accepts connections and says nothing (or something else): `ray.init` waited 120 s."""
    import socket
    import threading
    import time

    from digitrec.errors import ConfigError
    from digitrec.predict import ray as engine

    monkeypatch.setattr(engine, "REACH_TIMEOUT", 1.0)
    with socket.create_server(("127.0.0.1", 0)) as server:
        accepted = []
        threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(ConfigError, match=rf"{address} answers, but not as Ray does"):
            engine._check_reachable(address)
        assert time.monotonic() - started < 5
