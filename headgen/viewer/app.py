"""The interactive viewer: a ``viser`` server (web client included) showing a :class:`HeadClip`.

Scene (display frame of :mod:`headgen.export.sources`, +y up):

* ``/head``: a frame carrying the per-frame rigid head pose; under it ``/head/mesh`` (the ICT head posed by
  the clip's morph weights), ``/head/splats`` (an avatar's Gaussians), ``/head/landmarks`` (the 68
  landmark vertices) or ``/head/glb`` (a .glb export, drawn and animated by three.js in the page);
* fits: ``/camera`` (the video camera's frustum at the origin) with ``/camera/backdrop``, the video frame
  on a plane behind the head, scaled so that it lines up with the camera's view.

GUI: play/pause, frame slider, loop; checkboxes for splats / mesh / landmarks / camera; the 52 ARKit sliders
(added to the clip's weights, clipped to [0, 1]); head yaw/pitch/roll (degrees, on top of the clip's
rotation); a screenshot button (the browser's view, downloaded and saved server-side); a node picker for
pipeline folders; the speech as an audio player when there is audio.
"""
from __future__ import annotations

import base64
import contextlib
import io
import threading
import time
from pathlib import Path

import numpy as np

from headgen.errors import InputError
from headgen.export.sources import HeadClip, clip_rig, clip_weights, load_clip, pipeline_nodes

__all__ = ["Viewer"]

_CV_TO_GL_WXYZ = (0.0, 1.0, 0.0, 0.0)   # 180 degrees about x: OpenCV camera axes in the display frame
MAX_BACKDROP_FRAMES = 600


def _wxyz(R: np.ndarray) -> np.ndarray:
    import torch
    from headgen.geometry.rotations import matrix_to_quaternion
    return matrix_to_quaternion(torch.as_tensor(np.asarray(R, np.float64))).numpy()


def _euler_deg(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Ry(yaw) Rx(pitch) Rz(roll), degrees (head-model axes: yaw about +y, pitch about +x)."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    Ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    Rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return Ry @ Rx @ Rz


def _wav_data_uri(path: Path, max_seconds: float = 120.0) -> str:
    import wave
    from headgen.io.audio import read_audio
    x, sr = read_audio(path, sr=16000, duration=max_seconds)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm)
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _backdrop_frames(clip: HeadClip, max_width: int = 480) -> np.ndarray | None:
    """The fit's video frames (T', H, W, 3) uint8 at the fit's frame indices (downscaled), or None."""
    if clip.media is None:
        return None
    from headgen.io.video import VideoReader
    try:
        frames = []
        with VideoReader(clip.media, max_frames=min(clip.n_frames, MAX_BACKDROP_FRAMES)) as r:
            for f in r:
                frames.append(np.asarray(f))
    except Exception:  # noqa: BLE001 - the backdrop is optional; a bad video only loses it
        return None
    if not frames:
        return None
    a = np.stack(frames)
    step = max(1, int(np.ceil(a.shape[2] / max_width)))
    return np.ascontiguousarray(a[:, ::step, ::step])


