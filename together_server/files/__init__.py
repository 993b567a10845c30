"""File handling that is not chat: type sniffing, image limits and processing, file names,
signed file URLs (issue 10). Each module is small and has no state of its own:

* :mod:`.sniff` — ``sniff(path) -> mime | None`` from magic numbers, never from names;
* :mod:`.images` — ``probe_image(path, max_pixels)`` (header only, before any decoding),
  ``prepare_image(...)`` (metadata stripped keeping orientation, thumbnail);
* :mod:`.media` — width/height of an MP4/QuickTime video from its ``tkhd`` box;
* :mod:`.names` — ``clean_filename(name)`` for display and Content-Disposition;
* :mod:`.signing` — :class:`UrlSigner`, the ``/files/<id>/<name>?ex=&sig=`` URLs.

Custom emoji (issue 12) reuse :func:`sniff.sniff` and :func:`images.probe_image`.
"""
