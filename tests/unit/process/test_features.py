"""Image features: EXIF, perceptual hash and near-duplicates, colours, exposure, blur, labels;
and processing recording them once, in the same decode as the recipes.

The features library in depth (was test_features_library.py): The features library function by function (EXIF edge cases, pHash over the corpus, faces, labels, Rekognition through moto).
"""

from __future__ import annotations

import io
import json
import socket


import pytest
from PIL import ExifTags, Image, ImageFilter, TiffImagePlugin

from image_pipeline.process import features as F
from image_pipeline.process.features import extract as F_extract
from image_pipeline.process.features import local as F_local
from image_pipeline.process.models import embedding
from image_pipeline.settings import Settings, SettingsError

from image_pipeline.process.features import (FEATURES_VERSION, RekognitionLabeler, exif_summary, extract_features, hamming,
                                     near_duplicate_of, phash)


def scene(size=(640, 480)) -> Image.Image:
    im = Image.merge("RGB", (Image.linear_gradient("L").resize(size), Image.radial_gradient("L").resize(size),
                             Image.linear_gradient("L").rotate(90).resize(size)))
    im.paste((250, 250, 250), (size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2))
    return im


def test_exif_camera_exposure_and_gps_as_coordinates(tmp_path):
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS 5D"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.ExposureTime] = 0.004
    sub[ExifTags.Base.FNumber] = 2.8
    sub[ExifTags.Base.DateTimeOriginal] = "2024:05:01 12:30:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (33.0, 51.0, 36.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (151.0, 12.0, 0.0)
    scene().save(tmp_path / "x.jpg", exif=exif)
    with Image.open(tmp_path / "x.jpg") as im:
        summary = exif_summary(im.getexif())
    assert summary["camera"] == "Canon EOS 5D" and summary["exposure_time"] == 0.004 and summary["f_number"] == 2.8
    assert summary["taken_at"].startswith("2024-05-01T12:30")
    assert abs(summary["gps"]["lat"] + 33.86) < 0.001 and abs(summary["gps"]["lon"] - 151.2) < 0.001
    assert exif_summary(None) == {} and exif_summary(Image.Exif()) == {}


def test_phash_survives_resizing_and_reencoding_and_tells_images_apart():
    a = scene()
    copy = a.resize((320, 240)).convert("L").convert("RGB")
    other = a.transpose(Image.Transpose.FLIP_TOP_BOTTOM).filter(ImageFilter.GaussianBlur(3))
    assert hamming(phash(a), phash(copy)) <= 4
    assert hamming(phash(a), phash(other)) > 12
    candidates = [("s-other", phash(other)), ("s-a", phash(a))]
    assert near_duplicate_of(phash(copy), candidates) == "s-a"
    assert near_duplicate_of(phash(Image.effect_noise((64, 64), 90).convert("RGB")), candidates) is None


def test_colours_exposure_and_blur():
    red = extract_features(Image.new("RGB", (200, 100), (255, 0, 0)), None)
    assert red["dominant_colors"][0] == "#ff0000" and red["label_source"] == "none" and red["labels"] == []
    sharp = extract_features(scene(), None)
    blurred = extract_features(scene().filter(ImageFilter.GaussianBlur(6)), None)
    assert blurred["blur"] < sharp["blur"] / 2
    dark = extract_features(Image.new("L", (100, 100), 20), None)
    assert dark["brightness"] == 20 and dark["contrast"] == 0 and dark["faces"] == 0
    for mode in ("L", "LA", "RGBA", "P", "CMYK", "I;16"):
        assert extract_features(scene().convert(mode) if mode != "I;16" else scene().convert("L").convert("I;16"),
                                None)["phash"]


def test_local_model_labels_a_real_photo(wallpapers):
    from image_pipeline.process.features import LocalLabeler

    labeler = LocalLabeler()
    photo = sorted(wallpapers.glob("*.jpg"))[0]
    with Image.open(photo) as im:
        im.draft("RGB", (512, 512))
        features = extract_features(im.convert("RGB"), im.getexif(), labeler=labeler)
    assert features["label_source"] == "efficientnet-lite0"
    assert features["labels"] and all(isinstance(label["name"], str) and 0 < label["score"] <= 1 for label in features["labels"])


