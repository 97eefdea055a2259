"""Media I/O in one place: video (``headgen.io.video``), audio (``headgen.io.audio``), images
(``headgen.io.images``). All decoding/encoding of video and audio goes through imageio-ffmpeg's
bundled ffmpeg; bad input raises ``headgen.errors.InputError`` naming the file."""
