"""Image features: EXIF, perceptual hash and near-duplicates, colours, exposure, blur, labels;
and processing recording them once, in the same decode as the recipes."""

from __future__ import annotations

from PIL import ExifTags, Image, ImageFilter

from image_pipeline.features import (FEATURES_VERSION, RekognitionLabeler, exif_summary, extract_features, hamming,
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
    from image_pipeline.features import LocalLabeler

    labeler = LocalLabeler()
    photo = sorted(wallpapers.glob("*.jpg"))[0]
    with Image.open(photo) as im:
        im.draft("RGB", (512, 512))
        features = extract_features(im.convert("RGB"), im.getexif(), labeler=labeler)
    assert features["label_source"] == "efficientnet-lite0"
    assert features["labels"] and all(isinstance(l["name"], str) and 0 < l["score"] <= 1 for l in features["labels"])


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
    assert [l["name"] for l in features["labels"]] == ["Cat", "Pet"]


def test_processing_records_features_once_with_near_duplicate_groups(tmp_path, monkeypatch):
    from image_pipeline.catalog import SqliteCatalog
    from image_pipeline.features import feature_extraction
    from image_pipeline.process import plan_batches, process_batch
    from image_pipeline.retrieve import ingest_folder
    from image_pipeline.settings import Settings
    from image_pipeline.storage import LocalStore

    folder = tmp_path / "in"
    folder.mkdir()
    scene().save(folder / "a.png")
    scene().resize((320, 240)).save(folder / "a-small.jpg", quality=70)  # the same picture, smaller
    Image.effect_noise((300, 300), 80).convert("RGB").save(folder / "noise.png")
    store = LocalStore(tmp_path / "store")
    extraction = feature_extraction(Settings(labels="none"))
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        ingest_folder(store, catalog, folder, keyword="k", run_id="r1")
        version = extraction["features_version"]
        assert version == FEATURES_VERSION
        (batch,) = plan_batches(catalog, ["thumb"], 100, features_version=version)
        assert process_batch(store, catalog, ["thumb"], batch, **extraction)["processed"] == 3
        docs = {d["sources"][0]["uri"].rsplit("/", 1)[-1]: d for d in catalog.find()}
        assert all(d["features"]["version"] == version and d["features"]["phash"] for d in docs.values())
        groups = {name: d["duplicate_of"] for name, d in docs.items()}
        assert groups["noise.png"] is None
        # one of the pair heads the group, the other points at it
        pair = {groups["a.png"], groups["a-small.jpg"]}
        assert None in pair and (docs["a.png"]["sha256"] in pair or docs["a-small.jpg"]["sha256"] in pair)
        assert plan_batches(catalog, ["thumb"], 100, features_version=version) == []  # once
        assert len(plan_batches(catalog, ["thumb"], 100, features_version=version + 1)[0]) == 3