def test_rekognition_labels_through_a_boto3_client():
    import boto3
    from botocore.stub import ANY, Stubber

    client = boto3.client("rekognition", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("detect_labels", {"Labels": [{"Name": "Cat", "Confidence": 97.5},
                                                       {"Name": "Pet", "Confidence": 88.0}]},
                          {"Image": {"Bytes": ANY}, "MaxLabels": 10, "MinConfidence": 70.0})
        features = extract_features(scene(), None, labeler=RekognitionLabeler(client))
    assert features["label_source"] == "rekognition"
    assert [label["name"] for label in features["labels"]] == ["Cat", "Pet"]


def test_processing_records_features_once_with_near_duplicate_groups(tmp_path, monkeypatch):
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.process.features import feature_extraction
    from image_pipeline.process import plan_batches, process_batch
    from image_pipeline.retrieve import ingest_folder
    from image_pipeline.settings import Settings
    from image_pipeline.core.storage import LocalStore

    folder = tmp_path / "in"
    folder.mkdir()
    scene().save(folder / "a.png")
    scene().resize((320, 240)).save(folder / "a-small.jpg", quality=70)  # the same picture, smaller
    Image.effect_noise((300, 300), 80).convert("RGB").save(folder / "noise.png")
    store = LocalStore(tmp_path / "store")
    extraction = feature_extraction(Settings(models={"labels": "none"}).models)
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        ingest_folder(store, catalog, folder, keyword="k", run_id="r1")
        version = extraction["features_version"]
        assert version == FEATURES_VERSION
        (batch,) = plan_batches(catalog, ["thumb"], 100, features_version=version)
        assert process_batch(store, catalog, ["thumb"], batch, **extraction)["processed"] == 3
        docs = {d["sources"][0]["uri"].rsplit("/", 1)[-1]: d for d in catalog.find()}
        assert all(d["features"]["version"] == version and d["features"]["phash"] for d in docs.values())
        # the similar-images embedding, recorded with the features (EfficientNet-Lite0 through onnxruntime)
        assert all(d["features"]["embedding_source"] == "efficientnet-lite0" and d["features"]["embedding"]["dim"] == 1280
                   and len(d["features"]["embedding"]["f16"]) == 3416 for d in docs.values())
        groups = {name: d["duplicate_of"] for name, d in docs.items()}
        assert groups["noise.png"] is None
        # one of the pair heads the group, the other points at it
        pair = {groups["a.png"], groups["a-small.jpg"]}
        assert None in pair and (docs["a.png"]["sha256"] in pair or docs["a-small.jpg"]["sha256"] in pair)
        assert plan_batches(catalog, ["thumb"], 100, features_version=version) == []  # once
        assert len(plan_batches(catalog, ["thumb"], 100, features_version=version + 1)[0]) == 3


# --- the features library in depth -------------------------------------------------------------


def _rational(value: float) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(value)


def _jpeg_with_exif(exif: Image.Exif) -> Image.Image:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, "JPEG", exif=exif)
    return Image.open(io.BytesIO(buf.getvalue()))


def _corpus_image(folder, name: str) -> Image.Image:
    path = folder / name
    assert path.exists(), f"corpus photo {name} missing: the corpus changed"
    im = Image.open(path)
    im.draft("RGB", (1024, 1024))
    return im.convert("RGB")


