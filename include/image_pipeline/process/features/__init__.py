"""Image features (:mod:`.extract`: EXIF, perceptual hash, colours, exposure, blur, faces) and the
labellers, one module each: :mod:`.local` (EfficientNet-Lite0) and :mod:`.rekognition` (AWS), chosen by
:mod:`.labels`. Heavy libraries (torch, cv2, botocore) are imported inside the functions."""

from image_pipeline.process.features.extract import (FEATURE_SIDE, FEATURES_VERSION, blur_score, dominant_colors,
                                                     exif_summary, extract_features, face_boxes, feature_extraction,
                                                     hamming, haar_face_count, near_duplicate_of, phash, working_copy,
                                                     PhashIndex)
from image_pipeline.process.features.labels import LABEL_CHOICES, Labeler, labeler_from_settings
from image_pipeline.process.features.local import LOCAL_MODEL, LocalLabeler, local_labels_available
from image_pipeline.process.features.rekognition import RekognitionLabeler

__all__ = ["FEATURE_SIDE", "FEATURES_VERSION", "LABEL_CHOICES", "LOCAL_MODEL", "Labeler", "LocalLabeler", "PhashIndex",
           "RekognitionLabeler", "blur_score", "dominant_colors", "exif_summary", "extract_features", "face_boxes",
           "feature_extraction", "haar_face_count", "hamming", "labeler_from_settings", "local_labels_available",
           "near_duplicate_of", "phash", "working_copy"]