class Viewer:
    """A running viewer for ``source`` (a :class:`HeadClip` or a path for :func:`load_clip`).

    host/port: where the web page is served (port 0 = a free port); parts: ICT part set of the mesh;
    audio/media: override the clip's speech / backdrop video; screenshot_dir: where the GUI's screenshot
    button also saves PNGs (None: only the browser download); environment: image-based lighting of meshes
    (a GUI checkbox too; off for software rendering, where SwiftShader spends ~30 s preparing it). ``url`` is the page address. Use
    :meth:`set_frame`, :meth:`set_expression`, :meth:`render` (a frame drawn by a connected browser) and
    :meth:`close`. Raises InputError for an unreadable source.
    """

    def __init__(self, source, host: str = "127.0.0.1", port: int = 8080, parts: str = "head",
                 audio=None, media=None, screenshot_dir=None, verbose: bool = False, node: str | None = None,
                 environment: bool = True):
        import logging

        import viser
        from headgen.viewer.browser import free_port
        # a browser closing mid-handshake is not an error of ours; websockets logs it with a traceback
        logging.getLogger("websockets.server").setLevel(logging.CRITICAL)
        self.parts = parts
        self._audio, self._media = audio, media
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir else None
        self._root = None
        self._nodes: list[tuple[str, Path]] = []
        if not isinstance(source, HeadClip):
            p = Path(source)
            if p.is_dir() and (p / "manifest.json").is_file():
                self._root = p
                self._nodes = pipeline_nodes(p)
            source = load_clip(source, node=node, media=media, audio=audio)
        self.port = int(port) or free_port(host)
        self.host = host
        with contextlib.redirect_stdout(io.StringIO()) if not verbose else contextlib.nullcontext():
            self.server = viser.ViserServer(host=host, port=self.port, verbose=verbose)   # (its banner)
        self._verbose = verbose
        self.port = int(self.server.get_port())     # viser moves on to the next port when this one is taken
        self.server.scene.set_up_direction("+y")
        self._environment = environment
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.playing = False
        self.frame = 0
        self.handles: dict = {}
        self._build_gui()
        self.load(source)
        self._thread = threading.Thread(target=self._play_loop, name="headgen-view-play", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ properties
    @property
    def url(self) -> str:
        """The page address (http://host:port)."""
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ GUI
    def _build_gui(self) -> None:
        from headgen.models.arkit import ARKIT_NAMES
        gui = self.server.gui
        self._updating = False
        if self._nodes:
            labels = [n for n, _ in self._nodes]
            self.gui_node = gui.add_dropdown("Result", labels, initial_value=labels[-1])

            @self.gui_node.on_update
            def _(_ev) -> None:
                path = dict(self._nodes)[self.gui_node.value]
                try:
                    self.load(load_clip(path, media=self._media, audio=self._audio))
                except InputError as e:
                    self.info.content = f"**error:** {e}"
        self.info = gui.add_markdown("")
        with gui.add_folder("Playback"):
            self.gui_play = gui.add_button("Play", icon=None)
            self.gui_frame = gui.add_slider("Frame", min=0, max=1, step=1, initial_value=0)
            self.gui_loop = gui.add_checkbox("Loop", True)
            self.gui_speed = gui.add_slider("Speed", min=0.1, max=2.0, step=0.1, initial_value=1.0)
        with gui.add_folder("Show"):
            self.gui_splats = gui.add_checkbox("Splats", True)
            self.gui_mesh = gui.add_checkbox("Mesh", True)
            self.gui_landmarks = gui.add_checkbox("Landmarks", False)
            self.gui_camera = gui.add_checkbox("Camera + video", True)
            self.gui_env = gui.add_checkbox("Environment lighting", self._environment)
        self._lighting()
        self.gui_env.on_update(lambda _ev: self._lighting())
        self.gui_shot = gui.add_button("Screenshot")
        self.audio_html = gui.add_html("", visible=False)
        with gui.add_folder("Head rotation (deg, added)", expand_by_default=False):
            self.gui_rot = [gui.add_slider(n, min=-90.0, max=90.0, step=1.0, initial_value=0.0)
                            for n in ("Yaw", "Pitch", "Roll")]
        self.gui_expr = {}
        with gui.add_folder("ARKit expressions (added)", expand_by_default=False):
            self.gui_reset = gui.add_button("Reset expressions")
            for n in ARKIT_NAMES:
                self.gui_expr[n] = gui.add_slider(n, min=0.0, max=1.0, step=0.01, initial_value=0.0)

        @self.gui_play.on_click
        def _(_ev) -> None:
            self.playing = not self.playing
            self.gui_play.label = "Pause" if self.playing else "Play"

        @self.gui_frame.on_update
        def _(_ev) -> None:
            if not self._updating:
                self._show(int(self.gui_frame.value))

        def redraw(_ev) -> None:
            if not self._updating:
                self._show(self.frame)

        for h in [*self.gui_rot, *self.gui_expr.values()]:
            h.on_update(redraw)
        for h in (self.gui_splats, self.gui_mesh, self.gui_landmarks, self.gui_camera):
            h.on_update(lambda _ev: self._visibility())

        @self.gui_reset.on_click
        def _(_ev) -> None:
            self._updating = True
            try:
                for h in self.gui_expr.values():
                    h.value = 0.0
            finally:
                self._updating = False
            self._show(self.frame)

        @self.gui_shot.on_click
        def _(ev) -> None:
            if ev.client is not None:
                self.save_screenshot(ev.client)

    # ------------------------------------------------------------------ content
    def load(self, clip: HeadClip) -> None:
        """Show ``clip`` (replaces what is shown)."""
        with self._lock:
            self.playing = False
            self.gui_play.label = "Play"
            for h in self.handles.values():
                h.remove()
            self.handles = {}
            self.clip = clip
            scene = self.server.scene
            self.rig = None
            self.weights = None
            self._neutral = None
            self._cov_local = None
            if clip.model == "ict":
                self.rig = clip_rig(clip, self.parts)
                self.weights = clip_weights(clip, self.rig)
                av = clip.avatar
                if av is not None and av.neutral_vertices is not None and \
                        tuple(av.neutral_vertices.shape) == self.rig.base.shape:
                    self._neutral = av.neutral_vertices.cpu().numpy().astype(np.float32)
                    self._base32 = self.rig.base.astype(np.float32)
            head = scene.add_frame("/head", show_axes=False)
            self.handles["head"] = head
            if self.rig is not None:
                v = self._mesh_vertices(self.weights[0])
                self.handles["mesh"] = scene.add_mesh_simple(
                    "/head/mesh", v, self.rig.faces.astype(np.uint32), color=(205, 160, 140),
                    flat_shading=False, side="double")
                if self.rig.landmark_ids is not None:
                    self.handles["landmarks"] = scene.add_point_cloud(
                        "/head/landmarks", v[self.rig.landmark_ids], colors=(30, 220, 60), point_size=0.004,
                        point_shape="circle", precision="float32")
            if clip.kind == "glb":   # an export: three.js (GLTFLoader) draws it and plays its animation
                self.handles["glb"] = scene.add_glb("/head/glb", Path(clip.path).read_bytes())
            if clip.splats is not None:
                s = clip.splats
                self.handles["splats"] = scene.add_gaussian_splats(
                    "/head/splats", centers=s.means, covariances=s.covariances(), rgbs=s.rgb,
                    opacities=s.opacity[:, None])
            self._backdrop = None
            if clip.K is not None and clip.image_size is not None:
                self._add_camera(clip)
            T = clip.n_frames
            self.gui_frame.max = max(T - 1, 1)
            self.gui_frame.disabled = T <= 1
            self.gui_play.disabled = T <= 1
            self._setup_audio(clip)
            self._setup_camera(clip)
            kind = {"fit": "fit", "animation": "animation", "avatar": "avatar", "glb": "glTF export"}[clip.kind]
            extra = f", {len(clip.splats)} Gaussians" if clip.splats is not None else ""
            self.info.content = f"**{kind}** `{clip.path}`: {T} frame(s) at {clip.fps:g} fps{extra}"
            self.gui_mesh.value = clip.splats is None    # an avatar shows its splats, the mesh on demand
            self._visibility()
            self._show(0)

    def _add_camera(self, clip: HeadClip) -> None:
        scene = self.server.scene
        w, h = clip.image_size
        fx, fy = float(clip.K[0, 0]), float(clip.K[1, 1])
        cx, cy = float(clip.K[0, 2]), float(clip.K[1, 2])
        fov_y = 2 * np.arctan(h / (2 * fy))
        self.handles["camera"] = scene.add_camera_frustum("/camera", fov=float(fov_y), aspect=w / h, scale=0.05,
                                                          thickness=0.5, thickness_units="screen",
                                                          color=(40, 40, 40), wxyz=_CV_TO_GL_WXYZ)
        frames = _backdrop_frames(clip)
        if frames is None:
            return
        depth = float(np.median(-clip.translation[:, 2])) + 0.25   # behind the head
        self._backdrop = frames
        self._backdrop_depth = depth
        # plane at depth d in the OpenCV camera frame, centred on the principal ray offset
        pos = ((w / 2 - cx) * depth / fx, (h / 2 - cy) * depth / fy, depth)
        self.handles["backdrop"] = scene.add_image("/camera/backdrop", frames[0], render_width=w * depth / fx,
                                                   render_height=h * depth / fy, position=pos,
                                                   format="jpeg")   # viser images: +x right, +y down

    def _setup_camera(self, clip: HeadClip) -> None:
        cam = self.server.initial_camera
        if clip.kind == "fit" and clip.K is not None:
            depth = float(clip.translation[:, 2].mean())
            cam.position = (0.0, 0.0, 0.0)                  # the video camera, along its optical axis
            cam.look_at = (0.0, 0.0, depth)
            cam.fov = float(2 * np.arctan(clip.image_size[1] / (2 * float(clip.K[1, 1]))))
        elif clip.kind == "glb":
            from headgen.export.gltf import read_morph_glb
            try:
                g = read_morph_glb(clip.path)
            except InputError:
                g = {}
            tr = g.get("translation")
            centre = (0.0, 0.0, 0.0) if tr is None else tuple(float(x) for x in np.asarray(tr).mean(0))
            cam.position = (centre[0], centre[1], centre[2] + 0.55)
            cam.look_at = centre
            cam.fov = float(np.deg2rad(40.0))
        else:
            cam.position = (0.0, 0.0, 0.55)
            cam.look_at = (0.0, 0.0, 0.0)
            cam.fov = float(np.deg2rad(40.0))
        cam.up = (0.0, 1.0, 0.0)
        for client in self.server.get_clients().values():
            with client.atomic():
                client.camera.position = cam.position
                client.camera.look_at = cam.look_at
                client.camera.up_direction = (0.0, 1.0, 0.0)

    def _setup_audio(self, clip: HeadClip) -> None:
        if clip.audio is None:
            self.audio_html.visible = False
            return
        try:
            uri = _wav_data_uri(clip.audio)
        except InputError as e:
            self.audio_html.content = f"<p>audio: {e}</p>"
        else:
            self.audio_html.content = (f'<p style="font-size:0.8em">Speech ({clip.audio.name}); press play on both '
                                       f'at once</p><audio controls style="width:100%" src="{uri}"></audio>')
        self.audio_html.visible = True

    def _lighting(self) -> None:
        """Environment map on/off (the default lights stay, without shadows)."""
        scene = self.server.scene
        env = bool(self.gui_env.value)
        scene.configure_environment_map(hdri="warehouse" if env else None)
        scene.configure_default_lights(True, cast_shadow=False)
        if not env and getattr(self, "_ambient", None) is None:     # soft fill instead of the environment
            self._ambient = scene.add_light_hemisphere("/fill", sky_color=(255, 255, 255),
                                                       ground_color=(90, 80, 70), intensity=1.2)
        if getattr(self, "_ambient", None) is not None:
            self._ambient.visible = not env

    def _visibility(self) -> None:
        h = self.handles
        for key, box in (("splats", self.gui_splats), ("mesh", self.gui_mesh), ("landmarks", self.gui_landmarks),
                         ("camera", self.gui_camera), ("backdrop", self.gui_camera)):
            if key in h:
                h[key].visible = bool(box.value)

    def expression_weights(self, frame: int) -> np.ndarray | None:
        """Morph weights (K,) shown for ``frame``: the clip's, plus the ARKit sliders, clipped to [0, 1]
        (the asymmetric/extra targets are left as the clip has them). None without a mesh rig."""
        if self.rig is None:
            return None
        w = self.weights[frame].copy()
        from headgen.models.arkit import ARKIT_NAMES
        offs = np.array([self.gui_expr[n].value for n in ARKIT_NAMES])
        w[:52] = np.clip(w[:52] + offs, 0.0, 1.0)
        return w

    def _mesh_vertices(self, weights: np.ndarray) -> np.ndarray:
        """(V, 3) float32 model-frame mesh for morph weights (K,): the rig's, or for an avatar its neutral
        vertices plus the rig's expression displacement."""
        v = self.rig.vertices(weights)
        if self._neutral is not None:
            v = self._neutral + (v - self._base32)
        return v

    def splat_state(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The avatar's Gaussians on the posed mesh ``vertices`` (V, 3), model frame -> means (N, 3),
        covariances (N, 3, 3) float32. The same geometry as ``headgen.avatar.deform`` (mean = centroid +
        size * R_tri @ offset, rotation R_tri R_local, std-devs size * exp(log_scale)), with the covariance
        built from the triangle frames directly: the local covariances are fixed, so the per-frame work is
        two small matrix products instead of deform's quaternion conversions (2-3x faster on one CPU thread)."""
        import torch
        from headgen.avatar.binding import triangle_frames
        av = self.clip.avatar
        if self._cov_local is None:
            q = torch.nn.functional.normalize(av.rotations.float(), dim=-1).numpy()
            self._cov_local = torch.from_numpy(self.clip.splats.covariances(q, np.exp(av.log_scales.numpy())))
            self._tri = av.faces[av.binding]
        with torch.no_grad():
            cen, R, k = triangle_frames(torch.from_numpy(np.ascontiguousarray(vertices, np.float32)), self._tri)
            means = cen + k[:, None] * torch.einsum("nij,nj->ni", R, av.offsets.float())
            cov = (k * k)[:, None, None] * (R @ self._cov_local @ R.transpose(1, 2))
        return means.numpy(), cov.numpy()

    def _update_splats(self, vertices: np.ndarray) -> None:
        """Move the avatar's Gaussians onto ``vertices`` (V, 3)."""
        s = self.clip.splats
        means, cov = self.splat_state(vertices)
        self.handles["splats"].set_gaussians(means, cov, s.rgb, s.opacity[:, None])

    def _show(self, frame: int) -> None:
        with self._lock:
            clip = self.clip
            frame = int(np.clip(frame, 0, clip.n_frames - 1))
            self.frame = frame
            R = clip.rotation[frame] @ _euler_deg(*(h.value for h in self.gui_rot))
            with self.server.atomic():
                self.handles["head"].wxyz = _wxyz(R)
                self.handles["head"].position = clip.translation[frame]
                if self.rig is not None:
                    v = self._mesh_vertices(self.expression_weights(frame))
                    self.handles["mesh"].vertices = v
                    if self._neutral is not None and "splats" in self.handles and \
                            len(self.clip.splats) == self.clip.avatar.n:
                        self._update_splats(v)
                    if "landmarks" in self.handles:
                        self.handles["landmarks"].points = v[self.rig.landmark_ids]
                if self._backdrop is not None and "backdrop" in self.handles:
                    self.handles["backdrop"].image = self._backdrop[min(frame, len(self._backdrop) - 1)]
            if int(self.gui_frame.value) != frame:
                self._updating = True
                try:
                    self.gui_frame.value = frame
                finally:
                    self._updating = False

    def set_frame(self, frame: int) -> None:
        """Show frame ``frame`` (clipped to the clip's range)."""
        self._show(frame)

    def set_expression(self, name: str, value: float) -> None:
        """Set the ARKit slider ``name`` (any ARKit spelling) to ``value`` in [0, 1] and redraw."""
        from headgen.models.arkit import ARKIT_NAMES, arkit_index
        n = ARKIT_NAMES[arkit_index(name)]
        self.gui_expr[n].value = float(value)   # on_update redraws
        self._show(self.frame)

    def set_head_rotation(self, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> None:
        """Set the head-rotation sliders (degrees) and redraw."""
        for h, v in zip(self.gui_rot, (yaw, pitch, roll)):
            h.value = float(v)
        self._show(self.frame)

    def _play_loop(self) -> None:
        last = time.perf_counter()
        acc = 0.0
        while not self._stop.is_set():
            time.sleep(0.005)
            now = time.perf_counter()
            dt, last = now - last, now
            if not self.playing or self.clip.n_frames <= 1:
                acc = 0.0
                continue
            acc += dt * float(self.gui_speed.value) * self.clip.fps
            if acc >= 1.0:
                step = int(acc)
                acc -= step
                nxt = self.frame + step
                if nxt >= self.clip.n_frames:
                    if self.gui_loop.value:
                        nxt %= self.clip.n_frames
                    else:
                        nxt = self.clip.n_frames - 1
                        self.playing = False
                        self.gui_play.label = "Play"
                self._show(nxt)

    # ------------------------------------------------------------------ rendering through a browser
    def wait_for_client(self, timeout: float = 60.0):
        """The first connected browser client (waits up to ``timeout`` s; TimeoutError otherwise)."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            clients = self.server.get_clients()
            if clients:
                return next(iter(clients.values()))
            time.sleep(0.02)
        raise TimeoutError(f"no browser connected to {self.url} within {timeout:.0f} s")

    @staticmethod
    def _client_render(client, height: int, width: int, timeout: float) -> np.ndarray:
        rgba = client.get_render(height, width, transport_format="png", timeout=timeout)
        return _over_white(rgba)

    def render(self, width: int = 640, height: int = 480, timeout: float = 60.0, settle: bool = True) -> np.ndarray:
        """A frame drawn by the first connected browser -> (H, W, 3) uint8 RGB (transparent canvas over
        white, the page's background). settle: repeat until two consecutive frames agree and the frame is
        not empty (the splat sorter runs asynchronously), for at most 30 s more (then the latest frame)."""
        client = self.wait_for_client(timeout)
        prev = self._client_render(client, height, width, timeout)
        if not settle:
            return prev
        end = time.perf_counter() + min(timeout, 30.0)    # animated content (a .glb) never settles
        while time.perf_counter() < end:
            try:
                img = self._client_render(client, height, width, max(10.0, end - time.perf_counter()))
            except TimeoutError:
                break
            if np.array_equal(img, prev) and (img != 255).any():
                return img
            prev = img
        return prev

    def save_screenshot(self, client=None, width: int = 960, height: int = 720, timeout: float = 60.0) -> Path | None:
        """The screenshot button: ``client``'s view (default: the first client) as a PNG, offered to that browser
        as a download and, with ``screenshot_dir``, saved there -> the saved path (or None)."""
        client = client or self.wait_for_client(timeout)
        png = _png_bytes(self._client_render(client, height, width, timeout=timeout))
        name = time.strftime("headgen_view_%Y%m%d_%H%M%S.png")
        out = None
        if self.screenshot_dir is not None:
            from headgen.io.atomic import write_bytes_atomic
            out = write_bytes_atomic(self.screenshot_dir / name, png)
        client.send_file_download(name, png)
        return out

    def close(self) -> None:
        """Stop playback and the server."""
        self._stop.set()
        self._thread.join(2.0)
        with contextlib.redirect_stdout(io.StringIO()) if not self._verbose else contextlib.nullcontext():
            self.server.stop()

    def __enter__(self) -> "Viewer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _over_white(rgba: np.ndarray) -> np.ndarray:
    if rgba.shape[-1] == 3:
        return rgba
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3].astype(np.float32) * a + 255.0 * (1 - a)).round().astype(np.uint8)


def _png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()