def test_exif_camera_exposure_date_and_gps_survive_a_round_trip():
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS 5D"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.ExposureTime] = _rational(0.004)
    sub[ExifTags.Base.FNumber] = _rational(2.8)
    sub[ExifTags.Base.ISOSpeedRatings] = 100
    sub[ExifTags.Base.FocalLength] = _rational(50.0)
    sub[ExifTags.Base.DateTimeOriginal] = "2024:05:01 12:00:00"
    sub[ExifTags.Base.LensModel] = "EF50mm f/1.8"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (_rational(48), _rational(51), _rational(29.6))
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (_rational(2), _rational(21), _rational(7.8))
    im = _jpeg_with_exif(exif)
    summary = F.extract_features(im, im.getexif())["exif"]
    assert summary["camera"] == "Canon EOS 5D"
    assert summary["lens"] == "EF50mm f/1.8"
    assert summary["exposure_time"] == pytest.approx(0.004)
    assert summary["f_number"] == pytest.approx(2.8)
    assert summary["iso"] == 100
    assert summary["focal_length"] == pytest.approx(50.0)
    assert summary["taken_at"] == "2024-05-01T12:00:00"
    assert summary["gps"]["lat"] == pytest.approx(48.858222, abs=1e-5)
    assert summary["gps"]["lon"] == pytest.approx(-2.352167, abs=1e-5)


