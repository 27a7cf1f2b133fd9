"""Image folders as datasets: decoding, resizing and cropping, class subfolders, broken files."""

import warnings

import pytest
import torch
from PIL import Image

from ganworks import GanworksError
from ganworks.data import check_dataset_name, dataset_info, fetch_dataset, is_cached, load_dataset
from ganworks.data.folder import load_folder


def _img(path, size, mode="RGB", color=(200, 30, 30), **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode != "L" else color[0]).save(path, **save)
    return path


@pytest.fixture
def flat(tmp_path):
    """Six readable images in several formats and sizes, one corrupt .png, one text file."""
    d = tmp_path / "flat"
    _img(d / "a_gray.png", (40, 30), "L")
    _img(d / "b_rgb.jpg", (50, 80), quality=95)
    _img(d / "c_rgba.png", (16, 16), "RGBA", (10, 20, 30, 128))
    _img(d / "d.bmp", (20, 20))
    _img(d / "e.gif", (24, 24), "P", (3, 0, 0))
    _img(d / "nested" / "deeper" / "f.JPEG", (33, 17))
    (d / "g_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    (d / "notes.txt").write_text("not an image")
    _img(d / ".hidden.png", (8, 8))  # hidden files are skipped, not counted
    return d


def test_flat_folder_loads_every_readable_image(flat):
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file\(s\): g_corrupt\.png"):
        data = load_folder(flat, resolution=16, channels=3)
    assert data.images.shape == (6, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.labels is None and data.num_classes is None and data.shape == (3, 16, 16)
    assert data.name == f"folder:{flat}" and data.split == "train"
    assert data.images[1, :, 8, 8].tolist() == pytest.approx([200, 30, 30], abs=3)  # b_rgb.jpg, sorted second
    with pytest.warns(UserWarning):
        gray = load_folder(flat, resolution=8, channels=1)
    assert gray.images.shape == (6, 1, 8, 8) and gray.images[0].unique().tolist() == [200]
    with pytest.warns(UserWarning):
        again = load_folder(flat, resolution=16, channels=3)
    assert torch.equal(again.images, data.images)  # deterministic


def test_short_side_is_resized_and_the_center_kept(tmp_path):
    # 60x20: red sides, green middle; the central 20x20 crop (and the filter's reach) sees only green.
    im = Image.new("RGB", (60, 20), (255, 0, 0))
    im.paste((0, 255, 0), (14, 0, 46, 20))
    im.save(tmp_path / "wide.png")
    data = load_folder(tmp_path, resolution=10, channels=3)
    assert data.images.shape == (1, 3, 10, 10)
    assert data.images[0, 1].min() >= 250 and data.images[0, 0].max() <= 5


def test_class_subfolders_become_labels(tmp_path):
    for name, n in (("dog", 2), ("cat", 3), ("bird", 1)):
        for i in range(n):
            _img(tmp_path / name / f"{i}.png", (12, 9), color=(10 * i, 0, 0))
    (tmp_path / "README.txt").write_text("ignored")
    data = load_dataset(f"folder:{tmp_path}", resolution=8, channels=1)
    assert data.num_classes == 3 and data.images.shape == (6, 1, 8, 8)
    assert data.labels.tolist() == [0, 1, 1, 1, 2, 2]  # bird, cat, dog in sorted order
    info = dataset_info(f"folder:{tmp_path}")
    assert info["classes"] == ["bird", "cat", "dog"] and info["splits"] == {"train": 6} and info["num_classes"] == 3
    assert is_cached(f"folder:{tmp_path}") and len(fetch_dataset(f"folder:{tmp_path}")) == 6


def test_images_beside_subfolders_mean_no_labels(tmp_path):
    _img(tmp_path / "top.png", (8, 8))
    _img(tmp_path / "a" / "x.png", (8, 8))
    _img(tmp_path / "b" / "y.png", (8, 8))
    assert load_folder(tmp_path, resolution=4, channels=3).labels is None


def test_strict_names_the_first_bad_file(flat):
    with pytest.raises(GanworksError, match=r"cannot read image '.*g_corrupt\.png'") as e:
        load_dataset(f"folder:{flat}", resolution=8, strict=True)
    assert "\n" not in str(e.value)


def test_folder_errors_name_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"nope")
    cases = [
        (tmp_path / "empty", "has no images"),
        (tmp_path / "texts", "has no images"),
        (tmp_path / "missing", "does not exist"),
        (tmp_path / "texts" / "a.txt", "is not a directory"),
        (tmp_path / "broken", "has no readable images"),
    ]
    for path, what in cases:
        # An error alone, without a "skipped N files" warning before it: the CLI shows one line.
        with pytest.raises(GanworksError, match=what) as e, warnings.catch_warnings():
            warnings.simplefilter("error")
            load_folder(path, resolution=8, channels=3)
        assert str(path) in str(e.value)
    with pytest.raises(GanworksError, match="--channels must be 1"):
        load_folder(tmp_path, resolution=8, channels=4)
    with pytest.raises(GanworksError, match="no split 'test'"):
        load_dataset(f"folder:{tmp_path / 'texts'}", "test")


def test_dataset_names():
    check_dataset_name("mnist")
    check_dataset_name("folder:/anywhere")
    with pytest.raises(GanworksError, match=r"unknown dataset 'cifar'; valid: .*folder:PATH.*mnist"):
        check_dataset_name("cifar")



def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    data = load_folder(tmp_path, resolution=4, channels=3)
    assert data.images[0, :, 2, 2].tolist() == [255, 0, 0]
