"""``mnistbench augment --out grid.png`` and ``mnistbench train --augment ...``: what is written,
and bad flags refused (exit 2, the message names the flag) before anything is drawn or trained."""

from __future__ import annotations

import numpy as np
import pytest

from mnistbench.cli import EXIT_BAD_INPUT, EXIT_OK, main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_MAGIC
    return imread(path)


def test_augment_writes_a_grid_of_digits_before_and_after(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["augment", "--out", str(out), "--n", "8", "--seed", "3"]) == EXIT_OK
    image = read_png(out)
    assert image.shape[0] > 200 and image.shape[1] > 600  # 2 rows of 8 digits, title
    assert np.std(image[..., :3]) > 0.1  # digits drawn, not a blank canvas
    assert f"wrote {out} (8 digits, augment affine,elastic,noise" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]  # no temporary left


def test_augment_grid_depends_on_the_settings(tmp_path):
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    assert main(["augment", "--out", str(paths[0]), "--augment", "affine", "--rotate", "30"]) == 0
    assert main(["augment", "--out", str(paths[1]), "--augment", "affine", "--rotate", "30"]) == 0
    assert main(["augment", "--out", str(paths[2]), "--augment", "noise", "--noise", "0.2"]) == 0
    first, again, noisy = (read_png(p) for p in paths)
    np.testing.assert_array_equal(first, again)  # same seed, same picture
    assert first.shape == noisy.shape and np.abs(first - noisy).mean() > 1e-3


BAD_AUGMENT = [
    (["--augment", "blur"], "'blur'"),
    (["--augment", ""], "comma list"),
    (["--rotate", "-5"], "--rotate: expected a finite number >= 0"),
    (["--noise", "nan"], "--noise: expected a finite number >= 0"),
    (["--augment", "affine", "--rotate", "200"], "rotate must be in [0, 180]"),
    (["--augment", "affine", "--scale", "1"], "scale must be in [0, 1)"),
    (["--augment", "elastic", "--elastic-sigma", "0"], "elastic_sigma must be > 0"),
    (["--augment", "affine", "--noise", "0.1"], "--noise needs --augment with noise"),
    (["--augment", "affine", "--rotate", "0", "--scale", "0", "--shift", "0"], "are all 0"),
    (["--n", "0"], "--n: expected a positive integer"),
    (["--n", "65"], "--n must be at most 64"),
]


@pytest.mark.parametrize(
    ("flags", "message"), BAD_AUGMENT, ids=[" ".join(f) for f, _ in BAD_AUGMENT]
)
def test_augment_refuses_bad_flags_and_writes_nothing(tmp_path, capsys, flags, message):
    out = tmp_path / "grid.png"
    assert main(["augment", "--out", str(out), *flags]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("out", "message"),
    [("missing/grid.png", "existing directory"), ("grid.jpg", "must name a .png")],
)
def test_augment_refuses_bad_outputs(tmp_path, capsys, out, message):
    assert main(["augment", "--out", str(tmp_path / out)]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_augment_refuses_data_that_are_not_28x28_images(tmp_path, capsys):
    data = tmp_path / "small.csv"
    data.write_text("label,a,b\n1,0,255\n2,3,4\n")
    out = tmp_path / "grid.png"
    assert main(["augment", "--out", str(out), "--data", str(data)]) == EXIT_BAD_INPUT
    assert "error" in capsys.readouterr().err and not out.exists()


def test_train_with_augmentation(capsys):
    argv = [
        "train",
        "--epochs",
        "2",
        "--batch-size",
        "128",
        "--hidden",
        "16",
        "--no-plots",
        "--optimizer",
        "adam",
        "--lr",
        "0.003",
        "--augment",
        "affine,noise",
        "--shift",
        "1",
    ]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert "augment affine,noise (rotate 10, scale 0.1, shift 1, noise 0.05)" in out
    dev = float(
        next(line for line in out.splitlines() if line.startswith("dev accuracy")).split()[-1]
    )
    assert dev > 0.6  # two epochs of a 16-unit network on augmented digits: ~0.8 measured


BAD_TRAIN = [
    (["--augment", "affine"], "--augment needs --batch-size"),
    (["--batch-size", "64", "--augment", "noise", "--noise", "2"], "noise must be in [0, 1]"),
    (["--batch-size", "64", "--elastic-alpha", "30"], "--elastic-alpha needs --augment"),
    (["--batch-size", "64", "--augment", "affine,warp"], "'warp'"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_TRAIN, ids=[" ".join(f) for f, _ in BAD_TRAIN])
def test_train_refuses_bad_augmentation_before_training(tmp_path, capsys, flags, message):
    argv = [
        "train",
        "--epochs",
        "1",
        "--save-model",
        str(tmp_path / "m.npz"),
        "--plots",
        str(tmp_path / "plots"),
        *flags,
    ]
    assert main(argv) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert message in captured.err and "training on" not in captured.out
    assert list(tmp_path.iterdir()) == []