def test_garbage_exif_gives_what_is_usable_and_never_raises():
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = b"NIKON\x00\x00"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.FNumber] = TiffImagePlugin.IFDRational(28, 0)  # zero denominator
    sub[ExifTags.Base.DateTimeOriginal] = "0000:00:00 00:00:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitude] = (_rational(95), _rational(0), _rational(0))  # out of range
    gps[ExifTags.GPS.GPSLongitude] = (_rational(2), _rational(0), _rational(0))
    assert F.exif_summary(exif) == {"camera": "NIKON"}
    assert F.exif_summary(None) == {} and F.exif_summary(Image.Exif()) == {}
    junk = Image.Exif()
    junk.load(b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\x01\x02garbage")
    features = F.extract_features(Image.new("RGB", (40, 40)), junk)
    assert isinstance(features["exif"], dict)


@pytest.fixture(scope="module")
def corpus_copies(wallpapers) -> dict[str, tuple[Image.Image, Image.Image]]:
    """Each corpus photo decoded once (some are 40-Mpx PNGs) for the tests below: its features' working
    copy, and the working copy of a copy resized to 60 % and re-encoded as JPEG at quality 50."""
    copies = {}
    for name in sorted(p.name for p in wallpapers.iterdir() if p.suffix in (".jpg", ".png")):
        im = _corpus_image(wallpapers, name)
        copy = im.resize((im.width * 6 // 10, im.height * 6 // 10))
        buf = io.BytesIO()
        copy.save(buf, "JPEG", quality=50)
        copies[name] = F.working_copy(im), F.working_copy(Image.open(io.BytesIO(buf.getvalue())))
    return copies


def test_phash_survives_resize_and_reencode_and_finds_the_original(corpus_copies):
    hashes = {name: F.phash(work) for name, (work, _) in corpus_copies.items()}
    assert all(len(h) == 16 and int(h, 16) >= 0 for h in hashes.values())
    for name, (_, copy) in corpus_copies.items():
        copy_hash = F.phash(copy)
        assert F.hamming(copy_hash, hashes[name]) <= 4, name
        found = F.near_duplicate_of(copy_hash, hashes.items())
        assert found is not None and F.hamming(hashes[found], copy_hash) <= 4
    # Different subjects are far apart: daisy, ladybug, goldfish, balloons.
    distinct = ["254da96256acb7ad.jpg", "e35a9a4126ef969c.jpg", "7341ff2532d1a13a.jpg", "c938edd7e94d7cc5.jpg"]
    for i, a in enumerate(distinct):
        for b in distinct[i + 1:]:
            assert F.hamming(hashes[a], hashes[b]) > F_extract.DEFAULT_MAX_DISTANCE
    # The same photo shipped at three resolutions is one group.
    group = ["019c832a3f30b3b8.jpg", "7ab602cd55aedd10.jpg", "b402668de7212c56.jpg"]
    assert F.near_duplicate_of(hashes[group[2]], [(n, hashes[n]) for n in group[:2]]) == group[0] or \
        F.hamming(hashes[group[2]], hashes[group[0]]) > F.hamming(hashes[group[2]], hashes[group[1]])


def test_near_duplicate_of_nearest_within_distance_first_on_ties():
    base = "0000000000000000"
    candidates = [("a", "000000000000000f"), ("b", "0000000000000003"), ("c", "0000000000000003"), ("d", None)]
    assert F.hamming(base, "000000000000000f") == 4
    assert F.near_duplicate_of(base, candidates) == "b"
    assert F.near_duplicate_of(base, candidates, max_distance=1) is None
    assert F.near_duplicate_of(base, []) is None
    assert F.near_duplicate_of("ffffffffffffffff", candidates) is None
    index = F.PhashIndex(candidates)  # the vectorised lookup gives the same answers
    assert F.near_duplicate_of(base, index) == "b" and F.near_duplicate_of(base, index, max_distance=1) is None
    assert F.near_duplicate_of("ffffffffffffffff", index) is None and F.near_duplicate_of(base, F.PhashIndex()) is None
    index.append(("e", "0000000000000000"))
    assert F.near_duplicate_of(base, index) == "e" and len(index) == 4
    assert list(index)[-1] == ("e", "0000000000000000")


def test_colours_brightness_and_contrast():
    red = F.extract_features(Image.new("RGB", (300, 200), (255, 0, 0)), None)
    assert red["dominant_colors"] == ["#ff0000"]
    two = Image.new("RGB", (400, 100), (0, 0, 255))
    two.paste((255, 0, 0), (0, 0, 100, 100))
    assert F.dominant_colors(two)[:2] == ["#0000ff", "#ff0000"]  # then the resized edge's blends
    gray = F.extract_features(Image.new("L", (100, 100), 100), None)
    assert gray["brightness"] == 100 and gray["contrast"] == 0
    half = Image.new("L", (100, 100), 0)
    half.paste(255, (0, 0, 50, 100))
    halves = F.extract_features(half, None)
    assert halves["brightness"] == pytest.approx(127.5) and halves["contrast"] == pytest.approx(127.5)


def test_blur_lower_for_a_blurred_copy_and_comparable_across_sizes(wallpapers):
    im = _corpus_image(wallpapers, "e35a9a4126ef969c.jpg")
    sharp = F.extract_features(im, None)["blur"]
    blurred = F.extract_features(im.filter(ImageFilter.GaussianBlur(4)), None)["blur"]
    assert blurred < sharp / 3
    smaller = F.extract_features(im.resize((im.width // 2, im.height // 2)), None)["blur"]
    assert smaller == pytest.approx(sharp, rel=0.25)


def test_faces_found_on_a_portrait_and_not_on_the_corpus(corpus_copies):
    import matplotlib.cbook

    # Grace Hopper's portrait ships with matplotlib (a dependency).
    portrait = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    assert F.extract_features(portrait, None)["faces"] == 1
    # Each photo's working copy: the features of a photo are computed on it (its own working copy is itself).
    counts = {name: F.extract_features(work, None)["faces"] for name, (work, _) in corpus_copies.items()}
    assert sum(counts.values()) == 0, {k: v for k, v in counts.items() if v}


@pytest.mark.parametrize("make, expected", [
    (lambda: Image.new("L", (600, 400), 128), 128),
    (lambda: Image.new("LA", (600, 400), (0, 0)), 255),  # fully transparent: seen on white
    (lambda: Image.new("RGBA", (600, 400), (0, 0, 0, 255)), 0),
    (lambda: Image.new("CMYK", (600, 400), (0, 0, 0, 0)), 255),
    (lambda: Image.new("I;16", (600, 400), 128 * 257), 128),  # 16-bit scaled, not clipped to white
    (lambda: Image.new("I", (600, 400), 200), 200),
    (lambda: Image.new("F", (600, 400), 50.0), 50),
    (lambda: Image.new("1", (600, 400), 1), 255),
    (lambda: Image.new("YCbCr", (600, 400), (128, 128, 128)), 128),
])
def test_every_mode(make, expected):
    features = F.extract_features(make(), None)
    assert features["brightness"] == pytest.approx(expected, abs=2)
    assert len(features["phash"]) == 16 and features["dominant_colors"]
    json.dumps(features)


def test_palette_with_transparency_is_composited_on_white():
    im = Image.new("P", (200, 200), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(1, (0, 0, 100, 200))
    im.info["transparency"] = 0
    assert F.working_copy(im).getpixel((150, 100)) == (255, 255, 255)
    assert F.extract_features(im, None)["dominant_colors"][0] in ("#ff0000", "#ffffff")


def test_local_labels_on_real_photos_offline(wallpapers, monkeypatch):
    assert F.local_labels_available(), "onnxruntime must be installed for the tests"
    embedding.session.cache_clear()

    def no_network(*args, **kwargs):
        raise AssertionError("the model must load from the package, not the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    labeler = F.LocalLabeler().load()
    expected = {"e35a9a4126ef969c.jpg": "ladybug", "254da96256acb7ad.jpg": "daisy",
                "7341ff2532d1a13a.jpg": "goldfish", "c938edd7e94d7cc5.jpg": "balloon"}
    for name, label in expected.items():
        features = F.extract_features(_corpus_image(wallpapers, name), None, labeler=labeler)
        assert features["label_source"] == "efficientnet-lite0"
        assert label in [item["name"] for item in features["labels"]], (name, features["labels"])
        assert 0 < features["labels"][0]["score"] <= 1
    assert embedding.session.cache_info().misses == 1  # loaded once per process


def test_rekognition_labels_through_moto():
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("rekognition", region_name="us-east-1")
        labeler = F.labeler_from_settings(Settings(models={"labels": "rekognition"}).models, lambda: client)
        features = F.extract_features(Image.new("RGB", (800, 600), (10, 20, 30)), None, labeler=labeler)
    assert features["label_source"] == "rekognition"
    assert features["labels"][0]["name"] == "Mobile Phone"
    assert features["labels"][0]["score"] == pytest.approx(0.9994, abs=1e-4)


def test_rekognition_request_and_errors_with_a_stubber():
    import boto3
    from botocore.exceptions import ClientError
    from botocore.stub import ANY, Stubber

    client = boto3.client("rekognition", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    labeler = F.RekognitionLabeler(client)
    with Stubber(client) as stub:
        stub.add_response("detect_labels", {"Labels": [{"Name": "Cat", "Confidence": 80.0},
                                                       {"Name": "Animal", "Confidence": 95.0}]},
                          {"Image": {"Bytes": ANY}, "MaxLabels": 10, "MinConfidence": 70.0})
        stub.add_client_error("detect_labels", "InvalidImageFormatException")
        stub.add_client_error("detect_labels", "ThrottlingException")
        im = Image.new("RGB", (100, 100))
        assert labeler.labels(im) == [{"name": "Animal", "score": 0.95}, {"name": "Cat", "score": 0.8}]
        assert labeler.labels(im) == []
        with pytest.raises(ClientError):
            labeler.labels(im)


def test_labeler_from_settings(monkeypatch):
    assert F.labeler_from_settings(Settings(models={"labels": "none"}).models) is None
    assert isinstance(F.labeler_from_settings(Settings(models={"labels": "local"}).models), F.LocalLabeler)
    with pytest.raises(ValueError):
        F.labeler_from_settings(Settings(models={"labels": "rekognition"}).models)
    monkeypatch.setattr(F_local, "local_labels_available", lambda: False)
    assert F.labeler_from_settings(Settings(models={"labels": "local"}).models) is None
    assert F.extract_features(Image.new("RGB", (10, 10)), None)["label_source"] == "none"
    with pytest.raises(SettingsError):
        Settings(models={"labels": "clip"})
    monkeypatch.setenv("GALLERY_LABELS", "rekognition")
    assert Settings.from_env().models.labels == "rekognition"
