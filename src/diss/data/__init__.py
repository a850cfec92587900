"""Data: safe image decoding, the sketch and stroke extractors, augmentations, the on-disk cache and its Dataset."""
